#!/usr/bin/env bash
# Runs the crack example on 2 MPI ranks with the Cephalo plugin; output goes to OUTPUT_DIR.
#
#   examples/crack/run.sh [BUILD_DIR] [LMP] [extra lmp arguments, e.g. -var steps 8000]
#
# BUILD_DIR defaults to build/default (where cephaloplugin.so is), LMP to build/lammps/lmp.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$repo/build/default}" && pwd)
lmp=${2:-$repo/build/lammps/lmp}
shift $(($# < 2 ? $# : 2))
plugin="$build/plugin/cephaloplugin.so"
[[ -f $plugin ]] || { echo "run.sh: no plugin at $plugin (build first: bash cmake/dev.sh build)" >&2; exit 1; }
[[ -x $lmp ]] || { echo "run.sh: no lmp at $lmp" >&2; exit 1; }
lmp=$(cd "$(dirname "$lmp")" && pwd)/$(basename "$lmp")

out=${OUTPUT_DIR:-$build/examples/crack}
mkdir -p "$out"
cd "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun -np 2 --oversubscribe "$lmp" -in "$here/in.crack" -var plugin "$plugin" -log log.lammps "$@"
echo "crack example: log and images in $out"
