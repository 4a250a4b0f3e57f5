// PNG (libpng) and JPEG (libjpeg-turbo) decoding to 8-bit RGB, and PNG writing.
#include "cephalo/models/image.h"

#include <cstdio>    // before jpeglib.h, which uses FILE and size_t without including them

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

#include <cerrno>
#include <csetjmp>
#include <cstring>
#include <fstream>
#include <iterator>

// Both libraries report errors by longjmp. Every setjmp below is in a small function whose frames
// down to the library hold only trivially destructible objects, so a longjmp skips no destructor
// (the rule of [csetjmp.syn]); pixel buffers and the guards that free the decoders live in the
// callers, which turn a failed step into an ImageError.

namespace cephalo::models {
namespace {

constexpr std::uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
constexpr std::uint8_t kJpegSignature[3] = {0xFF, 0xD8, 0xFF};

// Also bounds the pixel count: kMaxImageSide^2 = 2^28.
constexpr std::uint64_t kMaxPixels = std::uint64_t{1} << 28;

[[noreturn]] void fail(const std::string &what, const std::string &reason)
{
  throw ImageError(what + ": " + reason);
}

void check_size(std::uint64_t width, std::uint64_t height, const std::string &what)
{
  if (width == 0 || height == 0)
    fail(what, "the image is " + std::to_string(width) + " x " + std::to_string(height) +
                   " pixels; it has no pixels");
  if (width > kMaxImageSide || height > kMaxImageSide || width * height > kMaxPixels)
    fail(what, "the image is " + std::to_string(width) + " x " + std::to_string(height) +
                   " pixels; at most " + std::to_string(kMaxImageSide) +
                   " pixels on a side are accepted");
}

bool starts_with(const std::uint8_t *bytes, std::size_t size, const std::uint8_t *prefix,
                 std::size_t length)
{
  return size >= length && std::memcmp(bytes, prefix, length) == 0;
}

// ---- PNG -------------------------------------------------------------------------------------

struct PngMessage {
  char text[256];
};

struct PngRead {
  const std::uint8_t *bytes;
  std::size_t size;
  std::size_t offset;
  png_structp png;
  png_infop info;
  PngMessage message;
};

void on_png_error(png_structp png, png_const_charp message)
{
  auto *out = static_cast<PngMessage *>(png_get_error_ptr(png));
  std::snprintf(out->text, sizeof out->text, "%s", message);
  png_longjmp(png, 1);
}

// Warnings are about ancillary chunks that libpng skips; PIL does not fail on them either.
void on_png_warning(png_structp, png_const_charp) {}

void read_png_bytes(png_structp png, png_bytep out, png_size_t count)
{
  auto *source = static_cast<PngRead *>(png_get_io_ptr(png));
  if (count > source->size - source->offset) png_error(png, "the data ends early (truncated?)");
  std::memcpy(out, source->bytes + source->offset, count);
  source->offset += count;
}

bool read_png_header(PngRead *state)
{
  if (setjmp(png_jmpbuf(state->png))) return false;
  // The caller applies its own, lower limit once it knows the size.
  png_set_user_limits(state->png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
  png_read_info(state->png, state->info);
  return true;
}

// Sets libpng up to deliver 8-bit RGB whatever the stored format.
bool convert_png_to_rgb(PngRead *state)
{
  if (setjmp(png_jmpbuf(state->png))) return false;
  png_structp png = state->png;
  png_infop info = state->info;
  const int color_type = png_get_color_type(png, info);
  const int bit_depth = png_get_bit_depth(png, info);
  // The high byte, as PIL keeps it for 16-bit RGB(A) and grey+alpha.
  if (bit_depth == 16) png_set_strip_16(png);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  // convert("RGB") drops alpha (and tRNS transparency) without compositing it on a background.
  if ((color_type & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS))
    png_set_strip_alpha(png);
  if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA)
    png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  return true;
}

bool read_png_pixels(PngRead *state, png_bytepp rows)
{
  if (setjmp(png_jmpbuf(state->png))) return false;
  png_read_image(state->png, rows);
  return true;
}

Image decode_png(const std::uint8_t *bytes, std::size_t size, const std::string &what)
{
  PngRead state{};
  state.bytes = bytes;
  state.size = size;
  state.png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, &state.message, on_png_error, on_png_warning);
  if (!state.png) fail(what, "cannot start the PNG decoder (out of memory?)");
  struct Guard {
    PngRead &state;
    ~Guard() { png_destroy_read_struct(&state.png, state.info ? &state.info : nullptr, nullptr); }
  } guard{state};
  state.info = png_create_info_struct(state.png);
  if (!state.info) fail(what, "cannot start the PNG decoder (out of memory?)");
  png_set_read_fn(state.png, &state, read_png_bytes);

  if (!read_png_header(&state)) fail(what, std::string("bad PNG: ") + state.message.text);
  const png_uint_32 width = png_get_image_width(state.png, state.info);
  const png_uint_32 height = png_get_image_height(state.png, state.info);
  check_size(width, height, what);
  if (!convert_png_to_rgb(&state)) fail(what, std::string("bad PNG: ") + state.message.text);
  if (png_get_channels(state.png, state.info) != 3 || png_get_bit_depth(state.png, state.info) != 8)
    fail(what, "PNG colour type " + std::to_string(png_get_color_type(state.png, state.info)) +
                   " could not be converted to 8-bit RGB");

  Image image;
  image.width = static_cast<int>(width);
  image.height = static_cast<int>(height);
  image.rgb.resize(std::size_t{3} * width * height);
  std::vector<png_bytep> rows(height);
  for (png_uint_32 y = 0; y < height; ++y) rows[y] = image.rgb.data() + std::size_t{3} * width * y;
  if (!read_png_pixels(&state, rows.data()))
    fail(what, std::string("bad PNG: ") + state.message.text);
  return image;
}

struct PngWrite {
  png_structp png;
  png_infop info;
  PngMessage message;
};

bool write_png_rows(PngWrite *state, std::FILE *file, png_uint_32 width, png_uint_32 height,
                    png_bytepp rows)
{
  if (setjmp(png_jmpbuf(state->png))) return false;
  png_init_io(state->png, file);
  png_set_IHDR(state->png, state->info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(state->png, state->info);
  png_write_image(state->png, rows);
  png_write_end(state->png, nullptr);
  return true;
}

// ---- JPEG ------------------------------------------------------------------------------------

struct JpegRead {
  jpeg_decompress_struct cinfo;
  jpeg_error_mgr errors;
  std::jmp_buf jump;
  bool ran_out;    // the decoder reached the end of the data and made up the rest
  char message[JMSG_LENGTH_MAX];
};

void on_jpeg_error(j_common_ptr cinfo)
{
  auto *state = static_cast<JpegRead *>(cinfo->client_data);
  (*cinfo->err->format_message)(cinfo, state->message);
  std::longjmp(state->jump, 1);
}

// libjpeg recovers from damaged entropy data with a warning and grey pixels, as PIL accepts too;
// running out of data is the exception, since PIL refuses truncated files.
void on_jpeg_message(j_common_ptr cinfo, int level)
{
  auto *state = static_cast<JpegRead *>(cinfo->client_data);
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) state->ran_out = true;
}

bool read_jpeg_header(JpegRead *state, const std::uint8_t *bytes, std::size_t size)
{
  if (setjmp(state->jump)) return false;
  jpeg_create_decompress(&state->cinfo);
  jpeg_mem_src(&state->cinfo, bytes, static_cast<unsigned long>(size));
  jpeg_read_header(&state->cinfo, TRUE);
  return true;
}

bool start_jpeg(JpegRead *state)
{
  if (setjmp(state->jump)) return false;
  jpeg_start_decompress(&state->cinfo);
  return true;
}

bool read_jpeg_rows(JpegRead *state, std::uint8_t *pixels, std::size_t row_bytes)
{
  if (setjmp(state->jump)) return false;
  jpeg_decompress_struct *cinfo = &state->cinfo;
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = pixels + row_bytes * cinfo->output_scanline;
    if (jpeg_read_scanlines(cinfo, &row, 1) != 1) {    // only a suspending data source stops
      std::snprintf(state->message, sizeof state->message, "the decoder stopped at row %u",
                    cinfo->output_scanline);
      return false;
    }
  }
  return true;
}

// PIL's conversion: it reads every four-component JPEG as Adobe-style inverted CMYK, then
// computes r = (255 - k) - c (255 - k) / 255 with rounding.
void cmyk_to_rgb(const std::uint8_t *cmyk, std::size_t pixels, std::uint8_t *rgb)
{
  const auto times = [](int a, int b) {
    const int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
  };
  for (std::size_t i = 0; i < pixels; ++i, cmyk += 4, rgb += 3) {
    const int not_k = cmyk[3];    // 255 - k, since the stored values are inverted
    for (int c = 0; c < 3; ++c)
      rgb[c] = static_cast<std::uint8_t>(not_k - times(255 - cmyk[c], not_k));
  }
}

Image decode_jpeg(const std::uint8_t *bytes, std::size_t size, const std::string &what)
{
  JpegRead state{};
  state.cinfo.err = jpeg_std_error(&state.errors);
  state.errors.error_exit = on_jpeg_error;
  state.errors.emit_message = on_jpeg_message;
  state.cinfo.client_data = &state;
  // Safe on a decoder that was never created: the state is zeroed, so cinfo.mem is null.
  struct Guard {
    jpeg_decompress_struct &cinfo;
    ~Guard() { jpeg_destroy_decompress(&cinfo); }
  } guard{state.cinfo};

  if (!read_jpeg_header(&state, bytes, size)) fail(what, std::string("bad JPEG: ") + state.message);
  check_size(state.cinfo.image_width, state.cinfo.image_height, what);
  bool cmyk = false;
  switch (state.cinfo.jpeg_color_space) {
  case JCS_GRAYSCALE:
  case JCS_YCbCr:
  case JCS_RGB:
    state.cinfo.out_color_space = JCS_RGB;
    break;
  case JCS_CMYK:
  case JCS_YCCK:
    state.cinfo.out_color_space = JCS_CMYK;
    cmyk = true;
    break;
  default:
    fail(what, "JPEG with " + std::to_string(state.cinfo.num_components) +
                   " colour components of unknown meaning; expected greyscale, YCbCr, RGB or CMYK");
  }
  if (!start_jpeg(&state)) fail(what, std::string("bad JPEG: ") + state.message);
  const std::size_t width = state.cinfo.output_width;
  const std::size_t height = state.cinfo.output_height;
  const std::size_t channels = cmyk ? 4 : 3;
  if (static_cast<std::size_t>(state.cinfo.output_components) != channels)
    fail(what, "JPEG decoded to " + std::to_string(state.cinfo.output_components) +
                   " components per pixel, expected " + std::to_string(channels));

  Image image;
  image.width = static_cast<int>(width);
  image.height = static_cast<int>(height);
  image.rgb.resize(3 * width * height);
  std::vector<std::uint8_t> decoded(cmyk ? 4 * width * height : 0);
  std::uint8_t *pixels = cmyk ? decoded.data() : image.rgb.data();
  if (!read_jpeg_rows(&state, pixels, channels * width))
    fail(what, std::string("bad JPEG: ") + state.message);
  if (state.ran_out) fail(what, "the JPEG data ends before the image does (truncated?)");
  if (cmyk) cmyk_to_rgb(decoded.data(), width * height, image.rgb.data());
  return image;
}

}    // namespace

Image decode_image(const std::uint8_t *bytes, std::size_t size, const std::string &what)
{
  if (size == 0 || bytes == nullptr) fail(what, "no data (empty file?)");
  if (starts_with(bytes, size, kPngSignature, sizeof kPngSignature))
    return decode_png(bytes, size, what);
  if (starts_with(bytes, size, kJpegSignature, sizeof kJpegSignature))
    return decode_jpeg(bytes, size, what);
  fail(what, "not a PNG or JPEG image (unknown signature)");
}

Image read_image(const std::filesystem::path &path)
{
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path.string(), "cannot open");
  const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                        std::istreambuf_iterator<char>());
  if (in.bad()) fail(path.string(), "cannot read");
  return decode_image(bytes.data(), bytes.size(), path.string());
}

void write_png(const std::filesystem::path &path, const Image &image)
{
  const std::string what = path.string();
  if (image.width <= 0 || image.height <= 0 || image.width > kMaxImageSide ||
      image.height > kMaxImageSide ||
      image.rgb.size() != std::size_t{3} * image.width * image.height)
    fail(what, "cannot write a " + std::to_string(image.width) + " x " +
                   std::to_string(image.height) + " image with " +
                   std::to_string(image.rgb.size()) + " bytes of RGB");

  std::FILE *file = std::fopen(path.c_str(), "wb");
  if (!file) fail(what, std::string("cannot create: ") + std::strerror(errno));
  struct FileGuard {
    std::FILE *&file;
    ~FileGuard()
    {
      if (file) std::fclose(file);
    }
  } file_guard{file};

  PngWrite state{};
  state.png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, &state.message, on_png_error, on_png_warning);
  if (!state.png) fail(what, "cannot start the PNG encoder (out of memory?)");
  struct Guard {
    PngWrite &state;
    ~Guard() { png_destroy_write_struct(&state.png, state.info ? &state.info : nullptr); }
  } guard{state};
  state.info = png_create_info_struct(state.png);
  if (!state.info) fail(what, "cannot start the PNG encoder (out of memory?)");

  // libpng takes non-const rows but only reads them when no transformation is set.
  std::vector<png_bytep> rows(image.height);
  auto *pixels = const_cast<std::uint8_t *>(image.rgb.data());
  for (int y = 0; y < image.height; ++y) rows[y] = pixels + std::size_t{3} * image.width * y;
  if (!write_png_rows(&state, file, static_cast<png_uint_32>(image.width),
                      static_cast<png_uint_32>(image.height), rows.data()))
    fail(what, std::string("cannot write PNG: ") + state.message.text);
  const int closed = std::fclose(file);
  file = nullptr;
  if (closed != 0) fail(what, std::string("cannot write: ") + std::strerror(errno));
}

}    // namespace cephalo::models
