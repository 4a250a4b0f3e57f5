// LoRA adapters on an Idefics2Model: which projections they adapt, fresh ones for training, and
// the PEFT layout on disk (adapter_config.json, adapter_model.safetensors with
// base_model.model.<module>.lora_A.weight [r, in] and .lora_B.weight [out, r]).
#pragma once

#include "idefics2_model.h"

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace cephalo::models {

struct LoraSpec {
  int rank = 8;
  double alpha = 16, dropout = 0;
  bool rslora = false;    // scale alpha / sqrt(r) instead of alpha / r (PEFT's use_rslora)
  std::function<bool(const std::string &module, const std::string &group)> selects;
  std::string target_modules;    // how adapter_config.json says it: a regex PEFT fully matches
  std::string base_model;        // base_model_name_or_path

  double scale() const;
};

// One adapted module: the adapter block inside its projection.
struct LoraModule {
  std::string module;
  LowRankAdapter::Block *block = nullptr;
};

// The Hugging Face module names LoRA may target, per group of layers.
const std::vector<std::string> &lora_target_names();

// The spec for training: `targets` (names from lora_target_names) in the `layers` groups
// ("text", "connector", "vision"). Throws TrainingError for an unknown name or group.
LoraSpec lora_spec(int rank, double alpha, double dropout, const std::vector<std::string> &targets,
                   const std::vector<std::string> &layers, const std::string &base_model);

// Adds adapters to every projection block the spec selects: a uniform in +-1/sqrt(in) (PEFT's
// default Kaiming init), b zero, so that the model is unchanged; drawn from torch's generator.
// Throws TrainingError when nothing is selected.
std::vector<LoraModule> attach_lora(Idefics2Model &model, const LoraSpec &spec);

// Reads an adapter folder: the spec from adapter_config.json (target_modules a list of names or
// a regex), the adapters attached with their saved values (in the model's dtype). Throws
// TrainingError / FormatError naming the file and missing, mis-shaped or unused tensors.
std::vector<LoraModule> load_lora(Idefics2Model &model, const std::filesystem::path &dir);

// Writes adapter_config.json and adapter_model.safetensors (float32).
void save_lora(const std::vector<LoraModule> &modules, const LoraSpec &spec,
               const std::filesystem::path &dir);

// W += scale * B A for every adapter, then removes the adapters.
void merge_lora_into(Idefics2Model &model);

// The PEFT tensor names of a module.
std::string lora_a_name(const std::string &module);
std::string lora_b_name(const std::string &module);

}    // namespace cephalo::models
