// Triangle-pair intersection with CGAL's exact predicates (see cgal_predicates.h).
#include "cgal_predicates.h"

#include <CGAL/Exact_predicates_inexact_constructions_kernel.h>
#include <CGAL/intersections.h>

namespace cephalo::meshing::detail {
namespace {

using Kernel = CGAL::Exact_predicates_inexact_constructions_kernel;
using Point = Kernel::Point_3;

Point point(const TriangleMesh &mesh, std::uint32_t v)
{
  const auto &p = mesh.vertices[v];
  return {p[0], p[1], p[2]};
}

// All of q strictly on one side of the plane through p (nothing of q touches that plane).
bool strictly_one_side(const Point p[3], const Point *q, int count)
{
  const CGAL::Orientation first = CGAL::orientation(p[0], p[1], p[2], q[0]);
  if (first == CGAL::COPLANAR) return false;
  for (int i = 1; i < count; ++i)
    if (CGAL::orientation(p[0], p[1], p[2], q[i]) != first) return false;
  return true;
}

}    // namespace

bool triangles_intersect(const TriangleMesh &mesh, std::uint32_t f, std::uint32_t g)
{
  const auto &tf = mesh.triangles[f], &tg = mesh.triangles[g];
  int shared = 0, fi = -1, gi = -1;    // last shared corner in f and in g
  bool f_shared[3] = {false, false, false}, g_shared[3] = {false, false, false};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      if (tf[i] == tg[j]) {
        ++shared;
        f_shared[i] = g_shared[j] = true;
        fi = i, gi = j;
      }
  if (shared == 3) return true;
  const Point p[3] = {point(mesh, tf[0]), point(mesh, tf[1]), point(mesh, tf[2])};
  const Point q[3] = {point(mesh, tg[0]), point(mesh, tg[1]), point(mesh, tg[2])};
  if (CGAL::collinear(p[0], p[1], p[2]) || CGAL::collinear(q[0], q[1], q[2])) return false;

  if (shared == 2) {
    // a common edge (a, b): they overlap only if coplanar with the far corners on one side
    int fo = 0, go = 0;
    while (f_shared[fo]) ++fo;
    while (g_shared[go]) ++go;
    const Point &a = p[(fo + 1) % 3], &b = p[(fo + 2) % 3];
    return CGAL::coplanar(a, b, p[fo], q[go]) &&
           CGAL::coplanar_orientation(a, b, p[fo], q[go]) == CGAL::POSITIVE;
  }
  if (shared == 1) {
    // a common corner: the edge opposite it in one must pass through the other
    const Point fs[2] = {p[(fi + 1) % 3], p[(fi + 2) % 3]};
    const Point gs[2] = {q[(gi + 1) % 3], q[(gi + 2) % 3]};
    if (!strictly_one_side(p, gs, 2) &&
        CGAL::do_intersect(Kernel::Triangle_3(p[0], p[1], p[2]), Kernel::Segment_3(gs[0], gs[1])))
      return true;
    if (!strictly_one_side(q, fs, 2) &&
        CGAL::do_intersect(Kernel::Triangle_3(q[0], q[1], q[2]), Kernel::Segment_3(fs[0], fs[1])))
      return true;
    return false;
  }
  if (strictly_one_side(p, q, 3) || strictly_one_side(q, p, 3)) return false;
  return CGAL::do_intersect(Kernel::Triangle_3(p[0], p[1], p[2]),
                            Kernel::Triangle_3(q[0], q[1], q[2]));
}

}    // namespace cephalo::meshing::detail
