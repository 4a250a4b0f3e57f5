// Mesh validation: topology here (edges and vertex fans, on sorted arrays), geometry through
// CGAL (cgal_analysis.cpp).
#include "cephalo/meshing/check.h"

#include "cgal_analysis.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace cephalo::meshing {
namespace {

struct Topology {
  std::size_t boundary_edges = 0, nonmanifold_edges = 0, misoriented_edges = 0,
              pinched_vertices = 0;
};

Topology check_topology(const TriangleMesh &mesh)
{
  Topology t;
  // every directed edge as (min, max, direction bit)
  std::vector<std::uint64_t> edges;
  edges.reserve(3 * mesh.triangles.size());
  for (const auto &tri : mesh.triangles)
    for (int k = 0; k < 3; ++k) {
      const std::uint64_t a = tri[k], b = tri[(k + 1) % 3];
      edges.push_back((std::min(a, b) << 33) | (std::max(a, b) << 1) | (a < b ? 0u : 1u));
    }
  std::sort(edges.begin(), edges.end());
  for (std::size_t i = 0; i < edges.size();) {
    std::size_t j = i;
    int forward = 0, backward = 0;
    while (j < edges.size() && (edges[j] >> 1) == (edges[i] >> 1))
      (edges[j++] & 1 ? backward : forward)++;
    const int count = forward + backward;
    if (count == 1)
      t.boundary_edges++;
    else if (count > 2)
      t.nonmanifold_edges++;
    else if (forward != 1)
      t.misoriented_edges++;
    i = j;
  }
  if (t.boundary_edges || t.nonmanifold_edges || t.misoriented_edges) return t;

  // Around each vertex the opposite edges of its triangles must form one cycle; two cycles
  // mean two sheets touching at that vertex (a pinch).
  std::vector<std::array<std::uint32_t, 3>> link;    // (vertex, from, to)
  link.reserve(3 * mesh.triangles.size());
  for (const auto &tri : mesh.triangles)
    for (int k = 0; k < 3; ++k) link.push_back({tri[k], tri[(k + 1) % 3], tri[(k + 2) % 3]});
  std::sort(link.begin(), link.end());
  for (std::size_t i = 0; i < link.size();) {
    std::size_t j = i;
    while (j < link.size() && link[j][0] == link[i][0]) ++j;
    // follow from -> to starting at the first entry; all entries must be visited
    std::size_t visited = 1;
    std::uint32_t current = link[i][2];
    while (current != link[i][1] && visited <= j - i) {
      const auto it = std::lower_bound(link.begin() + static_cast<std::ptrdiff_t>(i),
                                       link.begin() + static_cast<std::ptrdiff_t>(j),
                                       std::array<std::uint32_t, 3>{link[i][0], current, 0});
      if (it == link.begin() + static_cast<std::ptrdiff_t>(j) || (*it)[1] != current) break;
      current = (*it)[2];
      ++visited;
    }
    if (visited != j - i) t.pinched_vertices++;
    i = j;
  }
  return t;
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
  for (const auto &t : mesh.triangles) {
    for (int k = 0; k < 3; ++k)
      if (t[k] >= mesh.vertices.size()) {
        problems.push_back("a triangle refers to vertex " + std::to_string(t[k]) + " of " +
                           std::to_string(mesh.vertices.size()));
        return report;
      }
    const auto &a = mesh.vertices[t[0]], &b = mesh.vertices[t[1]], &c = mesh.vertices[t[2]];
    const double u[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
    const double w[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
    const double n[3] = {u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2],
                         u[0] * w[1] - u[1] * w[0]};
    if (n[0] == 0.0 && n[1] == 0.0 && n[2] == 0.0) report.degenerate_triangles++;
  }

  const Topology topology = check_topology(mesh);
  report.boundary_edges = topology.boundary_edges;
  report.nonmanifold_edges = topology.nonmanifold_edges;
  report.misoriented_edges = topology.misoriented_edges;
  report.closed = report.boundary_edges == 0 && report.nonmanifold_edges == 0;
  const bool manifold =
      report.closed && report.misoriented_edges == 0 && topology.pinched_vertices == 0;

  const auto cgal = detail::analyse_with_cgal(mesh, manifold, options.self_intersections,
                                              options.thickness_samples);
  report.manifold = manifold;
  report.self_intersecting = cgal.self_intersecting;
  report.components = cgal.components;
  report.bodies = cgal.bodies;
  report.cavities = cgal.cavities;
  report.wall_estimate = cgal.wall_p05;
  report.wall_median = cgal.wall_median;
  report.area = cgal.area;
  report.volume = report.closed ? cgal.volume : 0.0;
  report.outward = cgal.bounds_volume;

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
  if (report.self_intersecting) problems.push_back("the surface intersects itself");
  if (report.manifold && !report.self_intersecting && !report.outward)
    problems.push_back("the surface is oriented inward (normals point into the part)");
  return report;
}

}    // namespace cephalo::meshing
