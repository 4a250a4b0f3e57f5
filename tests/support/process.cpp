// Running programs from tests (see process.h).
#include "process.h"

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace cephalo::test {

std::string shell_quote(const std::string &text)
{
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

CommandResult run_command(const std::filesystem::path &dir, const std::string &command,
                          int timeout_seconds)
{
  std::ostringstream line;
  line << "cd " << shell_quote(dir.string()) << " && timeout -k 10 " << timeout_seconds << " sh -c "
       << shell_quote(command) << " > output.txt 2>&1";
  CommandResult result;
  const int status = std::system(line.str().c_str());
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream in(dir / "output.txt");
  std::ostringstream text;
  text << in.rdbuf();
  result.output = text.str();
  return result;
}

}    // namespace cephalo::test
