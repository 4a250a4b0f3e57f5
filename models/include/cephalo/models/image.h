// Decoding PNG and JPEG files into the 8-bit RGB pixels that the image processors take, and
// writing PNG for tests and tools.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace cephalo::models {

// 8-bit RGB, row-major, 3 bytes per pixel, rows without padding: rgb.size() == 3 * width * height.
struct Image {
  int width = 0, height = 0;
  std::vector<std::uint8_t> rgb;
};

// Data that is not a PNG or JPEG, is damaged or truncated, or is too large. The message names
// the file (or what the caller called the data) and the reason.
class ImageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Larger images are refused before any pixel buffer is allocated (16384^2 x 3 bytes is 768 MiB).
inline constexpr int kMaxImageSide = 16384;

// Decodes PNG or JPEG, told apart by their signatures, to what PIL's Image.open(...).convert("RGB")
// gives, which is what Hugging Face processors see: alpha and transparency are dropped, not
// composited; grey is replicated; palettes are looked up; CMYK JPEGs are converted as PIL does.
// One deliberate difference: 16-bit samples keep their high byte, where PIL clips 16-bit greyscale
// at 255 (and turns a microscope image white). No gamma or ICC correction and no EXIF rotation,
// as in PIL. `what` names the data in errors. Throws ImageError; never crashes on any input.
Image decode_image(const std::uint8_t *bytes, std::size_t size, const std::string &what);

// Reads and decodes a PNG or JPEG file. Throws ImageError naming the file.
Image read_image(const std::filesystem::path &path);

// Writes an 8-bit RGB PNG. Throws ImageError naming the file.
void write_png(const std::filesystem::path &path, const Image &image);

}    // namespace cephalo::models
