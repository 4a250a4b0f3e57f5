// The CGAL half of mesh checking, behind a plain interface so that CGAL's templates are
// compiled in one translation unit only.
#pragma once

#include "cephalo/meshing/mesh.h"

#include <cstddef>

namespace cephalo::meshing::detail {

struct CgalAnalysis {
  bool polygon_mesh = false;    // the triangles form a valid oriented 2-manifold
  bool self_intersecting = false;
  bool bounds_volume = false;    // closed, not self-intersecting, outer shells outward
  std::size_t components = 0;
  double volume = 0.0;    // signed: negative when the shell faces inward
  double area = 0.0;
};

// `closed` says whether the edge check found no boundary or non-manifold edge.
CgalAnalysis analyse_with_cgal(const TriangleMesh &mesh, bool closed);

}    // namespace cephalo::meshing::detail
