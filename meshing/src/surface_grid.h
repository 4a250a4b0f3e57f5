// A uniform grid over the triangles of a mesh: candidate pairs for the self-intersection test
// and ray casting for wall thickness and shell nesting (internal header).
//
// Meshes from the mesher are made of triangles of nearly one size, for which a grid with cells
// about as large as a triangle beats a general box-intersection sweep or a bounding volume tree:
// it is built in two linear passes and visited in parallel.
#pragma once

#include "cephalo/meshing/mesh.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace cephalo::meshing::detail {

class SurfaceGrid {
 public:
  explicit SurfaceGrid(const TriangleMesh &mesh);

  // Calls test(f, g) once for every pair of distinct triangles whose bounding boxes overlap
  // (closed boxes: touching counts), from several threads; returns how many it accepted and up
  // to `keep` of the accepted pairs.
  using PairTest = bool (*)(const TriangleMesh &, std::uint32_t, std::uint32_t);
  std::size_t count_pairs(PairTest test, std::size_t keep,
                          std::vector<std::pair<std::uint32_t, std::uint32_t>> *kept) const;

  struct Hit {
    std::uint32_t triangle = 0;
    double distance = 0.0;
  };
  // The nearest triangle hit by the ray origin + t dir (dir of unit length), 0 < t <= max_t,
  // other than `skip`. Returns false when none is.
  bool first_hit(const std::array<double, 3> &origin, const std::array<double, 3> &dir,
                 double max_t, std::uint32_t skip, Hit &hit) const;

  // Every triangle (once) that the ray from origin along dir crosses before leaving the grid.
  // Returns false when the ray passes too close to an edge or vertex of one of them for its
  // crossings to be counted reliably (the caller tries another direction).
  bool crossings(const std::array<double, 3> &origin, const std::array<double, 3> &dir,
                 std::vector<std::uint32_t> &out) const;

  double cell_size() const { return cell_; }

 private:
  template <class Visit>
  void walk(const std::array<double, 3> &origin, const std::array<double, 3> &dir, double max_t,
            Visit &&visit) const;
  std::size_t cell_index(const std::array<double, 3> &p) const;
  int axis_cell(int axis, double x) const;

  const TriangleMesh &mesh_;
  std::array<double, 3> origin_{};
  std::array<int, 3> dims_{};
  double cell_ = 1.0, inverse_ = 1.0;
  std::vector<std::array<float, 6>> boxes_;    // per triangle: lo xyz, hi xyz (rounded outward)
  std::vector<std::uint32_t>
      start_;    // CSR: triangles of cell c in entries_[start_[c], start_[c+1])
  std::vector<std::uint32_t> entries_;
};

}    // namespace cephalo::meshing::detail
