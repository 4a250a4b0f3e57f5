// Uniform grid over triangles (see surface_grid.h).
#include "surface_grid.h"
#include "vec3.h"

#include "parallel.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <stdexcept>

namespace cephalo::meshing::detail {
namespace {

using P = V3;

float down(double x)
{
  float f = static_cast<float>(x);
  if (static_cast<double>(f) > x) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
  return f;
}

float up(double x)
{
  float f = static_cast<float>(x);
  if (static_cast<double>(f) < x) f = std::nextafter(f, std::numeric_limits<float>::infinity());
  return f;
}

// Moller-Trumbore: the ray parameter of the crossing and its barycentric coordinates.
bool intersect(const P &o, const P &d, const P &a, const P &b, const P &c, double &t, double &u,
               double &v)
{
  const P e1 = sub(b, a), e2 = sub(c, a);
  const P p = cross(d, e2);
  const double det = dot(e1, p);
  if (std::abs(det) <= 1e-14 * std::sqrt(dot(e1, e1) * dot(e2, e2))) return false;    // parallel
  const double inverse = 1.0 / det;
  const P s = sub(o, a);
  u = dot(s, p) * inverse;
  if (u < 0.0 || u > 1.0) return false;
  const P q = cross(s, e1);
  v = dot(d, q) * inverse;
  if (v < 0.0 || u + v > 1.0) return false;
  t = dot(e2, q) * inverse;
  return true;
}

}    // namespace

SurfaceGrid::SurfaceGrid(const TriangleMesh &mesh) : mesh_(mesh)
{
  const std::size_t n = mesh.triangles.size();
  if (n == 0) throw std::invalid_argument("SurfaceGrid: no triangles");
  boxes_.resize(n);
  P lo{std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity(),
       std::numeric_limits<double>::infinity()};
  P hi{-lo[0], -lo[1], -lo[2]};
  double extent_sum = 0.0;
  for (std::size_t f = 0; f < n; ++f) {
    const auto &t = mesh.triangles[f];
    auto &box = boxes_[f];
    double extent = 0.0;
    for (int a = 0; a < 3; ++a) {
      const double x0 = mesh.vertices[t[0]][a], x1 = mesh.vertices[t[1]][a],
                   x2 = mesh.vertices[t[2]][a];
      const double l = std::min({x0, x1, x2}), h = std::max({x0, x1, x2});
      box[a] = down(l);
      box[3 + a] = up(h);
      lo[a] = std::min(lo[a], static_cast<double>(box[a]));
      hi[a] = std::max(hi[a], static_cast<double>(box[3 + a]));
      extent = std::max(extent, h - l);
    }
    extent_sum += extent;
  }

  // cells about as large as a triangle, but never many more cells than triangles
  const double span = std::max({hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2], 1e-9});
  cell_ = std::max(extent_sum / static_cast<double>(n), 1e-6 * span);
  for (;;) {
    double cells = 1.0;
    for (int a = 0; a < 3; ++a) {
      dims_[a] = static_cast<int>(std::floor((hi[a] - lo[a]) / cell_)) + 1;
      cells *= dims_[a];
    }
    if (cells <= 8.0 * static_cast<double>(n) + 4096.0) break;
    cell_ *= 1.25;
  }
  inverse_ = 1.0 / cell_;
  origin_ = lo;

  const std::size_t cells = static_cast<std::size_t>(dims_[0]) * dims_[1] * dims_[2];
  std::vector<std::uint64_t> counts(cells + 1, 0);
  auto for_cells = [&](std::size_t f, auto &&fn) {
    const auto &box = boxes_[f];
    const int x0 = axis_cell(0, box[0]), x1 = axis_cell(0, box[3]);
    const int y0 = axis_cell(1, box[1]), y1 = axis_cell(1, box[4]);
    const int z0 = axis_cell(2, box[2]), z1 = axis_cell(2, box[5]);
    for (int z = z0; z <= z1; ++z)
      for (int y = y0; y <= y1; ++y)
        for (int x = x0; x <= x1; ++x)
          fn((static_cast<std::size_t>(z) * dims_[1] + y) * dims_[0] + x);
  };
  for (std::size_t f = 0; f < n; ++f) for_cells(f, [&](std::size_t c) { counts[c + 1]++; });
  for (std::size_t c = 0; c < cells; ++c) counts[c + 1] += counts[c];
  if (counts[cells] >= std::numeric_limits<std::uint32_t>::max())
    throw std::length_error("SurfaceGrid: too many cell entries");
  start_.assign(counts.begin(), counts.end());
  entries_.resize(counts[cells]);
  std::vector<std::uint32_t> fill(start_.begin(), start_.end() - 1);
  for (std::size_t f = 0; f < n; ++f)
    for_cells(f, [&](std::size_t c) { entries_[fill[c]++] = static_cast<std::uint32_t>(f); });
}

int SurfaceGrid::axis_cell(int axis, double x) const
{
  const double c = std::floor((x - origin_[axis]) * inverse_);
  return static_cast<int>(std::clamp(c, 0.0, static_cast<double>(dims_[axis] - 1)));
}

std::size_t
SurfaceGrid::count_pairs(PairTest test, std::size_t keep,
                         std::vector<std::pair<std::uint32_t, std::uint32_t>> *kept) const
{
  const std::size_t cells = start_.size() - 1;
  std::mutex mutex;
  std::size_t total = 0;
  parallel_chunks(cells, 2048, [&](std::size_t begin, std::size_t end, unsigned) {
    std::size_t found = 0;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> mine;
    for (std::size_t c = begin; c < end; ++c) {
      const std::uint32_t first = start_[c], last = start_[c + 1];
      if (last - first < 2) continue;
      const int cx = static_cast<int>(c % dims_[0]);
      const int cy = static_cast<int>((c / dims_[0]) % dims_[1]);
      const int cz = static_cast<int>(c / (static_cast<std::size_t>(dims_[0]) * dims_[1]));
      for (std::uint32_t i = first; i < last; ++i) {
        const std::uint32_t f = entries_[i];
        const auto &a = boxes_[f];
        for (std::uint32_t j = i + 1; j < last; ++j) {
          const std::uint32_t g = entries_[j];
          const auto &b = boxes_[g];
          if (a[0] > b[3] || b[0] > a[3] || a[1] > b[4] || b[1] > a[4] || a[2] > b[5] ||
              b[2] > a[5])
            continue;
          // the pair is seen in every cell both boxes cover: test it in the one holding the
          // low corner of the boxes' overlap only
          if (axis_cell(0, std::max(a[0], b[0])) != cx ||
              axis_cell(1, std::max(a[1], b[1])) != cy || axis_cell(2, std::max(a[2], b[2])) != cz)
            continue;
          if (test(mesh_, f, g)) {
            ++found;
            if (mine.size() < keep) mine.push_back({std::min(f, g), std::max(f, g)});
          }
        }
      }
    }
    std::lock_guard<std::mutex> lock(mutex);
    total += found;
    if (kept)
      for (const auto &p : mine)
        if (kept->size() < keep) kept->push_back(p);
  });
  return total;
}

template <class Visit>
void SurfaceGrid::walk(const P &origin, const P &dir, double max_t, Visit &&visit) const
{
  int c[3], step[3];
  double next[3], delta[3];
  for (int a = 0; a < 3; ++a) {
    c[a] = axis_cell(a, origin[a]);
    if (dir[a] > 0.0) {
      step[a] = 1;
      next[a] = (origin_[a] + (c[a] + 1) * cell_ - origin[a]) / dir[a];
      delta[a] = cell_ / dir[a];
    } else if (dir[a] < 0.0) {
      step[a] = -1;
      next[a] = (origin_[a] + c[a] * cell_ - origin[a]) / dir[a];
      delta[a] = -cell_ / dir[a];
    } else {
      step[a] = 0;
      next[a] = delta[a] = std::numeric_limits<double>::infinity();
    }
  }
  for (;;) {
    const int a = next[0] < next[1] ? (next[0] < next[2] ? 0 : 2) : (next[1] < next[2] ? 1 : 2);
    const double exit = std::max(0.0, next[a]);
    const std::size_t cell = (static_cast<std::size_t>(c[2]) * dims_[1] + c[1]) * dims_[0] + c[0];
    if (!visit(cell, exit)) return;
    if (exit > max_t) return;
    c[a] += step[a];
    if (c[a] < 0 || c[a] >= dims_[a]) return;
    next[a] += delta[a];
  }
}

bool SurfaceGrid::first_hit(const P &origin, const P &dir, double max_t, std::uint32_t skip,
                            Hit &hit) const
{
  double best = std::numeric_limits<double>::infinity();
  std::uint32_t best_triangle = 0;
  walk(origin, dir, max_t, [&](std::size_t cell, double exit) {
    for (std::uint32_t i = start_[cell]; i < start_[cell + 1]; ++i) {
      const std::uint32_t f = entries_[i];
      if (f == skip) continue;
      const auto &t = mesh_.triangles[f];
      double d, u, v;
      if (intersect(origin, dir, mesh_.vertices[t[0]], mesh_.vertices[t[1]], mesh_.vertices[t[2]],
                    d, u, v) &&
          d > 0.0 && d <= max_t && d < best) {
        best = d;
        best_triangle = f;
      }
    }
    return best > exit;    // a nearer hit may still lie in a later cell
  });
  if (!std::isfinite(best)) return false;
  hit = {best_triangle, best};
  return true;
}

bool SurfaceGrid::crossings(const P &origin, const P &dir, std::vector<std::uint32_t> &out) const
{
  out.clear();
  bool reliable = true;
  constexpr double kEdge = 1e-9;
  walk(origin, dir, std::numeric_limits<double>::infinity(), [&](std::size_t cell, double) {
    for (std::uint32_t i = start_[cell]; i < start_[cell + 1]; ++i) {
      const std::uint32_t f = entries_[i];
      const auto &t = mesh_.triangles[f];
      double d, u, v;
      if (!intersect(origin, dir, mesh_.vertices[t[0]], mesh_.vertices[t[1]], mesh_.vertices[t[2]],
                     d, u, v) ||
          d <= 0.0)
        continue;
      if (u < kEdge || v < kEdge || 1.0 - u - v < kEdge) reliable = false;
      out.push_back(f);
    }
    return reliable;
  });
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return reliable;
}

}    // namespace cephalo::meshing::detail
