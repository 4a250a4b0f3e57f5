// CGAL-based checks: manifoldness, self-intersections, orientation, components, volume.
#include "cgal_analysis.h"

#include <CGAL/Exact_predicates_inexact_constructions_kernel.h>
#include <CGAL/Polygon_mesh_processing/connected_components.h>
#include <CGAL/Polygon_mesh_processing/measure.h>
#include <CGAL/Polygon_mesh_processing/orientation.h>
#include <CGAL/Polygon_mesh_processing/polygon_soup_to_polygon_mesh.h>
#include <CGAL/Polygon_mesh_processing/self_intersections.h>
#include <CGAL/Surface_mesh.h>

#include <array>
#include <vector>

namespace cephalo::meshing::detail {
namespace {

using Kernel = CGAL::Exact_predicates_inexact_constructions_kernel;
using Point = Kernel::Point_3;
using Mesh = CGAL::Surface_mesh<Point>;
namespace PMP = CGAL::Polygon_mesh_processing;

}    // namespace

CgalAnalysis analyse_with_cgal(const TriangleMesh &mesh, bool closed)
{
  CgalAnalysis result;
  std::vector<Point> points;
  points.reserve(mesh.vertices.size());
  for (const auto &v : mesh.vertices) points.emplace_back(v[0], v[1], v[2]);
  std::vector<std::array<std::size_t, 3>> polygons;
  polygons.reserve(mesh.triangles.size());
  for (const auto &t : mesh.triangles) polygons.push_back({t[0], t[1], t[2]});

  if (!PMP::is_polygon_soup_a_polygon_mesh(polygons)) return result;
  result.polygon_mesh = true;

  Mesh surface;
  PMP::polygon_soup_to_polygon_mesh(points, polygons, surface);
  result.self_intersecting = PMP::does_self_intersect(surface);
  auto component_of = surface.add_property_map<Mesh::Face_index, std::size_t>("f:component").first;
  result.components = PMP::connected_components(surface, component_of);
  result.area = PMP::area(surface);
  if (closed) {
    result.volume = PMP::volume(surface);
    // does_bound_a_volume accepts consistently nested shells of either global orientation;
    // the signed volume tells outward (positive) from inside-out.
    if (!result.self_intersecting)
      result.bounds_volume = PMP::does_bound_a_volume(surface) && result.volume > 0.0;
  }
  return result;
}

}    // namespace cephalo::meshing::detail
