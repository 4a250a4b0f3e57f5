// The mesher: the boundary of an intersection of constraints, from their values on a grid
// (internal header).
#pragma once

#include "cephalo/meshing/mesh.h"
#include "geometry.h"

#include <cstddef>
#include <functional>

namespace cephalo::meshing::detail {

struct MesherStats {
  std::size_t grid_points = 0;
  std::size_t boundary_tetrahedra = 0;
  double sample_seconds = 0.0;
  double extract_seconds = 0.0;
};

// Samples every constraint on a cubic grid of spacing `edge` around the solid's bounds, splits
// each cube into six tetrahedra (the same split in every cube), and within each tetrahedron,
// where every constraint is linear, clips the tetrahedron by all constraints. The faces of the
// clipped polytopes that lie on constraint planes form the surface. Vertices are named by the
// grid points and constraints that define them and placed from those values alone, so
// neighbouring tetrahedra agree on them exactly: the result is closed, manifold, outward
// oriented and free of self-intersections (as the piecewise-linear solid it bounds), with sharp
// edges where constraints meet. Coordinates are rounded to float, as STL will store them.
//
// `variant` picks one of several fractional offsets of the grid against the solid: a
// configuration too close to degenerate for float coordinates at one offset is not at another.
//
// Throws std::length_error when the grid would exceed `max_points`.
TriangleMesh mesh_solid(const Solid &solid, double edge, std::size_t max_points,
                        MesherStats *stats = nullptr,
                        const std::function<void(double)> &progress = {}, int variant = 0);

}    // namespace cephalo::meshing::detail
