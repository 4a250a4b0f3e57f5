// Exact summary statistics of a per-atom field that is spread over MPI ranks.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <vector>

namespace cephalo::plugin {

// Population statistics (numpy conventions: ddof = 0 for the standard deviation, linear
// interpolation between order statistics for quantiles). All values are NaN when the field
// has no values on any rank.
struct FieldStats {
  std::int64_t count = 0;
  double mean = 0.0;
  double median = 0.0;
  double stdev = 0.0;
  double max = 0.0;
  double p95 = 0.0;
};

// Collective over `comm`. Each rank passes its own values; every rank gets the same result,
// independent of how the values are distributed over the ranks (up to the round-off of the
// sums behind mean and stdev; the order statistics are exact).
FieldStats summarize_field(const std::vector<double> &local, MPI_Comm comm);

// Collective. The values of the given ranks (0-based k-th smallest) among all values on all
// ranks, found exactly by histogram refinement: no rank ever holds more than its own values plus
// a small candidate set, and all ranks are searched for in the same collectives.
// Throws std::out_of_range unless 0 <= k < global count for every k.
std::vector<double> select_ranks(const std::vector<double> &local,
                                 const std::vector<std::int64_t> &ranks, MPI_Comm comm);

// Collective. select_ranks for one rank.
double select_kth(const std::vector<double> &local, std::int64_t k, MPI_Comm comm);

// Collective. Quantile q in [0, 1] with linear interpolation (numpy's default method).
double quantile(const std::vector<double> &local, double q, MPI_Comm comm);

}    // namespace cephalo::plugin
