// The trainer: micro-batches through the differentiable forward (Idefics2Model::decode_full),
// loss on the answer tokens, gradient accumulation and clipping, AdamW with fp32 master weights,
// the warm-up + cosine schedule, evaluation, checkpoints that resume exactly, and saving.
#include "cephalo/models/image.h"
#include "cephalo/models/safetensors.h"
#include "checkpoint_io.h"
#include "cpu_threads.h"
#include "device_memory.h"
#include "tensor_io.h"
#include "training_impl.h"
#include "weights.h"

#include <nlohmann/json.hpp>
#include <torch/cuda.h>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

namespace cephalo::models {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void bad_option(const std::string &what)
{
  throw TrainingError(what);
}

torch::Device training_device(const std::string &name)
{
  torch::Device device = torch::kCPU;
  try {
    device = torch::Device(name);
  } catch (const c10::Error &) {
    bad_option("device '" + name + "': expected cpu or cuda[:N]");
  }
  if (device.is_cuda() && !torch::cuda::is_available())
    bad_option("device '" + name + "': this libtorch has no CUDA or no GPU is visible");
  if (!device.is_cuda() && !device.is_cpu())
    bad_option("device '" + name + "': expected cpu or cuda[:N]");
  return device;
}

void check_options(const TrainOptions &o)
{
  if (o.train_file.empty()) bad_option("no training data (--train FILE.jsonl)");
  if (o.model_dir.empty() == o.config_file.empty())
    bad_option("give either a model folder to start from (--model DIR) or a config.json to "
               "train from scratch (--config FILE)");
  if (o.batch < 1) bad_option("batch must be at least 1");
  if (o.accumulate < 1) bad_option("accumulate must be at least 1");
  if (o.steps < 0 || o.epochs < 0 || !std::isfinite(o.epochs))
    bad_option("steps and epochs must not be negative");
  if (o.steps == 0 && o.epochs == 0) bad_option("give the length of training: steps or epochs");
  if (!(o.lr > 0) || !std::isfinite(o.lr)) bad_option("the learning rate must be positive");
  if (!(o.min_lr >= 0) || o.min_lr > o.lr) bad_option("min_lr must be in [0, lr]");
  if (o.warmup < 0) bad_option("warmup must not be negative");
  if (!(o.weight_decay >= 0)) bad_option("weight decay must not be negative");
  if (!(o.clip >= 0)) bad_option("clip must not be negative (0: no clipping)");
  if (!(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1 && o.adam_eps > 0))
    bad_option("AdamW betas must be in [0, 1) and eps positive");
  if (o.dtype != "float32" && o.dtype != "bfloat16")
    bad_option("dtype '" + o.dtype + "': expected float32 or bfloat16");
  if (!o.save_dtype.empty() && o.save_dtype != "float32" && o.save_dtype != "bfloat16")
    bad_option("save dtype '" + o.save_dtype + "': expected float32 or bfloat16");
  if (o.eval_every < 0 || o.save_every < 0 || o.eval_generate < 0 || o.max_answer_tokens < 1)
    bad_option("eval_every, save_every and eval_generate must not be negative");
  if (o.lora.rank < 0) bad_option("LoRA rank must not be negative");
  if (o.resume && o.out_dir.empty()) bad_option("resume needs the output folder (--out DIR)");
}

std::vector<int> generation_eos(const fs::path &file)
{
  std::vector<int> ids;
  if (!fs::exists(file)) return ids;
  nlohmann::json document;
  try {
    std::ifstream in(file);
    document = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception &e) {
    throw ConfigError(file.string() + ": not valid JSON: " + e.what());
  }
  const auto eos = document.find("eos_token_id");
  if (eos == document.end()) return ids;
  if (eos->is_number_integer()) ids.push_back(eos->get<int>());
  if (eos->is_array())
    for (const auto &id : *eos)
      if (id.is_number_integer()) ids.push_back(id.get<int>());
  return ids;
}

std::string trimmed(const std::string &text)
{
  const auto first = text.find_first_not_of(" \t\n\r");
  if (first == std::string::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t\n\r") - first + 1);
}

std::string clock_text(double seconds)
{
  const long s = std::lround(std::max(0.0, seconds));
  char text[32];
  if (s >= 3600)
    std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else
    std::snprintf(text, sizeof text, "%ld:%02ld", s / 60, s % 60);
  return text;
}

// A named tensor of the optimizer file: "<kind>.<checkpoint name>".
std::string state_name(const char *kind, const std::string &name)
{
  return std::string(kind) + "." + name;
}

}    // namespace

double scheduled_lr(int step, int total_steps, int warmup, double lr, double min_lr)
{
  if (step < warmup) return lr * (step + 1) / warmup;
  const int decay_steps = std::max(1, total_steps - warmup);
  const double progress = std::min(1.0, static_cast<double>(step - warmup) / decay_steps);
  return min_lr + 0.5 * (lr - min_lr) * (1 + std::cos(M_PI * progress));
}

Trainer::Trainer(const TrainOptions &options) : impl_(std::make_unique<Impl>())
{
  Impl &s = *impl_;
  check_options(options);
  s.options = options;
  s.device = training_device(options.device);
  s.dtype = options.dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat32;
  if (s.device.is_cpu()) s.threads = configure_cpu_threads(options.threads);

  const fs::path config_file =
      options.model_dir.empty() ? options.config_file : options.model_dir / "config.json";
  s.config = Idefics2Config::load(config_file);
  s.assets_dir = !options.assets_dir.empty()  ? options.assets_dir
                 : !options.model_dir.empty() ? options.model_dir
                                              : options.config_file.parent_path();
  if (!fs::exists(s.assets_dir / "tokenizer.model"))
    bad_option(s.assets_dir.string() + ": no tokenizer.model (training needs the tokenizer; "
                                       "cephalo tokenizer train makes one)");
  s.tokenizer = Tokenizer::load(s.assets_dir);
  const int image_id = s.tokenizer->token_id("<image>");
  if (image_id != s.config.image_token_id)
    bad_option(config_file.string() + ": image_token_id is " +
               std::to_string(s.config.image_token_id) + " but the tokenizer in " +
               s.assets_dir.string() + " has <image> at " + std::to_string(image_id));
  if (s.tokenizer->vocab_size() > s.config.text.vocab_size)
    bad_option(config_file.string() + ": vocab_size " + std::to_string(s.config.text.vocab_size) +
               " is smaller than the tokenizer's " + std::to_string(s.tokenizer->vocab_size()));
  if (fs::exists(s.assets_dir / "preprocessor_config.json"))
    s.processor = ImageProcessorConfig::load(s.assets_dir / "preprocessor_config.json");

  s.records = read_training_records(options.train_file);
  if (!options.eval_file.empty()) s.eval_records = read_training_records(options.eval_file);
  const int n_latents = s.config.perceiver.resampler_n_latents;
  const int max_length = s.config.text.max_position_embeddings;
  for (std::size_t i = 0; i < s.records.size(); ++i)
    s.examples.push_back(make_example(s.records[i], i, *s.tokenizer, n_latents,
                                      s.processor.do_image_splitting, max_length));
  for (std::size_t i = 0; i < s.eval_records.size(); ++i)
    s.eval_examples.push_back(make_example(s.eval_records[i], i, *s.tokenizer, n_latents,
                                           s.processor.do_image_splitting, max_length));
  std::vector<int> lengths;
  if (options.group_by_length)
    for (const auto &e : s.examples) lengths.push_back(static_cast<int>(e.ids.size()));
  s.order = std::make_unique<RecordOrder>(s.records.size(), options.seed, std::move(lengths),
                                          static_cast<std::size_t>(options.batch));

  const auto tensor_options = torch::TensorOptions().dtype(s.dtype).device(s.device);
  if (!options.model_dir.empty()) {
    auto weights = WeightStore::open(options.model_dir);
    s.model = std::make_unique<Idefics2Model>(s.config, weights, tensor_options);
  } else {
    s.config.validate(config_file.string());
    s.model = std::make_unique<Idefics2Model>(
        Idefics2Model::random(s.config, tensor_options, options.seed, options.init_std));
  }

  if (options.lora.rank > 0) {
    if (!options.freeze.empty()) bad_option("--freeze is for full training: with LoRA the base is frozen");
    // the base stays frozen in its dtype: no gradients, no optimizer state
    s.lora =
        lora_spec(options.lora.rank, options.lora.alpha, options.lora.dropout, options.lora.targets,
                  options.lora.layers,
                  options.model_dir.empty() ? config_file.string() : options.model_dir.string());
    torch::manual_seed(options.seed + 1);
    s.lora_modules = attach_lora(*s.model, *s.lora);
    for (const auto &m : s.lora_modules) {
      for (auto *tensor : {&m.block->a, &m.block->b}) {
        TrainableTensor t;
        t.param = *tensor;
        t.parts = {{tensor == &m.block->a ? lora_a_name(m.module) : lora_b_name(m.module),
                    tensor->size(0)}};
        s.trainable.push_back(std::move(t));
      }
      if (m.module.rfind("model.vision_model.", 0) == 0) s.vision_trains = true;
      if (m.module.rfind("model.connector.", 0) == 0) s.connector_trains = true;
    }
  } else {
    const std::set<std::string> frozen(options.freeze.begin(), options.freeze.end());
    for (const auto &group : frozen)
      if (group != "vision" && group != "connector" && group != "text")
        bad_option("--freeze '" + group + "': expected vision, connector or text");
    if (frozen.size() == 3) bad_option("--freeze leaves nothing to train");
    for (const auto &p : s.model->parameters()) {
      const std::string &name = p.parts.front().first;
      const std::string group = name.rfind("model.vision_model.", 0) == 0 ? "vision"
                                : name.rfind("model.connector.", 0) == 0  ? "connector"
                                                                          : "text";
      if (frozen.count(group)) continue;
      if (group == "vision") s.vision_trains = true;
      if (group == "connector") s.connector_trains = true;
      TrainableTensor t;
      t.param = p.tensor;
      t.parts = p.parts;
      s.trainable.push_back(std::move(t));
    }
  }
  for (auto &t : s.trainable) {
    t.param.requires_grad_(true);
    t.decay = t.param.dim() >= 2;
    if (s.dtype != torch::kFloat32) t.master = t.param.detach().to(torch::kFloat32).clone();
    t.exp_avg = torch::zeros(t.param.sizes(), t.param.options().dtype(torch::kFloat32));
    t.exp_avg_sq = torch::zeros_like(t.exp_avg);
  }

  const std::int64_t per_step = std::int64_t{options.batch} * options.accumulate;
  s.total =
      options.steps > 0
          ? options.steps
          : static_cast<int>(std::ceil(options.epochs * static_cast<double>(s.records.size()) /
                                       static_cast<double>(per_step)));
  s.total = std::max(s.total, 1);
  s.pad_id =
      s.config.text.pad_token_id >= 0 && s.config.text.pad_token_id < s.config.text.vocab_size
          ? s.config.text.pad_token_id
          : 0;
  s.stop_ids.insert(s.config.text.eos_token_id);
  for (int id : generation_eos(s.assets_dir / "generation_config.json")) s.stop_ids.insert(id);
  if (s.tokenizer->eos_id() >= 0) s.stop_ids.insert(s.tokenizer->eos_id());
  s.stop_ids.insert(s.tokenizer->token_id("<end_of_utterance>"));

  if (options.resume) {
    const fs::path latest = options.out_dir / "checkpoints" / "latest";
    std::ifstream in(latest);
    std::string name;
    if (!(in >> name))
      bad_option(latest.string() + ": no checkpoint to resume from (train with save_every)");
    s.load_state(options.out_dir / "checkpoints" / name);
  }
}

Trainer::Trainer(Trainer &&) noexcept = default;
Trainer &Trainer::operator=(Trainer &&) noexcept = default;
Trainer::~Trainer() = default;

Trainer::Impl &Trainer::impl()
{
  return *impl_;
}

int Trainer::current_step() const
{
  return impl_->step;
}

int Trainer::total_steps() const
{
  return impl_->total;
}

std::int64_t Trainer::trainable_parameters() const
{
  std::int64_t n = 0;
  for (const auto &t : impl_->trainable) n += t.param.numel();
  return n;
}

std::string Trainer::describe() const
{
  const Impl &s = *impl_;
  char text[512];
  std::snprintf(text, sizeof text,
                "%.2fM parameters, %.3fM trainable%s, %s on %s%s; %zu records, %d steps of %d x "
                "%d%s%s",
                s.model->parameter_count() / 1e6, trainable_parameters() / 1e6,
                s.lora ? " (LoRA)" : "", torch_dtype_name(s.dtype).c_str(), s.device.str().c_str(),
                s.threads.empty() ? "" : (" (" + s.threads + ")").c_str(), s.records.size(),
                s.total, s.options.batch, s.options.accumulate,
                !s.caching()         ? ""
                : s.connector_trains ? "; each image through the vision tower once"
                                     : "; each image encoded once",
                s.options.group_by_length ? "; batches grouped by length" : "");
  return text;
}

MicroBatch Trainer::Impl::make_batch(const std::vector<const Example *> &batch,
                                     const std::vector<TrainingRecord> &from) const
{
  MicroBatch out;
  std::int64_t longest = 0;
  for (const auto *e : batch) longest = std::max<std::int64_t>(longest, e->ids.size());
  const auto b = static_cast<std::int64_t>(batch.size());
  auto ids = torch::full({b, longest}, pad_id, torch::kInt64);
  auto ids_of = ids.accessor<std::int64_t, 2>();
  std::vector<std::int64_t> real, positions, targets;
  std::vector<Image> images;
  std::set<std::string> reading;    // a file twice in one batch is read and encoded once
  for (std::int64_t r = 0; r < b; ++r) {
    const Example &e = *batch[static_cast<std::size_t>(r)];
    const auto n = static_cast<std::int64_t>(e.ids.size());
    // the logits at position j predict token j + 1; positions count the real tokens only
    const auto packed = static_cast<std::int64_t>(real.size());
    for (std::int64_t j = 0; j < n; ++j) {
      ids_of[r][j] = e.ids[static_cast<std::size_t>(j)];
      real.push_back(r * longest + j);
    }
    for (std::int64_t j = e.answer_start; j < n; ++j) {
      positions.push_back(packed + j - 1);
      targets.push_back(e.ids[static_cast<std::size_t>(j)]);
    }
    out.tokens += static_cast<int>(n);
    const TrainingRecord &record = from[e.record];
    out.images.push_back(record.image.string());
    if (caching() &&
        (feature_cache.count(out.images.back()) || !reading.insert(out.images.back()).second))
      continue;
    try {
      images.push_back(read_image(record.image));
    } catch (const ImageError &error) {
      throw TrainingError(record.where + ": " + error.what());
    }
    out.encoded.push_back(static_cast<int>(r));
  }
  out.samples = static_cast<int>(b);
  if (!images.empty()) {
    const ProcessedImages processed = preprocess(images, processor);
    out.images_per_sample = processed.images_per_input;
    out.pixels =
        torch::from_blob(const_cast<float *>(processed.pixels.data()),
                         {processed.count, 3, processed.height, processed.width}, torch::kFloat32)
            .to(device, /*non_blocking=*/false, /*copy=*/true);
    out.pixel_mask =
        torch::from_blob(const_cast<std::uint8_t *>(processed.pixel_mask.data()),
                         {processed.count, processed.height, processed.width}, torch::kUInt8)
            .to(device, false, true);
  }
  out.ids = ids.to(device);
  out.real = torch::tensor(real, torch::kInt64).to(device);
  out.positions = torch::tensor(positions, torch::kInt64).to(device);
  out.targets = torch::tensor(targets, torch::kInt64).to(device);
  return out;
}

std::unordered_map<std::string, Trainer::Impl::CachedImage>
Trainer::Impl::encode_for_cache(const MicroBatch &batch) const
{
  std::unordered_map<std::string, CachedImage> fresh;
  if (batch.encoded.empty()) return fresh;
  torch::NoGradGuard no_grad;    // nothing here trains
  torch::Tensor features, patch_mask;
  if (connector_trains)
    std::tie(features, patch_mask) = model->encode_patches(batch.pixels, batch.pixel_mask);
  else
    features = model->encode_images(batch.pixels, batch.pixel_mask);
  std::int64_t row = 0;
  for (std::size_t i = 0; i < batch.encoded.size(); ++i) {
    const std::string &file = batch.images[static_cast<std::size_t>(batch.encoded[i])];
    const std::int64_t rows = batch.images_per_sample[i];
    CachedImage mine{features.narrow(0, row, rows), {}};
    bool copied = false;
    if (patch_mask.defined()) {
      const auto mask = patch_mask.narrow(0, row, rows);
      const std::int64_t valid = mask.sum(1).max().item<std::int64_t>();
      if (valid == mask.size(1)) {
        mine.patch_mask = mask.clone();
      } else {
        // padded in this batch: the valid patches first, in order, and no more columns than
        // the image has valid patches, so that an image keeps no padding of its batch
        const auto order = std::get<1>(mask.to(torch::kInt8).sort(/*stable=*/true, 1, true));
        const auto kept = order.narrow(1, 0, valid);
        mine.features =
            mine.features.gather(1, kept.unsqueeze(2).expand({-1, -1, features.size(2)}));
        mine.patch_mask = mask.gather(1, kept);
        copied = true;
      }
    }
    row += rows;
    if (!copied) mine.features = mine.features.clone();    // not a view of the whole batch
    const std::int64_t bytes =
        mine.features.numel() * static_cast<std::int64_t>(mine.features.element_size()) +
        (mine.patch_mask.defined() ? mine.patch_mask.numel() : 0);
    if (feature_cache_bytes + bytes <= std::int64_t{options.feature_cache_mib} << 20) {
      feature_cache.emplace(file, mine);
      feature_cache_bytes += bytes;
    }
    fresh.emplace(file, std::move(mine));
  }
  return fresh;
}

torch::Tensor Trainer::Impl::image_features(const MicroBatch &batch) const
{
  if (!caching()) {
    if (vision_trains || connector_trains)
      return model->encode_images(batch.pixels, batch.pixel_mask);
    torch::NoGradGuard no_grad;    // nothing before the decoder trains: no activations kept
    return model->encode_images(batch.pixels, batch.pixel_mask);
  }
  // encode what the cache lacks, keep it while the budget lasts, and put the batch together
  const auto fresh = encode_for_cache(batch);
  std::vector<const CachedImage *> parts;
  for (const auto &file : batch.images) {
    const auto f = fresh.find(file);
    parts.push_back(f != fresh.end() ? &f->second : &feature_cache.at(file));
  }
  std::vector<torch::Tensor> features, masks;
  if (!connector_trains) {
    for (const auto *part : parts) features.push_back(part->features);
    return torch::cat(features);
  }
  // the tower's outputs padded to the most patches of the batch, then the connector
  std::int64_t patches = 0;
  for (const auto *part : parts) patches = std::max(patches, part->features.size(1));
  for (const auto *part : parts) {
    const std::int64_t pad = patches - part->features.size(1);
    features.push_back(pad == 0 ? part->features
                                : torch::constant_pad_nd(part->features, {0, 0, 0, pad}, 0));
    masks.push_back(
        pad == 0 ? part->patch_mask
                 : torch::cat({part->patch_mask, torch::zeros({part->patch_mask.size(0), pad},
                                                              part->patch_mask.options())},
                              1));
  }
  return model->connect(torch::cat(features), torch::cat(masks));
}

torch::Tensor Trainer::Impl::loss_sum(const MicroBatch &batch) const
{
  // the decoder on the real tokens only, and the lm_head only where a loss is taken: the answer
  // tokens are a small part of the sequence
  const auto hidden =
      model->decode_full(model->embed(batch.ids, image_features(batch)), batch.real);
  const auto picked = hidden.index_select(0, batch.positions);
  return torch::cross_entropy_loss(model->logits(picked), batch.targets, {}, at::Reduction::Sum);
}

StepStats Trainer::step()
{
  Impl &s = *impl_;
  const auto start = Clock::now();
  const auto &o = s.options;
  StepStats stats;
  // the step's records and its answer-token count first: every micro-batch's loss is divided by
  // the count of the whole step, so that accumulation equals one batch of batch x accumulate
  std::vector<std::vector<const Example *>> micro(static_cast<std::size_t>(o.accumulate));
  const std::uint64_t first = static_cast<std::uint64_t>(s.step) * o.batch * o.accumulate;
  for (int k = 0; k < o.accumulate; ++k)
    for (int i = 0; i < o.batch; ++i) {
      const Example &e =
          s.examples[s.order->at(first + static_cast<std::uint64_t>(k * o.batch + i))];
      micro[static_cast<std::size_t>(k)].push_back(&e);
      stats.answer_tokens += static_cast<int>(e.ids.size()) - e.answer_start;
    }
  double loss = 0;
  for (int k = 0; k < o.accumulate; ++k) {
    const auto data_start = Clock::now();
    const MicroBatch batch = s.make_batch(micro[static_cast<std::size_t>(k)], s.records);
    stats.data_seconds += std::chrono::duration<double>(Clock::now() - data_start).count();
    // dropout masks drawn from (seed, step, micro-batch): a resumed run draws the same ones
    torch::manual_seed(o.seed * 1000003ull + static_cast<std::uint64_t>(s.step) * 64 +
                       static_cast<std::uint64_t>(k) + 7);
    const auto part = s.loss_sum(batch) / stats.answer_tokens;
    part.backward();
    loss += part.item<double>();
    stats.samples += batch.samples;
    stats.tokens += batch.tokens;
    stats.padded_tokens += static_cast<int>(batch.ids.numel());
    stats.images_encoded += static_cast<int>(batch.encoded.size());
  }

  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  std::vector<torch::Tensor> squares;    // summed on the device: one wait for the host
  for (auto &t : s.trainable) {
    auto g = t.param.grad();
    grads.push_back(g.defined() ? g.to(torch::kFloat32) : torch::Tensor());
    if (g.defined()) squares.push_back(grads.back().pow(2).sum().to(torch::kFloat64));
  }
  stats.grad_norm = squares.empty() ? 0.0 : std::sqrt(torch::stack(squares).sum().item<double>());
  const double clip_scale =
      o.clip > 0 && stats.grad_norm > o.clip ? o.clip / (stats.grad_norm + 1e-6) : 1.0;
  stats.lr = scheduled_lr(s.step, s.total, o.warmup, o.lr, o.min_lr);
  const int t_adam = s.step + 1;
  const double correction1 = 1 - std::pow(o.beta1, t_adam);
  const double correction2 = 1 - std::pow(o.beta2, t_adam);
  for (std::size_t i = 0; i < s.trainable.size(); ++i) {
    auto &t = s.trainable[i];
    if (!grads[i].defined()) continue;    // took no part in this step's forward
    auto &g = grads[i];
    if (clip_scale != 1.0) g.mul_(clip_scale);
    t.exp_avg.mul_(o.beta1).add_(g, 1 - o.beta1);
    t.exp_avg_sq.mul_(o.beta2).addcmul_(g, g, 1 - o.beta2);
    auto w = t.weights();
    if (t.decay && o.weight_decay > 0) w.mul_(1 - stats.lr * o.weight_decay);
    const auto denom = (t.exp_avg_sq.sqrt() / std::sqrt(correction2)).add_(o.adam_eps);
    w.addcdiv_(t.exp_avg, denom, -stats.lr / correction1);
    if (t.master.defined()) t.param.copy_(t.master);
    t.param.mutable_grad() = torch::Tensor();
  }
  ++s.step;
  stats.step = s.step;
  stats.loss = loss;
  stats.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return stats;
}

EvalStats Trainer::evaluate()
{
  if (impl_->eval_records.empty()) throw TrainingError("no eval records (--eval FILE.jsonl)");
  return evaluate(impl_->eval_records, impl_->options.eval_generate);
}

EvalStats Trainer::evaluate(const std::vector<TrainingRecord> &records, int generate)
{
  Impl &s = *impl_;
  torch::NoGradGuard no_grad;
  EvalStats stats;
  stats.step = s.step;
  std::vector<Example> examples;
  for (std::size_t i = 0; i < records.size(); ++i)
    examples.push_back(
        make_example(records[i], i, *s.tokenizer, s.config.perceiver.resampler_n_latents,
                     s.processor.do_image_splitting, s.config.text.max_position_embeddings));
  double total = 0;
  for (std::size_t i = 0; i < examples.size(); i += static_cast<std::size_t>(s.options.batch)) {
    std::vector<const Example *> batch;
    for (std::size_t j = i;
         j < examples.size() && j < i + static_cast<std::size_t>(s.options.batch); ++j) {
      batch.push_back(&examples[j]);
      stats.answer_tokens += static_cast<int>(examples[j].ids.size()) - examples[j].answer_start;
    }
    total += s.loss_sum(s.make_batch(batch, records)).item<double>();
  }
  stats.loss = total / std::max(1, stats.answer_tokens);
  const std::vector<TrainingRecord> asked(
      records.begin(), records.begin() + std::min<std::ptrdiff_t>(generate, records.size()));
  stats.answers = answer(asked);
  stats.generated = static_cast<int>(asked.size());
  for (std::size_t i = 0; i < asked.size(); ++i)
    if (trimmed(stats.answers[i]) == trimmed(asked[i].answer)) ++stats.exact;
  return stats;
}

std::vector<std::string> Trainer::answer(const std::vector<TrainingRecord> &records)
{
  Impl &s = *impl_;
  torch::NoGradGuard no_grad;
  std::vector<std::string> answers;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto prompt =
        prompt_ids(records[i].query, *s.tokenizer, s.config.perceiver.resampler_n_latents,
                   s.processor.do_image_splitting);
    Example example{prompt, static_cast<int>(prompt.size()), i};
    // the batch maker wants an answer: an empty one, so no loss positions
    const MicroBatch batch = s.make_batch({&example}, records);
    const auto features = s.image_features(batch);
    std::vector<std::int64_t> ids(prompt.begin(), prompt.end());
    std::vector<int> generated;
    // greedy, whole sequence each step: the training forward, no cache (answers are short)
    for (int n = 0; n < s.options.max_answer_tokens; ++n) {
      const auto input = torch::tensor(ids, torch::kInt64).view({1, -1});
      const auto hidden = s.model->decode_full(s.model->embed(input, features));
      const int next = s.model->logits(hidden.select(1, hidden.size(1) - 1)).argmax(-1).item<int>();
      if (s.stop_ids.count(next)) break;
      generated.push_back(next);
      ids.push_back(next);
    }
    std::vector<int> text_ids;
    for (int id : generated)
      if (id < s.tokenizer->vocab_size()) text_ids.push_back(id);
    answers.push_back(s.tokenizer->decode(text_ids, /*skip_special=*/true));
  }
  return answers;
}

void Trainer::save(const fs::path &dir) const
{
  const Impl &s = *impl_;
  if (s.lora) {
    save_lora(s.lora_modules, *s.lora, dir);
    return;
  }
  const torch::Dtype stored = s.options.save_dtype.empty()         ? s.dtype
                              : s.options.save_dtype == "bfloat16" ? torch::kBFloat16
                                                                   : torch::kFloat32;
  write_model_weights(dir, s.config, s.model->checkpoint_tensors(), stored);
  copy_model_assets(s.assets_dir, dir);
  if (!fs::exists(dir / "generation_config.json")) {
    const nlohmann::json generation = {
        {"bos_token_id", s.config.text.bos_token_id},
        {"eos_token_id", std::vector<int>(s.stop_ids.begin(), s.stop_ids.end())},
        {"pad_token_id", s.pad_id}};
    std::ofstream(dir / "generation_config.json") << generation.dump(2) << "\n";
  }
}

void Trainer::save_checkpoint(const fs::path &dir) const
{
  save(dir);
  impl_->save_state(dir);
}

void Trainer::Impl::save_state(const fs::path &dir) const
{
  // fp32 weights (the master copy where there is one) and moments by checkpoint name, fused
  // tensors split: independent of how this runtime fuses matrices
  std::vector<torch::Tensor> keep;
  std::vector<TensorBytes> tensors;
  torch::NoGradGuard no_grad;
  for (const auto &t : trainable) {
    std::int64_t row = 0;
    for (const auto &[name, rows] : t.parts) {
      for (const auto &[kind, tensor] :
           {std::make_pair("param", t.weights()), std::make_pair("exp_avg", t.exp_avg),
            std::make_pair("exp_avg_sq", t.exp_avg_sq)}) {
        keep.push_back(
            tensor.detach().narrow(0, row, rows).to(torch::kCPU).to(torch::kFloat32).contiguous());
        tensors.push_back({state_name(kind, name), DType::F32, keep.back().sizes().vec(),
                           keep.back().data_ptr()});
      }
      row += rows;
    }
  }
  fs::create_directories(dir);
  write_safetensors(dir / "optimizer.safetensors", tensors);
  const nlohmann::json state = {{"step", step},
                                {"total_steps", total},
                                {"seed", options.seed},
                                {"batch", options.batch},
                                {"accumulate", options.accumulate},
                                {"records", records.size()},
                                {"dtype", options.dtype},
                                {"lora", lora.has_value()}};
  std::ofstream(dir / "trainer_state.json") << state.dump(2) << "\n";
}

void Trainer::Impl::load_state(const fs::path &dir)
{
  const fs::path state_file = dir / "trainer_state.json";
  nlohmann::json state;
  try {
    std::ifstream in(state_file);
    if (!in) throw TrainingError(state_file.string() + ": cannot be opened");
    state = nlohmann::json::parse(in);
    // what decides which records each step sees must not change
    const auto same = [&](const char *key, const nlohmann::json &now) {
      if (state.at(key) != now)
        throw TrainingError(state_file.string() + ": the checkpoint has " + key + " " +
                            state.at(key).dump() + ", this run " + now.dump());
    };
    same("seed", options.seed);
    same("batch", options.batch);
    same("accumulate", options.accumulate);
    same("records", records.size());
    same("dtype", options.dtype);
    same("lora", lora.has_value());
    step = state.at("step").get<int>();
  } catch (const nlohmann::json::exception &e) {
    throw TrainingError(state_file.string() + ": " + e.what());
  }
  const auto file = SafetensorsFile::open(dir / "optimizer.safetensors");
  torch::NoGradGuard no_grad;
  for (auto &t : trainable)
    for (const auto &[kind, target] :
         {std::make_pair("param", t.weights()), std::make_pair("exp_avg", t.exp_avg),
          std::make_pair("exp_avg_sq", t.exp_avg_sq)}) {
      std::vector<torch::Tensor> parts;
      for (const auto &[name, rows] : t.parts) {
        auto shape = target.sizes().vec();
        shape[0] = rows;
        parts.push_back(load_tensor(file, state_name(kind, name), shape,
                                    torch::TensorOptions().dtype(torch::kFloat32)));
      }
      target.copy_(parts.size() == 1 ? parts[0] : torch::cat(parts, 0));
    }
  for (auto &t : trainable)
    if (t.master.defined()) t.param.copy_(t.master);
}

void Trainer::run()
{
  Impl &s = *impl_;
  const auto &o = s.options;
  if (o.out_dir.empty()) throw TrainingError("no output folder (--out DIR)");
  fs::create_directories(o.out_dir);
  s.metrics.open(o.out_dir / "metrics.jsonl", o.resume ? std::ios::app : std::ios::trunc);
  if (!s.metrics)
    throw TrainingError((o.out_dir / "metrics.jsonl").string() + ": cannot be written");
  const bool tty = isatty(fileno(stderr)) != 0;
  const int first_step = s.step;
  double train_seconds = 0;
  long samples = 0, tokens = 0;
  const auto start = Clock::now();

  const auto log_eval = [&]() {
    const EvalStats e = evaluate();
    s.metrics << nlohmann::json{{"type", "eval"},           {"step", e.step},
                                {"loss", e.loss},           {"answer_tokens", e.answer_tokens},
                                {"generated", e.generated}, {"exact", e.exact},
                                {"answers", e.answers}}
                     .dump()
              << std::endl;
    if (o.progress)
      std::fprintf(stderr, "%seval at step %d: loss %.4f, exact %d/%d\n", tty ? "\n" : "", e.step,
                   e.loss, e.exact, e.generated);
  };

  const auto checkpoint = [&]() {
    char name[32];
    std::snprintf(name, sizeof name, "step-%06d", s.step);
    save_checkpoint(o.out_dir / "checkpoints" / name);
    std::ofstream(o.out_dir / "checkpoints" / "latest") << name << "\n";
  };

  while (s.step < s.total) {
    const StepStats st = step();
    train_seconds += st.seconds;
    samples += st.samples;
    tokens += st.tokens;
    const double done = s.step - first_step;
    const double left = (s.total - s.step) * train_seconds / done;
    s.metrics << nlohmann::json{{"type", "train"},
                                {"step", st.step},
                                {"loss", st.loss},
                                {"lr", st.lr},
                                {"grad_norm", st.grad_norm},
                                {"samples", st.samples},
                                {"tokens", st.tokens},
                                {"padded_tokens", st.padded_tokens},
                                {"answer_tokens", st.answer_tokens},
                                {"seconds", st.seconds},
                                {"data_seconds", st.data_seconds},
                                {"samples_per_s", samples / train_seconds},
                                {"tokens_per_s", tokens / train_seconds},
                                {"peak_gib", peak_memory_gib(s.device)},
                                {"elapsed_s",
                                 std::chrono::duration<double>(Clock::now() - start).count()}}
                     .dump()
              << std::endl;
    const int every = std::max(1, s.total / 20);
    if (o.progress && (tty || s.step % every == 0 || s.step == s.total)) {
      constexpr int kWidth = 24;
      const int filled = kWidth * s.step / s.total;
      std::fprintf(
          stderr,
          "%sstep %d/%d [%s%s] loss %.4f lr %.2e | %.2f samples/s %.0f tokens/s | %s left%s",
          tty ? "\r" : "", s.step, s.total, std::string(filled, '#').c_str(),
          std::string(kWidth - filled, '.').c_str(), st.loss, st.lr, samples / train_seconds,
          tokens / train_seconds, clock_text(left).c_str(), tty ? "\x1b[K" : "\n");
      std::fflush(stderr);
    }
    if (o.save_every > 0 && s.step % o.save_every == 0) checkpoint();
    if (!s.eval_records.empty() && o.eval_every > 0 && s.step % o.eval_every == 0) log_eval();
  }
  if (o.progress && tty) std::fprintf(stderr, "\n");
  if (o.progress && s.step > first_step)
    std::fprintf(stderr,
                 "trained %d steps in %s: %.2f samples/s, %.0f tokens/s; peak memory %.2f GiB "
                 "(%s)\n",
                 s.step - first_step, clock_text(train_seconds).c_str(), samples / train_seconds,
                 tokens / train_seconds, peak_memory_gib(s.device),
                 s.device.is_cuda() ? "GPU, allocated" : "resident");
  if (s.step == first_step) {
    // resumed from the last checkpoint of a finished run: nothing to train or score again
    if (o.progress)
      std::fprintf(stderr, "%s: the run is complete at step %d of %d\n", o.out_dir.c_str(), s.step,
                   s.total);
    save(o.out_dir);
    return;
  }
  if (!s.eval_records.empty() && (o.eval_every == 0 || s.step % o.eval_every != 0)) log_eval();
  save(o.out_dir);
  // the last step is a checkpoint too, so that resuming a finished run does not train its tail
  // again
  if (o.save_every > 0 && s.step % o.save_every != 0) checkpoint();
}

void merge_lora(const fs::path &base_dir, const fs::path &adapter_dir, const fs::path &out_dir)
{
  const auto config = Idefics2Config::load(base_dir / "config.json");
  auto weights = WeightStore::open(base_dir);
  // merged in fp32, saved in the base's dtype
  Idefics2Model model(config, weights, torch::TensorOptions().dtype(torch::kFloat32));
  load_lora(model, adapter_dir);
  merge_lora_into(model);
  write_model_weights(out_dir, config, model.checkpoint_tensors(),
                      torch_dtype_of(config.torch_dtype));
  copy_model_assets(base_dir, out_dir);
}

}    // namespace cephalo::models
