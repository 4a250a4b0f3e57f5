// cephalo-generate: runs a Cephalo (Idefics2-family) model folder on images and a prompt and
// streams the answer to stdout; timings go to stderr.
//
//   cephalo generate --model DIR --image crack.png --prompt "Describe the crack."
#include "cli_args.h"
#include "cephalo/models/config.h"
#include "cephalo/models/image.h"
#include "cephalo/models/runtime.h"
#include "cephalo/models/safetensors.h"
#include "cephalo/models/tokenizer.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

using namespace cephalo::models;

namespace {

const char *kUsage =
    "usage: cephalo generate --model DIR [--image FILE]... --prompt TEXT [options]\n"
    "\n"
    "Describes images with a Cephalo (Idefics2-family) model folder in the Hugging Face layout\n"
    "and streams the answer to stdout.\n"
    "\n"
    "  --model DIR            config.json, model.safetensors (or a sharded index), "
    "tokenizer.model\n"
    "  --image FILE           PNG or JPEG; repeat for several images (placed before the prompt)\n"
    "  --prompt TEXT          the user's message\n"
    "  --system TEXT          a system message before it\n"
    "  --raw                  the prompt is already in the model's layout, with one <image> per "
    "image\n"
    "  --device cpu|cuda[:N]  default cpu\n"
    "  --dtype D              auto (bfloat16 on CUDA, float32 on CPU), float32, bfloat16, float16\n"
    "  --threads N            CPU threads (default: all cores)\n"
    "  --max-new-tokens N     default 256\n"
    "  --temperature T        0 (default) is greedy\n"
    "  --top-k K, --top-p P   sampling limits\n"
    "  --seed S               seed of the sampler\n"
    "  --stop TEXT            stop before this text (repeatable)\n"
    "  --numbers mode|median  greedy decimals of numbers: the likeliest digit at each place\n"
    "                         (default) or the median of the model's distribution over them\n"
    "  --plain-attention      matmul-softmax-matmul instead of the fused kernel\n";

const cephalo::models::cli::Program kCli{"cephalo generate", kUsage};

}    // namespace

int main(int argc, char **argv)
{
  std::string model_dir, prompt, system;
  std::vector<std::string> image_files;
  bool raw = false;
  RuntimeOptions options;
  SamplingParams sampling;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) kCli.fail_usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--model")
      model_dir = value();
    else if (a == "--image")
      image_files.push_back(value());
    else if (a == "--prompt")
      prompt = value();
    else if (a == "--system")
      system = value();
    else if (a == "--raw")
      raw = true;
    else if (a == "--device")
      options.device = value();
    else if (a == "--dtype")
      options.dtype = value();
    else if (a == "--threads")
      options.threads = static_cast<int>(kCli.whole(a, value(), 0, 4096));
    else if (a == "--max-new-tokens")
      sampling.max_new_tokens = static_cast<int>(kCli.whole(a, value(), 0, 1 << 20));
    else if (a == "--temperature")
      sampling.temperature = kCli.number(a, value());
    else if (a == "--top-k")
      sampling.top_k = static_cast<int>(kCli.whole(a, value(), 0, 1 << 24));
    else if (a == "--top-p")
      sampling.top_p = kCli.number(a, value());
    else if (a == "--seed")
      sampling.seed =
          static_cast<std::uint64_t>(kCli.whole(a, value(), 0, std::numeric_limits<long long>::max()));
    else if (a == "--stop")
      sampling.stop.push_back(value());
    else if (a == "--numbers") {
      try {
        sampling.numbers = parse_number_decoding(value());
      } catch (const std::invalid_argument &e) {
        kCli.fail_usage(std::string("--") + e.what());
      }
    } else if (a == "--plain-attention")
      options.fused_attention = false;
    else
      kCli.fail_usage("unknown argument '" + a + "'");
  }
  if (model_dir.empty()) kCli.fail_usage("--model is required");
  if (prompt.empty()) kCli.fail_usage("--prompt is required");
  if (sampling.max_new_tokens < 0) kCli.fail_usage("--max-new-tokens must not be negative");
  if (sampling.temperature < 0 || sampling.top_p <= 0 || sampling.top_p > 1 || sampling.top_k < 0)
    kCli.fail_usage("--temperature must be >= 0, --top-p in (0, 1], --top-k >= 0");

  try {
    GenerationRequest request;
    for (const auto &file : image_files) request.images.push_back(read_image(file));
    if (raw) {
      request.prompt = prompt;
    } else {
      if (!system.empty()) request.messages.push_back({"system", system, 0});
      request.messages.push_back({"user", prompt, static_cast<int>(request.images.size())});
    }
    request.sampling = sampling;
    auto model = VisionLanguageModel::load(model_dir, options);
    if (!model.has_tokenizer())
      throw std::runtime_error(model_dir +
                               ": no tokenizer.model; cephalo generate needs the tokenizer");
    std::fprintf(stderr, "cephalo generate: %s\n", model.describe().c_str());
    const auto results = model.generate({request}, [](std::size_t, int, std::string_view text) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
      return true;
    });
    const auto &r = results.front();
    std::fputc('\n', stdout);
    const double decode_rate =
        r.decode_seconds > 0 ? static_cast<double>(r.tokens.size()) / r.decode_seconds : 0.0;
    std::fprintf(
        stderr,
        "cephalo generate: %d prompt tokens, %zu generated (%s); first token after %.0f ms, "
        "%.1f tokens/s\n",
        r.prompt_tokens, r.tokens.size(), r.finish_reason.c_str(), r.prefill_seconds * 1e3,
        decode_rate);
    return 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "cephalo generate: %s\n", e.what());
    return 1;
  }
}
