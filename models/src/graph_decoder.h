// Decode steps replayed from a captured CUDA graph: one launch per token instead of the
// thousand-odd kernel launches of an eager step, whose launch cost, not memory bandwidth,
// otherwise bounds decoding of a batch on a fast GPU.
#pragma once

#include "idefics2_model.h"

#include <memory>

namespace cephalo::models {

class GraphDecoder {
 public:
  // Whether this build and this model's device can capture graphs (CUDA libtorch, CUDA device).
  static bool supported(const Idefics2Model &model);

  // Captures one decode step of `cache.batch()` rows over the cache's whole capacity. The model
  // and the cache must outlive the decoder; the cache's rows must not change while it is used.
  GraphDecoder(const Idefics2Model &model, KVCache &cache);
  ~GraphDecoder();
  GraphDecoder(const GraphDecoder &) = delete;
  GraphDecoder &operator=(const GraphDecoder &) = delete;

  // Feeds one token per row (host ids and rotary positions) at slot cache.length and advances
  // it. Returns fp32 logits [batch, vocab] in a buffer the next step overwrites.
  torch::Tensor step(const std::vector<std::int64_t> &ids,
                     const std::vector<std::int64_t> &positions);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}    // namespace cephalo::models
