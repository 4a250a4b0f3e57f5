// Writing model folders from tensors in memory (internal: keeps torch out of checkpoint.h).
#pragma once

#include "cephalo/models/config.h"

#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace cephalo::models {

// config.json (torch_dtype set to `dtype`) and model.safetensors: the tensors by checkpoint name,
// in the order given, converted to `dtype` on the CPU.
void write_model_weights(const std::filesystem::path &dir, const Idefics2Config &config,
                         const std::vector<std::pair<std::string, torch::Tensor>> &tensors,
                         torch::Dtype dtype);

// The tokenizer, processor and generation files of a model folder that `from` has, copied to
// `to` (existing files are replaced). Returns the names copied.
std::vector<std::string> copy_model_assets(const std::filesystem::path &from,
                                           const std::filesystem::path &to);

// "float32", "bfloat16", "float16" (as config.json's torch_dtype says it) and back.
torch::Dtype torch_dtype_of(const std::string &name);
std::string torch_dtype_name(torch::Dtype dtype);

}    // namespace cephalo::models
