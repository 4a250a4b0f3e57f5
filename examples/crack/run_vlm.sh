#!/usr/bin/env bash
# The crack example on 2 MPI ranks with fix cephalo/vlm: starts cephalo-serve on a free loopback
# port, runs the crack while the model describes snapshots, prints each answer next to what
# compute cephalo/crack measured, and stops the server.
#
#   examples/crack/run_vlm.sh [--model DIR | --echo] [BUILD_DIR] [LMP] [extra lmp arguments]
#
# --model DIR: a model folder in the Hugging Face layout (default: the embedded cephalo-tiny at
# models/cephalo-tiny when it is there); --echo: the server's transport instrument instead of a
# model (answers at once with what it received). BUILD_DIR defaults to build/default, LMP to
# build/lammps/lmp; output goes to OUTPUT_DIR (default BUILD_DIR/examples/crack-vlm).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

backend=()
case "${1:-}" in
  --model) backend=(--model "$(cd "$2" && pwd)"); shift 2 ;;
  --echo) backend=(--echo); shift ;;
esac
if [[ ${#backend[@]} -eq 0 ]]; then
  if [[ -f $repo/models/cephalo-tiny/config.json ]]; then
    backend=(--model "$repo/models/cephalo-tiny")
  else
    echo "run_vlm.sh: no model: pass --model DIR (a Hugging Face-layout folder) or --echo" >&2
    exit 2
  fi
fi
build=$(cd "${1:-$repo/build/default}" && pwd)
lmp=${2:-$repo/build/lammps/lmp}
shift $(($# < 2 ? $# : 2))
serve="$build/bin/cephalo-serve"
[[ -x $serve ]] || { echo "run_vlm.sh: no cephalo-serve at $serve (build first: bash cmake/dev.sh build)" >&2; exit 1; }

out=${OUTPUT_DIR:-$build/examples/crack-vlm}
mkdir -p "$out"
source "$here/../serve.sh"
start_serve "$out/serve.log" "${backend[@]}"
echo "cephalo-serve (${backend[*]}) on $endpoint"

OUTPUT_DIR=$out bash "$here/run.sh" "$build" "$lmp" -var vlm yes -var vlm_endpoint "$endpoint" \
  -var vlm_prompt "$here/stress_prompt.txt" "$@"

# each snapshot: what the model said next to the compute's measurement
/usr/bin/env python3 - "$out/vlm.jsonl" <<'PY'
import json, sys
print(f"{'step':>6} {'status':>8} {'von Mises stdev/mean/median: measured':>40}   answer")
for line in open(sys.argv[1]):
    r = json.loads(line)
    t = r.get("truth", {})
    measured = "/".join(f"{t.get(k):.3g}" if t.get(k) is not None else "-" for k in ("vm_stdev", "vm_mean", "vm_median"))
    answer = r.get("text", r.get("error", "")).replace("\n", " ")
    print(f"{r['step']:>6} {r['status']:>8} {measured:>40}   {answer[:100]}")
PY
echo "records: $out/vlm.jsonl; snapshots: $out/snap.*.png"
