// Choosing the next token from logits: greedy, or temperature with top-k and top-p, from a
// per-request seeded generator so that a seed reproduces a sample.
#pragma once

#include "cephalo/models/runtime.h"

#include <torch/torch.h>

#include <functional>
#include <random>
#include <vector>

namespace cephalo::models {

struct Sampler {
  const SamplingParams *params;
  std::mt19937_64 *rng;
};

// One token per row of `logits` [rows, vocab]. Greedy rows are decided on the device (one small
// copy back); sampled rows on the CPU.
std::vector<int> choose_tokens(const torch::Tensor &logits,
                               const std::function<Sampler(std::size_t row)> &sampler_of);

// Samples from one row of fp32 logits with the request's temperature, top-k and top-p.
int sample_token(const float *logits, std::int64_t vocab, const SamplingParams &params,
                 std::mt19937_64 &rng);

}    // namespace cephalo::models
