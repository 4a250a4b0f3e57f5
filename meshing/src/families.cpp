// The structure families and outer forms as constraint functions (see geometry.h).
#include "cgal_voronoi.h"
#include "geometry.h"
#include "parallel.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <random>
#include <unordered_map>

namespace cephalo::meshing::detail {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kInf = std::numeric_limits<double>::infinity();

std::string fmt(double v)
{
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", v);
  return buffer;
}

// Whether the frame holds whole periods of a lattice along each axis (period 0: any length):
// only then is the lattice's density per period the density in the frame.
bool whole_periods(const Box &frame, const Vec3 &period)
{
  for (int a = 0; a < 3; ++a) {
    if (period[a] <= 0.0) continue;
    const double n = (frame.hi[a] - frame.lo[a]) / period[a];
    if (std::abs(n - std::round(n)) > 1e-4 * std::max(1.0, n)) return false;
  }
  return true;
}

// The smaller of a and b, rounded over a width k where they are close: blended into a field
// as a minimum, it puts fillets of about k/4 into the creases where two surfaces meet.
double smooth_min(double a, double b, double k)
{
  if (k <= 0.0) return std::min(a, b);
  const double h = std::max(k - std::abs(a - b), 0.0) / k;
  return std::min(a, b) - 0.25 * k * h * h;
}

// ------------------------------------------------------------------------------------------
// TPMS: level-set functions of period 2 pi, with gradients

// f and its gradient at (x, y, z), from one set of sines and cosines.
using SurfaceFunction = double (*)(double x, double y, double z, Vec3 &gradient);

double gyroid(double x, double y, double z, Vec3 &g)
{
  const double sx = std::sin(x), sy = std::sin(y), sz = std::sin(z), cx = std::cos(x),
               cy = std::cos(y), cz = std::cos(z);
  g = {cx * cy - sz * sx, -sx * sy + cy * cz, -sy * sz + cz * cx};
  return sx * cy + sy * cz + sz * cx;
}
double schwarz_p(double x, double y, double z, Vec3 &g)
{
  g = {-std::sin(x), -std::sin(y), -std::sin(z)};
  return std::cos(x) + std::cos(y) + std::cos(z);
}
double diamond(double x, double y, double z, Vec3 &g)
{
  const double sx = std::sin(x), sy = std::sin(y), sz = std::sin(z), cx = std::cos(x),
               cy = std::cos(y), cz = std::cos(z);
  g = {cx * sy * sz + cx * cy * cz - sx * sy * cz - sx * cy * sz,
       sx * cy * sz - sx * sy * cz + cx * cy * cz - cx * sy * sz,
       sx * sy * cz - sx * cy * sz - cx * sy * sz + cx * cy * cz};
  return sx * sy * sz + sx * cy * cz + cx * sy * cz + cx * cy * sz;
}

SurfaceFunction surface_function(TpmsParams::Surface s)
{
  switch (s) {
  case TpmsParams::Surface::Gyroid:
    return gyroid;
  case TpmsParams::Surface::SchwarzP:
    return schwarz_p;
  case TpmsParams::Surface::Diamond:
    return diamond;
  }
  return gyroid;
}

// f / |grad f|: the signed distance from the surface to first order. Its level sets bound the
// network solids. In units of x (period 2 pi).
double normalised(SurfaceFunction f, double x, double y, double z)
{
  Vec3 g;
  const double v = f(x, y, z, g);
  return v / std::max(norm(g), 1e-6);
}

// The signed distance from the surface, to third order: Newton steps along the gradient carry
// the point onto the surface, and the distance travelled is measured. A band |d| <= t/2 is then
// a sheet of thickness t all over, where |f / |grad f|| <= t/2 would be a few per cent thinner
// where the surface curves most (the density of a gyroid sheet with t = a/10 comes out 3.6%
// below its minimal surface's area times t). Falls back to f / |grad f| near critical points.
double surface_distance(SurfaceFunction f, double x, double y, double z)
{
  Vec3 g;
  const double v0 = f(x, y, z, g);
  double gg = dot(g, g);
  if (gg < 1e-12) return v0 / 1e-6;
  Vec3 q{x, y, z};
  double v = v0;
  for (int step = 0; step < 4; ++step) {
    q = q - (v / gg) * g;
    v = f(q[0], q[1], q[2], g);
    gg = dot(g, g);
    if (std::abs(v) < 1e-12 || gg < 1e-12) break;
  }
  const double d = norm(q - Vec3{x, y, z});
  return v0 < 0.0 ? -d : d;
}

// The distribution of the normalised field over one unit cell (period 1), sampled on a fine
// midpoint grid into fine histograms: it converts between a level and the solid fraction that
// level gives, F <= t for a network and |F| <= t for a sheet.
class SurfaceStatistics {
 public:
  explicit SurfaceStatistics(SurfaceFunction f)
  {
    constexpr int n = 96;    // samples per cell edge: fractions good to about 1e-4
    const double step = 2.0 * kPi / n;
    std::vector<std::vector<std::uint32_t>> signed_parts(worker_count()), abs_parts(worker_count());
    parallel_chunks(n, 4, [&](std::size_t begin, std::size_t end, unsigned worker) {
      auto &hs = signed_parts[worker], &ha = abs_parts[worker];
      hs.resize(kBins, 0);
      ha.resize(kBins, 0);
      for (std::size_t k = begin; k < end; ++k)
        for (int j = 0; j < n; ++j)
          for (int i = 0; i < n; ++i) {
            const double x = (i + 0.5) * step, y = (j + 0.5) * step,
                         z = (static_cast<double>(k) + 0.5) * step;
            hs[bin(normalised(f, x, y, z) / (2.0 * kPi), -kRange)]++;
            ha[bin(std::abs(surface_distance(f, x, y, z)) / (2.0 * kPi), 0.0)]++;
          }
    });
    cumulative(signed_parts, signed_);
    cumulative(abs_parts, abs_);
  }

  // Fraction of the cell with F <= t (network, F = f / |grad f|) or |d| <= t (sheet, d the
  // distance from the surface); t in cell units.
  double fraction_below(double t, bool sheet) const
  {
    const auto &c = sheet ? abs_ : signed_;
    const double lo = sheet ? 0.0 : -kRange, width = (kRange - lo) / kBins;
    const double x = std::clamp((t - lo) / width, 0.0, static_cast<double>(kBins));
    const auto b = std::min<std::size_t>(static_cast<std::size_t>(x), kBins - 1);
    return (c[b] + (x - static_cast<double>(b)) * (c[b + 1] - c[b])) / c[kBins];
  }

  // The level t at which fraction_below(t) reaches `fraction`.
  double level_for(double fraction, bool sheet) const
  {
    const auto &c = sheet ? abs_ : signed_;
    const double lo = sheet ? 0.0 : -kRange, width = (kRange - lo) / kBins;
    const double target = std::clamp(fraction, 0.0, 1.0) * c[kBins];
    const auto b =
        static_cast<std::size_t>(std::upper_bound(c.begin(), c.end(), target) - c.begin());
    if (b == 0) return lo;
    if (b > kBins) return kRange;
    const double within = c[b] > c[b - 1] ? (target - c[b - 1]) / (c[b] - c[b - 1]) : 0.0;
    return lo + (static_cast<double>(b - 1) + within) * width;
  }

 private:
  static constexpr std::size_t kBins = 1 << 17;
  static constexpr double kRange = 1.0;    // cell units; levels beyond are never useful

  static std::size_t bin(double v, double lo)
  {
    const double x = (v - lo) / (kRange - lo) * kBins;
    return static_cast<std::size_t>(std::clamp(x, 0.0, static_cast<double>(kBins - 1)));
  }
  static void cumulative(const std::vector<std::vector<std::uint32_t>> &parts,
                         std::vector<double> &out)
  {
    out.assign(kBins + 1, 0.0);
    for (const auto &h : parts)
      for (std::size_t b = 0; b < h.size(); ++b) out[b + 1] += h[b];
    for (std::size_t b = 0; b < kBins; ++b) out[b + 1] += out[b];
  }

  std::vector<double> signed_, abs_;    // cumulative counts: [b] = samples in bins below b
};

const SurfaceStatistics &surface_statistics(TpmsParams::Surface s)
{
  static std::mutex mutex;
  static std::array<std::unique_ptr<SurfaceStatistics>, 3> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto &entry = cache[static_cast<int>(s)];
  if (!entry) entry = std::make_unique<SurfaceStatistics>(surface_function(s));
  return *entry;
}

PatternGeometry tpms_pattern(const TpmsParams &t, const Box &frame)
{
  PatternGeometry g;
  const SurfaceFunction f = surface_function(t.surface);
  const SurfaceStatistics &stats = surface_statistics(t.surface);
  const bool sheet = t.kind == TpmsParams::Kind::Sheet;
  const double a = t.cell_size, k = 2.0 * kPi / a;
  // in mm: the distance from the surface (sheets), or f / |grad f| (networks)
  const Vec3 origin = frame.lo;    // the pattern's phase is tied to its frame
  const auto measure = sheet ? surface_distance : normalised;
  const auto field = [f, k, origin, measure](const Vec3 &p) {
    return measure(f, k * (p[0] - origin[0]), k * (p[1] - origin[1]), k * (p[2] - origin[2])) / k;
  };

  // The level in mm: from the wall thickness, a uniform density, or a density graded along an axis.
  std::function<double(const Vec3 &)> level;
  if (t.grading) {
    const auto axis = static_cast<int>(t.grading->axis);
    const double lo = frame.lo[axis], span = frame.hi[axis] - frame.lo[axis];
    const double from = t.grading->from, to = t.grading->to;
    const double level_from = a * stats.level_for(from, sheet),
                 level_to = a * stats.level_for(to, sheet);
    // density is nearly linear in the level over the useful range, so interpolate the level
    level = [=](const Vec3 &p) {
      const double s = std::clamp((p[axis] - lo) / span, 0.0, 1.0);
      return level_from + s * (level_to - level_from);
    };
    // the density of the level at each height, averaged along the axis
    double sum = 0.0;
    constexpr int kSteps = 256;
    for (int i = 0; i < kSteps; ++i) {
      const double level_mm = level_from + (i + 0.5) / kSteps * (level_to - level_from);
      sum += stats.fraction_below(level_mm / a, sheet);
    }
    g.analytic_density = sum / kSteps;
    g.density_formula = "graded: the density of the local level, averaged along the axis";
    g.finest_feature = sheet ? 2.0 * std::min(level_from, level_to) : a * 0.25;
  } else {
    double level_mm;
    if (t.relative_density) {
      level_mm = a * stats.level_for(*t.relative_density, sheet);
    } else {
      level_mm = 0.5 * t.wall_thickness;
    }
    level = [level_mm](const Vec3 &) { return level_mm; };
    g.analytic_density = stats.fraction_below(level_mm / a, sheet);
    g.density_formula = sheet ? "fraction of the unit cell within half the wall of the surface"
                              : "fraction of the unit cell with f/|grad f| <= level";
    g.finest_feature = sheet ? 2.0 * level_mm : a * 0.25;
  }

  if (!whole_periods(frame, {a, a, a})) g.analytic_density.reset();    // cut cells: sampled instead

  if (sheet) {
    // The sheet is the band between two level sets of F, given as two constraints so that the
    // mesher cuts both surfaces from one smooth field: the band is never lost between grid
    // points, however thin it is against the grid spacing.
    g.constraints.push_back(
        {"tpms upper level", [field, level](const Vec3 &p) { return field(p) - level(p); }});
    g.constraints.push_back(
        {"tpms lower level", [field, level](const Vec3 &p) { return -field(p) - level(p); }});
  } else {
    g.constraints.push_back(
        {"tpms network", [field, level](const Vec3 &p) { return field(p) - level(p); }});
  }
  g.suggested_edge = a / 16.0;
  return g;
}

// ------------------------------------------------------------------------------------------
// Honeycomb: walls along the Voronoi faces of a triangular lattice of cell centres

double face_sheets_field(const FaceSheets &sheets, const Box &frame, const Vec3 &p)
{
  // <= 0 inside a sheet: below lo + bottom, or above hi - top
  double c = kInf;
  if (sheets.bottom > 0.0) c = std::min(c, p[2] - (frame.lo[2] + sheets.bottom));
  if (sheets.top > 0.0) c = std::min(c, (frame.hi[2] - sheets.top) - p[2]);
  return c;
}

PatternGeometry honeycomb_pattern(const HoneycombParams &h, const Box &frame, const Vec3 &phase)
{
  PatternGeometry g;
  const double d = h.cell_size, t = h.wall_thickness;
  const Vec3 centre = 0.5 * (frame.lo + frame.hi) + Vec3{phase[0], phase[1], 0.0};
  const double row = d * std::sqrt(3.0) / 2.0;
  const Vec3 normals[3] = {
      {1.0, 0.0, 0.0}, {0.5, std::sqrt(3.0) / 2.0, 0.0}, {-0.5, std::sqrt(3.0) / 2.0, 0.0}};
  const FaceSheets sheets = h.face_sheets;
  g.constraints.push_back(
      {"honeycomb walls", [=](const Vec3 &p) {
         // nearest cell centre of the lattice (i d + j d/2, j row), searched around
         // the rounded lattice coordinates
         const double x = p[0] - centre[0], y = p[1] - centre[1];
         const double jf = y / row;
         const long j0 = static_cast<long>(std::floor(jf));
         double best = kInf;
         for (long j = j0 - 1; j <= j0 + 2; ++j) {
           const double cy = j * row;
           const double i0 = std::floor((x - j * d / 2.0) / d);
           for (long i = static_cast<long>(i0) - 1; i <= static_cast<long>(i0) + 2; ++i) {
             const double cx = i * d + j * d / 2.0;
             const double dx = x - cx, dy = y - cy;
             double hex = 0.0;    // distance to the centre in the hexagonal norm
             for (const Vec3 &n : normals) hex = std::max(hex, std::abs(dx * n[0] + dy * n[1]));
             best = std::min(best, hex);
           }
         }
         const double wall = (d - t) / 2.0 - best;    // <= 0 within t/2 of a cell boundary
         return std::min(wall, face_sheets_field(sheets, frame, p));
       }});
  const double height = frame.hi[2] - frame.lo[2];
  const double core = std::max(0.0, height - sheets.top - sheets.bottom);
  const double interior = 1.0 - (1.0 - t / d) * (1.0 - t / d);
  if (whole_periods(frame, {d, std::sqrt(3.0) * d, 0.0}))
    g.analytic_density = (interior * core + (height - core)) / height;
  g.density_formula = "1 - (1 - t/d)^2 for the cells, solid face sheets";
  g.finest_feature = t;
  g.suggested_edge = std::min(t / 2.5, d / 8.0);
  if (sheets.top > 0.0) g.suggested_edge = std::min(g.suggested_edge, sheets.top / 2.5);
  if (sheets.bottom > 0.0) g.suggested_edge = std::min(g.suggested_edge, sheets.bottom / 2.5);
  return g;
}

// ------------------------------------------------------------------------------------------
// Bouligand: plies of parallel fibres, each ply rotated against the one below

PatternGeometry bouligand_pattern(const BouligandParams &b, const Box &frame,
                                  const PrinterProfile &printer, const Vec3 &phase)
{
  PatternGeometry g;
  const double height = frame.hi[2] - frame.lo[2];
  const double ply = height / b.layers;
  std::mt19937_64 random(static_cast<std::uint64_t>(b.seed));
  std::normal_distribution<double> noise(0.0, b.rotation_noise);
  auto angles = std::make_shared<std::vector<double>>();
  for (int k = 0; k < b.layers; ++k)
    angles->push_back((k * b.rotation + (b.rotation_noise > 0.0 ? noise(random) : 0.0)) * kPi /
                      180.0);
  const Vec3 centre = 0.5 * (frame.lo + frame.hi) + Vec3{phase[0], phase[1], 0.0};
  const double w = b.fibre_width, s = b.fibre_spacing;
  const bool round = b.fibre_shape == BouligandParams::FibreShape::Cylindrical;
  const int layers = b.layers;
  const double z0 = frame.lo[2];
  // Fibres the frame's side would cut to a sliver narrower than this are left out: along a
  // side parallel to the fibres such a strip is unprintable, at a corner a crumb.
  const double sliver = std::min(printer.min_wall(), w / 2.0);
  auto ranges =
      std::make_shared<std::vector<std::pair<double, double>>>();    // frame across each ply
  for (double a : *angles) {
    double lo = kInf, hi = -kInf;
    for (double x : {frame.lo[0], frame.hi[0]})
      for (double y : {frame.lo[1], frame.hi[1]}) {
        const double across = -(x - centre[0]) * std::sin(a) + (y - centre[1]) * std::cos(a);
        lo = std::min(lo, across), hi = std::max(hi, across);
      }
    ranges->push_back({lo, hi});
  }
  g.constraints.push_back(
      {"bouligand fibres", [=](const Vec3 &p) {
         const double x = p[0] - centre[0], y = p[1] - centre[1];
         const int own = std::clamp(static_cast<int>(std::floor((p[2] - z0) / ply)), 0, layers - 1);
         double best = kInf;
         // a point can touch the fibres of its own ply and of both neighbours
         for (int k = std::max(0, own - 1); k <= std::min(layers - 1, own + 1); ++k) {
           const double a = (*angles)[static_cast<std::size_t>(k)];
           const auto [lo, hi] = (*ranges)[static_cast<std::size_t>(k)];
           const double across = -x * std::sin(a) + y * std::cos(a);
           const double dz = p[2] - (z0 + (k + 0.5) * ply);
           const double nearest = std::round(across / s);
           for (double n = nearest - 1.0; n <= nearest + 1.0; n += 1.0) {
             const double centre_line = n * s;
             if (std::min(hi, centre_line + w / 2.0) - std::max(lo, centre_line - w / 2.0) < sliver)
               continue;
             const double dv = across - centre_line;
             // rectangular plies reach 5 % into their neighbours so that they fuse
             const double c = round ? std::sqrt(dv * dv + dz * dz) - w / 2.0
                                    : std::max(std::abs(dv) - w / 2.0, std::abs(dz) - 0.55 * ply);
             best = std::min(best, c);
           }
         }
         return best;
       }});
  g.finest_feature = std::min({w, s - w, round ? w : ply});
  g.suggested_edge = std::min({w, s - w, ply}) / 2.5;
  g.expected_pieces = (b.rotation > 0.0 || b.rotation_noise > 0.0) ? 1 : kLoosePieces;
  return g;
}

// ------------------------------------------------------------------------------------------
// Tubular: channels through a solid block, each with optional ring channels around it

struct Tubule {
  double u, v, phase;
};

std::vector<Tubule> place_tubules(const TubularParams &t, double width, double depth, double outer,
                                  double wall)
{
  std::mt19937_64 random(static_cast<std::uint64_t>(t.seed));
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<Tubule> out;
  const double pitch = 2.0 * outer + wall;
  using P = TubularParams::Placement;
  if (t.placement == P::Ordered || t.placement == P::Jittered) {
    const int nu = std::max(1, static_cast<int>(std::lround(std::sqrt(t.count * width / depth))));
    const int nv = (t.count + nu - 1) / nu;
    const double su = width / nu, sv = depth / nv;
    for (int n = 0; n < t.count; ++n) {
      const int row = n / nu, col = n % nu;
      const int in_row = row == nv - 1 ? t.count - row * nu : nu;    // centre a short last row
      double u = (col + 0.5 + 0.5 * (nu - in_row)) * su - width / 2.0;
      double v = (row + 0.5) * sv - depth / 2.0;
      if (t.placement == P::Jittered) {
        u += (2.0 * unit(random) - 1.0) * t.jitter * su;
        v += (2.0 * unit(random) - 1.0) * t.jitter * sv;
      }
      out.push_back({u, v, unit(random) * 2.0 * kPi});
    }
  } else if (t.placement == P::Radial) {
    for (int ring = 0; static_cast<int>(out.size()) < t.count; ++ring) {
      const double r = ring * pitch;
      if (r + outer > 0.5 * std::min(width, depth))
        throw SpecError("tubular.count",
                        "radial placement fits only " + std::to_string(out.size()) + " of " +
                            std::to_string(t.count) + " tubules in the cross-section");
      const int on_ring = ring == 0 ? 1 : static_cast<int>(std::floor(2.0 * kPi * r / pitch));
      for (int n = 0; n < on_ring && static_cast<int>(out.size()) < t.count; ++n) {
        const double a = 2.0 * kPi * n / on_ring + 0.5 * ring;
        out.push_back({r * std::cos(a), r * std::sin(a), unit(random) * 2.0 * kPi});
      }
    }
  } else {
    // random: rejection sampling with a minimum centre distance
    const int attempts = 2000 * t.count;
    for (int a = 0; a < attempts && static_cast<int>(out.size()) < t.count; ++a) {
      const double u = (unit(random) - 0.5) * (width - 2.0 * outer),
                   v = (unit(random) - 0.5) * (depth - 2.0 * outer);
      bool free = true;
      for (const auto &o : out)
        if (std::hypot(o.u - u, o.v - v) < pitch) free = false;
      if (free) out.push_back({u, v, unit(random) * 2.0 * kPi});
    }
    if (static_cast<int>(out.size()) < t.count)
      throw SpecError("tubular.count", "random placement fits only " + std::to_string(out.size()) +
                                           " of " + std::to_string(t.count) + " tubules " +
                                           fmt(pitch) + " mm apart");
  }
  return out;
}

PatternGeometry tubular_pattern(const TubularParams &t, const Box &frame,
                                const PrinterProfile &printer)
{
  PatternGeometry g;
  const int axis = static_cast<int>(t.direction), ua = (axis + 1) % 3, va = (axis + 2) % 3;
  const Vec3 centre = 0.5 * (frame.lo + frame.hi);
  const double width = frame.hi[ua] - frame.lo[ua], depth = frame.hi[va] - frame.lo[va];
  const double r = t.radius, minor = r * (1.0 - t.ellipticity);
  const double outer = r + (t.rings > 0 ? t.rings * t.ring_spacing + 0.5 * t.ring_gap : 0.0);
  const double ring_wall = t.ring_spacing - t.ring_gap;
  const double wall = printer.min_wall();
  auto tubules = std::make_shared<std::vector<Tubule>>(place_tubules(t, width, depth, outer, wall));

  // tubules in cells of a uniform grid, for a quick nearest search
  const double cell = 2.0 * outer + wall;
  struct Grid {
    double cell, u0, v0;
    int nu, nv;
    std::vector<std::vector<int>> members;
  };
  auto grid = std::make_shared<Grid>();
  grid->cell = cell;
  grid->u0 = -width / 2.0 - cell;
  grid->v0 = -depth / 2.0 - cell;
  grid->nu = static_cast<int>(std::ceil((width + 2.0 * cell) / cell)) + 1;
  grid->nv = static_cast<int>(std::ceil((depth + 2.0 * cell) / cell)) + 1;
  grid->members.resize(static_cast<std::size_t>(grid->nu) * grid->nv);
  for (std::size_t n = 0; n < tubules->size(); ++n) {
    const int iu = static_cast<int>(((*tubules)[n].u - grid->u0) / cell),
              iv = static_cast<int>(((*tubules)[n].v - grid->v0) / cell);
    grid->members[static_cast<std::size_t>(iv) * grid->nu + iu].push_back(static_cast<int>(n));
  }
  const int rings = t.rings;
  const double spacing = t.ring_spacing, gap = t.ring_gap;
  g.constraints.push_back(
      {"tubules", [=](const Vec3 &p) {
         const double u = p[ua] - centre[ua], v = p[va] - centre[va];
         const int iu = static_cast<int>((u - grid->u0) / cell),
                   iv = static_cast<int>((v - grid->v0) / cell);
         double void_field = cell;    // > 0: solid
         for (int jv = std::max(0, iv - 1); jv <= std::min(grid->nv - 1, iv + 1); ++jv)
           for (int ju = std::max(0, iu - 1); ju <= std::min(grid->nu - 1, iu + 1); ++ju)
             for (int n : grid->members[static_cast<std::size_t>(jv) * grid->nu + ju]) {
               const Tubule &tb = (*tubules)[static_cast<std::size_t>(n)];
               const double du = u - tb.u, dv = v - tb.v;
               // normalised elliptical radius: 1 on the channel wall; (q - 1) minor is
               // the distance from the wall along the minor axis and less than it
               // along the major one, so rings are at least ring_spacing apart
               const double q = std::sqrt((du / r) * (du / r) + (dv / minor) * (dv / minor));
               double c = (q - 1.0) * minor;    // the channel itself
               if (rings > 0) {
                 const double angle = std::atan2(dv, du) - tb.phase;
                 // distance to the nearest of three radial bridges across the rings
                 double bridge = kInf;
                 for (int s = 0; s < 3; ++s) {
                   const double delta = std::remainder(angle - s * 2.0 * kPi / 3.0, 2.0 * kPi);
                   if (std::abs(delta) < kPi / 2.0)
                     bridge = std::min(bridge, q * minor * std::sin(std::abs(delta)));
                 }
                 for (int k = 1; k <= rings; ++k) {
                   const double ring = std::abs((q - 1.0) * minor - k * spacing) - gap / 2.0;
                   c = std::min(c, std::max(ring, 0.5 * (spacing - gap) - bridge));
                 }
               }
               void_field = std::min(void_field, c);
             }
         return -void_field;
       }});
  double voids = 0.0;
  for (int n = 0; n < t.count; ++n) voids += kPi * r * minor;
  g.analytic_density =
      t.rings == 0 ? std::optional<double>(1.0 - voids / (width * depth)) : std::nullopt;
  g.density_formula = "1 - count pi a b / cross-section (no rings)";
  g.finest_feature = std::min(minor, t.rings > 0 ? std::min(gap, ring_wall) : minor);
  // a channel may be narrower than a wall: losing part of a void is caught by the density check
  g.suggested_edge =
      std::min(minor / 2.5, t.rings > 0 ? std::min(gap / 1.5, ring_wall / 2.5) : minor);
  return g;
}

// ------------------------------------------------------------------------------------------
// Cellular: Voronoi foam walls or struts around random cell centres

// Distance to the nearest of many segments, up to `reach`: segments listed in the cells of a
// grid that their boxes, grown by the reach, overlap.
struct Segment {
  Vec3 a, b;
};

class SegmentField {
 public:
  SegmentField(std::vector<Segment> segments, double reach) :
      segments_(std::move(segments)), reach_(reach)
  {
    Vec3 lo{kInf, kInf, kInf}, hi{-kInf, -kInf, -kInf};
    for (const auto &sg : segments_)
      for (int a = 0; a < 3; ++a) {
        lo[a] = std::min({lo[a], sg.a[a], sg.b[a]});
        hi[a] = std::max({hi[a], sg.a[a], sg.b[a]});
      }
    if (segments_.empty()) lo = hi = Vec3{0, 0, 0};
    cell_ = reach;
    for (;;) {
      double cells = 1.0;
      for (int a = 0; a < 3; ++a) {
        lo_[a] = lo[a] - reach;
        n_[a] = static_cast<int>(std::ceil((hi[a] - lo[a] + 2.0 * reach) / cell_)) + 1;
        cells *= n_[a];
      }
      if (cells <= 4e6) break;
      cell_ *= 1.25;
    }
    members_.resize(static_cast<std::size_t>(n_[0]) * n_[1] * n_[2]);
    for (std::size_t s = 0; s < segments_.size(); ++s) {
      const Segment &sg = segments_[s];
      int c0[3], c1[3];
      for (int a = 0; a < 3; ++a) {
        c0[a] = axis_cell(a, std::min(sg.a[a], sg.b[a]) - reach);
        c1[a] = axis_cell(a, std::max(sg.a[a], sg.b[a]) + reach);
      }
      for (int z = c0[2]; z <= c1[2]; ++z)
        for (int y = c0[1]; y <= c1[1]; ++y)
          for (int x = c0[0]; x <= c1[0]; ++x)
            members_[index(x, y, z)].push_back(static_cast<int>(s));
    }
  }

  // The distance to the nearest segment, with `blend` > 0: the smooth minimum over the
  // segments nearby (fillets where they meet).
  double distance(const Vec3 &p, double blend = 0.0) const
  {
    int c[3];
    for (int a = 0; a < 3; ++a) {
      const double f = std::floor((p[a] - lo_[a]) / cell_);
      if (f < 0.0 || f >= n_[a]) return reach_;
      c[a] = static_cast<int>(f);
    }
    double best = reach_ * reach_, blended = reach_;
    for (int s : members_[index(c[0], c[1], c[2])]) {
      const Segment &sg = segments_[static_cast<std::size_t>(s)];
      const Vec3 ab = sg.b - sg.a, ap = p - sg.a;
      const double t = std::clamp(dot(ap, ab) / std::max(dot(ab, ab), 1e-300), 0.0, 1.0);
      const Vec3 d = ap - t * ab;
      best = std::min(best, dot(d, d));
      if (blend > 0.0) blended = smooth_min(blended, std::sqrt(dot(d, d)), blend);
    }
    return blend > 0.0 ? blended : std::sqrt(best);
  }

 private:
  int axis_cell(int a, double x) const
  {
    return std::clamp(static_cast<int>(std::floor((x - lo_[a]) / cell_)), 0, n_[a] - 1);
  }
  std::size_t index(int x, int y, int z) const
  {
    return (static_cast<std::size_t>(z) * n_[1] + y) * n_[0] + x;
  }

  std::vector<Segment> segments_;
  double reach_, cell_ = 1.0;
  Vec3 lo_{};
  int n_[3] = {1, 1, 1};
  std::vector<std::vector<int>> members_;
};

struct SeedGrid {
  std::vector<Vec3> seeds;
  Vec3 lo;
  double cell = 1.0;
  std::array<int, 3> n{1, 1, 1};
  std::vector<std::vector<int>> members;

  void build(std::vector<Vec3> points, const Box &box, double spacing)
  {
    seeds = std::move(points);
    cell = spacing;
    lo = box.lo;
    for (int a = 0; a < 3; ++a)
      n[a] = std::max(1, static_cast<int>(std::ceil((box.hi[a] - box.lo[a]) / cell)));
    members.assign(static_cast<std::size_t>(n[0]) * n[1] * n[2], {});
    for (std::size_t s = 0; s < seeds.size(); ++s)
      members[index_of(cell_of(seeds[s]))].push_back(static_cast<int>(s));
  }
  std::array<int, 3> cell_of(const Vec3 &p) const
  {
    std::array<int, 3> c{};
    for (int a = 0; a < 3; ++a)
      c[a] = std::clamp(static_cast<int>(std::floor((p[a] - lo[a]) / cell)), 0, n[a] - 1);
    return c;
  }
  std::size_t index_of(const std::array<int, 3> &c) const
  {
    return (static_cast<std::size_t>(c[2]) * n[1] + c[1]) * n[0] + c[0];
  }
  // The k nearest seeds (k <= 3), nearest first: rings of cells are searched until the ring
  // is farther away than the k-th seed found.
  int nearest(const Vec3 &p, int k, int *out, double *dist2) const
  {
    for (int i = 0; i < k; ++i) out[i] = -1, dist2[i] = kInf;
    const auto c = cell_of(p);
    double outside = 0.0;
    for (int a = 0; a < 3; ++a)
      outside = std::max({outside, lo[a] - p[a], p[a] - (lo[a] + n[a] * cell)});
    const int max_ring = std::max({n[0], n[1], n[2]});
    for (int ring = 0; ring <= max_ring; ++ring) {
      for (int z = c[2] - ring; z <= c[2] + ring; ++z) {
        if (z < 0 || z >= n[2]) continue;
        for (int y = c[1] - ring; y <= c[1] + ring; ++y) {
          if (y < 0 || y >= n[1]) continue;
          for (int x = c[0] - ring; x <= c[0] + ring; ++x) {
            if (x < 0 || x >= n[0]) continue;
            if (std::max({std::abs(x - c[0]), std::abs(y - c[1]), std::abs(z - c[2])}) != ring)
              continue;
            for (int s : members[index_of({x, y, z})]) {
              const Vec3 d = seeds[static_cast<std::size_t>(s)] - p;
              const double d2 = dot(d, d);
              if (d2 >= dist2[k - 1]) continue;
              int i = k - 1;
              while (i > 0 && dist2[i - 1] > d2) {
                dist2[i] = dist2[i - 1];
                out[i] = out[i - 1];
                --i;
              }
              dist2[i] = d2;
              out[i] = s;
            }
          }
        }
      }
      // every seed within ring * cell of p (less p's distance outside the grid) has been seen
      if (out[k - 1] >= 0 && ring * cell >= std::sqrt(dist2[k - 1]) + outside) break;
    }
    return out[k - 1] >= 0 ? k : 0;
  }
};

PatternGeometry cellular_pattern(const CellularParams &c, const Box &frame)
{
  PatternGeometry g;
  const Vec3 size = frame.size();
  int cells = c.cells;
  if (c.cell_size)
    cells = std::max(2, static_cast<int>(std::lround(frame.volume() / std::pow(*c.cell_size, 3))));
  std::mt19937_64 random(static_cast<std::uint64_t>(c.seed));
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<Vec3> seeds;
  for (int i = 0; i < cells; ++i)
    seeds.push_back({frame.lo[0] + unit(random) * size[0], frame.lo[1] + unit(random) * size[1],
                     frame.lo[2] + unit(random) * size[2]});
  const double spacing = std::cbrt(frame.volume() / cells);
  auto grid = std::make_shared<SeedGrid>();
  grid->build(seeds, frame, spacing);
  const double half = c.thickness / 2.0;
  // smoothing: fillets where walls or struts meet, blended into the field (up to half the
  // thickness deep at smoothing 1), so the mesh of the smoothed foam is as exact as any other
  const double blend = 2.0 * c.smoothing * c.thickness;
  const FaceSheets sheets = c.face_sheets;
  if (c.kind == CellularParams::Kind::Walls) {
    // Inside the cell of the nearest seed, the distance to the cell's boundary is the distance
    // to the nearest bisector plane with a neighbour; the neighbours that matter near p are
    // among the seeds nearest to p. A continuous field, unlike the second-nearest bisector alone.
    g.constraints.push_back(
        {"foam walls", [=](const Vec3 &p) {
           constexpr int k = 6;
           int s[k];
           double d2[k];
           const int found =
               grid->nearest(p, std::min<int>(k, static_cast<int>(grid->seeds.size())), s, d2);
           if (found < 2) return kInf;
           const Vec3 &a = grid->seeds[static_cast<std::size_t>(s[0])];
           double boundary = kInf;
           for (int i = 1; i < found; ++i)
             boundary = smooth_min(
                 boundary,
                 (d2[i] - d2[0]) / (2.0 * norm(grid->seeds[static_cast<std::size_t>(s[i])] - a)),
                 blend);
           return std::min(boundary - half, face_sheets_field(sheets, frame, p));
         }});
  } else {
    // struts along the Voronoi edges, as segments from the Delaunay triangulation
    auto struts = std::make_shared<SegmentField>(
        [&] {
          std::vector<Segment> segments;
          for (const auto &[a, b] : voronoi_edges(seeds, frame)) segments.push_back({a, b});
          return segments;
        }(),
        2.0 * c.thickness);
    g.constraints.push_back({"foam struts", [=](const Vec3 &p) {
                               return std::min(struts->distance(p, blend) - half,
                                               face_sheets_field(sheets, frame, p));
                             }});
  }
  g.finest_feature = c.thickness;
  // round struts need finer facets than flat walls for the same volume error
  g.suggested_edge =
      std::min(c.thickness / (c.kind == CellularParams::Kind::Struts ? 6.0 : 2.5), spacing / 6.0);
  if (sheets.top > 0.0) g.suggested_edge = std::min(g.suggested_edge, sheets.top / 2.5);
  if (sheets.bottom > 0.0) g.suggested_edge = std::min(g.suggested_edge, sheets.bottom / 2.5);
  return g;
}

// ------------------------------------------------------------------------------------------
// Nacre: staggered tablets in a mortar matrix

ConstraintFn nacre_tablets(const NacreParams &n, const Box &frame, const Vec3 &phase)
{
  const double L = n.tablet_length, h = n.tablet_thickness, gap = n.gap;
  const double period = L + gap, layer = h + gap;
  const Vec3 lo = frame.lo + phase;
  const double overlap = n.overlap;
  return [=](const Vec3 &p) {
    const double m = std::floor((p[2] - lo[2]) / layer);
    const double shift = std::fmod(m * overlap, 1.0) * period;
    const double u = std::fmod(std::fmod(p[0] - lo[0] - shift, period) + period, period);
    const double v = std::fmod(std::fmod(p[1] - lo[1] - shift, period) + period, period);
    const double w = p[2] - lo[2] - m * layer;
    // the tablet sits centred in its period: [gap/2, gap/2 + L] and [gap/2, gap/2 + h]
    return std::max({std::abs(u - gap / 2.0 - L / 2.0) - L / 2.0,
                     std::abs(v - gap / 2.0 - L / 2.0) - L / 2.0,
                     std::abs(w - gap / 2.0 - h / 2.0) - h / 2.0});
  };
}

// ------------------------------------------------------------------------------------------
// Spider web: round threads along radials, an Archimedean capture spiral and a frame

PatternGeometry spider_web_pattern(const SpiderWebParams &w, const Box &frame)
{
  PatternGeometry g;
  const Vec3 centre = 0.5 * (frame.lo + frame.hi);
  const double radius =
      0.5 * std::min(frame.hi[0] - frame.lo[0], frame.hi[1] - frame.lo[1]) - w.thread_thickness;
  auto segments = std::make_unique<std::vector<Segment>>();
  auto at = [&](double r, double a) {
    return Vec3{centre[0] + r * std::cos(a), centre[1] + r * std::sin(a), centre[2]};
  };
  for (int k = 0; k < w.radials; ++k) {
    const double a = 2.0 * kPi * k / w.radials;
    segments->push_back({centre, at(radius, a)});
  }
  if (w.spiral_turns > 0.0) {
    const double total = 2.0 * kPi * w.spiral_turns;
    const int steps = std::max(8, static_cast<int>(std::ceil(total / (kPi / 36.0))));
    for (int s = 0; s < steps; ++s) {
      const double a0 = total * s / steps, a1 = total * (s + 1) / steps;
      segments->push_back({at(w.hub_radius + (radius - w.hub_radius) * a0 / total, a0),
                           at(w.hub_radius + (radius - w.hub_radius) * a1 / total, a1)});
    }
  }
  if (w.frame) {
    const int steps = std::max(24, w.radials * 6);
    for (int s = 0; s < steps; ++s)
      segments->push_back(
          {at(radius, 2.0 * kPi * s / steps), at(radius, 2.0 * kPi * (s + 1) / steps)});
  }
  const double reach = 2.0 * w.thread_thickness;
  auto threads = std::make_shared<SegmentField>(std::move(*segments), reach);
  const double half = w.thread_thickness / 2.0;
  g.constraints.push_back(
      {"web threads", [=](const Vec3 &p) { return threads->distance(p) - half; }});
  g.finest_feature = w.thread_thickness;
  g.suggested_edge = w.thread_thickness / 5.0;
  return g;
}

}    // namespace

// ------------------------------------------------------------------------------------------

double tpms_sheet_wall(TpmsParams::Surface surface, double cell_size, double density)
{
  return 2.0 * cell_size * surface_statistics(surface).level_for(density, true);
}

double tpms_sheet_density(TpmsParams::Surface surface, double cell_size, double wall)
{
  return surface_statistics(surface).fraction_below(0.5 * wall / cell_size, true);
}

PatternGeometry make_pattern(const Pattern &pattern, const Box &frame,
                             const PrinterProfile &printer, const Vec3 &phase)
{
  switch (pattern.family) {
  case Family::Tpms:
    return tpms_pattern(pattern.tpms, frame);
  case Family::Honeycomb:
    return honeycomb_pattern(pattern.honeycomb, frame, phase);
  case Family::Bouligand:
    return bouligand_pattern(pattern.bouligand, frame, printer, phase);
  case Family::Tubular:
    return tubular_pattern(pattern.tubular, frame, printer);
  case Family::Cellular:
    return cellular_pattern(pattern.cellular, frame);
  case Family::Nacre: {
    PatternGeometry g;
    const auto &n = pattern.nacre;
    g.constraints.push_back({"nacre tablets", nacre_tablets(n, frame, phase)});
    g.finest_feature = std::min(n.gap, n.tablet_thickness);
    g.suggested_edge = g.finest_feature / 2.5;
    g.expected_pieces = 0;
    return g;
  }
  case Family::SpiderWeb:
    return spider_web_pattern(pattern.spider_web, frame);
  }
  throw std::logic_error("unknown family");
}

std::vector<Constraint> make_form(const Form &form, const Box &box, double *volume)
{
  std::vector<Constraint> out;
  const Vec3 c = 0.5 * (box.lo + box.hi), half = 0.5 * box.size();
  const double a = half[0], b = half[1], h = box.hi[2] - box.lo[2];
  auto plane = [&](const char *name, Vec3 n, double offset) {
    // n . p <= offset, n of unit length
    out.push_back({name, [n, offset](const Vec3 &p) { return dot(n, p) - offset; }});
  };
  auto z_planes = [&]() {
    plane("form bottom", {0, 0, -1}, -box.lo[2]);
    plane("form top", {0, 0, 1}, box.hi[2]);
  };
  switch (form.shape) {
  case Shape::Box:
    plane("form -x", {-1, 0, 0}, -box.lo[0]);
    plane("form +x", {1, 0, 0}, box.hi[0]);
    plane("form -y", {0, -1, 0}, -box.lo[1]);
    plane("form +y", {0, 1, 0}, box.hi[1]);
    z_planes();
    *volume = box.volume();
    break;
  case Shape::Cylinder: {
    const double m = std::min(a, b);
    out.push_back({"form cylinder", [=](const Vec3 &p) {
                     const double x = (p[0] - c[0]) / a, y = (p[1] - c[1]) / b;
                     return (std::sqrt(x * x + y * y) - 1.0) * m;
                   }});
    z_planes();
    *volume = kPi * a * b * h;
    break;
  }
  case Shape::Sphere: {
    const double r = half[2], m = std::min({a, b, r});
    out.push_back({"form sphere", [=](const Vec3 &p) {
                     const double x = (p[0] - c[0]) / a, y = (p[1] - c[1]) / b,
                                  z = (p[2] - c[2]) / r;
                     return (std::sqrt(x * x + y * y + z * z) - 1.0) * m;
                   }});
    *volume = 4.0 / 3.0 * kPi * a * b * r;
    break;
  }
  case Shape::Cone: {
    const double m = std::min(a, b), z0 = box.lo[2];
    out.push_back({"form cone", [=](const Vec3 &p) {
                     const double x = (p[0] - c[0]) / a, y = (p[1] - c[1]) / b;
                     const double s = (p[2] - z0) / h;    // 0 at the base, 1 at the apex
                     // radial distance beyond the cone at this height, scaled to mm
                     return (std::sqrt(x * x + y * y) - (1.0 - s)) * m /
                            std::sqrt(1.0 + (m / h) * (m / h));
                   }});
    // the cone closes itself at the apex; a top plane there would touch it in one point only
    plane("form bottom", {0, 0, -1}, -box.lo[2]);
    *volume = kPi * a * b * h / 3.0;
    break;
  }
  case Shape::Prism: {
    const int n = form.sides;
    // a regular n-gon inscribed in the x extent, stretched to the y extent
    const double r = a, stretch = b / a;
    const double apothem = r * std::cos(kPi / n);
    for (int k = 0; k < n; ++k) {
      const double angle = 2.0 * kPi * (k + 0.5) / n;
      // side k: cos(angle) x + sin(angle) (y / stretch) <= apothem, normalised
      Vec3 normal{std::cos(angle), std::sin(angle) / stretch, 0.0};
      const double length = norm(normal);
      normal = (1.0 / length) * normal;
      const double offset = apothem / length + dot(normal, c);
      plane("form side", normal, offset);
    }
    z_planes();
    *volume = 0.5 * n * r * r * std::sin(2.0 * kPi / n) * stretch * h;
    break;
  }
  }
  return out;
}

}    // namespace cephalo::meshing::detail
