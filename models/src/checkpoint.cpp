// Random Idefics2 checkpoints in the Hugging Face layout.
#include "cephalo/models/checkpoint.h"

#include "cephalo/models/safetensors.h"
#include "idefics2_model.h"

namespace cephalo::models {

void write_random_checkpoint(const std::filesystem::path &dir, const Idefics2Config &config,
                             std::uint64_t seed, const std::string &dtype, double init_std)
{
  config.validate(dir.string());
  torch::Dtype type = torch::kFloat32;
  DType stored = DType::F32;
  if (dtype == "bfloat16") {
    type = torch::kBFloat16;
    stored = DType::BF16;
  } else if (dtype == "float16") {
    type = torch::kFloat16;
    stored = DType::F16;
  } else if (dtype != "float32") {
    throw std::invalid_argument("dtype '" + dtype + "': expected float32, bfloat16 or float16");
  }
  c10::InferenceMode guard;
  const auto named =
      Idefics2Model::random_named(config, torch::TensorOptions().dtype(type), seed, init_std);
  std::vector<TensorBytes> tensors;
  std::vector<torch::Tensor> contiguous;
  for (const auto &[name, tensor] : named) {
    if (config.tie_word_embeddings && name == "lm_head.weight") continue;
    contiguous.push_back(tensor.contiguous());
    tensors.push_back({name, stored, tensor.sizes().vec(), contiguous.back().data_ptr()});
  }
  std::filesystem::create_directories(dir);
  Idefics2Config saved = config;
  saved.torch_dtype = dtype;
  saved.save(dir / "config.json");
  write_safetensors(dir / "model.safetensors", tensors, {{"format", "pt"}});
}

}    // namespace cephalo::models
