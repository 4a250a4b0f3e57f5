// Binary STL writing and binary/ASCII STL reading with vertex welding.
#include "cephalo/meshing/stl.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

namespace cephalo::meshing {
namespace {

using Corner = std::array<float, 3>;

void put_u32(std::string &out, std::uint32_t value)
{
  for (int b = 0; b < 4; ++b) out.push_back(static_cast<char>((value >> (8 * b)) & 0xFF));
}

void put_f32(std::string &out, float value)
{
  std::uint32_t bits;
  std::memcpy(&bits, &value, 4);
  put_u32(out, bits);
}

std::uint32_t get_u32(const unsigned char *p)
{
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

float get_f32(const unsigned char *p)
{
  const std::uint32_t bits = get_u32(p);
  float value;
  std::memcpy(&value, &bits, 4);
  return value;
}

// Welds corners that are bit-identical in float32, which is what STL stores.
class Welder {
 public:
  std::uint32_t index(const Corner &c)
  {
    const auto [it, inserted] = ids_.emplace(c, static_cast<std::uint32_t>(mesh.vertices.size()));
    if (inserted) mesh.vertices.push_back({c[0], c[1], c[2]});
    return it->second;
  }
  TriangleMesh mesh;

 private:
  std::map<Corner, std::uint32_t> ids_;
};

TriangleMesh read_binary(const std::string &bytes, const std::filesystem::path &path)
{
  const auto *data = reinterpret_cast<const unsigned char *>(bytes.data());
  const std::uint32_t count = get_u32(data + 80);
  Welder welder;
  welder.mesh.triangles.reserve(count);
  for (std::uint32_t t = 0; t < count; ++t) {
    const unsigned char *facet = data + 84 + 50 * static_cast<std::size_t>(t);
    std::array<std::uint32_t, 3> triangle{};
    for (int v = 0; v < 3; ++v) {
      Corner c{};
      for (int k = 0; k < 3; ++k) c[k] = get_f32(facet + 12 + 12 * v + 4 * k);
      for (float value : c)
        if (!std::isfinite(value))
          throw StlError(path.string() + ": facet " + std::to_string(t) +
                         " has a non-finite coordinate");
      triangle[v] = welder.index(c);
    }
    welder.mesh.triangles.push_back(triangle);
  }
  return std::move(welder.mesh);
}

TriangleMesh read_ascii(const std::string &text, const std::filesystem::path &path)
{
  std::istringstream in(text);
  std::string word;
  Welder welder;
  std::array<std::uint32_t, 3> triangle{};
  int corner = 0;
  std::size_t facets = 0;
  while (in >> word) {
    if (word == "vertex") {
      Corner c{};
      double x, y, z;
      if (!(in >> x >> y >> z) || !std::isfinite(x) || !std::isfinite(y) || !std::isfinite(z))
        throw StlError(path.string() + ": bad vertex in facet " + std::to_string(facets));
      if (corner == 3)
        throw StlError(path.string() + ": facet " + std::to_string(facets) +
                       " has more than 3 vertices");
      c = {static_cast<float>(x), static_cast<float>(y), static_cast<float>(z)};
      triangle[corner++] = welder.index(c);
    } else if (word == "endfacet") {
      if (corner != 3)
        throw StlError(path.string() + ": facet " + std::to_string(facets) + " has " +
                       std::to_string(corner) + " vertices, expected 3");
      welder.mesh.triangles.push_back(triangle);
      corner = 0;
      ++facets;
    }
  }
  if (corner != 0) throw StlError(path.string() + ": file ends inside a facet");
  return std::move(welder.mesh);
}

}    // namespace

void write_stl(const std::filesystem::path &path, const TriangleMesh &mesh,
               std::string_view solid_name)
{
  std::string out;
  out.reserve(84 + 50 * mesh.triangles.size());
  // A binary header must not start with "solid", or readers may take it for ASCII.
  std::string header = "binary STL " + std::string(solid_name);
  header.resize(80, ' ');
  out += header;
  put_u32(out, static_cast<std::uint32_t>(mesh.triangles.size()));
  for (const auto &triangle : mesh.triangles) {
    std::array<std::array<double, 3>, 3> p;
    for (int v = 0; v < 3; ++v) {
      if (triangle[v] >= mesh.vertices.size())
        throw std::out_of_range("write_stl: triangle refers to vertex " +
                                std::to_string(triangle[v]) + " of " +
                                std::to_string(mesh.vertices.size()));
      p[v] = mesh.vertices[triangle[v]];
    }
    const double ux = p[1][0] - p[0][0], uy = p[1][1] - p[0][1], uz = p[1][2] - p[0][2];
    const double vx = p[2][0] - p[0][0], vy = p[2][1] - p[0][1], vz = p[2][2] - p[0][2];
    double n[3] = {uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx};
    const double length = std::sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
    for (double &c : n) c = length > 0.0 ? c / length : 0.0;
    for (double c : n) put_f32(out, static_cast<float>(c));
    for (const auto &corner : p)
      for (double c : corner) put_f32(out, static_cast<float>(c));
    out.append(2, '\0');
  }
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file.write(out.data(), static_cast<std::streamsize>(out.size())) || !file.flush())
    throw StlError("cannot write " + path.string());
}

TriangleMesh read_stl(const std::filesystem::path &path)
{
  std::ifstream file(path, std::ios::binary);
  if (!file) throw StlError("cannot open " + path.string());
  const std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (bytes.size() >= 84) {
    const std::uint32_t count = get_u32(reinterpret_cast<const unsigned char *>(bytes.data()) + 80);
    if (bytes.size() == 84 + 50 * static_cast<std::uint64_t>(count))
      return read_binary(bytes, path);
  }
  if (bytes.compare(0, 5, "solid") == 0) return read_ascii(bytes, path);
  throw StlError(path.string() + ": neither binary STL (size does not match its facet count) "
                                 "nor ASCII STL (no 'solid' keyword)");
}

}    // namespace cephalo::meshing
