#!/usr/bin/env bash
# The developer entry point: installs what the project needs on Debian 12, builds LAMMPS with
# plugin loading, builds Cephalo, and runs the tests, the demo or the benchmarks.
#
#   bash cmake/dev.sh setup            Debian packages, LAMMPS source and LAMMPS build
#   bash cmake/dev.sh build  [preset]  setup, then configure and build Cephalo (preset: default)
#   bash cmake/dev.sh test   [preset]  build, then run every test with ctest
#   bash cmake/dev.sh demo             build, then examples/demo.sh on cephalo-tiny and a design
#   bash cmake/dev.sh tiny             build, then make cephalo-tiny from nothing (about an hour)
#   bash cmake/dev.sh bench [args]     build, then run the benchmark programs
#   bash cmake/dev.sh compat [suite]   compile the plugin against another Debian suite's LAMMPS
#
# Every step is idempotent: a second run with nothing changed installs and rebuilds nothing.
# Environment: JOBS (parallel jobs, default: all cores), CEPHALO_LAMMPS_SUITE (default bookworm).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_root="$repo/build"
jobs=${JOBS:-$(nproc)}
suite=${CEPHALO_LAMMPS_SUITE:-bookworm}
lammps_src="$build_root/_deps/lammps-$suite/src"
lammps_build="$build_root/lammps"

# ccache keys on paths relative to the checkout, so clones in other folders share hits.
export CCACHE_BASEDIR="$repo"
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
# Tests and CI run as root; Open MPI refuses that unless told it is intended.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# OpenBLAS's own choice of kernels, not AVX2 ones forced on a CPU with AVX-512.
source "$repo/cmake/openblas-kernels.sh"

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git dpkg-dev xz-utils
  # MPI and LAMMPS' image output
  libopenmpi-dev openmpi-bin libpng-dev libjpeg-dev zlib1g-dev
  # models/: libtorch on a threaded OpenBLAS (without it: reference BLAS, ~18x slower)
  libtorch-dev libopenblas0-pthread nlohmann-json3-dev
  # bridge/
  libzmq3-dev cppzmq-dev libboost-dev libspdlog-dev
  # meshing/ (TBB: CGAL's parallel self-intersection test; lib3mf: 3MF export)
  libcgal-dev libgmp-dev libmpfr-dev libeigen3-dev libtbb-dev libopen3d-dev lib3mf-dev
  # tests (SentencePiece: the reference of the tokenizer's; PrusaSlicer: the slicer check of
  # meshing/; bc: its timings; pyzmq: the Python client of examples/python)
  libboost-test-dev libsentencepiece-dev prusa-slicer bc python3-zmq
)

log() { printf '\033[1m[cephalo %4ss]\033[0m %s\n' "$SECONDS" "$*" >&2; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else log "need root to run: $*"; exit 1
  fi
}

install_packages() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    log "Debian packages: all present"
    return
  fi
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

fetch_lammps() {
  lammps_src=$(bash "$repo/cmake/fetch-lammps.sh" "$build_root/_deps" "$suite")
  log "LAMMPS source: $lammps_src ($(grep -h 'define LAMMPS_VERSION' "$lammps_src/version.h" | cut -d'"' -f2))"
}

build_lammps() {
  # lmp gets an RPATH (not RUNPATH) to its own liblammps, so neither LD_LIBRARY_PATH nor
  # Debian's liblammps.so.0 (same soname, no PLUGIN package) can replace it.
  if [[ ! -f "$lammps_build/build.ninja" ]]; then
    log "configuring LAMMPS (PLUGIN, MANYBODY, shared library)"
    cmake -G Ninja -S "$lammps_src/../cmake" -B "$lammps_build" \
      -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache \
      -DBUILD_SHARED_LIBS=ON -DBUILD_MPI=ON -DBUILD_OMP=OFF -DBUILD_TOOLS=OFF \
      -DLAMMPS_EXCEPTIONS=OFF -DLAMMPS_SIZES=smallbig \
      -DPKG_PLUGIN=ON -DPKG_MANYBODY=ON \
      -DWITH_PNG=ON -DWITH_JPEG=ON -DWITH_GZIP=ON -DWITH_FFMPEG=OFF \
      -DCMAKE_EXE_LINKER_FLAGS=-Wl,--disable-new-dtags \
      -DCMAKE_SHARED_LINKER_FLAGS=-Wl,--disable-new-dtags >/dev/null
  fi
  log "building LAMMPS (the first build takes a few minutes)"
  if ! cmake --build "$lammps_build" -j "$jobs" >"$lammps_build/cephalo-build.log" 2>&1; then
    tail -n 40 "$lammps_build/cephalo-build.log" >&2
    log "LAMMPS build failed; full log: $lammps_build/cephalo-build.log"
    exit 1
  fi
  [[ -x "$lammps_build/lmp" ]] || { log "LAMMPS build failed: no $lammps_build/lmp"; exit 1; }
  local help
  help=$("$lammps_build/lmp" -h)
  [[ $help == *PLUGIN* ]] || { log "the built lmp lacks the PLUGIN package"; exit 1; }
}

setup() {
  install_packages
  fetch_lammps
  build_lammps
}

build() {
  local preset=${1:-default}
  setup
  log "configuring and building Cephalo (preset $preset)"
  cmake --preset "$preset" -DLAMMPS_SOURCE_DIR="$lammps_src" -DLAMMPS_BINARY_DIR="$lammps_build" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
}

run_tests() {
  local preset=${1:-default}
  build "$preset"
  # agents.mcp.sdk drives cephalo-mcp with the official MCP TypeScript SDK, from npm
  if ! command -v npm >/dev/null; then
    log "installing nodejs and npm for the MCP SDK test"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
  fi
  [[ -d $repo/tests/agents/mcp_client/node_modules/@modelcontextprotocol/sdk ]] ||
    npm ci --prefix "$repo/tests/agents/mcp_client" --no-audit --no-fund --omit=optional >&2
  log "running the tests (preset $preset)"
  ctest --preset "$preset" -j "$jobs"
}

demo() {
  build default
  log "the demo on the embedded cephalo-tiny: the crack described by the model, a design render to STL"
  bash "$repo/examples/demo.sh" "$build_root/default" "$lammps_build/lmp"
  local out="$build_root/default/examples/designs"
  mkdir -p "$out"
  log "building examples/designs/gyroid_scaffold.json into $out (STL, 3MF, preview, report)"
  "$build_root/default/bin/cephalo" mesh "$repo/examples/designs/gyroid_scaffold.json" -o "$out/gyroid_scaffold.stl" \
    --3mf "$out/gyroid_scaffold.3mf" --preview "$out/gyroid_scaffold.png" --report "$out/gyroid_scaffold.report.json"
}

bench() {
  build default
  log "compute cephalo/crack cost (2 MPI ranks; the million-atom cases take about a minute)"
  mpirun -np 2 --oversubscribe "$build_root/default/tests/bench/bench_crack_compute" \
    --plugin "$build_root/default/plugin/cephaloplugin.so" "$@"
  log "fix cephalo/vlm cost: examples/crack with and without it, and a million atoms next to dump image"
  "$build_root/default/tests/bench/bench_vlm_fix" --lmp "$lammps_build/lmp" \
    --plugin "$build_root/default/plugin/cephaloplugin.so" --serve "$build_root/default/bin/cephalo-serve"
  # the meshing benchmark compares with manifold-3d's LevelSet, run by node from npm
  if ! command -v npm >/dev/null; then
    log "installing nodejs and npm for the manifold-3d comparison"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
  fi
  [[ -d $repo/tests/bench/manifold/node_modules/manifold-3d ]] ||
    npm ci --prefix "$repo/tests/bench/manifold" --no-audit --no-fund --omit=optional >&2
  log "meshing: every family, and a 20 mm gyroid next to manifold-3d"
  "$build_root/default/tests/bench/bench_meshing"
  log "models: a small Idefics2 configuration on the CPU (tests/bench/gpu_check.sh runs the GPU benchmark)"
  "$build_root/default/tests/bench/bench_models" --tiny --batch 1,4 --prompt 128 --image 384 --steps 32
  if [[ -f $repo/models/cephalo-tiny/config.json ]]; then
    log "models: cephalo-tiny on 2 threads, 512x512 crack snapshots, PNG file to finished answer"
    local snaps="$build_root/default/bench/snapshots-512"
    "$build_root/default/bin/cephalo" dataset fracture --out "$snaps" --runs 1 --steps 5000 --every 1000 \
      --size 512 --split 1,0,0 >/dev/null
    "$build_root/default/bin/cephalo" evaluate --model "$repo/models/cephalo-tiny" --data "$snaps/train.jsonl" \
      --threads 2 --latency 36 | tail -n 1
  fi
  log "bridge: cephalo-serve's transport (echo backend) next to raw ZeroMQ REQ/REP"
  "$build_root/default/tests/bench/bench_bridge"
}

compat() {
  # Compiles the plugin against another LAMMPS release's headers (no LAMMPS build needed).
  local other=${1:-sid}
  install_packages
  local src
  src=$(bash "$repo/cmake/fetch-lammps.sh" "$build_root/_deps" "$other")
  log "compiling the plugin against $(grep -h 'define LAMMPS_VERSION' "$src/version.h" | cut -d'"' -f2) ($other)"
  cmake -G Ninja -S "$repo" -B "$build_root/compat-$other" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DLAMMPS_SOURCE_DIR="$src" -DCEPHALO_WERROR=ON \
    -DCEPHALO_BUILD_MODELS=OFF -DCEPHALO_BUILD_MESHING=OFF -DCEPHALO_BUILD_AGENTS=OFF \
    -DCEPHALO_BUILD_TESTS=OFF >/dev/null
  cmake --build "$build_root/compat-$other" -j "$jobs"
}

cmd=${1:-}
shift || true
case "$cmd" in
  setup) setup ;;
  build) build "$@" ;;
  test) run_tests "$@" ;;
  demo) demo ;;
  tiny) build default; bash "$repo/models/recipes/cephalo-tiny/train.sh" "$build_root/default" ;;
  bench) bench "$@" ;;
  compat) compat "$@" ;;
  *) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
