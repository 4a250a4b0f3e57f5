// Merging the triangles of flat regions (internal header).
#pragma once

#include "cephalo/meshing/mesh.h"

#include <cstddef>

namespace cephalo::meshing::detail {

// Removes vertices that lie inside a flat region (every triangle around them in one plane, to
// within `tolerance` mm) by collapsing each into a neighbour in that plane, when the surface
// stays a manifold and no triangle turns over or becomes a sliver. The surface does not move
// (by more than `tolerance`): volume, area and features are kept; the mesher's grid-sized
// triangles on flat faces become a few large ones. Returns the number of vertices removed.
std::size_t merge_flat_regions(TriangleMesh &mesh, double tolerance);

}    // namespace cephalo::meshing::detail
