// Cost of compute cephalo/crack per invocation, as a fraction of one MD step, for the 2d crack
// example and a 3d Lennard-Jones box of about a million atoms. Prints a Markdown table.
//
//   mpirun -np 2 bench_crack_compute --plugin build/default/plugin/cephaloplugin.so
//          [--example examples/crack/in.crack] [--cells 63] [--steps-2d 200] [--steps-3d 5]
//
// Each case runs the same MD steps four ways: no per-step output (the MD step), thermo every
// step with nothing extra (output cost), thermo every step reducing the same per-atom stress and
// energy computes the crack compute uses (their tally cost), and thermo every step with the crack
// compute. The differences isolate the crack compute's own cost and its total cost.
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
  int steps_2d = 200;
  int steps_3d = 5;
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

// Runs `steps` steps in each configuration; the system must define computes stress, pe, crack.
Timing measure(void *lmp, const std::string &name, int steps)
{
  Timing t;
  t.name = name;
  t.atoms = lammps_get_natoms(lmp);
  MPI_Comm_size(MPI_COMM_WORLD, &t.ranks);
  const std::string run = "run " + std::to_string(steps) + " pre no post no";

  // the first invocation records the reference bonds: time it against a second one
  command(lmp, "compute fresh all cephalo/crack bond ${bond}");
  command(lmp, "thermo_style custom step c_fresh[1]");
  const double first = timed(lmp, "run 0 post no");
  const double again = timed(lmp, "run 0 post no");
  t.reference = first - again;
  command(lmp, "uncompute fresh");

  command(lmp, "compute reduced all reduce max c_stress[1] c_pe");
  command(lmp, "thermo_style custom step temp");
  command(lmp, "thermo 0");
  command(lmp, "run 1 post no");    // warm-up: neighbor lists, caches
  t.md = timed(lmp, run) / steps;
  command(lmp, "thermo 1");
  t.output = timed(lmp, run) / steps;
  command(lmp, "thermo_style custom step temp c_reduced[1] c_reduced[2]");
  t.tallies = timed(lmp, run) / steps;
  command(lmp, "thermo_style custom step temp c_crack[1] c_crack[9] c_crack[14]");
  t.crack = timed(lmp, run) / steps;
  command(lmp, "uncompute reduced");
  return t;
}

void print_table(const std::vector<Timing> &rows)
{
  std::printf("\n| case | atoms | ranks | MD step (ms) | crack compute, total (ms) | of an MD step |"
              " crack compute, own work (ms) | of an MD step | first invocation, reference bonds (ms) |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const auto &r : rows) {
    const double total = r.crack - r.output;    // compute + the per-atom tallies it needs
    const double own = r.crack - r.tallies;     // compute alone, tallies excluded
    std::printf("| %s | %.0f | %d | %.3f | %.3f | %.1f%% | %.3f | %.1f%% | %.1f |\n", r.name.c_str(),
                r.atoms, r.ranks, 1e3 * r.md, 1e3 * total, 100.0 * total / r.md, 1e3 * own,
                100.0 * own / r.md, 1e3 * r.reference);
  }
  std::printf("\nMD step: velocity Verlet with no per-step output. Total: thermo output of the "
              "compute every step minus thermo output without it (includes the per-atom stress "
              "and energy tallies the compute needs). Own work: minus thermo output of a reduce "
              "over the same per-atom computes.\n");
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
    if (arg == "--plugin") options.plugin = value();
    else if (arg == "--example") options.example = value();
    else if (arg == "--cells") options.cells = std::atoi(value().c_str());
    else if (arg == "--steps-2d") options.steps_2d = std::atoi(value().c_str());
    else if (arg == "--steps-3d") options.steps_3d = std::atoi(value().c_str());
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
    command(lmp, "variable plugin string " + options.plugin);
    command(lmp, "variable steps index 0");
    command(lmp, "variable bond index 1.5");
    lammps_file(lmp, options.example.c_str());
    rows.push_back(measure(lmp, "crack example (2d LJ)", options.steps_2d));
    lammps_close(lmp);
  }
  {
    void *lmp = lammps_open(6, const_cast<char **>(lmp_args), MPI_COMM_WORLD, nullptr);
    const std::string n = std::to_string(options.cells);
    for (const std::string &line : {
             std::string("plugin load ") + options.plugin, std::string("variable bond index 1.4"),
             std::string("units lj"), std::string("atom_style atomic"),
             std::string("lattice fcc 0.8442"), "region box block 0 " + n + " 0 " + n + " 0 " + n,
             std::string("create_box 1 box"), std::string("create_atoms 1 box"),
             std::string("mass 1 1.0"), std::string("velocity all create 1.44 87287 loop geom"),
             std::string("pair_style lj/cut 2.5"), std::string("pair_coeff 1 1 1.0 1.0 2.5"),
             std::string("neighbor 0.3 bin"), std::string("neigh_modify delay 0 every 20 check no"),
             std::string("fix 1 all nve"), std::string("compute pe all pe/atom"),
             std::string("compute stress all stress/atom NULL"),
             std::string("compute crack all cephalo/crack bond 1.4 stress c_stress energy c_pe")})
      command(lmp, line);
    rows.push_back(measure(lmp, "3d LJ fcc box", options.steps_3d));
    lammps_close(lmp);
  }
  if (rank() == 0) print_table(rows);
  MPI_Finalize();
  return 0;
}
