// PNG IHDR and JPEG SOF headers.
#include "image_header.h"

#include <cstdint>

namespace cephalo::bridge {
namespace {

std::uint32_t big_endian(const std::string &b, std::size_t at, int bytes)
{
  std::uint32_t v = 0;
  for (int i = 0; i < bytes; ++i)
    v = (v << 8) | static_cast<std::uint8_t>(b[at + static_cast<std::size_t>(i)]);
  return v;
}

}    // namespace

std::optional<std::pair<int, int>> image_size(const std::string &b)
{
  static const std::string png = "\x89PNG\r\n\x1a\n";
  if (b.size() >= 24 && b.compare(0, 8, png) == 0 && b.compare(12, 4, "IHDR") == 0) {
    const auto w = big_endian(b, 16, 4), h = big_endian(b, 20, 4);
    if (w == 0 || h == 0 || w > (1u << 30) || h > (1u << 30)) return std::nullopt;
    return std::make_pair(static_cast<int>(w), static_cast<int>(h));
  }
  if (b.size() < 4 || static_cast<std::uint8_t>(b[0]) != 0xFF ||
      static_cast<std::uint8_t>(b[1]) != 0xD8)
    return std::nullopt;
  // walk the JPEG markers to the first start-of-frame
  std::size_t at = 2;
  while (at + 4 <= b.size()) {
    if (static_cast<std::uint8_t>(b[at]) != 0xFF) return std::nullopt;
    const auto marker = static_cast<std::uint8_t>(b[at + 1]);
    if (marker == 0xFF) {
      ++at;
      continue;
    }
    if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {
      at += 2;
      continue;
    }
    const auto length = big_endian(b, at + 2, 2);
    if (length < 2) return std::nullopt;
    const bool frame =
        marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (frame) {
      if (at + 9 > b.size()) return std::nullopt;
      const auto h = big_endian(b, at + 5, 2), w = big_endian(b, at + 7, 2);
      if (w == 0 || h == 0) return std::nullopt;
      return std::make_pair(static_cast<int>(w), static_cast<int>(h));
    }
    at += 2 + length;
  }
  return std::nullopt;
}

}    // namespace cephalo::bridge
