// Choosing the next token from logits: greedy, or temperature with top-k and top-p, from a
// per-request seeded generator so that a seed reproduces a sample.
#pragma once

#include "cephalo/models/runtime.h"
#include "cephalo/models/tokenizer.h"

#include <torch/torch.h>

#include <array>
#include <functional>
#include <optional>
#include <random>
#include <utility>
#include <vector>

namespace cephalo::models {

// The tokens "0" to "9" and "." of a tokenizer that gives every digit a token of its own.
struct DigitTokens {
  std::array<int, 10> digit{};
  int point = -1;
  int digit_of(int token) const;    // 0 to 9, or -1 for any other token
  // nullopt where a digit or the point has no token of its own
  static std::optional<DigitTokens> of(const Tokenizer &tokenizer);
};

// Where a request's greedy decoding stands within a number, for NumberDecoding::median.
struct NumberCursor {
  bool after_digit = false;    // the last token was a digit
  bool in_fraction = false;    // and the number has had its point
  double quantile = 0.5;       // within what the fraction's places still to come may hold
  // Moves past the chosen token: a point after a digit starts a fraction at its median.
  void advance(int token, const DigitTokens &digits);
};

// The digit at quantile q of the place's probabilities p (summing to 1), and q within that
// digit's share, for the next place.
std::pair<int, double> digit_at_quantile(const std::array<double, 10> &p, double q);

struct Sampler {
  const SamplingParams *params;
  std::mt19937_64 *rng;
  NumberCursor *number = nullptr;         // with digits: the request's place in a number
  const DigitTokens *digits = nullptr;    // nullptr: numbers are decoded as the mode
};

// One token per row of `logits` [rows, vocab]. Greedy rows are decided on the device (one small
// copy back); sampled rows on the CPU. A greedy row decoding numbers as the median reads its ten
// digit logits where its argmax is a digit of a fraction. Every row's number cursor advances.
std::vector<int> choose_tokens(const torch::Tensor &logits,
                               const std::function<Sampler(std::size_t row)> &sampler_of);

// Samples from one row of fp32 logits with the request's temperature, top-k and top-p.
int sample_token(const float *logits, std::int64_t vocab, const SamplingParams &params,
                 std::mt19937_64 &rng);

}    // namespace cephalo::models
