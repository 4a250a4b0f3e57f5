// Command-line checks shared by the models/ programs: a bad argument exits with status 2, the
// reason and the program's usage text on stderr.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

namespace cephalo::models::cli {

class Program {
 public:
  // `name` as the user types it ("cephalo generate"); `usage` the text printed after errors.
  Program(const char *name, const char *usage) : name_(name), usage_(usage) {}

  [[noreturn]] void fail_usage(const std::string &what) const
  {
    std::fprintf(stderr, "%s: %s\n\n%s", name_, what.c_str(), usage_);
    std::exit(2);
  }

  double number(const std::string &flag, const std::string &text) const
  {
    try {
      std::size_t used = 0;
      const double value = std::stod(text, &used);
      if (used == text.size() && std::isfinite(value)) return value;
    } catch (const std::exception &) {
    }
    fail_usage(flag + " needs a number, not '" + text + "'");
  }

  // A whole number in [min, max] (the flags that count or seed).
  long long whole(const std::string &flag, const std::string &text, long long min,
                  long long max) const
  {
    try {
      std::size_t used = 0;
      const long long value = std::stoll(text, &used);
      if (used == text.size() && value >= min && value <= max) return value;
    } catch (const std::exception &) {
    }
    fail_usage(flag + " needs a whole number from " + std::to_string(min) + " to " +
               std::to_string(max) + ", not '" + text + "'");
  }

 private:
  const char *name_;
  const char *usage_;
};

}    // namespace cephalo::models::cli
