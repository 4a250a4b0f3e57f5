// Alpha wrapping with CGAL, the last-resort repair of a mesh (internal header).
#pragma once

#include "cephalo/meshing/mesh.h"

namespace cephalo::meshing::detail {

// A watertight, manifold, intersection-free surface enclosing `mesh` at distance `offset`,
// which follows it into gaps and concavities wider than about `alpha` (CGAL::alpha_wrap_3).
// Coordinates rounded to float like every mesh handed out.
TriangleMesh alpha_wrap(const TriangleMesh &mesh, double alpha, double offset);

}    // namespace cephalo::meshing::detail
