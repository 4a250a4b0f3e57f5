// Test helper: runs the real lmp with the Cephalo plugin on N MPI ranks in a scratch folder and
// reads back what it wrote (screen output, dumps).
#pragma once

#include "scratch_dir.h"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace cephalo::test {

struct LammpsRun {
  int exit_code = -1;
  std::string output;    // screen output of all ranks
};

// Writes `input` to in.test inside `dir` and runs
//   mpirun -np <ranks> lmp -in in.test -var plugin <cephaloplugin.so> -var k v ...
// (lmp alone, as an MPI singleton, for one rank)
// with a hard time limit, so that a hang fails the test instead of blocking it.
LammpsRun run_lammps(const std::filesystem::path &dir, const std::string &input, int ranks,
                     const std::map<std::string, std::string> &variables = {},
                     int timeout_seconds = 180);

// The key=value pairs of the last output line that starts with `tag` (e.g. "CRACK").
std::map<std::string, double> tagged_values(const std::string &output, const std::string &tag);

// Rows of a LAMMPS text dump (last snapshot), keyed by column name.
struct DumpSnapshot {
  std::vector<std::string> columns;
  std::vector<std::vector<double>> rows;
  std::size_t column(const std::string &name) const;
};
DumpSnapshot read_dump(const std::filesystem::path &path);

std::string read_text(const std::filesystem::path &path);

}    // namespace cephalo::test
