// Number-and-unit recognition (see quantity.h).
#include "cephalo/agents/quantity.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string>

namespace cephalo::agents {
namespace {

constexpr double kDegreesPerRadian = 57.295779513082320876798154814105;

struct UnitEntry {
  std::string_view spelling;
  Dimension dimension;
  double scale;    // to millimetres, degrees or fraction
};

// Longer spellings first where one is a prefix of another ("mm" before "m").
constexpr UnitEntry kUnits[] = {
    {"millimeters", Dimension::Length, 1.0},
    {"millimetres", Dimension::Length, 1.0},
    {"millimeter", Dimension::Length, 1.0},
    {"millimetre", Dimension::Length, 1.0},
    {"centimeters", Dimension::Length, 10.0},
    {"centimetres", Dimension::Length, 10.0},
    {"centimeter", Dimension::Length, 10.0},
    {"centimetre", Dimension::Length, 10.0},
    {"micrometers", Dimension::Length, 1e-3},
    {"micrometres", Dimension::Length, 1e-3},
    {"micrometer", Dimension::Length, 1e-3},
    {"micrometre", Dimension::Length, 1e-3},
    {"microns", Dimension::Length, 1e-3},
    {"micron", Dimension::Length, 1e-3},
    {"meters", Dimension::Length, 1000.0},
    {"metres", Dimension::Length, 1000.0},
    {"meter", Dimension::Length, 1000.0},
    {"metre", Dimension::Length, 1000.0},
    {"mm", Dimension::Length, 1.0},
    {"cm", Dimension::Length, 10.0},
    {"\xC2\xB5m", Dimension::Length, 1e-3},
    {"\xCE\xBCm", Dimension::Length, 1e-3},
    {"um", Dimension::Length, 1e-3},
    {"nm", Dimension::Length, 1e-6},
    {"m", Dimension::Length, 1000.0},
    {"degrees", Dimension::Angle, 1.0},
    {"degree", Dimension::Angle, 1.0},
    {"deg", Dimension::Angle, 1.0},
    {"\xC2\xB0", Dimension::Angle, 1.0},
    {"radians", Dimension::Angle, kDegreesPerRadian},
    {"radian", Dimension::Angle, kDegreesPerRadian},
    {"rad", Dimension::Angle, kDegreesPerRadian},
    {"percent", Dimension::Fraction, 0.01},
    {"%", Dimension::Fraction, 0.01},
};

bool is_word_char(char c)
{
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || (c & 0x80);
}

bool starts_with_ci(std::string_view text, std::string_view prefix)
{
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  return true;
}

// Reads a decimal number (optional sign, digits, fraction, exponent) at text[pos].
std::optional<std::pair<double, std::size_t>> read_number(std::string_view text, std::size_t pos)
{
  std::size_t end = pos;
  if (end < text.size() && (text[end] == '-' || text[end] == '+')) ++end;
  const std::size_t digits_start = end;
  while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
  if (end < text.size() && text[end] == '.' && end + 1 < text.size() &&
      std::isdigit(static_cast<unsigned char>(text[end + 1]))) {
    ++end;
    while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
  }
  if (end == digits_start) return std::nullopt;
  // exponent only when digits follow ("1e-3"), so "5 em" stays a count
  if (end + 1 < text.size() && (text[end] == 'e' || text[end] == 'E')) {
    std::size_t exp = end + 1;
    if (exp < text.size() && (text[exp] == '-' || text[exp] == '+')) ++exp;
    if (exp < text.size() && std::isdigit(static_cast<unsigned char>(text[exp]))) {
      while (exp < text.size() && std::isdigit(static_cast<unsigned char>(text[exp]))) ++exp;
      end = exp;
    }
  }
  const std::string number(text.substr(pos, end - pos));
  return std::make_pair(std::strtod(number.c_str(), nullptr), end);
}

}    // namespace

std::vector<QuantityMatch> find_quantities(std::string_view text)
{
  std::vector<QuantityMatch> matches;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const char c = text[pos];
    const bool sign = (c == '-' || c == '+') && pos + 1 < text.size() &&
                      std::isdigit(static_cast<unsigned char>(text[pos + 1]));
    const bool starts = (std::isdigit(static_cast<unsigned char>(c)) || sign) &&
                        (pos == 0 || !is_word_char(text[pos - 1]));
    if (!starts) {
      ++pos;
      continue;
    }
    const auto number = read_number(text, pos);
    if (!number) {
      ++pos;
      continue;
    }
    QuantityMatch match;
    match.begin = pos;
    match.quantity.value = number->first;
    std::size_t end = number->second;

    std::size_t unit_pos = end;
    while (unit_pos < text.size() && text[unit_pos] == ' ') ++unit_pos;
    bool found = false;
    for (const auto &unit : kUnits) {
      if (!starts_with_ci(text.substr(unit_pos), unit.spelling)) continue;
      const std::size_t after = unit_pos + unit.spelling.size();
      // a unit must end the word ("5 mmm" or "5 meshes" are not millimetres or metres)
      const bool symbol = !std::isalpha(static_cast<unsigned char>(unit.spelling.back()));
      if (!symbol && after < text.size() && is_word_char(text[after])) continue;
      match.quantity.value *= unit.scale;
      match.quantity.dimension = unit.dimension;
      match.quantity.unit = std::string(text.substr(unit_pos, unit.spelling.size()));
      end = after;
      found = true;
      break;
    }
    if (!found) {
      match.quantity.dimension = Dimension::Count;
      std::size_t noun_end = unit_pos;
      while (noun_end < text.size() && is_word_char(text[noun_end])) ++noun_end;
      if (unit_pos > end || noun_end > unit_pos)
        match.quantity.unit = std::string(text.substr(unit_pos, noun_end - unit_pos));
    }
    match.end = end;
    matches.push_back(std::move(match));
    pos = end;
  }
  return matches;
}

std::optional<Quantity> parse_quantity(std::string_view text)
{
  std::size_t first = 0, last = text.size();
  while (first < last && std::isspace(static_cast<unsigned char>(text[first]))) ++first;
  while (last > first && std::isspace(static_cast<unsigned char>(text[last - 1]))) --last;
  text = text.substr(first, last - first);
  const auto matches = find_quantities(text);
  if (matches.size() != 1 || matches[0].begin != 0) return std::nullopt;
  const auto &match = matches[0];
  // a count may name its noun ("25 tubules"); anything else must be consumed by the unit
  std::size_t consumed = match.end;
  if (match.quantity.dimension == Dimension::Count) {
    while (consumed < text.size() && text[consumed] == ' ') ++consumed;
    consumed += match.quantity.unit.size();
  }
  if (consumed != text.size()) return std::nullopt;
  return match.quantity;
}

}    // namespace cephalo::agents
