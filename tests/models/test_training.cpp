// Training: JSONL records and their errors, the answer-only labels in the runtime's prompt
// layout, the schedule, clipping, accumulation, exact resume, learning a synthetic colour task
// (and answering it through the runtime after saving), LoRA in the PEFT layout with merging, and
// the cephalo-train program end to end.
#define BOOST_TEST_MODULE models_training
#include <boost/test/unit_test.hpp>

#include "cephalo/models/image.h"
#include "cephalo/models/runtime.h"
#include "cephalo/models/safetensors.h"
#include "cephalo/models/training.h"
#include "idefics2_model.h"
#include "lora.h"
#include "process.h"
#include "scratch_dir.h"
#include "tensor_io.h"
#include "tiny_model.h"
#include "training_data.h"
#include "training_impl.h"
#include "weights.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>

namespace fs = std::filesystem;
using namespace cephalo::models;
using cephalo::test::ScratchDir;
using cephalo::test::tiny_config;

namespace {

struct Colour {
  const char *name;
  std::uint8_t r, g, b;
};
const Colour kColours[] = {
    {"red", 220, 30, 30}, {"green", 30, 190, 40}, {"blue", 30, 40, 220}, {"yellow", 230, 220, 30}};
constexpr int kSide = 32;    // pixels: the tiny vision tower's 8 x 8 patches

// A grey picture with a square of the colour; `variant` moves and sizes the square.
Image square_picture(const Colour &colour, int variant)
{
  Image image;
  image.width = image.height = kSide;
  image.rgb.assign(3 * kSide * kSide, 128);
  const int size = 12 + variant % 3 * 4, x0 = variant * 5 % (kSide - size),
            y0 = variant * 7 % (kSide - size);
  for (int y = y0; y < y0 + size; ++y)
    for (int x = x0; x < x0 + size; ++x) {
      auto *p = &image.rgb[3 * (y * kSide + x)];
      p[0] = colour.r;
      p[1] = colour.g;
      p[2] = colour.b;
    }
  return image;
}

// name.jsonl beside images/: `per_colour` records per colour, variants from `first`.
fs::path write_colour_set(const fs::path &dir, const std::string &name, int per_colour, int first)
{
  fs::create_directories(dir / "images");
  std::ofstream out(dir / (name + ".jsonl"));
  for (int v = first; v < first + per_colour; ++v)
    for (const auto &colour : kColours) {
      const std::string file = "images/" + std::string(colour.name) + std::to_string(v) + ".png";
      write_png(dir / file, square_picture(colour, v));
      out << nlohmann::json{{"image", file},
                            {"query", "What colour is the square?"},
                            {"answer", colour.name},
                            {"source", "synthetic"}}
                 .dump()
          << "\n";
    }
  return dir / (name + ".jsonl");
}

fs::path tiny_base(const fs::path &dir)
{
  return cephalo::test::write_tiny_chat_model(dir, tiny_config(), 3);
}

TrainOptions tiny_options(const fs::path &base, const fs::path &train, const fs::path &out)
{
  TrainOptions o;
  o.model_dir = base;
  o.train_file = train;
  o.out_dir = out;
  o.steps = 6;
  o.batch = 4;
  o.lr = 3e-3;
  o.warmup = 2;
  o.progress = false;
  o.threads = 2;
  return o;
}

// Runs `steps` steps: the images that went through the vision tower, and the losses.
std::pair<int, std::vector<double>> train_steps(Trainer &trainer, int steps)
{
  int encoded = 0;
  std::vector<double> losses;
  for (int i = 0; i < steps; ++i) {
    const auto stats = trainer.step();
    encoded += stats.images_encoded;
    losses.push_back(stats.loss);
  }
  return {encoded, losses};
}

// 3 epochs over 8 pictures with the feature cache and without: 8 pictures through the vision
// tower against 24, and the same losses.
template <typename Run> void check_cached_as_uncached(const Run &run, const TrainOptions &o)
{
  const auto [cached, cached_losses] = run(o);
  auto uncached_options = o;
  uncached_options.feature_cache_mib = 0;
  const auto [uncached, uncached_losses] = run(uncached_options);
  BOOST_TEST(cached == 8);
  BOOST_TEST(uncached == 24);
  for (std::size_t i = 0; i < cached_losses.size(); ++i)
    BOOST_TEST(cached_losses[i] == uncached_losses[i], boost::test_tools::tolerance(1e-5));
}

std::vector<double> train_losses(const fs::path &metrics)
{
  std::vector<double> losses;
  std::ifstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    const auto record = nlohmann::json::parse(line);
    if (record["type"] == "train") losses.push_back(record["loss"].get<double>());
  }
  return losses;
}

std::map<std::string, torch::Tensor> folder_tensors(const fs::path &file)
{
  const auto st = SafetensorsFile::open(file);
  std::map<std::string, torch::Tensor> out;
  for (const auto &info : st.tensors())
    out[info.name] = tensor_view(st, info).to(torch::kFloat32, false, true);
  return out;
}

double relative_difference(const torch::Tensor &a, const torch::Tensor &b)
{
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item<double>();
}

std::string error_of(const std::function<void()> &action)
{
  try {
    action();
  } catch (const std::exception &e) {
    return e.what();
  }
  return {};
}

bool contains(const std::string &text, const std::string &part)
{
  return text.find(part) != std::string::npos;
}

}    // namespace

BOOST_AUTO_TEST_SUITE(data)

BOOST_AUTO_TEST_CASE(bad_records_are_named_by_file_and_line)
{
  ScratchDir dir;
  write_png(dir / "a.png", square_picture(kColours[0], 0));
  const auto jsonl = dir / "bad.jsonl";
  const auto with_line = [&](const std::string &line) {
    std::ofstream(jsonl) << R"({"image": "a.png", "query": "q", "answer": "red"})"
                         << "\n\n"
                         << line << "\n";
    return error_of([&] { read_training_records(jsonl); });
  };
  BOOST_TEST(with_line(R"({"image": "a.png", "query": "q"})") ==
             jsonl.string() + ":3: no \"answer\" field");
  BOOST_TEST(contains(with_line(R"({"image": "a.png", "query": "q", "answer": )"),
                      jsonl.string() + ":3: not valid JSON"));
  BOOST_TEST(with_line(R"(["a.png", "q", "red"])") == jsonl.string() + ":3: not a JSON object");
  BOOST_TEST(with_line(R"({"image": "a.png", "query": 7, "answer": "red"})") ==
             jsonl.string() + ":3: \"query\" is not a string");
  BOOST_TEST(with_line(R"({"image": "a.png", "query": "q", "answer": ""})") ==
             jsonl.string() + ":3: \"answer\" is empty");
  BOOST_TEST(with_line(R"({"image": "gone.png", "query": "q", "answer": "red"})") ==
             jsonl.string() + ":3: image " + (dir / "gone.png").string() + " does not exist");
  std::ofstream(jsonl) << "\n";
  BOOST_TEST(error_of([&] { read_training_records(jsonl); }) == jsonl.string() + ": no records");

  std::ofstream(jsonl) << R"({"image": "a.png", "query": "q", "answer": "red", "source": "s"})";
  const auto records = read_training_records(jsonl);
  BOOST_TEST_REQUIRE(records.size() == 1u);
  BOOST_TEST(records[0].image == dir / "a.png");    // relative to the JSONL file
  BOOST_TEST(records[0].where == jsonl.string() + ":1");
  BOOST_TEST(records[0].source == "s");
}

BOOST_AUTO_TEST_CASE(the_loss_covers_the_answer_of_a_prompt_laid_out_as_the_runtime_does)
{
  ScratchDir dir;
  const auto base = tiny_base(dir / "base");
  const auto records = read_training_records(write_colour_set(dir.path(), "train", 1, 0));
  const auto tokenizer = Tokenizer::load(base);
  const Example example = make_example(records[1], 1, tokenizer, 4, false, 512);

  // the prompt part is what the runtime feeds for the same chat and image
  auto vlm = VisionLanguageModel::load(base);
  GenerationRequest request;
  request.messages = {{"user", records[1].query, 1}};
  request.images = {read_image(records[1].image)};
  const auto prompt = vlm.prompt_tokens(request);
  BOOST_TEST(std::vector<int>(example.ids.begin(), example.ids.begin() + example.answer_start) ==
                 prompt,
             boost::test_tools::per_element());
  // the answer part is the colour and the end of the utterance: the loss's only tokens
  const std::vector<int> answer(example.ids.begin() + example.answer_start, example.ids.end());
  BOOST_TEST(tokenizer.decode(answer) == "green<end_of_utterance>");
  BOOST_TEST(answer.back() == tokenizer.token_id("<end_of_utterance>"));

  // a record longer than the model's positions is refused by name
  BOOST_TEST(contains(error_of([&] { make_example(records[1], 1, tokenizer, 4, false, 12); }),
                      records[1].where + ": "));
}

BOOST_AUTO_TEST_CASE(warm_up_then_cosine_decay)
{
  BOOST_TEST(scheduled_lr(0, 100, 10, 1.0, 0.0) == 0.1, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(scheduled_lr(4, 100, 10, 1.0, 0.0) == 0.5, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(scheduled_lr(9, 100, 10, 1.0, 0.0) == 1.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(scheduled_lr(10, 100, 10, 1.0, 0.0) == 1.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(scheduled_lr(55, 100, 10, 1.0, 0.0) == 0.5, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(scheduled_lr(55, 100, 10, 1.0, 0.2) == 0.6, boost::test_tools::tolerance(1e-12));
  // the last step is just above min_lr, as in transformers
  const double last = scheduled_lr(99, 100, 10, 1.0, 0.0);
  BOOST_TEST(last == 0.5 * (1 + std::cos(M_PI * 89.0 / 90.0)), boost::test_tools::tolerance(1e-12));
  BOOST_TEST(last > 0.0);
  BOOST_TEST(scheduled_lr(0, 10, 0, 2e-3, 0.0) == 2e-3, boost::test_tools::tolerance(1e-12));
  // monotone after the warm-up
  for (int s = 10; s < 99; ++s)
    BOOST_TEST(scheduled_lr(s + 1, 100, 10, 1, 0) <= scheduled_lr(s, 100, 10, 1, 0));
}

BOOST_AUTO_TEST_CASE(each_epoch_visits_every_record_once_in_a_seeded_order)
{
  RecordOrder order(10, 5), again(10, 5), other(10, 6);
  std::vector<std::size_t> first, second;
  for (std::uint64_t s = 0; s < 10; ++s) first.push_back(order.at(s));
  for (std::uint64_t s = 10; s < 20; ++s) second.push_back(order.at(s));
  BOOST_TEST(std::set<std::size_t>(first.begin(), first.end()).size() == 10u);
  BOOST_TEST(std::set<std::size_t>(second.begin(), second.end()).size() == 10u);
  BOOST_TEST(first != second);
  bool differs = false;
  for (std::uint64_t s = 0; s < 20; ++s) {
    BOOST_TEST(again.at(19 - s) == order.at(19 - s));    // any access order
    differs = differs || other.at(s) != order.at(s);
  }
  BOOST_TEST(differs);
}

BOOST_AUTO_TEST_CASE(grouped_by_length_batches_hold_records_of_like_length)
{
  // 1003 records of lengths 0..49 in batches of 8: 125.4 batches an epoch, so that batches
  // straddle the epochs and the windows (64 batches) do not divide an epoch
  const std::size_t n = 1003, batch = 8;
  std::vector<int> lengths(n);
  for (std::size_t i = 0; i < n; ++i) lengths[i] = static_cast<int>((i * 37) % 50);
  RecordOrder plain(n, 3), grouped(n, 3, lengths, batch), again(n, 3, lengths, batch);
  auto padding = [&](RecordOrder &order, std::uint64_t from, std::uint64_t to) {
    long pad = 0;
    for (std::uint64_t b = from; b + batch <= to; b += batch) {
      int longest = 0, sum = 0;
      for (std::uint64_t s = b; s < b + batch; ++s) {
        longest = std::max(longest, lengths[order.at(s)]);
        sum += lengths[order.at(s)];
      }
      pad += static_cast<long>(longest) * static_cast<long>(batch) - sum;
    }
    return pad;
  };
  for (std::uint64_t epoch = 0; epoch < 3; ++epoch) {
    BOOST_TEST_CONTEXT("epoch " << epoch)
    {
      std::set<std::size_t> seen;
      for (std::uint64_t s = epoch * n; s < (epoch + 1) * n; ++s) seen.insert(grouped.at(s));
      BOOST_TEST(seen.size() == n);    // still every record once an epoch
    }
  }
  // whole batches from sample 0 on, across the epoch boundaries: a tenth of the padding or less
  const long grouped_pad = padding(grouped, 0, 3 * n), plain_pad = padding(plain, 0, 3 * n);
  BOOST_TEST(grouped_pad * 10 < plain_pad, grouped_pad << " vs " << plain_pad);
  // seeded, whatever the access order; and the batches of a window are not in length order
  bool descending = true;
  for (std::uint64_t s = 3 * n; s-- > 0;) BOOST_TEST(again.at(s) == grouped.at(s));
  for (std::uint64_t b = 0; b + 2 * batch <= 64 * batch; b += batch)
    descending = descending && lengths[grouped.at(b)] >= lengths[grouped.at(b + batch)];
  BOOST_TEST(!descending);
  BOOST_CHECK_THROW(RecordOrder(3, 1, {1, 2}, 2), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(optimizer)

// Adam's first moment after one step is (1 - beta1) times the gradient that reached it.
double first_moment_norm(Trainer &trainer)
{
  double sq = 0;
  for (const auto &t : trainer.impl().trainable) sq += t.exp_avg.pow(2).sum().item<double>();
  return std::sqrt(sq);
}

BOOST_AUTO_TEST_CASE(gradients_are_clipped_to_the_global_norm)
{
  ScratchDir dir;
  const auto base = tiny_base(dir / "base");
  auto o = tiny_options(base, write_colour_set(dir.path(), "train", 1, 0), dir / "out");
  o.clip = 0;
  Trainer free(o);
  const auto unclipped = free.step();
  BOOST_TEST(unclipped.grad_norm > 0.05);
  BOOST_TEST(first_moment_norm(free) == 0.1 * unclipped.grad_norm,
             boost::test_tools::tolerance(1e-4));

  o.clip = 0.01;
  Trainer clipped(o);
  const auto stats = clipped.step();
  BOOST_TEST(stats.grad_norm == unclipped.grad_norm, boost::test_tools::tolerance(1e-6));
  BOOST_TEST(first_moment_norm(clipped) == 0.1 * 0.01, boost::test_tools::tolerance(1e-3));
}

// One padded batch of 8 equals 8 micro-batches of one record (no padding at all): the loss
// positions among the real tokens and the decoder that runs on them alone, with and without
// adapters.
BOOST_AUTO_TEST_CASE(accumulated_micro_batches_equal_one_big_batch)
{
  ScratchDir dir;
  const auto base = tiny_base(dir / "base");
  const auto train = write_colour_set(dir.path(), "train", 3, 0);
  for (const bool lora : {false, true}) {
    BOOST_TEST_CONTEXT("lora " << lora)
    {
      auto o = tiny_options(base, train, dir / "out");
      if (lora) {
        o.lora.rank = 4;
        o.lora.targets = {"q_proj", "v_proj", "gate_proj", "down_proj"};
        o.lr = 1e-2;
      }
      o.batch = 8;
      o.accumulate = 1;
      Trainer big(o);
      o.batch = 1;
      o.accumulate = 8;
      Trainer small(o);
      for (int s = 0; s < 3; ++s) {
        const auto a = big.step(), b = small.step();
        BOOST_TEST(a.samples == 8);
        BOOST_TEST(b.samples == 8);
        BOOST_TEST(a.answer_tokens == b.answer_tokens);
        BOOST_TEST(a.padded_tokens > a.tokens);    // the big batch has padding to skip
        BOOST_TEST(b.padded_tokens == b.tokens);
        BOOST_TEST(b.loss == a.loss, boost::test_tools::tolerance(1e-5));
        BOOST_TEST(b.grad_norm == a.grad_norm, boost::test_tools::tolerance(1e-4));
        if (s == 0) {
          // the gradients themselves (Adam's first moment after one step is 0.1 x the
          // gradient); later parameters are not compared: Adam divides rounding noise of
          // near-zero gradients by their own size
          const auto &pa = big.impl().trainable, &pb = small.impl().trainable;
          BOOST_TEST_REQUIRE(pa.size() == pb.size());
          for (std::size_t i = 0; i < pa.size(); ++i)
            BOOST_TEST((pa[i].exp_avg - pb[i].exp_avg).abs().max().item<double>() <
                           1e-5 * pa[i].exp_avg.abs().max().item<double>() + 1e-9,
                       pa[i].parts.front().first);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_resumed_run_gives_the_losses_of_an_uninterrupted_one)
{
  ScratchDir dir;
  const auto base = tiny_base(dir / "base");
  const auto train = write_colour_set(dir.path(), "train", 2, 0);
  // full training in fp32, and LoRA with dropout (its masks must be drawn again the same way)
  for (const bool lora : {false, true}) {
    BOOST_TEST_CONTEXT("lora " << lora)
    {
      const fs::path whole = dir / (lora ? "lora-whole" : "whole");
      const fs::path parts = dir / (lora ? "lora-parts" : "parts");
      auto o = tiny_options(base, train, whole);
      o.steps = 6;
      o.save_every = 3;
      if (lora) {
        o.lora.rank = 4;
        o.lora.dropout = 0.2;
        o.lora.targets = {"q_proj", "v_proj", "gate_proj", "down_proj"};
        o.lr = 1e-2;
      }
      Trainer(o).run();
      const auto expected = train_losses(whole / "metrics.jsonl");
      BOOST_TEST_REQUIRE(expected.size() == 6u);

      o.out_dir = parts;
      {
        Trainer first(o);
        fs::create_directories(parts);
        for (int s = 0; s < 3; ++s) first.step();
        first.save_checkpoint(parts / "checkpoints" / "step-000003");
        std::ofstream(parts / "checkpoints" / "latest") << "step-000003\n";
      }    // stopped here
      o.resume = true;
      Trainer resumed(o);
      BOOST_TEST(resumed.current_step() == 3);
      resumed.run();
      const auto losses = train_losses(parts / "metrics.jsonl");
      BOOST_TEST_REQUIRE(losses.size() == 3u);
      for (int s = 0; s < 3; ++s)
        BOOST_TEST(losses[s] == expected[3 + s], boost::test_tools::tolerance(1e-6));
      const std::string weights = lora ? "adapter_model.safetensors" : "model.safetensors";
      const auto a = folder_tensors(whole / weights), b = folder_tensors(parts / weights);
      BOOST_TEST_REQUIRE(a.size() == b.size());
      for (const auto &[name, tensor] : a)
        BOOST_TEST((tensor - b.at(name)).abs().max().item<double>() < 1e-6, name);
      // a checkpoint is a model folder the runtime loads
      if (!lora) VisionLanguageModel::load(whole / "checkpoints" / "step-000003");
    }
  }
}

BOOST_AUTO_TEST_CASE(resuming_a_finished_run_trains_nothing_again)
{
  ScratchDir dir;
  const auto base = tiny_base(dir / "base");
  const fs::path out = dir / "out";
  auto o = tiny_options(base, write_colour_set(dir.path(), "train", 1, 0), out);
  o.steps = 5;
  o.save_every = 2;    // steps 2 and 4, and the last one
  Trainer(o).run();
  BOOST_TEST(fs::exists(out / "checkpoints" / "step-000005" / "model.safetensors"));
  const auto weights = folder_tensors(out / "model.safetensors");
  o.resume = true;
  Trainer again(o);
  BOOST_TEST(again.current_step() == 5);
  again.run();
  BOOST_TEST(train_losses(out / "metrics.jsonl").size() == 5u);
  const auto after = folder_tensors(out / "model.safetensors");
  BOOST_TEST_REQUIRE(after.size() == weights.size());
  for (const auto &[name, tensor] : weights) BOOST_TEST(tensor.equal(after.at(name)), name);
}

BOOST_AUTO_TEST_CASE(a_checkpoint_of_another_set_up_is_refused)
{
  ScratchDir dir;
  const auto base = tiny_base(dir / "base");
  auto o = tiny_options(base, write_colour_set(dir.path(), "train", 1, 0), dir / "out");
  o.steps = 2;
  o.save_every = 2;
  Trainer(o).run();
  o.resume = true;
  o.batch = 2;
  BOOST_TEST(contains(error_of([&] { Trainer{o}; }), "the checkpoint has batch 4, this run 2"));
  o.batch = 4;
  o.out_dir = dir / "empty";
  BOOST_TEST(contains(error_of([&] { Trainer{o}; }), "no checkpoint to resume from"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(learning)

BOOST_AUTO_TEST_CASE(the_loss_falls_and_the_saved_model_names_the_colour)
{
  ScratchDir dir;
  auto o = tiny_options(tiny_base(dir / "base"), write_colour_set(dir.path(), "train", 4, 0),
                        dir / "out");
  o.eval_file = write_colour_set(dir.path(), "eval", 1, 7);    // positions not seen in training
  o.steps = 60;
  o.batch = 8;
  o.lr = 1e-2;
  o.warmup = 5;
  o.eval_every = 30;
  Trainer trainer(o);
  const auto before = trainer.evaluate();
  trainer.run();
  const auto losses = train_losses(dir / "out" / "metrics.jsonl");
  BOOST_TEST_REQUIRE(losses.size() == 60u);
  const auto after = trainer.evaluate();
  BOOST_TEST_MESSAGE("eval loss " << before.loss << " -> " << after.loss << ", train loss "
                                  << losses.front() << " -> " << losses.back());
  BOOST_TEST(after.loss < 0.1 * before.loss);
  BOOST_TEST(losses.back() < 0.1 * losses.front());
  BOOST_TEST(after.exact == 4);
  BOOST_TEST(after.generated == 4);

  // the saved folder answers through the runtime's generate as the model in memory did
  const auto eval = read_training_records(o.eval_file);
  const auto in_memory = trainer.answer(eval);
  auto vlm = VisionLanguageModel::load(dir / "out");
  for (std::size_t i = 0; i < eval.size(); ++i) {
    GenerationRequest request;
    request.messages = {{"user", eval[i].query, 1}};
    request.images = {read_image(eval[i].image)};
    request.sampling.max_new_tokens = 16;
    const auto result = vlm.generate({request})[0];
    BOOST_TEST(result.text == eval[i].answer);
    BOOST_TEST(result.text == in_memory[i]);
    BOOST_TEST(result.finish_reason == "stop");
  }
  // the metrics file has the evaluations too
  std::ifstream metrics(dir / "out" / "metrics.jsonl");
  int evals = 0;
  for (std::string line; std::getline(metrics, line);)
    if (nlohmann::json::parse(line)["type"] == "eval") ++evals;
  BOOST_TEST(evals == 2);
}

BOOST_AUTO_TEST_CASE(bfloat16_training_keeps_fp32_master_weights_and_learns)
{
  ScratchDir dir;
  auto o = tiny_options(tiny_base(dir / "base"), write_colour_set(dir.path(), "train", 2, 0),
                        dir / "out");
  o.dtype = "bfloat16";
  o.steps = 20;
  o.lr = 1e-2;
  Trainer trainer(o);
  const auto &t = trainer.impl().trainable.front();
  BOOST_TEST(t.param.scalar_type() == torch::kBFloat16);
  BOOST_TEST(t.master.scalar_type() == torch::kFloat32);
  double first = 0, last = 0;
  for (int s = 0; s < o.steps; ++s) {
    const double loss = trainer.step().loss;
    if (s < 3) first += loss / 3;
    if (s >= o.steps - 3) last += loss / 3;
  }
  BOOST_TEST(last < 0.5 * first);
  for (const auto &tt : trainer.impl().trainable)
    BOOST_TEST(torch::equal(tt.param, tt.master.to(torch::kBFloat16)));
  trainer.save(dir / "saved");
  BOOST_TEST(Idefics2Config::load(dir / "saved" / "config.json").torch_dtype == "bfloat16");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(lora)

BOOST_AUTO_TEST_CASE(frozen_parts_keep_their_weights_and_the_rest_trains)
{
  ScratchDir dir;
  const auto base = tiny_base(dir / "base");
  auto o = tiny_options(base, write_colour_set(dir.path(), "train", 2, 0), dir / "out");
  o.freeze = {"vision", "connector"};
  o.save_dtype = "bfloat16";
  o.steps = 3;
  Trainer trainer(o);
  auto &s = trainer.impl();
  std::int64_t text_parameters = 0;
  for (const auto &p : s.model->parameters())
    if (p.parts.front().first.rfind("model.vision_model.", 0) != 0 &&
        p.parts.front().first.rfind("model.connector.", 0) != 0)
      text_parameters += p.tensor.numel();
  BOOST_TEST(trainer.trainable_parameters() == text_parameters);
  BOOST_TEST(!s.vision_trains);
  BOOST_TEST(!s.connector_trains);
  for (int i = 0; i < o.steps; ++i) trainer.step();

  auto weights = WeightStore::open(base);
  const Idefics2Model original(s.config, weights, torch::TensorOptions().dtype(torch::kFloat32));
  const auto now = s.model->checkpoint_tensors(), then = original.checkpoint_tensors();
  BOOST_TEST_REQUIRE(now.size() == then.size());
  int moved = 0;
  for (std::size_t i = 0; i < now.size(); ++i) {
    const std::string &name = now[i].first;
    const bool frozen =
        name.rfind("model.vision_model.", 0) == 0 || name.rfind("model.connector.", 0) == 0;
    if (frozen)
      BOOST_TEST(torch::equal(now[i].second, then[i].second), name);
    else if (!torch::equal(now[i].second, then[i].second))
      ++moved;
  }
  BOOST_TEST(moved > 10);

  // the written weights are bfloat16, the folder a model the runtime loads
  trainer.save(dir / "saved");
  const auto st = SafetensorsFile::open(dir / "saved" / "model.safetensors");
  for (const auto &info : st.tensors()) BOOST_TEST((info.dtype == DType::BF16), info.name);
  std::ifstream config(dir / "saved" / "config.json");
  BOOST_TEST(contains(std::string(std::istreambuf_iterator<char>(config), {}), "bfloat16"));

  auto bad = o;
  bad.freeze = {"decoder"};
  BOOST_TEST(contains(error_of([&] { Trainer t(bad); }), "expected vision, connector or text"));
  bad.freeze = {"vision", "connector", "text"};
  BOOST_TEST(contains(error_of([&] { Trainer t(bad); }), "nothing to train"));
  bad = o;
  bad.save_dtype = "float16";
  BOOST_TEST(contains(error_of([&] { Trainer t(bad); }), "save dtype"));
}

BOOST_AUTO_TEST_CASE(frozen_encoders_encode_each_image_once_and_train_as_without_the_cache)
{
  ScratchDir dir;
  const auto base = tiny_base(dir / "base");
  // 8 records, 24 samples: three epochs over 8 images
  auto o = tiny_options(base, write_colour_set(dir.path(), "train", 2, 0), dir / "out");
  o.freeze = {"vision", "connector"};
  const auto run = [&](const TrainOptions &options) {
    Trainer trainer(options);
    return train_steps(trainer, options.steps);
  };
  check_cached_as_uncached(run, o);

  // a vision tower that trains is encoded at every step
  auto training_vision = o;
  training_vision.freeze = {"text"};
  BOOST_TEST(run(training_vision).first == 24);
}

BOOST_AUTO_TEST_CASE(a_frozen_vision_tower_runs_once_per_image_while_the_connector_trains)
{
  ScratchDir dir;
  const auto base = tiny_base(dir / "base");
  // 8 pictures, half of them cut to 32 x 16: a batch pads those to 32 x 32, and their cached
  // patches are fewer than the batch's
  fs::create_directories(dir / "images");
  {
    std::ofstream out(dir / "train.jsonl");
    for (int v = 0; v < 2; ++v)
      for (const auto &colour : kColours) {
        Image image = square_picture(colour, v + 1);
        if ((v + (&colour - kColours)) % 2 == 1) {
          image.height = kSide / 2;
          image.rgb.resize(3 * kSide * kSide / 2);
        }
        const std::string file = "images/" + std::string(colour.name) + std::to_string(v) + ".png";
        write_png(dir / file, image);
        out << nlohmann::json{{"image", file},
                              {"query", "What colour is the square?"},
                              {"answer", colour.name}}
                   .dump()
            << "\n";
      }
  }
  auto o = tiny_options(base, dir / "train.jsonl", dir / "out");
  o.freeze = {"vision"};
  const auto run = [&](const TrainOptions &options) {
    Trainer trainer(options);
    const auto trained = train_steps(trainer, options.steps);
    // the connector moved, the tower did not
    auto weights = WeightStore::open(base);
    const Idefics2Model original(trainer.impl().config, weights,
                                 torch::TensorOptions().dtype(torch::kFloat32));
    const auto now = trainer.impl().model->checkpoint_tensors();
    const auto then = original.checkpoint_tensors();
    int connector_moved = 0, vision_moved = 0;
    for (std::size_t i = 0; i < now.size(); ++i) {
      if (torch::equal(now[i].second, then[i].second)) continue;
      connector_moved += now[i].first.rfind("model.connector.", 0) == 0;
      vision_moved += now[i].first.rfind("model.vision_model.", 0) == 0;
    }
    BOOST_TEST(vision_moved == 0);
    BOOST_TEST(connector_moved > 5);
    return trained;
  };
  Trainer probe(o);
  BOOST_TEST(contains(probe.describe(), "each image through the vision tower once"));
  check_cached_as_uncached(run, o);

  // LoRA on the connector alone keeps the tower's outputs too
  auto lora = o;
  lora.freeze.clear();
  lora.lora.rank = 4;
  lora.lora.layers = {"connector"};
  Trainer adapters(lora);
  BOOST_TEST(contains(adapters.describe(), "each image through the vision tower once"));
  BOOST_TEST(train_steps(adapters, lora.steps).first == 8);
}

BOOST_AUTO_TEST_CASE(lora_trains_only_the_adapters_and_saves_them_in_the_peft_layout)
{
  ScratchDir dir;
  const auto base = tiny_base(dir / "base");
  auto o = tiny_options(base, write_colour_set(dir.path(), "train", 2, 0), dir / "out");
  o.lora.rank = 4;
  o.lora.alpha = 8;
  o.lora.targets = {"q_proj", "v_proj", "gate_proj", "up_proj", "down_proj"};
  o.lr = 1e-2;
  o.steps = 5;
  Trainer trainer(o);
  auto &s = trainer.impl();
  // q and v inside the fused q/k/v matrix, gate and up inside gate/up, down: per text layer
  BOOST_TEST(s.lora_modules.size() == 2u * 5u);
  for (const auto &m : s.lora_modules) {
    BOOST_TEST(m.module.rfind("model.text_model.layers.", 0) == 0u);
    BOOST_TEST(m.block->a.size(0) == 4);
    BOOST_TEST(m.block->b.size(1) == 4);
    BOOST_TEST(m.block->b.abs().max().item<double>() == 0.0);    // B starts at zero
  }
  BOOST_TEST(trainer.trainable_parameters() < s.model->parameter_count() / 5);
  for (int i = 0; i < o.steps; ++i) trainer.step();

  // the base is untouched and has no gradients; the adapters moved
  auto weights = WeightStore::open(base);
  const Idefics2Model original(s.config, weights, torch::TensorOptions().dtype(torch::kFloat32));
  const auto now = s.model->checkpoint_tensors(), then = original.checkpoint_tensors();
  BOOST_TEST_REQUIRE(now.size() == then.size());
  for (std::size_t i = 0; i < now.size(); ++i) {
    BOOST_TEST(torch::equal(now[i].second, then[i].second), now[i].first);
    BOOST_TEST(!now[i].second.requires_grad());
  }
  for (const auto &m : s.lora_modules) BOOST_TEST(m.block->b.abs().max().item<double>() > 0.0);

  trainer.save(dir / "adapter");
  std::ifstream in(dir / "adapter" / "adapter_config.json");
  const auto config = nlohmann::json::parse(in);
  BOOST_TEST(config["peft_type"] == "LORA");
  BOOST_TEST(config["r"] == 4);
  BOOST_TEST(config["lora_alpha"] == 8.0);
  BOOST_TEST(config["base_model_name_or_path"] == base.string());
  const std::regex targets(config["target_modules"].get<std::string>());
  BOOST_TEST(std::regex_match("model.text_model.layers.1.self_attn.q_proj", targets));
  BOOST_TEST(std::regex_match("model.text_model.layers.0.mlp.down_proj", targets));
  BOOST_TEST(!std::regex_match("model.text_model.layers.0.self_attn.k_proj", targets));
  BOOST_TEST(
      !std::regex_match("model.connector.perceiver_resampler.layers.0.mlp.down_proj", targets));
  const auto st = SafetensorsFile::open(dir / "adapter" / "adapter_model.safetensors");
  BOOST_TEST(st.tensors().size() == 2u * s.lora_modules.size());
  const auto &a =
      st.at("base_model.model.model.text_model.layers.1.self_attn.v_proj.lora_A.weight");
  const auto &b =
      st.at("base_model.model.model.text_model.layers.1.self_attn.v_proj.lora_B.weight");
  const auto &tc = s.config.text;
  BOOST_TEST(a.shape == (std::vector<std::int64_t>{4, tc.hidden_size}),
             boost::test_tools::per_element());
  BOOST_TEST(b.shape == (std::vector<std::int64_t>{tc.num_key_value_heads * tc.head_dim, 4}),
             boost::test_tools::per_element());
  BOOST_TEST(
      st.at("base_model.model.model.text_model.layers.0.mlp.gate_proj.lora_B.weight").shape[0] ==
      tc.intermediate_size);
}

BOOST_AUTO_TEST_CASE(a_merged_model_equals_the_base_with_its_adapter)
{
  ScratchDir dir;
  const auto base = tiny_base(dir / "base");
  auto o = tiny_options(base, write_colour_set(dir.path(), "train", 2, 0), dir / "adapter");
  o.lora.rank = 4;
  o.lora.targets = {"q_proj", "k_proj", "o_proj", "gate_proj", "down_proj"};
  o.lora.layers = {"text", "connector"};
  o.lr = 2e-2;
  o.steps = 5;
  Trainer(o).run();

  const auto config = Idefics2Config::load(base / "config.json");
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  torch::NoGradGuard no_grad;
  auto base_weights = WeightStore::open(base);
  Idefics2Model plain(config, base_weights, f32);
  auto adapted_weights = WeightStore::open(base);
  Idefics2Model adapted(config, adapted_weights, f32);
  const auto modules = load_lora(adapted, dir / "adapter");
  // text and perceiver layers: q, k, o, gate, down; the modality projection: gate, down
  BOOST_TEST(modules.size() == 2u * 5u + 2u + 2u * 5u);

  merge_lora(base, dir / "adapter", dir / "merged");
  auto merged_weights = WeightStore::open(dir / "merged");
  Idefics2Model merged(config, merged_weights, f32);

  const Example example =
      make_example(read_training_records(o.train_file)[2], 2, Tokenizer::load(base), 4, false, 512);
  const auto ids =
      torch::tensor(std::vector<std::int64_t>(example.ids.begin(), example.ids.end())).unsqueeze(0);
  const auto pixels = torch::rand({1, 3, kSide, kSide}) * 2 - 1;
  const auto want = adapted.forward(ids, pixels, {});
  const auto got = merged.forward(ids, pixels, {});
  BOOST_TEST(relative_difference(got, want) < 1e-5);
  // the adapter matters: without it the logits are others
  BOOST_TEST(relative_difference(plain.forward(ids, pixels, {}), want) > 1e-3);
  // the merged folder is a plain model folder
  VisionLanguageModel::load(dir / "merged");
  BOOST_TEST(fs::exists(dir / "merged" / "tokenizer.model"));

  // an adapter that does not fit the model is refused with the tensors named
  fs::create_directories(dir / "broken");
  fs::copy_file(dir / "adapter" / "adapter_config.json", dir / "broken" / "adapter_config.json");
  std::vector<float> zeros(4 * 7);
  write_safetensors(dir / "broken" / "adapter_model.safetensors",
                    {{lora_a_name("model.text_model.layers.0.self_attn.q_proj"),
                      DType::F32,
                      {4, 7},
                      zeros.data()}});
  auto other_weights = WeightStore::open(base);
  Idefics2Model other(config, other_weights, f32);
  const auto message = error_of([&] { load_lora(other, dir / "broken"); });
  BOOST_TEST(contains(message, "layers.0.self_attn.q_proj.lora_A.weight' has shape [4, 7]"));
  BOOST_TEST(contains(message, "missing tensor 'base_model.model.model.connector."));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(cli)

BOOST_AUTO_TEST_CASE(cephalo_train_trains_from_scratch_merges_and_reports_bad_input)
{
  ScratchDir dir;
  const auto train = write_colour_set(dir.path(), "train", 2, 0);
  const auto eval = write_colour_set(dir.path(), "eval", 1, 5);
  // a recipe folder: a tokenizer trained by cephalo-tokenizer on the answers and questions, a
  // config that fits it, small images
  {
    std::ofstream corpus(dir / "corpus.txt");
    for (int i = 0; i < 30; ++i)
      corpus << "What colour is the square? red green blue yellow. The crack grows.\n";
  }
  const std::string tokenizer_program = cephalo::test::shell_quote(CEPHALO_TOKENIZER);
  // texts from a corpus file and from the training records' questions and answers
  const auto made = cephalo::test::run_command(
      dir.path(), tokenizer_program +
                      " train --input corpus.txt --records train.jsonl --vocab-size 300 --out recipe");
  BOOST_TEST_INFO(made.output);
  BOOST_TEST_REQUIRE(made.exit_code == 0);
  BOOST_TEST(contains(made.output, "corpus.txt, train.jsonl"));
  {
    std::ofstream bad(dir / "bad.jsonl");
    bad << "{\"image\": \"a.png\", \"query\": \"q\", \"answer\": \"a\"}\n{\"image\": \"a.png\"}\n";
  }
  const auto refused = cephalo::test::run_command(
      dir.path(), tokenizer_program + " train --records bad.jsonl --vocab-size 300 --out other");
  BOOST_TEST(refused.exit_code != 0);
  BOOST_TEST(contains(refused.output, "bad.jsonl:2: no \"query\" text"));
  auto config = tiny_config();
  config.text.vocab_size = 300;
  config.image_token_id = 4;
  config.save(dir / "recipe" / "config.json");
  cephalo::test::write_small_processor(dir / "recipe");

  const std::string program = cephalo::test::shell_quote(CEPHALO_TRAIN);
  const auto run = [&](const std::string &arguments) {
    return cephalo::test::run_command(dir.path(), program + " " + arguments);
  };
  const auto ok = run("--train train.jsonl --eval eval.jsonl --config recipe/config.json --out out "
                      "--steps 6 --batch 4 --lr 5e-3 --warmup 1 --eval-every 3 --save-every 3 "
                      "--threads 2 --seed 4");
  BOOST_TEST_INFO(ok.output);
  BOOST_TEST_REQUIRE(ok.exit_code == 0);
  BOOST_TEST(contains(ok.output, "step 6/6"));
  BOOST_TEST(contains(ok.output, "samples/s"));
  BOOST_TEST(contains(ok.output, "eval at step 6"));
  // the summary: the rate and the peak memory (resident, on the CPU)
  BOOST_TEST(contains(ok.output, "trained 6 steps in"));
  BOOST_TEST(contains(ok.output, "GiB (resident)"));
  {
    std::ifstream metrics(dir / "out" / "metrics.jsonl");
    std::string line;
    std::getline(metrics, line);
    BOOST_TEST(nlohmann::json::parse(line).at("peak_gib").get<double>() > 0.0);
  }
  for (const char *file :
       {"config.json", "model.safetensors", "generation_config.json", "tokenizer.model",
        "tokenizer_config.json", "added_tokens.json", "preprocessor_config.json", "metrics.jsonl",
        "checkpoints/latest", "checkpoints/step-000003/optimizer.safetensors"})
    BOOST_TEST(fs::exists(dir / "out" / file), file);
  BOOST_TEST(train_losses(dir / "out" / "metrics.jsonl").size() == 6u);
  auto vlm = VisionLanguageModel::load(dir / "out");
  BOOST_TEST(vlm.config().text.vocab_size == 300);

  // LoRA on the trained model, then merged into a plain folder
  const auto lora = run("--train train.jsonl --model out --out adapter --steps 2 --batch 4 "
                        "--lora-rank 2 --lora-targets q_proj,down_proj --quiet");
  BOOST_TEST_INFO(lora.output);
  BOOST_TEST_REQUIRE(lora.exit_code == 0);
  BOOST_TEST(fs::exists(dir / "adapter" / "adapter_config.json"));
  const auto merged = run("--merge-lora adapter --model out --into merged");
  BOOST_TEST_INFO(merged.output);
  BOOST_TEST_REQUIRE(merged.exit_code == 0);
  VisionLanguageModel::load(dir / "merged");

  // bad arguments and bad data: exit 2 with the reason
  const auto usage = run("--train train.jsonl --config recipe/config.json --out x --steps many");
  BOOST_TEST(usage.exit_code == 2);
  BOOST_TEST(contains(usage.output, "--steps needs a whole number"));
  BOOST_TEST(run("--train train.jsonl --out x --steps 2").exit_code == 2);
  BOOST_TEST(run("--bogus 1").exit_code == 2);
  BOOST_TEST(run("--merge-lora adapter --model out").exit_code == 2);
  std::ofstream(dir / "bad.jsonl")
      << R"({"image": "images/red0.png", "query": "q", "answer": "red"})"
      << "\n{\"image\": \"images/none.png\", \"query\": \"q\", "
         "\"answer\": \"red\"}\n";
  const auto bad = run("--train bad.jsonl --config recipe/config.json --out y --steps 2");
  BOOST_TEST(bad.exit_code == 2);
  BOOST_TEST(contains(bad.output, "bad.jsonl:2: image "));
  const auto lora_bad = run("--train train.jsonl --model out --out z --steps 1 --lora-rank 2 "
                            "--lora-targets wq");
  BOOST_TEST(lora_bad.exit_code == 2);
  BOOST_TEST(contains(lora_bad.output, "LoRA target 'wq'"));
}

BOOST_AUTO_TEST_SUITE_END()
