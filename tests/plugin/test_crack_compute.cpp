// compute cephalo/crack inside a real lmp (plugin load), against answers computed here
// independently: brute-force bond counting on dumped positions, and fields prescribed by
// atom ID whose statistics are known exactly.
#define BOOST_TEST_MODULE crack_compute
#include <boost/test/unit_test.hpp>

#include "lammps_runner.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

using cephalo::test::DumpSnapshot;
using cephalo::test::LammpsRun;
using cephalo::test::read_dump;
using cephalo::test::read_text;
using cephalo::test::run_lammps;
using cephalo::test::ScratchDir;
using cephalo::test::tagged_values;

namespace {

const std::string kInputs = CEPHALO_TEST_INPUTS;

std::string input_file(const std::string &name)
{
  return read_text(kInputs + "/" + name);
}

void require_success(const LammpsRun &run)
{
  BOOST_TEST_INFO("lmp output:\n" << run.output);
  BOOST_REQUIRE_EQUAL(run.exit_code, 0);
}

// What the compute should report for a cut, found by brute force from the dumped positions:
// bonds are pairs closer than 1.5 before the cut; a bond breaks when its atoms end up farther
// apart than 1.5 (or one of them is gone); an atom lines a crack face when it has at least 2
// fewer neighbours within 1.5 than it had bonds; crack-face atoms within 2.25 (the default link
// distance, 1.5 bond cutoffs) of each other form clusters, and the largest cluster is the crack.
struct CutTruth {
  double bonds = 0;
  double broken = 0;
  double clusters = 0;
  double tip_x = 0, tip_y = 0;
  double opening = 0;               // the largest extent in x of a cluster
  std::map<long, double> damage;    // atom ID -> broken / reference bonds
  std::map<long, double> lost;      // atom ID -> reference bonds - current neighbours
};

CutTruth brute_force_cut(const DumpSnapshot &before, const DumpSnapshot &after, double direction)
{
  const double cutoff = 1.5;
  struct Atom {
    double x0, y0, x = 0, y = 0;
    bool present = false;
    int bonds = 0, broken = 0, neighbours = 0;
  };
  std::map<long, Atom> atoms;
  for (const auto &row : before.rows)
    atoms[static_cast<long>(row[before.column("id")])] = {row[before.column("x")],
                                                          row[before.column("y")]};
  for (const auto &row : after.rows) {
    Atom &atom = atoms.at(static_cast<long>(row[after.column("id")]));
    atom.x = row[after.column("x")];
    atom.y = row[after.column("y")];
    atom.present = true;
  }
  CutTruth truth;
  for (auto a = atoms.begin(); a != atoms.end(); ++a)
    for (auto b = std::next(a); b != atoms.end(); ++b) {
      Atom &p = a->second, &q = b->second;
      const bool both = p.present && q.present;
      const double now = both ? std::hypot(p.x - q.x, p.y - q.y) : INFINITY;
      if (now <= cutoff) p.neighbours++, q.neighbours++;
      if (std::hypot(p.x0 - q.x0, p.y0 - q.y0) >= cutoff) continue;
      p.bonds++, q.bonds++;
      truth.bonds += 1;
      if (now > cutoff) {
        p.broken++, q.broken++;
        truth.broken += 1;
      }
    }

  std::vector<long> face;
  for (auto &[id, atom] : atoms) {
    if (!atom.present) continue;
    truth.damage[id] = atom.bonds ? double(atom.broken) / atom.bonds : 0.0;
    truth.lost[id] = std::max(0, atom.bonds - atom.neighbours);
    if (truth.lost[id] >= 2) face.push_back(id);
  }
  // clusters by union-find; the root is kept at the lowest ID
  std::map<long, long> parent;
  for (long id : face) parent[id] = id;
  std::function<long(long)> root = [&](long id) {
    return parent[id] == id ? id : parent[id] = root(parent[id]);
  };
  for (std::size_t i = 0; i < face.size(); ++i)
    for (std::size_t j = i + 1; j < face.size(); ++j) {
      const Atom &p = atoms.at(face[i]), &q = atoms.at(face[j]);
      if (std::hypot(p.x - q.x, p.y - q.y) > 1.5 * cutoff) continue;
      const long a = root(face[i]), b = root(face[j]);
      parent[std::max(a, b)] = std::min(a, b);
    }
  std::map<long, int> sizes;
  for (long id : face) sizes[root(id)]++;
  truth.clusters = static_cast<double>(sizes.size());
  std::map<long, std::pair<double, double>> spans;    // root -> lowest and highest x
  for (long id : face) {
    const double x = atoms.at(id).x;
    const auto span = spans.emplace(root(id), std::make_pair(x, x)).first;
    span->second = {std::min(span->second.first, x), std::max(span->second.second, x)};
  }
  for (const auto &[label, span] : spans)
    truth.opening = std::max(truth.opening, span.second - span.first);
  long crack = -1;
  for (const auto &[label, size] : sizes)
    if (crack < 0 || size > sizes.at(crack)) crack = label;
  double front = -INFINITY;
  for (long id : face) {    // IDs ascending: the first atom at the front has the lowest ID
    const Atom &atom = atoms.at(id);
    if (root(id) == crack && direction * atom.x > front) {
      front = direction * atom.x;
      truth.tip_x = atom.x;
      truth.tip_y = atom.y;
    }
  }
  return truth;
}

struct CutRun {
  std::map<std::string, double> values;
  CutTruth truth;
  DumpSnapshot after;
};

CutRun run_cut(const ScratchDir &dir, const std::string &side, int ranks, bool with_void = false)
{
  const auto run = run_lammps(dir.path(), input_file("in.cut"), ranks,
                              {{"side", side}, {"void", with_void ? "yes" : "no"}});
  require_success(run);
  CutRun result;
  result.values = tagged_values(run.output, "CRACK");
  result.after = read_dump(dir / "cut.dump");
  result.truth =
      brute_force_cut(read_dump(dir / "reference.dump"), result.after, side == "left" ? 1.0 : -1.0);
  return result;
}

void check_cut_against_truth(const CutRun &cut, double expected_length)
{
  const auto &v = cut.values;
  const auto &truth = cut.truth;
  BOOST_TEST(truth.broken > 0);
  BOOST_TEST(v.at("bonds") == truth.bonds);
  BOOST_TEST(v.at("broken") == truth.broken);
  BOOST_TEST(v.at("clusters") == truth.clusters);
  BOOST_TEST(v.at("opening") == truth.opening, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(v.at("opening") > 0.0);
  BOOST_TEST(v.at("damage") == truth.broken / truth.bonds, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(v.at("tipx") == truth.tip_x, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(v.at("tipy") == truth.tip_y, boost::test_tools::tolerance(1e-12));
  // the measured length is the cut's length to within one lattice spacing
  BOOST_TEST(std::abs(v.at("length") - expected_length) <= v.at("a"),
             "length " << v.at("length") << " vs cut " << expected_length << ", spacing "
                       << v.at("a"));

  const std::size_t id = cut.after.column("id"), damage = cut.after.column("c_crack[1]"),
                    lost = cut.after.column("c_crack[3]");
  for (const auto &row : cut.after.rows) {
    BOOST_TEST_CONTEXT("atom " << row[id])
    {
      BOOST_TEST(row[damage] == truth.damage.at(static_cast<long>(row[id])),
                 boost::test_tools::tolerance(1e-12));
      BOOST_TEST(row[lost] == truth.lost.at(static_cast<long>(row[id])));
    }
  }
}

// Serial reference statistics (population stdev, numpy's linear-interpolation quantiles).
struct Stats {
  double mean, median, stdev, max, p95;
};

Stats reference_stats(std::vector<double> values)
{
  std::sort(values.begin(), values.end());
  const double n = static_cast<double>(values.size());
  long double sum = 0, squares = 0;
  for (double v : values) sum += v;
  const double mean = static_cast<double>(sum / n);
  for (double v : values) squares += (v - mean) * static_cast<long double>(v - mean);
  auto quantile = [&](double q) {
    const double position = q * (n - 1);
    const auto below = static_cast<std::size_t>(std::floor(position));
    const double fraction = position - std::floor(position);
    if (below + 1 >= values.size()) return values[below];
    return values[below] + fraction * (values[below + 1] - values[below]);
  };
  return {mean, quantile(0.5), std::sqrt(static_cast<double>(squares / n)), values.back(),
          quantile(0.95)};
}

std::vector<double> by_id(int n, const std::function<double(double)> &f)
{
  std::vector<double> values;
  for (int i = 1; i <= n; ++i) values.push_back(f(i));
  return values;
}

void check_field_statistics(const LammpsRun &run, const DumpSnapshot &fields)
{
  constexpr int n = 80 * 60;
  const double root3 = std::sqrt(3.0);
  const auto tol = boost::test_tools::tolerance(1e-12);

  const auto fixed = tagged_values(run.output, "FIXED");
  const Stats vm = reference_stats(by_id(n, [&](double i) { return root3 * i / 2.0; }));
  BOOST_TEST(fixed.at("vm_mean") == vm.mean, tol);
  BOOST_TEST(fixed.at("vm_median") == vm.median, tol);
  BOOST_TEST(fixed.at("vm_stdev") == vm.stdev, tol);
  BOOST_TEST(fixed.at("vm_max") == vm.max, tol);
  BOOST_TEST(fixed.at("vm_p95") == vm.p95, tol);
  const Stats pe = reference_stats(by_id(n, [](double i) { return i * i; }));
  BOOST_TEST(fixed.at("pe_mean") == pe.mean, tol);
  BOOST_TEST(fixed.at("pe_median") == pe.median, tol);
  BOOST_TEST(fixed.at("pe_stdev") == pe.stdev, tol);
  BOOST_TEST(fixed.at("pe_max") == pe.max, tol);
  BOOST_TEST(fixed.at("pe_p95") == pe.p95, tol);
  // the closed-form values, as a check on the reference itself
  BOOST_TEST(pe.median == (2400.0 * 2400.0 + 2401.0 * 2401.0) / 2.0, tol);
  BOOST_TEST(pe.p95 == 4560.0 * 4560.0 + 0.05 * (4561.0 * 4561.0 - 4560.0 * 4560.0), tol);

  // square lattice, periodic: 2 bonds per atom, all intact, no crack
  BOOST_TEST(fixed.at("bonds") == 2.0 * n);
  BOOST_TEST(fixed.at("broken") == 0.0);
  BOOST_TEST(fixed.at("length") == 0.0);

  // volume auto: box area / atoms = 1 on this lattice; energy from an array column
  const auto automatic = tagged_values(run.output, "AUTO");
  const Stats vm_auto = reference_stats(by_id(n, [&](double i) { return root3 * i; }));
  BOOST_TEST(automatic.at("vm_mean") == vm_auto.mean, tol);
  BOOST_TEST(automatic.at("vm_median") == vm_auto.median, tol);
  BOOST_TEST(automatic.at("vm_max") == vm_auto.max, tol);
  BOOST_TEST(automatic.at("pe_mean") == (n + 1.0), tol);
  BOOST_TEST(automatic.at("pe_max") == 2.0 * n, tol);

  // per-atom volume from a variable; no energy source gives NaN; no damage gives a NaN tip
  const auto pervar = tagged_values(run.output, "PERVAR");
  const auto alternating = [&](double i) { return root3 * i / (1.0 + std::fmod(i, 2.0)); };
  const Stats vm_var = reference_stats(by_id(n, alternating));
  BOOST_TEST(pervar.at("vm_mean") == vm_var.mean, tol);
  BOOST_TEST(pervar.at("vm_max") == vm_var.max, tol);
  BOOST_TEST(std::isnan(pervar.at("pe_mean")));
  BOOST_TEST(std::isnan(pervar.at("tipx")));

  // the per-atom von Mises column, atom by atom
  const std::size_t id = fields.column("id");
  const std::size_t fixed_vm = fields.column("c_fixed[2]"), auto_vm = fields.column("c_auto[2]"),
                    var_vm = fields.column("c_pervar[2]"), damage = fields.column("c_fixed[1]");
  BOOST_REQUIRE_EQUAL(fields.rows.size(), static_cast<std::size_t>(n));
  for (const auto &row : fields.rows) {
    const double i = row[id];
    BOOST_TEST_CONTEXT("atom " << i)
    {
      BOOST_TEST(row[fixed_vm] == root3 * i / 2.0, tol);
      BOOST_TEST(row[auto_vm] == root3 * i, tol);
      BOOST_TEST(row[var_vm] == alternating(i), tol);
      BOOST_TEST(row[damage] == 0.0);
    }
  }
}

const std::string kSmallLattice = R"(
units lj
dimension 2
boundary s s p
atom_style atomic
lattice hex 0.93
region box block 0 10 0 10 -0.25 0.25
create_box 1 box
create_atoms 1 box
mass 1 1.0
pair_style lj/cut 2.5
pair_coeff 1 1 1.0 1.0 2.5
compute pe all pe/atom
compute stress all stress/atom NULL
compute props all property/atom x y
plugin load ${plugin}
)";

}    // namespace

BOOST_AUTO_TEST_SUITE(cut)

BOOST_AUTO_TEST_CASE(cut_from_the_left_edge_has_its_known_length)
{
  ScratchDir dir;
  const CutRun cut = run_cut(dir, "left", 1);
  check_cut_against_truth(cut, 15.25 * cut.values.at("a"));
}

BOOST_AUTO_TEST_CASE(cut_from_the_right_edge_is_measured_along_negative_x)
{
  ScratchDir dir;
  const CutRun cut = run_cut(dir, "right", 1);
  check_cut_against_truth(cut, 15.25 * cut.values.at("a"));
  BOOST_TEST(cut.values.at("tipx") > 20.0 * cut.values.at("a"));    // on the right half
}

BOOST_AUTO_TEST_CASE(a_void_ahead_of_the_cut_does_not_move_the_tip)
{
  ScratchDir plain, holed;
  const CutRun cut = run_cut(plain, "left", 2);
  const CutRun with_void = run_cut(holed, "left", 2, true);
  check_cut_against_truth(with_void, 15.25 * with_void.values.at("a"));
  // the hole's rim is one more cluster, not the crack
  BOOST_TEST(with_void.values.at("clusters") == cut.values.at("clusters") + 1.0);
  BOOST_TEST(with_void.values.at("tipx") == cut.values.at("tipx"));
  BOOST_TEST(with_void.values.at("tipy") == cut.values.at("tipy"));
}

BOOST_AUTO_TEST_CASE(crack_faces_outside_the_region_are_ignored)
{
  // the region holds the bottom quarter of the strip, far below the cut: no crack there,
  // while the damage still counts every broken bond of the group
  ScratchDir dir;
  const auto run =
      run_lammps(dir.path(), input_file("in.cut"), 2, {{"side", "left"}, {"extra", "region low"}});
  require_success(run);
  const auto values = tagged_values(run.output, "CRACK");
  BOOST_TEST(values.at("clusters") == 0.0);
  BOOST_TEST(values.at("length") == 0.0);
  BOOST_TEST(std::isnan(values.at("tipx")));
  BOOST_TEST(values.at("broken") == 69.0);
}

BOOST_AUTO_TEST_CASE(one_and_two_ranks_measure_the_same_cut)
{
  ScratchDir one, two;
  const CutRun serial = run_cut(one, "left", 1);
  const CutRun parallel = run_cut(two, "left", 2);
  check_cut_against_truth(parallel, 15.25 * parallel.values.at("a"));
  for (const auto &[key, value] : serial.values) {
    BOOST_TEST_CONTEXT(key)
    BOOST_TEST(parallel.values.at(key) == value, boost::test_tools::tolerance(1e-12));
  }
}

// The cut of in.cut is opened, measured, closed again by moving the lifted atoms back to where
// they were at the reference, and measured again; then written to a restart file.
const std::string kCloseTheCut = R"lmp(
displace_atoms lifted move 0 -${lift} 0 units box
run 0
print "CLOSED length=$(c_crack[1]:%.17g) tipx=$(c_crack[2]:%.17g) tipy=$(c_crack[3]:%.17g) broken=$(c_crack[7]:%.17g) clusters=$(c_crack[19]:%.17g)"
write_restart closed.restart
)lmp";

BOOST_AUTO_TEST_CASE(a_closed_cut_is_still_a_crack)
{
  // the faces touch again, their atoms have every neighbour back: a crack whose faces close
  // (thermal motion does this to a crack of a lattice spacing or two) is still the same crack
  ScratchDir dir;
  const auto run = run_lammps(dir.path(), input_file("in.cut") + kCloseTheCut, 2);
  require_success(run);
  const auto opened = tagged_values(run.output, "CRACK");
  const auto closed = tagged_values(run.output, "CLOSED");
  BOOST_TEST(opened.at("length") > 10.0 * opened.at("a"));
  for (const char *key : {"length", "tipx", "tipy", "broken", "clusters"}) {
    BOOST_TEST_CONTEXT(key)
    BOOST_TEST(closed.at(key) == opened.at(key));
  }
}

BOOST_AUTO_TEST_CASE(reference_bonds_and_crack_faces_survive_a_restart)
{
  // written after the cut closed: the broken bonds and the crack-face memory both come back
  ScratchDir dir;
  const auto first = run_lammps(dir.path(), input_file("in.cut") + kCloseTheCut, 2);
  require_success(first);
  const auto before = tagged_values(first.output, "CRACK");

  const std::string restarted = R"lmp(
plugin load ${plugin}
read_restart closed.restart
compute crack all cephalo/crack bond 1.5 axis x origin 0.0
compute fresh all cephalo/crack bond 1.5
thermo_style custom step c_crack[7] c_fresh[7]
run 0
print "RESTART broken=$(c_crack[7]:%.17g) bonds=$(c_crack[8]:%.17g) fresh=$(c_fresh[7]:%.17g) length=$(c_crack[1]:%.17g) tipx=$(c_crack[2]:%.17g) clusters=$(c_crack[19]:%.17g)"
)lmp";
  const auto second = run_lammps(dir.path(), restarted, 1);
  require_success(second);
  const auto after = tagged_values(second.output, "RESTART");
  for (const char *key : {"broken", "bonds", "length", "tipx", "clusters"}) {
    BOOST_TEST_CONTEXT(key)
    BOOST_TEST(after.at(key) == before.at(key));
  }
  // a compute defined after the restart takes the closed cut as its reference
  BOOST_TEST(after.at("fresh") == 0.0);
}

BOOST_AUTO_TEST_CASE(with_heal_yes_a_closed_cut_is_no_crack)
{
  ScratchDir dir;
  const auto run =
      run_lammps(dir.path(), input_file("in.cut") + kCloseTheCut, 2, {{"extra", "heal yes"}});
  require_success(run);
  const auto opened = tagged_values(run.output, "CRACK");
  const auto closed = tagged_values(run.output, "CLOSED");
  BOOST_TEST(opened.at("length") > 10.0 * opened.at("a"));
  BOOST_TEST(closed.at("length") == 0.0);
  BOOST_TEST(closed.at("clusters") == 0.0);
  BOOST_TEST(std::isnan(closed.at("tipx")));
  BOOST_TEST(closed.at("broken") == opened.at("broken"));    // the damage stays
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(field)

BOOST_AUTO_TEST_CASE(prescribed_fields_give_exact_statistics_on_one_rank)
{
  ScratchDir dir;
  const auto run = run_lammps(dir.path(), input_file("in.field"), 1);
  require_success(run);
  check_field_statistics(run, read_dump(dir / "fields.dump"));
}

BOOST_AUTO_TEST_CASE(prescribed_fields_give_exact_statistics_on_two_ranks)
{
  ScratchDir dir;
  const auto run = run_lammps(dir.path(), input_file("in.field"), 2);
  require_success(run);
  check_field_statistics(run, read_dump(dir / "fields.dump"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(errors)

BOOST_AUTO_TEST_CASE(bad_arguments_are_lammps_errors_that_name_the_keyword)
{
  struct Case {
    std::string command;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"compute c all cephalo/crack", "needs keyword bond"},
      {"compute c all cephalo/crack bond", "keyword bond needs a value"},
      {"compute c all cephalo/crack bond -1", "keyword bond needs a distance > 0, got -1"},
      {"compute c all cephalo/crack bond 1.5 break 1.0", "break distance 1 must not be shorter"},
      {"compute c all cephalo/crack bond 1.5 axis w",
       "keyword axis needs x, y, z, -x, -y or -z, got w"},
      {"compute c all cephalo/crack bond 1.5 axis z", "axis cannot be z for a 2d system"},
      {"compute c all cephalo/crack bond 1.5 heal maybe",
       "keyword heal needs yes or no, got maybe"},
      {"compute c all cephalo/crack bond 1.5 frobnicate 3",
       "Unknown compute cephalo/crack keyword: frobnicate"},
      {"compute c all cephalo/crack bond 1.5 stress v_x", "keyword stress needs c_ID"},
      {"compute c all cephalo/crack bond 1.5 volume 0", "keyword volume needs a volume > 0"},
      {"compute c all cephalo/crack bond 1.5 volume c_pe[0]", "must be a positive integer"},
      {"compute c all cephalo/crack bond 1.5 energy 3.0", "keyword energy: '3.0' is not c_ID"},
      {"compute c all cephalo/crack bond 1.5 energy c_nope\nrun 0",
       "Compute ID nope for compute cephalo/crack keyword energy does not exist"},
      {"compute c all cephalo/crack bond 1.5 energy v_nope\nrun 0",
       "Variable nope for compute cephalo/crack keyword energy does not exist"},
      {"variable g equal 1.0\ncompute c all cephalo/crack bond 1.5 energy v_g\nrun 0",
       "Variable g for compute cephalo/crack keyword energy is not an atom-style variable"},
      {"compute c all cephalo/crack bond 1.5 stress c_pe\nrun 0",
       "keyword stress must have 6 per-atom stress columns"},
      {"compute c all cephalo/crack bond 1.5 energy c_props\nrun 0",
       "is a per-atom array: name a column as c_props[k] with k in 1..2"},
      {"compute c all cephalo/crack bond 1.5 energy c_props[3]\nrun 0",
       "column 3 of compute props is out of range 1..2"},
      {"compute c all cephalo/crack bond 5.0\nthermo_style custom step c_c[1]\nrun 0",
       "exceeds the ghost atom cutoff"},
  };
  for (const auto &test : cases) {
    BOOST_TEST_CONTEXT(test.command)
    {
      ScratchDir dir;
      const auto run = run_lammps(dir.path(), kSmallLattice + test.command + "\n", 1);
      BOOST_TEST(run.exit_code != 0);
      BOOST_TEST(run.output.find("ERROR") != std::string::npos, run.output);
      BOOST_TEST(run.output.find(test.message) != std::string::npos, run.output);
    }
  }
}

BOOST_AUTO_TEST_CASE(plugin_registers_its_styles)
{
  ScratchDir dir;
  const auto run = run_lammps(dir.path(), "plugin load ${plugin}\nplugin list\n", 1);
  require_success(run);
  BOOST_TEST(run.output.find("compute style plugin cephalo/crack") != std::string::npos,
             run.output);
}

BOOST_AUTO_TEST_SUITE_END()
