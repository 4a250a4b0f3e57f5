// A picture's size in pixels as the command-line tools take it: "WIDTHxHEIGHT", or "SIZE" for a
// square, 16..8192 pixels each. Header only and free of the mesher's dependencies, so that tools
// that do not link the mesher (cephalo dataset fracture) read sizes the same way.
#pragma once

#include <stdexcept>
#include <string>

namespace cephalo::meshing {

struct PixelSize {
  int width = 0;
  int height = 0;
};

// Throws std::invalid_argument naming the text.
inline PixelSize parse_pixel_size(const std::string &text)
{
  const auto bad = [&] {
    return std::invalid_argument("size '" + text +
                                 "': expected WIDTHxHEIGHT or SIZE, 16 to 8192 pixels");
  };
  const auto number = [&](const std::string &part) {
    if (part.empty() || part.size() > 4 ||
        part.find_first_not_of("0123456789") != std::string::npos)
      throw bad();
    const int n = std::stoi(part);
    if (n < 16 || n > 8192) throw bad();
    return n;
  };
  const auto x = text.find('x');
  PixelSize size;
  size.width = number(text.substr(0, x));
  size.height = x == std::string::npos ? size.width : number(text.substr(x + 1));
  return size;
}

}    // namespace cephalo::meshing
