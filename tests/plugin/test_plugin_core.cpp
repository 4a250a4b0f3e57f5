// The plugin's plain C++/MPI helpers. Run on 1 and 3 ranks: the statistics must not depend on
// how the values are split over the ranks.
#define BOOST_TEST_MODULE plugin_core
#include <boost/test/unit_test.hpp>

#include "core/field_stats.h"
#include "core/point_cells.h"
#include "core/stress.h"
#include "core/value_ref.h"

#include "mpi_session.h"

#include <mpi.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <set>

using namespace cephalo::plugin;
using cephalo::test::MpiSession;
using cephalo::test::rank;
using cephalo::test::ranks;

namespace {

// The same global data on every rank; each rank keeps an uneven share of it.
std::vector<double> my_share(const std::vector<double> &all)
{
  std::vector<double> mine;
  for (std::size_t i = 0; i < all.size(); ++i)
    if (static_cast<int>((i * i + 7 * i) % ranks()) == rank()) mine.push_back(all[i]);
  return mine;
}

double numpy_quantile(std::vector<double> values, double q)
{
  std::sort(values.begin(), values.end());
  const double position = q * (values.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  if (below + 1 >= values.size()) return values[below];
  return values[below] + (position - below) * (values[below + 1] - values[below]);
}

}    // namespace

BOOST_TEST_GLOBAL_FIXTURE(MpiSession);

BOOST_AUTO_TEST_CASE(select_kth_is_exact_for_skewed_data_with_duplicates)
{
  std::mt19937_64 random(12345);
  std::lognormal_distribution<double> skewed(0.0, 2.0);
  std::vector<double> all(50000);
  for (auto &v : all) v = std::round(skewed(random) * 100.0) / 100.0;    // many ties
  std::vector<double> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  const auto mine = my_share(all);
  for (std::int64_t k : {0L, 1L, 777L, 24999L, 25000L, 47499L, 49999L})
    BOOST_TEST(select_kth(mine, k, MPI_COMM_WORLD) == sorted[static_cast<std::size_t>(k)]);
}

BOOST_AUTO_TEST_CASE(select_kth_handles_equal_values_and_extreme_ranges)
{
  // sizes above the gather limit (32768) exercise the histogram rounds, small ones the gather
  for (std::size_t size : {1000u, 40000u}) {
    const std::vector<double> equal(size, 3.25);
    BOOST_TEST(select_kth(my_share(equal), static_cast<std::int64_t>(size / 2), MPI_COMM_WORLD) ==
               3.25);

    std::vector<double> wide;
    for (std::size_t i = 0; i < size; ++i)
      wide.push_back(i % 3 == 0 ? -1e300 : (i % 3 == 1 ? 1e-300 : 1e300));
    wide.push_back(std::numeric_limits<double>::infinity());
    std::vector<double> sorted = wide;
    std::sort(sorted.begin(), sorted.end());
    const auto n = static_cast<std::int64_t>(wide.size());
    const std::vector<std::int64_t> ranks = {0, n / 3 - 1, n / 3, n / 2, n - 2, n - 1};
    const auto found = select_ranks(my_share(wide), ranks, MPI_COMM_WORLD);
    for (std::size_t r = 0; r < ranks.size(); ++r)
      BOOST_TEST(found[r] == sorted[static_cast<std::size_t>(ranks[r])], "rank " << ranks[r]);
    BOOST_CHECK_THROW(select_kth(my_share(wide), n, MPI_COMM_WORLD), std::out_of_range);
  }
}

BOOST_AUTO_TEST_CASE(many_ranks_are_found_together)
{
  std::mt19937_64 random(7);
  std::exponential_distribution<double> spread(0.01);
  std::vector<double> all(100000);
  for (auto &v : all) v = std::floor(spread(random));    // skewed, many ties
  std::vector<double> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  const std::vector<std::int64_t> ranks = {49999, 50000, 94999, 95000, 5, 99999};
  const auto found = select_ranks(my_share(all), ranks, MPI_COMM_WORLD);
  for (std::size_t r = 0; r < ranks.size(); ++r)
    BOOST_TEST(found[r] == sorted[static_cast<std::size_t>(ranks[r])], "rank " << ranks[r]);
}

BOOST_AUTO_TEST_CASE(summary_matches_a_serial_reference)
{
  std::mt19937_64 random(99);
  std::normal_distribution<double> normal(5.0, 2.0);
  std::vector<double> all(20001);
  for (auto &v : all) v = normal(random);
  const FieldStats stats = summarize_field(my_share(all), MPI_COMM_WORLD);

  double sum = 0.0;
  for (double v : all) sum += v;
  const double mean = sum / all.size();
  double squares = 0.0;
  for (double v : all) squares += (v - mean) * (v - mean);
  BOOST_TEST(stats.count == 20001);
  BOOST_TEST(stats.mean == mean, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(stats.stdev == std::sqrt(squares / all.size()), boost::test_tools::tolerance(1e-12));
  BOOST_TEST(stats.max == *std::max_element(all.begin(), all.end()));
  BOOST_TEST(stats.median == numpy_quantile(all, 0.5));
  BOOST_TEST(stats.p95 == numpy_quantile(all, 0.95));
}

BOOST_AUTO_TEST_CASE(summary_of_tiny_and_empty_fields)
{
  // known answers: {1, 2, 3, 4}: median 2.5, p95 = 3 + 0.85 * 1, stdev sqrt(1.25)
  const std::vector<double> four = {4.0, 1.0, 3.0, 2.0};
  const FieldStats stats =
      summarize_field(rank() == 0 ? four : std::vector<double>{}, MPI_COMM_WORLD);
  BOOST_TEST(stats.median == 2.5);
  BOOST_TEST(stats.p95 == 3.85, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(stats.stdev == std::sqrt(1.25), boost::test_tools::tolerance(1e-15));
  BOOST_TEST(stats.max == 4.0);

  const FieldStats empty = summarize_field({}, MPI_COMM_WORLD);
  BOOST_TEST(empty.count == 0);
  BOOST_TEST(std::isnan(empty.mean));
  BOOST_TEST(std::isnan(empty.median));

  std::vector<double> with_nan = {1.0, 2.0};
  if (rank() == ranks() - 1) with_nan.push_back(std::nan(""));
  BOOST_TEST(std::isnan(summarize_field(with_nan, MPI_COMM_WORLD).p95));
}

BOOST_AUTO_TEST_CASE(point_cells_find_every_point_within_one_cell)
{
  // points on a skewed grid, some at negative coordinates; compare with brute force
  std::vector<std::array<double, 3>> points;
  for (int i = 0; i < 400; ++i)
    points.push_back(
        {-7.3 + 0.37 * (i % 40), -2.0 + 0.61 * (i / 40) + 0.05 * (i % 3), 0.13 * (i % 7)});
  PointCells cells(1.25);
  for (int i = 0; i < static_cast<int>(points.size()); ++i) cells.add(i, points[i].data());
  for (std::size_t i = 0; i < points.size(); i += 13) {
    std::set<int> found;
    cells.for_each_near(points[i].data(), [&](int j) {
      const double dx = points[j][0] - points[i][0], dy = points[j][1] - points[i][1],
                   dz = points[j][2] - points[i][2];
      if (dx * dx + dy * dy + dz * dz <= 1.25 * 1.25) found.insert(j);
    });
    std::set<int> expected;
    for (std::size_t j = 0; j < points.size(); ++j) {
      const double dx = points[j][0] - points[i][0], dy = points[j][1] - points[i][1],
                   dz = points[j][2] - points[i][2];
      if (dx * dx + dy * dy + dz * dz <= 1.25 * 1.25) expected.insert(static_cast<int>(j));
    }
    BOOST_TEST(found == expected, "point " << i);
  }
}

BOOST_AUTO_TEST_CASE(value_references_parse_like_lammps)
{
  const auto vector = parse_value_ref("c_pe", false);
  BOOST_TEST((vector.kind == ValueRef::Kind::Compute));
  BOOST_TEST(vector.id == "pe");
  BOOST_TEST(vector.column == 0);
  const auto column = parse_value_ref("c_stress_1[3]", false);
  BOOST_TEST(column.id == "stress_1");
  BOOST_TEST(column.column == 3);
  const auto variable = parse_value_ref("v_vol", true);
  BOOST_TEST((variable.kind == ValueRef::Kind::Variable));
  const auto number = parse_value_ref("1.5e-2", true);
  BOOST_TEST((number.kind == ValueRef::Kind::Number));
  BOOST_TEST(number.number == 0.015);

  for (const char *bad :
       {"c_", "c_pe[", "c_pe[0]", "c_pe[x]", "c_pe[2", "v_a[1]", "c_p-e", "pe", "1.5"})
    BOOST_CHECK_THROW(parse_value_ref(bad, false), std::invalid_argument);
  BOOST_CHECK_THROW(parse_value_ref("inf", true), std::invalid_argument);
  BOOST_CHECK_THROW(parse_value_ref("2x", true), std::invalid_argument);

  bool on = false;
  BOOST_TEST((parse_yes_no("yes", on) && on));
  BOOST_TEST((parse_yes_no("no", on) && !on));
  for (const char *bad : {"", "Yes", "y", "true", "1", "yes "}) BOOST_TEST(!parse_yes_no(bad, on));
}

BOOST_AUTO_TEST_CASE(von_mises_of_known_stress_states)
{
  const double uniaxial[6] = {3.0, 0, 0, 0, 0, 0};
  const double hydrostatic[6] = {-2.0, -2.0, -2.0, 0, 0, 0};
  const double shear[6] = {0, 0, 0, 0, 2.0, 0};
  const double plane[6] = {2.0, 1.0, 0, 0.5, 0, 0};
  BOOST_TEST(von_mises(uniaxial) == 3.0, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(von_mises(hydrostatic) == 0.0);
  BOOST_TEST(von_mises(shear) == 2.0 * std::sqrt(3.0), boost::test_tools::tolerance(1e-15));
  // plane stress: sqrt(sxx^2 - sxx syy + syy^2 + 3 sxy^2)
  BOOST_TEST(von_mises(plane) == std::sqrt(4.0 - 2.0 + 1.0 + 0.75),
             boost::test_tools::tolerance(1e-15));
}
