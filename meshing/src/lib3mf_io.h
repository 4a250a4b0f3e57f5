// 3MF through lib3mf (internal header).
#pragma once

#include "cephalo/meshing/mesh.h"

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace cephalo::meshing::detail {

// Millimetres. One body: one mesh object, built. Several: a mesh object each, named, gathered
// as the parts of one components object named `part` that is built: slicers load it as one
// object whose parts can be given different materials or extruders.
void write_3mf(const std::filesystem::path &path, const std::string &part,
               const std::vector<std::pair<std::string, const TriangleMesh *>> &bodies);

// Every mesh that the build items place, directly or as components, with transforms applied
// and converted to millimetres, named after its mesh object. Throws std::runtime_error.
std::vector<std::pair<std::string, TriangleMesh>> read_3mf(const std::filesystem::path &path);

}    // namespace cephalo::meshing::detail
