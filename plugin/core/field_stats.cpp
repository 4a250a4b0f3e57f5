// Exact distributed order statistics by histogram refinement (see field_stats.h).
#include "field_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace cephalo::plugin {
namespace {

// 512 bins shrink the candidate set by about 500x per round for smooth fields, so a million
// values need two rounds before the survivors are few enough to gather.
constexpr int kBins = 512;
constexpr std::int64_t kGatherLimit = 4096;
constexpr int kMaxRounds = 32;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::int64_t global_count(std::size_t n, MPI_Comm comm)
{
  long long mine = static_cast<long long>(n), total = 0;
  MPI_Allreduce(&mine, &total, 1, MPI_LONG_LONG, MPI_SUM, comm);
  return total;
}

double global_sum(double mine, MPI_Comm comm)
{
  double total = 0.0;
  MPI_Allreduce(&mine, &total, 1, MPI_DOUBLE, MPI_SUM, comm);
  return total;
}

// Kahan summation keeps the local part of mean and variance accurate for millions of atoms.
template <class F> double local_sum(const std::vector<double> &values, F term)
{
  double sum = 0.0, carry = 0.0;
  for (double v : values) {
    const double y = term(v) - carry;
    const double t = sum + y;
    carry = (t - sum) - y;
    sum = t;
  }
  return sum;
}

double gather_and_pick(const std::vector<double> &candidates, std::int64_t k, MPI_Comm comm)
{
  int nprocs = 1;
  MPI_Comm_size(comm, &nprocs);
  int mine = static_cast<int>(candidates.size());
  std::vector<int> counts(nprocs), displs(nprocs, 0);
  MPI_Allgather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, comm);
  long long total = 0;
  for (int p = 0; p < nprocs; ++p) {
    displs[p] = static_cast<int>(total);
    total += counts[p];
  }
  if (total > std::numeric_limits<int>::max())
    throw std::overflow_error("select_kth: candidate set too large to gather");
  std::vector<double> all(static_cast<std::size_t>(total));
  MPI_Allgatherv(candidates.data(), mine, MPI_DOUBLE, all.data(), counts.data(), displs.data(),
                 MPI_DOUBLE, comm);
  std::nth_element(all.begin(), all.begin() + k, all.end());
  return all[static_cast<std::size_t>(k)];
}

}    // namespace

double select_kth(const std::vector<double> &local, std::int64_t k, MPI_Comm comm)
{
  std::vector<double> candidates(local);
  std::int64_t total = global_count(candidates.size(), comm);
  if (k < 0 || k >= total)
    throw std::out_of_range("select_kth: rank " + std::to_string(k) + " outside 0.." +
                            std::to_string(total - 1));

  std::vector<long long> histogram(kBins);
  for (int round = 0; total > kGatherLimit && round < kMaxRounds; ++round) {
    double bounds[2] = {std::numeric_limits<double>::infinity(),
                        std::numeric_limits<double>::infinity()};
    for (double v : candidates) {
      bounds[0] = std::min(bounds[0], v);
      bounds[1] = std::min(bounds[1], -v);
    }
    MPI_Allreduce(MPI_IN_PLACE, bounds, 2, MPI_DOUBLE, MPI_MIN, comm);
    const double lo = bounds[0], hi = -bounds[1];
    if (!(lo < hi)) return lo;    // every candidate is equal

    // Non-finite products (huge ranges) land in the last bin; the loop still terminates
    // because kMaxRounds ends in the exact gather below.
    const double scale = kBins / (hi - lo);
    auto bin_of = [lo, scale](double v) {
      const double b = (v - lo) * scale;
      if (!(b < kBins)) return kBins - 1;
      return b < 0.0 ? 0 : static_cast<int>(b);
    };

    std::fill(histogram.begin(), histogram.end(), 0LL);
    for (double v : candidates) ++histogram[bin_of(v)];
    MPI_Allreduce(MPI_IN_PLACE, histogram.data(), kBins, MPI_LONG_LONG, MPI_SUM, comm);

    int bin = 0;
    while (k >= histogram[bin]) k -= histogram[bin++];
    candidates.erase(std::remove_if(candidates.begin(), candidates.end(),
                                    [&](double v) { return bin_of(v) != bin; }),
                     candidates.end());
    total = histogram[bin];
  }
  return gather_and_pick(candidates, k, comm);
}

double quantile(const std::vector<double> &local, double q, MPI_Comm comm)
{
  const std::int64_t n = global_count(local.size(), comm);
  if (n == 0) return kNaN;
  const double position = q * static_cast<double>(n - 1);
  const auto below = static_cast<std::int64_t>(std::floor(position));
  const double fraction = position - static_cast<double>(below);
  const double low = select_kth(local, below, comm);
  if (fraction == 0.0 || below + 1 >= n) return low;
  const double high = select_kth(local, below + 1, comm);
  return low + fraction * (high - low);
}

FieldStats summarize_field(const std::vector<double> &local, MPI_Comm comm)
{
  FieldStats stats;
  stats.count = global_count(local.size(), comm);
  int has_nan = std::any_of(local.begin(), local.end(), [](double v) { return std::isnan(v); });
  MPI_Allreduce(MPI_IN_PLACE, &has_nan, 1, MPI_INT, MPI_MAX, comm);
  if (stats.count == 0 || has_nan) {
    stats.mean = stats.median = stats.stdev = stats.max = stats.p95 = kNaN;
    return stats;
  }
  const auto n = static_cast<double>(stats.count);
  stats.mean = global_sum(local_sum(local, [](double v) { return v; }), comm) / n;
  const double mean = stats.mean;
  const double squares =
      global_sum(local_sum(local, [mean](double v) { return (v - mean) * (v - mean); }), comm);
  stats.stdev = std::sqrt(squares / n);

  double mymax = -std::numeric_limits<double>::infinity();
  for (double v : local) mymax = std::max(mymax, v);
  MPI_Allreduce(&mymax, &stats.max, 1, MPI_DOUBLE, MPI_MAX, comm);

  stats.median = quantile(local, 0.5, comm);
  stats.p95 = quantile(local, 0.95, comm);
  return stats;
}

}    // namespace cephalo::plugin
