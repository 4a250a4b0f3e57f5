// The Idefics2 forward pass: vision tower, connector, decoder. Read top to bottom it follows the
// reference implementation's order; names are the checkpoint's.
#include "idefics2_model.h"

#include "cephalo/models/safetensors.h"
#include "weights.h"

#include <torch/version.h>

#include <cmath>
#include <limits>

namespace cephalo::models {
namespace {

// How a tensor starts when a model is made from scratch: a normal draw (std init_std), ones,
// zeros, or the vision tower's grid of patch positions (grid_positions below).
enum class Init { Normal, Ones, Zeros, GridPositions };

torch::Tensor activation(const torch::Tensor &x, const std::string &name)
{
  if (name == "silu") return torch::silu(x);
  if (name == "gelu_pytorch_tanh") return torch::gelu(x, "tanh");
  return torch::gelu(x);
}

}    // namespace

torch::Tensor LowRankAdapter::add_to(const torch::Tensor &x, const torch::Tensor &y) const
{
  const auto in =
      dropout > 0 && torch::GradMode::is_enabled() ? torch::dropout(x, dropout, true) : x;
  const auto delta = [&](const Block &block) {
    return torch::linear(torch::linear(in, block.a), block.b) * scale;
  };
  const std::int64_t out = y.size(-1);
  if (blocks.size() == 1 && blocks[0].offset == 0 && blocks[0].rows == out)
    return y + delta(blocks[0]);
  // blocks of a fused matrix: the adapted row ranges get their terms, the others pass through
  std::vector<torch::Tensor> pieces;
  std::int64_t at = 0;
  for (const auto &block : blocks) {
    if (block.offset > at) pieces.push_back(y.narrow(-1, at, block.offset - at));
    pieces.push_back(y.narrow(-1, block.offset, block.rows) + delta(block));
    at = block.offset + block.rows;
  }
  if (at < out) pieces.push_back(y.narrow(-1, at, out - at));
  return torch::cat(pieces, -1);
}

torch::Tensor LayerNorm::operator()(const torch::Tensor &x) const
{
  return torch::layer_norm(x, {weight.size(0)}, weight, bias, eps);
}

torch::Tensor RMSNorm::operator()(const torch::Tensor &x) const
{
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  // one fused kernel where libtorch has it (statistics in fp32 as well; the scale is applied
  // before rounding to the input dtype, where the reference rounds first: equal in fp32)
  if (x.is_cuda()) return at::rms_norm(x, {weight.size(0)}, weight, eps);
#endif
  const auto x32 = x.to(torch::kFloat32);
  const auto normed = x32 * torch::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * normed.to(x.scalar_type());
}

torch::Tensor GatedMLP::inner(const torch::Tensor &x) const
{
  const auto gate_and_up = gate_up(x).chunk(2, -1);
  return activation(gate_and_up[0], act) * gate_and_up[1];
}

torch::Tensor GatedMLP::operator()(const torch::Tensor &x) const
{
  return down(inner(x));
}

void KVCache::keep_rows(const torch::Tensor &rows)
{
  for (auto &k : key) k = k.index_select(0, rows);
  for (auto &v : value) v = v.index_select(0, rows);
  valid = valid.index_select(0, rows);
}

torch::Tensor attend(const torch::Tensor &q, const torch::Tensor &k, const torch::Tensor &v,
                     const torch::Tensor &mask, bool causal, AttentionKernel kernel)
{
  const auto groups = q.size(1) / k.size(1);
  if (kernel == AttentionKernel::Fused && groups > 1 && q.size(2) == 1 && !causal &&
      (!mask.defined() || mask.size(1) == 1)) {
    // One query per head (decoding): the query heads sharing a key/value head become that
    // head's queries, which is exact without causality and needs neither copies of the keys nor
    // a kernel with grouped-query support.
    const auto b = q.size(0), d = q.size(3);
    return attend(q.reshape({b, k.size(1), groups, d}), k, v, mask, false, kernel)
        .reshape({b, q.size(1), 1, d});
  }
  if (kernel == AttentionKernel::Fused) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
    // the kernel reads each key/value head for its whole group of query heads
    return at::scaled_dot_product_attention(
        q, k, v, mask.defined() ? std::optional<at::Tensor>(mask) : std::nullopt, 0.0, causal,
        std::nullopt, /*enable_gqa=*/groups > 1);
#else
    const auto kk = groups > 1 ? k.repeat_interleave(groups, 1) : k;
    const auto vv = groups > 1 ? v.repeat_interleave(groups, 1) : v;
#if TORCH_VERSION_MAJOR >= 2
    return at::scaled_dot_product_attention(
        q, kk, vv, mask.defined() ? c10::optional<at::Tensor>(mask) : c10::nullopt, 0.0, causal);
#else
    // libtorch 1.13: the private op, and only an additive float mask is safe on every path
    c10::optional<at::Tensor> additive;
    if (mask.defined())
      additive = torch::zeros(mask.sizes(), q.options())
                     .masked_fill(mask.logical_not(), -std::numeric_limits<float>::infinity());
    return std::get<0>(at::_scaled_dot_product_attention(q, kk, vv, additive, 0.0,
                                                         /*need_attn_weights=*/false, causal));
#endif
#endif
  }
  const auto kk = groups > 1 ? k.repeat_interleave(groups, 1) : k;
  const auto vv = groups > 1 ? v.repeat_interleave(groups, 1) : v;
  auto scores = torch::matmul(q, kk.transpose(-1, -2)) / std::sqrt(static_cast<double>(q.size(-1)));
  const auto minus_inf = -std::numeric_limits<float>::infinity();
  if (causal) {
    const auto allowed =
        torch::ones({q.size(2), k.size(2)}, q.options().dtype(torch::kBool)).tril();
    scores = scores.masked_fill(allowed.logical_not(), minus_inf);
  }
  if (mask.defined()) scores = scores.masked_fill(mask.logical_not(), minus_inf);
  const auto probs = torch::softmax(scores, -1, torch::kFloat32).to(q.scalar_type());
  return torch::matmul(probs, vv);
}

Idefics2Model::Idefics2Model(const Idefics2Config &config, const torch::TensorOptions &options) :
    config_(config), options_(options)
{
}

Idefics2Model::Idefics2Model(const Idefics2Config &config, WeightStore &weights,
                             const torch::TensorOptions &options) :
    Idefics2Model(config, options)
{
  build([&](const std::string &name, const std::vector<std::int64_t> &shape, Init) {
    return weights.take(name, shape, options_);
  });
  // tied checkpoints may still store lm_head.weight (a copy of the embeddings): not an error
  if (config_.tie_word_embeddings && weights.contains("lm_head.weight"))
    weights.take("lm_head.weight", {config_.text.vocab_size, config_.text.hidden_size}, options_);
  weights.finish();
}

namespace {

// The position table of a square grid of patches [side * side, width], rows in row-major order:
// the fixed two-dimensional sine-cosine embedding of MAE (He et al. 2021), half the width for the
// patch's row and half for its column, each the sines and cosines of width / 4 geometric
// frequencies, amplitude one. Undefined when the grid is not square or the width not a multiple
// of four. Drawn like the other weights (std 0.02), the table would be a small part of what a
// patch's pixels add to the same rows (a hundredth in cephalo-tiny's tower of 32-pixel patches),
// and a tower kept at its initialisation (cephalo train --freeze vision) would see a bag of
// patches without their places; this table keeps where each patch is.
torch::Tensor grid_positions(const std::vector<std::int64_t> &shape)
{
  if (shape.size() != 2 || shape[1] % 4 != 0) return {};
  const auto side =
      static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(shape[0]))));
  if (side * side != shape[0]) return {};
  const std::int64_t quarter = shape[1] / 4;
  const auto omega =
      torch::pow(10000.0, -torch::arange(quarter, torch::kFloat64) / static_cast<double>(quarter));
  const auto coordinate = torch::arange(side, torch::kFloat64);
  const auto waves = [&](const torch::Tensor &at) {
    const auto angle = at.unsqueeze(1) * omega.unsqueeze(0);
    return torch::cat({torch::sin(angle), torch::cos(angle)}, 1);
  };
  const auto rows = waves(coordinate.repeat_interleave(side)),
             columns = waves(coordinate.repeat({side}));
  return torch::cat({rows, columns}, 1).to(torch::kFloat32);
}

torch::Tensor random_tensor(const std::vector<std::int64_t> &shape, Init init,
                            const torch::TensorOptions &options, double init_std)
{
  switch (init) {
  case Init::Ones:
    return torch::ones(shape, options);
  case Init::Zeros:
    return torch::zeros(shape, options);
  case Init::GridPositions:
    if (auto grid = grid_positions(shape); grid.defined()) return grid.to(options);
    break;
  case Init::Normal:
    break;
  }
  // drawn in fp32 on the CPU so that a seed gives the same weights on every device and dtype
  return (torch::randn(shape, torch::kFloat32) * init_std).to(options);
}

}    // namespace

Idefics2Model Idefics2Model::random(const Idefics2Config &config,
                                    const torch::TensorOptions &options, std::uint64_t seed,
                                    double init_std)
{
  Idefics2Model model(config, options);
  torch::manual_seed(seed);
  if (options.device().is_cuda()) {
    // drawing billions of numbers on the CPU would dominate a benchmark: draw on the device
    model.build([&](const std::string &, const std::vector<std::int64_t> &shape, Init init) {
      return init == Init::Normal ? torch::randn(shape, options) * init_std
                                  : random_tensor(shape, init, options, init_std);
    });
    return model;
  }
  model.build([&](const std::string &, const std::vector<std::int64_t> &shape, Init init) {
    return random_tensor(shape, init, options, init_std);
  });
  return model;
}

std::vector<std::pair<std::string, torch::Tensor>>
Idefics2Model::random_named(const Idefics2Config &config, const torch::TensorOptions &options,
                            std::uint64_t seed, double init_std)
{
  std::vector<std::pair<std::string, torch::Tensor>> named;
  Idefics2Model model(config, options);
  torch::manual_seed(seed);
  model.build([&](const std::string &name, const std::vector<std::int64_t> &shape, Init init) {
    named.emplace_back(name, random_tensor(shape, init, options, init_std));
    return named.back().second;
  });
  return named;
}

template <typename Source> void Idefics2Model::build(Source &&source)
{
  // Every tensor taken becomes a parameter; fuse() merges the parameters of its parts, so that
  // each parameter remembers the checkpoint tensors it holds.
  const auto take = [&](const std::string &name, const std::vector<std::int64_t> &shape,
                        Init init) {
    auto tensor = source(name, shape, init);
    if (tensor.defined()) parameter_count_ += tensor.numel();
    parameters_.push_back({tensor, {{name, shape.empty() ? 1 : shape[0]}}});
    return tensor;
  };
  // Concatenates along the output dimension; undefined when a part failed to load (the store
  // reports it).
  const auto fuse = [&](const std::vector<torch::Tensor> &parts) -> torch::Tensor {
    for (const auto &p : parts)
      if (!p.defined()) return {};
    if (parts.size() == 1) return parts[0];
    auto fused = torch::cat(parts, 0);
    const auto first = parameters_.end() - static_cast<std::ptrdiff_t>(parts.size());
    for (auto it = first + 1; it != parameters_.end(); ++it)
      first->parts.push_back(it->parts.front());
    parameters_.erase(first + 1, parameters_.end());
    first->tensor = fused;
    return fused;
  };
  const auto &vc = config_.vision;
  const auto &pc = config_.perceiver;
  const auto &tc = config_.text;
  const std::int64_t vd = vc.hidden_size, td = tc.hidden_size;
  const auto normal = [&](const std::string &name, std::vector<std::int64_t> shape) {
    return take(name, shape, Init::Normal);
  };
  const auto ones = [&](const std::string &name, std::int64_t n) {
    return take(name, {n}, Init::Ones);
  };
  const auto zeros = [&](const std::string &name, std::int64_t n) {
    return take(name, {n}, Init::Zeros);
  };

  const std::string vm = "model.vision_model.";
  patch_embedding_weight = normal(vm + "embeddings.patch_embedding.weight",
                                  {vd, vc.num_channels, vc.patch_size, vc.patch_size});
  patch_embedding_bias = zeros(vm + "embeddings.patch_embedding.bias", vd);
  const std::int64_t per_side = vc.image_size / vc.patch_size;
  position_embedding = take(vm + "embeddings.position_embedding.weight", {per_side * per_side, vd},
                            Init::GridPositions);
  for (int i = 0; i < vc.num_hidden_layers; ++i) {
    const std::string p = vm + "encoder.layers." + std::to_string(i) + ".";
    VisionLayer l;
    l.layer_norm1 = {ones(p + "layer_norm1.weight", vd), zeros(p + "layer_norm1.bias", vd),
                     vc.layer_norm_eps};
    l.layer_norm2 = {ones(p + "layer_norm2.weight", vd), zeros(p + "layer_norm2.bias", vd),
                     vc.layer_norm_eps};
    l.qkv.weight = fuse({normal(p + "self_attn.q_proj.weight", {vd, vd}),
                         normal(p + "self_attn.k_proj.weight", {vd, vd}),
                         normal(p + "self_attn.v_proj.weight", {vd, vd})});
    l.qkv.bias =
        fuse({zeros(p + "self_attn.q_proj.bias", vd), zeros(p + "self_attn.k_proj.bias", vd),
              zeros(p + "self_attn.v_proj.bias", vd)});
    l.out_proj = Linear{normal(p + "self_attn.out_proj.weight", {vd, vd}),
                        zeros(p + "self_attn.out_proj.bias", vd)};
    l.fc1 = Linear{normal(p + "mlp.fc1.weight", {vc.intermediate_size, vd}),
                   zeros(p + "mlp.fc1.bias", vc.intermediate_size)};
    l.fc2 = Linear{normal(p + "mlp.fc2.weight", {vd, vc.intermediate_size}),
                   zeros(p + "mlp.fc2.bias", vd)};
    vision_layers.push_back(std::move(l));
  }
  post_layernorm = {ones(vm + "post_layernorm.weight", vd), zeros(vm + "post_layernorm.bias", vd),
                    vc.layer_norm_eps};

  const std::string cn = "model.connector.";
  modality_projection = GatedMLP{
      Linear{fuse({normal(cn + "modality_projection.gate_proj.weight", {tc.intermediate_size, vd}),
                   normal(cn + "modality_projection.up_proj.weight", {tc.intermediate_size, vd})})},
      Linear{normal(cn + "modality_projection.down_proj.weight", {td, tc.intermediate_size})},
      tc.hidden_act};
  const std::string pr = cn + "perceiver_resampler.";
  // normal like the other weights, not ones: latents of norm sqrt(hidden) would drown the image
  // content that the first attention adds to them, and training would start blind
  latents = take(pr + "latents", {pc.resampler_n_latents, td}, Init::Normal);
  const std::int64_t q_width = std::int64_t{pc.resampler_n_heads} * pc.resampler_head_dim;
  const std::int64_t kv_width = std::int64_t{pc.num_key_value_heads} * pc.resampler_head_dim;
  for (int i = 0; i < pc.resampler_depth; ++i) {
    const std::string p = pr + "layers." + std::to_string(i) + ".";
    PerceiverLayer l;
    l.input_latents_norm = {ones(p + "input_latents_norm.weight", td), pc.rms_norm_eps};
    l.input_context_norm = {ones(p + "input_context_norm.weight", td), pc.rms_norm_eps};
    l.post_attention_layernorm = {ones(p + "post_attention_layernorm.weight", td), pc.rms_norm_eps};
    l.q_proj.weight = normal(p + "self_attn.q_proj.weight", {q_width, td});
    l.kv_proj.weight = fuse({normal(p + "self_attn.k_proj.weight", {kv_width, td}),
                             normal(p + "self_attn.v_proj.weight", {kv_width, td})});
    l.o_proj.weight = normal(p + "self_attn.o_proj.weight", {td, q_width});
    l.mlp = GatedMLP{Linear{fuse({normal(p + "mlp.gate_proj.weight", {4 * td, td}),
                                  normal(p + "mlp.up_proj.weight", {4 * td, td})})},
                     Linear{normal(p + "mlp.down_proj.weight", {td, 4 * td})}, pc.hidden_act};
    perceiver_layers.push_back(std::move(l));
  }
  perceiver_norm = {ones(pr + "norm.weight", td), pc.rms_norm_eps};

  const std::string tm = "model.text_model.";
  embed_tokens = normal(tm + "embed_tokens.weight", {tc.vocab_size, td});
  const std::int64_t hq = std::int64_t{tc.num_attention_heads} * tc.head_dim;
  const std::int64_t hkv = std::int64_t{tc.num_key_value_heads} * tc.head_dim;
  for (int i = 0; i < tc.num_hidden_layers; ++i) {
    const std::string p = tm + "layers." + std::to_string(i) + ".";
    DecoderLayer l;
    l.input_layernorm = {ones(p + "input_layernorm.weight", td), tc.rms_norm_eps};
    l.post_attention_layernorm = {ones(p + "post_attention_layernorm.weight", td), tc.rms_norm_eps};
    l.qkv_proj.weight = fuse({normal(p + "self_attn.q_proj.weight", {hq, td}),
                              normal(p + "self_attn.k_proj.weight", {hkv, td}),
                              normal(p + "self_attn.v_proj.weight", {hkv, td})});
    l.o_proj.weight = normal(p + "self_attn.o_proj.weight", {td, hq});
    l.mlp = GatedMLP{Linear{fuse({normal(p + "mlp.gate_proj.weight", {tc.intermediate_size, td}),
                                  normal(p + "mlp.up_proj.weight", {tc.intermediate_size, td})})},
                     Linear{normal(p + "mlp.down_proj.weight", {td, tc.intermediate_size})},
                     tc.hidden_act};
    decoder_layers.push_back(std::move(l));
  }
  norm = {ones(tm + "norm.weight", td), tc.rms_norm_eps};
  lm_head =
      config_.tie_word_embeddings ? embed_tokens : normal("lm_head.weight", {tc.vocab_size, td});

  const auto device_f32 = torch::TensorOptions().dtype(torch::kFloat32).device(options_.device());
  // as the reference computes it: integer exponents converted to fp32, divided by the width
  inv_freq = 1.0 / torch::pow(tc.rope_theta,
                              torch::arange(0, tc.head_dim, 2, torch::kInt64).to(torch::kFloat32) /
                                  tc.head_dim)
                       .to(device_f32);
}

torch::Tensor Idefics2Model::patch_positions(const torch::Tensor &patch_mask) const
{
  // Variable-resolution positions (NaViT): an image of h x w valid patches spreads them over the
  // whole position grid by bucketing fractional coordinates, computed as the reference does: in
  // fp32, grid index times (1 / h), clamped below one, bucketized against the grid boundaries.
  const std::int64_t per_side = config_.vision.image_size / config_.vision.patch_size;
  const auto mask = patch_mask.to(torch::kCPU).to(torch::kBool);
  const std::int64_t images = mask.size(0), rows = mask.size(1), cols = mask.size(2);
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  const auto boundaries = torch::arange(1.0 / per_side, 1.0, 1.0 / per_side, f32);
  const auto step_h = 1.0 / mask.select(2, 0).sum(1).to(torch::kFloat32);    // [images]
  const auto step_w = 1.0 / mask.select(1, 0).sum(1).to(torch::kFloat32);
  const auto bucket = [&](std::int64_t n, const torch::Tensor &step) {
    const auto coords =
        (torch::arange(n, f32).unsqueeze(0) * step.unsqueeze(1)).clamp_max(1.0 - 1e-6);
    return torch::bucketize(coords, boundaries, /*out_int32=*/false, /*right=*/true);
  };
  const auto ids =
      (bucket(rows, step_h).unsqueeze(2) * per_side + bucket(cols, step_w).unsqueeze(1))
          .reshape({images, -1});
  return ids.masked_fill(mask.reshape({images, -1}).logical_not(), 0).to(options_.device());
}

torch::Tensor Idefics2Model::vision_forward(const torch::Tensor &pixel_values,
                                            const torch::Tensor &patch_mask) const
{
  const auto &vc = config_.vision;
  const std::int64_t n = pixel_values.size(0);
  auto x = torch::conv2d(pixel_values, patch_embedding_weight, patch_embedding_bias, vc.patch_size)
               .flatten(2)
               .transpose(1, 2);
  x = x + position_embedding.index_select(0, patch_positions(patch_mask).reshape({-1}))
              .reshape({n, -1, vc.hidden_size});

  const std::int64_t len = x.size(1), heads = vc.num_attention_heads;
  const std::int64_t head_dim = vc.hidden_size / heads;
  const auto flat_mask = patch_mask.reshape({n, 1, 1, len}).to(options_.device());
  // all patches valid: no mask, so the fused kernel may take its fastest path
  const bool full = flat_mask.all().item<bool>();
  for (const auto &layer : vision_layers) {
    const auto qkv =
        layer.qkv(layer.layer_norm1(x)).view({n, len, 3, heads, head_dim}).permute({2, 0, 3, 1, 4});
    const auto attn =
        attend(qkv[0], qkv[1], qkv[2], full ? torch::Tensor() : flat_mask, false, attention);
    x = x + layer.out_proj(attn.transpose(1, 2).reshape({n, len, vc.hidden_size}));
    x = x + layer.fc2(activation(layer.fc1(layer.layer_norm2(x)), vc.hidden_act));
  }
  return post_layernorm(x);
}

torch::Tensor Idefics2Model::perceiver_forward(const torch::Tensor &context,
                                               const torch::Tensor &context_mask) const
{
  const auto &pc = config_.perceiver;
  const std::int64_t n = context.size(0), n_lat = pc.resampler_n_latents;
  const std::int64_t d = pc.resampler_head_dim;
  // keys and values come from the context and the latents together; every latent is a key
  const auto key_mask =
      torch::cat({context_mask.to(torch::kBool),
                  torch::ones({n, n_lat}, context_mask.options().dtype(torch::kBool))},
                 1)
          .reshape({n, 1, 1, -1});
  auto lat = latents.unsqueeze(0).expand({n, n_lat, latents.size(1)});
  for (const auto &layer : perceiver_layers) {
    const auto residual = lat;
    const auto normed_latents = layer.input_latents_norm(lat);
    const auto normed_context = layer.input_context_norm(context);
    const auto both = torch::cat({normed_context, normed_latents}, 1);
    const std::int64_t len = both.size(1);
    const auto q =
        layer.q_proj(normed_latents).view({n, n_lat, pc.resampler_n_heads, d}).transpose(1, 2);
    const auto kv =
        layer.kv_proj(both).view({n, len, 2, pc.num_key_value_heads, d}).permute({2, 0, 3, 1, 4});
    const auto attn = attend(q, kv[0], kv[1], key_mask, false, attention);
    lat = residual + layer.o_proj(attn.transpose(1, 2).reshape({n, n_lat, -1}));
    lat = lat + layer.mlp(layer.post_attention_layernorm(lat));
  }
  return perceiver_norm(lat);
}

torch::Tensor Idefics2Model::encode_images(const torch::Tensor &pixel_values,
                                           const torch::Tensor &pixel_mask) const
{
  const auto [features, patch_mask] = encode_patches(pixel_values, pixel_mask);
  return connect(features, patch_mask);
}

torch::Tensor Idefics2Model::connect(const torch::Tensor &patch_features,
                                     const torch::Tensor &patch_mask) const
{
  return perceiver_forward(modality_projection(patch_features), patch_mask);
}

std::pair<torch::Tensor, torch::Tensor>
Idefics2Model::encode_patches(const torch::Tensor &pixel_values,
                              const torch::Tensor &pixel_mask) const
{
  const auto &vc = config_.vision;
  auto pixels = pixel_values.to(options_);
  auto mask = pixel_mask.defined() ? pixel_mask.to(options_.device()).to(torch::kBool)
                                   : torch::ones({pixels.size(0), pixels.size(2), pixels.size(3)},
                                                 options_.dtype(torch::kBool));
  // all-zero images pad batches of samples with fewer images: the reference drops them
  const auto real = pixels.ne(0).flatten(1).any(1);
  if (!real.any().item<bool>())
    throw std::invalid_argument(
        "every image is all zeros after preprocessing (the reference takes such "
        "images for batch padding and drops them)");
  if (!real.all().item<bool>()) {
    const auto keep = real.nonzero().squeeze(1);
    pixels = pixels.index_select(0, keep);
    mask = mask.index_select(0, keep);
  }
  const std::int64_t p = vc.patch_size;
  const std::int64_t rows = pixels.size(2) / p, cols = pixels.size(3) / p;
  // A patch is valid when all its pixels are (transformers 5; earlier versions also counted
  // patches that padding covers in part).
  const auto patch_mask = mask.narrow(1, 0, rows * p)
                              .narrow(2, 0, cols * p)
                              .reshape({mask.size(0), rows, p, cols, p})
                              .all(4)
                              .all(2);
  if (!patch_mask.flatten(1).any(1).all().item<bool>())
    throw std::invalid_argument("an image is smaller than one patch of " + std::to_string(p) +
                                " pixels");
  return {vision_forward(pixels, patch_mask), patch_mask.reshape({mask.size(0), -1})};
}

torch::Tensor Idefics2Model::embed(const torch::Tensor &input_ids,
                                   const torch::Tensor &image_features) const
{
  const auto ids = input_ids.to(options_.device());
  auto embeds =
      embed_tokens.index_select(0, ids.reshape({-1})).reshape({ids.size(0), ids.size(1), -1});
  const auto is_image = ids.eq(config_.image_token_id);
  const auto slots = is_image.sum().item<std::int64_t>();
  const std::int64_t given =
      image_features.defined() ? image_features.size(0) * image_features.size(1) : 0;
  if (slots != given)
    throw std::invalid_argument("the prompt has " + std::to_string(slots) +
                                " image tokens but the images give " + std::to_string(given) +
                                " image embeddings");
  if (slots > 0)    // out of place: image features may carry gradients
    embeds = embeds.masked_scatter(
        is_image.unsqueeze(-1),
        image_features.to(embeds.scalar_type()).reshape({-1, embeds.size(-1)}));
  return embeds;
}

torch::Tensor Idefics2Model::embed_text(const torch::Tensor &input_ids) const
{
  const auto ids = input_ids.to(options_.device());
  return embed_tokens.index_select(0, ids.reshape({-1})).reshape({ids.size(0), ids.size(1), -1});
}

KVCache Idefics2Model::new_cache(std::int64_t batch, std::int64_t capacity) const
{
  const auto &tc = config_.text;
  KVCache cache;
  for (int i = 0; i < tc.num_hidden_layers; ++i) {
    cache.key.push_back(
        torch::zeros({batch, tc.num_key_value_heads, capacity, tc.head_dim}, options_));
    cache.value.push_back(
        torch::zeros({batch, tc.num_key_value_heads, capacity, tc.head_dim}, options_));
  }
  cache.valid = torch::zeros({batch, capacity}, options_.dtype(torch::kBool));
  return cache;
}

namespace {

// RoPE tables [.., d] from rotary positions, in the activation dtype as the reference casts
// them: cos, and sin with the sign of rotate_half folded in, so that a rotation is
// x * cos + roll(x, d/2) * signed_sin (three kernels instead of five).
std::pair<torch::Tensor, torch::Tensor> rope_tables(const torch::Tensor &freqs, torch::Dtype dtype)
{
  const auto angles = torch::cat({freqs, freqs}, -1);
  const auto sin = angles.sin();
  const auto half = freqs.size(-1);
  const auto signed_sin = torch::cat({-sin.narrow(-1, 0, half), sin.narrow(-1, half, half)}, -1);
  return {angles.cos().to(dtype), signed_sin.to(dtype)};
}

torch::Tensor rotate(const torch::Tensor &x, const torch::Tensor &cos,
                     const torch::Tensor &signed_sin)
{
  return torch::addcmul(x * cos, torch::roll(x, x.size(-1) / 2, -1), signed_sin);
}

// residual + projection(input); without bias or adapters one GEMM (the addition rides in its
// epilogue)
torch::Tensor linear_add(const torch::Tensor &residual, const torch::Tensor &input,
                         const Linear &projection)
{
  if (projection.bias.defined() || !projection.lora.empty()) return residual + projection(input);
  return torch::addmm(residual.reshape({-1, residual.size(-1)}),
                      input.reshape({-1, input.size(-1)}), projection.weight.t())
      .view(residual.sizes());
}

struct Attention {
  torch::Tensor q, k, v;    // [b, heads, t, d]; q and k rotated
};

// A decoder layer's queries, keys and values, in heads, from its fused projection [b, t,
// (heads + 2 kv heads) x d]; q and k lie side by side in it, so one rotation serves both.
Attention arrange_heads(const torch::Tensor &projected, const torch::Tensor &cos,
                        const torch::Tensor &signed_sin, const TextConfig &tc)
{
  const std::int64_t b = projected.size(0), t = projected.size(1);
  const std::int64_t hq = tc.num_attention_heads, hkv = tc.num_key_value_heads, d = tc.head_dim;
  const auto qkv = projected.split({(hq + hkv) * d, hkv * d}, -1);
  const auto qk = qkv[0].view({b, t, hq + hkv, d}).transpose(1, 2);
  const auto rotated = rotate(qk, cos, signed_sin);
  return {rotated.narrow(1, 0, hq), rotated.narrow(1, hq, hkv),
          qkv[1].view({b, t, hkv, d}).transpose(1, 2)};
}

// The same for x [b, t, hidden].
Attention attention_inputs(const DecoderLayer &layer, const torch::Tensor &x,
                           const torch::Tensor &cos, const torch::Tensor &signed_sin,
                           const TextConfig &tc)
{
  return arrange_heads(layer.qkv_proj(layer.input_layernorm(x)), cos, signed_sin, tc);
}

// The MLP of a decoder layer with its residual, for x [.., hidden].
torch::Tensor mlp_output(const DecoderLayer &layer, const torch::Tensor &x)
{
  return linear_add(x, layer.mlp.inner(layer.post_attention_layernorm(x)), layer.mlp.down);
}

// The rest of a decoder layer after attention: output projection and MLP, each with its residual.
torch::Tensor layer_output(const DecoderLayer &layer, const torch::Tensor &x,
                           const torch::Tensor &attn)
{
  const std::int64_t b = x.size(0), t = x.size(1);
  return mlp_output(layer, linear_add(x, attn.transpose(1, 2).reshape({b, t, -1}), layer.o_proj));
}

}    // namespace

torch::Tensor Idefics2Model::decode(const torch::Tensor &embeds, const torch::Tensor &positions,
                                    const torch::Tensor &valid, KVCache &cache) const
{
  const auto &tc = config_.text;
  const std::int64_t t = embeds.size(1);
  const std::int64_t start = cache.length, end = start + t;
  if (end > cache.capacity())
    throw std::length_error("the KV cache holds " + std::to_string(cache.capacity()) + " tokens; " +
                            std::to_string(end) + " were asked for");
  cache.valid.narrow(1, start, t).copy_(valid);

  // RoPE tables in fp32 from the positions, cast to the activation dtype as the reference does
  const auto freqs = positions.to(options_.device()).to(torch::kFloat32).unsqueeze(-1) * inv_freq;
  const auto [cos, signed_sin] =
      rope_tables(freqs.unsqueeze(1), embeds.scalar_type());    // [b, 1, t, d]

  // Which slots each query sees: earlier or equal slots, within the sliding window, and not
  // padding (a padding query sees itself only, so that no softmax row is empty).
  torch::Tensor mask;
  bool causal = false;
  const bool windowed = tc.sliding_window && end > *tc.sliding_window;
  if (!cache.padded && !windowed) {
    causal = t > 1 && start == 0;
    if (t > 1 && start > 0) mask = torch::ones({t, end}, cache.valid.options()).tril(start);
  } else {
    const auto opts = torch::TensorOptions().dtype(torch::kInt64).device(options_.device());
    const auto q_slot = torch::arange(start, end, opts).unsqueeze(1);
    const auto k_slot = torch::arange(0, end, opts).unsqueeze(0);
    auto allowed = k_slot.le(q_slot);
    if (windowed) allowed = allowed.logical_and(q_slot.sub(k_slot).lt(*tc.sliding_window));
    const auto key_ok = cache.valid.narrow(1, 0, end).unsqueeze(1);    // [b, 1, end]
    mask = allowed.unsqueeze(0)
               .logical_and(key_ok.logical_or(k_slot.eq(q_slot).unsqueeze(0)))
               .unsqueeze(1);
  }

  auto x = embeds;
  for (std::size_t i = 0; i < decoder_layers.size(); ++i) {
    const auto &layer = decoder_layers[i];
    const auto in = attention_inputs(layer, x, cos, signed_sin, tc);
    cache.key[i].narrow(2, start, t).copy_(in.k);
    cache.value[i].narrow(2, start, t).copy_(in.v);
    const auto attn = attend(in.q, cache.key[i].narrow(2, 0, end), cache.value[i].narrow(2, 0, end),
                             mask, causal, attention);
    x = layer_output(layer, x, attn);
  }
  cache.length = end;
  return norm(x);
}

torch::Tensor Idefics2Model::decode_step(const torch::Tensor &ids, const torch::Tensor &positions,
                                         const torch::Tensor &slot, KVCache &cache) const
{
  const auto &tc = config_.text;
  const std::int64_t b = ids.size(0), capacity = cache.capacity();
  auto x = embed_tokens.index_select(0, ids).unsqueeze(1);
  const auto freqs = positions.to(torch::kFloat32).unsqueeze(-1) * inv_freq;
  const auto [cos, signed_sin] = rope_tables(freqs.view({b, 1, 1, -1}), x.scalar_type());

  cache.valid.index_fill_(1, slot, true);
  const auto k_slot = torch::arange(capacity, slot.options());
  auto allowed = k_slot.le(slot);
  if (tc.sliding_window) allowed = allowed.logical_and(slot.sub(k_slot).lt(*tc.sliding_window));
  const auto mask = cache.valid.logical_and(allowed.unsqueeze(0)).view({b, 1, 1, capacity});

  for (std::size_t i = 0; i < decoder_layers.size(); ++i) {
    const auto &layer = decoder_layers[i];
    const auto in = attention_inputs(layer, x, cos, signed_sin, tc);
    cache.key[i].index_copy_(2, slot, in.k);
    cache.value[i].index_copy_(2, slot, in.v);
    x = layer_output(layer, x, attend(in.q, cache.key[i], cache.value[i], mask, false, attention));
  }
  return norm(x);
}

Idefics2Model::FullAttention Idefics2Model::full_attention_setup(std::int64_t t,
                                                                 torch::Dtype dtype) const
{
  const auto &tc = config_.text;
  const auto positions =
      torch::arange(t, torch::TensorOptions().dtype(torch::kFloat32).device(options_.device()));
  auto [cos, signed_sin] =
      rope_tables((positions.unsqueeze(-1) * inv_freq).view({1, 1, t, -1}), dtype);
  FullAttention out{std::move(cos), std::move(signed_sin), {}, t > 1};
  if (tc.sliding_window && t > *tc.sliding_window) {
    const auto slot = torch::arange(t, positions.options().dtype(torch::kInt64));
    const auto back = slot.unsqueeze(1) - slot.unsqueeze(0);    // query slot - key slot
    out.mask = back.ge(0).logical_and(back.lt(*tc.sliding_window));
    out.causal = false;
  }
  return out;
}

torch::Tensor Idefics2Model::decode_full(const torch::Tensor &embeds) const
{
  const auto &tc = config_.text;
  const auto [cos, signed_sin, mask, causal] =
      full_attention_setup(embeds.size(1), embeds.scalar_type());
  auto x = embeds;
  for (const auto &layer : decoder_layers) {
    const auto in = attention_inputs(layer, x, cos, signed_sin, tc);
    x = layer_output(layer, x, attend(in.q, in.k, in.v, mask, causal, attention));
  }
  return norm(x);
}

torch::Tensor Idefics2Model::decode_full(const torch::Tensor &embeds,
                                         const torch::Tensor &tokens) const
{
  const auto &tc = config_.text;
  const std::int64_t b = embeds.size(0), t = embeds.size(1);
  const auto [cos, signed_sin, mask, causal] = full_attention_setup(t, embeds.scalar_type());
  // the residual stream holds the real tokens only [n, hidden]; attention alone sees the batch
  // as rows of T slots, the padding slots zero and, right of every real token, never attended
  auto x = embeds.reshape({b * t, -1}).index_select(0, tokens);
  for (const auto &layer : decoder_layers) {
    const auto projected = layer.qkv_proj(layer.input_layernorm(x));
    const auto in = arrange_heads(torch::zeros({b * t, projected.size(1)}, projected.options())
                                      .index_copy(0, tokens, projected)
                                      .view({b, t, -1}),
                                  cos, signed_sin, tc);
    const auto attn = attend(in.q, in.k, in.v, mask, causal, attention);
    x = mlp_output(layer,
                   linear_add(x, attn.transpose(1, 2).reshape({b * t, -1}).index_select(0, tokens),
                              layer.o_proj));
  }
  return norm(x);
}

torch::Tensor Idefics2Model::logits(const torch::Tensor &hidden) const
{
  return torch::linear(hidden, lm_head).to(torch::kFloat32);
}

torch::Tensor Idefics2Model::forward(const torch::Tensor &input_ids,
                                     const torch::Tensor &pixel_values,
                                     const torch::Tensor &pixel_mask) const
{
  const auto features =
      pixel_values.defined() ? encode_images(pixel_values, pixel_mask) : torch::Tensor();
  return logits(decode_full(embed(input_ids, features)));
}

std::vector<std::pair<std::string, torch::Tensor>> Idefics2Model::checkpoint_tensors() const
{
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const auto &parameter : parameters_) {
    std::int64_t row = 0;
    for (const auto &[name, rows] : parameter.parts) {
      named.emplace_back(name, parameter.parts.size() == 1 ? parameter.tensor
                                                           : parameter.tensor.narrow(0, row, rows));
      row += rows;
    }
  }
  return named;
}

std::vector<AdaptableProjection> Idefics2Model::adaptable_projections()
{
  std::vector<AdaptableProjection> found;
  const auto add = [&](Linear &linear, const std::string &group) {
    for (const auto &parameter : parameters_) {
      if (!parameter.tensor.is_same(linear.weight)) continue;
      AdaptableProjection projection{&linear, group, {}};
      for (const auto &[name, rows] : parameter.parts)    // "....q_proj.weight" -> "....q_proj"
        projection.modules.emplace_back(name.substr(0, name.size() - 7), rows);
      found.push_back(std::move(projection));
      return;
    }
  };
  for (auto &l : vision_layers)
    for (Linear *linear : {&l.qkv, &l.out_proj, &l.fc1, &l.fc2}) add(*linear, "vision");
  add(modality_projection.gate_up, "connector");
  add(modality_projection.down, "connector");
  for (auto &l : perceiver_layers)
    for (Linear *linear : {&l.q_proj, &l.kv_proj, &l.o_proj, &l.mlp.gate_up, &l.mlp.down})
      add(*linear, "connector");
  for (auto &l : decoder_layers)
    for (Linear *linear : {&l.qkv_proj, &l.o_proj, &l.mlp.gate_up, &l.mlp.down})
      add(*linear, "text");
  return found;
}

std::int64_t Idefics2Model::decoder_bytes_per_token() const
{
  // every decoder weight once, the final norm and lm_head; one embedding row is negligible
  std::int64_t elements = norm.weight.numel() + lm_head.numel();
  for (const auto &l : decoder_layers)
    elements += l.input_layernorm.weight.numel() * 2 + l.qkv_proj.weight.numel() +
                l.o_proj.weight.numel() + l.mlp.gate_up.weight.numel() + l.mlp.down.weight.numel();
  return elements * static_cast<std::int64_t>(embed_tokens.element_size());
}

}    // namespace cephalo::models
