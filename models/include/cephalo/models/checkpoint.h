// Writing Idefics2 checkpoints in the Hugging Face layout (config.json + model.safetensors with
// the reference tensor names): tiny random models for tests, and a starting point for training.
#pragma once

#include "cephalo/models/config.h"

#include <cstdint>
#include <filesystem>
#include <string>

namespace cephalo::models {

// Creates `dir` if needed and writes config.json and model.safetensors with random weights
// (normal, std `init_std`; norm weights one, biases zero; the vision tower's position table the
// sine-cosine grid of Idefics2Model::random). dtype: "float32", "bfloat16" or
// "float16". The same seed gives the same bytes.
void write_random_checkpoint(const std::filesystem::path &dir, const Idefics2Config &config,
                             std::uint64_t seed, const std::string &dtype = "float32",
                             double init_std = 0.02);

}    // namespace cephalo::models
