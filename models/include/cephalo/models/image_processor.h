// The Idefics2 image processor: images to the normalised, padded pixel batch of the vision tower,
// matching transformers' Idefics2ImageProcessor (the PIL-based one) step for step.
#pragma once

#include "cephalo/models/image.h"

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace cephalo::models {

// PIL's resampling filters, numbered as in PIL.Image.Resampling and preprocessor_config.json.
// NEAREST (0) is not among them: PIL resizes with it by another algorithm.
enum class Resample { Lanczos = 1, Bilinear = 2, Bicubic = 3, Box = 4, Hamming = 5 };

struct ImageProcessorConfig {
  struct Size {
    int shortest_edge = 378;
    int longest_edge = 980;
  };

  bool do_convert_rgb = true;    // no effect: an Image is always RGB already
  bool do_resize = true;
  Size size;
  Resample resample = Resample::Bilinear;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<double, 3> image_mean{0.5, 0.5, 0.5};
  std::array<double, 3> image_std{0.5, 0.5, 0.5};
  bool do_pad = true;
  bool do_image_splitting = false;    // each image becomes its four quarters and itself

  // Reads preprocessor_config.json; missing or null keys keep the defaults above (transformers').
  // Throws ConfigError (config.h) naming the file and the key.
  static ImageProcessorConfig load(const std::filesystem::path &file);
  // Parses the text of a preprocessor_config.json; `where` names it in errors.
  static ImageProcessorConfig parse(const std::string &json_text, const std::string &where);
};

struct ImageSize {
  int height = 0, width = 0;
};

// The processed batch, ready to become the pixel_values and pixel_attention_mask tensors.
struct ProcessedImages {
  int count = 0, height = 0, width = 0;
  std::vector<float> pixels;               // [count, 3, height, width], channels first
  std::vector<std::uint8_t> pixel_mask;    // [count, height, width]: 1 on image, 0 on padding
  std::vector<int> images_per_input;       // 1 each, or 5 with do_image_splitting
};

// Splits (optionally), resizes, rescales, normalises and pads every image, in transformers' order.
// Images are padded at the bottom and right to the largest height and width of the batch; without
// do_pad they must all come out the same size. Throws std::invalid_argument for an empty or
// inconsistent Image, or an image too small to split.
ProcessedImages preprocess(const std::vector<Image> &images, const ImageProcessorConfig &config);

// The size an image of `height` x `width` is resized to: the longest edge brought down to
// longest_edge keeping the aspect ratio (truncating), then each edge raised to shortest_edge.
ImageSize resized_size(int height, int width, const ImageProcessorConfig::Size &size);

// PIL's Image.resize on 8-bit RGB: separable convolution with the filter widened by the
// down-scale factor (antialiasing), in PIL's fixed-point arithmetic, bit for bit.
Image resize_image(const Image &image, int width, int height, Resample filter);

// The four quarters (top left, top right, bottom left, bottom right; odd middles go to the right
// and bottom) followed by the image itself.
std::vector<Image> split_image(const Image &image);

}    // namespace cephalo::models
