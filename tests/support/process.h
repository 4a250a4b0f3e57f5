// Running a program from a test: through the shell, in a folder, with a hard time limit, so a
// hang fails the test instead of blocking it.
#pragma once

#include <filesystem>
#include <string>

namespace cephalo::test {

// 'text' quoted for the POSIX shell.
std::string shell_quote(const std::string &text);

struct CommandResult {
  int exit_code = -1;    // 124: timed out; 128 + n: killed by signal n
  std::string output;    // stdout and stderr together
};

// Runs `command` (a shell command line) in `dir`; its output goes to output.txt there.
CommandResult run_command(const std::filesystem::path &dir, const std::string &command,
                          int timeout_seconds = 120);

}    // namespace cephalo::test
