// The Idefics2 network on libtorch: SigLIP-style vision tower with variable-resolution patch
// positions, connector (SwiGLU modality projection, then perceiver resampler), Mistral decoder
// with a preallocated KV cache, lm_head. Tensors carry their Hugging Face checkpoint names.
#pragma once

#include "cephalo/models/config.h"

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cephalo::models {

class WeightStore;

// Fused: the framework's scaled-dot-product attention kernel (flash / memory-efficient on
// CUDA). Plain: matmul, softmax in fp32, matmul, as the reference implementation writes it.
enum class AttentionKernel { Fused, Plain };

// Keys and values of every decoder layer for a batch of sequences, preallocated to a fixed
// capacity so that decoding never reallocates. Slot i of every row holds the token fed at step
// i; rows shorter than the longest prompt are left-padded, and their padding slots are
// marked invalid so that no query attends to them.
struct KVCache {
  std::vector<torch::Tensor> key, value;    // per layer: [batch, kv_heads, capacity, head_dim]
  torch::Tensor valid;                      // [batch, capacity] bool
  std::int64_t length = 0;                  // slots filled
  bool padded = false;                      // some row has invalid slots among the filled ones

  std::int64_t batch() const { return valid.size(0); }
  std::int64_t capacity() const { return valid.size(1); }
  // Keeps only the given rows (finished sequences leave the batch).
  void keep_rows(const torch::Tensor &rows);
};

// Low-rank adapters (LoRA) on blocks of output rows of one projection: block i (rows
// [offset, offset + rows) of the weight, e.g. q_proj inside a fused q/k/v matrix) adds
// scale * b_i a_i dropout(x), with a_i [rank, in] and b_i [rows, rank]. Dropout acts only while
// autograd records (training), never under NoGradGuard or InferenceMode.
struct LowRankAdapter {
  struct Block {
    std::string module;    // the Hugging Face module path, "model.text_model.layers.0.mlp.up_proj"
    std::int64_t offset = 0, rows = 0;
    torch::Tensor a, b;
  };
  std::vector<Block> blocks;
  double scale = 1.0, dropout = 0.0;

  bool empty() const { return blocks.empty(); }
  // y (the base projection of x) plus the adapters' terms
  torch::Tensor add_to(const torch::Tensor &x, const torch::Tensor &y) const;
};

struct Linear {
  Linear() = default;
  explicit Linear(torch::Tensor w, torch::Tensor b = {}) : weight(std::move(w)), bias(std::move(b))
  {
  }

  torch::Tensor weight, bias;    // bias may be undefined
  LowRankAdapter lora;           // empty unless LoRA adapts this projection
  torch::Tensor operator()(const torch::Tensor &x) const
  {
    const auto y = torch::linear(x, weight, bias);
    return lora.empty() ? y : lora.add_to(x, y);
  }
};

struct LayerNorm {
  torch::Tensor weight, bias;
  double eps = 1e-6;
  torch::Tensor operator()(const torch::Tensor &x) const;
};

// Mistral/Llama RMSNorm: statistics in fp32, scale applied in the input dtype.
struct RMSNorm {
  torch::Tensor weight;
  double eps = 1e-6;
  torch::Tensor operator()(const torch::Tensor &x) const;
};

// down(act(gate(x)) * up(x)); gate and up are one fused matrix [2 * inner, in].
struct GatedMLP {
  GatedMLP() = default;
  GatedMLP(Linear g, Linear d, std::string a) :
      gate_up(std::move(g)), down(std::move(d)), act(std::move(a))
  {
  }

  Linear gate_up, down;
  std::string act;
  torch::Tensor operator()(const torch::Tensor &x) const;
  torch::Tensor inner(const torch::Tensor &x) const;    // act(gate(x)) * up(x)
};

struct VisionLayer {
  LayerNorm layer_norm1, layer_norm2;
  Linear qkv, out_proj;    // q_proj, k_proj, v_proj fused
  Linear fc1, fc2;
};

struct PerceiverLayer {
  RMSNorm input_latents_norm, input_context_norm, post_attention_layernorm;
  Linear q_proj, kv_proj, o_proj;    // k_proj and v_proj fused
  GatedMLP mlp;
};

struct DecoderLayer {
  RMSNorm input_layernorm, post_attention_layernorm;
  Linear qkv_proj, o_proj;    // q_proj, k_proj, v_proj fused
  GatedMLP mlp;
};

// A trainable tensor of the model and the checkpoint tensors it holds: their names and rows
// along dimension 0, in order (several for fused matrices such as q/k/v, one otherwise).
struct Parameter {
  torch::Tensor tensor;
  std::vector<std::pair<std::string, std::int64_t>> parts;
};

// A projection that LoRA can adapt: where it sits and the checkpoint modules its rows hold.
struct AdaptableProjection {
  Linear *linear = nullptr;
  std::string group;                                            // "text", "connector" or "vision"
  std::vector<std::pair<std::string, std::int64_t>> modules;    // module path, rows
};

class Idefics2Model {
 public:
  // Loads every tensor of the config from `weights` into `options` (dtype, device); throws
  // FormatError naming missing, mis-shaped and unexpected tensors.
  Idefics2Model(const Idefics2Config &config, WeightStore &weights,
                const torch::TensorOptions &options);
  // Random weights of the right shapes (normal, std 0.02; norms one; the vision tower's
  // position table a fixed two-dimensional sine-cosine grid, so that a tower kept at its
  // initialisation still tells patches apart by place), made on the device: for tests,
  // benchmarks of full-size configurations, and as a starting point for training.
  static Idefics2Model random(const Idefics2Config &config, const torch::TensorOptions &options,
                              std::uint64_t seed, double init_std = 0.02);
  // The same random weights by checkpoint name (unfused), in build order, for writing.
  static std::vector<std::pair<std::string, torch::Tensor>>
  random_named(const Idefics2Config &config, const torch::TensorOptions &options,
               std::uint64_t seed, double init_std = 0.02);

  const Idefics2Config &config() const { return config_; }
  const torch::TensorOptions &options() const { return options_; }

  AttentionKernel attention = AttentionKernel::Fused;

  // pixel_values [images, 3, H, W] (float), pixel_mask [images, H, W] (bool or uint8; undefined
  // means all valid) -> [images, n_latents, text hidden]. Images that are all zeros are padding
  // and are dropped, as the reference does.
  torch::Tensor encode_images(const torch::Tensor &pixel_values,
                              const torch::Tensor &pixel_mask) const;
  // encode_images in its two parts. The vision tower alone: {features [images, patches, vision
  // hidden], patch mask [images, patches] (bool, true = a patch of the image)}, all-zero images
  // dropped as above.
  std::pair<torch::Tensor, torch::Tensor> encode_patches(const torch::Tensor &pixel_values,
                                                         const torch::Tensor &pixel_mask) const;
  // The connector over the tower's output -> [images, n_latents, text hidden]. It sees the
  // patches as a set (the tower has added their places): masked rows may hold anything, and the
  // patches of an image may come in any order.
  torch::Tensor connect(const torch::Tensor &patch_features, const torch::Tensor &patch_mask) const;

  // Token embeddings [batch, T, hidden]; the positions holding image_token_id take the rows of
  // image_features ([images, n_latents, hidden]) in order.
  torch::Tensor embed(const torch::Tensor &input_ids, const torch::Tensor &image_features) const;

  // Plain token embeddings [batch, T, hidden]: decode steps, where a generated image token is
  // just a token (as in the reference).
  torch::Tensor embed_text(const torch::Tensor &input_ids) const;

  KVCache new_cache(std::int64_t batch, std::int64_t capacity) const;

  // Runs the decoder on `embeds` [batch, T, hidden] at rotary `positions` [batch, T], appending
  // keys and values at slot cache.length; `valid` [batch, T] marks real (not padding) tokens.
  // Returns the final-normed hidden states [batch, T, hidden].
  torch::Tensor decode(const torch::Tensor &embeds, const torch::Tensor &positions,
                       const torch::Tensor &valid, KVCache &cache) const;

  // One decode step with every input on the device: token ids [batch], rotary positions [batch]
  // and the cache slot to write ([1], the same for all rows). Attends over the whole cache
  // capacity under a mask built on the device, so shapes never change and nothing waits for the
  // host: the step a CUDA graph captures. The caller advances cache.length. Returns the
  // final-normed hidden states [batch, 1, hidden].
  torch::Tensor decode_step(const torch::Tensor &ids, const torch::Tensor &positions,
                            const torch::Tensor &slot, KVCache &cache) const;

  torch::Tensor logits(const torch::Tensor &hidden) const;    // lm_head, [.., vocab] fp32

  // The decoder over whole sequences from position 0, without a cache: causal attention (within
  // the sliding window), so right padding never reaches the real tokens before it. The training
  // forward (differentiable: nothing is written in place). Returns the final-normed hidden
  // states [batch, T, hidden].
  torch::Tensor decode_full(const torch::Tensor &embeds) const;
  // The same for right-padded rows with the real tokens named by `tokens`, flat indices into
  // [batch * T] in order; each row's real tokens must be its first slots (nothing checks it:
  // padding before a real token would take part in its attention). Projections and MLPs run on
  // those tokens only, and the final-normed hidden states come back packed [tokens, hidden].
  // Equal to decode_full at those tokens; the training forward, where padding is a third of a
  // mixed batch.
  torch::Tensor decode_full(const torch::Tensor &embeds, const torch::Tensor &tokens) const;

  // Full forward without a cache (for checks against references, and training):
  // logits [batch, T, vocab].
  torch::Tensor forward(const torch::Tensor &input_ids, const torch::Tensor &pixel_values,
                        const torch::Tensor &pixel_mask) const;

  // Every tensor of the model once (the tied lm_head is the embeddings), in checkpoint order.
  const std::vector<Parameter> &parameters() const { return parameters_; }
  // The checkpoint tensors by Hugging Face name, fused matrices split back into their parts
  // (views), in checkpoint order: what model.safetensors holds.
  std::vector<std::pair<std::string, torch::Tensor>> checkpoint_tensors() const;
  // The projections LoRA may adapt, with their module paths.
  std::vector<AdaptableProjection> adaptable_projections();

  std::int64_t parameter_count() const { return parameter_count_; }
  std::int64_t decoder_bytes_per_token() const;    // weight bytes one decode step reads

 private:
  Idefics2Model(const Idefics2Config &config, const torch::TensorOptions &options);
  template <typename Source> void build(Source &&source);

  torch::Tensor vision_forward(const torch::Tensor &pixel_values,
                               const torch::Tensor &patch_mask) const;
  torch::Tensor perceiver_forward(const torch::Tensor &context,
                                  const torch::Tensor &context_mask) const;
  torch::Tensor patch_positions(const torch::Tensor &patch_mask) const;
  // RoPE tables for positions 0..t-1 and the mask of whole-sequence attention (causal, within
  // the sliding window)
  struct FullAttention {
    torch::Tensor cos, signed_sin, mask;
    bool causal;
  };
  FullAttention full_attention_setup(std::int64_t t, torch::Dtype dtype) const;

  Idefics2Config config_;
  torch::TensorOptions options_;

  // model.vision_model
  torch::Tensor patch_embedding_weight, patch_embedding_bias, position_embedding;
  std::vector<VisionLayer> vision_layers;
  LayerNorm post_layernorm;
  // model.connector
  GatedMLP modality_projection;
  torch::Tensor latents;
  std::vector<PerceiverLayer> perceiver_layers;
  RMSNorm perceiver_norm;
  // model.text_model, lm_head
  torch::Tensor embed_tokens;
  std::vector<DecoderLayer> decoder_layers;
  RMSNorm norm;
  torch::Tensor lm_head;
  torch::Tensor inv_freq;    // RoPE, fp32 on the device
  std::int64_t parameter_count_ = 0;
  std::vector<Parameter> parameters_;
};

// Attention of q [B, Hq, L, d] over k, v [B, Hkv, S, d] (grouped-query when Hkv < Hq) with an
// optional boolean mask broadcastable to [B, Hq, L, S] (true = attend) or a causal mask aligned
// at the top left. Returns [B, Hq, L, d].
torch::Tensor attend(const torch::Tensor &q, const torch::Tensor &k, const torch::Tensor &v,
                     const torch::Tensor &mask, bool causal, AttentionKernel kernel);

}    // namespace cephalo::models
