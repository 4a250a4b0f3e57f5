// Voronoi edges of a set of seeds in a box, from CGAL's 3D Delaunay triangulation (internal).
#pragma once

#include "geometry.h"

#include <utility>
#include <vector>

namespace cephalo::meshing::detail {

// The edges of the Voronoi diagram of `seeds` (all inside `box`) restricted to the box: the
// seeds are mirrored across the six faces, so the box faces become cell faces, and only the
// edges between three real cells are returned (none lies in a face of the box).
std::vector<std::pair<Vec3, Vec3>> voronoi_edges(const std::vector<Vec3> &seeds, const Box &box);

}    // namespace cephalo::meshing::detail
