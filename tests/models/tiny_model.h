// Tiny random Idefics2 checkpoints for tests: the configuration, small image-processor settings,
// and a model folder with the 400-piece tokenizer fixture beside its weights. Needs
// CEPHALO_FIXTURES (tests/models/fixtures) defined by the test target.
#pragma once

#include "cephalo/models/checkpoint.h"
#include "cephalo/models/config.h"

#include <cstdint>
#include <filesystem>
#include <fstream>

namespace cephalo::test {

inline models::Idefics2Config tiny_config()
{
  models::Idefics2Config c;
  c.vision = {32, 64, 2, 4, 3, 32, 4, "gelu_pytorch_tanh", 1e-6};
  c.perceiver = {"silu", 4, 2, 4, 8, 2, 1e-5};
  c.text.vocab_size = 96;
  c.text.hidden_size = 32;
  c.text.intermediate_size = 64;
  c.text.num_hidden_layers = 2;
  c.text.num_attention_heads = 4;
  c.text.num_key_value_heads = 2;
  c.text.head_dim = 8;
  c.text.rope_theta = 10000.0;
  c.text.sliding_window.reset();
  c.text.max_position_embeddings = 512;
  c.image_token_id = 90;
  return c;
}

// Images of a few patches for the tiny vision tower (the default processor makes them 378 px).
inline void write_small_processor(const std::filesystem::path &dir)
{
  std::ofstream(dir / "preprocessor_config.json")
      << R"({"size": {"shortest_edge": 16, "longest_edge": 32}})";
}

// `config` with the tokenizer fixture's vocabulary (400 pieces, then <fake_token_around_image>,
// <image>, <end_of_utterance>), random weights, small processor settings and the tokenizer files.
inline std::filesystem::path write_tiny_chat_model(const std::filesystem::path &dir,
                                                   models::Idefics2Config config,
                                                   std::uint64_t seed)
{
  config.text.vocab_size = 403;
  config.image_token_id = 401;
  models::write_random_checkpoint(dir, config, seed, "float32", 0.2);
  write_small_processor(dir);
  namespace fs = std::filesystem;
  for (const auto &entry : fs::directory_iterator(fs::path(CEPHALO_FIXTURES) / "tokenizer-bpe400"))
    fs::copy_file(entry.path(), dir / entry.path().filename(),
                  fs::copy_options::overwrite_existing);
  return dir;
}

}    // namespace cephalo::test
