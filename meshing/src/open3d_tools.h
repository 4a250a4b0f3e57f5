// Open3D for PLY files and for reading OBJ (internal header; Open3D's own headers stay in
// open3d_tools.cpp).
#pragma once

#include "cephalo/meshing/mesh.h"

#include <filesystem>

namespace cephalo::meshing::detail {

// Binary PLY out; PLY or OBJ in (reading merges duplicated vertices).
void write_with_open3d(const std::filesystem::path &path, const TriangleMesh &mesh);
TriangleMesh read_with_open3d(const std::filesystem::path &path);

}    // namespace cephalo::meshing::detail
