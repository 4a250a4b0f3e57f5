// Sphere-shaded orthographic atom snapshots, depth-composited over MPI (see snapshot_renderer.h).
#include "snapshot_renderer.h"

#include <png.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>

namespace cephalo::plugin {
namespace {

using Vec3 = std::array<double, 3>;
using Rgb = std::array<std::uint8_t, 3>;

constexpr float kEmptyDepth = std::numeric_limits<float>::infinity();
constexpr std::int64_t kEmptyId = std::numeric_limits<std::int64_t>::max();
constexpr Rgb kNanColor{128, 128, 128};
// Samples per MPI_Reduce in composite_to_root (whole rows, at least 64): 4 MiB, so that an
// image up to 512x512 is one collective and a 4096-wide one takes 64-row bands.
constexpr std::size_t kBandSamples = 262144;
constexpr int kMinBandRows = 64;
// Images are capped so that a band's element count fits MPI's int counts comfortably.
constexpr int kMaxSide = 16384;

Vec3 sub(const Vec3 &a, const Vec3 &b)
{
  return {a[0] - b[0], a[1] - b[1], a[2] - b[2]};
}
double dot(const Vec3 &a, const Vec3 &b)
{
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}
Vec3 cross(const Vec3 &a, const Vec3 &b)
{
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
Vec3 scaled(const Vec3 &a, double s)
{
  return {a[0] * s, a[1] * s, a[2] * s};
}
double norm(const Vec3 &a)
{
  return std::sqrt(dot(a, a));
}
bool finite(const Vec3 &a)
{
  return std::isfinite(a[0]) && std::isfinite(a[1]) && std::isfinite(a[2]);
}

std::string num(double v)
{
  char text[32];
  std::snprintf(text, sizeof text, "%.4g", v);
  return text;
}

// The eight corners of the (possibly triclinic) box, corner k = lo + (k&1) a + (k&2) b + (k&4) c.
std::array<Vec3, 8> box_corners(const Box &box)
{
  const Vec3 a{box.hi[0] - box.lo[0], 0.0, 0.0};
  const Vec3 b{box.xy, box.hi[1] - box.lo[1], 0.0};
  const Vec3 c{box.xz, box.yz, box.hi[2] - box.lo[2]};
  std::array<Vec3, 8> corners;
  for (int k = 0; k < 8; ++k)
    for (int d = 0; d < 3; ++d)
      corners[k][d] =
          box.lo[d] + ((k & 1) ? a[d] : 0.0) + ((k & 2) ? b[d] : 0.0) + ((k & 4) ? c[d] : 0.0);
  return corners;
}

Vec3 box_centre(const Box &box)
{
  const auto corners = box_corners(box);
  return {0.5 * (corners[0][0] + corners[7][0]), 0.5 * (corners[0][1] + corners[7][1]),
          0.5 * (corners[0][2] + corners[7][2])};
}

// Pixel geometry shared by every rank: the same inputs give the same doubles everywhere, which
// is what makes per-rank drawing composable.
struct Layout {
  int font_scale = 1, pad = 4, strip_width = 0, label_height = 0;
  Vec3 centre{}, right{}, up{}, toward{};
  double scale = 1.0;           // pixels per distance unit
  double cx = 0.0, cy = 0.0;    // pixel position of the box centre
  ColorBarRect bar{0, 0, 0, 0};
};

Layout frame_layout(const RenderSettings &s)
{
  Layout l;
  const int small_side = std::min(s.width, s.height);
  l.font_scale = std::max(1, small_side / 300);
  l.pad = std::max(4, small_side / 40);
  const int f = l.font_scale;
  // bar (12) + gap (4) + ten characters of "-1.235e+04" (60) + gap (6), in font pixels
  l.strip_width = s.color_bar ? 82 * f + l.pad : 0;
  l.label_height = s.label.empty() ? 0 : 7 * f + l.pad;
  const int sx = s.width - l.strip_width;
  l.bar = {sx, sx + 12 * f - 1, l.label_height + l.pad + 4 * f, s.height - 1 - l.pad - 4 * f};
  return l;
}

Layout view_layout(const RenderSettings &s, const Box &box)
{
  Layout l = frame_layout(s);
  l.toward = scaled(s.view.toward_camera, 1.0 / norm(s.view.toward_camera));
  const Vec3 up_perp = sub(s.view.up, scaled(l.toward, dot(s.view.up, l.toward)));
  l.up = scaled(up_perp, 1.0 / norm(up_perp));
  l.right = cross(l.up, l.toward);
  l.centre = box_centre(box);

  // Symmetric half extents: a parallelepiped is symmetric about its centre.
  double half_u = 0.0, half_v = 0.0;
  for (const Vec3 &c : box_corners(box)) {
    const Vec3 p = sub(c, l.centre);
    half_u = std::max(half_u, std::abs(dot(p, l.right)));
    half_v = std::max(half_v, std::abs(dot(p, l.up)));
  }
  half_u += s.radius;
  half_v += s.radius;
  const double plot_w = s.width - l.strip_width, plot_h = s.height - l.label_height;
  const double avail_w = plot_w - 2.0 * l.pad, avail_h = plot_h - 2.0 * l.pad;
  l.scale = s.zoom * std::min(avail_w / (2.0 * half_u), avail_h / (2.0 * half_v));
  l.cx = plot_w / 2.0;
  l.cy = l.label_height + plot_h / 2.0;
  return l;
}

// Control points at t = 0, 1/8, ..., 1 (viridis from matplotlib; coolwarm is Moreland's).
constexpr Rgb kViridis[9] = {{68, 1, 84},    {71, 45, 123},  {59, 82, 139},
                             {44, 114, 142}, {33, 144, 140}, {39, 173, 129},
                             {93, 200, 99},  {170, 220, 50}, {253, 231, 37}};
constexpr Rgb kCoolwarm[9] = {{59, 76, 192},   {98, 130, 234},  {141, 176, 254},
                              {184, 208, 249}, {221, 221, 221}, {245, 196, 173},
                              {244, 154, 123}, {222, 96, 77},   {180, 4, 38}};

// A 5x7 font: each row's low five bits, the leftmost column in bit 4. Lowercase letters use the
// capitals, except a number's 'e', which stays small to read as an exponent; a character without
// a glyph draws '?'.
struct Glyph {
  char c;
  std::uint8_t rows[7];
};
constexpr Glyph kFont[] = {
    {' ', {0, 0, 0, 0, 0, 0, 0}},
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}},
    {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}},
    {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}},
    {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}},
    {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}},
    {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'A', {0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11}},
    {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}},
    {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}},
    {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}},
    {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}},
    {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}},
    {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}},
    {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}},
    {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}},
    {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}},
    {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {'e', {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}},
    {',', {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}},
    {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
    {'+', {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}},
    {':', {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}},
    {'=', {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}},
    {'/', {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {'_', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}},
    {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
    {'?', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}},
};

const Glyph &glyph_for(char c, bool small_e)
{
  if (!(small_e && c == 'e')) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const Glyph &g : kFont)
    if (g.c == c) return g;
  return glyph_for('?', false);
}

void put(Framebuffer &fb, int x, int y, const Rgb &color)
{
  if (x < 0 || y < 0 || x >= fb.width || y >= fb.height) return;
  std::memcpy(&fb.rgb[3 * (static_cast<std::size_t>(y) * fb.width + x)], color.data(), 3);
}

// Text with its top-left corner at (x, y), each font pixel a scale x scale block.
void draw_text(Framebuffer &fb, int x, int y, const std::string &text, int scale, const Rgb &color,
               bool is_number = false)
{
  for (char c : text) {
    const Glyph &g = glyph_for(c, is_number);
    for (int row = 0; row < 7; ++row)
      for (int col = 0; col < 5; ++col)
        if (g.rows[row] & (0x10 >> col))
          for (int dy = 0; dy < scale; ++dy)
            for (int dx = 0; dx < scale; ++dx)
              put(fb, x + col * scale + dx, y + row * scale + dy, color);
    x += 6 * scale;
  }
}

// A one-pixel line drawn only where it is nearer than what the pixel shows, so the box edges
// behind atoms stay hidden.
void draw_edge(Framebuffer &fb, const Layout &l, const Vec3 &a, const Vec3 &b, const Rgb &color)
{
  auto project = [&](const Vec3 &p) {
    const Vec3 q = sub(p, l.centre);
    return Vec3{l.cx + dot(q, l.right) * l.scale, l.cy - dot(q, l.up) * l.scale, -dot(q, l.toward)};
  };
  const Vec3 pa = project(a), pb = project(b);
  const int steps =
      static_cast<int>(std::ceil(std::max(std::abs(pb[0] - pa[0]), std::abs(pb[1] - pa[1])))) + 1;
  for (int k = 0; k <= steps; ++k) {
    const double t = static_cast<double>(k) / steps;
    const int x = static_cast<int>(std::floor(pa[0] + t * (pb[0] - pa[0])));
    const int y = static_cast<int>(std::floor(pa[1] + t * (pb[1] - pa[1])));
    if (x < 0 || y < 0 || x >= fb.width || y >= fb.height) continue;
    const float depth = static_cast<float>(pa[2] + t * (pb[2] - pa[2]));
    if (depth <= fb.depth[static_cast<std::size_t>(y) * fb.width + x]) put(fb, x, y, color);
  }
}

// One pixel as it travels through MPI_Reduce.
struct Sample {
  float depth;
  std::uint8_t rgb[3];
  std::uint8_t unused;
  std::int64_t id;
};
static_assert(sizeof(Sample) == 16, "Sample must pack into 16 bytes");

// A drawn pixel of a band (index within the band) for the sparse composite.
struct SparseSample {
  std::uint32_t index;
  std::uint32_t unused;
  Sample sample;
};
static_assert(sizeof(SparseSample) == 24, "SparseSample must pack into 24 bytes");

bool nearer(const Sample &a, const Sample &b)
{
  return a.depth < b.depth || (a.depth == b.depth && a.id < b.id);
}

// The MPI_Op: a minimum under a total order, hence associative and commutative.
void merge_samples(void *in, void *inout, int *len, MPI_Datatype *)
{
  const auto *a = static_cast<const Sample *>(in);
  auto *b = static_cast<Sample *>(inout);
  for (int i = 0; i < *len; ++i)
    if (nearer(a[i], b[i])) b[i] = a[i];
}

void png_append(png_structp png, png_bytep data, png_size_t length)
{
  auto *out = static_cast<std::vector<std::uint8_t> *>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + length);
}

// Kept apart from encode_png so that no object with a destructor lives across setjmp.
bool write_png_rows(png_structp png, png_infop info, const Framebuffer &fb, png_bytepp rows,
                    std::vector<std::uint8_t> *out)
{
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_write_fn(png, out, png_append, nullptr);
  png_set_IHDR(png, info, static_cast<png_uint_32>(fb.width), static_cast<png_uint_32>(fb.height),
               8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  // fast settings: run-length deflate of the Sub filter's residues suits flat-shaded disks on a
  // plain background; a 384x384 snapshot encodes in ~1.7 ms instead of ~10 ms at zlib level 6
  // with adaptive filters
  png_set_compression_level(png, 1);
  png_set_compression_strategy(png, Z_RLE);
  png_set_filter(png, 0, PNG_FILTER_SUB);
  png_set_rows(png, info, rows);
  png_write_png(png, info, PNG_TRANSFORM_IDENTITY, nullptr);
  return true;
}

}    // namespace

ColorMap parse_color_map(const std::string &name)
{
  if (name == "viridis") return ColorMap::viridis;
  if (name == "coolwarm") return ColorMap::coolwarm;
  if (name == "gray") return ColorMap::gray;
  throw std::invalid_argument("map: unknown colour map '" + name +
                              "', expected viridis, coolwarm or gray");
}

std::array<std::uint8_t, 3> map_color(ColorMap map, double t)
{
  t = std::clamp(t, 0.0, 1.0);
  if (map == ColorMap::gray) {
    const auto g = static_cast<std::uint8_t>(std::lround(255.0 * t));
    return {g, g, g};
  }
  const Rgb *table = map == ColorMap::viridis ? kViridis : kCoolwarm;
  const double position = t * 8.0;
  const int below = std::min(7, static_cast<int>(position));
  const double f = position - below;
  Rgb out;
  for (int c = 0; c < 3; ++c)
    out[c] = static_cast<std::uint8_t>(
        std::lround(table[below][c] + f * (table[below + 1][c] - table[below][c])));
  return out;
}

View axis_view(const std::string &axis)
{
  if (axis.size() == 2 && (axis[0] == '+' || axis[0] == '-')) {
    const double sign = axis[0] == '+' ? 1.0 : -1.0;
    if (axis[1] == 'x') return {{sign, 0.0, 0.0}, {0.0, 0.0, 1.0}};
    if (axis[1] == 'y') return {{0.0, sign, 0.0}, {0.0, 0.0, 1.0}};
    if (axis[1] == 'z') return {{0.0, 0.0, sign}, {0.0, 1.0, 0.0}};
  }
  throw std::invalid_argument("view: unknown axis '" + axis +
                              "', expected one of +x -x +y -y +z -z");
}

View angle_view(double theta_deg, double phi_deg)
{
  if (!std::isfinite(theta_deg) || !std::isfinite(phi_deg))
    throw std::invalid_argument("view: angles theta " + num(theta_deg) + " and phi " +
                                num(phi_deg) + " must be finite");
  const double deg = std::acos(-1.0) / 180.0;
  const double st = std::sin(theta_deg * deg);
  View v;
  v.toward_camera = {st * std::cos(phi_deg * deg), st * std::sin(phi_deg * deg),
                     std::cos(theta_deg * deg)};
  // Looking (almost) along z, +z has no direction on the screen.
  v.up = std::abs(st) < 1e-6 ? Vec3{0.0, 1.0, 0.0} : Vec3{0.0, 0.0, 1.0};
  return v;
}

Framebuffer::Framebuffer(int w, int h, std::array<std::uint8_t, 3> background) :
    width(w), height(h), depth(static_cast<std::size_t>(w) * h, kEmptyDepth),
    id(static_cast<std::size_t>(w) * h, kEmptyId), rgb(3 * static_cast<std::size_t>(w) * h)
{
  for (std::size_t i = 0; i < id.size(); ++i) std::memcpy(&rgb[3 * i], background.data(), 3);
}

std::array<std::uint8_t, 3> Framebuffer::pixel(int x, int y) const
{
  if (x < 0 || y < 0 || x >= width || y >= height)
    throw std::out_of_range("Framebuffer::pixel: (" + std::to_string(x) + ", " + std::to_string(y) +
                            ") outside " + std::to_string(width) + "x" + std::to_string(height));
  const std::size_t i = 3 * (static_cast<std::size_t>(y) * width + x);
  return {rgb[i], rgb[i + 1], rgb[i + 2]};
}

void validate(const RenderSettings &s, const Box &box)
{
  if (s.width <= 0 || s.width > kMaxSide)
    throw std::invalid_argument("width: " + std::to_string(s.width) + " must be in 1.." +
                                std::to_string(kMaxSide));
  if (s.height <= 0 || s.height > kMaxSide)
    throw std::invalid_argument("height: " + std::to_string(s.height) + " must be in 1.." +
                                std::to_string(kMaxSide));
  if (!s.auto_range && !(std::isfinite(s.vmin) && std::isfinite(s.vmax) && s.vmin < s.vmax))
    throw std::invalid_argument("vmin/vmax: vmin " + num(s.vmin) +
                                " must be finite and below vmax " + num(s.vmax) +
                                " when auto_range is off");
  if (!(std::isfinite(s.zoom) && s.zoom > 0.0))
    throw std::invalid_argument("zoom: " + num(s.zoom) + " must be positive");
  if (!(std::isfinite(s.radius) && s.radius >= 0.0))
    throw std::invalid_argument("radius: " + num(s.radius) + " must be >= 0 (0: automatic)");
  const Vec3 &t = s.view.toward_camera;
  if (!finite(t) || !finite(s.view.up) || norm(t) == 0.0 ||
      norm(cross(t, s.view.up)) <= 1e-9 * norm(t) * norm(s.view.up))
    throw std::invalid_argument("view: toward_camera must be a non-zero direction and up must "
                                "not be parallel to it");
  for (int d = 0; d < 3; ++d)
    if (!(std::isfinite(box.lo[d]) && std::isfinite(box.hi[d]) && box.lo[d] < box.hi[d]))
      throw std::invalid_argument("box: lo[" + std::to_string(d) + "] " + num(box.lo[d]) +
                                  " must be finite and below hi " + num(box.hi[d]));
  if (!(std::isfinite(box.xy) && std::isfinite(box.xz) && std::isfinite(box.yz)))
    throw std::invalid_argument("box: the tilt factors xy, xz, yz must be finite");
  const Layout l = frame_layout(s);
  if (s.width - l.strip_width - 2 * l.pad < 8)
    throw std::invalid_argument("width: " + std::to_string(s.width) +
                                " px leaves no room for the atoms beside the colour bar (" +
                                std::to_string(l.strip_width) +
                                " px at this size): make the picture at least " +
                                std::to_string(l.strip_width + 2 * l.pad + 8) +
                                " px wide, or leave the bar out (colorbar no)");
  if (s.height - l.label_height - 2 * l.pad < 8 || (s.color_bar && l.bar.y1 - l.bar.y0 < 8))
    throw std::invalid_argument("height: " + std::to_string(s.height) +
                                " px leaves no room for the atoms, label and colour bar");
}

std::pair<double, double> global_range(const std::vector<double> &local_values, MPI_Comm comm)
{
  double bounds[2] = {std::numeric_limits<double>::infinity(),
                      std::numeric_limits<double>::infinity()};    // min, -max
  for (double v : local_values)
    if (std::isfinite(v)) {
      bounds[0] = std::min(bounds[0], v);
      bounds[1] = std::min(bounds[1], -v);
    }
  MPI_Allreduce(MPI_IN_PLACE, bounds, 2, MPI_DOUBLE, MPI_MIN, comm);
  const double lo = bounds[0], hi = -bounds[1];
  if (lo > hi) return {0.0, 1.0};
  if (lo == hi) {
    const double widen = lo == 0.0 ? 0.5 : 0.01 * std::abs(lo);
    return {lo - widen, hi + widen};
  }
  return {lo, hi};
}

RenderSettings resolve_settings(const RenderSettings &settings, const Box &box, const Atoms &local,
                                MPI_Comm comm)
{
  validate(settings, box);
  RenderSettings out = settings;
  if (out.auto_range) {
    std::tie(out.vmin, out.vmax) = global_range(local.value, comm);
    out.auto_range = false;
  }
  if (out.radius == 0.0) {
    long long count = static_cast<long long>(local.x.size());
    MPI_Allreduce(MPI_IN_PLACE, &count, 1, MPI_LONG_LONG, MPI_SUM, comm);
    const double volume =
        (box.hi[0] - box.lo[0]) * (box.hi[1] - box.lo[1]) * (box.hi[2] - box.lo[2]);
    out.radius = 0.5 * std::cbrt(volume / static_cast<double>(std::max(count, 1LL)));
  }
  return out;
}

Framebuffer render_local(const Box &box, const Atoms &local, const RenderSettings &s)
{
  validate(s, box);
  if (s.auto_range || s.radius <= 0.0)
    throw std::invalid_argument("render_local: settings need resolve_settings first (auto_range "
                                "off, radius > 0)");
  if (local.id.size() != local.x.size() || local.value.size() != local.x.size())
    throw std::invalid_argument("render_local: atoms have " + std::to_string(local.x.size()) +
                                " positions, " + std::to_string(local.id.size()) + " ids and " +
                                std::to_string(local.value.size()) + " values");
  const Layout l = view_layout(s, box);
  Framebuffer fb(s.width, s.height, s.background);
  // Atoms at least 1.5 pixels across, so that none vanishes between pixel centres.
  const double r_px = std::max(s.radius * l.scale, 0.75);
  const double r2 = r_px * r_px;
  const std::size_t n = local.x.size();

  // Atoms are drawn nearest first (bucketed by depth: the order does not change the image, since
  // each pixel keeps the nearest surface and the smaller id on ties), so that in a 3d view most
  // hidden atoms fail the depth test at once, before any shading.
  std::vector<double> depth_of(n);
  double near = std::numeric_limits<double>::infinity(), far = -near;
  for (std::size_t a = 0; a < n; ++a) {
    if (!finite(local.x[a]))
      throw std::invalid_argument("render_local: atom " + std::to_string(local.id[a]) +
                                  " has a non-finite position");
    depth_of[a] = -dot(sub(local.x[a], l.centre), l.toward);
    near = std::min(near, depth_of[a]);
    far = std::max(far, depth_of[a]);
  }
  constexpr std::size_t kBuckets = 1024;
  std::vector<std::uint32_t> start(kBuckets + 1, 0), order(n);
  const double per_bucket = far > near ? (kBuckets - 1) / (far - near) : 0.0;
  auto bucket = [&](std::size_t a) {
    return static_cast<std::size_t>((depth_of[a] - near) * per_bucket);
  };
  for (std::size_t a = 0; a < n; ++a) ++start[bucket(a) + 1];
  for (std::size_t b = 0; b < kBuckets; ++b) start[b + 1] += start[b];
  for (std::size_t a = 0; a < n; ++a) order[start[bucket(a)]++] = static_cast<std::uint32_t>(a);

  for (const std::uint32_t a : order) {
    const Vec3 p = sub(local.x[a], l.centre);
    const double px = l.cx + dot(p, l.right) * l.scale, py = l.cy - dot(p, l.up) * l.scale;
    const double depth_centre = depth_of[a];
    if (px + r_px < 0.0 || py + r_px < 0.0 || px - r_px > s.width || py - r_px > s.height) continue;
    // no point of this atom is nearer than its front; float rounding keeps the order
    const float front = static_cast<float>(depth_centre - s.radius);
    const std::int64_t id = local.id[a];
    const int x0 = std::max(0, static_cast<int>(std::floor(px - r_px)));
    const int x1 = std::min(s.width - 1, static_cast<int>(std::ceil(px + r_px)));
    const int y0 = std::max(0, static_cast<int>(std::floor(py - r_px)));
    const int y1 = std::min(s.height - 1, static_cast<int>(std::ceil(py + r_px)));
    bool coloured = false;
    Rgb base{};
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x) {
        const std::size_t i = static_cast<std::size_t>(y) * s.width + x;
        if (front > fb.depth[i]) continue;
        const double dx = x + 0.5 - px, dy = y + 0.5 - py;
        const double d2 = dx * dx + dy * dy;
        if (d2 > r2) continue;
        // nz: the sphere normal's component toward the viewer, 1 at the centre, 0 at the rim.
        const double nz = std::sqrt(r2 - d2) / r_px;
        const float depth = static_cast<float>(depth_centre - nz * s.radius);
        if (!(depth < fb.depth[i] || (depth == fb.depth[i] && id < fb.id[i]))) continue;
        fb.depth[i] = depth;
        fb.id[i] = id;
        if (!coloured) {
          const double v = local.value[a];
          base = std::isnan(v) ? kNanColor : map_color(s.map, (v - s.vmin) / (s.vmax - s.vmin));
          coloured = true;
        }
        const double shade = 0.3 + 0.7 * nz;
        for (int c = 0; c < 3; ++c)
          fb.rgb[3 * i + c] = static_cast<std::uint8_t>(std::lround(base[c] * shade));
      }
  }
  return fb;
}

void composite_to_root(Framebuffer &fb, MPI_Comm comm, int root)
{
  int size = 1, me = 0;
  MPI_Comm_size(comm, &size);
  MPI_Comm_rank(comm, &me);
  // every rank must agree on the image size, or the bands would not line up
  int dims[4] = {fb.width, -fb.width, fb.height, -fb.height};
  MPI_Allreduce(MPI_IN_PLACE, dims, 4, MPI_INT, MPI_MAX, comm);
  if (dims[0] != -dims[1] || dims[2] != -dims[3])
    throw std::invalid_argument("composite_to_root: the ranks' framebuffers differ in size");
  if (size == 1) return;

  MPI_Datatype sample_type, sparse_type;
  MPI_Type_contiguous(static_cast<int>(sizeof(Sample)), MPI_BYTE, &sample_type);
  MPI_Type_commit(&sample_type);
  MPI_Type_contiguous(static_cast<int>(sizeof(SparseSample)), MPI_BYTE, &sparse_type);
  MPI_Type_commit(&sparse_type);
  MPI_Op merge;
  MPI_Op_create(merge_samples, /*commute=*/1, &merge);

  auto sample_at = [&](std::size_t i) {
    Sample s;
    s.depth = fb.depth[i];
    s.id = fb.id[i];
    std::memcpy(s.rgb, &fb.rgb[3 * i], 3);
    s.unused = 0;
    return s;
  };
  auto store = [&](std::size_t i, const Sample &s) {
    fb.depth[i] = s.depth;
    fb.id[i] = s.id;
    std::memcpy(&fb.rgb[3 * i], s.rgb, 3);
  };

  const int band_rows = std::max(kMinBandRows, static_cast<int>(kBandSamples / fb.width));
  const std::size_t band_max = static_cast<std::size_t>(band_rows) * fb.width;
  std::vector<Sample> send, recv;
  std::vector<SparseSample> mine, gathered;
  std::vector<int> counts(me == root ? size : 0), offsets(me == root ? size : 0);
  for (int row0 = 0; row0 < fb.height; row0 += band_rows) {
    const std::size_t first = static_cast<std::size_t>(row0) * fb.width;
    const int count = std::min(band_rows, fb.height - row0) * fb.width;

    // Sparse when the drawn pixels of all ranks together are few (ranks own separate parts of
    // space, so each covers part of the picture): root gathers them and keeps the nearest.
    // Otherwise a dense reduction, whose memory stays at one band whatever the rank count.
    mine.clear();
    if (me != root)
      for (int k = 0; k < count; ++k)
        if (fb.depth[first + k] != kEmptyDepth)
          mine.push_back({static_cast<std::uint32_t>(k), 0u, sample_at(first + k)});
    long long drawn = static_cast<long long>(mine.size());
    MPI_Allreduce(MPI_IN_PLACE, &drawn, 1, MPI_LONG_LONG, MPI_SUM, comm);
    if (drawn * static_cast<long long>(sizeof(SparseSample)) <=
        static_cast<long long>(band_max * sizeof(Sample))) {
      const int n = static_cast<int>(mine.size());
      MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, root, comm);
      if (me == root) {
        int total = 0;
        for (int r = 0; r < size; ++r) {
          offsets[r] = total;
          total += counts[r];
        }
        gathered.resize(static_cast<std::size_t>(total));
      }
      MPI_Gatherv(mine.data(), n, sparse_type, gathered.data(), counts.data(), offsets.data(),
                  sparse_type, root, comm);
      if (me == root)
        for (const SparseSample &g : gathered) {
          const std::size_t i = first + g.index;
          if (nearer(g.sample, sample_at(i))) store(i, g.sample);
        }
      continue;
    }
    send.resize(static_cast<std::size_t>(count));
    recv.resize(me == root ? static_cast<std::size_t>(count) : 0);
    for (int k = 0; k < count; ++k) send[k] = sample_at(first + k);
    MPI_Reduce(send.data(), recv.data(), count, sample_type, merge, root, comm);
    if (me == root)
      for (int k = 0; k < count; ++k) store(first + k, recv[k]);
  }
  MPI_Op_free(&merge);
  MPI_Type_free(&sparse_type);
  MPI_Type_free(&sample_type);
}

ColorBarRect color_bar_rect(const RenderSettings &settings)
{
  RenderSettings with_bar = settings;
  with_bar.color_bar = true;
  return frame_layout(with_bar).bar;
}

void decorate(Framebuffer &fb, const Box &box, const RenderSettings &s)
{
  if (fb.width != s.width || fb.height != s.height)
    throw std::invalid_argument("decorate: framebuffer " + std::to_string(fb.width) + "x" +
                                std::to_string(fb.height) + " does not match the settings' " +
                                std::to_string(s.width) + "x" + std::to_string(s.height));
  const Layout l = view_layout(s, box);
  const int luminance =
      (299 * s.background[0] + 587 * s.background[1] + 114 * s.background[2]) / 1000;
  const Rgb ink = luminance > 128 ? Rgb{0, 0, 0} : Rgb{255, 255, 255};
  const Rgb edge_ink = luminance > 128 ? Rgb{96, 96, 96} : Rgb{176, 176, 176};

  // box edges join corners that differ in one of the three edge vectors
  const auto corners = box_corners(box);
  for (int a = 0; a < 8; ++a)
    for (int bit = 1; bit < 8; bit <<= 1)
      if (!(a & bit)) draw_edge(fb, l, corners[a], corners[a | bit], edge_ink);

  const int f = l.font_scale;
  if (s.color_bar) {
    const ColorBarRect &b = l.bar;
    for (int y = b.y0; y <= b.y1; ++y) {
      const Rgb c = map_color(s.map, static_cast<double>(b.y1 - y) / (b.y1 - b.y0));
      for (int x = b.x0; x <= b.x1; ++x) put(fb, x, y, c);
    }
    for (int x = b.x0 - 1; x <= b.x1 + 1; ++x) {
      put(fb, x, b.y0 - 1, ink);
      put(fb, x, b.y1 + 1, ink);
    }
    for (int y = b.y0; y <= b.y1; ++y) {
      put(fb, b.x0 - 1, y, ink);
      put(fb, b.x1 + 1, y, ink);
    }
    const int ticks[3] = {b.y0, (b.y0 + b.y1) / 2, b.y1};
    const double values[3] = {s.vmax, 0.5 * (s.vmin + s.vmax), s.vmin};
    for (int k = 0; k < 3; ++k) {
      for (int x = b.x1 + 1; x <= b.x1 + 2 * f; ++x) put(fb, x, ticks[k], ink);
      draw_text(fb, b.x1 + 1 + 4 * f, ticks[k] - 3 * f, num(values[k]), f, ink, true);
    }
  }
  if (!s.label.empty()) draw_text(fb, l.pad, l.pad / 2, s.label, f, ink);
}

std::vector<std::uint8_t> encode_png(const Framebuffer &fb)
{
  if (fb.width <= 0 || fb.height <= 0 ||
      fb.rgb.size() != 3 * static_cast<std::size_t>(fb.width) * fb.height)
    throw std::invalid_argument("encode_png: framebuffer " + std::to_string(fb.width) + "x" +
                                std::to_string(fb.height) + " with " +
                                std::to_string(fb.rgb.size()) + " colour bytes");
  std::vector<std::uint8_t> out;
  std::vector<png_bytep> rows(static_cast<std::size_t>(fb.height));
  for (int y = 0; y < fb.height; ++y)
    rows[y] = const_cast<png_bytep>(&fb.rgb[3 * static_cast<std::size_t>(y) * fb.width]);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  const bool ok = info && write_png_rows(png, info, fb, rows.data(), &out);
  png_destroy_write_struct(&png, &info);
  if (!ok) throw std::runtime_error("encode_png: libpng failed to encode the image");
  return out;
}

void write_png_file(const std::string &path, const Framebuffer &fb)
{
  const std::vector<std::uint8_t> bytes = encode_png(fb);
  std::ofstream file(path, std::ios::binary);
  file.write(reinterpret_cast<const char *>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  if (!file) throw std::runtime_error("write_png_file: cannot write " + path);
}

Framebuffer render_composite(const Box &box, const Atoms &local, const RenderSettings &settings,
                             MPI_Comm comm, RenderSettings *resolved_out, int root)
{
  const RenderSettings resolved = resolve_settings(settings, box, local, comm);
  // A rank whose atoms cannot be drawn (a non-finite position, say) must not leave the others
  // waiting in the composite: all ranks agree on failure, and every rank throws.
  Framebuffer fb;
  std::string error;
  try {
    fb = render_local(box, local, resolved);
  } catch (const std::exception &e) {
    error = e.what();
  }
  int failed = error.empty() ? 0 : 1, any_failed = 0;
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, comm);
  if (any_failed)
    throw std::invalid_argument(
        error.empty() ? "render_snapshot: another rank could not draw its atoms" : error);
  composite_to_root(fb, comm, root);
  if (resolved_out) *resolved_out = resolved;
  int me = 0;
  MPI_Comm_rank(comm, &me);
  if (me != root) return {};
  return fb;
}

std::vector<std::uint8_t> render_snapshot(const Box &box, const Atoms &local,
                                          const RenderSettings &settings, MPI_Comm comm, int root)
{
  RenderSettings resolved;
  Framebuffer fb = render_composite(box, local, settings, comm, &resolved, root);
  int me = 0;
  MPI_Comm_rank(comm, &me);
  if (me != root) return {};
  decorate(fb, box, resolved);
  return encode_png(fb);
}

}    // namespace cephalo::plugin
