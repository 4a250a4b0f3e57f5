// Parsing of LAMMPS-style references to per-atom values in command arguments.
#pragma once

#include <string>
#include <string_view>

namespace cephalo::plugin {

// "c_ID" (column 0: the compute's per-atom vector), "c_ID[k]" (column k >= 1 of its per-atom
// array), "v_name" (an atom-style variable), or a plain number.
struct ValueRef {
  enum class Kind { Compute, Variable, Number };
  Kind kind = Kind::Number;
  std::string id;
  int column = 0;
  double number = 0.0;
};

// Throws std::invalid_argument with a message that says what was expected.
ValueRef parse_value_ref(std::string_view text, bool allow_number);

// "yes" or "no" (LAMMPS keywords' switches) into `out`; false for anything else.
bool parse_yes_no(std::string_view text, bool &out);

}    // namespace cephalo::plugin
