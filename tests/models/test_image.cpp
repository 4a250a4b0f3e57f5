// Image decoding: every PNG colour type and bit depth and greyscale, colour and CMYK JPEG give the
// RGB that PIL's convert("RGB") gives; damaged, truncated or oversized data gives an ImageError.
#define BOOST_TEST_MODULE models_image
#include <boost/test/unit_test.hpp>

#include "cephalo/models/image.h"
#include "scratch_dir.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace cephalo::models;
using cephalo::test::ScratchDir;

namespace {

using Bytes = std::vector<std::uint8_t>;

// ---- A PNG encoder for test inputs of every colour type and bit depth --------------------------
// Deflate "stored" blocks keep it free of zlib; libpng reads them like any other.

std::uint32_t crc32(const std::uint8_t *bytes, std::size_t size)
{
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < size; ++i) {
    crc ^= bytes[i];
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void put32(Bytes &out, std::uint32_t value)
{
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<std::uint8_t>(value >> shift));
}

void put_chunk(Bytes &out, const char *type, const Bytes &data)
{
  put32(out, static_cast<std::uint32_t>(data.size()));
  const std::size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data.begin(), data.end());
  put32(out, crc32(out.data() + start, out.size() - start));
}

Bytes zlib_stored(const Bytes &raw)
{
  Bytes out = {0x78, 0x01};
  std::size_t at = 0;
  do {
    const std::size_t n = std::min<std::size_t>(raw.size() - at, 65535);
    const bool last = at + n == raw.size();
    out.push_back(last ? 1 : 0);
    out.push_back(static_cast<std::uint8_t>(n & 0xFF));
    out.push_back(static_cast<std::uint8_t>(n >> 8));
    out.push_back(static_cast<std::uint8_t>(~n & 0xFF));
    out.push_back(static_cast<std::uint8_t>((~n >> 8) & 0xFF));
    out.insert(out.end(), raw.begin() + at, raw.begin() + at + n);
    at += n;
  } while (at < raw.size());
  std::uint32_t a = 1, b = 0;
  for (const std::uint8_t byte : raw) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  put32(out, (b << 16) | a);
  return out;
}

struct PngSpec {
  int width = 0, height = 0;
  int color_type = 2;    // 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA
  int bit_depth = 8;
  bool interlaced = false;
  std::vector<int> samples;    // row-major, channels interleaved
  Bytes palette, transparency;
};

int channels_of(int color_type)
{
  switch (color_type) {
  case 0:
    return 1;
  case 2:
    return 3;
  case 3:
    return 1;
  case 4:
    return 2;
  default:
    return 4;
  }
}

Bytes make_png(const PngSpec &spec)
{
  const int channels = channels_of(spec.color_type);
  // Adam7's seven passes, or one pass over every pixel.
  struct Pass {
    int x0, y0, dx, dy;
  };
  const std::vector<Pass> passes =
      spec.interlaced ? std::vector<Pass>{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                          {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}
                      : std::vector<Pass>{{0, 0, 1, 1}};
  Bytes raw;
  for (const Pass &pass : passes) {
    if (pass.x0 >= spec.width || pass.y0 >= spec.height) continue;    // an empty pass has no rows
    for (int y = pass.y0; y < spec.height; y += pass.dy) {
      raw.push_back(0);    // filter: none
      int bits = 0, used = 0;
      for (int x = pass.x0; x < spec.width; x += pass.dx)
        for (int c = 0; c < channels; ++c) {
          const int v = spec.samples[(static_cast<std::size_t>(y) * spec.width + x) * channels + c];
          if (spec.bit_depth == 16) {
            raw.push_back(static_cast<std::uint8_t>(v >> 8));
            raw.push_back(static_cast<std::uint8_t>(v & 0xFF));
          } else if (spec.bit_depth == 8) {
            raw.push_back(static_cast<std::uint8_t>(v));
          } else {
            bits = (bits << spec.bit_depth) | v;
            used += spec.bit_depth;
            if (used == 8) {
              raw.push_back(static_cast<std::uint8_t>(bits));
              bits = used = 0;
            }
          }
        }
      if (used > 0) raw.push_back(static_cast<std::uint8_t>(bits << (8 - used)));
    }
  }
  Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  Bytes header;
  put32(header, static_cast<std::uint32_t>(spec.width));
  put32(header, static_cast<std::uint32_t>(spec.height));
  header.insert(header.end(), {static_cast<std::uint8_t>(spec.bit_depth),
                               static_cast<std::uint8_t>(spec.color_type), 0, 0,
                               static_cast<std::uint8_t>(spec.interlaced ? 1 : 0)});
  put_chunk(png, "IHDR", header);
  if (!spec.palette.empty()) put_chunk(png, "PLTE", spec.palette);
  if (!spec.transparency.empty()) put_chunk(png, "tRNS", spec.transparency);
  put_chunk(png, "IDAT", zlib_stored(raw));
  put_chunk(png, "IEND", {});
  return png;
}

Image decode(const Bytes &bytes)
{
  return decode_image(bytes.data(), bytes.size(), "test.png");
}

std::string error_of(const Bytes &bytes, const std::string &what = "test.png")
{
  try {
    decode_image(bytes.data(), bytes.size(), what);
  } catch (const ImageError &e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string &text, const std::string &part)
{
  return text.find(part) != std::string::npos;
}

Bytes from_hex(const std::string &hex)
{
  Bytes out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// Made by PIL (quality 100): 16 x 16 in four 8 x 8 quarters of (200, 30, 40), (20, 180, 60),
// (30, 60, 220), (240, 240, 240), 4:4:4; 8 x 8 greyscale of 77; 8 x 8 CMYK (0, 128, 255, 64),
// which PIL decodes to RGB (191, 95, 0).
const char *const kColourJpeg =
    "ffd8ffe000104a46494600010100000100010000ffdb00430001010101010101010101010101010101010101"
    "0101010101010101010101010101010101010101010101010101010101010101010101010101010101010101"
    "01ffdb0043010101010101010101010101010101010101010101010101010101010101010101010101010101"
    "0101010101010101010101010101010101010101010101010101ffc000110800100010030111000211010311"
    "01ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b5100002010303"
    "020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c11552d1f024"
    "33627282090a161718191a25262728292a3435363738393a434445464748494a535455565758595a63646566"
    "6768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7"
    "b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffc400"
    "1f0100030101010101010101010000000000000102030405060708090a0bffc400b511000201020404030407"
    "05040400010277000102031104052131061241510761711322328108144291a1b1c109233352f0156272d10a"
    "162434e125f11718191a262728292a35363738393a434445464748494a535455565758595a63646566676869"
    "6a737475767778797a82838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9"
    "bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8f9faffda000c030100"
    "02110311003f00fc8fafe3f3fea80fd20afcdcff00ccbcfc77affbb03fd503fd562bfe55cfee03ffd9";
const char *const kGreyJpeg =
    "ffd8ffe000104a46494600010100000100010000ffdb00430001010101010101010101010101010101010101"
    "0101010101010101010101010101010101010101010101010101010101010101010101010101010101010101"
    "01ffc0000b080008000801011100ffc4001f0000010501010101010100000000000000000102030405060708"
    "090a0bffc400b5100002010303020403050504040000017d0102030004110512213141061351610722711432"
    "8191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a43444546474849"
    "4a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999aa2a3"
    "a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9ea"
    "f1f2f3f4f5f6f7f8f9faffda0008010100003f00fc67afffd9";
const char *const kCmykJpeg =
    "ffd8ffee000e41646f626500640000000000ffdb004300010101010101010101010101010101010101010101"
    "01010101010101010101010101010101010101010101010101010101010101010101010101010101010101ff"
    "c000140800080008044311004d11005911004b1100ffc4001f00000105010101010101000000000000000001"
    "02030405060708090a0bffc400b5100002010303020403050504040000017d01020300041105122131410613"
    "516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a"
    "434445464748494a535455565758595a636465666768696a737475767778797a838485868788898a92939495"
    "969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3"
    "e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda000e0443004d0059004b00003f00fefe2abd7f9ffd7efc57ff"
    "d9";

// Random pixels (seeded): every byte value, and no runs for a codec to make easy.
Image noise(int width, int height)
{
  std::mt19937 random(static_cast<unsigned>(width * 1000 + height));
  Image image{width, height, std::vector<std::uint8_t>(std::size_t{3} * width * height)};
  for (auto &byte : image.rgb) byte = static_cast<std::uint8_t>(random() >> 24);
  return image;
}

std::vector<int> rgb_of(const Image &image)
{
  return std::vector<int>(image.rgb.begin(), image.rgb.end());
}

Bytes bytes_of(const fs::path &path)
{
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

// Recomputes the CRC of every complete chunk, so that a mutation reaches the decoder instead of
// stopping at the checksum.
void fix_crcs(Bytes &png)
{
  std::size_t at = 8;
  while (at + 12 <= png.size()) {
    const std::size_t length =
        (std::size_t{png[at]} << 24) | (png[at + 1] << 16) | (png[at + 2] << 8) | png[at + 3];
    if (length > png.size() - at - 12) return;
    const std::uint32_t crc = crc32(png.data() + at + 4, length + 4);
    for (int b = 0; b < 4; ++b)
      png[at + 8 + length + b] = static_cast<std::uint8_t>(crc >> (24 - 8 * b));
    at += length + 12;
  }
}

}    // namespace

BOOST_AUTO_TEST_CASE(png_round_trip_keeps_every_pixel)
{
  ScratchDir dir;
  const Image image = noise(23, 17);
  write_png(dir / "noise.png", image);
  const Image back = read_image(dir / "noise.png");
  BOOST_TEST(back.width == 23);
  BOOST_TEST(back.height == 17);
  BOOST_TEST(rgb_of(back) == rgb_of(image));
}

BOOST_AUTO_TEST_CASE(low_bit_depth_grey_is_scaled_to_eight_bits)
{
  PngSpec one{4, 1, 0, 1, false, {0, 1, 1, 0}, {}, {}};
  BOOST_TEST(rgb_of(decode(make_png(one))) ==
             std::vector<int>({0, 0, 0, 255, 255, 255, 255, 255, 255, 0, 0, 0}));
  PngSpec two{4, 1, 0, 2, false, {0, 1, 2, 3}, {}, {}};
  BOOST_TEST(rgb_of(decode(make_png(two))) ==
             std::vector<int>({0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255}));
  PngSpec four{3, 1, 0, 4, false, {0, 15, 7}, {}, {}};
  BOOST_TEST(rgb_of(decode(make_png(four))) ==
             std::vector<int>({0, 0, 0, 255, 255, 255, 119, 119, 119}));
}

BOOST_AUTO_TEST_CASE(sixteen_bit_samples_keep_their_high_byte)
{
  PngSpec rgb{2, 1, 2, 16, false, {0x1280, 0x34FF, 0xFF00, 0x00FF, 0x8000, 0x7FFF}, {}, {}};
  BOOST_TEST(rgb_of(decode(make_png(rgb))) == std::vector<int>({18, 52, 255, 0, 128, 127}));
  PngSpec rgba{
      2, 1, 6, 16, false, {0x1280, 0x34FF, 0xFF00, 0x0100, 0x00FF, 0x8000, 0x7FFF, 0xFFFF}, {}, {}};
  BOOST_TEST(rgb_of(decode(make_png(rgba))) == std::vector<int>({18, 52, 255, 0, 128, 127}));
  PngSpec grey_alpha{2, 1, 4, 16, false, {0x1280, 0x0100, 0x80FF, 0xFFFF}, {}, {}};
  BOOST_TEST(rgb_of(decode(make_png(grey_alpha))) == std::vector<int>({18, 18, 18, 128, 128, 128}));
  // PIL would clip these to 255 (it reads 16-bit grey as 32-bit integers); we keep the high byte.
  PngSpec grey{2, 1, 0, 16, false, {0x1280, 0xFF01}, {}, {}};
  BOOST_TEST(rgb_of(decode(make_png(grey))) == std::vector<int>({18, 18, 18, 255, 255, 255}));
}

BOOST_AUTO_TEST_CASE(alpha_and_transparency_are_dropped_not_composited)
{
  PngSpec rgba{2, 1, 6, 8, false, {10, 20, 30, 0, 200, 100, 50, 128}, {}, {}};
  BOOST_TEST(rgb_of(decode(make_png(rgba))) == std::vector<int>({10, 20, 30, 200, 100, 50}));
  PngSpec grey_alpha{2, 1, 4, 8, false, {5, 0, 250, 255}, {}, {}};
  BOOST_TEST(rgb_of(decode(make_png(grey_alpha))) == std::vector<int>({5, 5, 5, 250, 250, 250}));
  PngSpec grey_key{2, 1, 0, 8, false, {5, 200}, {}, {0, 5}};    // tRNS: grey 5 is transparent
  BOOST_TEST(rgb_of(decode(make_png(grey_key))) == std::vector<int>({5, 5, 5, 200, 200, 200}));
}

BOOST_AUTO_TEST_CASE(palettes_are_looked_up_at_every_bit_depth)
{
  const Bytes palette = {10, 20, 30, 200, 100, 50, 1, 2, 3};
  for (const int depth : {2, 4, 8}) {
    PngSpec spec{3, 1, 3, depth, false, {0, 1, 2}, palette, {0, 128}};
    BOOST_TEST_CONTEXT("bit depth " << depth)
    BOOST_TEST(rgb_of(decode(make_png(spec))) ==
               std::vector<int>({10, 20, 30, 200, 100, 50, 1, 2, 3}));
  }
  PngSpec one{3, 1, 3, 1, false, {1, 0, 1}, {9, 8, 7, 6, 5, 4}, {}};
  BOOST_TEST(rgb_of(decode(make_png(one))) == std::vector<int>({6, 5, 4, 9, 8, 7, 6, 5, 4}));
}

BOOST_AUTO_TEST_CASE(interlaced_png_decodes_like_the_plain_one)
{
  const Image image = noise(11, 9);
  PngSpec spec{11, 9, 2, 8, true, std::vector<int>(image.rgb.begin(), image.rgb.end()), {}, {}};
  const Image interlaced = decode(make_png(spec));
  BOOST_TEST(interlaced.width == 11);
  BOOST_TEST(interlaced.height == 9);
  BOOST_TEST(rgb_of(interlaced) == rgb_of(image));
}

BOOST_AUTO_TEST_CASE(jpeg_colour_grey_and_cmyk_decode_as_pil_does)
{
  const Bytes colour = from_hex(kColourJpeg);
  const Image image = decode_image(colour.data(), colour.size(), "quarters.jpg");
  BOOST_TEST(image.width == 16);
  BOOST_TEST(image.height == 16);
  // PIL (same libjpeg-turbo) gives (200, 30, 39), (20, 179, 60), (30, 60, 220), (240, 240, 240)
  // at the quarter centres; allow for another libjpeg's rounding.
  const int expected[4][3] = {{200, 30, 40}, {20, 180, 60}, {30, 60, 220}, {240, 240, 240}};
  const int centres[4][2] = {{4, 4}, {12, 4}, {4, 12}, {12, 12}};
  for (int q = 0; q < 4; ++q)
    for (int c = 0; c < 3; ++c) {
      const int got = image.rgb[3 * (centres[q][1] * 16 + centres[q][0]) + c];
      BOOST_TEST_CONTEXT("quarter " << q << " channel " << c)
      BOOST_TEST(std::abs(got - expected[q][c]) <= 2);
    }

  const Bytes grey = from_hex(kGreyJpeg);
  const Image grey_image = decode_image(grey.data(), grey.size(), "grey.jpg");
  BOOST_TEST(rgb_of(grey_image) == std::vector<int>(8 * 8 * 3, 77));

  const Bytes cmyk = from_hex(kCmykJpeg);
  const Image cmyk_image = decode_image(cmyk.data(), cmyk.size(), "cmyk.jpg");
  BOOST_TEST(cmyk_image.width == 8);
  for (int i = 0; i < 64; ++i) {
    BOOST_TEST_CONTEXT("pixel " << i)
    {
      BOOST_TEST(std::abs(cmyk_image.rgb[3 * i + 0] - 191) <= 1);
      BOOST_TEST(std::abs(cmyk_image.rgb[3 * i + 1] - 95) <= 1);
      BOOST_TEST(std::abs(cmyk_image.rgb[3 * i + 2] - 0) <= 1);
    }
  }
}

BOOST_AUTO_TEST_CASE(bad_data_is_refused_with_the_name_and_the_reason)
{
  BOOST_TEST(error_of({}, "empty.png") == "empty.png: no data (empty file?)");
  BOOST_TEST(error_of({'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0}, "anim.gif") ==
             "anim.gif: not a PNG or JPEG image (unknown signature)");

  ScratchDir dir;
  write_png(dir / "p.png", noise(40, 30));
  const Bytes png = bytes_of(dir / "p.png");
  const std::string cut = error_of(Bytes(png.begin(), png.begin() + png.size() * 6 / 10));
  BOOST_TEST(contains(cut, "test.png: bad PNG: the data ends early (truncated?)"), cut);

  const Bytes jpeg = from_hex(kColourJpeg);
  const std::string cut_jpeg =
      error_of(Bytes(jpeg.begin(), jpeg.begin() + jpeg.size() - 8), "photo.jpg");
  BOOST_TEST(cut_jpeg == "photo.jpg: the JPEG data ends before the image does (truncated?)");
  const std::string header_only = error_of(Bytes(jpeg.begin(), jpeg.begin() + 100), "photo.jpg");
  BOOST_TEST(contains(header_only, "photo.jpg: bad JPEG: "), header_only);

  BOOST_CHECK_EXCEPTION(read_image(dir / "missing.png"), ImageError, [&](const ImageError &e) {
    return std::string(e.what()) == (dir / "missing.png").string() + ": cannot open";
  });
  BOOST_CHECK_EXCEPTION(
      write_png(dir / "no" / "such" / "dir.png", noise(2, 2)), ImageError,
      [](const ImageError &e) { return contains(e.what(), "dir.png: cannot create"); });
}

BOOST_AUTO_TEST_CASE(oversized_images_are_refused_before_decoding)
{
  PngSpec wide{20000, 1, 0, 1, false, std::vector<int>(20000, 1), {}, {}};
  BOOST_TEST(
      error_of(make_png(wide)) ==
      "test.png: the image is 20000 x 1 pixels; at most 16384 pixels on a side are accepted");

  Bytes jpeg = from_hex(kColourJpeg);
  for (std::size_t i = 0; i + 8 < jpeg.size(); ++i)
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0) {    // SOF0: length, precision, height, width
      jpeg[i + 5] = 0x4E;
      jpeg[i + 6] = 0x20;    // height 20000
      break;
    }
  BOOST_TEST(error_of(jpeg, "tall.jpg") ==
             "tall.jpg: the image is 16 x 20000 pixels; at most 16384 pixels on a side are "
             "accepted");
}

BOOST_AUTO_TEST_CASE(damaged_files_give_an_image_or_an_image_error_never_a_crash)
{
  ScratchDir dir;
  write_png(dir / "seed.png", noise(23, 17));
  const Image palette_image = noise(9, 7);
  PngSpec interlaced{9, 7, 3, 4, true, {}, {}, {}};
  for (int i = 0; i < 63; ++i) interlaced.samples.push_back(palette_image.rgb[3 * i] % 16);
  for (int i = 0; i < 48; ++i) interlaced.palette.push_back(static_cast<std::uint8_t>(i * 5));
  const std::vector<std::pair<std::string, Bytes>> seeds = {
      {"seed.png", bytes_of(dir / "seed.png")},
      {"interlaced.png", make_png(interlaced)},
      {"colour.jpg", from_hex(kColourJpeg)},
      {"grey.jpg", from_hex(kGreyJpeg)},
      {"cmyk.jpg", from_hex(kCmykJpeg)}};

  std::mt19937 random(20240611);
  int decoded = 0, refused = 0;
  for (const auto &[name, seed] : seeds) {
    const bool png = name.size() > 4 && name.compare(name.size() - 4, 4, ".png") == 0;
    for (int trial = 0; trial < 1500; ++trial) {
      Bytes bytes = seed;
      const int kind = trial % 4;
      if (kind == 3) {
        bytes.resize(random() % bytes.size());
      } else {
        const int flips = 1 + static_cast<int>(random() % 4);
        for (int f = 0; f < flips; ++f) {
          auto &byte = bytes[random() % bytes.size()];
          byte = kind == 0 ? static_cast<std::uint8_t>(byte ^ (1u << (random() % 8)))
                           : static_cast<std::uint8_t>(random());
        }
        if (png && kind == 2) fix_crcs(bytes);
      }
      try {
        const Image image = decode_image(bytes.data(), bytes.size(), name);
        BOOST_TEST_REQUIRE(image.width > 0);
        BOOST_TEST_REQUIRE(image.height > 0);
        BOOST_TEST_REQUIRE(image.rgb.size() == 3u * image.width * image.height);
        ++decoded;
      } catch (const ImageError &e) {
        BOOST_TEST_REQUIRE(std::string(e.what()).rfind(name + ": ", 0) == 0, e.what());
        ++refused;
      }
    }
  }
  BOOST_TEST_MESSAGE(decoded << " damaged files decoded, " << refused << " refused");
  BOOST_TEST(decoded > 500);
  BOOST_TEST(refused > 500);
}
