// 3MF writing and reading with CGAL::IO and lib3mf (see cgal_3mf.h).
#include "cgal_3mf.h"

#include <CGAL/Exact_predicates_inexact_constructions_kernel.h>
#include <CGAL/IO/3MF.h>

#include <array>
#include <stdexcept>

namespace cephalo::meshing::detail {
namespace {
using Kernel = CGAL::Exact_predicates_inexact_constructions_kernel;
using Point = Kernel::Point_3;
}    // namespace

void write_3mf(const std::filesystem::path &path,
               const std::vector<std::pair<std::string, const TriangleMesh *>> &bodies)
{
  std::vector<std::vector<Point>> points;
  std::vector<std::vector<std::array<std::size_t, 3>>> triangles;
  std::vector<std::string> names;
  for (const auto &[name, mesh] : bodies) {
    points.emplace_back();
    for (const auto &v : mesh->vertices) points.back().emplace_back(v[0], v[1], v[2]);
    triangles.emplace_back();
    for (const auto &t : mesh->triangles) triangles.back().push_back({t[0], t[1], t[2]});
    names.push_back(name);
  }
  std::error_code ignored;
  std::filesystem::remove(path, ignored);    // lib3mf does not truncate an existing file
  if (!CGAL::IO::write_3MF(path.string(), points, triangles, names))
    throw std::runtime_error("cannot write " + path.string());
}

std::vector<std::pair<std::string, TriangleMesh>> read_3mf(const std::filesystem::path &path)
{
  std::vector<std::vector<Point>> points;
  std::vector<std::vector<std::vector<std::size_t>>>
      triangles;    // CGAL's reader sizes each triangle
  std::vector<std::vector<CGAL::IO::Color>> colors;
  std::vector<std::string> names;
  if (!CGAL::IO::read_3MF(path.string(), points, triangles, colors, names))
    throw std::runtime_error("cannot read 3MF " + path.string());
  std::vector<std::pair<std::string, TriangleMesh>> out;
  for (std::size_t i = 0; i < points.size(); ++i) {
    TriangleMesh mesh;
    for (const auto &p : points[i]) mesh.vertices.push_back({p.x(), p.y(), p.z()});
    for (const auto &t : triangles[i]) {
      if (t.size() != 3)
        throw std::runtime_error(path.string() + ": a 3MF triangle without 3 vertices");
      mesh.triangles.push_back({static_cast<std::uint32_t>(t[0]), static_cast<std::uint32_t>(t[1]),
                                static_cast<std::uint32_t>(t[2])});
    }
    out.emplace_back(i < names.size() ? names[i] : "body", std::move(mesh));
  }
  return out;
}

}    // namespace cephalo::meshing::detail
