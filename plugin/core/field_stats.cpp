// Exact distributed order statistics by histogram refinement (see field_stats.h).
#include "field_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace cephalo::plugin {
namespace {

// 512 bins shrink a candidate set by about 500x per round for smooth fields: a million values
// need one round before the survivors are few enough to gather. Up to kGatherLimit values
// (256 KiB) are gathered at once, which is cheaper than histogram rounds of collectives.
constexpr int kBins = 512;
constexpr std::int64_t kGatherLimit = 32768;
constexpr int kMaxRounds = 32;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::int64_t global_count(std::size_t n, MPI_Comm comm)
{
  long long mine = static_cast<long long>(n), total = 0;
  MPI_Allreduce(&mine, &total, 1, MPI_LONG_LONG, MPI_SUM, comm);
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

// One order statistic being searched for: its rank among the remaining candidates.
struct Target {
  std::int64_t k;
  std::int64_t count;    // candidates left on all ranks
  std::vector<double> candidates;
  bool resolved = false;
  double value = 0.0;
};

}    // namespace

std::vector<double> select_ranks(const std::vector<double> &local,
                                 const std::vector<std::int64_t> &ranks, MPI_Comm comm)
{
  const std::int64_t total = global_count(local.size(), comm);
  std::vector<Target> targets;
  for (std::int64_t k : ranks) {
    if (k < 0 || k >= total)
      throw std::out_of_range("select_ranks: rank " + std::to_string(k) + " outside 0.." +
                              std::to_string(total - 1));
    targets.push_back({k, total, {}});
  }

  // Until the first refinement every target's candidates are all local values (not copied).
  bool shared = true;
  auto candidates_of = [&](const Target &t) -> const std::vector<double> & {
    return shared ? local : t.candidates;
  };
  std::vector<double> bounds;
  std::vector<long long> histograms;
  for (int round = 0; round < kMaxRounds; ++round) {
    std::vector<Target *> refine;
    for (auto &t : targets)
      if (!t.resolved && t.count > kGatherLimit) refine.push_back(&t);
    if (refine.empty()) break;

    // all targets refined in one pair of collectives: their bounds, then their histograms
    bounds.assign(2 * refine.size(), std::numeric_limits<double>::infinity());
    for (std::size_t r = 0; r < refine.size(); ++r)
      for (double v : candidates_of(*refine[r])) {
        bounds[2 * r] = std::min(bounds[2 * r], v);
        bounds[2 * r + 1] = std::min(bounds[2 * r + 1], -v);
      }
    MPI_Allreduce(MPI_IN_PLACE, bounds.data(), static_cast<int>(bounds.size()), MPI_DOUBLE, MPI_MIN,
                  comm);

    histograms.assign(refine.size() * kBins, 0LL);
    std::vector<double> scales(refine.size());
    for (std::size_t r = 0; r < refine.size(); ++r) {
      const double lo = bounds[2 * r], hi = -bounds[2 * r + 1];
      // Non-finite products (huge ranges) land in the last bin; kMaxRounds still ends the
      // search in the exact gather below.
      scales[r] = lo < hi ? kBins / (hi - lo) : 0.0;
      for (double v : candidates_of(*refine[r])) {
        const double b = (v - lo) * scales[r];
        const int bin = !(b < kBins) ? kBins - 1 : (b < 0.0 ? 0 : static_cast<int>(b));
        ++histograms[r * kBins + bin];
      }
    }
    MPI_Allreduce(MPI_IN_PLACE, histograms.data(), static_cast<int>(histograms.size()),
                  MPI_LONG_LONG, MPI_SUM, comm);

    std::vector<std::vector<double>> kept(refine.size());
    for (std::size_t r = 0; r < refine.size(); ++r) {
      Target &t = *refine[r];
      const double lo = bounds[2 * r], hi = -bounds[2 * r + 1];
      if (!(lo < hi)) {    // every candidate is equal
        t.resolved = true;
        t.value = lo;
        continue;
      }
      const long long *histogram = &histograms[r * kBins];
      int bin = 0;
      while (t.k >= histogram[bin]) t.k -= histogram[bin++];
      t.count = histogram[bin];
      for (double v : candidates_of(t)) {
        const double b = (v - lo) * scales[r];
        const int vbin = !(b < kBins) ? kBins - 1 : (b < 0.0 ? 0 : static_cast<int>(b));
        if (vbin == bin) kept[r].push_back(v);
      }
    }
    for (std::size_t r = 0; r < refine.size(); ++r)
      if (!refine[r]->resolved) refine[r]->candidates = std::move(kept[r]);
    if (shared)    // targets that needed no refinement still take all local values
      for (auto &t : targets)
        if (std::find(refine.begin(), refine.end(), &t) == refine.end()) t.candidates = local;
    shared = false;
  }

  // Gather the remaining candidates of all unresolved targets in one collective and pick.
  std::vector<Target *> open;
  for (auto &t : targets)
    if (!t.resolved) open.push_back(&t);
  if (!open.empty()) {
    int nprocs = 1;
    MPI_Comm_size(comm, &nprocs);
    const int parts = shared ? 1 : static_cast<int>(open.size());
    std::vector<int> mine(parts);
    std::vector<double> send;
    for (int p = 0; p < parts; ++p) {
      const auto &c = candidates_of(*open[p]);
      mine[p] = static_cast<int>(c.size());
      send.insert(send.end(), c.begin(), c.end());
    }
    std::vector<int> counts(static_cast<std::size_t>(nprocs) * parts);
    MPI_Allgather(mine.data(), parts, MPI_INT, counts.data(), parts, MPI_INT, comm);
    std::vector<int> sizes(nprocs, 0), displs(nprocs, 0);
    long long all_size = 0;
    for (int q = 0; q < nprocs; ++q) {
      for (int p = 0; p < parts; ++p) sizes[q] += counts[q * parts + p];
      displs[q] = static_cast<int>(all_size);
      all_size += sizes[q];
    }
    if (all_size > std::numeric_limits<int>::max())
      throw std::overflow_error("select_ranks: candidate set too large to gather");
    std::vector<double> all(static_cast<std::size_t>(all_size));
    MPI_Allgatherv(send.data(), static_cast<int>(send.size()), MPI_DOUBLE, all.data(), sizes.data(),
                   displs.data(), MPI_DOUBLE, comm);
    for (int p = 0; p < parts; ++p) {
      std::vector<double> pool;
      for (int q = 0; q < nprocs; ++q) {
        int offset = displs[q];
        for (int before = 0; before < p; ++before) offset += counts[q * parts + before];
        pool.insert(pool.end(), all.begin() + offset, all.begin() + offset + counts[q * parts + p]);
      }
      // with shared candidates one pool serves every target
      for (std::size_t o = 0; o < open.size(); ++o) {
        if (!shared && static_cast<int>(o) != p) continue;
        Target &t = *open[o];
        std::nth_element(pool.begin(), pool.begin() + t.k, pool.end());
        t.value = pool[static_cast<std::size_t>(t.k)];
        t.resolved = true;
      }
    }
  }

  std::vector<double> values;
  for (const auto &t : targets) values.push_back(t.value);
  return values;
}

double select_kth(const std::vector<double> &local, std::int64_t k, MPI_Comm comm)
{
  return select_ranks(local, {k}, comm)[0];
}

namespace {

// The ranks a linear-interpolation quantile needs, and how to combine their values.
struct QuantilePlan {
  std::int64_t below;
  double fraction;
};

QuantilePlan plan_quantile(double q, std::int64_t n)
{
  const double position = q * static_cast<double>(n - 1);
  const auto below = static_cast<std::int64_t>(std::floor(position));
  return {below, position - static_cast<double>(below)};
}

}    // namespace

double quantile(const std::vector<double> &local, double q, MPI_Comm comm)
{
  const std::int64_t n = global_count(local.size(), comm);
  if (n == 0) return kNaN;
  const QuantilePlan plan = plan_quantile(q, n);
  const std::int64_t above = std::min(plan.below + 1, n - 1);
  const auto v = select_ranks(local, {plan.below, above}, comm);
  return plan.fraction == 0.0 ? v[0] : v[0] + plan.fraction * (v[1] - v[0]);
}

FieldStats summarize_field(const std::vector<double> &local, MPI_Comm comm)
{
  FieldStats stats;
  double sums[3] = {static_cast<double>(local.size()),
                    static_cast<double>(std::count_if(local.begin(), local.end(),
                                                      [](double v) { return std::isnan(v); })),
                    local_sum(local, [](double v) { return v; })};
  MPI_Allreduce(MPI_IN_PLACE, sums, 3, MPI_DOUBLE, MPI_SUM, comm);
  stats.count = static_cast<std::int64_t>(sums[0]);
  if (stats.count == 0 || sums[1] > 0.0) {
    stats.mean = stats.median = stats.stdev = stats.max = stats.p95 = kNaN;
    return stats;
  }
  const auto n = static_cast<double>(stats.count);
  stats.mean = sums[2] / n;
  const double mean = stats.mean;
  double squares = local_sum(local, [mean](double v) { return (v - mean) * (v - mean); });
  MPI_Allreduce(MPI_IN_PLACE, &squares, 1, MPI_DOUBLE, MPI_SUM, comm);
  stats.stdev = std::sqrt(squares / n);

  double mymax = -std::numeric_limits<double>::infinity();
  for (double v : local) mymax = std::max(mymax, v);
  MPI_Allreduce(&mymax, &stats.max, 1, MPI_DOUBLE, MPI_MAX, comm);

  // median and 95th percentile from one search for their four order statistics
  const QuantilePlan median = plan_quantile(0.5, stats.count),
                     p95 = plan_quantile(0.95, stats.count);
  const std::int64_t last = stats.count - 1;
  const auto v = select_ranks(
      local,
      {median.below, std::min(median.below + 1, last), p95.below, std::min(p95.below + 1, last)},
      comm);
  stats.median = median.fraction == 0.0 ? v[0] : v[0] + median.fraction * (v[1] - v[0]);
  stats.p95 = p95.fraction == 0.0 ? v[2] : v[2] + p95.fraction * (v[3] - v[2]);
  return stats;
}

}    // namespace cephalo::plugin
