// Loading a model folder and generating for batches of requests: prompt layout, images through
// the processor and the vision tower, one prefill for the batch, then one decode step per token
// for every unfinished request; finished requests leave the batch.
#include "cephalo/models/runtime.h"

#include "cephalo/models/image_processor.h"
#include "cephalo/models/safetensors.h"
#include "cephalo/models/tokenizer.h"
#include "cpu_threads.h"
#include "graph_decoder.h"
#include "idefics2_model.h"
#include "sampling.h"
#include "weights.h"

#include <nlohmann/json.hpp>
#include <torch/cuda.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

namespace cephalo::models {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start)
{
  return std::chrono::duration<double>(Clock::now() - start).count();
}

torch::Dtype parse_dtype(const std::string &name, const torch::Device &device)
{
  if (name == "auto") return device.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
  if (name == "float32" || name == "fp32") return torch::kFloat32;
  if (name == "bfloat16" || name == "bf16") return torch::kBFloat16;
  if (name == "float16" || name == "fp16") return torch::kFloat16;
  throw std::invalid_argument("dtype '" + name + "': expected auto, float32, bfloat16 or float16");
}

torch::Device parse_device(const std::string &name)
{
  try {
    torch::Device device(name);
    if (device.is_cuda() && !torch::cuda::is_available())
      throw std::invalid_argument("device '" + name +
                                  "': this libtorch has no CUDA or no GPU is visible");
    if (device.is_cuda() && device.has_index() &&
        device.index() >= static_cast<int>(torch::cuda::device_count()))
      throw std::invalid_argument("device '" + name + "': only " +
                                  std::to_string(torch::cuda::device_count()) +
                                  " GPU(s) are visible");
    if (!device.is_cuda() && !device.is_cpu())
      throw std::invalid_argument("device '" + name + "': expected cpu or cuda[:N]");
    return device;
  } catch (const c10::Error &) {
    throw std::invalid_argument("device '" + name + "': expected cpu or cuda[:N]");
  }
}

// EOS ids from generation_config.json (an id or a list), if the file exists.
std::vector<int> generation_eos(const fs::path &file)
{
  if (!fs::exists(file)) return {};
  nlohmann::json document;
  try {
    std::ifstream in(file);
    document = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception &e) {
    throw ConfigError(file.string() + ": not valid JSON: " + e.what());
  }
  std::vector<int> ids;
  const auto eos = document.find("eos_token_id");
  if (eos == document.end() || eos->is_null()) return ids;
  if (eos->is_number_integer())
    ids.push_back(eos->get<int>());
  else if (eos->is_array())
    for (const auto &id : *eos)
      if (id.is_number_integer()) ids.push_back(id.get<int>());
  return ids;
}

// Length of the longest suffix of `text` that begins one of the stop strings: text that may yet
// turn into a stop string is held back from the stream.
std::size_t held_back(const std::string &text, const std::vector<std::string> &stops)
{
  std::size_t hold = 0;
  for (const auto &stop : stops)
    for (std::size_t n = stop.empty() ? 0 : std::min(stop.size() - 1, text.size()); n > hold; --n)
      if (text.compare(text.size() - n, n, stop, 0, n) == 0) {
        hold = n;
        break;
      }
  return hold;
}

void check_sampling(const SamplingParams &p, const std::string &where)
{
  const auto fail = [&](const std::string &what) {
    throw std::invalid_argument(where + ": " + what);
  };
  if (p.max_new_tokens < 0) fail("max_new_tokens is negative");
  if (!std::isfinite(p.temperature) || p.temperature < 0)
    fail("temperature must be a finite number >= 0");
  if (!(p.top_p > 0 && p.top_p <= 1)) fail("top_p must be in (0, 1]");
  if (p.top_k < 0) fail("top_k must be >= 0");
}

struct RequestState {
  std::size_t index = 0;
  SamplingParams sampling;
  std::mt19937_64 rng;
  std::optional<TokenStream> stream;
  std::string text;             // decoded so far
  std::size_t emitted = 0;      // bytes of text handed to the callback
  std::int64_t position = 0;    // rotary position of the next token
  std::int64_t padding = 0;     // left padding slots in the cache
  NumberCursor number;          // where decoding stands within a number
  bool done = false;
};

}    // namespace

struct VisionLanguageModel::Impl {
  fs::path dir;
  Idefics2Config config;
  torch::Device device = torch::kCPU;
  torch::Dtype dtype = torch::kFloat32;
  std::unique_ptr<Idefics2Model> model;
  std::optional<Tokenizer> tokenizer;
  std::optional<DigitTokens> digits;    // where the tokenizer gives every digit a token
  ImageProcessorConfig processor;
  std::set<int> stop_ids;
  std::string threads;    // CPU thread pools, for describe()

  // Captured decode graphs with their KV caches, by (batch, capacity rounded up), kept across
  // generate() calls: a capture costs 60 ms at batch 1 and about a second at batch 8 on an H100.
  struct CapturedDecode {
    std::unique_ptr<KVCache> cache;
    std::unique_ptr<GraphDecoder> graph;
    std::uint64_t last_used = 0;
  };
  std::map<std::pair<std::int64_t, std::int64_t>, CapturedDecode> captured;
  std::uint64_t generation = 0;
  static constexpr std::size_t kMaxCaptured = 3;    // each holds a KV cache on the GPU

  CapturedDecode &captured_decode(std::int64_t batch, std::int64_t capacity)
  {
    auto &slot = captured[{batch, capacity}];
    slot.last_used = ++generation;
    if (!slot.graph) {
      if (captured.size() > kMaxCaptured) {
        auto oldest = captured.end();
        for (auto it = captured.begin(); it != captured.end(); ++it)
          if (it->second.graph &&
              (oldest == captured.end() || it->second.last_used < oldest->second.last_used))
            oldest = it;
        if (oldest != captured.end()) captured.erase(oldest);
      }
      slot.cache = std::make_unique<KVCache>(model->new_cache(batch, capacity));
      slot.graph = std::make_unique<GraphDecoder>(*model, *slot.cache);
    }
    // a reused cache starts empty: every slot invalid (old keys are never attended to)
    slot.cache->valid.fill_(false);
    slot.cache->length = 0;
    return slot;
  }
};

VisionLanguageModel::VisionLanguageModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
VisionLanguageModel::VisionLanguageModel(VisionLanguageModel &&) noexcept = default;
VisionLanguageModel &VisionLanguageModel::operator=(VisionLanguageModel &&) noexcept = default;
VisionLanguageModel::~VisionLanguageModel() = default;

VisionLanguageModel VisionLanguageModel::load(const fs::path &model_dir,
                                              const RuntimeOptions &options)
{
  auto impl = std::make_unique<Impl>();
  impl->dir = model_dir;
  impl->device = parse_device(options.device);
  impl->dtype = parse_dtype(options.dtype, impl->device);
  if (impl->device.is_cpu()) impl->threads = configure_cpu_threads(options.threads);
  if (!fs::is_directory(model_dir)) throw ConfigError(model_dir.string() + ": not a folder");
  impl->config = Idefics2Config::load(model_dir / "config.json");
  {
    c10::InferenceMode guard;
    auto weights = WeightStore::open(model_dir);
    impl->model = std::make_unique<Idefics2Model>(
        impl->config, weights, torch::TensorOptions().dtype(impl->dtype).device(impl->device));
  }
  impl->model->attention =
      options.fused_attention ? AttentionKernel::Fused : AttentionKernel::Plain;
  if (fs::exists(model_dir / "tokenizer.model")) {
    impl->tokenizer = Tokenizer::load(model_dir);
    impl->digits = DigitTokens::of(*impl->tokenizer);
  }
  if (fs::exists(model_dir / "preprocessor_config.json"))
    impl->processor = ImageProcessorConfig::load(model_dir / "preprocessor_config.json");

  impl->stop_ids.insert(impl->config.text.eos_token_id);
  for (int id : generation_eos(model_dir / "generation_config.json")) impl->stop_ids.insert(id);
  if (impl->tokenizer) {
    if (impl->tokenizer->eos_id() >= 0) impl->stop_ids.insert(impl->tokenizer->eos_id());
    if (const int end = impl->tokenizer->token_id("<end_of_utterance>"); end >= 0)
      impl->stop_ids.insert(end);
  }
  return VisionLanguageModel(std::move(impl));
}

const Idefics2Config &VisionLanguageModel::config() const
{
  return impl_->config;
}

bool VisionLanguageModel::has_tokenizer() const
{
  return impl_->tokenizer.has_value();
}

std::string VisionLanguageModel::describe() const
{
  std::ostringstream out;
  out << impl_->dir.filename().string() << ": Idefics2, " << impl_->model->parameter_count() / 1e6
      << "M parameters, " << c10::toString(impl_->dtype) << " on " << impl_->device.str();
  if (impl_->device.is_cpu()) out << " (" << impl_->threads << ")";
  return out.str();
}

std::vector<int> VisionLanguageModel::prompt_tokens(const GenerationRequest &request) const
{
  const auto &config = impl_->config;
  if (request.messages.empty() && request.prompt.empty()) {
    const auto per_image =
        config.perceiver.resampler_n_latents * (impl_->processor.do_image_splitting ? 5 : 1);
    const auto images = std::count(request.prompt_tokens.begin(), request.prompt_tokens.end(),
                                   config.image_token_id);
    if (images != static_cast<std::ptrdiff_t>(request.images.size()) * per_image)
      throw std::invalid_argument("the prompt tokens hold " + std::to_string(images) +
                                  " image tokens; " + std::to_string(request.images.size()) +
                                  " image(s) need " +
                                  std::to_string(request.images.size() * per_image));
    return request.prompt_tokens;
  }
  const std::string text =
      request.messages.empty() ? request.prompt : idefics2_chat(request.messages);
  if (const int markers = count_images(text); markers != static_cast<int>(request.images.size()))
    throw std::invalid_argument("the prompt has " + std::to_string(markers) +
                                " <image> marker(s) but " + std::to_string(request.images.size()) +
                                " image(s) were given");
  if (!impl_->tokenizer)
    throw std::invalid_argument(impl_->dir.string() +
                                ": no tokenizer.model, so prompts must be given as token ids");
  return impl_->tokenizer->encode(expand_image_tokens(text, config.perceiver.resampler_n_latents,
                                                      impl_->processor.do_image_splitting),
                                  true);
}

std::vector<GenerationResult>
VisionLanguageModel::generate(const std::vector<GenerationRequest> &requests,
                              const TokenCallback &on_text)
{
  c10::InferenceMode guard;
  const auto &config = impl_->config;
  const auto &model = *impl_->model;
  const std::size_t batch = requests.size();
  std::vector<GenerationResult> results(batch);
  if (batch == 0) return results;

  // Prompts and images, checked before any work on the device.
  std::vector<std::vector<int>> prompts;
  std::vector<Image> images;
  int max_new = 0;
  for (std::size_t i = 0; i < batch; ++i) {
    prompts.push_back(prompt_tokens(requests[i]));
    if (prompts.back().empty())
      throw std::invalid_argument("request " + std::to_string(i) + " has an empty prompt");
    for (int id : prompts.back())
      if (id < 0 || id >= config.text.vocab_size)
        throw std::invalid_argument("request " + std::to_string(i) + ": token id " +
                                    std::to_string(id) + " is outside the vocabulary of " +
                                    std::to_string(config.text.vocab_size));
    check_sampling(requests[i].sampling, "request " + std::to_string(i));
    if (!requests[i].sampling.stop.empty() && !impl_->tokenizer)
      throw std::invalid_argument(
          "request " + std::to_string(i) +
          ": stop strings need text, and the model folder has no tokenizer");
    images.insert(images.end(), requests[i].images.begin(), requests[i].images.end());
    max_new = std::max(max_new, requests[i].sampling.max_new_tokens);
    results[i].prompt_tokens = static_cast<int>(prompts.back().size());
  }
  std::int64_t longest = 0;
  for (const auto &p : prompts)
    longest = std::max<std::int64_t>(longest, static_cast<std::int64_t>(p.size()));
  const std::int64_t capacity = longest + std::max(max_new, 1);
  if (capacity > config.text.max_position_embeddings)
    throw std::invalid_argument("the longest prompt (" + std::to_string(longest) +
                                " tokens) and max_new_tokens (" + std::to_string(max_new) +
                                ") exceed the model's max_position_embeddings (" +
                                std::to_string(config.text.max_position_embeddings) + ")");

  const auto start = Clock::now();
  torch::Tensor features;
  if (!images.empty()) {
    // Several questions about one picture in a batch (a snapshot's statistics and its
    // description) encode it once.
    std::vector<std::size_t> firsts;    // the first of each distinct image, an index in images
    std::vector<std::size_t> which;     // the distinct image of each image, an index in firsts
    for (const auto &image : images) {
      const auto same = std::find_if(firsts.begin(), firsts.end(), [&](std::size_t f) {
        const Image &d = images[f];
        return d.width == image.width && d.height == image.height && d.rgb == image.rgb;
      });
      which.push_back(static_cast<std::size_t>(same - firsts.begin()));
      if (same == firsts.end()) firsts.push_back(which.size() - 1);
    }
    const auto encode = [&](const std::vector<Image> &batch_images) {
      const ProcessedImages processed = preprocess(batch_images, impl_->processor);
      const auto pixels = torch::from_blob(const_cast<float *>(processed.pixels.data()),
                                           {processed.count, 3, processed.height, processed.width},
                                           torch::kFloat32);
      const auto mask =
          torch::from_blob(const_cast<std::uint8_t *>(processed.pixel_mask.data()),
                           {processed.count, processed.height, processed.width}, torch::kUInt8);
      return std::make_pair(model.encode_images(pixels, mask), processed.count);
    };
    if (firsts.size() == images.size()) {
      features = encode(images).first;    // the usual case: nothing is copied
    } else {
      std::vector<Image> distinct;
      for (const auto f : firsts) distinct.push_back(images[f]);
      const auto [encoded, count] = encode(distinct);
      const auto crops = count / static_cast<std::int64_t>(distinct.size());
      if (encoded.size(0) != count) {
        // the model dropped all-zero crops, so rows no longer line up with images
        features = encode(images).first;
      } else {
        std::vector<std::int64_t> rows;
        for (const auto w : which)
          for (std::int64_t c = 0; c < crops; ++c)
            rows.push_back(static_cast<std::int64_t>(w) * crops + c);
        features = encoded.index_select(0, torch::tensor(rows).to(encoded.device()));
      }
    }
  }

  // Left-padded batch: every row's last prompt token sits in the same slot.
  const int pad = config.text.pad_token_id >= 0 && config.text.pad_token_id < config.text.vocab_size
                      ? config.text.pad_token_id
                      : 0;
  auto ids = torch::full({static_cast<std::int64_t>(batch), longest}, pad, torch::kInt64);
  auto valid = torch::zeros({static_cast<std::int64_t>(batch), longest}, torch::kBool);
  std::vector<RequestState> states(batch);
  bool padded = false;
  for (std::size_t i = 0; i < batch; ++i) {
    const auto n = static_cast<std::int64_t>(prompts[i].size());
    auto row = ids[static_cast<std::int64_t>(i)];
    for (std::int64_t j = 0; j < n; ++j)
      row[longest - n + j] = prompts[i][static_cast<std::size_t>(j)];
    valid[static_cast<std::int64_t>(i)].narrow(0, longest - n, n).fill_(true);
    states[i].index = i;
    states[i].sampling = requests[i].sampling;
    states[i].rng.seed(requests[i].sampling.seed);
    if (impl_->tokenizer) states[i].stream.emplace(*impl_->tokenizer, /*skip_special=*/true);
    states[i].position = n;
    states[i].padding = longest - n;
    padded = padded || n < longest;
  }
  const auto positions = (valid.to(torch::kInt64).cumsum(1) - 1).clamp_min(0);

  // On a GPU, decode steps are replayed from a captured CUDA graph; its rows are fixed, so
  // finished requests stay in the batch (decoding is bound by reading the weights, and extra
  // rows cost little) instead of leaving it. Graphs and their caches are kept for later calls
  // of the same batch size, with the capacity rounded up to a multiple of 256.
  GraphDecoder *graph = nullptr;
  KVCache eager_cache;
  KVCache *cache_in_use = &eager_cache;
  if (GraphDecoder::supported(model) && max_new > 1) {
    const std::int64_t rounded =
        std::min<std::int64_t>((capacity + 255) / 256 * 256, config.text.max_position_embeddings);
    auto &captured =
        impl_->captured_decode(static_cast<std::int64_t>(batch), std::max(rounded, capacity));
    cache_in_use = captured.cache.get();
    graph = captured.graph.get();
  } else {
    eager_cache = model.new_cache(static_cast<std::int64_t>(batch), capacity);
  }
  KVCache &cache = *cache_in_use;
  cache.padded = padded;
  const auto device_valid = valid.to(impl_->device);
  auto hidden = model.decode(model.embed(ids, features), positions, device_valid, cache);
  auto logits = model.logits(hidden.select(1, longest - 1));
  // rows of the batch on the device, in order: the request each holds
  std::vector<std::size_t> rows(batch);
  for (std::size_t i = 0; i < batch; ++i) rows[i] = i;
  double prefill = -1;

  const auto finish = [&](RequestState &s, const std::string &reason) {
    s.done = true;
    results[s.index].finish_reason = reason;
  };
  const auto emit = [&](RequestState &s, int token, std::size_t end) {
    if (end <= s.emitted && token < 0) return;
    const std::string_view piece(s.text.data() + s.emitted, end > s.emitted ? end - s.emitted : 0);
    s.emitted = std::max(s.emitted, end);
    if (on_text && !on_text(s.index, token, piece) && !s.done) finish(s, "cancelled");
  };

  for (int step = 0;; ++step) {
    auto next = choose_tokens(logits, [&](std::size_t r) -> Sampler {
      auto &s = states[rows[r]];
      return Sampler{&s.sampling, &s.rng, &s.number, impl_->digits ? &*impl_->digits : nullptr};
    });
    if (prefill < 0) {
      prefill = seconds_since(start);
      for (auto &r : results) r.prefill_seconds = prefill;
    }
    for (std::size_t r = 0; r < rows.size(); ++r) {
      auto &s = states[rows[r]];
      auto &result = results[s.index];
      const int token = next[r];
      if (s.done) continue;    // a finished row that a captured graph keeps in the batch
      if (s.sampling.max_new_tokens == 0) {
        finish(s, "length");
        continue;
      }
      if (impl_->stop_ids.count(token) ||
          std::find(s.sampling.stop_token_ids.begin(), s.sampling.stop_token_ids.end(), token) !=
              s.sampling.stop_token_ids.end()) {
        finish(s, "stop");
        if (s.stream) s.text += s.stream->flush();
        emit(s, -1, s.text.size());
        continue;
      }
      result.tokens.push_back(token);
      ++s.position;
      // ids past the tokenizer's vocabulary (padded embedding tables) have no text
      const std::size_t before = s.text.size();
      if (s.stream && token < impl_->tokenizer->vocab_size()) s.text += s.stream->push(token);
      // only a stop string that ends in the new text can be new: search from there
      std::size_t stop_at = std::string::npos;
      for (const auto &stop : s.sampling.stop)
        if (!stop.empty())
          stop_at = std::min(
              stop_at, s.text.find(stop, before >= stop.size() ? before - stop.size() + 1 : 0));
      if (stop_at != std::string::npos) {
        s.text.resize(stop_at);
        finish(s, "stop");
        emit(s, token, s.text.size());
        continue;
      }
      const bool at_limit = static_cast<int>(result.tokens.size()) >= s.sampling.max_new_tokens;
      if (at_limit && s.stream) s.text += s.stream->flush();
      emit(s, token, at_limit ? s.text.size() : s.text.size() - held_back(s.text, s.sampling.stop));
      if (at_limit && !s.done) finish(s, "length");
    }

    // finished requests leave the batch
    std::vector<std::int64_t> keep;
    for (std::size_t r = 0; r < rows.size(); ++r)
      if (!states[rows[r]].done) keep.push_back(static_cast<std::int64_t>(r));
    for (std::size_t r = 0; r < rows.size(); ++r)
      if (states[rows[r]].done && results[rows[r]].decode_seconds == 0)
        results[rows[r]].decode_seconds = seconds_since(start) - prefill;
    if (keep.empty()) break;
    if (!graph && keep.size() < rows.size()) {
      cache.keep_rows(torch::tensor(keep, torch::kInt64).to(impl_->device));
      std::vector<std::size_t> kept_rows;
      std::vector<int> kept_next;
      for (auto r : keep) {
        kept_rows.push_back(rows[static_cast<std::size_t>(r)]);
        kept_next.push_back(next[static_cast<std::size_t>(r)]);
      }
      rows = std::move(kept_rows);
      next = std::move(kept_next);
      cache.padded = std::any_of(rows.begin(), rows.end(),
                                 [&](std::size_t i) { return states[i].padding > 0; });
    }

    // the next token of every row, at its rotary position (finished rows kept by a graph are fed
    // padding)
    std::vector<std::int64_t> step_ids(rows.size()), step_positions(rows.size());
    for (std::size_t r = 0; r < rows.size(); ++r) {
      const auto &s = states[rows[r]];
      step_ids[r] = s.done ? pad : next[r];
      step_positions[r] = s.position - 1;
    }
    if (graph) {
      logits = graph->step(step_ids, step_positions);
      continue;
    }
    const auto n = static_cast<std::int64_t>(rows.size());
    const auto step_valid =
        torch::ones({n, 1}, torch::TensorOptions().dtype(torch::kBool).device(impl_->device));
    hidden = model.decode(model.embed_text(torch::tensor(step_ids).view({n, 1})),
                          torch::tensor(step_positions).view({n, 1}), step_valid, cache);
    logits = model.logits(hidden.select(1, 0));
  }
  for (const auto &s : states)
    results[s.index].text =
        results[s.index].finish_reason == "cancelled" ? s.text.substr(0, s.emitted) : s.text;
  return results;
}

}    // namespace cephalo::models
