// Three-vector arithmetic on std::array<double, 3> and the compaction of unused mesh vertices,
// shared by the geometry, the mesher, the decimation, the checks and the preview (internal).
#pragma once

#include "cephalo/meshing/mesh.h"

#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

namespace cephalo::meshing::detail {

using V3 = std::array<double, 3>;

inline V3 operator+(const V3 &a, const V3 &b)
{
  return {a[0] + b[0], a[1] + b[1], a[2] + b[2]};
}
inline V3 operator-(const V3 &a, const V3 &b)
{
  return {a[0] - b[0], a[1] - b[1], a[2] - b[2]};
}
inline V3 operator*(double s, const V3 &a)
{
  return {s * a[0], s * a[1], s * a[2]};
}
inline V3 sub(const V3 &a, const V3 &b)
{
  return a - b;
}
inline double dot(const V3 &a, const V3 &b)
{
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}
inline V3 cross(const V3 &a, const V3 &b)
{
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
inline double norm(const V3 &a)
{
  return std::sqrt(dot(a, a));
}

// Drops the vertices no triangle uses and renumbers the triangles' corners (first use order).
inline void drop_unused_vertices(TriangleMesh &mesh)
{
  constexpr std::uint32_t unused = UINT32_MAX;
  std::vector<std::uint32_t> index(mesh.vertices.size(), unused);
  std::vector<V3> vertices;
  vertices.reserve(mesh.vertices.size());
  for (auto &t : mesh.triangles)
    for (auto &v : t) {
      if (index[v] == unused) {
        index[v] = static_cast<std::uint32_t>(vertices.size());
        vertices.push_back(mesh.vertices[v]);
      }
      v = index[v];
    }
  mesh.vertices = std::move(vertices);
}

}    // namespace cephalo::meshing::detail
