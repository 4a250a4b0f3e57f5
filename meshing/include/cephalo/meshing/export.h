// Writing built parts for printing and reading them back to check what was written.
#pragma once

#include "cephalo/meshing/build.h"

#include <filesystem>
#include <string>
#include <vector>

namespace cephalo::meshing {

enum class MeshFormat { Stl, ThreeMF, Ply, Obj };

// By extension (.stl, .3mf, .ply, .obj); throws std::invalid_argument for anything else.
MeshFormat mesh_format(const std::filesystem::path &path);

struct ExportedFile {
  std::filesystem::path path;
  std::vector<std::string> bodies;    // the bodies in this file
};

// Binary STL, 3MF (millimetres, one named object per body, so several bodies print with several
// materials), binary PLY or OBJ. STL, PLY and OBJ hold one body per file: a part with several
// bodies is written as <stem>.<body><extension>, one file each.
std::vector<ExportedFile> export_part(const BuiltPart &part, const std::filesystem::path &target);

// Reads the files back and checks every body again: watertight, and the same triangle count and
// volume as built. Returns the problems found (empty when the files are faithful).
std::vector<std::string> verify_export(const BuiltPart &part,
                                       const std::vector<ExportedFile> &files);

}    // namespace cephalo::meshing
