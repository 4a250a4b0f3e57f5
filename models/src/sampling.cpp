// Greedy and sampled token choice.
#include "sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace cephalo::models {

int sample_token(const float *logits, std::int64_t vocab, const SamplingParams &params,
                 std::mt19937_64 &rng)
{
  // NaN (a broken checkpoint) ranks last, so that the orderings below stay strict
  const auto score = [&](int i) {
    const float v = logits[i];
    return std::isnan(v) ? -std::numeric_limits<float>::infinity() : v;
  };
  std::vector<int> order(static_cast<std::size_t>(vocab));
  std::iota(order.begin(), order.end(), 0);
  const auto higher = [&](int a, int b) {
    return score(a) > score(b) || (score(a) == score(b) && a < b);
  };
  if (params.temperature <= 0) return *std::min_element(order.begin(), order.end(), higher);
  std::size_t kept = order.size();
  if (params.top_k > 0 && static_cast<std::size_t>(params.top_k) < kept) {
    kept = static_cast<std::size_t>(params.top_k);
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(kept), order.end(),
                      higher);
  } else {
    std::sort(order.begin(), order.end(), higher);
  }
  // softmax of logits / temperature over the kept tokens, in double
  std::vector<double> probs(kept);
  const double top = score(order[0]) / params.temperature;
  double total = 0;
  for (std::size_t i = 0; i < kept; ++i)
    total += probs[i] =
        std::isfinite(top) ? std::exp(score(order[i]) / params.temperature - top) : 0.0;
  // top-p: the smallest prefix whose probability reaches p (at least one token)
  if (params.top_p < 1.0) {
    double cumulative = 0;
    std::size_t n = 0;
    while (n < kept && cumulative < params.top_p * total) cumulative += probs[n++];
    kept = std::max<std::size_t>(n, 1);
    total = std::accumulate(probs.begin(), probs.begin() + static_cast<std::ptrdiff_t>(kept), 0.0);
  }
  if (!(total > 0) || !std::isfinite(total)) return order[0];    // no finite logit: the first
  std::uniform_real_distribution<double> uniform(0.0, total);
  double u = uniform(rng);
  for (std::size_t i = 0; i < kept; ++i) {
    if (u < probs[i]) return order[i];
    u -= probs[i];
  }
  return order[kept - 1];
}

std::vector<int> choose_tokens(const torch::Tensor &logits,
                               const std::function<Sampler(std::size_t row)> &sampler_of)
{
  const auto rows = static_cast<std::size_t>(logits.size(0));
  bool all_greedy = true;
  for (std::size_t r = 0; r < rows; ++r)
    all_greedy = all_greedy && sampler_of(r).params->temperature <= 0;
  std::vector<int> tokens(rows);
  if (all_greedy) {
    const auto best = logits.argmax(-1).to(torch::kCPU);
    for (std::size_t r = 0; r < rows; ++r)
      tokens[r] = static_cast<int>(best[static_cast<std::int64_t>(r)].item<std::int64_t>());
    return tokens;
  }
  const auto host = logits.to(torch::kCPU, torch::kFloat32).contiguous();
  const std::int64_t vocab = host.size(1);
  for (std::size_t r = 0; r < rows; ++r) {
    const Sampler s = sampler_of(r);
    tokens[r] = sample_token(host.data_ptr<float>() + static_cast<std::int64_t>(r) * vocab, vocab,
                             *s.params, *s.rng);
  }
  return tokens;
}

}    // namespace cephalo::models
