// CGAL's polygon-mesh processing, behind a plain interface so that its templates are compiled in
// one translation unit only (internal header).
#pragma once

#include "cephalo/meshing/mesh.h"

namespace cephalo::meshing::detail {

// CGAL's own self-intersection test (Polygon_mesh_processing::does_self_intersect) on a mesh
// that is a valid polygon mesh; false for one that is not. An independent second opinion on the
// grid test in check.cpp.
bool cgal_self_intersecting(const TriangleMesh &mesh);

}    // namespace cephalo::meshing::detail
