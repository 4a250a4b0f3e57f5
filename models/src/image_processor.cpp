// The Idefics2 image processor: split, resize (PIL's resampling, reproduced), rescale, normalise,
// pad; and its preprocessor_config.json.
#include "cephalo/models/image_processor.h"

#include "config_file.h"

#include "cephalo/models/config.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace cephalo::models {
namespace {

using nlohmann::json;

// ---- Resampling, as PIL's libImaging/Resample.c computes it ------------------------------------
// Every floating-point step is written in PIL's order so that the coefficients, and therefore the
// pixels, come out identical.

constexpr double kPi = 3.14159265358979323846;    // M_PI, which PIL uses

struct Filter {
  double (*weight)(double x);
  double support;    // half-width at scale 1, widened by the down-scale factor
};

double box_weight(double x)
{
  return x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
}

double triangle_weight(double x)
{
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

double hamming_weight(double x)
{
  x = std::fabs(x);
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x = x * kPi;
  return std::sin(x) / x * (0.54f + 0.46f * std::cos(x));    // float constants, as in PIL
}

double cubic_weight(double x)
{
  constexpr double a = -0.5;    // Keys' cubic convolution
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double sinc(double x)
{
  if (x == 0.0) return 1.0;
  x = x * kPi;
  return std::sin(x) / x;
}

double lanczos_weight(double x)
{
  return -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0;
}

Filter filter_of(Resample resample)
{
  switch (resample) {
  case Resample::Lanczos:
    return {lanczos_weight, 3.0};
  case Resample::Bilinear:
    return {triangle_weight, 1.0};
  case Resample::Bicubic:
    return {cubic_weight, 2.0};
  case Resample::Box:
    return {box_weight, 0.5};
  case Resample::Hamming:
    return {hamming_weight, 1.0};
  }
  throw std::invalid_argument("resample filter " + std::to_string(static_cast<int>(resample)) +
                              " is not supported");
}

// 8 bits of result, one of sign and one of headroom for filters with negative lobes.
constexpr int kPrecisionBits = 32 - 8 - 2;

// The input span and fixed-point weights of every output pixel along one axis.
struct Taps {
  int stride = 0;                       // weights per output pixel (PIL's ksize)
  std::vector<int> first, count;        // input span [first, first + count)
  std::vector<std::int32_t> weights;    // [output][stride]
};

Taps taps_for(int in_size, int out_size, const Filter &filter)
{
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = filter.support * filter_scale;
  Taps taps;
  taps.stride = static_cast<int>(std::ceil(support)) * 2 + 1;
  taps.first.resize(out_size);
  taps.count.resize(out_size);
  taps.weights.assign(static_cast<std::size_t>(out_size) * taps.stride, 0);
  std::vector<double> k(taps.stride);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filter_scale;
    const int xmin = std::max(static_cast<int>(center - support + 0.5), 0);    // rounds
    const int xmax = std::min(static_cast<int>(center + support + 0.5), in_size);
    const int n = std::min(xmax - xmin, taps.stride);
    double ww = 0.0;
    for (int x = 0; x < n; ++x) {
      k[x] = filter.weight((x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    std::int32_t *out = &taps.weights[static_cast<std::size_t>(xx) * taps.stride];
    for (int x = 0; x < n; ++x) {
      const double w = ww != 0.0 ? k[x] / ww : k[x];
      out[x] = static_cast<std::int32_t>(w < 0 ? -0.5 + w * (1 << kPrecisionBits)
                                               : 0.5 + w * (1 << kPrecisionBits));
    }
    taps.first[xx] = xmin;
    taps.count[xx] = std::max(n, 0);
  }
  return taps;
}

std::uint8_t clip8(std::int32_t sum)
{
  const std::int32_t value = sum >> kPrecisionBits;
  return static_cast<std::uint8_t>(value < 0 ? 0 : value > 255 ? 255 : value);
}

constexpr std::int32_t kHalf = 1 << (kPrecisionBits - 1);    // rounds the final shift

// Rows [row0, row0 + rows) of an RGB image `in_width` wide, resampled along x into `out`.
void resample_horizontal(const std::uint8_t *in, int in_width, int row0, int rows, const Taps &taps,
                         std::uint8_t *out)
{
  const auto out_width = static_cast<int>(taps.first.size());
  for (int y = 0; y < rows; ++y) {
    const std::uint8_t *src = in + std::size_t{3} * in_width * (row0 + y);
    std::uint8_t *dst = out + std::size_t{3} * out_width * y;
    for (int xx = 0; xx < out_width; ++xx) {
      const std::int32_t *k = &taps.weights[static_cast<std::size_t>(xx) * taps.stride];
      const std::uint8_t *p = src + std::size_t{3} * taps.first[xx];
      std::int32_t r = kHalf, g = kHalf, b = kHalf;
      for (int x = 0; x < taps.count[xx]; ++x, p += 3) {
        r += p[0] * k[x];
        g += p[1] * k[x];
        b += p[2] * k[x];
      }
      dst[3 * xx + 0] = clip8(r);
      dst[3 * xx + 1] = clip8(g);
      dst[3 * xx + 2] = clip8(b);
    }
  }
}

// An RGB image `width` wide whose row 0 is source row `row0`, resampled along y into `out`.
void resample_vertical(const std::uint8_t *in, int width, int row0, const Taps &taps,
                       std::uint8_t *out)
{
  const std::size_t row_bytes = std::size_t{3} * width;
  for (std::size_t yy = 0; yy < taps.first.size(); ++yy) {
    const std::int32_t *k = &taps.weights[yy * taps.stride];
    const std::uint8_t *src = in + row_bytes * (taps.first[yy] - row0);
    std::uint8_t *dst = out + row_bytes * yy;
    for (std::size_t i = 0; i < row_bytes; ++i) {
      std::int32_t sum = kHalf;
      for (int y = 0; y < taps.count[yy]; ++y) sum += src[row_bytes * y + i] * k[y];
      dst[i] = clip8(sum);
    }
  }
}

void check_image(const Image &image, const std::string &what)
{
  if (image.width <= 0 || image.height <= 0 ||
      image.rgb.size() != std::size_t{3} * image.width * image.height)
    throw std::invalid_argument(what + " is " + std::to_string(image.width) + " x " +
                                std::to_string(image.height) + " pixels with " +
                                std::to_string(image.rgb.size()) +
                                " bytes of RGB; expected a non-empty image with 3 bytes a pixel");
}

Image crop(const Image &image, int x0, int y0, int x1, int y1)
{
  Image out;
  out.width = x1 - x0;
  out.height = y1 - y0;
  out.rgb.reserve(std::size_t{3} * out.width * out.height);
  for (int y = y0; y < y1; ++y) {
    const auto row = image.rgb.begin() + 3 * (static_cast<std::ptrdiff_t>(y) * image.width + x0);
    out.rgb.insert(out.rgb.end(), row, row + 3 * out.width);
  }
  return out;
}

// ---- preprocessor_config.json ------------------------------------------------------------------

// Reads optional keys of one JSON object; errors name "where: prefix.key".
class Keys {
 public:
  Keys(const json &object, std::string where, std::string prefix) :
      object_(object), where_(std::move(where)), prefix_(std::move(prefix))
  {
  }

  const json *find(const char *key) const
  {
    const auto it = object_.find(key);
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }
  [[noreturn]] void fail(const std::string &key, const std::string &what) const
  {
    throw ConfigError(where_ + ": " + prefix_ + key + " " + what);
  }
  void boolean(const char *key, bool &value) const
  {
    if (const json *v = find(key)) {
      if (!v->is_boolean()) fail(key, "must be true or false");
      value = v->get<bool>();
    }
  }
  void integer(const char *key, int &value, int min, int max) const
  {
    if (const json *v = find(key)) {
      if (!v->is_number_integer()) fail(key, "must be an integer");
      const auto n = v->get<long long>();
      if (n < min || n > max)
        fail(key, "is " + std::to_string(n) + "; expected " + std::to_string(min) + " to " +
                      std::to_string(max));
      value = static_cast<int>(n);
    }
  }
  double number(const json &v, const std::string &key) const
  {
    if (!v.is_number()) fail(key, "must be a number");
    const double x = v.get<double>();
    if (!std::isfinite(x)) fail(key, "must be finite");
    return x;
  }
  void number(const char *key, double &value) const
  {
    if (const json *v = find(key)) value = number(*v, key);
  }
  // One number for all channels or one per channel, as transformers accepts.
  void per_channel(const char *key, std::array<double, 3> &value) const
  {
    const json *v = find(key);
    if (!v) return;
    if (!v->is_array()) {
      value.fill(number(*v, key));
      return;
    }
    if (v->size() != 3) fail(key, "has " + std::to_string(v->size()) + " values; expected 3 (RGB)");
    for (int c = 0; c < 3; ++c)
      value[c] = number((*v)[c], key + std::string("[") + std::to_string(c) + "]");
  }

 private:
  const json &object_;
  std::string where_;
  std::string prefix_;
};

const char *const kResampleNames = "1 (lanczos), 2 (bilinear), 3 (bicubic), 4 (box) or 5 (hamming)";

}    // namespace

ImageProcessorConfig ImageProcessorConfig::parse(const std::string &json_text,
                                                 const std::string &where)
{
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception &e) {
    throw ConfigError(where + ": not valid JSON: " + e.what());
  }
  if (!root.is_object()) throw ConfigError(where + ": not a JSON object");

  ImageProcessorConfig c;
  const Keys top(root, where, "");
  if (const json *type = top.find("image_processor_type")) {
    const std::string name = type->is_string() ? type->get<std::string>() : type->dump();
    if (name != "Idefics2ImageProcessor" && name != "Idefics2ImageProcessorFast")
      top.fail("image_processor_type", "is '" + name + "'; expected Idefics2ImageProcessor");
  }
  top.boolean("do_convert_rgb", c.do_convert_rgb);
  top.boolean("do_resize", c.do_resize);
  if (const json *size = top.find("size")) {
    if (!size->is_object()) top.fail("size", "must be an object");
    if (size->contains("height") || size->contains("width"))
      top.fail("size", "with height and width is not supported; expected shortest_edge and "
                       "longest_edge");
    const Keys s(*size, where, "size.");
    for (const char *key : {"shortest_edge", "longest_edge"})
      if (!s.find(key)) s.fail(key, "is missing");
    s.integer("shortest_edge", c.size.shortest_edge, 1, kMaxImageSide);
    s.integer("longest_edge", c.size.longest_edge, 1, kMaxImageSide);
  }
  if (const json *resample = top.find("resample")) {
    if (!resample->is_number_integer()) top.fail("resample", "must be an integer");
    const auto n = resample->get<long long>();
    if (n < 1 || n > 5)
      top.fail("resample", "is " + std::to_string(n) + (n == 0 ? " (nearest)" : "") +
                               ", which is not supported; expected " + kResampleNames);
    c.resample = static_cast<Resample>(n);
  }
  top.boolean("do_rescale", c.do_rescale);
  top.number("rescale_factor", c.rescale_factor);
  top.boolean("do_normalize", c.do_normalize);
  top.per_channel("image_mean", c.image_mean);
  top.per_channel("image_std", c.image_std);
  for (const double s : c.image_std)
    if (s == 0.0) top.fail("image_std", "has a zero; normalising would divide by it");
  top.boolean("do_pad", c.do_pad);
  top.boolean("do_image_splitting", c.do_image_splitting);
  return c;
}

ImageProcessorConfig ImageProcessorConfig::load(const std::filesystem::path &file)
{
  return parse(read_config_file(file), file.string());
}

ImageSize resized_size(int height, int width, const ImageProcessorConfig::Size &size)
{
  if (height <= 0 || width <= 0)
    throw std::invalid_argument("cannot resize a " + std::to_string(width) + " x " +
                                std::to_string(height) + " image");
  // transformers' get_resize_output_image_size, in Python's double arithmetic and int().
  const double aspect_ratio = static_cast<double>(width) / height;
  if (width >= height && width > size.longest_edge) {
    width = size.longest_edge;
    height = static_cast<int>(width / aspect_ratio);
  } else if (height > width && height > size.longest_edge) {
    height = size.longest_edge;
    width = static_cast<int>(height * aspect_ratio);
  }
  return {std::max(height, size.shortest_edge), std::max(width, size.shortest_edge)};
}

Image resize_image(const Image &image, int width, int height, Resample resample)
{
  check_image(image, "the image to resize");
  if (width <= 0 || height <= 0 || width > kMaxImageSide || height > kMaxImageSide)
    throw std::invalid_argument("cannot resize to " + std::to_string(width) + " x " +
                                std::to_string(height) + " pixels");
  const Filter filter = filter_of(resample);
  if (width == image.width && height == image.height) return image;    // PIL copies, too

  // Horizontal pass first, over only the rows the vertical pass reads (as PIL does).
  const bool horizontal = width != image.width;
  const bool vertical = height != image.height;
  const Taps columns = taps_for(image.height, height, filter);
  const int row0 = vertical ? columns.first.front() : 0;
  const int row1 = vertical ? columns.first.back() + columns.count.back() : image.height;

  Image out;
  out.width = width;
  out.height = height;
  std::vector<std::uint8_t> temp;
  const std::uint8_t *source = image.rgb.data();
  int source_row0 = 0;
  if (horizontal) {
    temp.resize(std::size_t{3} * width * (row1 - row0));
    resample_horizontal(image.rgb.data(), image.width, row0, row1 - row0,
                        taps_for(image.width, width, filter), temp.data());
    if (!vertical) {
      out.rgb = std::move(temp);
      return out;
    }
    source = temp.data();
    source_row0 = row0;
  }
  out.rgb.resize(std::size_t{3} * width * height);
  resample_vertical(source, width, source_row0, columns, out.rgb.data());
  return out;
}

std::vector<Image> split_image(const Image &image)
{
  check_image(image, "the image to split");
  const int w = image.width, h = image.height;
  if (w < 2 || h < 2)
    throw std::invalid_argument("cannot split a " + std::to_string(w) + " x " + std::to_string(h) +
                                " image into quarters; it needs at least 2 x 2 pixels");
  const int mid_w = w / 2, mid_h = h / 2;
  return {crop(image, 0, 0, mid_w, mid_h), crop(image, mid_w, 0, w, mid_h),
          crop(image, 0, mid_h, mid_w, h), crop(image, mid_w, mid_h, w, h), image};
}

ProcessedImages preprocess(const std::vector<Image> &images, const ImageProcessorConfig &config)
{
  if (config.size.shortest_edge < 1 || config.size.longest_edge < 1)
    throw std::invalid_argument("image processor size edges must be positive");

  ProcessedImages batch;
  std::vector<Image> prepared;
  for (std::size_t i = 0; i < images.size(); ++i) {
    check_image(images[i], "image " + std::to_string(i));
    std::vector<Image> pieces;
    if (config.do_image_splitting)
      pieces = split_image(images[i]);
    else
      pieces.push_back(images[i]);
    batch.images_per_input.push_back(static_cast<int>(pieces.size()));
    for (Image &piece : pieces) {
      if (config.do_resize) {
        const ImageSize size = resized_size(piece.height, piece.width, config.size);
        piece = resize_image(piece, size.width, size.height, config.resample);
      }
      batch.height = std::max(batch.height, piece.height);
      batch.width = std::max(batch.width, piece.width);
      prepared.push_back(std::move(piece));
    }
  }
  batch.count = static_cast<int>(prepared.size());
  if (!config.do_pad)
    for (const Image &image : prepared)
      if (image.height != batch.height || image.width != batch.width)
        throw std::invalid_argument(
            "without do_pad all processed images must be the same size, "
            "but one is " +
            std::to_string(image.width) + " x " + std::to_string(image.height) + " and another " +
            std::to_string(batch.width) + " x " + std::to_string(batch.height));

  // The value of each byte in each channel, computed as transformers does: rescale in double
  // then rounded to float32, normalise in float32.
  float value_of[3][256];
  for (int c = 0; c < 3; ++c) {
    const auto mean = static_cast<float>(config.image_mean[c]);
    const auto deviation = static_cast<float>(config.image_std[c]);
    for (int v = 0; v < 256; ++v) {
      auto x = static_cast<float>(v);
      if (config.do_rescale) x = static_cast<float>(v * config.rescale_factor);
      if (config.do_normalize) x = (x - mean) / deviation;
      value_of[c][v] = x;
    }
  }

  const std::size_t plane = static_cast<std::size_t>(batch.height) * batch.width;
  batch.pixels.assign(plane * 3 * batch.count, 0.0f);
  batch.pixel_mask.assign(plane * batch.count, 0);
  for (int n = 0; n < batch.count; ++n) {
    const Image &image = prepared[n];
    float *pixels = batch.pixels.data() + plane * 3 * n;
    std::uint8_t *mask = batch.pixel_mask.data() + plane * n;
    for (int y = 0; y < image.height; ++y)
      for (int x = 0; x < image.width; ++x) {
        const std::uint8_t *rgb = &image.rgb[3 * (static_cast<std::size_t>(y) * image.width + x)];
        const std::size_t at = static_cast<std::size_t>(y) * batch.width + x;
        for (int c = 0; c < 3; ++c) pixels[plane * c + at] = value_of[c][rgb[c]];
        mask[at] = 1;
      }
  }
  return batch;
}

}    // namespace cephalo::models
