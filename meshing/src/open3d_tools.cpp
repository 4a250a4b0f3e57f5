// PLY and OBJ input, PLY output with Open3D (see open3d_tools.h).
#include "open3d_tools.h"

#include "float_round.h"

#include <open3d/geometry/TriangleMesh.h>
#include <open3d/io/TriangleMeshIO.h>

#include <stdexcept>

namespace cephalo::meshing::detail {
namespace {

open3d::geometry::TriangleMesh to_open3d(const TriangleMesh &mesh)
{
  open3d::geometry::TriangleMesh out;
  out.vertices_.reserve(mesh.vertices.size());
  for (const auto &v : mesh.vertices) out.vertices_.emplace_back(v[0], v[1], v[2]);
  out.triangles_.reserve(mesh.triangles.size());
  for (const auto &t : mesh.triangles)
    out.triangles_.emplace_back(static_cast<int>(t[0]), static_cast<int>(t[1]),
                                static_cast<int>(t[2]));
  return out;
}

TriangleMesh from_open3d(const open3d::geometry::TriangleMesh &mesh)
{
  TriangleMesh out;
  out.vertices.reserve(mesh.vertices_.size());
  for (const auto &v : mesh.vertices_)
    out.vertices.push_back({float_rounded(v(0)), float_rounded(v(1)), float_rounded(v(2))});
  out.triangles.reserve(mesh.triangles_.size());
  for (const auto &t : mesh.triangles_)
    out.triangles.push_back({static_cast<std::uint32_t>(t(0)), static_cast<std::uint32_t>(t(1)),
                             static_cast<std::uint32_t>(t(2))});
  return out;
}

}    // namespace

void write_with_open3d(const std::filesystem::path &path, const TriangleMesh &mesh)
{
  open3d::geometry::TriangleMesh out = to_open3d(mesh);
  out.ComputeTriangleNormals();
  if (!open3d::io::WriteTriangleMesh(path.string(), out, /*write_ascii=*/false,
                                     /*compressed=*/false,
                                     /*write_vertex_normals=*/false, /*write_vertex_colors=*/false,
                                     /*write_triangle_uvs=*/false, /*print_progress=*/false))
    throw std::runtime_error("cannot write " + path.string());
}

TriangleMesh read_with_open3d(const std::filesystem::path &path)
{
  open3d::geometry::TriangleMesh mesh;
  open3d::io::ReadTriangleMeshOptions options;
  options.enable_post_processing = false;
  options.print_progress = false;
  if (!open3d::io::ReadTriangleMesh(path.string(), mesh, options) || mesh.triangles_.empty())
    throw std::runtime_error("cannot read a triangle mesh from " + path.string());
  mesh.RemoveDuplicatedVertices();
  return from_open3d(mesh);
}

}    // namespace cephalo::meshing::detail
