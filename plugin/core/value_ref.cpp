// Parsing of c_ID, c_ID[k], v_name and numbers (see value_ref.h).
#include "value_ref.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

namespace cephalo::plugin {
namespace {

bool valid_id(std::string_view id)
{
  // LAMMPS IDs: letters, digits and underscores.
  if (id.empty()) return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

}    // namespace

ValueRef parse_value_ref(std::string_view text, bool allow_number)
{
  const std::string expected =
      allow_number ? "a number, c_ID, c_ID[k] or v_name" : "c_ID, c_ID[k] or v_name";
  ValueRef ref;
  if (text.size() > 2 && (text.substr(0, 2) == "c_" || text.substr(0, 2) == "v_")) {
    ref.kind = text[0] == 'c' ? ValueRef::Kind::Compute : ValueRef::Kind::Variable;
    std::string_view rest = text.substr(2);
    const auto bracket = rest.find('[');
    if (bracket != std::string_view::npos) {
      if (ref.kind == ValueRef::Kind::Variable || rest.back() != ']')
        throw std::invalid_argument("'" + std::string(text) + "' is not " + expected);
      const std::string index(rest.substr(bracket + 1, rest.size() - bracket - 2));
      char *end = nullptr;
      errno = 0;
      const long k = std::strtol(index.c_str(), &end, 10);
      if (index.empty() || *end != '\0' || errno != 0 || k < 1 || k > 1000000)
        throw std::invalid_argument("column in '" + std::string(text) +
                                    "' must be a positive integer");
      ref.column = static_cast<int>(k);
      rest = rest.substr(0, bracket);
    }
    if (!valid_id(rest))
      throw std::invalid_argument("'" + std::string(text) + "' is not " + expected);
    ref.id = std::string(rest);
    return ref;
  }
  if (allow_number) {
    const std::string copy(text);
    char *end = nullptr;
    errno = 0;
    const double value = std::strtod(copy.c_str(), &end);
    if (!copy.empty() && *end == '\0' && errno == 0 && std::isfinite(value)) {
      ref.kind = ValueRef::Kind::Number;
      ref.number = value;
      return ref;
    }
  }
  throw std::invalid_argument("'" + std::string(text) + "' is not " + expected);
}

bool parse_yes_no(std::string_view text, bool &out)
{
  if (text != "yes" && text != "no") return false;
  out = text == "yes";
  return true;
}

}    // namespace cephalo::plugin
