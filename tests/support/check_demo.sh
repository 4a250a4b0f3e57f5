#!/usr/bin/env bash
# examples/demo.sh on the embedded model, end to end, then checked: every snapshot of the crack
# was described, the descriptions' stress follows what compute cephalo/crack measured (a model
# that ignores the pictures fails this), and the design render became a printable STL.
#
#   tests/support/check_demo.sh BUILD_DIR LMP OUTPUT_DIR
set -euo pipefail
build=$1 lmp=$2 out=$3
rm -rf "$out"
OUTPUT_DIR=$out bash "$(dirname "${BASH_SOURCE[0]}")/../../examples/demo.sh" "$build" "$lmp"
/usr/bin/python3 - "$out" <<'PY'
import json, os, re, sys
out = sys.argv[1]
records = [json.loads(line) for line in open(os.path.join(out, "crack", "vlm.jsonl"))]
assert len(records) == 21, f"{len(records)} snapshots recorded, expected 21"
for r in records:
    assert r["status"] == "ok" and r.get("text"), f"step {r['step']}: {r['status']} {r.get('error', '')}"
# "The von Mises stress averages 1.23 (median ...": the model's reading next to the measurement
pairs = []
for r in records:
    m = re.search(r"von Mises stress averages (-?\d+(?:\.\d+)?)", r["text"])
    assert m, f"step {r['step']}: no stress reading in {r['text']!r}"
    pairs.append((float(m.group(1)), r["truth"]["vm_mean"]))
truth = [t for _, t in pairs]
mean = sum(truth) / len(truth)
r2 = 1 - sum((p - t) ** 2 for p, t in pairs) / sum((t - mean) ** 2 for t in truth)
print(f"von Mises mean read from {len(pairs)} snapshots: R^2 {r2:.3f}")
assert r2 >= 0.8, f"R^2 {r2:.3f} < 0.8"
stl = os.path.join(out, "design", "from_description.stl")
assert os.path.getsize(stl) > 10000, f"{stl} is {os.path.getsize(stl)} bytes"
trace = json.load(open(os.path.join(out, "design", "trace.json")))
assert "describe_image" in json.dumps(trace), "the trace has no describe_image step"
print("demo checked")
PY
