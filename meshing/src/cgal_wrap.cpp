// Alpha wrapping (see cgal_wrap.h).
#include "cgal_wrap.h"

#include "float_round.h"

#include <CGAL/Exact_predicates_inexact_constructions_kernel.h>
#include <CGAL/Surface_mesh.h>
#include <CGAL/alpha_wrap_3.h>

#include <array>
#include <vector>

namespace cephalo::meshing::detail {

TriangleMesh alpha_wrap(const TriangleMesh &mesh, double alpha, double offset)
{
  using Kernel = CGAL::Exact_predicates_inexact_constructions_kernel;
  using Point = Kernel::Point_3;
  std::vector<Point> points;
  points.reserve(mesh.vertices.size());
  for (const auto &v : mesh.vertices) points.emplace_back(v[0], v[1], v[2]);
  std::vector<std::array<std::size_t, 3>> faces;
  faces.reserve(mesh.triangles.size());
  for (const auto &t : mesh.triangles) faces.push_back({t[0], t[1], t[2]});
  CGAL::Surface_mesh<Point> wrap;
  CGAL::alpha_wrap_3(points, faces, alpha, offset, wrap);

  TriangleMesh out;
  std::vector<std::uint32_t> index(wrap.number_of_vertices() + wrap.number_of_removed_vertices(),
                                   0);
  for (auto v : wrap.vertices()) {
    index[v] = static_cast<std::uint32_t>(out.vertices.size());
    const Point &p = wrap.point(v);
    out.vertices.push_back({float_rounded(p.x()), float_rounded(p.y()), float_rounded(p.z())});
  }
  for (auto f : wrap.faces()) {
    std::array<std::uint32_t, 3> t{};
    int k = 0;
    for (auto v : CGAL::vertices_around_face(wrap.halfedge(f), wrap))
      if (k < 3) t[static_cast<std::size_t>(k++)] = index[v];
    out.triangles.push_back(t);
  }
  return out;
}

}    // namespace cephalo::meshing::detail
