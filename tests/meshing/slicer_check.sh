#!/usr/bin/env bash
# A real slicer accepts what cephalo-mesh writes: every example design in examples/designs is
# built to STL (one file per body), then Debian's PrusaSlicer reads each file (--info: manifold,
# no repairs, the expected number of shells) and slices it to G-code.
#
#   bash tests/meshing/slicer_check.sh [BUILD_DIR] [DESIGN.json ...]
#
# BUILD_DIR defaults to build/default; the designs to every file in examples/designs. Installs
# prusa-slicer with apt-get when it is missing (as root, or through sudo). Prints one row per
# body and exits 1 if any file is refused, repaired or fails to slice. Exit 77 (skipped) when
# PrusaSlicer is missing and cannot be installed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$root/build/default}
[[ $# -gt 0 ]] && shift
designs=("$@")
[[ ${#designs[@]} -eq 0 ]] && designs=("$root"/examples/designs/*.json)
mesh="$build/bin/cephalo-mesh"
[[ -x $mesh ]] || { echo "slicer check: $mesh not built" >&2; exit 2; }

if ! command -v prusa-slicer >/dev/null; then
  if [[ $(id -u) -eq 0 ]]; then as_root=(); elif command -v sudo >/dev/null; then as_root=(sudo); else as_root=(false); fi
  echo "slicer check: installing prusa-slicer" >&2
  if ! { "${as_root[@]}" apt-get update -qq &&
         "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prusa-slicer; } >&2; then
    echo "slicer check: prusa-slicer is not available; skipped" >&2
    exit 77
  fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work    # PrusaSlicer writes its configuration folder there

failures=0
printf '%-24s %-24s %10s %6s %9s %10s  %s\n' design body facets shells slice_s gcode_kB result
for spec in "${designs[@]}"; do
  name=$(basename "$spec" .json)
  if ! "$mesh" "$spec" -o "$work/$name.stl" --report "$work/$name.report.json" --quiet 2>"$work/$name.mesh.txt"; then
    printf '%-24s %-24s %10s %6s %9s %10s  %s\n' "$name" - - - - - "cephalo-mesh failed: $(head -c 300 "$work/$name.mesh.txt")"
    failures=$((failures + 1))
    continue
  fi
  # body names and expected shells (PrusaSlicer counts every closed shell as a part: pieces and
  # the cavities inside them) from the report, one "name shells" line each
  while read -r body shells; do
    stl=$work/$name.stl
    [[ -f $work/$name.$body.stl ]] && stl=$work/$name.$body.stl
    info=$(prusa-slicer --info "$stl" 2>/dev/null)
    facets=$(sed -n 's/^number_of_facets = *//p' <<<"$info")
    parts=$(sed -n 's/^number_of_parts = *//p' <<<"$info")
    manifold=$(sed -n 's/^manifold = *//p' <<<"$info")
    # anything PrusaSlicer had to fix shows up as one more key
    repairs=$(grep -E '^(open_edges|edges_fixed|degenerate_facets|facets_removed|facets_added|facets_reversed|backwards_edges|normals_fixed) =' <<<"$info" | tr '\n' ' ' || true)
    start=$(date +%s.%N)
    status=0
    prusa-slicer --export-gcode --output "$work/$name.$body.gcode" "$stl" >"$work/$name.$body.slice.txt" 2>&1 || status=$?
    seconds=$(echo "$(date +%s.%N) - $start" | bc)
    size=0
    [[ -f $work/$name.$body.gcode ]] && size=$(($(stat -c %s "$work/$name.$body.gcode") / 1024))
    result=ok
    if [[ $manifold != yes ]]; then result="not manifold"
    elif [[ -n $repairs ]]; then result="repaired: $repairs"
    elif [[ $parts != "$shells" ]]; then result="$parts parts, expected $shells shells"
    elif [[ $status -ne 0 || $size -eq 0 ]] || grep -qi 'error' "$work/$name.$body.slice.txt"; then
      result="slicing failed: $(grep -i -m1 'error' "$work/$name.$body.slice.txt" || echo "exit $status")"
    elif grep -q 'warning' "$work/$name.$body.slice.txt"; then
      result="ok (slicer warning: $(grep -A1 -m1 'warning' "$work/$name.$body.slice.txt" | tr '\n' ' ' | cut -c1-80))"
    fi
    [[ $result == ok* ]] || failures=$((failures + 1))
    printf '%-24s %-24s %10s %6s %9.2f %10s  %s\n' "$name" "$body" "$facets" "$parts" "$seconds" "$size" "$result"
  done < <(/usr/bin/python3 -c 'import json,sys
for b in json.load(open(sys.argv[1]))["bodies"]: print(b["name"], b["pieces"] + b["cavities"])' "$work/$name.report.json")
done
if ((failures > 0)); then
  echo "slicer check: $failures file(s) refused or failed" >&2
  exit 1
fi
echo "slicer check: every file sliced without repairs"
