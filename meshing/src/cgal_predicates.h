// Exact geometric predicates from CGAL for the checks, behind a plain interface (internal).
#pragma once

#include "cephalo/meshing/mesh.h"

#include <cstdint>

namespace cephalo::meshing::detail {

// Whether triangles f and g of the mesh intersect other than along what they share: two
// triangles with a common edge intersect only when they fold onto each other, two with a common
// vertex only when an opposite edge passes through the other triangle, and two triangles with
// the same three vertices always do. Exact (CGAL's filtered predicates). Triangles whose corners
// are collinear are left to the degenerate-triangle check and never reported here.
bool triangles_intersect(const TriangleMesh &mesh, std::uint32_t f, std::uint32_t g);

}    // namespace cephalo::meshing::detail
