// CGAL-based checks: manifoldness, self-intersections, orientation, shells, volume, and local
// wall thickness by ray casting.
#include "cgal_analysis.h"

#include <CGAL/AABB_face_graph_triangle_primitive.h>
#include <CGAL/AABB_traits.h>
#include <CGAL/AABB_tree.h>
#include <CGAL/Exact_predicates_inexact_constructions_kernel.h>
#include <CGAL/Polygon_mesh_processing/connected_components.h>
#include <CGAL/Polygon_mesh_processing/measure.h>
#include <CGAL/Polygon_mesh_processing/orientation.h>
#include <CGAL/Polygon_mesh_processing/polygon_soup_to_polygon_mesh.h>
#include <CGAL/Polygon_mesh_processing/self_intersections.h>
#include <CGAL/Surface_mesh.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <vector>

namespace cephalo::meshing::detail {
namespace {

using Kernel = CGAL::Exact_predicates_inexact_constructions_kernel;
using Point = Kernel::Point_3;
using Vector = Kernel::Vector_3;
using Mesh = CGAL::Surface_mesh<Point>;
using Primitive = CGAL::AABB_face_graph_triangle_primitive<Mesh>;
using Tree = CGAL::AABB_tree<CGAL::AABB_traits<Kernel, Primitive>>;
namespace PMP = CGAL::Polygon_mesh_processing;

// Thickness at sampled faces: from the face centroid along the inward normal to the first
// surface hit, counted only when that surface faces nearly straight back (normals more than
// about 155 degrees apart): the opposite side of a wall, not the flank of a wedge where a sheet
// meets a cut obliquely or a fillet where two fibres touch.
// Faces are taken evenly through the list; results weighted by face area.
void sample_thickness(const Mesh &surface, std::size_t samples, CgalAnalysis &result)
{
  Tree tree(faces(surface).first, faces(surface).second, surface);
  tree.accelerate_distance_queries();
  const std::size_t count = surface.number_of_faces();
  const std::size_t stride = std::max<std::size_t>(1, count / std::max<std::size_t>(1, samples));
  std::vector<std::pair<double, double>> thickness;    // (thickness, area)
  double total_area = 0.0;
  std::size_t index = 0;
  for (Mesh::Face_index f : faces(surface)) {
    if (index++ % stride != 0) continue;
    const auto h = surface.halfedge(f);
    const Point &a = surface.point(surface.source(h)), &b = surface.point(surface.target(h)),
                &c = surface.point(surface.target(surface.next(h)));
    const Vector n = CGAL::cross_product(b - a, c - a);
    const double length = std::sqrt(n.squared_length());
    if (length <= 0.0) continue;
    const Vector inward = -n / length;
    const Point centre = CGAL::centroid(a, b, c);
    const Kernel::Ray_3 ray(centre, inward);
    const auto hit = tree.first_intersection(ray, [f](Mesh::Face_index g) { return g == f; });
    if (!hit) continue;
    const Point *p = boost::get<Point>(&hit->first);
    if (!p) continue;
    {
      const auto g = surface.halfedge(hit->second);
      const Point &x = surface.point(surface.source(g)), &y = surface.point(surface.target(g)),
                  &z = surface.point(surface.target(surface.next(g)));
      const Vector m = CGAL::cross_product(y - x, z - x);
      const double m_length = std::sqrt(m.squared_length());
      if (m_length <= 0.0 || CGAL::scalar_product(m, n) / (m_length * length) > -0.9) continue;
    }
    const double d = std::sqrt(CGAL::squared_distance(centre, *p));
    thickness.push_back({d, 0.5 * length});
    total_area += 0.5 * length;
  }
  if (thickness.empty()) return;
  std::sort(thickness.begin(), thickness.end());
  auto quantile = [&](double q) {
    double acc = 0.0;
    for (const auto &[d, area] : thickness) {
      acc += area;
      if (acc >= q * total_area) return d;
    }
    return thickness.back().first;
  };
  result.wall_p05 = quantile(0.05);
  result.wall_median = quantile(0.5);
}

}    // namespace

CgalAnalysis analyse_with_cgal(const TriangleMesh &mesh, bool manifold, bool self_intersections,
                               std::size_t thickness_samples)
{
  CgalAnalysis result;
  std::vector<Point> points;
  points.reserve(mesh.vertices.size());
  for (const auto &v : mesh.vertices) points.emplace_back(v[0], v[1], v[2]);
  std::vector<std::array<std::size_t, 3>> polygons;
  polygons.reserve(mesh.triangles.size());
  for (const auto &t : mesh.triangles) polygons.push_back({t[0], t[1], t[2]});

  if (!manifold && !PMP::is_polygon_soup_a_polygon_mesh(polygons)) return result;
  result.polygon_mesh = true;

  Mesh surface;
  PMP::polygon_soup_to_polygon_mesh(points, polygons, surface);
  if (self_intersections)
    result.self_intersecting = PMP::does_self_intersect<CGAL::Parallel_if_available_tag>(surface);
  auto component_of = surface.add_property_map<Mesh::Face_index, std::size_t>("f:component").first;
  result.components = PMP::connected_components(surface, component_of);
  result.area = PMP::area(surface);
  if (!manifold) return result;

  // signed volume of each shell from its faces' tetrahedra with the origin
  std::vector<double> shell_volume(result.components, 0.0);
  for (Mesh::Face_index f : faces(surface)) {
    const auto h = surface.halfedge(f);
    const Point &a = surface.point(surface.source(h)), &b = surface.point(surface.target(h)),
                &c = surface.point(surface.target(surface.next(h)));
    shell_volume[component_of[f]] +=
        CGAL::scalar_product(a - CGAL::ORIGIN,
                             CGAL::cross_product(b - CGAL::ORIGIN, c - CGAL::ORIGIN)) /
        6.0;
  }
  for (double v : shell_volume) {
    result.volume += v;
    (v > 0.0 ? result.bodies : result.cavities)++;
  }
  // does_bound_a_volume accepts consistently nested shells of either global orientation;
  // the signed volume tells outward (positive) from inside-out.
  if (!result.self_intersecting) {
    result.bounds_volume = PMP::does_bound_a_volume(surface) && result.volume > 0.0;
    if (result.bounds_volume && thickness_samples > 0)
      sample_thickness(surface, thickness_samples, result);
  }
  return result;
}

}    // namespace cephalo::meshing::detail
