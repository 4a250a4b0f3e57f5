// examples/crack with compute cephalo/crack, checked against the crack as LAMMPS's own
// `dump image` draws it: the crack tip the compute reports must lie within two lattice spacings
// of the tip of the dark gap in the picture, and the crack length must grow monotonically while
// the crack runs.
#include <boost/test/unit_test.hpp>

#include "lammps_runner.h"

#include <png.h>

#include <cmath>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

using cephalo::test::run_lammps;
using cephalo::test::ScratchDir;

namespace {

struct Image {
  int width = 0, height = 0;
  std::vector<unsigned char> rgb;
  const unsigned char *at(int x, int y) const
  {
    return &rgb[3 * (static_cast<std::size_t>(y) * width + x)];
  }
  bool yellow(int x, int y) const
  {
    return at(x, y)[0] > 180 && at(x, y)[1] > 180 && at(x, y)[2] < 90;
  }
  bool dark(int x, int y) const { return at(x, y)[0] < 40 && at(x, y)[1] < 40 && at(x, y)[2] < 40; }
};

Image read_png(const std::filesystem::path &path)
{
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&png, path.c_str()))
    throw std::runtime_error("cannot read " + path.string() + ": " + png.message);
  png.format = PNG_FORMAT_RGB;
  Image image;
  image.width = static_cast<int>(png.width);
  image.height = static_cast<int>(png.height);
  image.rgb.resize(PNG_IMAGE_SIZE(png));
  if (!png_image_finish_read(&png, nullptr, image.rgb.data(), 0, nullptr))
    throw std::runtime_error("cannot decode " + path.string() + ": " + png.message);
  return image;
}

struct Box {
  double xlo, xhi, ylo, yhi;
};

// Centre of the first (from_start) or last run of yellow frame pixels along a row or column.
double frame_line(const Image &image, bool along_row, int fixed, bool from_start)
{
  const int n = along_row ? image.width : image.height;
  auto yellow = [&](int i) { return along_row ? image.yellow(i, fixed) : image.yellow(fixed, i); };
  int i = from_start ? 0 : n - 1;
  const int step = from_start ? 1 : -1;
  while (i >= 0 && i < n && !yellow(i)) i += step;
  const int first = i;
  while (i >= 0 && i < n && yellow(i)) i += step;
  if (first < 0 || first >= n) throw std::runtime_error("no box frame in the image");
  return 0.5 * (first + i - step);
}

// The tip of the crack as drawn: starting in the notch at the left edge, flood the dark
// background that is at least 3 pixels wide (thinner slivers are gaps between drawn atoms),
// kept 1.5 sigma away from the box frame and within a band around the crack plane; the
// rightmost dark pixel reached is the tip. Returns x in simulation units.
double drawn_crack_tip(const Image &image, const Box &box, double notch_y, double band)
{
  const int mid_row = image.height / 2, mid_column = image.width / 2;
  const double left = frame_line(image, true, mid_row, true),
               right = frame_line(image, true, mid_row, false);
  const double top = frame_line(image, false, mid_column, true),
               bottom = frame_line(image, false, mid_column, false);
  const double sx = (right - left) / (box.xhi - box.xlo), sy = (bottom - top) / (box.yhi - box.ylo);
  const double margin = 1.5 * sx;
  const double row_min = std::max(top + margin, bottom - (notch_y + band - box.ylo) * sy);
  const double row_max = std::min(bottom - margin, bottom - (notch_y - band - box.ylo) * sy);
  auto open = [&](int x, int y) {
    if (x < left + margin || x > right - margin || y < row_min || y > row_max) return false;
    for (int dx = -1; dx <= 1; ++dx)
      for (int dy = -1; dy <= 1; ++dy)
        if (!image.dark(x + dx, y + dy)) return false;
    return true;
  };

  // seed: the open pixel nearest the notch plane in the first column inside the margin
  const int seed_x = static_cast<int>(left + margin) + 1;
  const int notch_row = static_cast<int>(bottom - (notch_y - box.ylo) * sy);
  int seed_y = -1;
  for (int y = static_cast<int>(row_min); y <= static_cast<int>(row_max); ++y)
    if (open(seed_x, y) && (seed_y < 0 || std::abs(y - notch_row) < std::abs(seed_y - notch_row)))
      seed_y = y;
  if (seed_y < 0) throw std::runtime_error("no open notch at the left edge of the image");

  std::set<std::pair<int, int>> seen{{seed_x, seed_y}};
  std::vector<std::pair<int, int>> stack{{seed_x, seed_y}};
  int rightmost = seed_x;
  while (!stack.empty()) {
    const auto [x, y] = stack.back();
    stack.pop_back();
    rightmost = std::max(rightmost, x);
    for (const auto &[nx, ny] :
         {std::pair{x + 1, y}, std::pair{x - 1, y}, std::pair{x, y + 1}, std::pair{x, y - 1}})
      if (open(nx, ny) && seen.insert({nx, ny}).second) stack.push_back({nx, ny});
  }
  return box.xlo + (rightmost + 1 - left) / sx;
}

// Thermo rows keyed by step, columns as named in the header line.
std::map<long, std::map<std::string, double>> thermo_table(const std::string &output,
                                                           const std::string &first_column)
{
  std::map<long, std::map<std::string, double>> table;
  std::istringstream lines(output);
  std::string line;
  std::vector<std::string> columns;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::vector<std::string> fields;
    for (std::string w; words >> w;) fields.push_back(w);
    if (fields.size() > 1 && fields[0] == "Step" && fields[1] == first_column) {
      columns = fields;
      continue;
    }
    if (columns.empty() || fields.size() != columns.size()) continue;
    char *end = nullptr;
    const long step = std::strtol(fields[0].c_str(), &end, 10);
    if (*end != '\0') continue;
    for (std::size_t k = 1; k < fields.size(); ++k)
      table[step][columns[k]] = std::strtod(fields[k].c_str(), nullptr);
  }
  return table;
}

}    // namespace

BOOST_AUTO_TEST_SUITE(example)

BOOST_AUTO_TEST_CASE(crack_tip_matches_the_dump_image_and_the_crack_grows)
{
  ScratchDir dir;
  const std::string input =
      "variable steps index 0\n"
      "include " CEPHALO_EXAMPLES "/crack/in.crack\n"
      "dump pictures all image 1000 crack.*.png type type zoom 1.6 adiam 1.5 size 1200 800\n"
      "thermo_style custom step xlo xhi ylo yhi c_crack[1] c_crack[2] c_crack[19]\n"
      "thermo 200\n"
      "run 5000\n";
  const auto run = run_lammps(dir.path(), input, 2);
  BOOST_TEST_INFO("lmp output:\n" << run.output);
  BOOST_REQUIRE_EQUAL(run.exit_code, 0);
  const auto thermo = thermo_table(run.output, "Xlo");
  BOOST_REQUIRE(thermo.count(5000));

  // hex lattice 0.93 in 2d: spacing (2 / (sqrt(3) 0.93))^(1/2)
  const double spacing = std::sqrt(2.0 / (std::sqrt(3.0) * 0.93));
  const double notch_y = 20.25 * spacing * std::sqrt(3.0);    // between lattice rows 20 and 20.5
  for (long step : {2000L, 3000L, 4000L}) {
    BOOST_TEST_CONTEXT("step " << step)
    {
      const auto &row = thermo.at(step);
      const Box box{row.at("Xlo"), row.at("Xhi"), row.at("Ylo"), row.at("Yhi")};
      const double drawn = drawn_crack_tip(
          read_png(dir / ("crack." + std::to_string(step) + ".png")), box, notch_y, 12.0);
      const double measured = row.at("c_crack[2]");
      BOOST_TEST_MESSAGE("step " << step << ": compute tip x " << measured << ", drawn tip x "
                                 << drawn);
      BOOST_TEST(std::abs(measured - drawn) <= 2.0 * spacing,
                 "compute tip " << measured << " vs drawn tip " << drawn);
    }
  }

  // once the crack has started, its length never drops by more than the thermal jitter of the
  // tip atom (a quarter of a lattice spacing)
  double previous = 0.0;
  bool running = false;
  for (const auto &[step, row] : thermo) {
    const double length = row.at("c_crack[1]");
    if (running)
      BOOST_TEST(length >= previous - 0.25 * spacing,
                 "step " << step << ": " << length << " after " << previous);
    running = running || length > 0.0;
    previous = std::max(previous, length);
  }
  BOOST_TEST(running);
  BOOST_TEST(previous > 5.0 * spacing);
}

BOOST_AUTO_TEST_SUITE_END()
