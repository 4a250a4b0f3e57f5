// Command-line checks shared by the models/ programs: a bad argument exits with status 2, the
// reason and the program's usage text on stderr.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

namespace cephalo::models::cli {

struct Program {
  const char *name;     // "cephalo generate"
  const char *usage;    // the usage text
};

[[noreturn]] inline void fail_usage(const Program &program, const std::string &what)
{
  std::fprintf(stderr, "%s: %s\n\n%s", program.name, what.c_str(), program.usage);
  std::exit(2);
}

inline double number(const Program &program, const std::string &flag, const std::string &text)
{
  try {
    std::size_t used = 0;
    const double value = std::stod(text, &used);
    if (used == text.size() && std::isfinite(value)) return value;
  } catch (const std::exception &) {
  }
  fail_usage(program, flag + " needs a number, not '" + text + "'");
}

// A whole number in [min, max] (the flags that count or seed).
inline long long whole(const Program &program, const std::string &flag, const std::string &text,
                       long long min, long long max)
{
  try {
    std::size_t used = 0;
    const long long value = std::stoll(text, &used);
    if (used == text.size() && value >= min && value <= max) return value;
  } catch (const std::exception &) {
  }
  fail_usage(program, flag + " needs a whole number from " + std::to_string(min) + " to " +
                          std::to_string(max) + ", not '" + text + "'");
}

}    // namespace cephalo::models::cli
