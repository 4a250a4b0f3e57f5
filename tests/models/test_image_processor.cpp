// The Idefics2 image processor: transformers' size rule, PIL's resampling to the grey level
// (reference outputs made with Pillow), splitting, rescaling, normalising, padding, and its
// preprocessor_config.json.
#include <boost/test/unit_test.hpp>

#include "cephalo/models/config.h"
#include "cephalo/models/image_processor.h"
#include "scratch_dir.h"

#include <fstream>
#include <sstream>

using namespace cephalo::models;
using cephalo::test::ScratchDir;

namespace {

// The same pattern as Pillow was given for the reference outputs below.
Image pattern(int width, int height)
{
  Image image{width, height, {}};
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c)
        image.rgb.push_back(static_cast<std::uint8_t>((x * 37 + y * 91 + c * 53 + x * y) % 256));
  return image;
}

Image constant(int width, int height, std::uint8_t r, std::uint8_t g, std::uint8_t b)
{
  Image image{width, height, {}};
  for (int i = 0; i < width * height; ++i) image.rgb.insert(image.rgb.end(), {r, g, b});
  return image;
}

std::vector<int> rgb_of(const Image &image)
{
  return std::vector<int>(image.rgb.begin(), image.rgb.end());
}

std::vector<int> numbers(const std::string &text)
{
  std::vector<int> out;
  std::istringstream in(text);
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoi(item));
  return out;
}

bool contains(const std::string &text, const std::string &part)
{
  return text.find(part) != std::string::npos;
}

std::string config_error(const std::string &json)
{
  try {
    ImageProcessorConfig::parse(json, "preprocessor_config.json");
  } catch (const ConfigError &e) {
    return e.what();
  }
  return "";
}

// The processor with only the steps a test names switched on.
ImageProcessorConfig plain()
{
  ImageProcessorConfig config;
  config.do_resize = false;
  config.do_rescale = false;
  config.do_normalize = false;
  return config;
}

}    // namespace

BOOST_AUTO_TEST_CASE(resized_size_follows_transformers_rule)
{
  const ImageProcessorConfig::Size size;    // 378 .. 980
  const auto check = [&](int h, int w, int want_h, int want_w) {
    const ImageSize got = resized_size(h, w, size);
    BOOST_TEST_CONTEXT(h << " x " << w)
    {
      BOOST_TEST(got.height == want_h);
      BOOST_TEST(got.width == want_w);
    }
  };
  check(500, 1000, 490, 980);
  check(1000, 500, 980, 490);
  check(1080, 1920, 551, 980);    // int(980 / 1.777...) = int(551.25)
  check(999, 1001, 978, 980);
  check(1001, 999, 980, 978);
  check(2000, 2000, 980, 980);
  check(600, 700, 600, 700);     // inside the bounds: unchanged
  check(20, 10, 378, 378);       // small images grow to shortest_edge on both sides
  check(3000, 400, 980, 378);    // 130 wide after the longest edge, then raised
  check(700, 2900, 378, 980);
}

BOOST_AUTO_TEST_CASE(resizing_to_the_same_size_keeps_every_pixel)
{
  const Image image = pattern(13, 9);
  for (const Resample filter : {Resample::Bilinear, Resample::Bicubic, Resample::Lanczos})
    BOOST_TEST(rgb_of(resize_image(image, 13, 9, filter)) == rgb_of(image));
}

BOOST_AUTO_TEST_CASE(a_constant_image_stays_constant_at_any_size)
{
  const Image image = constant(37, 23, 10, 200, 255);
  for (const Resample filter :
       {Resample::Lanczos, Resample::Bilinear, Resample::Bicubic, Resample::Box, Resample::Hamming})
    for (const auto &[w, h] : {std::pair{11, 7}, std::pair{80, 5}, std::pair{3, 50}}) {
      BOOST_TEST_CONTEXT("filter " << static_cast<int>(filter) << " to " << w << " x " << h)
      BOOST_TEST(rgb_of(resize_image(image, w, h, filter)) == rgb_of(constant(w, h, 10, 200, 255)));
    }
}

BOOST_AUTO_TEST_CASE(bilinear_halving_uses_the_widened_triangle)
{
  // Down by 2 the triangle is 2 pixels wide each side: output 0 (centre 1.0) weighs inputs 0, 1, 2
  // by 0.75, 0.75, 0.25, i.e. 3/7, 3/7, 1/7 once normalised; output 1 weighs 1, 2, 3 by 1/7, 3/7,
  // 3/7. So 0, 70, 140, 210 become 30 + 20 = 50 and 10 + 60 + 90 = 160 (Pillow agrees).
  Image row{4, 1, {}};
  for (const std::uint8_t v : {0, 70, 140, 210}) row.rgb.insert(row.rgb.end(), {v, v, v});
  BOOST_TEST(rgb_of(resize_image(row, 2, 1, Resample::Bilinear)) ==
             std::vector<int>({50, 50, 50, 160, 160, 160}));
}

BOOST_AUTO_TEST_CASE(resampling_matches_pillow_exactly)
{
  // Image.fromarray(pattern).resize((w, h), filter) with Pillow 9.4.
  struct Case {
    int in_w, in_h, out_w, out_h;
    Resample filter;
    const char *expected;
  };
  const Case cases[] = {
      {13, 9, 5, 4, Resample::Bilinear,
       "100,125,138,136,118,137,121,125,125,118,133,138,149,133,111,111,129,142,124,128,134,108,"
       "128,122,124,133,130,138,143,126,137,139,135,124,119,120,136,141,120,121,119,128,132,135,"
       "148,114,113,119,107,117,136,136,128,134,111,120,119,147,139,129"},
      {6, 5, 9, 7, Resample::Bilinear,
       "0,53,106,19,72,125,43,96,149,68,121,174,93,146,199,117,170,223,142,195,248,167,220,145,"
       "185,238,35,52,105,158,71,124,177,96,149,178,121,174,105,146,126,106,171,77,130,196,103,"
       "156,148,128,126,94,147,90,117,170,150,136,153,169,149,141,164,126,167,67,140,101,63,165,"
       "35,88,191,61,114,125,86,139,52,105,158,182,235,32,202,127,52,185,25,78,40,50,103,24,77,130,"
       "50,103,156,75,128,181,102,155,208,121,174,227,64,117,97,84,101,117,99,91,144,76,116,169,"
       "90,143,196,117,170,192,143,196,97,170,131,93,190,60,113,56,109,162,76,129,182,103,156,191,"
       "130,183,145,157,155,154,166,128,156,119,154,85,128,108,88,148,55,108,108,161,214,129,182,"
       "235,156,209,219,183,236,76,211,136,61,195,35,88,52,62,115,37,90,143,57,110,163"},
      {13, 9, 5, 4, Resample::Bicubic,
       "94,125,136,142,118,138,119,125,123,116,131,142,154,134,107,113,131,139,120,126,135,109,"
       "132,124,125,133,127,134,144,131,136,147,141,126,116,114,139,139,122,121,118,128,130,132,"
       "148,113,107,115,105,118,140,140,131,132,106,118,119,153,142,128"},
      {17, 11, 7, 13, Resample::Lanczos,
       "21,69,132,117,194,224,177,128,71,32,62,158,138,213,122,162,106,43,35,80,163,92,166,178,"
       "203,99,79,84,78,152,110,175,181,211,92,57,81,104,168,126,204,179,174,147,87,92,49,112,123,"
       "187,153,183,150,84,95,75,168,151,161,156,191,105,103,96,77,88,74,145,195,156,155,69,99,"
       "101,120,120,194,154,170,120,94,118,92,166,55,138,203,183,172,123,74,53,117,86,155,183,179,"
       "163,52,93,103,143,137,156,186,175,201,175,129,86,88,77,158,195,186,148,94,49,67,150,128,"
       "185,160,212,63,62,178,120,82,67,120,173,194,198,51,95,71,129,123,196,207,168,114,85,60,"
       "107,176,64,127,174,180,141,93,152,61,104,98,171,163,214,74,65,85,126,179,165,145,94,140,"
       "172,135,109,60,76,106,142,193,154,124,79,85,78,165,160,178,146,114,74,93,141,84,75,52,110,"
       "173,164,175,128,88,78,119,115,200,132,162,116,114,82,137,151,61,64,149,144,191,172,141,"
       "100,102,99,132,152,202,145,49,104,121,167,144,165,113,112,175,192,174,135,102,78,116,161,"
       "168,127,80,137,69,152,141,188,160,136,86,99,194,175,111,87,87,146,155,169,118,75,49,100,"
       "117,199,209,177,117,88,75,129,202"},
  };
  for (const Case &c : cases) {
    const Image out = resize_image(pattern(c.in_w, c.in_h), c.out_w, c.out_h, c.filter);
    BOOST_TEST_CONTEXT(c.in_w << " x " << c.in_h << " to " << c.out_w << " x " << c.out_h)
    {
      BOOST_TEST(out.width == c.out_w);
      BOOST_TEST(out.height == c.out_h);
      BOOST_TEST(rgb_of(out) == numbers(c.expected));
    }
  }
}

BOOST_AUTO_TEST_CASE(splitting_gives_four_quarters_then_the_whole)
{
  const Image image = pattern(5, 3);    // mid_w = 2, mid_h = 1: odd middles go right and down
  const std::vector<Image> parts = split_image(image);
  BOOST_TEST_REQUIRE(parts.size() == 5u);
  const int boxes[5][4] = {{0, 0, 2, 1}, {2, 0, 5, 1}, {0, 1, 2, 3}, {2, 1, 5, 3}, {0, 0, 5, 3}};
  for (int p = 0; p < 5; ++p) {
    const auto [x0, y0, x1, y1] = boxes[p];
    BOOST_TEST_CONTEXT("part " << p)
    {
      BOOST_TEST(parts[p].width == x1 - x0);
      BOOST_TEST(parts[p].height == y1 - y0);
      std::vector<int> expected;
      for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x)
          for (int c = 0; c < 3; ++c) expected.push_back(image.rgb[3 * (y * 5 + x) + c]);
      BOOST_TEST(rgb_of(parts[p]) == expected);
    }
  }
  BOOST_CHECK_THROW(split_image(pattern(1, 4)), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(split_images_are_padded_bottom_right_with_a_mask)
{
  ImageProcessorConfig config = plain();
  config.do_image_splitting = true;
  const Image image = pattern(5, 3);
  const ProcessedImages out = preprocess({image, pattern(4, 4)}, config);
  BOOST_TEST(out.images_per_input == std::vector<int>({5, 5}));
  BOOST_TEST(out.count == 10);
  BOOST_TEST(out.height == 4);    // the 4 x 4 image is the tallest
  BOOST_TEST(out.width == 5);
  BOOST_TEST_REQUIRE(out.pixels.size() == 10u * 3 * 4 * 5);
  BOOST_TEST_REQUIRE(out.pixel_mask.size() == 10u * 4 * 5);

  // The second quarter of the first image: x 2..5, y 0..1, so 3 x 1 real pixels.
  const std::uint8_t *mask = &out.pixel_mask[1 * 20];
  const std::vector<int> mask_rows(mask, mask + 20);
  BOOST_TEST(mask_rows ==
             std::vector<int>({1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  const float *green = &out.pixels[(1 * 3 + 1) * 20];    // image 1, channel 1
  BOOST_TEST(green[0] == image.rgb[3 * 2 + 1]);
  BOOST_TEST(green[2] == image.rgb[3 * 4 + 1]);
  BOOST_TEST(green[3] == 0.0f);    // padding
  BOOST_TEST(green[5] == 0.0f);

  // The whole first image, fifth of its input: every real pixel in place, channels first.
  const float *whole = &out.pixels[4 * 3 * 20];
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 5; ++x) {
        const bool real = y < 3;
        const float want = real ? image.rgb[3 * (y * 5 + x) + c] : 0.0f;
        BOOST_TEST(whole[c * 20 + y * 5 + x] == want);
        BOOST_TEST(out.pixel_mask[4 * 20 + y * 5 + x] == (real ? 1 : 0));
      }
}

BOOST_AUTO_TEST_CASE(rescaling_and_normalising_map_bytes_to_minus_one_to_one)
{
  ImageProcessorConfig config;    // rescale 1/255, mean = std = 0.5
  config.do_resize = false;
  Image image{3, 1, {0, 128, 255, 255, 0, 128, 51, 51, 51}};
  const ProcessedImages out = preprocess({image}, config);
  BOOST_TEST_REQUIRE(out.pixels.size() == 9u);
  // Channel-first: red of the three pixels, then green, then blue. float32 as numpy gives them.
  const std::vector<float> expected = {
      -1.0f, 1.0f, -0.6f, 0.003921627998352051f, -1.0f, -0.6f, 1.0f, 0.003921627998352051f, -0.6f};
  for (std::size_t i = 0; i < 9; ++i) {
    BOOST_TEST_CONTEXT("value " << i)
    BOOST_TEST(out.pixels[i] == expected[i]);
  }

  config.image_mean = {0.0, 0.25, 0.5};
  config.image_std = {1.0, 0.5, 0.25};
  const ProcessedImages other = preprocess({constant(1, 1, 255, 255, 255)}, config);
  BOOST_TEST(other.pixels == std::vector<float>({1.0f, 1.5f, 2.0f}));
}

BOOST_AUTO_TEST_CASE(preprocess_resizes_to_the_size_rule)
{
  const ProcessedImages out = preprocess({constant(1000, 500, 255, 0, 51)}, ImageProcessorConfig{});
  BOOST_TEST(out.count == 1);
  BOOST_TEST(out.height == 490);
  BOOST_TEST(out.width == 980);
  const std::size_t plane = 490u * 980u;
  BOOST_TEST(out.pixels[0] == 1.0f);
  BOOST_TEST(out.pixels[plane - 1] == 1.0f);
  BOOST_TEST(out.pixels[plane] == -1.0f);
  BOOST_TEST(out.pixels[3 * plane - 1] == -0.6f);
  BOOST_TEST(std::count(out.pixel_mask.begin(), out.pixel_mask.end(), 1) == 490 * 980);

  // Split, each quarter (500 x 250) and the whole resized on its own, then padded.
  ImageProcessorConfig split;
  split.do_image_splitting = true;
  const ProcessedImages parts = preprocess({constant(1000, 500, 0, 0, 0)}, split);
  BOOST_TEST(parts.count == 5);
  BOOST_TEST(parts.height == 490);
  BOOST_TEST(parts.width == 980);
  // A 500 x 250 quarter stays as it is: 378 x 500 after raising its height.
  const std::uint8_t *quarter = &parts.pixel_mask[0];
  BOOST_TEST(quarter[377 * 980 + 499] == 1);
  BOOST_TEST(quarter[377 * 980 + 500] == 0);
  BOOST_TEST(quarter[378 * 980 + 0] == 0);
}

BOOST_AUTO_TEST_CASE(without_padding_sizes_must_agree)
{
  ImageProcessorConfig config = plain();
  config.do_pad = false;
  BOOST_TEST(preprocess({pattern(4, 3), pattern(4, 3)}, config).count == 2);
  BOOST_CHECK_THROW(preprocess({pattern(4, 3), pattern(3, 4)}, config), std::invalid_argument);
  BOOST_CHECK_THROW(preprocess({Image{2, 2, {1, 2, 3}}}, config), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(config_reads_idefics2_preprocessor_config)
{
  ScratchDir dir;
  std::ofstream(dir / "preprocessor_config.json") << R"({
    "do_convert_rgb": true, "do_image_splitting": true, "do_normalize": true, "do_pad": true,
    "do_rescale": true, "do_resize": true, "image_mean": [0.5, 0.4, 0.3],
    "image_processor_type": "Idefics2ImageProcessor", "image_std": [0.5, 0.6, 0.7],
    "processor_class": "Idefics2Processor", "resample": 3,
    "rescale_factor": 0.00392156862745098,
    "size": {"longest_edge": 700, "shortest_edge": 200}})";
  const auto config = ImageProcessorConfig::load(dir / "preprocessor_config.json");
  BOOST_TEST(config.do_image_splitting);
  BOOST_TEST(config.size.longest_edge == 700);
  BOOST_TEST(config.size.shortest_edge == 200);
  BOOST_TEST((config.resample == Resample::Bicubic));
  BOOST_TEST(config.rescale_factor == 0.00392156862745098);
  BOOST_TEST(config.image_mean[1] == 0.4);
  BOOST_TEST(config.image_std[2] == 0.7);

  const auto defaults = ImageProcessorConfig::parse(R"({"image_mean": 0.25, "size": null})", "x");
  BOOST_TEST(defaults.image_mean[0] == 0.25);
  BOOST_TEST(defaults.image_mean[2] == 0.25);
  BOOST_TEST(defaults.image_std[0] == 0.5);
  BOOST_TEST(defaults.size.shortest_edge == 378);
  BOOST_TEST(defaults.size.longest_edge == 980);
  BOOST_TEST((defaults.resample == Resample::Bilinear));
  BOOST_TEST(defaults.rescale_factor == 1.0 / 255.0);
  BOOST_TEST(!defaults.do_image_splitting);
  BOOST_TEST(defaults.do_pad);
}

BOOST_AUTO_TEST_CASE(config_errors_name_the_file_and_the_key)
{
  BOOST_TEST(config_error(R"({"do_resize": "yes"})") ==
             "preprocessor_config.json: do_resize must be true or false");
  BOOST_TEST(config_error(R"({"size": {"shortest_edge": "378", "longest_edge": 980}})") ==
             "preprocessor_config.json: size.shortest_edge must be an integer");
  BOOST_TEST(config_error(R"({"size": {"longest_edge": 980}})") ==
             "preprocessor_config.json: size.shortest_edge is missing");
  BOOST_TEST(config_error(R"({"size": {"height": 384, "width": 384}})") ==
             "preprocessor_config.json: size with height and width is not supported; expected "
             "shortest_edge and longest_edge");
  BOOST_TEST(config_error(R"({"resample": 0})") ==
             "preprocessor_config.json: resample is 0 (nearest), which is not supported; expected "
             "1 (lanczos), 2 (bilinear), 3 (bicubic), 4 (box) or 5 (hamming)");
  BOOST_TEST(config_error(R"({"image_mean": [0.5, 0.5]})") ==
             "preprocessor_config.json: image_mean has 2 values; expected 3 (RGB)");
  BOOST_TEST(config_error(R"({"image_std": [0.5, "a", 0.5]})") ==
             "preprocessor_config.json: image_std[1] must be a number");
  BOOST_TEST(config_error(R"({"image_std": 0})") ==
             "preprocessor_config.json: image_std has a zero; normalising would divide by it");
  BOOST_TEST(config_error(R"({"image_processor_type": "SiglipImageProcessor"})") ==
             "preprocessor_config.json: image_processor_type is 'SiglipImageProcessor'; expected "
             "Idefics2ImageProcessor");
  BOOST_TEST(
      contains(config_error("{\"do_pad\": tru"), "preprocessor_config.json: not valid JSON"));
  BOOST_TEST(config_error("[1, 2]") == "preprocessor_config.json: not a JSON object");

  ScratchDir dir;
  BOOST_CHECK_EXCEPTION(ImageProcessorConfig::load(dir / "none.json"), ConfigError,
                        [&](const ConfigError &e) {
                          return contains(e.what(), (dir / "none.json").string() + ": cannot read");
                        });
}
