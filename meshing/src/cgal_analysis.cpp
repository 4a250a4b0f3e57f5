// CGAL's self-intersection test (see cgal_analysis.h).
#include "cgal_analysis.h"

#include <CGAL/Exact_predicates_inexact_constructions_kernel.h>
#include <CGAL/Polygon_mesh_processing/polygon_soup_to_polygon_mesh.h>
#include <CGAL/Polygon_mesh_processing/self_intersections.h>
#include <CGAL/Surface_mesh.h>

#include <array>
#include <vector>

namespace cephalo::meshing::detail {

bool cgal_self_intersecting(const TriangleMesh &mesh)
{
  using Kernel = CGAL::Exact_predicates_inexact_constructions_kernel;
  using Point = Kernel::Point_3;
  namespace PMP = CGAL::Polygon_mesh_processing;
  std::vector<Point> points;
  points.reserve(mesh.vertices.size());
  for (const auto &v : mesh.vertices) points.emplace_back(v[0], v[1], v[2]);
  std::vector<std::array<std::size_t, 3>> polygons;
  polygons.reserve(mesh.triangles.size());
  for (const auto &t : mesh.triangles) polygons.push_back({t[0], t[1], t[2]});
  if (!PMP::is_polygon_soup_a_polygon_mesh(polygons)) return false;
  CGAL::Surface_mesh<Point> surface;
  PMP::polygon_soup_to_polygon_mesh(points, polygons, surface);
  return PMP::does_self_intersect<CGAL::Parallel_if_available_tag>(surface);
}

}    // namespace cephalo::meshing::detail
