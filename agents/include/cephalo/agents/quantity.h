// Numbers with units in everyday design language ("5 mm", "0.5 cm", "30%", "10 degrees",
// "25 tubules"), converted to the units of a DesignSpec: millimetres, degrees, fractions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cephalo::agents {

enum class Dimension {
  Length,      // millimetres
  Angle,       // degrees
  Fraction,    // 0..1 (from percent)
  Count        // a bare number; `unit` holds the word that follows, if any ("tubules")
};

struct Quantity {
  double value = 0.0;
  Dimension dimension = Dimension::Count;
  std::string unit;    // the unit as written ("cm", "%", "degrees") or the counted noun
};

struct QuantityMatch {
  Quantity quantity;
  std::size_t begin = 0;    // byte range of the number and its unit in the text
  std::size_t end = 0;
};

// Every number in the text with the unit written after it. Numbers may be digits ("5", "0.5",
// "1e-3") or words ("five", "twenty five", "a dozen", "single").
std::vector<QuantityMatch> find_quantities(std::string_view text);

// The text must be exactly one quantity (surrounding spaces allowed).
std::optional<Quantity> parse_quantity(std::string_view text);

}    // namespace cephalo::agents
