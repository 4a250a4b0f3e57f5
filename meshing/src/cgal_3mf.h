// 3MF through CGAL's lib3mf bindings (internal header).
#pragma once

#include "cephalo/meshing/mesh.h"

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace cephalo::meshing::detail {

// Each body becomes one mesh object, named; 3MF's unit is the millimetre.
void write_3mf(const std::filesystem::path &path,
               const std::vector<std::pair<std::string, const TriangleMesh *>> &bodies);
std::vector<std::pair<std::string, TriangleMesh>> read_3mf(const std::filesystem::path &path);

}    // namespace cephalo::meshing::detail
