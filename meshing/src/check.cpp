// Mesh validation (see check.h). Topology on flat arrays: half-edges bucketed by their lower
// vertex, matched into twins, then vertex fans walked and shells flooded through the twins.
// Geometry on a uniform grid over the triangles (surface_grid.h): self-intersections with exact
// predicates, shell nesting and wall thickness by ray casting.
#include "cephalo/meshing/check.h"

#include "cgal_analysis.h"
#include "cgal_predicates.h"
#include "parallel.h"
#include "surface_grid.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace cephalo::meshing {
namespace {

using P = std::array<double, 3>;
constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();

struct Topology {
  std::size_t boundary_edges = 0, nonmanifold_edges = 0, misoriented_edges = 0,
              pinched_vertices = 0;
  std::vector<std::uint32_t> twin;    // half-edge 3f+k (corner k to k+1 of triangle f) -> its twin
  bool closed_oriented() const
  {
    return boundary_edges == 0 && nonmanifold_edges == 0 && misoriented_edges == 0;
  }
};

Topology check_topology(const TriangleMesh &mesh)
{
  Topology topology;
  const auto &tris = mesh.triangles;
  const std::size_t halfedges = 3 * tris.size(), nv = mesh.vertices.size();
  auto from = [&](std::uint32_t h) { return tris[h / 3][h % 3]; };
  auto to = [&](std::uint32_t h) { return tris[h / 3][(h % 3 + 1) % 3]; };

  // half-edges by their lower vertex (a counting sort), then matched within each bucket
  std::vector<std::uint32_t> start(nv + 1, 0);
  for (std::uint32_t h = 0; h < halfedges; ++h) start[std::min(from(h), to(h)) + 1]++;
  for (std::size_t v = 0; v < nv; ++v) start[v + 1] += start[v];
  std::vector<std::uint32_t> bucket(halfedges);
  {
    std::vector<std::uint32_t> fill(start.begin(), start.end() - 1);
    for (std::uint32_t h = 0; h < halfedges; ++h) bucket[fill[std::min(from(h), to(h))]++] = h;
  }
  topology.twin.assign(halfedges, kNone);
  std::mutex mutex;
  detail::parallel_chunks(nv, 8192, [&](std::size_t begin, std::size_t end, unsigned) {
    std::size_t boundary = 0, nonmanifold = 0, misoriented = 0;
    for (std::size_t v = begin; v < end; ++v) {
      auto first = bucket.begin() + start[v], last = bucket.begin() + start[v + 1];
      auto other = [&](std::uint32_t h) { return std::max(from(h), to(h)); };
      std::sort(first, last, [&](std::uint32_t a, std::uint32_t b) { return other(a) < other(b); });
      for (auto i = first; i != last;) {
        auto j = i;
        int forward = 0, backward = 0;
        while (j != last && other(*j) == other(*i)) {
          const std::uint32_t h = *j++;
          (from(h) < to(h) ? forward : backward)++;
        }
        const auto count = j - i;
        if (count == 1)
          ++boundary;
        else if (count > 2)
          ++nonmanifold;
        else if (forward != 1)
          ++misoriented;
        else {
          topology.twin[*i] = *(i + 1);
          topology.twin[*(i + 1)] = *i;
        }
        i = j;
      }
    }
    std::lock_guard<std::mutex> lock(mutex);
    topology.boundary_edges += boundary;
    topology.nonmanifold_edges += nonmanifold;
    topology.misoriented_edges += misoriented;
  });
  if (!topology.closed_oriented()) return topology;

  // Around each vertex the triangles must form one fan: following twins from one outgoing
  // half-edge must come back after visiting every corner at the vertex. Two fans are two sheets
  // touching at a single point (a pinch).
  std::vector<std::uint32_t> degree(nv, 0), outgoing(nv, kNone);
  for (std::uint32_t h = 0; h < halfedges; ++h) {
    degree[from(h)]++;
    outgoing[from(h)] = h;
  }
  std::size_t pinched = 0;
  detail::parallel_chunks(nv, 8192, [&](std::size_t begin, std::size_t end, unsigned) {
    std::size_t mine = 0;
    for (std::size_t v = begin; v < end; ++v) {
      if (outgoing[v] == kNone) continue;
      std::uint32_t h = outgoing[v], steps = 0;
      do {
        const std::uint32_t previous = 3 * (h / 3) + (h % 3 + 2) % 3;    // ends at v
        h = topology.twin[previous];                                     // leaves v
        ++steps;
      } while (h != outgoing[v] && steps <= degree[v]);
      if (steps != degree[v]) ++mine;
    }
    std::lock_guard<std::mutex> lock(mutex);
    pinched += mine;
  });
  topology.pinched_vertices = pinched;
  return topology;
}

// Shells: triangles connected through twins (closed meshes) or through shared vertices.
std::vector<std::uint32_t> label_shells(const TriangleMesh &mesh, const Topology &topology,
                                        std::size_t &count)
{
  const std::size_t n = mesh.triangles.size();
  std::vector<std::uint32_t> shell(n, kNone);
  count = 0;
  if (topology.closed_oriented()) {
    std::vector<std::uint32_t> stack;
    for (std::uint32_t seed = 0; seed < n; ++seed) {
      if (shell[seed] != kNone) continue;
      const auto id = static_cast<std::uint32_t>(count++);
      shell[seed] = id;
      stack.push_back(seed);
      while (!stack.empty()) {
        const std::uint32_t f = stack.back();
        stack.pop_back();
        for (int k = 0; k < 3; ++k) {
          const std::uint32_t g = topology.twin[3 * f + k] / 3;
          if (shell[g] == kNone) {
            shell[g] = id;
            stack.push_back(g);
          }
        }
      }
    }
    return shell;
  }
  std::vector<std::uint32_t> parent(mesh.vertices.size());
  for (std::uint32_t v = 0; v < parent.size(); ++v) parent[v] = v;
  auto find = [&](std::uint32_t v) {
    while (parent[v] != v) v = parent[v] = parent[parent[v]];
    return v;
  };
  for (const auto &t : mesh.triangles) {
    parent[find(t[1])] = find(t[0]);
    parent[find(t[2])] = find(t[0]);
  }
  std::vector<std::uint32_t> id(mesh.vertices.size(), kNone);
  for (std::uint32_t f = 0; f < n; ++f) {
    const std::uint32_t root = find(mesh.triangles[f][0]);
    if (id[root] == kNone) id[root] = static_cast<std::uint32_t>(count++);
    shell[f] = id[root];
  }
  return shell;
}

P triangle_normal(const TriangleMesh &mesh, std::uint32_t f)    // |n| = twice the area
{
  const auto &t = mesh.triangles[f];
  const P &a = mesh.vertices[t[0]], &b = mesh.vertices[t[1]], &c = mesh.vertices[t[2]];
  const P u{b[0] - a[0], b[1] - a[1], b[2] - a[2]}, w{c[0] - a[0], c[1] - a[1], c[2] - a[2]};
  return {u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2], u[0] * w[1] - u[1] * w[0]};
}

P centroid(const TriangleMesh &mesh, std::uint32_t f)
{
  const auto &t = mesh.triangles[f];
  P c{};
  for (int a = 0; a < 3; ++a)
    c[a] = (mesh.vertices[t[0]][a] + mesh.vertices[t[1]][a] + mesh.vertices[t[2]][a]) / 3.0;
  return c;
}

double length(const P &v)
{
  return std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
}

// Whether each shell's orientation agrees with its nesting depth: shells inside an even number
// of others bound material (positive volume), the others bound cavities. Decided by counting
// the other shells' triangles crossed by a ray from a point on the shell.
bool nesting_consistent(const TriangleMesh &mesh, const detail::SurfaceGrid &grid,
                        const std::vector<std::uint32_t> &shell,
                        const std::vector<double> &shell_volume)
{
  const std::size_t shells = shell_volume.size();
  std::vector<std::uint32_t> seeds(shells, kNone);
  for (std::uint32_t f = 0; f < shell.size(); ++f)
    if (seeds[shell[f]] == kNone) seeds[shell[f]] = f;
  static const P directions[] = {{0.5362, 0.6281, 0.5640},  {-0.7071, 0.3827, 0.5946},
                                 {0.2239, -0.8417, 0.4914}, {-0.4472, -0.5345, -0.7171},
                                 {0.9129, 0.1826, -0.3651}, {-0.1302, 0.9449, -0.3005}};
  std::vector<std::uint32_t> hits;
  for (std::size_t s = 0; s < shells; ++s) {
    bool decided = false;
    for (std::size_t attempt = 0; attempt < 12 && !decided; ++attempt) {
      // different start triangles of the shell and different directions
      std::uint32_t f = seeds[s];
      for (std::uint32_t g = f, skipped = 0; g < shell.size() && skipped <= attempt; ++g)
        if (shell[g] == s) f = g, ++skipped;
      P d = directions[attempt % 6];
      const double l = length(d);
      for (double &x : d) x /= l;
      if (!grid.crossings(centroid(mesh, f), d, hits)) continue;
      std::size_t crossed = 0;
      for (std::uint32_t g : hits) crossed += shell[g] != s;
      const bool inside_odd = crossed % 2 == 1;
      if ((shell_volume[s] > 0.0) == inside_odd) return false;
      decided = true;
    }
    if (!decided) return false;
  }
  return true;
}

// Local wall thickness: from sampled face centroids along the inward normal to the first
// surface hit, counted only where that surface faces nearly straight back (normals more than
// about 155 degrees apart): the opposite side of a wall, not the flank of a wedge where a sheet
// meets a cut obliquely. Weighted by face area; the 5th percentile and the median.
void measure_thickness(const TriangleMesh &mesh, const detail::SurfaceGrid &grid,
                       std::size_t samples, double reach, MeshReport &report)
{
  const std::size_t n = mesh.triangles.size();
  const std::size_t stride = std::max<std::size_t>(1, n / std::max<std::size_t>(1, samples));
  const std::size_t count = (n + stride - 1) / stride;
  std::vector<std::pair<double, double>> thickness;    // (thickness, area)
  std::mutex mutex;
  detail::parallel_chunks(count, 512, [&](std::size_t begin, std::size_t end, unsigned) {
    std::vector<std::pair<double, double>> mine;
    for (std::size_t i = begin; i < end; ++i) {
      const auto f = static_cast<std::uint32_t>(i * stride);
      const P n_f = triangle_normal(mesh, f);
      const double l = length(n_f);
      if (l <= 0.0) continue;
      const P inward{-n_f[0] / l, -n_f[1] / l, -n_f[2] / l};
      detail::SurfaceGrid::Hit hit;
      if (!grid.first_hit(centroid(mesh, f), inward, reach, f, hit)) continue;
      const P n_g = triangle_normal(mesh, hit.triangle);
      const double m = length(n_g);
      if (m <= 0.0 || (n_f[0] * n_g[0] + n_f[1] * n_g[1] + n_f[2] * n_g[2]) / (l * m) > -0.9)
        continue;
      mine.push_back({hit.distance, 0.5 * l});
    }
    std::lock_guard<std::mutex> lock(mutex);
    thickness.insert(thickness.end(), mine.begin(), mine.end());
  });
  if (thickness.empty()) return;
  std::sort(thickness.begin(), thickness.end());
  double total = 0.0;
  for (const auto &[d, area] : thickness) total += area;
  auto quantile = [&](double q) {
    double acc = 0.0;
    for (const auto &[d, area] : thickness) {
      acc += area;
      if (acc >= q * total) return d;
    }
    return thickness.back().first;
  };
  report.wall_estimate = quantile(0.05);
  report.wall_median = quantile(0.5);
}

}    // namespace

MeshReport check_mesh(const TriangleMesh &mesh, const CheckOptions &options)
{
  MeshReport report;
  report.vertices = mesh.vertices.size();
  report.triangles = mesh.triangles.size();
  auto &problems = report.problems;
  if (mesh.triangles.empty()) {
    problems.push_back("the mesh has no triangles");
    return report;
  }
  if (mesh.vertices.size() >= kNone || mesh.triangles.size() >= kNone / 3) {
    problems.push_back("the mesh is too large to check (more than 1.4 billion triangles)");
    return report;
  }

  report.bbox_min.fill(std::numeric_limits<double>::infinity());
  report.bbox_max.fill(-std::numeric_limits<double>::infinity());
  for (const auto &v : mesh.vertices)
    for (int k = 0; k < 3; ++k) {
      if (!std::isfinite(v[k])) {
        problems.push_back("a vertex has a non-finite coordinate");
        return report;
      }
      report.bbox_min[k] = std::min(report.bbox_min[k], v[k]);
      report.bbox_max[k] = std::max(report.bbox_max[k], v[k]);
    }
  for (std::uint32_t f = 0; f < mesh.triangles.size(); ++f) {
    const auto &t = mesh.triangles[f];
    for (int k = 0; k < 3; ++k)
      if (t[k] >= mesh.vertices.size()) {
        problems.push_back("a triangle refers to vertex " + std::to_string(t[k]) + " of " +
                           std::to_string(mesh.vertices.size()));
        return report;
      }
    const P n = triangle_normal(mesh, f);
    if (n[0] == 0.0 && n[1] == 0.0 && n[2] == 0.0) report.degenerate_triangles++;
  }

  const Topology topology = check_topology(mesh);
  report.boundary_edges = topology.boundary_edges;
  report.nonmanifold_edges = topology.nonmanifold_edges;
  report.misoriented_edges = topology.misoriented_edges;
  report.closed = report.boundary_edges == 0 && report.nonmanifold_edges == 0;
  report.manifold = topology.closed_oriented() && topology.pinched_vertices == 0;

  // shells, their signed volumes (about the box centre, for accuracy) and the area
  std::size_t shells = 0;
  const std::vector<std::uint32_t> shell = label_shells(mesh, topology, shells);
  report.components = shells;
  std::vector<double> shell_volume(shells, 0.0);
  P centre;
  for (int a = 0; a < 3; ++a) centre[a] = 0.5 * (report.bbox_min[a] + report.bbox_max[a]);
  for (std::uint32_t f = 0; f < mesh.triangles.size(); ++f) {
    const auto &t = mesh.triangles[f];
    P p[3];
    for (int k = 0; k < 3; ++k)
      for (int a = 0; a < 3; ++a) p[k][a] = mesh.vertices[t[k]][a] - centre[a];
    report.area += 0.5 * length(triangle_normal(mesh, f));
    shell_volume[shell[f]] += (p[0][0] * (p[1][1] * p[2][2] - p[1][2] * p[2][1]) -
                               p[0][1] * (p[1][0] * p[2][2] - p[1][2] * p[2][0]) +
                               p[0][2] * (p[1][0] * p[2][1] - p[1][1] * p[2][0])) /
                              6.0;
  }

  std::unique_ptr<detail::SurfaceGrid> grid;
  if (options.self_intersections ||
      (report.manifold && (shells > 1 || options.thickness_samples > 0)))
    grid = std::make_unique<detail::SurfaceGrid>(mesh);
  if (options.self_intersections) {
    report.intersecting_pairs = grid->count_pairs(&detail::triangles_intersect, 0, nullptr);
    report.self_intersecting = report.intersecting_pairs > 0;
    if (options.cgal_cross_check && report.manifold) {
      const bool cgal = detail::cgal_self_intersecting(mesh);
      if (cgal != report.self_intersecting)
        problems.push_back(
            std::string("the self-intersection tests disagree: the grid test found ") +
            std::to_string(report.intersecting_pairs) + " intersecting pairs, CGAL " +
            (cgal ? "some" : "none"));
    }
  }

  if (report.closed) {
    for (double v : shell_volume) {
      report.volume += v;
      (v > 0.0 ? report.bodies : report.cavities)++;
    }
  }
  if (report.manifold) {
    // Euler: V - E + F = 2 (shells - genus), with E = 3F/2 and only vertices in use
    std::vector<bool> used(mesh.vertices.size(), false);
    for (const auto &t : mesh.triangles)
      for (auto v : t) used[v] = true;
    const long vertices = static_cast<long>(std::count(used.begin(), used.end(), true));
    const long faces = static_cast<long>(mesh.triangles.size());
    report.genus = static_cast<long>(shells) - (vertices - faces / 2) / 2;
  }
  if (report.manifold && !report.self_intersecting) {
    report.outward = report.volume > 0.0 &&
                     (shells == 1 || nesting_consistent(mesh, *grid, shell, shell_volume));
    if (report.outward && options.thickness_samples > 0) {
      const double reach =
          length({report.bbox_max[0] - report.bbox_min[0], report.bbox_max[1] - report.bbox_min[1],
                  report.bbox_max[2] - report.bbox_min[2]});
      measure_thickness(mesh, *grid, options.thickness_samples, reach, report);
    }
  }

  if (report.boundary_edges)
    problems.push_back(std::to_string(report.boundary_edges) +
                       " boundary edges: the surface has holes");
  if (report.nonmanifold_edges)
    problems.push_back(std::to_string(report.nonmanifold_edges) +
                       " edges are shared by more than two triangles");
  if (report.misoriented_edges)
    problems.push_back(std::to_string(report.misoriented_edges) +
                       " edges join triangles of opposite winding");
  if (topology.pinched_vertices)
    problems.push_back(std::to_string(topology.pinched_vertices) +
                       " vertices join surfaces that touch only there");
  if (report.degenerate_triangles)
    problems.push_back(std::to_string(report.degenerate_triangles) + " triangles have zero area");
  if (report.self_intersecting)
    problems.push_back("the surface intersects itself (" +
                       std::to_string(report.intersecting_pairs) + " pairs of triangles)");
  if (report.manifold && !report.self_intersecting && !report.outward)
    problems.push_back(
        report.volume <= 0.0
            ? "the surface is oriented inward (normals point into the part)"
            : "a shell is oriented against its nesting (a cavity facing out or a body facing in)");
  return report;
}

}    // namespace cephalo::meshing
