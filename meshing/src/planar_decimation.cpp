// Merging the triangles of flat regions by vertex collapses (see planar_decimation.h).
#include "planar_decimation.h"
#include "vec3.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

namespace cephalo::meshing::detail {
namespace {

using P = V3;

// Shape of a triangle: 4 sqrt(3) area / (sum of squared edges); 1 equilateral, 0 degenerate.
double quality(const P &a, const P &b, const P &c, const P &normal)
{
  const P n = cross(sub(b, a), sub(c, a));
  const double twice_area = dot(n, normal);    // signed: negative when turned over
  const double edges =
      dot(sub(b, a), sub(b, a)) + dot(sub(c, b), sub(c, b)) + dot(sub(a, c), sub(a, c));
  return edges > 0.0 ? 2.0 * std::sqrt(3.0) * twice_area / edges : 0.0;
}

}    // namespace

std::size_t merge_flat_regions(TriangleMesh &mesh, double tolerance)
{
  constexpr double kMinQuality = 0.05;    // no needles
  constexpr double kFlat = 1.0 - 1e-9;    // normals this close to the plane's count as in it
  const std::size_t nv = mesh.vertices.size(), nt = mesh.triangles.size();
  std::vector<std::vector<std::uint32_t>> around(nv);
  for (std::uint32_t f = 0; f < nt; ++f)
    for (std::uint32_t v : mesh.triangles[f]) around[v].push_back(f);
  // curved: a vertex found off-plane stays so (collapses around it move vertices within their
  // own planes), so it is never looked at again
  std::vector<char> dead(nt, 0), removed(nv, 0), queued(nv, 1), curved(nv, 0);
  std::vector<std::uint32_t> queue(nv);
  for (std::uint32_t v = 0; v < nv; ++v) queue[v] = static_cast<std::uint32_t>(nv - 1 - v);

  std::size_t collapses = 0;
  std::vector<std::uint32_t> link;
  // stamps instead of sets: in_link[w] == epoch marks v's neighbours, seen[w] == visit the ones
  // counted for the candidate in hand
  std::vector<std::uint32_t> in_link(nv, 0), seen(nv, 0);
  std::uint32_t epoch = 0, visit = 0;
  constexpr std::size_t kMaxDegree = 24;    // fans no wider than this: fewer needles, less work
  while (!queue.empty()) {
    const std::uint32_t v = queue.back();
    queue.pop_back();
    queued[v] = 0;
    if (removed[v] || curved[v]) continue;
    auto &star = around[v];
    star.erase(std::remove_if(star.begin(), star.end(), [&](std::uint32_t f) { return dead[f]; }),
               star.end());
    if (star.size() < 3) continue;

    // the plane: the normal of the largest triangle around v
    P normal{0, 0, 0};
    double largest = 0.0;
    for (std::uint32_t f : star) {
      const auto &t = mesh.triangles[f];
      const P n = cross(sub(mesh.vertices[t[1]], mesh.vertices[t[0]]),
                        sub(mesh.vertices[t[2]], mesh.vertices[t[0]]));
      const double l = std::sqrt(dot(n, n));
      if (l > largest) largest = l, normal = {n[0] / l, n[1] / l, n[2] / l};
    }
    if (largest <= 0.0) continue;
    bool flat = true;
    link.clear();
    for (std::uint32_t f : star) {
      const auto &t = mesh.triangles[f];
      const P n = cross(sub(mesh.vertices[t[1]], mesh.vertices[t[0]]),
                        sub(mesh.vertices[t[2]], mesh.vertices[t[0]]));
      const double l = std::sqrt(dot(n, n));
      if (l <= 0.0 || dot(n, normal) < kFlat * l) flat = false;
      for (std::uint32_t w : t)
        if (w != v) {
          if (std::abs(dot(sub(mesh.vertices[w], mesh.vertices[v]), normal)) > tolerance)
            flat = false;
          link.push_back(w);
        }
    }
    if (!flat) {
      curved[v] = 1;
      continue;
    }
    std::sort(link.begin(), link.end());
    link.erase(std::unique(link.begin(), link.end()), link.end());
    // a closed fan: as many link vertices as triangles
    if (link.size() != star.size()) continue;

    // the neighbour to collapse into: the one leaving the best-shaped triangles
    ++epoch;
    for (std::uint32_t w : link) in_link[w] = epoch;
    std::uint32_t best = UINT32_MAX;
    double best_quality = kMinQuality;
    for (std::uint32_t u : link) {
      // link condition: v and u share exactly the two vertices opposite their edge
      std::size_t common = 0, degree = 0;
      ++visit;
      for (std::uint32_t f : around[u]) {
        if (dead[f]) continue;
        ++degree;
        for (std::uint32_t w : mesh.triangles[f])
          if (w != u && in_link[w] == epoch && seen[w] != visit) seen[w] = visit, ++common;
      }
      if (common != 2 || degree + star.size() - 4 > kMaxDegree) continue;
      double worst = 1.0;
      for (std::uint32_t f : star) {
        auto t = mesh.triangles[f];
        if (std::count(t.begin(), t.end(), u)) continue;    // goes with the edge
        for (auto &w : t)
          if (w == v) w = u;
        worst = std::min(
            worst, quality(mesh.vertices[t[0]], mesh.vertices[t[1]], mesh.vertices[t[2]], normal));
        if (worst < best_quality) break;
      }
      if (worst > best_quality) best_quality = worst, best = u;
    }
    if (best == UINT32_MAX) continue;

    for (std::uint32_t f : star) {
      auto &t = mesh.triangles[f];
      if (std::count(t.begin(), t.end(), best)) {
        dead[f] = 1;
        continue;
      }
      for (auto &w : t)
        if (w == v) w = best;
      around[best].push_back(f);
    }
    removed[v] = 1;
    std::vector<std::uint32_t>().swap(star);
    ++collapses;
    for (std::uint32_t w : link)
      if (!queued[w] && !removed[w] && !curved[w]) queued[w] = 1, queue.push_back(w);
  }
  if (collapses == 0) return 0;

  std::vector<std::array<std::uint32_t, 3>> triangles;
  triangles.reserve(nt);
  for (std::uint32_t f = 0; f < nt; ++f)
    if (!dead[f]) triangles.push_back(mesh.triangles[f]);
  mesh.triangles = std::move(triangles);
  drop_unused_vertices(mesh);
  return collapses;
}

}    // namespace cephalo::meshing::detail
