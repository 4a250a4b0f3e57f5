// STL export and import. STL stores loose triangles; reading welds identical corners back into
// shared vertices so that connectivity (closedness, manifoldness) can be checked again.
#pragma once

#include "cephalo/meshing/mesh.h"

#include <filesystem>
#include <stdexcept>
#include <string_view>

namespace cephalo::meshing {

class StlError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Binary STL with float32 coordinates and facet normals computed from the winding.
void write_stl(const std::filesystem::path &path, const TriangleMesh &mesh,
               std::string_view solid_name = "cephalo");

// Reads binary or ASCII STL. Throws StlError naming the file and what is wrong with it.
TriangleMesh read_stl(const std::filesystem::path &path);

}    // namespace cephalo::meshing
