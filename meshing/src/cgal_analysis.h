// The CGAL half of mesh checking, behind a plain interface so that CGAL's templates are
// compiled in one translation unit only.
#pragma once

#include "cephalo/meshing/mesh.h"

#include <cstddef>
#include <vector>

namespace cephalo::meshing::detail {

struct CgalAnalysis {
  bool polygon_mesh = false;    // the triangles form a valid oriented 2-manifold
  bool self_intersecting = false;
  bool bounds_volume = false;    // closed, not self-intersecting, outer shells outward
  std::size_t components = 0;    // shells
  std::size_t bodies = 0;        // shells enclosing material (positive signed volume)
  std::size_t cavities = 0;      // shells bounding voids inside a body (negative signed volume)
  double volume = 0.0;           // signed: negative when the shell faces inward
  double area = 0.0;
  double wall_p05 = 0.0;    // local thickness (inward ray to the opposite surface), 5th percentile
  double wall_median = 0.0;
};

// `manifold`: the caller's topology check found a closed, consistently oriented 2-manifold
// (otherwise only area and components are computed, from the soup when possible); thickness is
// sampled on up to `thickness_samples` faces.
CgalAnalysis analyse_with_cgal(const TriangleMesh &mesh, bool manifold, bool self_intersections,
                               std::size_t thickness_samples);

}    // namespace cephalo::meshing::detail
