#!/usr/bin/env bash
# The whole story on the embedded model: starts cephalo-serve with cephalo-tiny on a free loopback
# port, runs the crack example on 2 MPI ranks with compute cephalo/crack measuring the crack and
# fix cephalo/vlm asking the model to describe each snapshot, prints every description next to
# what the compute measured, then has the model describe a rendered design and turns that
# description into a printable STL, and stops the server. Nothing is downloaded.
#
#   examples/demo.sh [BUILD_DIR] [LMP]
#
# BUILD_DIR defaults to build/default, LMP to build/lammps/lmp; MODEL (default models/cephalo-tiny)
# is any Hugging Face-layout model folder; output goes to OUTPUT_DIR (default
# BUILD_DIR/examples/demo).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
build=$(cd "${1:-$repo/build/default}" && pwd)
lmp=${2:-$repo/build/lammps/lmp}
model=${MODEL:-$repo/models/cephalo-tiny}
out=${OUTPUT_DIR:-$build/examples/demo}
[[ -f $model/config.json ]] || { echo "demo.sh: no model folder at $model" >&2; exit 1; }
[[ -x $build/bin/cephalo-serve ]] || { echo "demo.sh: no cephalo-serve in $build/bin (bash cmake/dev.sh build)" >&2; exit 1; }
mkdir -p "$out/crack" "$out/design"

serve=$build/bin/cephalo-serve
source "$here/serve.sh"
start_serve "$out/serve.log" --model "$model"
echo "== cephalo-serve with $(basename "$model") on $endpoint"

echo "== 1. examples/crack on 2 MPI ranks; the model describes each snapshot"
# sync: each snapshot waits for its answer, so that every one is described
OUTPUT_DIR=$out/crack bash "$here/crack/run.sh" "$build" "$lmp" -var vlm yes \
  -var vlm_endpoint "$endpoint" -var vlm_prompt "$here/crack/describe_prompt.txt" \
  -var vlm_tokens 128 -var vlm_mode sync -screen none
/usr/bin/env python3 - "$out/crack/vlm.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    t = r.get("truth", {})
    lo, hi = r["box"]["lo"][0], r["box"]["hi"][0]
    tip = t.get("tip_x")
    crack = (f"crack {t['crack_length']:.1f} long, tip at {100 * (tip - lo) / (hi - lo):.0f}% of the width"
             if t.get("crack_length", 0) >= 1.0 and tip is not None else "no crack yet")
    print(f"step {r['step']}: measured {crack}; von Mises mean {t.get('vm_mean', 0):.2f}, "
          f"median {t.get('vm_median', 0):.2f}, stdev {t.get('vm_stdev', 0):.2f}")
    answer = r.get("text") or f"({r['status']}: {r.get('error', '')})"
    print(f"  model ({r.get('latency_ms', 0):.0f} ms): {answer.strip()}")
PY

echo "== 2. a design render, described by the model, made into a printable STL"
# renders as the model was trained on (384x384 previews, cephalo dataset designs), one design of
# each family with its caption; the honeycomb one is described and built
"$build/bin/cephalo" dataset designs --out "$out/design/renders" --count 1 --size 384 --seed 11 2>/dev/null
caption=$(grep '"family":"honeycomb"' "$out"/design/renders/*.jsonl | head -n 1 | sed 's/.*"answer":"\([^"]*\)".*/\1/')
echo "the render $out/design/renders/images/honeycomb-0.png shows: $caption"
"$build/bin/cephalo" design --image "$out/design/renders/images/honeycomb-0.png" --endpoint "$endpoint" \
  --spec-by interpreter -o "$out/design/from_description.stl" --trace "$out/design/trace.json"
echo "== done: $out"
