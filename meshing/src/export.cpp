// Export to STL, 3MF, PLY and OBJ, and read-back verification (see export.h).
#include "cephalo/meshing/export.h"

#include "cephalo/meshing/stl.h"
#include "lib3mf_io.h"
#include "open3d_tools.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace cephalo::meshing {
namespace {

// Written here rather than by Open3D, whose OBJ writer keeps six significant digits: too few for
// float coordinates of a part tens of millimetres across, whose nearby vertices would then merge.
void write_obj(const std::filesystem::path &path, const TriangleMesh &mesh, const std::string &name)
{
  std::FILE *file = std::fopen(path.c_str(), "w");
  if (!file) throw std::runtime_error("cannot write " + path.string());
  std::fprintf(file, "# Cephalo part, millimetres\no %s\n", name.c_str());
  for (const auto &v : mesh.vertices) std::fprintf(file, "v %.9g %.9g %.9g\n", v[0], v[1], v[2]);
  for (const auto &t : mesh.triangles)
    std::fprintf(file, "f %u %u %u\n", t[0] + 1, t[1] + 1, t[2] + 1);
  const bool ok = !std::ferror(file);
  if (std::fclose(file) != 0 || !ok) throw std::runtime_error("cannot write " + path.string());
}

}    // namespace

MeshFormat mesh_format(const std::filesystem::path &path)
{
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".stl") return MeshFormat::Stl;
  if (ext == ".3mf") return MeshFormat::ThreeMF;
  if (ext == ".ply") return MeshFormat::Ply;
  if (ext == ".obj") return MeshFormat::Obj;
  throw std::invalid_argument(path.string() + ": unknown mesh format '" + ext +
                              "' (use .stl, .3mf, .ply or .obj)");
}

std::vector<ExportedFile> export_part(const BuiltPart &part, const std::filesystem::path &target)
{
  const MeshFormat format = mesh_format(target);
  std::vector<ExportedFile> files;
  if (format == MeshFormat::ThreeMF) {
    std::vector<std::pair<std::string, const TriangleMesh *>> bodies;
    ExportedFile file{target, {}};
    for (const auto &b : part.bodies) {
      bodies.emplace_back(b.name, &b.mesh);
      file.bodies.push_back(b.name);
    }
    detail::write_3mf(target, part.name, bodies);
    files.push_back(file);
    return files;
  }
  for (const auto &b : part.bodies) {
    std::filesystem::path path = target;
    if (part.bodies.size() > 1)
      path.replace_filename(target.stem().string() + "." + b.name + target.extension().string());
    if (format == MeshFormat::Stl)
      write_stl(path, b.mesh, b.name);
    else if (format == MeshFormat::Obj)
      write_obj(path, b.mesh, b.name);
    else
      detail::write_with_open3d(path, b.mesh);
    files.push_back({path, {b.name}});
  }
  return files;
}

std::vector<std::string> verify_export(const BuiltPart &part,
                                       const std::vector<ExportedFile> &files)
{
  std::vector<std::string> problems;
  auto compare = [&](const std::string &where, const BuiltBody &built, const TriangleMesh &read) {
    // the topology again; the geometry through volume and area, which no change of a vertex
    // survives unnoticed (self-intersections were checked on the identical built mesh)
    const MeshReport report = check_mesh(read, {false, 0});
    for (const auto &p : report.problems) problems.push_back(where + ": " + p);
    if (report.triangles != built.report.triangles)
      problems.push_back(where + ": " + std::to_string(report.triangles) +
                         " triangles read back, " + std::to_string(built.report.triangles) +
                         " written");
    if (std::abs(report.volume - built.report.volume) > 1e-6 * std::abs(built.report.volume))
      problems.push_back(where + ": volume " + std::to_string(report.volume) + " mm^3 read back, " +
                         std::to_string(built.report.volume) + " built");
    if (std::abs(report.area - built.report.area) > 1e-6 * built.report.area)
      problems.push_back(where + ": area " + std::to_string(report.area) + " mm^2 read back, " +
                         std::to_string(built.report.area) + " built");
  };
  auto built_body = [&](const std::string &name) -> const BuiltBody * {
    for (const auto &b : part.bodies)
      if (b.name == name) return &b;
    return nullptr;
  };
  for (const auto &file : files) {
    const MeshFormat format = mesh_format(file.path);
    if (format == MeshFormat::ThreeMF) {
      const auto read = detail::read_3mf(file.path);
      if (read.size() != file.bodies.size())
        problems.push_back(file.path.string() + ": " + std::to_string(read.size()) +
                           " objects read back, " + std::to_string(file.bodies.size()) +
                           " written");
      for (const auto &[name, mesh] : read)
        if (const BuiltBody *b = built_body(name))
          compare(file.path.string() + " [" + name + "]", *b, mesh);
        else
          problems.push_back(file.path.string() + ": unexpected object '" + name + "'");
    } else {
      const TriangleMesh read =
          format == MeshFormat::Stl ? read_stl(file.path) : detail::read_with_open3d(file.path);
      if (const BuiltBody *b = built_body(file.bodies.front()))
        compare(file.path.string(), *b, read);
    }
  }
  return problems;
}

}    // namespace cephalo::meshing
