// The plain triangle mesh that meshing/ hands out: millimetres, indexed, outward winding.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace cephalo::meshing {

struct TriangleMesh {
  std::vector<std::array<double, 3>> vertices;
  std::vector<std::array<std::uint32_t, 3>> triangles;    // counter-clockwise seen from outside
};

}    // namespace cephalo::meshing
