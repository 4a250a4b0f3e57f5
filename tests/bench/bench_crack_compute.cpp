// Cost of compute cephalo/crack per invocation, as a fraction of one MD step, for the 2d crack
// example and a 3d Lennard-Jones box of about a million atoms. Prints a Markdown table.
//
//   mpirun -np 2 bench_crack_compute --plugin build/default/plugin/cephaloplugin.so
//          [--example examples/crack/in.crack] [--cells 63] [--steps-2d 500] [--steps-3d 5]
//          [--melt-steps 100]   (0 skips the melt case)
//
// See measure() for what is timed. 63 fcc cells give 1,000,188 atoms.
// library.h declares the MPI-communicator variant of lammps_open only on request
#define LAMMPS_LIB_MPI
#include "library.h"

#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Options {
  std::string plugin;
  std::string example = CEPHALO_EXAMPLES "/crack/in.crack";
  int cells = 63;
  int steps_2d = 500;
  int steps_3d = 5;
  int repeats_2d = 20;
  int repeats_3d = 3;
  int melt_steps = 100;
};

struct Timing {
  std::string name;
  double atoms = 0;
  int ranks = 1;
  double md = 0, output = 0, tallies = 0, crack = 0, reference = 0;    // seconds per step
};

int rank()
{
  int me = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  return me;
}

void command(void *lmp, const std::string &text)
{
  if (std::getenv("CEPHALO_BENCH_TRACE") && rank() == 0)
    std::fprintf(stderr, "> %s\n", text.c_str());
  lammps_command(lmp, text.c_str());
  if (lammps_has_error(lmp)) {
    char message[2048];
    lammps_get_last_error_message(lmp, message, sizeof(message));
    if (rank() == 0) std::fprintf(stderr, "LAMMPS error in '%s': %s\n", text.c_str(), message);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
}

double timed(void *lmp, const std::string &text)
{
  MPI_Barrier(MPI_COMM_WORLD);
  const double start = MPI_Wtime();
  command(lmp, text);
  MPI_Barrier(MPI_COMM_WORLD);
  return MPI_Wtime() - start;
}

// The MD step: `steps` steps without per-step output. One invocation of the compute: `run 0`
// (which reneighbors, so the compute rebuilds its neighbor list as after any reneighboring)
// repeated `repeats` times with thermo output of the compute, minus the same without it (total)
// or with a reduce over the same per-atom stress and energy computes (own work). The system
// must define computes stress, pe and crack.
Timing measure(void *lmp, const std::string &name, int steps, int repeats)
{
  Timing t;
  t.name = name;
  t.atoms = lammps_get_natoms(lmp);
  MPI_Comm_size(MPI_COMM_WORLD, &t.ranks);

  // the first invocation records the reference bonds: time it against a second one
  command(lmp, "compute fresh all cephalo/crack bond ${bond}");
  command(lmp, "thermo_style custom step c_fresh[1]");
  const double first = timed(lmp, "run 0 post no");
  const double again = timed(lmp, "run 0 post no");
  t.reference = first - again;
  command(lmp, "uncompute fresh");

  command(lmp, "thermo_style custom step temp");
  command(lmp, "thermo 0");
  command(lmp, "run 0 post no");
  t.md = timed(lmp, "run " + std::to_string(steps) + " pre no post no") / steps;

  command(lmp, "compute reduced all reduce max c_stress[1] c_pe");
  auto per_run = [&](const std::string &thermo_style) {
    command(lmp, "thermo_style custom " + thermo_style);
    command(lmp, "run 0 post no");    // warm-up
    double total = 0.0;
    for (int r = 0; r < repeats; ++r) total += timed(lmp, "run 0 post no");
    return total / repeats;
  };
  t.output = per_run("step temp");
  t.tallies = per_run("step temp c_reduced[1] c_reduced[2]");
  t.crack = per_run("step temp c_crack[1] c_crack[9] c_crack[14]");
  command(lmp, "uncompute reduced");
  return t;
}

void print_table(const std::vector<Timing> &rows)
{
  std::printf(
      "\n| case | atoms | ranks | MD step (ms) | crack compute, total (ms) | of an MD step |"
      " crack compute, own work (ms) | of an MD step | first invocation, reference bonds (ms) |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const auto &r : rows) {
    const double total = r.crack - r.output;    // compute + the per-atom tallies it needs
    const double own = r.crack - r.tallies;     // compute alone, tallies excluded
    std::printf("| %s | %.0f | %d | %.3f | %.3f | %.1f%% | %.3f | %.1f%% | %.1f |\n",
                r.name.c_str(), r.atoms, r.ranks, 1e3 * r.md, 1e3 * total, 100.0 * total / r.md,
                1e3 * own, 100.0 * own / r.md, 1e3 * r.reference);
  }
  std::printf("\nMD step: velocity Verlet, no per-step output. Crack compute per invocation, "
              "after a reneighboring: total = run 0 with the compute in the thermo output minus "
              "run 0 without it (includes the per-atom stress and energy tallies it needs); own "
              "work = minus run 0 reducing the same per-atom stress and energy computes.\n");
}

}    // namespace

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        if (rank() == 0) std::fprintf(stderr, "%s needs a value\n", arg.c_str());
        MPI_Abort(MPI_COMM_WORLD, 2);
      }
      return argv[++i];
    };
    if (arg == "--plugin")
      options.plugin = value();
    else if (arg == "--example")
      options.example = value();
    else if (arg == "--cells")
      options.cells = std::atoi(value().c_str());
    else if (arg == "--steps-2d")
      options.steps_2d = std::atoi(value().c_str());
    else if (arg == "--steps-3d")
      options.steps_3d = std::atoi(value().c_str());
    else if (arg == "--melt-steps")
      options.melt_steps = std::atoi(value().c_str());
    else {
      if (rank() == 0) std::fprintf(stderr, "unknown argument %s\n", arg.c_str());
      MPI_Abort(MPI_COMM_WORLD, 2);
    }
  }
  if (options.plugin.empty()) {
    if (rank() == 0) std::fprintf(stderr, "usage: bench_crack_compute --plugin cephaloplugin.so\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }

  std::vector<Timing> rows;
  const char *lmp_args[] = {"lmp", "-log", "none", "-screen", "none", "-nocite"};
  {
    void *lmp = lammps_open(6, const_cast<char **>(lmp_args), MPI_COMM_WORLD, nullptr);
    command(lmp, "variable plugin index " + options.plugin);
    command(lmp, "variable steps index 0");
    command(lmp, "variable bond index 1.5");
    lammps_file(lmp, options.example.c_str());
    rows.push_back(
        measure(lmp, "crack example (2d LJ solid)", options.steps_2d, options.repeats_2d));
    lammps_close(lmp);
  }
  // 3d Lennard-Jones fcc box (LAMMPS's bench/in.lj set-up): a cold solid, as in fracture
  // runs, and a hot one that melts, the worst case (most atoms lose their reference neighbours)
  auto lj_box = [&](double temperature, int melt_steps) {
    void *lmp = lammps_open(6, const_cast<char **>(lmp_args), MPI_COMM_WORLD, nullptr);
    const std::string n = std::to_string(options.cells);
    for (const std::string &line :
         {"plugin load " + options.plugin,
          std::string("variable bond index 1.4"),
          std::string("units lj"),
          std::string("atom_style atomic"),
          std::string("lattice fcc 0.8442"),
          "region box block 0 " + n + " 0 " + n + " 0 " + n,
          std::string("create_box 1 box"),
          std::string("create_atoms 1 box"),
          std::string("mass 1 1.0"),
          "velocity all create " + std::to_string(temperature) + " 87287 loop geom",
          std::string("pair_style lj/cut 2.5"),
          std::string("pair_coeff 1 1 1.0 1.0 2.5"),
          std::string("neighbor 0.3 bin"),
          std::string("neigh_modify delay 0 every 20 check no"),
          std::string("fix 1 all nve"),
          std::string("compute pe all pe/atom"),
          std::string("compute stress all stress/atom NULL"),
          std::string("compute crack all cephalo/crack bond 1.4 stress c_stress energy c_pe"),
          std::string("thermo_style custom step c_crack[1]"),
          std::string("thermo 0")})
      command(lmp, line);
    command(lmp, "run " + std::to_string(melt_steps) + " post no");
    return lmp;
  };
  {
    void *lmp = lj_box(0.1, 0);
    rows.push_back(measure(lmp, "3d LJ fcc solid, T = 0.1", options.steps_3d, options.repeats_3d));
    lammps_close(lmp);
  }
  if (options.melt_steps > 0) {
    void *lmp = lj_box(1.44, options.melt_steps);
    rows.push_back(
        measure(lmp, "3d LJ melt (T = 1.44), worst case", options.steps_3d, options.repeats_3d));
    lammps_close(lmp);
  }
  if (rank() == 0) print_table(rows);
  MPI_Finalize();
  return 0;
}
