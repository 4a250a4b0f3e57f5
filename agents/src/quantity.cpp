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

// Number words of design language ("five layers", "twenty five tubules", "a dozen radials").
constexpr std::pair<std::string_view, int> kNumberWords[] = {
    {"zero", 0},     {"one", 1},      {"two", 2},        {"three", 3},     {"four", 4},
    {"five", 5},     {"six", 6},      {"seven", 7},      {"eight", 8},     {"nine", 9},
    {"ten", 10},     {"eleven", 11},  {"twelve", 12},    {"thirteen", 13}, {"fourteen", 14},
    {"fifteen", 15}, {"sixteen", 16}, {"seventeen", 17}, {"eighteen", 18}, {"nineteen", 19},
    {"twenty", 20},  {"thirty", 30},  {"forty", 40},     {"fifty", 50},    {"sixty", 60},
    {"seventy", 70}, {"eighty", 80},  {"ninety", 90},    {"hundred", 100}, {"dozen", 12},
    {"single", 1}};

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

// The word at text[pos] (letters only) and its end.
std::string_view word_at(std::string_view text, std::size_t pos)
{
  std::size_t end = pos;
  while (end < text.size() && std::isalpha(static_cast<unsigned char>(text[end]))) ++end;
  return text.substr(pos, end - pos);
}

std::optional<int> number_word(std::string_view word)
{
  for (const auto &[spelling, value] : kNumberWords) {
    if (word.size() != spelling.size()) continue;
    if (starts_with_ci(word, spelling)) return value;
  }
  return std::nullopt;
}

// A number written in words at text[pos]: "five", "twenty five", "twenty-five", "a dozen".
std::optional<std::pair<double, std::size_t>> read_number_words(std::string_view text,
                                                                std::size_t pos)
{
  std::size_t start = pos;
  if (starts_with_ci(text.substr(pos), "a dozen") &&
      (pos + 7 >= text.size() || !is_word_char(text[pos + 7])))
    return std::make_pair(12.0, pos + 7);
  const std::string_view first = word_at(text, start);
  const auto value = number_word(first);
  if (!value || first.empty()) return std::nullopt;
  std::size_t end = start + first.size();
  if (end < text.size() && is_word_char(text[end])) return std::nullopt;
  double total = *value;
  // tens followed by units: "twenty five", "twenty-five"
  if (*value >= 20 && *value <= 90 && end + 1 < text.size() &&
      (text[end] == ' ' || text[end] == '-')) {
    const std::string_view second = word_at(text, end + 1);
    const auto unit = number_word(second);
    if (unit && *unit >= 1 && *unit <= 9 && second.size() > 0) {
      total += *unit;
      end = end + 1 + second.size();
    }
  }
  return std::make_pair(total, end);
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
    const bool word_start =
        std::isalpha(static_cast<unsigned char>(c)) && (pos == 0 || !is_word_char(text[pos - 1]));
    if (!starts && !word_start) {
      ++pos;
      continue;
    }
    const auto number = starts ? read_number(text, pos) : read_number_words(text, pos);
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
