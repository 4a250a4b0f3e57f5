// Mesh validation: edge topology here, geometry through CGAL (cgal_analysis.cpp).
#include "cephalo/meshing/check.h"

#include "cgal_analysis.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <utility>

namespace cephalo::meshing {

MeshReport check_mesh(const TriangleMesh &mesh)
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

  // Each undirected edge: how many triangles use it, and how many use it in each direction.
  struct EdgeUse {
    int forward = 0;
    int backward = 0;
  };
  std::map<std::pair<std::uint32_t, std::uint32_t>, EdgeUse> edges;
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
    for (int k = 0; k < 3; ++k) {
      const std::uint32_t from = t[k], to = t[(k + 1) % 3];
      auto &use = edges[{std::min(from, to), std::max(from, to)}];
      (from < to ? use.forward : use.backward)++;
    }
  }
  for (const auto &[edge, use] : edges) {
    const int count = use.forward + use.backward;
    if (count == 1)
      report.boundary_edges++;
    else if (count > 2)
      report.nonmanifold_edges++;
    else if (use.forward != 1)
      report.misoriented_edges++;
  }
  report.closed = report.boundary_edges == 0 && report.nonmanifold_edges == 0;

  const auto cgal = detail::analyse_with_cgal(mesh, report.closed);
  report.manifold = cgal.polygon_mesh;
  report.self_intersecting = cgal.self_intersecting;
  report.components = cgal.components;
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
  if (!report.manifold && !report.nonmanifold_edges && !report.misoriented_edges)
    problems.push_back("the triangles do not form a manifold surface (pinched vertices)");
  if (report.degenerate_triangles)
    problems.push_back(std::to_string(report.degenerate_triangles) + " triangles have zero area");
  if (report.self_intersecting) problems.push_back("the surface intersects itself");
  if (report.closed && report.manifold && !report.self_intersecting && !report.outward)
    problems.push_back("the surface is oriented inward (normals point into the part)");
  return report;
}

}    // namespace cephalo::meshing
