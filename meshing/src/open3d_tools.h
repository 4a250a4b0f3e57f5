// Open3D where it is the better tool: smoothing, and PLY/OBJ files (internal header; Open3D's
// own headers stay in open3d_tools.cpp).
#pragma once

#include "cephalo/meshing/mesh.h"

#include <filesystem>

namespace cephalo::meshing::detail {

// Taubin's lambda-mu filter: smooths without shrinking the part. The caller re-checks the
// result (smoothing thin walls can make them touch).
TriangleMesh taubin_smooth(const TriangleMesh &mesh, int iterations);

// Binary PLY out; PLY or OBJ in (reading merges duplicated vertices).
void write_with_open3d(const std::filesystem::path &path, const TriangleMesh &mesh);
TriangleMesh read_with_open3d(const std::filesystem::path &path);

}    // namespace cephalo::meshing::detail
