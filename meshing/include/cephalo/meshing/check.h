// Validation of a mesh before it is handed to a slicer.
#pragma once

#include "cephalo/meshing/mesh.h"

#include <array>
#include <cstddef>
#include <string>
#include <vector>

namespace cephalo::meshing {

struct MeshReport {
  std::size_t vertices = 0;
  std::size_t triangles = 0;
  std::size_t boundary_edges = 0;       // edges with one triangle: holes
  std::size_t nonmanifold_edges = 0;    // edges with three or more triangles
  std::size_t misoriented_edges = 0;    // edges whose two triangles wind the same way
  std::size_t degenerate_triangles = 0;
  bool closed = false;      // no boundary and no non-manifold edges
  bool manifold = false;    // a valid oriented 2-manifold (edges and vertices)
  bool self_intersecting = false;
  std::size_t intersecting_pairs = 0;    // pairs of triangles that cross or overlap
  bool outward = false;                  // normals point out of the enclosed volume
  std::size_t components = 0;            // shells
  std::size_t bodies = 0;                // shells that enclose material: the separate pieces
  std::size_t cavities = 0;              // shells around closed voids inside a body
  long genus = -1;                       // handles, summed over shells (closed manifolds; -1 otherwise)
  double volume = 0.0;                   // enclosed volume (mm^3); 0 when not closed
  double area = 0.0;                     // surface area (mm^2)
  double wall_estimate = 0.0;    // local thickness at the 5th percentile of the surface (mm)
  double wall_median = 0.0;      // local thickness, median over the surface (mm)
  std::array<double, 3> bbox_min{};
  std::array<double, 3> bbox_max{};
  std::vector<std::string> problems;    // one sentence each; empty for a printable shell

  bool watertight() const { return problems.empty(); }
};

struct CheckOptions {
  bool self_intersections = true;    // the most expensive test
  std::size_t thickness_samples =
      20000;    // faces sampled for the wall thickness (0: not measured)
  // Also run CGAL's own self-intersection test (box intersection on a Surface_mesh, several
  // times slower) and report a problem when the two disagree.
  bool cgal_cross_check = false;
};

MeshReport check_mesh(const TriangleMesh &mesh, const CheckOptions &options = {});

}    // namespace cephalo::meshing
