// Test helper: runs lmp with the plugin (see lammps_runner.h).
#include "lammps_runner.h"

#include "process.h"

#include <boost/test/unit_test.hpp>

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace cephalo::test {

LammpsRun run_lammps(const std::filesystem::path &dir, const std::string &input, int ranks,
                     const std::map<std::string, std::string> &variables, int timeout_seconds)
{
  {
    std::ofstream file(dir / "in.test");
    file << input;
  }
  std::ostringstream command;
  command << "cd " << shell_quote(dir.string()) << " && timeout -k 10 " << timeout_seconds << ' ';
  // one rank runs as an MPI singleton: mpirun would add seconds to every failing run
  if (ranks > 1) command << shell_quote(CEPHALO_MPIEXEC) << " -np " << ranks << ' ';
  command << shell_quote(CEPHALO_LMP) << " -in in.test -log log.lammps -var plugin "
          << shell_quote(CEPHALO_PLUGIN);
  for (const auto &[name, value] : variables)
    command << " -var " << name << ' ' << shell_quote(value);
  command << " > screen.txt 2>&1";

  LammpsRun run;
  const int status = std::system(command.str().c_str());
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  run.output = read_text(dir / "screen.txt");
  if (run.exit_code == 124) BOOST_TEST_MESSAGE("lmp timed out after " << timeout_seconds << " s");
  return run;
}

std::map<std::string, double> tagged_values(const std::string &output, const std::string &tag)
{
  std::istringstream lines(output);
  std::string line, last;
  while (std::getline(lines, line))
    if (line.rfind(tag + " ", 0) == 0) last = line;
  if (last.empty()) throw std::runtime_error("no output line starts with '" + tag + "'");
  std::map<std::string, double> values;
  std::istringstream words(last.substr(tag.size()));
  std::string word;
  while (words >> word) {
    const auto eq = word.find('=');
    if (eq == std::string::npos) continue;
    values[word.substr(0, eq)] = std::strtod(word.c_str() + eq + 1, nullptr);
  }
  return values;
}

std::size_t DumpSnapshot::column(const std::string &name) const
{
  for (std::size_t i = 0; i < columns.size(); ++i)
    if (columns[i] == name) return i;
  throw std::runtime_error("dump has no column " + name);
}

DumpSnapshot read_dump(const std::filesystem::path &path)
{
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read dump " + path.string());
  DumpSnapshot snapshot;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("ITEM: NUMBER OF ATOMS", 0) == 0) {
      std::getline(in, line);
      const auto count = std::stoul(line);
      while (std::getline(in, line) && line.rfind("ITEM: ATOMS", 0) != 0) {}
      std::istringstream header(line.substr(std::string("ITEM: ATOMS").size()));
      snapshot.columns.clear();
      for (std::string name; header >> name;) snapshot.columns.push_back(name);
      snapshot.rows.assign(count, {});
      for (auto &row : snapshot.rows) {
        std::getline(in, line);
        std::istringstream values(line);
        for (double v; values >> v;) row.push_back(v);
        if (row.size() != snapshot.columns.size())
          throw std::runtime_error("short dump row in " + path.string());
      }
    }
  }
  return snapshot;
}

std::string read_text(const std::filesystem::path &path)
{
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}    // namespace cephalo::test
