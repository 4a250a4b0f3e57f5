// Greedy and sampled token choice.
#include "sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

namespace cephalo::models {

const char *number_decoding_name(NumberDecoding numbers)
{
  return numbers == NumberDecoding::median ? "median" : "mode";
}

NumberDecoding parse_number_decoding(std::string_view name)
{
  if (name == "mode") return NumberDecoding::mode;
  if (name == "median") return NumberDecoding::median;
  throw std::invalid_argument("numbers must be \"mode\" or \"median\", not \"" + std::string(name) +
                              "\"");
}

int DigitTokens::digit_of(int token) const
{
  for (int d = 0; d < 10; ++d)
    if (digit[static_cast<std::size_t>(d)] == token) return d;
  return -1;
}

std::optional<DigitTokens> DigitTokens::of(const Tokenizer &tokenizer)
{
  DigitTokens t;
  for (int d = 0; d < 10; ++d) {
    const int id = tokenizer.token_id(std::string(1, static_cast<char>('0' + d)));
    if (id < 0) return std::nullopt;
    t.digit[static_cast<std::size_t>(d)] = id;
  }
  t.point = tokenizer.token_id(".");
  if (t.point < 0) return std::nullopt;
  return t;
}

void NumberCursor::advance(int token, const DigitTokens &digits)
{
  if (digits.digit_of(token) >= 0) {
    after_digit = true;
  } else if (token == digits.point && after_digit && !in_fraction) {
    in_fraction = true;
    after_digit = false;
    quantile = 0.5;
  } else {
    after_digit = in_fraction = false;
  }
}

std::pair<int, double> digit_at_quantile(const std::array<double, 10> &p, double q)
{
  double below = 0;
  int last = 0;    // the highest digit with any probability: where rounding leaves q past 1
  for (int d = 0; d < 10; ++d) {
    const double share = p[static_cast<std::size_t>(d)];
    if (!(share > 0)) continue;
    last = d;
    if (q <= below + share) return {d, std::clamp((q - below) / share, 0.0, 1.0)};
    below += share;
  }
  return {last, 1.0};
}

namespace {

// A greedy row decoding numbers as the median, whose argmax is a digit of a fraction: the digit
// at the cursor's quantile of the ten digits' probabilities (softmax over them alone: the argmax
// already says that a digit comes).
int median_digit(const float *digit_logits, NumberCursor &cursor, const DigitTokens &digits)
{
  std::array<double, 10> p{};
  double top = -std::numeric_limits<double>::infinity();
  for (std::size_t d = 0; d < 10; ++d)
    if (std::isfinite(digit_logits[d])) top = std::max(top, static_cast<double>(digit_logits[d]));
  double total = 0;
  for (std::size_t d = 0; d < 10; ++d)
    total += p[d] = std::isfinite(digit_logits[d]) ? std::exp(digit_logits[d] - top) : 0.0;
  if (!(total > 0)) return -1;
  for (double &v : p) v /= total;
  const auto [digit, within] = digit_at_quantile(p, cursor.quantile);
  cursor.quantile = within;
  return digits.digit[static_cast<std::size_t>(digit)];
}

}    // namespace

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
  torch::Tensor host;    // the logits on the CPU in fp32, where some row is sampled
  if (all_greedy) {
    const auto best = logits.argmax(-1).to(torch::kCPU);
    for (std::size_t r = 0; r < rows; ++r)
      tokens[r] = static_cast<int>(best[static_cast<std::int64_t>(r)].item<std::int64_t>());
  } else {
    host = logits.to(torch::kCPU, torch::kFloat32).contiguous();
    const std::int64_t vocab = host.size(1);
    for (std::size_t r = 0; r < rows; ++r) {
      const Sampler s = sampler_of(r);
      tokens[r] = sample_token(host.data_ptr<float>() + static_cast<std::int64_t>(r) * vocab, vocab,
                               *s.params, *s.rng);
    }
  }
  // greedy rows decoding numbers at the median whose choice is a digit of a fraction: their ten
  // digit logits, in one copy for the batch
  std::vector<std::size_t> median_rows;
  const DigitTokens *digits = nullptr;
  for (std::size_t r = 0; r < rows; ++r) {
    const Sampler s = sampler_of(r);
    if (s.number && s.digits && s.params->numbers == NumberDecoding::median &&
        s.params->temperature <= 0 && s.number->in_fraction && s.digits->digit_of(tokens[r]) >= 0) {
      median_rows.push_back(r);
      digits = s.digits;
    }
  }
  if (!median_rows.empty()) {
    const auto &source = host.defined() ? host : logits;
    const auto index =
        torch::tensor(std::vector<std::int64_t>(digits->digit.begin(), digits->digit.end()));
    const auto digit_logits = source.index_select(1, index.to(source.device()))
                                  .to(torch::kCPU, torch::kFloat32)
                                  .contiguous();
    for (const std::size_t r : median_rows) {
      const Sampler s = sampler_of(r);
      const int token = median_digit(digit_logits.data_ptr<float>() + 10 * r, *s.number, *digits);
      if (token >= 0) tokens[r] = token;
    }
  }
  for (std::size_t r = 0; r < rows; ++r) {
    const Sampler s = sampler_of(r);
    if (s.number && s.digits) s.number->advance(tokens[r], *s.digits);
  }
  return tokens;
}

}    // namespace cephalo::models
