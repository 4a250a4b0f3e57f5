#!/usr/bin/env bash
# The GPU check of models/, in one run on a machine with an NVIDIA GPU, PyTorch (its libtorch and
# CMake files) and transformers: writes the parity fixture with transformers, builds models/ and
# bench_models against PyTorch's libtorch, checks parity on CUDA, and benchmarks the Idefics2-8B
# configuration against transformers on the same card. Results land in $OUT (default
# build/gpu-check). Small libraries the machine lacks (SentencePiece, nlohmann-json, libpng,
# libjpeg) may be given as Debian .deb files in .devdeps/.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out=${OUT:-build/gpu-check}
mkdir -p "$out"
log() { echo "[gpu-check ${SECONDS}s] $*"; }
# the steps to run (all by default): fixture build parity bench hf
steps=" ${CEPHALO_GPU_STEPS:-fixture build parity bench hf} "
want() { [[ $steps == *" $1 "* ]]; }

sysroot=/tmp/cephalo-sysroot
mkdir -p "$sysroot"
for deb in .devdeps/*.deb; do [[ -e $deb ]] && dpkg -x "$deb" "$sysroot"; done
export LD_LIBRARY_PATH=$sysroot/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"

fixture=tests/models/fixtures/idefics2-tiny
if want fixture; then
  log "reference fixture (transformers)"
  rm -rf /tmp/idefics2-tiny
  python3 tests/models/fixtures/make_reference.py /tmp/idefics2-tiny > "$out/reference.log" 2>&1
  tail -3 "$out/reference.log"
  tar -C /tmp -cf "$out/fixture.tar" idefics2-tiny
  fixture=/tmp/idefics2-tiny
fi

log "build"
cmake -S . -B build/gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$torch_prefix;$sysroot/usr" \
  -DCEPHALO_BUILD_MESHING=OFF -DCEPHALO_BUILD_BRIDGE=OFF -DCEPHALO_BUILD_AGENTS=OFF -DCEPHALO_BUILD_PLUGIN=OFF \
  -DCEPHALO_BUILD_TESTS=OFF -DCEPHALO_BUILD_BENCH=ON > "$out/build.log" 2>&1 &&
  cmake --build build/gpu --target bench_models -j"$(nproc)" >> "$out/build.log" 2>&1
status=$?
if ((status != 0)); then
  grep -E -A12 "error|Error" "$out/build.log" | head -80
  exit 1
fi

if want parity; then
  log "parity on CUDA"
  build/gpu/tests/bench/bench_models --parity "$fixture" --device cuda 2>&1 | tee "$out/parity.md"
fi

if want bench; then
  log "Cephalo, Idefics2-8B configuration, random bf16 weights"
  build/gpu/tests/bench/bench_models --config models/configs/idefics2-8b.json --device cuda --batch 1,8 \
    --prompt 128 --image 378 --steps 64 2>&1 | tee "$out/bench_cephalo.md"
  build/gpu/tests/bench/bench_models --config models/configs/idefics2-8b.json --device cuda --batch 1 \
    --prompt 128 --image 378 --steps 64 --no-graph 2>&1 | tail -1 | tee -a "$out/bench_cephalo.md"
fi

if want hf; then
  log "transformers, same configuration and inputs"
  python3 tests/bench/bench_models_hf.py --config models/configs/idefics2-8b.json --batch 1,8 \
    --prompt 128 --image 378 --steps 64 2>&1 | grep -v Warning | tee "$out/bench_hf.md"
fi
log "done"
