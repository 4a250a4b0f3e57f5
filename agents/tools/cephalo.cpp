// cephalo: the command-line entry point. `cephalo <command> ...` runs the program
// cephalo-<command> found beside this one (or on PATH) with the remaining arguments, the way
// git runs its subcommands; each part ships its own program.
//
//   cephalo mesh spec.json -o part.stl ...   (cephalo-mesh)
//   cephalo help                             lists the commands found
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

fs::path own_directory()
{
  std::error_code error;
  const fs::path self = fs::read_symlink("/proc/self/exe", error);
  return error ? fs::path() : self.parent_path();
}

std::vector<fs::path> search_path()
{
  std::vector<fs::path> dirs;
  if (const fs::path own = own_directory(); !own.empty()) dirs.push_back(own);
  if (const char *path = std::getenv("PATH")) {
    std::istringstream list(path);
    for (std::string dir; std::getline(list, dir, ':');)
      if (!dir.empty()) dirs.emplace_back(dir);
  }
  return dirs;
}

std::set<std::string> commands()
{
  std::set<std::string> found;
  for (const auto &dir : search_path()) {
    std::error_code error;
    for (const auto &entry : fs::directory_iterator(dir, error)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("cephalo-", 0) == 0 && access(entry.path().c_str(), X_OK) == 0)
        found.insert(name.substr(8));
    }
  }
  return found;
}

int usage(FILE *out)
{
  std::fprintf(out, "usage: cephalo <command> [arguments]\n\ncommands:\n");
  for (const auto &c : commands()) std::fprintf(out, "  %s\n", c.c_str());
  std::fprintf(out, "\n`cephalo <command> --help` describes one.\n");
  return out == stdout ? 0 : 2;
}

}    // namespace

int main(int argc, char **argv)
{
  if (argc < 2) return usage(stderr);
  const std::string command = argv[1];
  if (command == "help" || command == "--help" || command == "-h") return usage(stdout);
  if (command.empty() || command[0] == '-' || command.find('/') != std::string::npos)
    return usage(stderr);
  for (const auto &dir : search_path()) {
    const fs::path program = dir / ("cephalo-" + command);
    if (access(program.c_str(), X_OK) != 0) continue;
    std::vector<char *> args;
    const std::string name = program.string();
    args.push_back(const_cast<char *>(name.c_str()));
    for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
    args.push_back(nullptr);
    execv(program.c_str(), args.data());
    std::fprintf(stderr, "cephalo: cannot run %s: %s\n", name.c_str(), std::strerror(errno));
    return 127;
  }
  std::fprintf(stderr, "cephalo: '%s' is not a command\n\n", command.c_str());
  return usage(stderr);
}
