// The VLM runtime: loads an Idefics2-family model folder (Hugging Face layout) on CPU or CUDA
// and generates text for batches of image + text requests, streaming tokens as they come.
// libtorch stays behind this header.
#pragma once

#include "cephalo/models/config.h"
#include "cephalo/models/image.h"
#include "cephalo/models/prompt.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace cephalo::models {

struct RuntimeOptions {
  std::string device = "cpu";    // "cpu", "cuda", "cuda:1"
  // "auto": bfloat16 on CUDA, float32 on CPU; or "float32", "bfloat16", "float16".
  std::string dtype = "auto";
  int threads = 0;                // CPU threads for libtorch; 0: every core
  bool fused_attention = true;    // false: plain matmul-softmax-matmul attention
};

// How greedy decoding writes the decimals of a number, where the tokenizer gives every digit a
// token of its own (Llama's and cephalo-tiny's do). mode: the likeliest digit at each place, so a
// model whose belief spreads evenly over 0.30 to 0.39 writes 0.300 when its "0" after "0.3" is a
// little likelier than the rest. median: the median of the model's distribution over the
// fraction, placed digit by digit by carrying the quantile from one place to the next (0.35
// there), the better point estimate of a measure read from a picture; it costs a look at ten
// logits per digit. For numbers that take a few set values the mode stays on them, where the
// median can fall between. The integer part is greedy in both.
enum class NumberDecoding { mode, median };

struct SamplingParams {
  int max_new_tokens = 256;
  double temperature = 0.0;    // 0: greedy
  int top_k = 0;               // 0: no limit
  double top_p = 1.0;
  std::uint64_t seed = 0;
  std::vector<std::string> stop;      // the text ends before the first of these strings
  std::vector<int> stop_token_ids;    // besides EOS and <end_of_utterance>
  NumberDecoding numbers = NumberDecoding::mode;    // greedy decoding only
};

// "mode" or "median"; parse_number_decoding throws std::invalid_argument for other names.
const char *number_decoding_name(NumberDecoding numbers);
NumberDecoding parse_number_decoding(std::string_view name);

// One request: a chat (or a prompt already in the model's layout, with one <image> per image, or
// token ids) and its images.
struct GenerationRequest {
  std::vector<ChatMessage> messages;
  std::string prompt;                // used when messages is empty
  std::vector<int> prompt_tokens;    // used when both are empty (image tokens already expanded)
  std::vector<Image> images;
  SamplingParams sampling;
};

struct GenerationResult {
  std::string text;
  std::vector<int> tokens;      // generated ids, the stop token excluded
  std::string finish_reason;    // "stop" (EOS, stop token or string), "length", "cancelled"
  int prompt_tokens = 0;
  double prefill_seconds = 0;    // images and prompt, shared by the batch
  double decode_seconds = 0;
};

// Called with each piece of new text of request `index` (the index in the batch); returning
// false cancels that request.
using TokenCallback = std::function<bool(std::size_t index, int token, std::string_view text)>;

class VisionLanguageModel {
 public:
  // Reads config.json, the weights, and when present the tokenizer files,
  // preprocessor_config.json and generation_config.json. Throws ConfigError, FormatError,
  // TokenizerError naming the file.
  static VisionLanguageModel load(const std::filesystem::path &model_dir,
                                  const RuntimeOptions &options = {});

  VisionLanguageModel(VisionLanguageModel &&) noexcept;
  VisionLanguageModel &operator=(VisionLanguageModel &&) noexcept;
  ~VisionLanguageModel();

  // Runs the requests as one batch (one forward pass per step for all of them). Not
  // thread-safe: one generate at a time per model.
  std::vector<GenerationResult> generate(const std::vector<GenerationRequest> &requests,
                                         const TokenCallback &on_text = {});

  // The prompt token ids a request becomes (chat layout, image tokens expanded, BOS).
  std::vector<int> prompt_tokens(const GenerationRequest &request) const;

  const Idefics2Config &config() const;
  bool has_tokenizer() const;
  std::string describe() const;    // device, dtype, parameters

 private:
  struct Impl;
  explicit VisionLanguageModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}    // namespace cephalo::models
