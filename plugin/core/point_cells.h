// Uniform cells over a few points, for finding the points within a distance of one another.
#pragma once

#include <cmath>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace cephalo::plugin {

// Hashes only the occupied cells, so it costs nothing for empty space: meant for a sparse
// subset of atoms (crack faces) in a large box.
class PointCells {
 public:
  explicit PointCells(double cell_size = 1.0) { reset(cell_size); }

  void reset(double cell_size)
  {
    inverse_ = 1.0 / cell_size;
    cells_.clear();
  }

  void add(int id, const double *x)
  {
    cells_[key(cell_of(x[0]), cell_of(x[1]), cell_of(x[2]))].push_back(id);
  }

  // Calls visit(id) for every point in the 27 cells around x: all points within one cell size
  // of x, and some farther ones that the caller filters by distance.
  template <class Visit> void for_each_near(const double *x, Visit visit) const
  {
    const std::int64_t cx = cell_of(x[0]), cy = cell_of(x[1]), cz = cell_of(x[2]);
    for (std::int64_t dx = -1; dx <= 1; ++dx)
      for (std::int64_t dy = -1; dy <= 1; ++dy)
        for (std::int64_t dz = -1; dz <= 1; ++dz) {
          const auto it = cells_.find(key(cx + dx, cy + dy, cz + dz));
          if (it == cells_.end()) continue;
          for (int id : it->second) visit(id);
        }
  }

 private:
  std::int64_t cell_of(double coordinate) const
  {
    return static_cast<std::int64_t>(std::floor(coordinate * inverse_));
  }
  // 21 bits per axis: a million cells along each, far beyond any LAMMPS box in cell units
  static std::uint64_t key(std::int64_t cx, std::int64_t cy, std::int64_t cz)
  {
    const std::uint64_t mask = (1ULL << 21) - 1;
    return (static_cast<std::uint64_t>(cx) & mask) | (static_cast<std::uint64_t>(cy) & mask) << 21 |
           (static_cast<std::uint64_t>(cz) & mask) << 42;
  }

  double inverse_ = 1.0;
  std::unordered_map<std::uint64_t, std::vector<int>> cells_;
};

}    // namespace cephalo::plugin
