// The configuration of an Idefics2 checkpoint (config.json in the Hugging Face layout): the
// SigLIP-style vision tower, the perceiver connector and the Mistral decoder.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

namespace cephalo::models {

// A config.json that is missing, malformed, or describes a model this runtime cannot run. The
// message names the file and the key.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Defaults are transformers' (what a config.json that leaves a key out means), not those of
// any one checkpoint; models/configs/idefics2-8b.json spells out the 8B model.
struct VisionConfig {
  int hidden_size = 768;
  int intermediate_size = 3072;
  int num_hidden_layers = 12;
  int num_attention_heads = 12;
  int num_channels = 3;
  int image_size = 224;    // the position grid is (image_size / patch_size)^2
  int patch_size = 32;
  std::string hidden_act = "gelu_pytorch_tanh";
  double layer_norm_eps = 1e-6;
};

struct PerceiverConfig {
  std::string hidden_act = "silu";
  int resampler_n_latents = 64;    // image tokens per image
  int resampler_depth = 3;
  int resampler_n_heads = 16;
  int resampler_head_dim = 96;
  int num_key_value_heads = 4;
  double rms_norm_eps = 1e-6;
};

struct TextConfig {
  int vocab_size = 32000;
  int hidden_size = 4096;
  int intermediate_size = 14336;
  int num_hidden_layers = 32;
  int num_attention_heads = 32;
  int num_key_value_heads = 8;
  int head_dim = 128;
  std::string hidden_act = "silu";
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  std::optional<int> sliding_window = 4096;    // keys this far back or further are not attended to
  int max_position_embeddings = 131072;
  int bos_token_id = 1;
  int eos_token_id = 2;
  int pad_token_id = 0;
};

struct Idefics2Config {
  VisionConfig vision;
  PerceiverConfig perceiver;
  TextConfig text;
  int image_token_id = 32001;
  bool tie_word_embeddings = false;
  std::string torch_dtype = "float32";    // the dtype the checkpoint was saved in

  // Reads config.json (model_type "idefics2"); defaults are those of transformers.
  static Idefics2Config load(const std::filesystem::path &file);
  // Parses the text of a config.json; `where` names it in errors.
  static Idefics2Config parse(const std::string &json_text, const std::string &where);
  // The config.json text that load() reads back into an equal config.
  std::string to_json() const;
  void save(const std::filesystem::path &file) const;

  // Throws ConfigError when sizes do not fit together (heads dividing widths, ...).
  void validate(const std::string &where) const;
};

}    // namespace cephalo::models
