// Grid sampling and polytope clipping of tetrahedra (see level_mesher.h).
#include "level_mesher.h"

#include "float_round.h"
#include "parallel.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>

namespace cephalo::meshing::detail {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start)
{
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Grid {
  Vec3 origin;
  double h = 1.0;
  std::array<std::size_t, 3> n{};
  std::size_t id(std::size_t i, std::size_t j, std::size_t k) const
  {
    return i + n[0] * (j + n[1] * k);
  }
  Vec3 point(std::size_t i, std::size_t j, std::size_t k) const
  {
    return {origin[0] + i * h, origin[1] + j * h, origin[2] + k * h};
  }
  Vec3 point(std::size_t id) const
  {
    const std::size_t i = id % n[0], j = (id / n[0]) % n[1], k = id / (n[0] * n[1]);
    return point(i, j, k);
  }
};

// --------------------------------------------------------------------------------------------
// The six tetrahedra of a cube, all sharing the main diagonal (corner 0 to corner 7); corner bits
// are x = 1, y = 2, z = 4. The same split in every cube makes faces match between cubes.
constexpr int kTets[6][4] = {{0, 1, 3, 7}, {0, 1, 5, 7}, {0, 2, 3, 7},
                             {0, 2, 6, 7}, {0, 4, 5, 7}, {0, 4, 6, 7}};

// Sorts up to four values in place (std::sort on such tiny arrays trips GCC 12's bounds
// warnings and is slower).
template <class T, class Less> void sort_small(T *a, int n, Less less)
{
  for (int i = 1; i < n; ++i)
    for (int j = i; j > 0 && less(a[j], a[j - 1]); --j) std::swap(a[j], a[j - 1]);
}

constexpr int kMaxVertices = 64;
constexpr int kMaxFaces = 32;
constexpr int kMaxLoop = 24;
constexpr int kMaxConstraints = 24;

// A vertex of a clipped tetrahedron: barycentric weights over the tetrahedron's four corners,
// and the three planes it lies on (0..3: the face opposite that corner; 4 + m: constraint m).
struct PVertex {
  double w[4];
  std::uint8_t planes[3];
};

struct PFace {
  std::uint8_t tag;
  std::uint8_t count;
  std::uint8_t loop[kMaxLoop];
};

struct Polytope {
  PVertex vertices[kMaxVertices];
  int vertex_count = 0;
  PFace faces[kMaxFaces];
  int face_count = 0;
};

// Global name of a surface vertex: the grid points spanning the simplex it lies in (2, 3 or 4)
// and the constraints whose zero sets meet there (1, 2 or 3).
struct VertexKey {
  std::uint64_t ids[2];
  std::uint64_t rest;
  bool operator==(const VertexKey &o) const
  {
    return ids[0] == o.ids[0] && ids[1] == o.ids[1] && rest == o.rest;
  }
};

struct VertexKeyHash {
  std::size_t operator()(const VertexKey &k) const
  {
    std::uint64_t h = k.ids[0] * 0x9E3779B97F4A7C15ULL;
    h ^= (k.ids[1] + 0x632BE59BD9B4E019ULL + (h << 6) + (h >> 2));
    h ^= (k.rest + 0x94D049BB133111EBULL + (h << 6) + (h >> 2));
    return static_cast<std::size_t>(h ^ (h >> 31));
  }
};

class Extractor {
 public:
  Extractor(const Grid &grid, const std::vector<std::vector<double>> &values) :
      grid_(grid), values_(values)
  {
    if (values.size() > kMaxConstraints)
      throw std::length_error("mesher: more than " + std::to_string(kMaxConstraints) +
                              " constraints");
    // outward loop order of each tetrahedron face, from the corner positions of a unit cube
    for (int t = 0; t < 6; ++t) {
      Vec3 p[4];
      for (int i = 0; i < 4; ++i)
        p[i] = {double(kTets[t][i] & 1), double((kTets[t][i] >> 1) & 1),
                double((kTets[t][i] >> 2) & 1)};
      for (int f = 0; f < 4; ++f) {
        int loop[3], n = 0;
        for (int i = 0; i < 4; ++i)
          if (i != f) loop[n++] = i;
        const Vec3 normal = cross(p[loop[1]] - p[loop[0]], p[loop[2]] - p[loop[0]]);
        if (dot(normal, p[f] - p[loop[0]]) > 0.0) std::swap(loop[1], loop[2]);
        for (int i = 0; i < 3; ++i) face_loops_[t][f][i] = loop[i];
      }
    }
  }

  // Extracts the surface in the cubes of layers [k_begin, k_end).
  void run(std::size_t k_begin, std::size_t k_end)
  {
    const auto &n = grid_.n;
    const std::size_t m = values_.size();
    for (std::size_t k = k_begin; k < k_end; ++k) {
      for (std::size_t j = 0; j + 1 < n[1]; ++j)
        for (std::size_t i = 0; i + 1 < n[0]; ++i) {
          std::size_t corner[8];
          for (int c = 0; c < 8; ++c)
            corner[c] = grid_.id(i + (c & 1), j + ((c >> 1) & 1), k + ((c >> 2) & 1));
          // a cube is empty if one constraint is positive at all corners, and has no surface if
          // every constraint is negative at all corners
          bool all_negative = true, empty = false;
          for (std::size_t c = 0; c < m && !empty; ++c) {
            const double *v = values_[c].data();
            bool pos = true, neg = true;
            for (int q = 0; q < 8; ++q) {
              if (v[corner[q]] > 0.0)
                neg = false;
              else
                pos = false;
            }
            if (pos) empty = true;
            if (!neg) all_negative = false;
          }
          if (empty || all_negative) continue;
          for (int t = 0; t < 6; ++t) {
            std::size_t ids[4];
            for (int q = 0; q < 4; ++q) ids[q] = corner[kTets[t][q]];
            tetrahedron(t, ids);
          }
        }
    }
  }

  TriangleMesh &mesh() { return mesh_; }
  std::size_t boundary_tetrahedra() const { return boundary_tets_; }

  // Calls fn(local index, canonical key) for the vertices whose defining grid points all lie in
  // layer k of grid points, and finds a vertex by key.
  template <class Fn> void for_each_vertex_in_layer(std::size_t k, Fn &&fn) const
  {
    const std::size_t layer = grid_.n[0] * grid_.n[1];
    for (const auto &[key, index] : vertices_) {
      const int count = static_cast<int>(key.rest >> 60);
      bool inside = true;
      for (int i = 0; i < count && inside; ++i)
        inside = ((key.ids[i / 2] >> (32 * (i % 2))) & 0xFFFFFFFFULL) / layer == k;
      if (inside) fn(index, key);
    }
  }
  std::uint32_t find(const VertexKey &key) const
  {
    const auto it = vertices_.find(key);
    return it == vertices_.end() ? UINT32_MAX : it->second;
  }
  void release()
  {
    vertices_ = {};
    mesh_ = {};
  }

 private:
  double value(int constraint, std::size_t id) const
  {
    return values_[static_cast<std::size_t>(constraint)][id];
  }

  void tetrahedron(int type, const std::size_t ids[4])
  {
    int active[kMaxConstraints], active_count = 0;
    for (std::size_t c = 0; c < values_.size(); ++c) {
      int pos = 0;
      for (int q = 0; q < 4; ++q) pos += values_[c][ids[q]] > 0.0;
      if (pos == 4) return;                                         // empty
      if (pos > 0) active[active_count++] = static_cast<int>(c);    // cuts this tetrahedron
    }
    if (active_count == 0) return;    // solid throughout
    ++boundary_tets_;

    Polytope &p = polytope_;
    p.vertex_count = 4;
    for (int i = 0; i < 4; ++i) {
      PVertex &v = p.vertices[i];
      for (int q = 0; q < 4; ++q) v.w[q] = q == i ? 1.0 : 0.0;
      int n = 0;
      for (int f = 0; f < 4; ++f)
        if (f != i) v.planes[n++] = static_cast<std::uint8_t>(f);
    }
    p.face_count = 4;
    for (int f = 0; f < 4; ++f) {
      p.faces[f].tag = static_cast<std::uint8_t>(f);
      p.faces[f].count = 3;
      for (int i = 0; i < 3; ++i)
        p.faces[f].loop[i] = static_cast<std::uint8_t>(face_loops_[type][f][i]);
    }
    for (int a = 0; a < active_count; ++a)
      if (!clip(p, active[a], ids)) return;

    // faces on constraint planes are surface; faces on the tetrahedron are interior
    for (int f = 0; f < p.face_count; ++f) {
      const PFace &face = p.faces[f];
      if (face.tag < 4) continue;
      std::uint32_t global[kMaxLoop];
      for (int i = 0; i < face.count; ++i) global[i] = global_vertex(p.vertices[face.loop[i]], ids);
      for (int i = 1; i + 1 < face.count; ++i)
        mesh_.triangles.push_back({global[0], global[i], global[i + 1]});
    }
  }

  // Clips by constraint c (<= 0 kept). Returns false when nothing is left.
  bool clip(Polytope &p, int c, const std::size_t ids[4])
  {
    double tet_values[4];
    for (int q = 0; q < 4; ++q) tet_values[q] = value(c, ids[q]);
    double s[kMaxVertices];
    int inside = 0;
    for (int v = 0; v < p.vertex_count; ++v) {
      const PVertex &pv = p.vertices[v];
      s[v] = pv.w[0] * tet_values[0] + pv.w[1] * tet_values[1] + pv.w[2] * tet_values[2] +
             pv.w[3] * tet_values[3];
      inside += s[v] <= 0.0;
    }
    if (inside == 0) return false;
    if (inside == p.vertex_count) return true;

    // crossing vertices, one per cut polytope edge, shared by the two faces of that edge
    int cut_from[kMaxVertices], cut_to[kMaxVertices], cut_vertex[kMaxVertices], cut_count = 0;
    auto crossing = [&](int u, int w) {
      for (int i = 0; i < cut_count; ++i)
        if ((cut_from[i] == u && cut_to[i] == w) || (cut_from[i] == w && cut_to[i] == u))
          return cut_vertex[i];
      if (p.vertex_count >= kMaxVertices) throw std::length_error("mesher: polytope too complex");
      const int x = p.vertex_count++;
      PVertex &pv = p.vertices[x];
      const PVertex &a = p.vertices[u], &b = p.vertices[w];
      const double t = s[u] / (s[u] - s[w]);
      for (int q = 0; q < 4; ++q) pv.w[q] = a.w[q] + t * (b.w[q] - a.w[q]);
      // the new vertex lies on the two planes common to u and w, and on the constraint
      int n = 0;
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j)
          if (a.planes[i] == b.planes[j] && n < 2) pv.planes[n++] = a.planes[i];
      pv.planes[n++] = static_cast<std::uint8_t>(4 + c);
      while (n < 3) pv.planes[n++] = static_cast<std::uint8_t>(4 + c);    // degenerate edge
      sort_small(pv.planes, 3, [](std::uint8_t a, std::uint8_t b) { return a < b; });
      canonical_weights(pv, ids);
      s[x] = 0.0;
      cut_from[cut_count] = u, cut_to[cut_count] = w, cut_vertex[cut_count] = x, ++cut_count;
      return x;
    };

    int cap_from[kMaxFaces], cap_to[kMaxFaces], cap_count = 0;
    int kept = 0;
    for (int f = 0; f < p.face_count; ++f) {
      PFace face = p.faces[f];
      std::uint8_t out[kMaxLoop];
      int n = 0, exit = -1, entry = -1;
      for (int i = 0; i < face.count; ++i) {
        const int u = face.loop[i], w = face.loop[(i + 1) % face.count];
        const bool in_u = s[u] <= 0.0, in_w = s[w] <= 0.0;
        if (in_u) out[n++] = static_cast<std::uint8_t>(u);
        if (in_u != in_w) {
          const int x = crossing(u, w);
          out[n++] = static_cast<std::uint8_t>(x);
          (in_u ? exit : entry) = x;
        }
        if (n >= kMaxLoop) throw std::length_error("mesher: face loop too long");
      }
      if (exit >= 0 && entry >= 0) {
        // the face runs exit -> entry along the cut; the cap face runs the other way
        cap_from[cap_count] = entry, cap_to[cap_count] = exit, ++cap_count;
      }
      if (n >= 3) {
        face.count = static_cast<std::uint8_t>(n);
        std::copy(out, out + n, face.loop);
        p.faces[kept++] = face;
      }
    }
    p.face_count = kept;
    if (cap_count >= 3) {
      if (p.face_count >= kMaxFaces) throw std::length_error("mesher: too many faces");
      PFace cap;
      cap.tag = static_cast<std::uint8_t>(4 + c);
      cap.count = 0;
      int current = cap_from[0];
      for (int step = 0; step < cap_count; ++step) {
        cap.loop[cap.count++] = static_cast<std::uint8_t>(current);
        int next = -1;
        for (int i = 0; i < cap_count; ++i)
          if (cap_from[i] == current) next = cap_to[i];
        if (next < 0 || next == cap_from[0]) break;
        current = next;
      }
      if (cap.count >= 3) p.faces[p.face_count++] = cap;
    }
    return p.face_count > 0;
  }

  // Replaces interpolated weights by ones computed only from the vertex's name (the spanning
  // grid points in ascending id order and the constraint values there), so that every
  // tetrahedron sharing the vertex places it, and evaluates later constraints on it, identically.
  void canonical_weights(PVertex &v, const std::size_t ids[4]) const
  {
    int support[4], support_count = 0, constraints[3], constraint_count = 0;
    bool on_face[4] = {false, false, false, false};
    for (int i = 0; i < 3; ++i) {
      if (v.planes[i] < 4)
        on_face[v.planes[i]] = true;
      else if (constraint_count == 0 || constraints[constraint_count - 1] != v.planes[i] - 4)
        constraints[constraint_count++] = v.planes[i] - 4;
    }
    for (int q = 0; q < 4; ++q)
      if (!on_face[q]) support[support_count++] = q;
    if (constraint_count != support_count - 1) return;    // degenerate: keep interpolated weights
    sort_small(support, support_count, [&](int a, int b) { return ids[a] < ids[b]; });

    // unknowns lambda_j over the support: sum lambda = 1, sum lambda_j value_c(j) = 0
    const int n = support_count;
    double a[4][5];
    for (int j = 0; j < n; ++j) a[0][j] = 1.0;
    a[0][n] = 1.0;
    for (int r = 1; r < n; ++r) {
      for (int j = 0; j < n; ++j) a[r][j] = value(constraints[r - 1], ids[support[j]]);
      a[r][n] = 0.0;
    }
    // Gaussian elimination with partial pivoting, in a fixed order
    for (int col = 0; col < n; ++col) {
      int pivot = col;
      for (int r = col + 1; r < n; ++r)
        if (std::abs(a[r][col]) > std::abs(a[pivot][col])) pivot = r;
      if (std::abs(a[pivot][col]) < 1e-300) return;
      if (pivot != col)
        for (int j = 0; j <= n; ++j) std::swap(a[pivot][j], a[col][j]);
      for (int r = col + 1; r < n; ++r) {
        const double factor = a[r][col] / a[col][col];
        for (int j = col; j <= n; ++j) a[r][j] -= factor * a[col][j];
      }
    }
    double lambda[4];
    for (int r = n - 1; r >= 0; --r) {
      double sum = a[r][n];
      for (int j = r + 1; j < n; ++j) sum -= a[r][j] * lambda[j];
      lambda[r] = sum / a[r][r];
    }
    for (int j = 0; j < n; ++j)
      if (!(lambda[j] >= -1e-9 && lambda[j] <= 1.0 + 1e-9))
        return;    // outside: numerically degenerate
    for (int q = 0; q < 4; ++q) v.w[q] = 0.0;
    for (int j = 0; j < n; ++j) v.w[support[j]] = lambda[j];
  }

  std::uint32_t global_vertex(const PVertex &v, const std::size_t ids[4])
  {
    VertexKey key{{0, 0}, 0};
    std::size_t support[4];
    int support_count = 0;
    bool on_face[4] = {false, false, false, false};
    std::uint64_t constraints = 0;
    int shift = 0;
    for (int i = 0; i < 3; ++i) {
      if (v.planes[i] < 4) {
        on_face[v.planes[i]] = true;
      } else {
        constraints |= static_cast<std::uint64_t>(v.planes[i] - 3)
                       << shift;    // 1-based, 6 bits each
        shift += 6;
      }
    }
    for (int q = 0; q < 4; ++q)
      if (!on_face[q]) support[support_count++] = ids[q];
    sort_small(support, support_count, [](std::size_t a, std::size_t b) { return a < b; });
    // grid ids are below 2^32 (checked when the grid is made): pack two per word
    for (int i = 0; i < support_count; ++i)
      key.ids[i / 2] |= static_cast<std::uint64_t>(support[i]) << (32 * (i % 2));
    key.rest = constraints | static_cast<std::uint64_t>(support_count) << 60;

    const auto [it, inserted] =
        vertices_.emplace(key, static_cast<std::uint32_t>(mesh_.vertices.size()));
    if (inserted) {
      Vec3 position{0, 0, 0};
      for (int q = 0; q < 4; ++q)
        if (v.w[q] != 0.0) position = position + v.w[q] * grid_.point(ids[q]);
      // round to float now: the checks then see exactly what STL and 3MF will store
      mesh_.vertices.push_back(
          {float_rounded(position[0]), float_rounded(position[1]), float_rounded(position[2])});
    }
    return it->second;
  }

  const Grid &grid_;
  const std::vector<std::vector<double>> &values_;
  int face_loops_[6][4][3];
  Polytope polytope_;
  TriangleMesh mesh_;
  std::unordered_map<VertexKey, std::uint32_t, VertexKeyHash> vertices_;
  std::size_t boundary_tets_ = 0;
};

// Where two constraint surfaces cross close to a grid edge, a vertex on that edge and a vertex
// of their intersection can land a few float steps apart or on the same float point: tiny
// triangles whose orientation rounding decides, which then fold into their neighbours.
// Edges shorter than `min_length` are collapsed, shortest first, when the link condition holds
// (the surface stays a manifold) and no triangle around them turns over or degenerates.
void collapse_tiny_edges(TriangleMesh &mesh, double min_length)
{
  const double min2 = min_length * min_length;
  auto length2 = [&](std::uint32_t a, std::uint32_t b) {
    const auto &p = mesh.vertices[a], &q = mesh.vertices[b];
    return (p[0] - q[0]) * (p[0] - q[0]) + (p[1] - q[1]) * (p[1] - q[1]) +
           (p[2] - q[2]) * (p[2] - q[2]);
  };
  std::vector<std::pair<std::uint32_t, std::uint32_t>> short_edges;
  for (const auto &t : mesh.triangles)
    for (int k = 0; k < 3; ++k)
      if (t[k] < t[(k + 1) % 3] && length2(t[k], t[(k + 1) % 3]) <= min2)
        short_edges.push_back({t[k], t[(k + 1) % 3]});
  if (short_edges.empty()) return;
  std::sort(short_edges.begin(), short_edges.end(), [&](const auto &e, const auto &f) {
    return length2(e.first, e.second) < length2(f.first, f.second);
  });
  auto normal = [&](const std::array<std::uint32_t, 3> &t) {
    const auto &a = mesh.vertices[t[0]], &b = mesh.vertices[t[1]], &c = mesh.vertices[t[2]];
    return cross(Vec3{b[0] - a[0], b[1] - a[1], b[2] - a[2]},
                 Vec3{c[0] - a[0], c[1] - a[1], c[2] - a[2]});
  };

  // triangles around the vertices concerned
  std::unordered_map<std::uint32_t, std::vector<std::uint32_t>> around;
  for (const auto &[a, b] : short_edges) around[a], around[b];
  for (std::uint32_t f = 0; f < mesh.triangles.size(); ++f)
    for (std::uint32_t v : mesh.triangles[f])
      if (auto it = around.find(v); it != around.end()) it->second.push_back(f);
  std::vector<bool> removed(mesh.triangles.size(), false);
  auto neighbours = [&](std::uint32_t v) {
    std::vector<std::uint32_t> out;
    for (std::uint32_t f : around[v])
      if (!removed[f])
        for (std::uint32_t w : mesh.triangles[f])
          if (w != v) out.push_back(w);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  };
  for (auto [a, b] : short_edges) {
    // the edge may have gone with an earlier collapse
    std::vector<std::uint32_t> shared;
    for (std::uint32_t f : around[a])
      if (!removed[f] && std::count(mesh.triangles[f].begin(), mesh.triangles[f].end(), b))
        shared.push_back(f);
    if (shared.size() != 2) continue;
    // link condition: a and b have exactly the two opposite vertices as common neighbours
    const auto na = neighbours(a), nb = neighbours(b);
    std::vector<std::uint32_t> common;
    std::set_intersection(na.begin(), na.end(), nb.begin(), nb.end(), std::back_inserter(common));
    if (common.size() != 2) continue;
    // the triangles that keep b must not turn over or degenerate when b moves onto a
    bool keeps_shape = true;
    for (std::uint32_t f : around[b]) {
      if (removed[f] || std::count(shared.begin(), shared.end(), f)) continue;
      auto moved = mesh.triangles[f];
      for (auto &v : moved)
        if (v == b) v = a;
      const Vec3 before = normal(mesh.triangles[f]), after = normal(moved);
      if (!(dot(before, after) > 0.0)) keeps_shape = false;
    }
    if (!keeps_shape) continue;
    for (std::uint32_t f : shared) removed[f] = true;
    for (std::uint32_t f : around[b]) {
      if (removed[f]) continue;
      for (auto &v : mesh.triangles[f])
        if (v == b) v = a;
      around[a].push_back(f);
      for (std::uint32_t w : mesh.triangles[f])
        if (auto it = around.find(w); it != around.end() && w != a && w != b)
          it->second.push_back(f);
    }
    around[b].clear();
  }
  std::vector<std::array<std::uint32_t, 3>> kept;
  kept.reserve(mesh.triangles.size());
  for (std::uint32_t f = 0; f < mesh.triangles.size(); ++f)
    if (!removed[f]) kept.push_back(mesh.triangles[f]);
  mesh.triangles = std::move(kept);
  drop_unused_vertices(mesh);
}

}    // namespace

TriangleMesh mesh_solid(const Solid &solid, double edge, std::size_t max_points, MesherStats *stats,
                        const std::function<void(double)> &progress, int variant)
{
  if (!(edge > 0.0)) throw std::invalid_argument("mesher: edge length must be positive");
  Grid grid;
  grid.h = edge;
  // Two cells of margin keep the grid's outer points outside the solid. Fractional offsets of
  // the grid against the bounds, different on each axis, keep axis-aligned planes of the form
  // off the grid points, and their edges and corners off the cubes' diagonal split planes.
  constexpr double kOffsets[3][3] = {{0.381966011250105, 0.271828182845905, 0.141421356237310},
                                     {0.618033988749895, 0.718281828459045, 0.414213562373095},
                                     {0.236067977499790, 0.577215664901533, 0.732050807568877}};
  const double *kOffset = kOffsets[static_cast<std::size_t>(variant) % 3];
  std::size_t total = 1;
  for (int a = 0; a < 3; ++a) {
    grid.origin[a] = solid.bounds.lo[a] - (2.0 + kOffset[a]) * edge;
    grid.n[a] =
        static_cast<std::size_t>(std::ceil((solid.bounds.hi[a] - grid.origin[a]) / edge)) + 3;
    total *= grid.n[a];
  }
  if (total > max_points || total >= (1ULL << 32))
    throw std::length_error("a grid of " + std::to_string(total) + " points at edge length " +
                            std::to_string(edge) + " mm exceeds the limit of " +
                            std::to_string(std::min<std::size_t>(max_points, (1ULL << 32) - 1)));

  // Sample every constraint, in slabs of z on all cores. Values too close to zero are pushed off
  // it (keeping their sign): surface vertices then stay clear of grid points, so no sliver
  // triangles come out that float rounding could fold.
  const auto start = Clock::now();
  std::vector<std::vector<double>> values(solid.constraints.size(), std::vector<double>(total));
  const double nudge = 1e-3 * edge;
  parallel_chunks(grid.n[2], 1, [&](std::size_t begin, std::size_t end, unsigned) {
    for (std::size_t k = begin; k < end; ++k)
      for (std::size_t j = 0; j < grid.n[1]; ++j)
        for (std::size_t i = 0; i < grid.n[0]; ++i) {
          const Vec3 p = grid.point(i, j, k);
          const std::size_t id = grid.id(i, j, k);
          for (std::size_t c = 0; c < solid.constraints.size(); ++c) {
            double v = solid.constraints[c].value(p);
            if (std::abs(v) < nudge || !std::isfinite(v)) v = (v < 0.0) ? -nudge : nudge;
            values[c][id] = v;
          }
        }
  });
  const double sample_seconds = seconds_since(start);

  // Extract in slabs of a fixed number of cube layers on all cores, then join the slabs: a
  // vertex on the grid layer between two slabs has the same key in both. The slabs do not depend
  // on the number of cores, so neither does the mesh.
  const auto extract_start = Clock::now();
  constexpr std::size_t kSlab = 6;
  const std::size_t layers = grid.n[2] - 1, slabs = (layers + kSlab - 1) / kSlab;
  std::vector<std::unique_ptr<Extractor>> parts(slabs);
  std::atomic<std::size_t> done{0};
  std::mutex progress_mutex;
  parallel_chunks(slabs, 1, [&](std::size_t begin, std::size_t end, unsigned) {
    for (std::size_t s = begin; s < end; ++s) {
      parts[s] = std::make_unique<Extractor>(grid, values);
      parts[s]->run(s * kSlab, std::min(layers, (s + 1) * kSlab));
      const std::size_t finished = ++done;
      if (progress) {
        std::lock_guard<std::mutex> lock(progress_mutex);
        progress(static_cast<double>(finished) / static_cast<double>(slabs));
      }
    }
  });
  TriangleMesh mesh;
  std::size_t boundary_tetrahedra = 0;
  std::vector<std::uint32_t> global, previous_global;
  for (std::size_t s = 0; s < slabs; ++s) {
    Extractor &part = *parts[s];
    boundary_tetrahedra += part.boundary_tetrahedra();
    const TriangleMesh &local = part.mesh();
    global.assign(local.vertices.size(), UINT32_MAX);
    if (s > 0)
      part.for_each_vertex_in_layer(s * kSlab, [&](std::uint32_t index, const VertexKey &key) {
        const std::uint32_t below = parts[s - 1]->find(key);
        if (below != UINT32_MAX) global[index] = previous_global[below];
      });
    for (std::uint32_t v = 0; v < local.vertices.size(); ++v)
      if (global[v] == UINT32_MAX) {
        global[v] = static_cast<std::uint32_t>(mesh.vertices.size());
        mesh.vertices.push_back(local.vertices[v]);
      }
    for (const auto &t : local.triangles)
      mesh.triangles.push_back({global[t[0]], global[t[1]], global[t[2]]});
    if (s > 0) parts[s - 1]->release();
    std::swap(global, previous_global);
  }
  if (slabs > 0) parts[slabs - 1]->release();
  // tiny: a few float steps at the part's size, or far below the grid spacing
  double largest = 0.0;
  for (const auto &v : mesh.vertices)
    for (double x : v) largest = std::max(largest, std::abs(x));
  collapse_tiny_edges(mesh, std::max(1e-5 * edge, 2.0 * largest * 0x1p-23));
  if (stats) {
    stats->grid_points = total;
    stats->boundary_tetrahedra = boundary_tetrahedra;
    stats->sample_seconds = sample_seconds;
    stats->extract_seconds = seconds_since(extract_start);
  }
  return mesh;
}

}    // namespace cephalo::meshing::detail
