// The Idefics2 runtime on tiny random checkpoints that the tests write: cached decoding equals
// recomputation, a batch equals its requests run alone, fused attention equals plain attention,
// the loader names every bad tensor and file, and (when the fixture is present) logits and
// greedy tokens equal those of the reference implementation.
#define BOOST_TEST_MODULE models_idefics2
#include <boost/test/unit_test.hpp>

#include "cephalo/models/checkpoint.h"
#include "cephalo/models/image.h"
#include "cephalo/models/image_processor.h"
#include "cephalo/models/runtime.h"
#include "cephalo/models/safetensors.h"
#include "cpu_threads.h"
#include "idefics2_model.h"
#include "process.h"
#include "sampling.h"
#include "scratch_dir.h"
#include "tensor_io.h"
#include "tiny_model.h"
#include "weights.h"

#include <array>
#include <cmath>
#include <fstream>
#include <map>
#include <regex>
#include <set>

namespace fs = std::filesystem;
using namespace cephalo::models;
using cephalo::test::ScratchDir;
using cephalo::test::tiny_config;
using cephalo::test::write_small_processor;

namespace {

const torch::TensorOptions kF32 = torch::TensorOptions().dtype(torch::kFloat32);

// An RGB image of w x h pixels with a pattern that `seed` shifts.
Image patterned_image(int w, int h, int seed)
{
  Image im;
  im.width = w;
  im.height = h;
  for (int i = 0; i < 3 * w * h; ++i)
    im.rgb.push_back(static_cast<std::uint8_t>((i * 37 + seed * 101) % 251));
  return im;
}

// A prompt with `images` blocks of image tokens (4 latents each) among ordinary tokens.
std::vector<std::int64_t> prompt_ids(const Idefics2Config &c, int images, int text_tokens, int salt)
{
  std::vector<std::int64_t> ids{1};
  for (int i = 0; i < text_tokens; ++i) ids.push_back(3 + (i * 7 + salt) % 80);
  for (int m = 0; m < images; ++m) {
    ids.push_back(89);
    for (int k = 0; k < c.perceiver.resampler_n_latents; ++k) ids.push_back(c.image_token_id);
    ids.push_back(89);
    ids.push_back(5 + m);
  }
  return ids;
}

// Images of different sizes padded into one tensor, with their pixel mask.
std::pair<torch::Tensor, torch::Tensor> padded_images(const std::vector<std::pair<int, int>> &sizes)
{
  int h = 0, w = 0;
  for (auto [ih, iw] : sizes) {
    h = std::max(h, ih);
    w = std::max(w, iw);
  }
  const auto n = static_cast<std::int64_t>(sizes.size());
  auto pixels = torch::zeros({n, 3, h, w});
  auto mask = torch::zeros({n, h, w}, torch::kUInt8);
  for (std::int64_t i = 0; i < n; ++i) {
    const auto [ih, iw] = sizes[static_cast<std::size_t>(i)];
    pixels[i].narrow(1, 0, ih).narrow(2, 0, iw).copy_(torch::rand({3, ih, iw}) * 2 - 1);
    mask[i].narrow(0, 0, ih).narrow(1, 0, iw).fill_(1);
  }
  return {pixels, mask};
}

double max_abs(const torch::Tensor &a, const torch::Tensor &b)
{
  return (a - b).abs().max().item<double>();
}

// Greedy decoding of `steps` tokens with the cache; returns the logits of every step.
std::vector<torch::Tensor> cached_greedy(const Idefics2Model &model,
                                         const std::vector<std::int64_t> &prompt,
                                         const torch::Tensor &features, int steps,
                                         std::vector<std::int64_t> &tokens)
{
  const auto t = static_cast<std::int64_t>(prompt.size());
  auto cache = model.new_cache(1, t + steps);
  auto ids = torch::tensor(prompt).unsqueeze(0);
  auto hidden = model.decode(model.embed(ids, features), torch::arange(t).unsqueeze(0),
                             torch::ones({1, t}, torch::kBool), cache);
  std::vector<torch::Tensor> out;
  for (int s = 0; s < steps; ++s) {
    const auto logits = model.logits(hidden.select(1, hidden.size(1) - 1))[0];
    out.push_back(logits);
    const auto next = logits.argmax().item<std::int64_t>();
    tokens.push_back(next);
    hidden =
        model.decode(model.embed(torch::tensor({next}).unsqueeze(0), {}),
                     torch::tensor({t + s}).unsqueeze(0), torch::ones({1, 1}, torch::kBool), cache);
  }
  return out;
}

// The thread pools as the runtime sets them (tests that build models directly skip load()).
struct CpuThreads {
  CpuThreads() { configure_cpu_threads(0); }
};

}    // namespace

BOOST_TEST_GLOBAL_FIXTURE(CpuThreads);

BOOST_AUTO_TEST_CASE(config_round_trips_and_names_bad_keys)
{
  auto c = tiny_config();
  c.text.sliding_window = 16;
  const auto back = Idefics2Config::parse(c.to_json(), "config.json");
  BOOST_TEST(back.to_json() == c.to_json());
  BOOST_TEST(*back.text.sliding_window == 16);

  const auto error_of = [](const std::string &text) {
    try {
      Idefics2Config::parse(text, "m/config.json");
    } catch (const ConfigError &e) {
      return std::string(e.what());
    }
    return std::string();
  };
  BOOST_TEST(error_of("{").find("m/config.json: not valid JSON") == 0);
  BOOST_TEST(error_of(R"({"model_type": "llava"})").find("this runtime reads Idefics2") !=
             std::string::npos);
  BOOST_TEST(error_of(R"({"model_type": "idefics2", "text_config": {"hidden_size": "big"}})") ==
             "m/config.json: text_config.hidden_size: must be an integer");
  BOOST_TEST(error_of(R"({"model_type": "idefics2", "text_config": {"num_key_value_heads": 5}})")
                 .find("multiple of num_key_value_heads") != std::string::npos);
  BOOST_TEST(
      error_of(R"({"model_type": "idefics2", "text_config": {"rope_scaling": {"type": "yarn"}}})")
          .find("rope_scaling") != std::string::npos);
  // transformers 5 spells RoPE settings as rope_parameters
  const auto v5 = Idefics2Config::parse(
      R"({"model_type": "idefics2", "text_config": {"vocab_size": 32003, "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0}}})",
      "c");
  BOOST_TEST(v5.text.rope_theta == 1e6);
}

BOOST_AUTO_TEST_CASE(kv_cache_decoding_equals_full_recomputation)
{
  c10::InferenceMode guard;
  for (const bool windowed : {false, true}) {
    auto config = tiny_config();
    if (windowed) config.text.sliding_window = 12;    // shorter than the prompt: the window bites
    const auto model = Idefics2Model::random(config, kF32, 7);
    const auto [pixels, mask] = padded_images({{32, 24}, {20, 32}});
    const auto features = model.encode_images(pixels, mask);
    const auto prompt = prompt_ids(config, 2, 5, 1);
    std::vector<std::int64_t> tokens;
    const auto cached = cached_greedy(model, prompt, features, 12, tokens);

    auto sequence = prompt;
    double worst = 0;
    for (std::size_t s = 0; s < cached.size(); ++s) {
      const auto full = model.forward(torch::tensor(sequence).unsqueeze(0), pixels, mask);
      worst = std::max(worst, max_abs(full[0][-1], cached[s]));
      sequence.push_back(tokens[s]);
    }
    BOOST_TEST_INFO("sliding window " << windowed);
    BOOST_TEST(worst < 1e-5);
  }
}

// decode_step (the graph-capturable step: device-side slot, whole-capacity attention) gives what
// decode gives, for a left-padded batch under a sliding window.
BOOST_AUTO_TEST_CASE(the_capturable_decode_step_equals_the_eager_step)
{
  c10::InferenceMode guard;
  auto config = tiny_config();
  config.text.sliding_window = 9;
  const auto model = Idefics2Model::random(config, kF32, 13);
  const std::int64_t b = 2, t = 7, capacity = 20;
  auto ids = torch::randint(3, 80, {b, t}, torch::kInt64);
  auto valid = torch::ones({b, t}, torch::kBool);
  valid[1].narrow(0, 0, 3).fill_(false);    // row 1 is shorter: left padding
  const auto positions = (valid.to(torch::kInt64).cumsum(1) - 1).clamp_min(0);
  auto eager = model.new_cache(b, capacity), graphable = model.new_cache(b, capacity);
  eager.padded = graphable.padded = true;
  model.decode(model.embed(ids, {}), positions, valid, eager);
  model.decode(model.embed(ids, {}), positions, valid, graphable);
  auto next_pos = positions.select(1, t - 1) + 1;
  double worst = 0;
  for (int s = 0; s < 10; ++s) {
    const auto step_ids = torch::randint(3, 80, {b}, torch::kInt64);
    const auto a = model.decode(model.embed(step_ids.unsqueeze(1), {}), next_pos.unsqueeze(1),
                                torch::ones({b, 1}, torch::kBool), eager);
    const auto c =
        model.decode_step(step_ids, next_pos, torch::tensor({graphable.length}), graphable);
    ++graphable.length;
    worst = std::max(worst, max_abs(a, c));
    next_pos = next_pos + 1;
  }
  BOOST_TEST(worst < 1e-5);
}

BOOST_AUTO_TEST_CASE(sliding_window_limits_what_a_token_sees)
{
  c10::InferenceMode guard;
  auto config = tiny_config();
  const auto ids = torch::tensor(prompt_ids(config, 0, 30, 3)).unsqueeze(0);
  const auto open = Idefics2Model::random(config, kF32, 11).forward(ids, {}, {});
  config.text.sliding_window = 8;
  const auto windowed = Idefics2Model::random(config, kF32, 11).forward(ids, {}, {});
  // the first 8 positions see the same keys; later ones lose the start of the prompt
  BOOST_TEST(max_abs(open[0].narrow(0, 0, 8), windowed[0].narrow(0, 0, 8)) < 1e-6);
  BOOST_TEST(max_abs(open[0][-1], windowed[0][-1]) > 1e-4);
}

// The training forward on the real tokens only equals the padded forward at those tokens, and
// so do the gradients that flow back through it.
BOOST_AUTO_TEST_CASE(the_decoder_on_real_tokens_only_equals_the_padded_decoder)
{
  for (const bool windowed : {false, true}) {
    BOOST_TEST_INFO("sliding window " << windowed);
    auto config = tiny_config();
    if (windowed) config.text.sliding_window = 5;    // shorter than the rows: the window bites
    const auto model = Idefics2Model::random(config, kF32, 17);
    const std::vector<std::int64_t> lengths{9, 4, 11};
    const std::int64_t b = 3, t = 11;
    std::vector<std::int64_t> real;
    for (std::int64_t r = 0; r < b; ++r)
      for (std::int64_t j = 0; j < lengths[static_cast<std::size_t>(r)]; ++j)
        real.push_back(r * t + j);
    const auto tokens = torch::tensor(real);
    auto ids = torch::randint(3, 80, {b, t}, torch::kInt64);
    const auto weights =
        torch::randn({static_cast<std::int64_t>(real.size()), config.text.hidden_size});
    auto padded_in = model.embed(ids, {}).detach().requires_grad_(true);
    auto packed_in = padded_in.detach().clone().requires_grad_(true);

    const auto padded = model.decode_full(padded_in).reshape({b * t, -1}).index_select(0, tokens);
    const auto packed = model.decode_full(packed_in, tokens);
    BOOST_TEST(packed.sizes() == padded.sizes());
    BOOST_TEST(max_abs(packed, padded) < 1e-5);
    (padded * weights).sum().backward();
    (packed * weights).sum().backward();
    // gradients of order 10-100 here: equal to fp32 rounding
    const double scale = padded_in.grad().abs().max().item<double>();
    BOOST_TEST(max_abs(packed_in.grad(), padded_in.grad()) < 1e-6 * scale);
    // and the padding slots get no gradient: nothing real reads them
    BOOST_TEST(packed_in.grad()[1].narrow(0, 4, t - 4).abs().max().item<double>() == 0.0);
  }
}

BOOST_AUTO_TEST_CASE(fused_attention_equals_plain_attention)
{
  c10::InferenceMode guard;
  auto config = tiny_config();
  config.text.sliding_window = 10;
  auto model = Idefics2Model::random(config, kF32, 3);
  const auto [pixels, mask] = padded_images({{32, 32}, {12, 28}});
  const auto ids = torch::tensor(prompt_ids(config, 2, 9, 2)).unsqueeze(0);
  model.attention = AttentionKernel::Fused;
  const auto fused = model.forward(ids, pixels, mask);
  model.attention = AttentionKernel::Plain;
  const auto plain = model.forward(ids, pixels, mask);
  BOOST_TEST(max_abs(fused, plain) < 1e-5);

  // the kernel alone, with grouped heads, a padding mask and the causal flag
  const auto q = torch::randn({2, 4, 5, 8}), k = torch::randn({2, 2, 7, 8}),
             v = torch::randn({2, 2, 7, 8});
  auto key_mask = torch::ones({2, 1, 1, 7}, torch::kBool);
  key_mask[1][0][0].narrow(0, 5, 2).fill_(false);
  BOOST_TEST(max_abs(attend(q, k, v, key_mask, false, AttentionKernel::Fused),
                     attend(q, k, v, key_mask, false, AttentionKernel::Plain)) < 1e-5);
  // one query per head, as in decoding: the grouped heads become one head's queries
  const auto q1 = torch::randn({2, 4, 1, 8});
  BOOST_TEST(max_abs(attend(q1, k, v, key_mask, false, AttentionKernel::Fused),
                     attend(q1, k, v, key_mask, false, AttentionKernel::Plain)) < 1e-5);
  const auto kq = torch::randn({2, 4, 7, 8});
  BOOST_TEST(max_abs(attend(kq, k, v, {}, true, AttentionKernel::Fused),
                     attend(kq, k, v, {}, true, AttentionKernel::Plain)) < 1e-5);
}

BOOST_AUTO_TEST_CASE(padding_pixels_and_padding_images_change_nothing)
{
  c10::InferenceMode guard;
  const auto config = tiny_config();
  const auto model = Idefics2Model::random(config, kF32, 5);
  const auto [alone_pixels, alone_mask] = padded_images({{20, 28}});
  // the same image padded into a larger canvas, and followed by an all-zero padding image
  auto pixels = torch::zeros({2, 3, 32, 32});
  auto mask = torch::zeros({2, 32, 32}, torch::kUInt8);
  pixels[0].narrow(1, 0, 20).narrow(2, 0, 28).copy_(alone_pixels[0]);
  mask[0].narrow(0, 0, 20).narrow(1, 0, 28).fill_(1);
  const auto alone = model.encode_images(alone_pixels, alone_mask);
  const auto padded = model.encode_images(pixels, mask);
  BOOST_TEST(padded.size(0) == 1);
  BOOST_TEST(max_abs(alone, padded) < 1e-5);
}

// A vision tower and connector at their initialisation (as cephalo train --freeze vision,connector
// keeps them) must carry where a patch is, not only what it shows. Two of an image's 32-pixel
// patches trade places, or get new pixels: with the sine-cosine position table the features
// move by a good part of what new pixels move them; with a table drawn like the other weights
// (std 0.02) the pixels drown it, and the tower sees a bag of patches.
BOOST_AUTO_TEST_CASE(a_tower_at_its_initialisation_sees_where_patches_are)
{
  c10::InferenceMode guard;
  auto config = tiny_config();
  config.vision.image_size = 128;    // 4 x 4 patches of 32 pixels, as in cephalo-tiny
  config.vision.patch_size = 32;
  const auto model = Idefics2Model::random(config, kF32, 21);
  torch::manual_seed(4);
  const auto image = torch::rand({1, 3, 128, 128}) * 2 - 1;
  const auto patch = [](const torch::Tensor &t, int64_t row, int64_t col) {
    return t.narrow(2, 32 * row, 32).narrow(3, 32 * col, 32);
  };
  auto swapped = image.clone(), repainted = image.clone();
  patch(swapped, 0, 0).copy_(patch(image, 3, 2));
  patch(swapped, 3, 2).copy_(patch(image, 0, 0));
  patch(repainted, 0, 0).copy_(torch::rand({1, 3, 32, 32}) * 2 - 1);
  patch(repainted, 3, 2).copy_(torch::rand({1, 3, 32, 32}) * 2 - 1);
  const auto mask = torch::ones({1, 128, 128}, torch::kUInt8);
  const auto where_over_what = [&] {
    const auto base = model.encode_images(image, mask);
    return (model.encode_images(swapped, mask) - base).norm().item<double>() /
           (model.encode_images(repainted, mask) - base).norm().item<double>();
  };
  const double grid = where_over_what();
  torch::Tensor table;
  for (const auto &p : model.parameters())
    if (p.parts.front().first == "model.vision_model.embeddings.position_embedding.weight")
      table = p.tensor;
  BOOST_REQUIRE(table.defined());
  table.copy_(torch::randn(table.sizes()) * 0.02);
  const double drawn = where_over_what();
  BOOST_TEST_MESSAGE("moving two patches changes the features by "
                     << grid << " (sine-cosine table), " << drawn
                     << " (drawn table) of what new pixels change them");
  BOOST_TEST(grid > 0.3);
  BOOST_TEST(drawn < 0.1);
}

BOOST_AUTO_TEST_CASE(a_batch_equals_its_requests_run_alone)
{
  ScratchDir dir;
  const auto config = tiny_config();
  write_random_checkpoint(dir.path(), config, 21);
  write_small_processor(dir.path());
  auto vlm = VisionLanguageModel::load(dir.path());

  std::vector<GenerationRequest> requests(3);
  const auto to_int = [](const std::vector<std::int64_t> &ids) {
    return std::vector<int>(ids.begin(), ids.end());
  };
  requests[0].prompt_tokens = to_int(prompt_ids(config, 1, 3, 0));
  requests[0].images = {patterned_image(40, 30, 1)};
  requests[1].prompt_tokens = to_int(prompt_ids(config, 0, 17, 5));
  requests[2].prompt_tokens = to_int(prompt_ids(config, 2, 8, 9));
  requests[2].images = {patterned_image(25, 60, 2), patterned_image(64, 64, 3)};
  for (auto &r : requests) r.sampling.max_new_tokens = 10;
  requests[1].sampling.max_new_tokens = 6;    // leaves the batch early

  std::vector<std::vector<int>> streamed(3);
  const auto batch = vlm.generate(requests, [&](std::size_t i, int token, std::string_view) {
    if (token >= 0) streamed[i].push_back(token);
    return true;
  });
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto alone = vlm.generate({requests[i]});
    BOOST_TEST_INFO("request " << i);
    BOOST_TEST(batch[i].tokens == alone[0].tokens);
    BOOST_TEST(streamed[i] == batch[i].tokens);
    BOOST_TEST(batch[i].prompt_tokens == static_cast<int>(requests[i].prompt_tokens.size()));
  }
  BOOST_TEST(batch[1].tokens.size() <= 6u);
}

// Questions about one picture in a batch share its encoding: each still gets the answer it gets
// alone, whichever of its images repeat, with and without image splitting (five crops each).
BOOST_AUTO_TEST_CASE(repeated_images_in_a_batch_answer_as_alone)
{
  for (const bool split : {false, true}) {
    BOOST_TEST_CONTEXT("image splitting " << split)
    {
      ScratchDir dir;
      const auto config = tiny_config();
      write_random_checkpoint(dir.path(), config, 23, "float32", 0.2);
      std::ofstream(dir.path() / "preprocessor_config.json")
          << R"({"size": {"shortest_edge": 16, "longest_edge": 32}, "do_image_splitting": )"
          << (split ? "true" : "false") << "}";
      auto vlm = VisionLanguageModel::load(dir.path());
      const int crops = split ? 5 : 1;
      const auto a = patterned_image(40, 30, 1), b = patterned_image(64, 48, 2);
      Image dark = a;    // a's size, other pixels
      std::fill(dark.rgb.begin(), dark.rgb.end(), std::uint8_t{12});
      std::vector<GenerationRequest> requests(4);
      const std::vector<std::vector<Image>> images{{a}, {b, a}, {dark}, {a, a}};
      for (std::size_t i = 0; i < requests.size(); ++i) {
        const auto n = static_cast<int>(images[i].size());
        const int salt = i == 2 ? 0 : static_cast<int>(i);    // request 2: request 0's text
        const auto ids = prompt_ids(config, n * crops, 4 + salt, salt);
        requests[i].prompt_tokens.assign(ids.begin(), ids.end());
        requests[i].images = images[i];
        requests[i].sampling.max_new_tokens = 8;
      }
      const auto batch = vlm.generate(requests);
      for (std::size_t i = 0; i < requests.size(); ++i) {
        BOOST_TEST_INFO("request " << i);
        BOOST_TEST(batch[i].tokens == vlm.generate({requests[i]})[0].tokens);
      }
      // an image of the same size with other pixels is not taken for the first
      BOOST_TEST(batch[0].tokens != batch[2].tokens);
    }
  }
}

BOOST_AUTO_TEST_CASE(sampling_is_seeded_and_respects_top_k_and_top_p)
{
  std::vector<float> logits{0.5f, 3.0f, 2.9f, -1.0f, 1.0f};
  std::mt19937_64 rng(1);
  SamplingParams greedy;
  BOOST_TEST(sample_token(logits.data(), 5, greedy, rng) == 1);
  SamplingParams hot;
  hot.temperature = 1.0;
  hot.top_k = 2;
  std::set<int> seen;
  for (int i = 0; i < 200; ++i) seen.insert(sample_token(logits.data(), 5, hot, rng));
  BOOST_TEST((seen == std::set<int>{1, 2}));
  hot.top_k = 0;
  hot.top_p = 0.3;    // token 1 alone holds more than 30%
  for (int i = 0; i < 50; ++i) BOOST_TEST(sample_token(logits.data(), 5, hot, rng) == 1);
  hot.top_p = 1.0;
  std::mt19937_64 a(42), b(42);
  std::vector<int> first, second;
  for (int i = 0; i < 30; ++i) {
    first.push_back(sample_token(logits.data(), 5, hot, a));
    second.push_back(sample_token(logits.data(), 5, hot, b));
  }
  BOOST_TEST(first == second);
}

BOOST_AUTO_TEST_CASE(median_numbers_place_each_decimal_at_the_running_quantile)
{
  // ten shares: 0.4 on 2, 0.2 on 3, 0.4 on 4; the median is inside 3, halfway through it
  std::array<double, 10> p{};
  p[2] = 0.4, p[3] = 0.2, p[4] = 0.4;
  auto [digit, within] = digit_at_quantile(p, 0.5);
  BOOST_TEST(digit == 3);
  BOOST_TEST(within == 0.5, boost::test_tools::tolerance(1e-12));
  std::tie(digit, within) = digit_at_quantile(p, 0.1);
  BOOST_TEST(digit == 2);
  BOOST_TEST(within == 0.25, boost::test_tools::tolerance(1e-12));
  std::tie(digit, within) = digit_at_quantile(p, 1.0 + 1e-12);    // rounding past the end
  BOOST_TEST(digit == 4);

  // a vocabulary of 16: digits 0-9 are ids 3-12, '.' is 13, ',' is 14
  DigitTokens digits;
  for (int d = 0; d < 10; ++d) digits.digit[static_cast<std::size_t>(d)] = 3 + d;
  digits.point = 13;
  const auto logits_for = [](const std::map<int, double> &probs) {
    auto row = torch::full({16}, -30.0, torch::kFloat32);
    for (const auto &[id, prob] : probs) row[id] = std::log(prob);
    return row.unsqueeze(0);
  };
  const auto decode = [&](NumberDecoding numbers, double temperature = 0.0) {
    SamplingParams params;
    params.numbers = numbers;
    params.temperature = temperature;
    std::mt19937_64 rng(1);
    NumberCursor cursor;
    std::vector<int> out;
    const auto step = [&](const torch::Tensor &logits) {
      out.push_back(choose_tokens(logits, [&](std::size_t) {
        return Sampler{&params, &rng, &cursor, &digits};
      })[0]);
    };
    step(logits_for({{3, 0.9}}));                        // "0"
    step(logits_for({{13, 0.9}}));                       // "."
    step(logits_for({{5, 0.4}, {6, 0.2}, {7, 0.4}}));    // 2, 3 or 4
    // the next place: 3 to 7 evenly; the running quantile (0.5 within "3") picks 5
    step(logits_for({{6, 0.2}, {7, 0.2}, {8, 0.2}, {9, 0.2}, {10, 0.2}}));
    step(logits_for({{14, 0.9}}));                       // "," ends the number
    step(logits_for({{5, 0.4}, {6, 0.2}, {7, 0.4}}));    // a digit outside any fraction
    return out;
  };
  // mode: the likeliest digit at each place, the lower id on a tie
  BOOST_TEST(decode(NumberDecoding::mode) == (std::vector<int>{3, 13, 5, 6, 14, 5}));
  // median: 0.35, and greedy outside the fraction
  BOOST_TEST(decode(NumberDecoding::median) == (std::vector<int>{3, 13, 6, 8, 14, 5}));
  BOOST_TEST(std::string(number_decoding_name(parse_number_decoding("median"))) == "median");
  BOOST_CHECK_THROW(parse_number_decoding("mean"), std::invalid_argument);
}

// cephalo-tiny, as shipped, answering Cephalo's energy question about two snapshots of held-out
// runs of its recipe's sweep (fixtures/crack: test runs 2, a hole at step 0, and 22, a notch at
// step 2500, as `cephalo dataset fracture` drew them): the option reaches the sampler through the
// runtime, the answers keep their form, and they read the measured statistics.
BOOST_AUTO_TEST_CASE(cephalo_tiny_answers_statistics_with_median_numbers)
{
  const fs::path dir = CEPHALO_TINY;
  BOOST_REQUIRE(fs::exists(dir / "config.json"));
  RuntimeOptions options;
  options.threads = 2;
  auto vlm = VisionLanguageModel::load(dir, options);
  const fs::path crack = fs::path(CEPHALO_FIXTURES) / "crack";
  // compute cephalo/crack's energy standard deviation, mean and median of each
  const std::vector<std::pair<std::string, std::array<double, 3>>> snapshots = {
      {"hole-run2-step0.pe.png", {0.262, -3.258, -3.319}},
      {"notch-run22-step2500.pe.png", {0.246, -3.205, -3.256}}};
  std::vector<GenerationRequest> mode, median;
  for (const auto &[file, truth] : snapshots) {
    GenerationRequest q;
    q.messages = {{"user",
                   "CalculatePotentialEnergyStatistics <energy_stdev, energy_mean, energy_median>",
                   1}};
    q.images = {read_image(crack / file)};
    q.sampling.max_new_tokens = 40;
    mode.push_back(q);
    q.sampling.numbers = NumberDecoding::median;
    median.push_back(q);
  }
  const auto by_mode = vlm.generate(mode), by_median = vlm.generate(median);
  int differ = 0;
  const std::regex form(R"(\[(-?\d+\.\d{3}), (-?\d+\.\d{3}), (-?\d+\.\d{3})\])");
  for (std::size_t k = 0; k < mode.size(); ++k) {
    BOOST_TEST_INFO(snapshots[k].first << ": " << by_mode[k].text << " / " << by_median[k].text);
    BOOST_TEST(std::regex_match(by_mode[k].text, form));
    std::smatch m;
    BOOST_TEST_REQUIRE(std::regex_match(by_median[k].text, m, form));
    for (int i = 0; i < 3; ++i)
      BOOST_TEST(std::abs(std::stod(m[i + 1].str()) - snapshots[k].second[i]) < 0.03);
    differ += by_mode[k].text != by_median[k].text;
  }
  BOOST_TEST_MESSAGE(differ << " of " << mode.size() << " answers differ between mode and median");
  BOOST_TEST(differ > 0);
}

BOOST_AUTO_TEST_CASE(loader_names_missing_extra_misshaped_and_truncated_tensors)
{
  ScratchDir dir;
  const auto config = tiny_config();
  write_random_checkpoint(dir.path(), config, 1);
  const auto file = dir.path() / "model.safetensors";
  const auto error_of = [&]() -> std::string {
    try {
      VisionLanguageModel::load(dir.path());
    } catch (const std::exception &e) {
      return e.what();
    }
    return "";
  };
  BOOST_TEST(error_of().empty());

  // rewrite the file with one tensor dropped, one extra, one of the wrong shape
  {
    const auto original = SafetensorsFile::open(file);
    std::vector<TensorBytes> tensors;
    std::vector<std::vector<float>> keep;
    for (const auto &info : original.tensors()) {
      if (info.name == "model.text_model.norm.weight") continue;
      auto shape = info.shape;
      if (info.name == "model.connector.perceiver_resampler.latents") shape = {shape[1], shape[0]};
      tensors.push_back({info.name, info.dtype, shape, original.data(info)});
    }
    std::vector<float> extra(4, 1.0f);
    tensors.push_back(
        {"model.text_model.layers.9.mlp.gate_proj.weight", DType::F32, {2, 2}, extra.data()});
    write_safetensors(dir.path() / "rewritten.safetensors", tensors);
  }
  fs::rename(dir.path() / "rewritten.safetensors", file);
  const auto message = error_of();
  BOOST_TEST(message.find("missing tensor 'model.text_model.norm.weight'") != std::string::npos);
  BOOST_TEST(message.find("tensor 'model.connector.perceiver_resampler.latents' has shape [32, 4], "
                          "expected [4, 32]") != std::string::npos);
  BOOST_TEST(message.find("unexpected tensor 'model.text_model.layers.9.mlp.gate_proj.weight'") !=
             std::string::npos);

  // truncated: the header promises more bytes than the file holds
  write_random_checkpoint(dir.path(), config, 1);
  fs::resize_file(file, fs::file_size(file) - 100);
  BOOST_TEST(error_of().find("truncated file?") != std::string::npos);

  // a sharded index that names a shard that is not there
  fs::remove(file);
  std::ofstream(dir.path() / "model.safetensors.index.json")
      << R"({"weight_map": {"lm_head.weight": "model-00002-of-00002.safetensors"}})";
  BOOST_TEST(error_of().find("model-00002-of-00002.safetensors: cannot open") != std::string::npos);
  fs::remove(dir.path() / "model.safetensors.index.json");
  BOOST_TEST(error_of().find("no model.safetensors or model.safetensors.index.json") !=
             std::string::npos);

  // a corrupt config
  std::ofstream(dir.path() / "config.json")
      << R"({"model_type": "idefics2", "vision_config": {"patch_size": 0}})";
  BOOST_TEST(error_of().find("vision_config.patch_size: 0 is out of range") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(sharded_checkpoints_load_like_single_files)
{
  ScratchDir dir;
  const auto config = tiny_config();
  write_random_checkpoint(dir.path() / "single", config, 4);
  const auto single = SafetensorsFile::open(dir.path() / "single" / "model.safetensors");
  const auto sharded = dir.path() / "sharded";
  fs::create_directories(sharded);
  fs::copy_file(dir.path() / "single" / "config.json", sharded / "config.json");
  std::vector<TensorBytes> parts[2];
  std::string index = R"({"metadata": {}, "weight_map": {)";
  for (std::size_t i = 0; i < single.tensors().size(); ++i) {
    const auto &info = single.tensors()[i];
    const int shard = info.name.rfind("model.text_model", 0) == 0 ? 1 : 0;
    parts[shard].push_back({info.name, info.dtype, info.shape, single.data(info)});
    index += (i ? ", \"" : "\"") + info.name + "\": \"model-0000" + std::to_string(shard + 1) +
             "-of-00002.safetensors\"";
  }
  index += "}}";
  write_safetensors(sharded / "model-00001-of-00002.safetensors", parts[0]);
  write_safetensors(sharded / "model-00002-of-00002.safetensors", parts[1]);
  std::ofstream(sharded / "model.safetensors.index.json") << index;

  GenerationRequest request;
  request.prompt_tokens = {1, 5, 9, 13, 17};
  request.sampling.max_new_tokens = 8;
  const auto a = VisionLanguageModel::load(dir.path() / "single").generate({request});
  const auto b = VisionLanguageModel::load(sharded).generate({request});
  BOOST_TEST(a[0].tokens == b[0].tokens);
  BOOST_TEST(a[0].tokens.size() + (a[0].finish_reason == "stop") == 8u);
}

// Parity with the reference implementation: a tiny random Idefics2 written by Hugging Face
// transformers, with its logits and greedy tokens for one prompt with two images
// (tests/models/fixtures/idefics2-tiny, made by tests/models/fixtures/make_reference.py).
BOOST_AUTO_TEST_CASE(logits_and_greedy_tokens_match_the_reference_implementation)
{
  const fs::path dir = fs::path(CEPHALO_FIXTURES) / "idefics2-tiny";
  if (!fs::exists(dir / "reference.safetensors")) {
    BOOST_TEST_MESSAGE("no reference fixture at " << dir << "; parity not checked");
    return;
  }
  c10::InferenceMode guard;
  const auto config = Idefics2Config::load(dir / "config.json");
  auto weights = WeightStore::open(dir);
  Idefics2Model model(config, weights, kF32);
  const auto reference = SafetensorsFile::open(dir / "reference.safetensors");
  const auto get = [&](const char *name) {
    return tensor_view(reference, reference.at(name)).clone();
  };
  const auto ids = get("input_ids");
  const auto expected = get("logits").to(torch::kFloat32);
  const auto greedy = get("greedy_tokens");

  for (const auto kernel : {AttentionKernel::Fused, AttentionKernel::Plain}) {
    model.attention = kernel;
    const auto logits = model.forward(ids, get("pixel_values"), get("pixel_attention_mask"));
    const double relative = ((logits - expected).abs().max() / expected.abs().max()).item<double>();
    BOOST_TEST_INFO("fused " << (kernel == AttentionKernel::Fused));
    BOOST_TEST(relative < 1e-4);
  }

  // bfloat16 weights and activations (norms and softmax in fp32) stay close
  {
    auto bf16_weights = WeightStore::open(dir);
    const Idefics2Model bf16(config, bf16_weights, torch::TensorOptions().dtype(torch::kBFloat16));
    const auto logits = bf16.forward(ids, get("pixel_values"), get("pixel_attention_mask"));
    BOOST_TEST(((logits - expected).abs().max() / expected.abs().max()).item<double>() < 5e-2);
  }

  // 32 greedy steps with the cache give the reference's tokens
  const auto features = model.encode_images(get("pixel_values"), get("pixel_attention_mask"));
  std::vector<std::int64_t> prompt(ids.data_ptr<std::int64_t>(),
                                   ids.data_ptr<std::int64_t>() + ids.numel());
  std::vector<std::int64_t> tokens;
  cached_greedy(model, prompt, features, static_cast<int>(greedy.numel()), tokens);
  const std::vector<std::int64_t> want(greedy.data_ptr<std::int64_t>(),
                                       greedy.data_ptr<std::int64_t>() + greedy.numel());
  BOOST_TEST(tokens == want, boost::test_tools::per_element());
}

// The whole pipeline against the same fixture: PNG files through our image processor give the
// reference processor's pixels, and generate() gives the reference's greedy tokens.
BOOST_AUTO_TEST_CASE(the_pipeline_from_png_files_matches_the_reference_implementation)
{
  const fs::path dir = fs::path(CEPHALO_FIXTURES) / "idefics2-tiny";
  if (!fs::exists(dir / "reference.safetensors")) return;
  const auto reference = SafetensorsFile::open(dir / "reference.safetensors");
  const auto get = [&](const char *name) {
    return tensor_view(reference, reference.at(name)).clone();
  };
  const std::vector<Image> images{read_image(dir / "img0.png"), read_image(dir / "img1.png")};
  const auto processed =
      preprocess(images, ImageProcessorConfig::load(dir / "preprocessor_config.json"));
  const auto pixels = torch::from_blob(const_cast<float *>(processed.pixels.data()),
                                       {processed.count, 3, processed.height, processed.width});
  const auto mask =
      torch::from_blob(const_cast<std::uint8_t *>(processed.pixel_mask.data()),
                       {processed.count, processed.height, processed.width}, torch::kUInt8);
  BOOST_TEST(max_abs(pixels, get("pixel_values")) == 0.0);
  BOOST_TEST(mask.equal(get("pixel_attention_mask")));

  auto vlm = VisionLanguageModel::load(dir, {"cpu", "float32", 0, true});
  GenerationRequest request;
  const auto ids = get("input_ids");
  request.prompt_tokens.assign(ids.data_ptr<std::int64_t>(),
                               ids.data_ptr<std::int64_t>() + ids.numel());
  request.images = images;
  const auto greedy = get("greedy_tokens");
  request.sampling.max_new_tokens = static_cast<int>(greedy.numel());
  request.sampling.stop_token_ids.clear();
  const auto result = vlm.generate({request});
  const std::vector<int> want(greedy.data_ptr<std::int64_t>(),
                              greedy.data_ptr<std::int64_t>() + greedy.numel());
  BOOST_TEST(result[0].tokens == want, boost::test_tools::per_element());
  BOOST_TEST(result[0].finish_reason == "length");
}

namespace {

// A random checkpoint of the tiny configuration with the 400-piece tokenizer fixture beside it.
fs::path write_model_with_tokenizer(const fs::path &dir, std::uint64_t seed)
{
  return cephalo::test::write_tiny_chat_model(dir, tiny_config(), seed);
}

Image gradient_image(int w, int h)
{
  Image im;
  im.width = w;
  im.height = h;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        im.rgb.push_back(static_cast<std::uint8_t>((x * 7 + y * 3 + c * 50) % 256));
  return im;
}

}    // namespace

BOOST_AUTO_TEST_CASE(chat_requests_stream_their_text_and_end_at_stop_strings)
{
  ScratchDir dir;
  GenerationRequest request;
  request.messages = {{"user", "Describe the crack.", 1}};
  request.images = {gradient_image(40, 36)};
  request.sampling.max_new_tokens = 24;
  // random weights whose greedy answer is long enough to cut at a stop string (the first seed
  // from 8 that gives one; random models may end at once)
  std::uint64_t seed = 8;
  auto vlm = VisionLanguageModel::load(write_model_with_tokenizer(dir.path() / "8", seed));
  while (vlm.generate({request})[0].text.size() <= 8u && seed < 40) {
    ++seed;
    vlm = VisionLanguageModel::load(
        write_model_with_tokenizer(dir.path() / std::to_string(seed), seed));
  }

  // User:<fake><image>x4<fake>Describe the crack.<end_of_utterance>\nAssistant:
  const auto prompt = vlm.prompt_tokens(request);
  BOOST_TEST(prompt.front() == 1);
  BOOST_TEST(std::count(prompt.begin(), prompt.end(), 401) == 4);
  BOOST_TEST(std::count(prompt.begin(), prompt.end(), 400) == 2);
  BOOST_TEST(std::count(prompt.begin(), prompt.end(), 402) == 1);

  std::string streamed;
  const auto first = vlm.generate({request}, [&](std::size_t, int, std::string_view text) {
    streamed += text;
    return true;
  });
  BOOST_TEST(first[0].text == streamed);
  BOOST_TEST_REQUIRE(first[0].text.size() > 8u);

  // stop at a piece of the text the model gave: the answer ends just before its first occurrence
  const std::string stop = first[0].text.substr(first[0].text.size() / 2, 3);
  request.sampling.stop = {stop};
  streamed.clear();
  const auto stopped = vlm.generate({request}, [&](std::size_t, int, std::string_view text) {
    streamed += text;
    return true;
  });
  BOOST_TEST(stopped[0].text == first[0].text.substr(0, first[0].text.find(stop)));
  BOOST_TEST(streamed == stopped[0].text);
  BOOST_TEST(stopped[0].finish_reason == "stop");

  // a callback that returns false cancels the request
  const auto cancelled =
      vlm.generate({request}, [](std::size_t, int, std::string_view) { return false; });
  BOOST_TEST(cancelled[0].finish_reason == "cancelled");
  BOOST_TEST(cancelled[0].tokens.size() == 1u);

  // a seeded sample repeats; the prompt's image count must match the images
  request.sampling = {};
  request.sampling.max_new_tokens = 12;
  request.sampling.temperature = 0.8;
  request.sampling.top_p = 0.9;
  request.sampling.seed = 5;
  BOOST_TEST(vlm.generate({request})[0].tokens == vlm.generate({request})[0].tokens);
  request.images.push_back(gradient_image(20, 20));
  BOOST_CHECK_EXCEPTION(vlm.generate({request}), std::invalid_argument,
                        [](const std::invalid_argument &e) {
                          return std::string(e.what()).find("1 <image> marker(s) but 2 image(s)") !=
                                 std::string::npos;
                        });
}

BOOST_AUTO_TEST_CASE(cephalo_generate_streams_an_answer_and_reports_bad_input)
{
  ScratchDir dir;
  const auto model = write_model_with_tokenizer(dir.path() / "model", 9);
  write_png(dir.path() / "crack.png", gradient_image(48, 30));
  const std::string program = cephalo::test::shell_quote(CEPHALO_GENERATE);
  const auto ok =
      cephalo::test::run_command(dir.path(), program + " --model model --image crack.png --prompt "
                                                       "'Describe the crack.' --max-new-tokens 6");
  BOOST_TEST_INFO(ok.output);
  BOOST_TEST(ok.exit_code == 0);
  BOOST_TEST(ok.output.find("prompt tokens, ") != std::string::npos);

  std::ofstream(dir.path() / "broken.png") << "\x89PNG\r\n\x1a\n not really";
  const auto broken = cephalo::test::run_command(
      dir.path(), program + " --model model --image broken.png --prompt hi");
  BOOST_TEST(broken.exit_code == 1);
  BOOST_TEST(broken.output.find("broken.png") != std::string::npos);

  const auto missing =
      cephalo::test::run_command(dir.path(), program + " --model nowhere --prompt hi");
  BOOST_TEST(missing.exit_code == 1);
  BOOST_TEST(missing.output.find("nowhere: not a folder") != std::string::npos);

  const auto usage =
      cephalo::test::run_command(dir.path(), program + " --model model --prompt hi --top-p 2");
  BOOST_TEST(usage.exit_code == 2);
  BOOST_TEST(usage.output.find("--top-p in (0, 1]") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(absent_config_keys_take_the_defaults_of_transformers)
{
  const auto parse = [](const std::string &text) {
    return Idefics2Config::parse(text, "config.json");
  };
  const auto absent = parse(
      R"({"model_type": "idefics2", "text_config": {"vocab_size": 32003, "num_attention_heads": 32}})");
  BOOST_TEST(absent.text.num_key_value_heads == 8);    // MistralConfig's default
  BOOST_TEST(*absent.text.sliding_window == 4096);
  BOOST_TEST(absent.vision.hidden_size == 768);
  BOOST_TEST(absent.perceiver.rms_norm_eps == 1e-6);    // the perceiver's own, widths agree
  const auto nulls = parse(
      R"({"model_type": "idefics2", "text_config": {"vocab_size": 32003, "num_key_value_heads": null, "sliding_window": null}})");
  BOOST_TEST(nulls.text.num_key_value_heads == 32);
  BOOST_TEST(!nulls.text.sliding_window.has_value());
  // a perceiver width that differs from the text model's was a default: the text model's wins,
  // with its epsilon
  const auto narrow = parse(
      R"({"model_type": "idefics2", "text_config": {"vocab_size": 32003, "hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5}})");
  BOOST_TEST(narrow.perceiver.rms_norm_eps == 1e-5);
}

BOOST_AUTO_TEST_CASE(requests_are_checked_before_any_work)
{
  ScratchDir dir;
  const auto config = tiny_config();
  write_random_checkpoint(dir.path(), config, 2);
  auto vlm = VisionLanguageModel::load(dir.path());
  const auto error_of = [&](const GenerationRequest &request) -> std::string {
    try {
      vlm.generate({request});
    } catch (const std::invalid_argument &e) {
      return e.what();
    }
    return "";
  };
  GenerationRequest request;
  request.prompt_tokens = {1, 5, 6};
  request.sampling.temperature = std::nan("");
  BOOST_TEST(error_of(request) == "request 0: temperature must be a finite number >= 0");
  request.sampling.temperature = 0.5;
  request.sampling.top_p = 0;
  BOOST_TEST(error_of(request) == "request 0: top_p must be in (0, 1]");
  request.sampling.top_p = 1;
  request.sampling.max_new_tokens = 10000;
  BOOST_TEST(error_of(request).find("exceed the model's max_position_embeddings (512)") !=
             std::string::npos);
  request.sampling.max_new_tokens = 4;
  request.sampling.stop = {"crack"};
  BOOST_TEST(error_of(request).find("no tokenizer") != std::string::npos);
  request.sampling.stop.clear();
  request.prompt_tokens = {1, 500};
  BOOST_TEST(error_of(request) == "request 0: token id 500 is outside the vocabulary of 96");
  BOOST_CHECK_THROW(VisionLanguageModel::load(dir.path(), {"cuda:7", "auto", 0, true}),
                    std::invalid_argument);
}

// A generated image token is only a token (as in the reference): decoding goes on.
BOOST_AUTO_TEST_CASE(a_generated_image_token_does_not_stop_decoding)
{
  ScratchDir dir;
  auto config = tiny_config();
  config.image_token_id = 0;    // with lm_head zero, greedy picks id 0: the image token
  write_random_checkpoint(dir.path() / "random", config, 3);
  const auto file = SafetensorsFile::open(dir.path() / "random" / "model.safetensors");
  std::vector<TensorBytes> tensors;
  const std::vector<float> zeros(
      static_cast<std::size_t>(config.text.vocab_size * config.text.hidden_size), 0.0f);
  for (const auto &info : file.tensors())
    tensors.push_back({info.name, info.dtype, info.shape,
                       info.name == "lm_head.weight" ? static_cast<const void *>(zeros.data())
                                                     : file.data(info)});
  fs::create_directories(dir.path() / "model");
  write_safetensors(dir.path() / "model" / "model.safetensors", tensors);
  fs::copy_file(dir.path() / "random" / "config.json", dir.path() / "model" / "config.json");

  auto vlm = VisionLanguageModel::load(dir.path() / "model");
  GenerationRequest request;
  request.prompt_tokens = {1, 5, 6, 7};
  request.sampling.max_new_tokens = 3;
  const auto result = vlm.generate({request});
  BOOST_TEST(result[0].tokens == (std::vector<int>{0, 0, 0}));
  BOOST_TEST(result[0].finish_reason == "length");
}
