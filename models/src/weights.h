// The tensors of a model folder (model.safetensors or a sharded index), taken by their Hugging
// Face names; what was not taken and what was missing are reported together, by name.
#pragma once

#include "cephalo/models/safetensors.h"

#include <torch/torch.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace cephalo::models {

class WeightStore {
 public:
  // Opens model.safetensors, or every shard that model.safetensors.index.json names (each
  // shard's tensors must be those the index maps to it).
  static WeightStore open(const std::filesystem::path &model_dir);

  // The tensor `name` with the expected shape, converted to `options` (copied). A missing or
  // mis-shaped tensor is remembered and an undefined tensor returned, so that one finish()
  // lists every problem at once.
  torch::Tensor take(const std::string &name, const std::vector<std::int64_t> &shape,
                     const torch::TensorOptions &options);
  bool contains(const std::string &name) const;

  // Throws FormatError naming the missing, mis-shaped and unused (extra) tensors.
  void finish() const;

 private:
  struct Entry {
    const SafetensorsFile *file;
    const TensorInfo *info;
  };
  std::filesystem::path dir_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, Entry> entries_;
  std::set<std::string> taken_;
  std::vector<std::string> problems_;
};

}    // namespace cephalo::models
