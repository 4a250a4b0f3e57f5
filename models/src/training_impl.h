// The trainer's state (internal to models/; tests reach the model and the optimizer through it).
#pragma once

#include "cephalo/models/image_processor.h"
#include "cephalo/models/tokenizer.h"
#include "cephalo/models/training.h"
#include "idefics2_model.h"
#include "lora.h"
#include "training_data.h"

#include <torch/torch.h>

#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

namespace cephalo::models {

// A tensor AdamW updates: the model's tensor (fused matrices whole), its checkpoint parts, and
// fp32 master weights (when the model computes in a narrower dtype) and moments.
struct TrainableTensor {
  torch::Tensor param;
  std::vector<std::pair<std::string, std::int64_t>> parts;
  torch::Tensor master, exp_avg, exp_avg_sq;
  bool decay = true;

  const torch::Tensor &weights() const { return master.defined() ? master : param; }
};

// A padded micro-batch on the device: right-padded ids, the images, and where the loss looks.
struct MicroBatch {
  torch::Tensor ids;    // [b, T]
  std::vector<std::string> images;    // each sample's image file
  // The images still to encode: every sample's, or with the feature cache those not in it (then
  // undefined when there are none); `encoded` names their samples, `images_per_sample` how many
  // processed images each one made (more than 1 with image splitting).
  torch::Tensor pixels, pixel_mask;
  std::vector<int> encoded;
  std::vector<int> images_per_sample;
  torch::Tensor real;         // flat indices into [b * T] of the real (not padding) tokens
  torch::Tensor positions;    // indices into `real` whose next token is an answer token
  torch::Tensor targets;      // [n] those next tokens
  int samples = 0, tokens = 0;
};

struct Trainer::Impl {
  TrainOptions options;
  std::vector<TrainingRecord> records, eval_records;
  std::vector<Example> examples, eval_examples;
  std::optional<Tokenizer> tokenizer;
  ImageProcessorConfig processor;
  Idefics2Config config;
  std::filesystem::path assets_dir;
  torch::Device device = torch::kCPU;
  torch::Dtype dtype = torch::kFloat32;
  std::unique_ptr<Idefics2Model> model;
  std::optional<LoraSpec> lora;
  std::vector<LoraModule> lora_modules;
  std::vector<TrainableTensor> trainable;
  bool vision_trains = false;       // the vision tower has trainable tensors
  bool connector_trains = false;    // the connector has trainable tensors
  // While the vision tower is frozen an image's encoding is the same at every step, and it is
  // kept by file (up to options.feature_cache_mib): the connector's output where the connector is
  // frozen too, else the tower's output, which the connector reads again at each step. The
  // tower's output is kept as its valid patches first ([images, patches, vision hidden]) with
  // their mask: the connector takes the patches as a set.
  struct CachedImage {
    torch::Tensor features;
    torch::Tensor patch_mask;    // tower output only
  };
  mutable std::unordered_map<std::string, CachedImage> feature_cache;
  mutable std::int64_t feature_cache_bytes = 0;
  bool caching() const { return !vision_trains && options.feature_cache_mib > 0; }
  std::set<int> stop_ids;
  int pad_id = 0;
  std::unique_ptr<RecordOrder> order;
  int step = 0, total = 0;
  std::string threads;
  std::ofstream metrics;

  MicroBatch make_batch(const std::vector<const Example *> &batch,
                        const std::vector<TrainingRecord> &from) const;
  // Summed cross-entropy over the batch's answer tokens (differentiable).
  torch::Tensor loss_sum(const MicroBatch &batch) const;
  // [images, n_latents, hidden] for the batch's samples in order: encoded, or from the cache
  // (through the connector when it trains).
  torch::Tensor image_features(const MicroBatch &batch) const;
  // The cache entries of the batch's images still to encode, by file.
  std::unordered_map<std::string, CachedImage> encode_for_cache(const MicroBatch &batch) const;
  void save_state(const std::filesystem::path &dir) const;
  void load_state(const std::filesystem::path &dir);
};

}    // namespace cephalo::models
