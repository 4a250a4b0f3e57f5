// Idefics2 checkpoints in the Hugging Face layout: random ones, and folders written from a model
// in memory.
#include "cephalo/models/checkpoint.h"

#include "cephalo/models/safetensors.h"
#include "checkpoint_io.h"
#include "idefics2_model.h"
#include "tensor_io.h"

namespace cephalo::models {
namespace fs = std::filesystem;

torch::Dtype torch_dtype_of(const std::string &name)
{
  if (name == "float32") return torch::kFloat32;
  if (name == "bfloat16") return torch::kBFloat16;
  if (name == "float16") return torch::kFloat16;
  throw std::invalid_argument("dtype '" + name + "': expected float32, bfloat16 or float16");
}

std::string torch_dtype_name(torch::Dtype dtype)
{
  if (dtype == torch::kBFloat16) return "bfloat16";
  if (dtype == torch::kFloat16) return "float16";
  if (dtype == torch::kFloat32) return "float32";
  throw std::invalid_argument(std::string("no checkpoint dtype for ") + c10::toString(dtype));
}

void write_model_weights(const fs::path &dir, const Idefics2Config &config,
                         const std::vector<std::pair<std::string, torch::Tensor>> &named,
                         torch::Dtype dtype)
{
  const DType stored = dtype == torch::kBFloat16  ? DType::BF16
                       : dtype == torch::kFloat16 ? DType::F16
                                                  : DType::F32;
  std::vector<TensorBytes> tensors;
  std::vector<torch::Tensor> contiguous;
  contiguous.reserve(named.size());
  {
    torch::NoGradGuard no_grad;
    for (const auto &[name, tensor] : named) {
      if (config.tie_word_embeddings && name == "lm_head.weight") continue;
      contiguous.push_back(tensor.detach().to(torch::kCPU).to(dtype).contiguous());
      tensors.push_back({name, stored, tensor.sizes().vec(), contiguous.back().data_ptr()});
    }
  }
  fs::create_directories(dir);
  Idefics2Config saved = config;
  saved.torch_dtype = torch_dtype_name(dtype);
  saved.save(dir / "config.json");
  write_safetensors(dir / "model.safetensors", tensors, {{"format", "pt"}});
}

std::vector<std::string> copy_model_assets(const fs::path &from, const fs::path &to)
{
  static const char *const kAssets[] = {
      "tokenizer.model",       "tokenizer.json",          "tokenizer_config.json",
      "added_tokens.json",     "special_tokens_map.json", "preprocessor_config.json",
      "processor_config.json", "chat_template.json",      "generation_config.json"};
  std::vector<std::string> copied;
  fs::create_directories(to);
  if (!fs::is_directory(from) || fs::equivalent(from, to)) return copied;
  for (const char *name : kAssets)
    if (fs::is_regular_file(from / name)) {
      fs::copy_file(from / name, to / name, fs::copy_options::overwrite_existing);
      copied.emplace_back(name);
    }
  return copied;
}

void write_random_checkpoint(const fs::path &dir, const Idefics2Config &config, std::uint64_t seed,
                             const std::string &dtype, double init_std)
{
  config.validate(dir.string());
  const torch::Dtype type = torch_dtype_of(dtype);
  c10::InferenceMode guard;
  write_model_weights(
      dir, config,
      Idefics2Model::random_named(config, torch::TensorOptions().dtype(type), seed, init_std),
      type);
}

}    // namespace cephalo::models
