// cephalo-train: trains an Idefics2 model on JSONL image-text records (from scratch or from a
// checkpoint, fully or with LoRA), and merges LoRA adapters into plain model folders.
//
//   cephalo train --train train.jsonl --eval eval.jsonl --config config.json --out model/
//   cephalo train --train train.jsonl --model base/ --lora-rank 8 --out adapter/
//   cephalo train --merge-lora adapter/ --model base/ --into merged/
#include "cli_args.h"
#include "cephalo/models/config.h"
#include "cephalo/models/image.h"
#include "cephalo/models/safetensors.h"
#include "cephalo/models/tokenizer.h"
#include "cephalo/models/training.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <string>
#include <vector>

using namespace cephalo::models;

namespace {

const char *kUsage =
    "usage: cephalo train --train FILE.jsonl (--model DIR | --config config.json) --out DIR "
    "[options]\n"
    "       cephalo train --merge-lora ADAPTER_DIR --model BASE_DIR --into OUT_DIR\n"
    "\n"
    "Trains an Idefics2 model on image-text records, one JSON object a line:\n"
    "  {\"image\": \"img/0001.png\", \"query\": \"...\", \"answer\": \"...\", \"source\": "
    "\"...\"}\n"
    "(image paths relative to the JSONL file). The loss is taken on the answer tokens.\n"
    "\n"
    "  --train FILE           training records\n"
    "  --eval FILE            held-out records: eval loss and exact-match of greedy answers\n"
    "  --model DIR            start from this model folder (Hugging Face layout)\n"
    "  --config FILE          or from random weights of this config.json\n"
    "  --tokenizer DIR        tokenizer and preprocessor files (default: the folder of --model or\n"
    "                         --config)\n"
    "  --out DIR              the trained model (or adapter), metrics.jsonl, checkpoints/\n"
    "  --steps N | --epochs E length of training (optimizer steps, or passes over --train)\n"
    "  --batch N              records per micro-batch (default 8)\n"
    "  --accumulate N         micro-batches per optimizer step (default 1)\n"
    "  --lr X, --min-lr X     peak and final learning rate (default 1e-3, 0)\n"
    "  --warmup N             steps of linear warm-up before the cosine decay (default 0)\n"
    "  --weight-decay X       AdamW weight decay, not on norms and biases (default 0.01)\n"
    "  --clip X               gradient norm clipping, 0 for none (default 1)\n"
    "  --dtype D              float32 (default) or bfloat16 (fp32 master weights)\n"
    "  --save-dtype D         dtype of the written weights (default: --dtype): bfloat16 halves\n"
    "                         the folder of an fp32-trained model\n"
    "  --device cpu|cuda[:N]  default cpu\n"
    "  --threads N            CPU threads (default: all cores)\n"
    "  --eval-every N         steps between evaluations (default: at the end)\n"
    "  --eval-generate N      eval records answered greedily for exact match (default 4)\n"
    "  --save-every N         steps between checkpoints (default: none)\n"
    "  --resume               continue from the latest checkpoint in --out\n"
    "  --seed S               initialisation, data order and dropout (default 0)\n"
    "  --init-std X           std of the random initialisation with --config (default 0.02)\n"
    "  --max-answer-tokens N  length limit of greedy answers in evaluation (default 64)\n"
    "  --freeze LIST          parts kept fixed in full training: vision, connector, text\n"
    "  --feature-cache MIB    with the vision tower frozen, each image goes through it once and\n"
    "                         its features are kept (the tower's output where the connector\n"
    "                         trains), up to MIB mebibytes (default 4096; 0: encode every image\n"
    "                         at every step)\n"
    "  --group-by-length      records of like length share a batch: less padding, faster steps\n"
    "                         (not where the length tells the kinds of question apart: each\n"
    "                         batch would hold one kind)\n"
    "  --lora-rank R          train LoRA adapters of rank R; the base stays frozen\n"
    "  --lora-alpha A         default 16\n"
    "  --lora-dropout P       default 0\n"
    "  --lora-targets LIST    comma-separated module names (default gate_proj,up_proj,down_proj;\n"
    "                         also q_proj,k_proj,v_proj,o_proj, and out_proj,fc1,fc2 in vision)\n"
    "  --lora-layers LIST     text (default), connector, vision\n"
    "  --merge-lora DIR       merge this adapter into --model and write --into\n"
    "  --quiet                no progress bar\n";

const cephalo::models::cli::Program kCli{"cephalo train", kUsage};

std::vector<std::string> list(const std::string &flag, const std::string &text)
{
  std::vector<std::string> items;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = text.find(',', start);
    const std::string item =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.empty()) kCli.fail_usage(flag + " needs a comma-separated list, not '" + text + "'");
    items.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return items;
}

}    // namespace

int main(int argc, char **argv)
{
  TrainOptions options;
  std::string merge_adapter, merge_into;
  constexpr long long kIntMax = std::numeric_limits<int>::max();
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (flag == "--resume") {
      options.resume = true;
      continue;
    }
    if (flag == "--group-by-length") {
      options.group_by_length = true;
      continue;
    }
    if (flag == "--quiet") {
      options.progress = false;
      continue;
    }
    if (i + 1 >= argc) kCli.fail_usage(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--train")
      options.train_file = value;
    else if (flag == "--eval")
      options.eval_file = value;
    else if (flag == "--model")
      options.model_dir = value;
    else if (flag == "--config")
      options.config_file = value;
    else if (flag == "--tokenizer")
      options.assets_dir = value;
    else if (flag == "--out")
      options.out_dir = value;
    else if (flag == "--steps")
      options.steps = static_cast<int>(kCli.whole(flag, value, 1, kIntMax));
    else if (flag == "--epochs") {
      options.epochs = kCli.number(flag, value);
      if (options.epochs <= 0) kCli.fail_usage("--epochs must be positive");
    } else if (flag == "--batch")
      options.batch = static_cast<int>(kCli.whole(flag, value, 1, 1 << 20));
    else if (flag == "--accumulate")
      options.accumulate = static_cast<int>(kCli.whole(flag, value, 1, 1 << 20));
    else if (flag == "--lr")
      options.lr = kCli.number(flag, value);
    else if (flag == "--min-lr")
      options.min_lr = kCli.number(flag, value);
    else if (flag == "--warmup")
      options.warmup = static_cast<int>(kCli.whole(flag, value, 0, kIntMax));
    else if (flag == "--weight-decay")
      options.weight_decay = kCli.number(flag, value);
    else if (flag == "--clip")
      options.clip = kCli.number(flag, value);
    else if (flag == "--dtype")
      options.dtype = value;
    else if (flag == "--device")
      options.device = value;
    else if (flag == "--threads")
      options.threads = static_cast<int>(kCli.whole(flag, value, 0, 1024));
    else if (flag == "--eval-every")
      options.eval_every = static_cast<int>(kCli.whole(flag, value, 0, kIntMax));
    else if (flag == "--eval-generate")
      options.eval_generate = static_cast<int>(kCli.whole(flag, value, 0, kIntMax));
    else if (flag == "--save-every")
      options.save_every = static_cast<int>(kCli.whole(flag, value, 0, kIntMax));
    else if (flag == "--seed")
      options.seed =
          static_cast<std::uint64_t>(kCli.whole(flag, value, 0, std::numeric_limits<long long>::max()));
    else if (flag == "--init-std")
      options.init_std = kCli.number(flag, value);
    else if (flag == "--max-answer-tokens")
      options.max_answer_tokens = static_cast<int>(kCli.whole(flag, value, 1, 1 << 20));
    else if (flag == "--save-dtype")
      options.save_dtype = value;
    else if (flag == "--freeze")
      options.freeze = list(flag, value);
    else if (flag == "--feature-cache")
      options.feature_cache_mib = static_cast<int>(kCli.whole(flag, value, 0, 1 << 24));
    else if (flag == "--lora-rank")
      options.lora.rank = static_cast<int>(kCli.whole(flag, value, 1, 1 << 16));
    else if (flag == "--lora-alpha")
      options.lora.alpha = kCli.number(flag, value);
    else if (flag == "--lora-dropout")
      options.lora.dropout = kCli.number(flag, value);
    else if (flag == "--lora-targets")
      options.lora.targets = list(flag, value);
    else if (flag == "--lora-layers")
      options.lora.layers = list(flag, value);
    else if (flag == "--merge-lora")
      merge_adapter = value;
    else if (flag == "--into")
      merge_into = value;
    else
      kCli.fail_usage("unknown option " + flag);
  }

  try {
    if (!merge_adapter.empty() || !merge_into.empty()) {
      if (merge_adapter.empty() || merge_into.empty() || options.model_dir.empty())
        kCli.fail_usage("--merge-lora ADAPTER needs --model BASE and --into OUT");
      merge_lora(options.model_dir, merge_adapter, merge_into);
      std::fprintf(stderr, "cephalo train: merged %s into %s: %s\n", merge_adapter.c_str(),
                   options.model_dir.string().c_str(), merge_into.c_str());
      return 0;
    }
    if (options.train_file.empty()) kCli.fail_usage("--train FILE is required");
    if (options.out_dir.empty()) kCli.fail_usage("--out DIR is required");
    if (options.model_dir.empty() == options.config_file.empty())
      kCli.fail_usage("give one of --model DIR and --config FILE");
    if (options.steps == 0 && options.epochs == 0) kCli.fail_usage("give --steps or --epochs");
    Trainer trainer(options);
    std::fprintf(stderr, "cephalo train: %s\n", trainer.describe().c_str());
    trainer.run();
    std::fprintf(stderr, "cephalo train: saved %s\n", options.out_dir.string().c_str());
    return 0;
  } catch (const TrainingError &e) {
    std::fprintf(stderr, "cephalo train: %s\n", e.what());
    return 2;
  } catch (const ConfigError &e) {
    std::fprintf(stderr, "cephalo train: %s\n", e.what());
    return 2;
  } catch (const TokenizerError &e) {
    std::fprintf(stderr, "cephalo train: %s\n", e.what());
    return 2;
  } catch (const FormatError &e) {
    std::fprintf(stderr, "cephalo train: %s\n", e.what());
    return 2;
  } catch (const ImageError &e) {
    std::fprintf(stderr, "cephalo train: %s\n", e.what());
    return 2;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "cephalo train: %s\n", e.what());
    return 1;
  }
}
