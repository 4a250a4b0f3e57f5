// A small software rasteriser for part previews: orthographic view, depth buffer, two lights,
// 2x2 supersampling, PNG through libpng (see preview.h).
#include "cephalo/meshing/preview.h"

#include "cephalo/meshing/pixel_size.h"

#include "vec3.h"

#include <png.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace cephalo::meshing {
namespace {

using detail::cross;
using detail::dot;
using detail::sub;
using detail::V3;

V3 unit(const V3 &a)
{
  const double n = std::sqrt(dot(a, a));
  return n > 0.0 ? V3{a[0] / n, a[1] / n, a[2] / n} : a;
}

constexpr V3 kPalette[] = {
    {0.62, 0.68, 0.78}, {0.86, 0.58, 0.34}, {0.45, 0.72, 0.52}, {0.78, 0.46, 0.62}};

}    // namespace

void parse_preview_size(const std::string &text, PreviewOptions &options)
{
  const PixelSize size = parse_pixel_size(text);
  options.width = size.width;
  options.height = size.height;
}

void render_preview(const BuiltPart &part, const std::filesystem::path &png,
                    const PreviewOptions &options)
{
  if (options.width < 16 || options.height < 16 || options.width > 8192 || options.height > 8192)
    throw std::invalid_argument("preview size must be 16..8192 pixels");
  const double k = 3.14159265358979323846 / 180.0;
  const double az = options.azimuth * k, el = options.elevation * k;
  const V3 toward{std::cos(el) * std::cos(az), std::cos(el) * std::sin(az),
                  std::sin(el)};    // to the viewer
  const V3 right = unit({-std::sin(az), std::cos(az), 0.0});
  const V3 up = cross(toward, right);
  const V3 light1 =
      unit({toward[0] + 0.4 * up[0] - 0.5 * right[0], toward[1] + 0.4 * up[1] - 0.5 * right[1],
            toward[2] + 0.4 * up[2] - 0.5 * right[2]});
  const V3 light2 =
      unit({-up[0] + 0.6 * right[0], -up[1] + 0.6 * right[1], -up[2] + 0.6 * right[2]});

  const V3 centre{0.5 * (part.bbox_min[0] + part.bbox_max[0]),
                  0.5 * (part.bbox_min[1] + part.bbox_max[1]),
                  0.5 * (part.bbox_min[2] + part.bbox_max[2])};
  // fit the projected bounding box
  double half_x = 1e-9, half_y = 1e-9;
  for (int c = 0; c < 8; ++c) {
    const V3 corner{c & 1 ? part.bbox_max[0] : part.bbox_min[0],
                    c & 2 ? part.bbox_max[1] : part.bbox_min[1],
                    c & 4 ? part.bbox_max[2] : part.bbox_min[2]};
    const V3 d = sub(corner, centre);
    half_x = std::max(half_x, std::abs(dot(d, right)));
    half_y = std::max(half_y, std::abs(dot(d, up)));
  }
  constexpr int ss = 2;    // supersampling
  const int w = options.width * ss, h = options.height * ss;
  const double scale = 0.92 * std::min(0.5 * w / half_x, 0.5 * h / half_y);

  std::vector<float> depth(static_cast<std::size_t>(w) * h,
                           -std::numeric_limits<float>::infinity());
  std::vector<std::array<float, 3>> colour(static_cast<std::size_t>(w) * h, {1.0f, 1.0f, 1.0f});
  // Several bodies nest (tablets in a matrix): the octant facing the viewer is cut away so the
  // inner ones show, and the inside faces of the cut are drawn darker.
  const bool cut = options.cutaway && part.bodies.size() > 1;
  auto in_cut = [&](const V3 &p) {
    const V3 d = sub(p, centre);
    return d[0] * toward[0] > 0.0 && d[1] * toward[1] > 0.0 && d[2] * toward[2] > 0.0;
  };
  for (std::size_t b = 0; b < part.bodies.size(); ++b) {
    const TriangleMesh &mesh = part.bodies[b].mesh;
    const V3 base = kPalette[b % (sizeof kPalette / sizeof kPalette[0])];
    std::vector<std::array<double, 3>> screen(mesh.vertices.size());
    for (std::size_t i = 0; i < mesh.vertices.size(); ++i) {
      const V3 d = sub({mesh.vertices[i][0], mesh.vertices[i][1], mesh.vertices[i][2]}, centre);
      screen[i] = {0.5 * w + scale * dot(d, right), 0.5 * h - scale * dot(d, up), dot(d, toward)};
    }
    for (const auto &t : mesh.triangles) {
      const V3 p0{mesh.vertices[t[0]][0], mesh.vertices[t[0]][1], mesh.vertices[t[0]][2]};
      const V3 p1{mesh.vertices[t[1]][0], mesh.vertices[t[1]][1], mesh.vertices[t[1]][2]};
      const V3 p2{mesh.vertices[t[2]][0], mesh.vertices[t[2]][1], mesh.vertices[t[2]][2]};
      V3 n = unit(cross(sub(p1, p0), sub(p2, p0)));
      double dim = 1.0;
      if (cut) {
        if (in_cut({(p0[0] + p1[0] + p2[0]) / 3.0, (p0[1] + p1[1] + p2[1]) / 3.0,
                    (p0[2] + p1[2] + p2[2]) / 3.0}))
          continue;
        if (dot(n, toward) <= 0.0) n = {-n[0], -n[1], -n[2]}, dim = 0.55;    // seen from inside
      } else if (dot(n, toward) <= 0.0) {
        continue;    // faces away (the surfaces are closed)
      }
      const double shade =
          dim * (0.22 + 0.7 * std::max(0.0, dot(n, light1)) + 0.18 * std::max(0.0, dot(n, light2)));
      const std::array<float, 3> c{static_cast<float>(std::min(1.0, base[0] * shade)),
                                   static_cast<float>(std::min(1.0, base[1] * shade)),
                                   static_cast<float>(std::min(1.0, base[2] * shade))};
      const auto &a = screen[t[0]], &bb = screen[t[1]], &cc = screen[t[2]];
      const double area = (bb[0] - a[0]) * (cc[1] - a[1]) - (bb[1] - a[1]) * (cc[0] - a[0]);
      if (std::abs(area) < 1e-12) continue;
      const int x0 = std::max(0, static_cast<int>(std::floor(std::min({a[0], bb[0], cc[0]}))));
      const int x1 = std::min(w - 1, static_cast<int>(std::ceil(std::max({a[0], bb[0], cc[0]}))));
      const int y0 = std::max(0, static_cast<int>(std::floor(std::min({a[1], bb[1], cc[1]}))));
      const int y1 = std::min(h - 1, static_cast<int>(std::ceil(std::max({a[1], bb[1], cc[1]}))));
      for (int y = y0; y <= y1; ++y)
        for (int x = x0; x <= x1; ++x) {
          const double px = x + 0.5, py = y + 0.5;
          const double l0 = ((bb[0] - px) * (cc[1] - py) - (bb[1] - py) * (cc[0] - px)) / area;
          const double l1 = ((cc[0] - px) * (a[1] - py) - (cc[1] - py) * (a[0] - px)) / area;
          const double l2 = 1.0 - l0 - l1;
          if (l0 < 0.0 || l1 < 0.0 || l2 < 0.0) continue;
          const float z = static_cast<float>(l0 * a[2] + l1 * bb[2] + l2 * cc[2]);
          const std::size_t at = static_cast<std::size_t>(y) * w + x;
          if (z <= depth[at]) continue;
          depth[at] = z;
          colour[at] = c;
        }
    }
  }

  // average the supersamples into 8-bit RGB
  std::vector<unsigned char> rgb(static_cast<std::size_t>(options.width) * options.height * 3);
  for (int y = 0; y < options.height; ++y)
    for (int x = 0; x < options.width; ++x)
      for (int ch = 0; ch < 3; ++ch) {
        double sum = 0.0;
        for (int dy = 0; dy < ss; ++dy)
          for (int dx = 0; dx < ss; ++dx)
            sum += colour[static_cast<std::size_t>(y * ss + dy) * w + (x * ss + dx)][ch];
        rgb[(static_cast<std::size_t>(y) * options.width + x) * 3 + ch] =
            static_cast<unsigned char>(std::lround(255.0 * sum / (ss * ss)));
      }
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(options.width);
  image.height = static_cast<png_uint_32>(options.height);
  image.format = PNG_FORMAT_RGB;
  if (!png_image_write_to_file(&image, png.c_str(), 0, rgb.data(), 0, nullptr))
    throw std::runtime_error("cannot write " + png.string() + ": " + image.message);
}

}    // namespace cephalo::meshing
