#!/usr/bin/env bash
# The GPU check of models/, in one run on a machine with an NVIDIA GPU, PyTorch (its libtorch and
# CMake files) and transformers: writes the parity fixture with transformers, builds models/ and
# bench_models against PyTorch's libtorch, checks parity on CUDA, and benchmarks the Idefics2-8B
# configuration against transformers on the same card. Results land in $OUT (default
# build/gpu-check). Small libraries the machine lacks (SentencePiece, nlohmann-json, libpng,
# libjpeg) may be given as Debian .deb files in .devdeps/.
#
# The training steps (train, lora) need training records: CEPHALO_GPU_RECORDS names a JSONL file
# of them as cephalo dataset writes them (a few hundred, images beside it). train trains
# cephalo-tiny on the CPU, on CUDA in float32 and in bfloat16 from the same weights and compares
# the losses step by step, then times the recipe's two stages on CUDA; lora trains LoRA adapters
# on the Idefics2-8B configuration (random bfloat16 base) and reports speed and peak memory.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out=${OUT:-build/gpu-check}
mkdir -p "$out"
log() { echo "[gpu-check ${SECONDS}s] $*"; }
# the steps to run (all by default): fixture build parity bench hf train lora
steps=" ${CEPHALO_GPU_STEPS:-fixture build parity bench hf train lora} "
want() { [[ $steps == *" $1 "* ]]; }
records=${CEPHALO_GPU_RECORDS:-}
if { want train || want lora; } && [[ ! -f $records ]]; then
  if [[ -n ${CEPHALO_GPU_STEPS:-} ]]; then
    echo "gpu_check.sh: the train and lora steps need CEPHALO_GPU_RECORDS=FILE.jsonl" >&2
    exit 2
  fi
  log "no training records (CEPHALO_GPU_RECORDS=FILE.jsonl): the train and lora steps are left out"
  steps=${steps/ train lora / }
fi

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
  cmake --build build/gpu --target bench_models cephalo-train cephalo-evaluate -j"$(nproc)" \
    >> "$out/build.log" 2>&1
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
work=/tmp/cephalo-gpu-train
train() {    # NAME, then cephalo-train's options: the log and the last line of it
  local name=$1
  shift
  rm -rf "${work:?}/$name"
  build/gpu/bin/cephalo-train --train "$records" --out "$work/$name" --seed 2 "$@" \
    > "$out/train-$name.log" 2>&1 || { tail -5 "$out/train-$name.log"; return 1; }
  grep -E "^cephalo train: [0-9]|^trained" "$out/train-$name.log"
}
if want train; then
  log "cephalo-tiny from its weights, 40 steps of 16: CPU, CUDA float32, CUDA bfloat16"
  tiny=(--model models/cephalo-tiny --steps 40 --batch 16 --lr 5e-4 --warmup 5)
  train cpu "${tiny[@]}" --device cpu
  train cuda "${tiny[@]}" --device cuda
  train cuda-bf16 "${tiny[@]}" --device cuda --dtype bfloat16
  log "the recipe's stages on CUDA, 400 steps of 16 each"
  train stage1 --config models/recipes/cephalo-tiny/config.json --tokenizer models/cephalo-tiny \
    --steps 400 --batch 16 --lr 2e-3 --warmup 100 --freeze vision --device cuda
  train stage2 --model "$work/stage1" --steps 400 --batch 16 --lr 5e-4 --warmup 50 --device cuda
  log "cephalo-tiny answering on CUDA"
  build/gpu/bin/cephalo-evaluate --model models/cephalo-tiny --data "$records" --device cuda \
    --latency 20 > "$out/evaluate-cuda.md" 2>&1
  grep -iE "latency|questions in" "$out/evaluate-cuda.md"
fi
if want lora; then
  log "LoRA on the Idefics2-8B configuration, random bfloat16 base"
  base=$work/idefics2-8b
  mkdir -p "$base"
  # the 8B shapes with cephalo-tiny's tokenizer (its <image> is id 4) and Idefics2's image
  # processing: 980-pixel longest edge, each image split in four crops and the whole
  python3 - models/configs/idefics2-8b.json "$base" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config["image_token_id"] = 4
json.dump(config, open(sys.argv[2] + "/config.json", "w"), indent=1)
json.dump({"do_image_splitting": True, "do_resize": True, "do_pad": True,
           "size": {"shortest_edge": 378, "longest_edge": 980},
           "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]},
          open(sys.argv[2] + "/preprocessor_config.json", "w"), indent=1)
PY
  for f in tokenizer.model tokenizer_config.json added_tokens.json special_tokens_map.json; do
    cp "models/cephalo-tiny/$f" "$base/"
  done
  for batch in 4 8; do
    train "lora-8b-b$batch" --config "$base/config.json" --lora-rank 8 --device cuda \
      --dtype bfloat16 --steps 12 --batch "$batch" --lr 1e-4 --warmup 2
  done
  train lora-8b-connector --config "$base/config.json" --lora-rank 8 --lora-layers text,connector \
    --device cuda --dtype bfloat16 --steps 12 --batch 4 --lr 1e-4 --warmup 2
  du -sh "$work/lora-8b-b4"/adapter_model.safetensors
fi
if want train || want lora; then
  python3 tests/bench/gpu_train_summary.py "$work" | tee "$out/train.md"
fi
log "done"
