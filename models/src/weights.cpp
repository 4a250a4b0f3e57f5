// Model folder tensors by name, from one safetensors file or a sharded index.
#include "weights.h"

#include "tensor_io.h"

#include <nlohmann/json.hpp>

#include <fstream>

namespace cephalo::models {
namespace fs = std::filesystem;
WeightStore WeightStore::open(const fs::path &model_dir)
{
  WeightStore store;
  store.dir_ = model_dir;
  const fs::path single = model_dir / "model.safetensors";
  const fs::path index = model_dir / "model.safetensors.index.json";
  std::map<std::string, std::string> expected_file;    // tensor -> shard, from the index
  if (fs::exists(index)) {
    nlohmann::json document;
    try {
      std::ifstream in(index);
      document = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception &e) {
      throw FormatError(index.string() + ": not valid JSON: " + e.what());
    }
    const auto map = document.find("weight_map");
    if (!document.is_object() || map == document.end() || !map->is_object())
      throw FormatError(index.string() + ": no weight_map object");
    std::set<std::string> shards;
    for (const auto &[name, file] : map->items()) {
      if (!file.is_string() || file.get<std::string>().find('/') != std::string::npos)
        throw FormatError(index.string() + ": weight_map entry '" + name +
                          "' must name a file in the folder");
      expected_file[name] = file.get<std::string>();
      shards.insert(file.get<std::string>());
    }
    for (const auto &shard : shards)
      store.files_.push_back(SafetensorsFile::open(model_dir / shard));
  } else if (fs::exists(single)) {
    store.files_.push_back(SafetensorsFile::open(single));
  } else {
    throw FormatError(model_dir.string() +
                      ": no model.safetensors or model.safetensors.index.json (weights in another "
                      "format, e.g. pytorch_model.bin, must be converted to safetensors)");
  }
  for (const auto &file : store.files_)
    for (const auto &info : file.tensors()) {
      const std::string shard = file.path().filename().string();
      if (!expected_file.empty()) {
        const auto it = expected_file.find(info.name);
        if (it == expected_file.end() || it->second != shard)
          throw FormatError(file.path().string() + ": tensor '" + info.name +
                            "' is not mapped to this shard by model.safetensors.index.json");
      }
      if (!store.entries_.emplace(info.name, Entry{&file, &info}).second)
        throw FormatError(file.path().string() + ": tensor '" + info.name +
                          "' is also in another shard");
    }
  for (const auto &[name, shard] : expected_file)
    if (!store.entries_.count(name))
      throw FormatError((model_dir / shard).string() + ": tensor '" + name +
                        "' named by the index is missing");
  return store;
}

bool WeightStore::contains(const std::string &name) const
{
  return entries_.count(name) > 0;
}

torch::Tensor WeightStore::take(const std::string &name, const std::vector<std::int64_t> &shape,
                                const torch::TensorOptions &options)
{
  const auto it = entries_.find(name);
  if (it == entries_.end()) {
    problems_.push_back("missing tensor '" + name + "' " + shape_text(shape));
    return {};
  }
  taken_.insert(name);
  const TensorInfo &info = *it->second.info;
  if (info.shape != shape) {
    problems_.push_back("tensor '" + name + "' has shape " + shape_text(info.shape) +
                        ", expected " + shape_text(shape));
    return {};
  }
  if (info.dtype != DType::F32 && info.dtype != DType::F16 && info.dtype != DType::BF16 &&
      info.dtype != DType::F64) {
    problems_.push_back("tensor '" + name + "' has dtype " + std::string(dtype_name(info.dtype)) +
                        "; weights must be floating point");
    return {};
  }
  return tensor_view(*it->second.file, info).to(options, /*non_blocking=*/false, /*copy=*/true);
}

void WeightStore::finish() const
{
  std::vector<std::string> problems = problems_;
  for (const auto &[name, entry] : entries_)
    if (!taken_.count(name))
      problems.push_back("unexpected tensor '" + name + "' (not part of this configuration)");
  if (problems.empty()) return;
  std::string message = dir_.string() + ": the weights do not match config.json:";
  const std::size_t shown = std::min<std::size_t>(problems.size(), 12);
  for (std::size_t i = 0; i < shown; ++i) message += "\n  " + problems[i];
  if (problems.size() > shown)
    message += "\n  ... and " + std::to_string(problems.size() - shown) + " more";
  throw FormatError(message);
}

}    // namespace cephalo::models
