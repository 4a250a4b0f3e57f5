// Voronoi edges through CGAL's Delaunay triangulation (see cgal_voronoi.h).
#include "cgal_voronoi.h"

#include <CGAL/Delaunay_triangulation_3.h>
#include <CGAL/Delaunay_triangulation_cell_base_3.h>
#include <CGAL/Exact_predicates_inexact_constructions_kernel.h>
#include <CGAL/Triangulation_vertex_base_with_info_3.h>

namespace cephalo::meshing::detail {

std::vector<std::pair<Vec3, Vec3>> voronoi_edges(const std::vector<Vec3> &seeds, const Box &box)
{
  using Kernel = CGAL::Exact_predicates_inexact_constructions_kernel;
  using Vb = CGAL::Triangulation_vertex_base_with_info_3<bool, Kernel>;    // info: a real seed
  using Cb = CGAL::Delaunay_triangulation_cell_base_3<Kernel>;             // keeps circumcentres
  using Tds = CGAL::Triangulation_data_structure_3<Vb, Cb>;
  using Delaunay = CGAL::Delaunay_triangulation_3<Kernel, Tds>;
  using Point = Kernel::Point_3;

  std::vector<std::pair<Point, bool>> points;
  for (const Vec3 &s : seeds) {
    points.push_back({Point(s[0], s[1], s[2]), true});
    for (int axis = 0; axis < 3; ++axis)
      for (double face : {box.lo[axis], box.hi[axis]}) {
        Vec3 m = s;
        m[axis] = 2.0 * face - s[axis];
        points.push_back({Point(m[0], m[1], m[2]), false});
      }
  }
  const Delaunay triangulation(points.begin(), points.end());

  std::vector<std::pair<Vec3, Vec3>> edges;
  for (auto facet = triangulation.finite_facets_begin(); facet != triangulation.finite_facets_end();
       ++facet) {
    const auto cell = facet->first;
    const int opposite = facet->second;
    bool real = true;
    for (int i = 0; i < 4; ++i)
      if (i != opposite) real = real && cell->vertex(i)->info();
    if (!real) continue;
    const auto neighbour = cell->neighbor(opposite);
    if (triangulation.is_infinite(cell) || triangulation.is_infinite(neighbour)) continue;
    const Point a = triangulation.dual(cell), b = triangulation.dual(neighbour);
    edges.push_back({{a.x(), a.y(), a.z()}, {b.x(), b.y(), b.z()}});
  }
  return edges;
}

}    // namespace cephalo::meshing::detail
