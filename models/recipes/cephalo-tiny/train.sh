#!/usr/bin/env bash
# Makes cephalo-tiny from nothing: simulates its fracture data with the plugin, renders its design
# data with meshing, trains its tokenizer and the model, and scores it on the held-out runs and
# designs. Needs a build of the project (bash cmake/dev.sh build); `bash cmake/dev.sh tiny` does
# both.
#
#   models/recipes/cephalo-tiny/train.sh [BUILD_DIR] [WORK_DIR] [OUT_DIR]
#
# BUILD_DIR: default build/default. WORK_DIR (datasets, tokenizer, training run): default
# BUILD_DIR/cephalo-tiny. OUT_DIR (the model folder): default models/cephalo-tiny. THREADS sets
# the CPU threads (default: every core), STEPS the optimizer steps of the first training stage
# (default 2800), TUNE_STEPS those of the second (default 2000). Every step is seeded; a dataset
# that is complete is not made again and training resumes from its latest checkpoint, so an
# interrupted run continues where it stopped.
#
# The model (config.json here): an Idefics2 of 8.3M parameters, a 4-layer vision tower of width
# 128 on 32-pixel patches of 384-pixel images, a perceiver resampler to 16 image tokens, a
# 6-layer Mistral decoder of width 256, a 1024-piece tokenizer. The decoder first learns to read
# the vision tower and connector at their seeded random initialisation: trained together from
# scratch on this little data, the decoder learns to ignore the pictures before it learns to
# read them, while a fixed random encoder keeps the colours of a snapshot apart
# (preprocessor_config.json normalises pixels about the white background so that the specimen,
# not the margin, carries the features) and, with its sine-cosine position table, where each
# patch lies. Then every weight trains (step 3).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
source "$repo/cmake/openblas-kernels.sh"
build=$(cd "${1:-$repo/build/default}" && pwd)
work=${2:-$build/cephalo-tiny}
out=${3:-$repo/models/cephalo-tiny}
bin=$build/bin
threads=${THREADS:-$(nproc)}
steps=${STEPS:-2800}
tune_steps=${TUNE_STEPS:-2000}
for program in cephalo-dataset cephalo-dataset-designs cephalo-tokenizer cephalo-train cephalo-evaluate; do
  [[ -x $bin/$program ]] || { echo "train.sh: no $bin/$program (bash cmake/dev.sh build first)" >&2; exit 1; }
done
mkdir -p "$work"
start=$SECONDS
stamp() { printf '[%s] %s\n' "$(date -u -d "@$((SECONDS - start))" +%H:%M:%S)" "$*"; }

# 1. data: 160 crack runs (one in three with a round hole, whose crack has started once an
#    opening at the hole, on either side, spans 2.0, and whose tip is that of the branch running
#    in +x from its right rim, measured from where it appeared, as at a notch;
#    examples/crack/in.dataset), 41 snapshots each of 384x288 pixels without a colour bar (as
#    examples/crack draws them for the model), split by run: many runs
#    of few snapshots, since the snapshots of one run share its notch and loading; two runs at a
#    time on one rank each (5 min 30 s against 8 min 53 s for one at a time on two ranks, and the
#    same records); and designs of every family, split by design
stamp "fracture dataset"
"$bin/cephalo-dataset" fracture --out "$work/fracture" --runs 160 --steps 5000 --every 125 --seed 1 \
  --size 384x288 --ranks 1 --jobs "$threads"
stamp "design dataset"
[[ -f $work/designs/test.jsonl ]] ||
  "$bin/cephalo-dataset-designs" --out "$work/designs" --count 20 --size 384 --seed 1

# one file per split, image paths relative to it. In training, the few design records are
# repeated ten times, so that they are about one record in thirty, and the initiation question
# four times: its answer is one token where a description has sixty, and what it turns on is a
# few pixels at the crack tip
for split in train validation test; do
  repeat=1 ask_initiation=1
  [[ $split == train ]] && repeat=10 ask_initiation=4
  { sed 's#"image":"#"image":"fracture/#' "$work/fracture/$split.jsonl"
    for _ in $(seq 2 "$ask_initiation"); do
      grep -F '"query":"Has the crack started to grow?' "$work/fracture/$split.jsonl" |
        sed 's#"image":"#"image":"fracture/#'
    done
    for _ in $(seq "$repeat"); do sed 's#"image":"#"image":"designs/#' "$work/designs/$split.jsonl"; done
  } > "$work/$split.jsonl"
done

# 2. the tokenizer, on the training texts only, next to the model's config and preprocessor
stamp "tokenizer"
mkdir -p "$work/init"
cp "$here/config.json" "$here/preprocessor_config.json" "$work/init/"
"$bin/cephalo-tokenizer" train --records "$work/train.jsonl" --vocab-size 1024 --out "$work/init"

# 3. training, in two stages: AdamW with warm-up and cosine decay, batches of 16, weights written
#    in bfloat16, and no loss on the validation split (--eval would add a minute; the held-out
#    runs are scored in step 5). Batches mix the questions: 39% of their slots are padding, which
#    the decoder's projections and MLPs skip. --group-by-length would hold one kind of question
#    per batch here, since the length tells the questions apart, and the model trained that way
#    read far worse (the model card).
#    a. The decoder learns to read a fixed encoder: the vision tower and connector stay at their
#       seeded initialisation (--freeze vision,connector), so each picture is encoded once and
#       its features kept; 5e-4, STEPS steps. Where a crack or a hole lies moves a small part
#       of the 16 image tokens' spread, and at 2e-3 the decoder never learnt it: it read the
#       colours only (the model card).
#    b. Then every weight trains, the encoder included: 2.5e-4, TUNE_STEPS steps. The encoder
#       learns what the decoder needs from the pictures. Trained together from the start, the
#       decoder learns to ignore the pictures before the encoder learns to show them.
stamp "training, decoder ($steps steps on $threads threads)"
"$bin/cephalo-train" --config "$work/init/config.json" --train "$work/train.jsonl" \
  --out "$work/run" --steps "$steps" --batch 16 --lr 5e-4 \
  --min-lr 5e-5 --warmup 100 --freeze vision,connector --save-dtype bfloat16 --seed 1 \
  --save-every 500 --threads "$threads" \
  $([[ -f $work/run/checkpoints/latest ]] && echo --resume)
stamp "training, every weight ($tune_steps steps on $threads threads)"
"$bin/cephalo-train" --model "$work/run" --train "$work/train.jsonl" \
  --out "$work/tune" --steps "$tune_steps" --batch 16 --lr 2.5e-4 \
  --min-lr 1e-5 --warmup 50 --save-dtype bfloat16 --seed 2 \
  --save-every 300 --threads "$threads" \
  $([[ -f $work/tune/checkpoints/latest ]] && echo --resume)

# 4. the model folder
mkdir -p "$out"
for f in config.json generation_config.json model.safetensors preprocessor_config.json \
         tokenizer.model tokenizer_config.json added_tokens.json special_tokens_map.json; do
  cp "$work/tune/$f" "$out/$f"
done
stamp "model in $out ($(du -sh "$out" | cut -f1))"

# 5. scores on the held-out runs and designs: every question of the test split answered, the
#    statistics scored against the measurements, for all runs and for the notch and hole runs
#    apart, the design descriptions read back by the interpreter (bash cmake/dev.sh bench times
#    one 512x512 snapshot). Decimals are decoded at the median of the model's distribution
#    (--numbers median), as examples/crack asks the server for them; the design captions'
#    numbers, which take a few set values, do not change by it here.
stamp "evaluation"
{
  "$bin/cephalo-evaluate" --model "$out" --data "$work/test.jsonl" --out "$work/test.predictions.jsonl" \
    --max-new-tokens 160 --threads "$threads" --by geometry --numbers median
  echo
  "$bin/cephalo-dataset-designs" --score "$work/test.predictions.jsonl"
} | tee "$work/evaluation.md"
cp "$work/evaluation.md" "$out/evaluation.md"
stamp "done"
