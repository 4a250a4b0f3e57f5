// The embedded design interpreter: its pieces, and a suite of design texts each interpreted,
// checked against what the text says, built into a part and measured on the mesh.
#define BOOST_TEST_MODULE interpreter
#include <boost/test/unit_test.hpp>

#include "cephalo/agents/interpreter.h"
#include "cephalo/agents/quantity.h"
#include "cephalo/meshing/build.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <map>
#include <numeric>
#include <set>
#include <sstream>
#include <unordered_map>

using namespace cephalo;
using agents::interpret_design;
using agents::InterpretError;
using nlohmann::json;

namespace {

constexpr double kPi = 3.14159265358979323846;

json load_prompts()
{
  std::ifstream in(CEPHALO_PROMPTS);
  BOOST_TEST_REQUIRE(in.good(), "cannot read " << CEPHALO_PROMPTS);
  return json::parse(in);
}

json spec_json(const meshing::DesignSpec &spec)
{
  return json::parse(meshing::design_spec_to_json(spec));
}

// "layers[1].tpms.cell_size" in the spec's JSON; null when absent.
json at_path(const json &root, const std::string &path)
{
  const json *node = &root;
  std::size_t pos = 0;
  while (pos < path.size()) {
    std::size_t end = path.find_first_of(".[", pos);
    if (end == std::string::npos) end = path.size();
    const std::string key = path.substr(pos, end - pos);
    if (!key.empty()) {
      if (!node->is_object() || !node->contains(key)) return nullptr;
      node = &(*node)[key];
    }
    pos = end;
    if (pos < path.size() && path[pos] == '[') {
      const std::size_t close = path.find(']', pos);
      const std::size_t index = std::stoul(path.substr(pos + 1, close - pos - 1));
      if (!node->is_array() || index >= node->size()) return nullptr;
      node = &(*node)[index];
      pos = close + 1;
    }
    if (pos < path.size() && path[pos] == '.') ++pos;
  }
  return *node;
}

bool near_value(double a, double b)
{
  return std::abs(a - b) <= 1e-6 * std::max(1.0, std::abs(b));
}

bool same(const json &actual, const json &expected)
{
  if (expected.is_number() && actual.is_number())
    return near_value(actual.get<double>(), expected.get<double>());
  if (expected.is_array() && actual.is_array()) {
    if (expected.size() != actual.size()) return false;
    for (std::size_t i = 0; i < expected.size(); ++i)
      if (!same(actual[i], expected[i])) return false;
    return true;
  }
  return actual == expected;
}

void collect_numbers(const json &node, std::vector<double> &out)
{
  if (node.is_number()) out.push_back(node.get<double>());
  if (node.is_structured())
    for (const auto &item : node) collect_numbers(item, out);
}

// Whether a number of the text shows in the spec: as written (in spec units), halved (a
// diameter), doubled (a radius), as 1 - x (a porosity), as a count of cells across the width,
// as a honeycomb's density, or as a count of stacked layers.
bool honoured(const agents::Quantity &q, const meshing::DesignSpec &spec)
{
  std::vector<double> values;
  collect_numbers(spec_json(spec), values);
  const double v = q.value;
  for (double n : values)
    for (double c : {v, v / 2.0, 2.0 * v, 1.0 - v})
      if (near_value(n, c)) return true;
  for (const auto &layer : spec.layers) {
    const auto &p = layer.pattern;
    double cell = p.family == meshing::Family::Tpms        ? p.tpms.cell_size
                  : p.family == meshing::Family::Honeycomb ? p.honeycomb.cell_size
                                                           : 0.0;
    if (cell > 0.0 && near_value(spec.form.size[0] / cell, v)) return true;
    if (p.family == meshing::Family::Honeycomb) {
      const double k = 1.0 - p.honeycomb.wall_thickness / p.honeycomb.cell_size;
      if (std::abs(1.0 - k * k - v) < 1e-3) return true;
    }
  }
  std::map<meshing::Family, int> per_family;
  for (const auto &layer : spec.layers) ++per_family[layer.pattern.family];
  for (const auto &[family, count] : per_family)
    if (spec.layers.size() > 1 && near_value(count, v)) return true;
  return false;
}

// ------------------------------------------------------------------------------------------
// Measurements on a mesh

using Vec2 = std::array<double, 2>;
struct Segment2 {
  Vec2 a, b;
};

// The cross-section of a closed mesh with the plane x[axis] = at: oriented segments (material on
// the left), and the closed loops they form with their signed areas (outer boundaries positive).
struct Slice {
  std::vector<Segment2> segments;
  std::vector<double> loop_areas;
};

Slice slice(const meshing::TriangleMesh &mesh, int axis, double at)
{
  const int u = (axis + 1) % 3, v = (axis + 2) % 3;
  Slice out;
  using Key = std::pair<std::uint32_t, std::uint32_t>;
  std::map<Key, std::pair<Key, Segment2>> next;    // edge where a segment starts -> where it ends
  auto crossing = [&](std::uint32_t i, std::uint32_t j) {
    const auto &p = mesh.vertices[i], &q = mesh.vertices[j];
    const double t = (at - p[axis]) / (q[axis] - p[axis]);
    return Vec2{p[u] + t * (q[u] - p[u]), p[v] + t * (q[v] - p[v])};
  };
  for (const auto &tri : mesh.triangles) {
    std::array<bool, 3> above{};
    for (int k = 0; k < 3; ++k) above[k] = mesh.vertices[tri[k]][axis] >= at;
    if (above[0] == above[1] && above[1] == above[2]) continue;
    std::vector<Key> edges;
    for (int k = 0; k < 3; ++k) {
      const std::uint32_t a = tri[k], b = tri[(k + 1) % 3];
      if (above[k] != above[(k + 1) % 3]) edges.push_back({std::min(a, b), std::max(a, b)});
    }
    Segment2 s{crossing(edges[0].first, edges[0].second),
               crossing(edges[1].first, edges[1].second)};
    // material on the left: the direction of e_axis x n
    const auto &A = mesh.vertices[tri[0]], &B = mesh.vertices[tri[1]], &C = mesh.vertices[tri[2]];
    const std::array<double, 3> e1{B[0] - A[0], B[1] - A[1], B[2] - A[2]},
        e2{C[0] - A[0], C[1] - A[1], C[2] - A[2]};
    const std::array<double, 3> n{e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2],
                                  e1[0] * e2[1] - e1[1] * e2[0]};
    // e_axis x n projected onto (u, v): (-n[v], n[u])
    const double du = -n[v], dv = n[u];
    if ((s.b[0] - s.a[0]) * du + (s.b[1] - s.a[1]) * dv < 0.0) {
      std::swap(s.a, s.b);
      std::swap(edges[0], edges[1]);
    }
    out.segments.push_back(s);
    next[edges[0]] = {edges[1], s};
  }
  while (!next.empty()) {
    auto it = next.begin();
    const Key start = it->first;
    Key at_key = start;
    double area = 0.0;
    for (std::size_t guard = 0; guard < 10000000; ++guard) {
      auto found = next.find(at_key);
      if (found == next.end()) break;
      const Segment2 s = found->second.second;
      const Key to = found->second.first;
      area += 0.5 * (s.a[0] * s.b[1] - s.b[0] * s.a[1]);
      next.erase(found);
      at_key = to;
      if (at_key == start) break;
    }
    out.loop_areas.push_back(area);
  }
  return out;
}

// Fibre direction of a Bouligand ply: the length-weighted mean of the segment directions
// (angles doubled, so that a line and its reverse agree), in degrees from x, 0..180.
double dominant_angle(const Slice &s)
{
  double c = 0.0, d = 0.0;
  for (const auto &g : s.segments) {
    const double dx = g.b[0] - g.a[0], dy = g.b[1] - g.a[1];
    const double len = std::hypot(dx, dy), a = std::atan2(dy, dx);
    c += len * std::cos(2.0 * a);
    d += len * std::sin(2.0 * a);
  }
  double angle = 0.5 * std::atan2(d, c) * 180.0 / kPi;
  return angle < 0.0 ? angle + 180.0 : angle;
}

double angle_difference(double a, double b)
{
  double d = std::fmod(std::abs(a - b), 180.0);
  return std::min(d, 180.0 - d);
}

// Volumes of the shells of a mesh (signed: cavities negative).
std::vector<double> shell_volumes(const meshing::TriangleMesh &mesh)
{
  std::vector<std::uint32_t> parent(mesh.vertices.size());
  std::iota(parent.begin(), parent.end(), 0u);
  auto root = [&](std::uint32_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  };
  for (const auto &t : mesh.triangles) {
    parent[root(t[1])] = root(t[0]);
    parent[root(t[2])] = root(t[0]);
  }
  std::unordered_map<std::uint32_t, double> volume;
  for (const auto &t : mesh.triangles) {
    const auto &a = mesh.vertices[t[0]], &b = mesh.vertices[t[1]], &c = mesh.vertices[t[2]];
    volume[root(t[0])] += (a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0]) +
                           a[2] * (b[0] * c[1] - b[1] * c[0])) /
                          6.0;
  }
  std::vector<double> out;
  for (const auto &[r, v] : volume) out.push_back(v);
  return out;
}

double form_volume(const meshing::Form &f)
{
  const double a = f.size[0] / 2, b = f.size[1] / 2, h = f.size[2];
  switch (f.shape) {
  case meshing::Shape::Box:
    return f.size[0] * f.size[1] * f.size[2];
  case meshing::Shape::Cylinder:
    return kPi * a * b * h;
  case meshing::Shape::Sphere:
    return 4.0 / 3.0 * kPi * a * b * h / 2;
  case meshing::Shape::Cone:
    return kPi * a * b * h / 3;
  case meshing::Shape::Prism:
    return 0.5 * f.sides * a * a * std::sin(2 * kPi / f.sides) * (b / a) * h;
  }
  return 0.0;
}

// The bounding box the part should have: the outer form's boundary, copied by the array,
// scaled, rotated and moved as the transform says.
std::array<double, 3> expected_extent(const meshing::DesignSpec &spec)
{
  std::vector<std::array<double, 3>> points;
  const auto &f = spec.form;
  const double a = f.size[0] / 2, b = f.size[1] / 2, h = f.size[2];
  const int n = 720;
  switch (f.shape) {
  case meshing::Shape::Box:
    for (int i = 0; i < 8; ++i)
      points.push_back({(i & 1) * f.size[0], ((i >> 1) & 1) * f.size[1], ((i >> 2) & 1) * h});
    break;
  case meshing::Shape::Sphere:
    for (int i = 0; i <= 90; ++i)
      for (int j = 0; j < 180; ++j) {
        const double th = kPi * i / 90, ph = 2 * kPi * j / 180;
        points.push_back({a + a * std::sin(th) * std::cos(ph), b + b * std::sin(th) * std::sin(ph),
                          h / 2 + h / 2 * std::cos(th)});
      }
    break;
  case meshing::Shape::Prism:
    // a regular polygon inscribed in the x extent, stretched to the y extent (vertices on x)
    for (int i = 0; i < f.sides; ++i) {
      const double t = 2 * kPi * i / f.sides;
      points.push_back({a + a * std::cos(t), b + b * std::sin(t), 0.0});
      points.push_back({a + a * std::cos(t), b + b * std::sin(t), h});
    }
    break;
  default:
    for (int i = 0; i < n; ++i) {
      const double t = 2 * kPi * i / n;
      points.push_back({a + a * std::cos(t), b + b * std::sin(t), 0.0});
      if (f.shape != meshing::Shape::Cone)
        points.push_back({a + a * std::cos(t), b + b * std::sin(t), h});
    }
    if (f.shape == meshing::Shape::Cone) points.push_back({a, b, h});
  }
  std::vector<std::array<double, 3>> copies;
  for (int i = 0; i < spec.array.count[0]; ++i)
    for (int j = 0; j < spec.array.count[1]; ++j)
      for (int k = 0; k < spec.array.count[2]; ++k)
        for (const auto &p : points) {
          std::array<double, 3> q = p;
          const int idx[3] = {i, j, k};
          for (int ax = 0; ax < 3; ++ax) {
            const double pitch = spec.array.spacing[ax] > 0 ? spec.array.spacing[ax] : f.size[ax];
            q[ax] += idx[ax] * pitch;
          }
          copies.push_back(q);
        }
  const auto &t = spec.transform;
  const double k = kPi / 180.0;
  const double cx = std::cos(t.rotate[0] * k), sx = std::sin(t.rotate[0] * k),
               cy = std::cos(t.rotate[1] * k), sy = std::sin(t.rotate[1] * k),
               cz = std::cos(t.rotate[2] * k), sz = std::sin(t.rotate[2] * k);
  const double R[3][3] = {{cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx},
                          {sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx},
                          {-sy, cy * sx, cy * cx}};
  std::array<double, 3> lo{1e300, 1e300, 1e300}, hi{-1e300, -1e300, -1e300};
  for (const auto &p : copies) {
    const std::array<double, 3> s{p[0] * t.scale[0], p[1] * t.scale[1], p[2] * t.scale[2]};
    for (int i = 0; i < 3; ++i) {
      const double x = R[i][0] * s[0] + R[i][1] * s[1] + R[i][2] * s[2];
      lo[i] = std::min(lo[i], x);
      hi[i] = std::max(hi[i], x);
    }
  }
  return {hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]};
}

// ------------------------------------------------------------------------------------------
// One prompt: interpretation checks, the build, and measurements on the mesh

struct PromptResult {
  std::string text;
  bool built = false;
  std::size_t triangles = 0;
  double seconds = 0.0;
  std::string reason;
};

void check_interpretation(const json &prompt, const agents::Interpretation &result)
{
  const std::string text = prompt["text"];
  const json spec = spec_json(result.spec);
  for (const auto &[path, expected] : prompt["expect"].items()) {
    json actual;
    if (path == "layers")
      actual = result.spec.layers.size();
    else if (path == "family" && spec.contains("layers"))
      actual = "(stack)";
    else
      actual = at_path(spec, path);
    BOOST_TEST(same(actual, expected),
               text << ": " << path << " is " << actual.dump() << ", expected " << expected.dump());
  }
  // every number honoured, and tied to a reading of the text
  for (const auto &m : agents::find_quantities(text)) {
    const std::string written = text.substr(m.begin, m.end - m.begin);
    BOOST_TEST(honoured(m.quantity, result.spec),
               text << ": the number \"" << written << "\" does not show in the spec");
    const bool read = std::any_of(
        result.understood.begin(), result.understood.end(),
        [&](const agents::Reading &r) { return r.source.find(written) != std::string::npos; });
    BOOST_TEST(read, text << ": no reading names \"" << written << "\"");
  }
  std::string unused;
  for (const auto &u : result.unused) unused += " " + u;
  BOOST_TEST(result.unused.empty(), text << ": words not used:" << unused);
  // what the interpreter chose itself prints
  if (!prompt.value("user_numbers_unprintable", false))
    BOOST_CHECK_NO_THROW(meshing::check_printable_spec(result.spec));
}

void check_geometry(const json &prompt, const meshing::DesignSpec &spec,
                    const meshing::BuiltPart &part)
{
  const std::string text = prompt["text"];
  // outer dimensions after the transform, on every part
  // (never beyond the form; short of it by at most a wall and a gap, or by part of a cell where
  // a foam's walls meet a curved form or a cone's tip holds no whole wall)
  const auto expected = expected_extent(spec);
  bool open_form = spec.form.shape == meshing::Shape::Cone;
  for (const auto &layer : spec.layers)
    open_form = open_form || (layer.pattern.family == meshing::Family::Cellular &&
                              spec.form.shape != meshing::Shape::Box);
  for (int a = 0; a < 3; ++a) {
    const double e = part.bbox_max[a] - part.bbox_min[a], E = expected[a];
    double shortfall = std::max(1.6, (open_form ? 0.2 : 0.05) * E);
    // nacre's tablets stay a mortar gap inside the form on every side
    const auto &first = spec.pattern();
    if (first.family == meshing::Family::Nacre &&
        first.nacre.bodies == meshing::NacreParams::Bodies::Tablets)
      shortfall += 2.0 * first.nacre.gap;
    BOOST_TEST(e <= E + 0.05 + 0.002 * E, text << ": extent "
                                               << "xyz"[a] << " " << e << " mm, the form's " << E);
    BOOST_TEST(e >= E - shortfall, text << ": extent "
                                        << "xyz"[a] << " " << e << " mm, the form's " << E);
  }
  const json geometry = prompt.value("geometry", json::object());
  if (geometry.contains("bbox"))
    for (int a = 0; a < 3; ++a)
      BOOST_TEST(
          std::abs(expected[a] - geometry["bbox"][a].get<double>()) < 0.01 * expected[a] + 0.01,
          text << ": the text's outer size along "
               << "xyz"[a] << " is " << geometry["bbox"][a] << " mm, the spec's " << expected[a]);
  const auto &pattern = spec.pattern();
  const auto &mesh = part.bodies.front().mesh;
  const auto &report = part.bodies.front().report;
  if (geometry.contains("tubules")) {
    // each tubule through the block is a handle of its single body
    BOOST_TEST(report.bodies == 1u, text);
    BOOST_TEST(report.genus == geometry["tubules"].get<long>(),
               text << ": genus " << report.genus << ", tubules " << geometry["tubules"]);
  }
  if (geometry.contains("cell_size") && pattern.family == meshing::Family::Tpms) {
    // a TPMS sheet's area per volume fixes its cell: two faces parallel to the minimal surface
    // at half the wall t, each of area A a^2 + 2 pi chi (t/2)^2 per cubic cell (A the minimal
    // surface's area per unit cell, chi its Euler characteristic per cell); the faces cut by
    // the form (the solid fraction of the form's surface) are taken off first
    BOOST_TEST_REQUIRE((pattern.tpms.kind == meshing::TpmsParams::Kind::Sheet &&
                        !pattern.tpms.relative_density && !pattern.tpms.grading));
    const auto surface = pattern.tpms.surface;
    const double A = surface == meshing::TpmsParams::Surface::Gyroid     ? 3.0919
                     : surface == meshing::TpmsParams::Surface::SchwarzP ? 2.3451
                                                                         : 3.8377;
    const double chi = surface == meshing::TpmsParams::Surface::Gyroid     ? -8.0
                       : surface == meshing::TpmsParams::Surface::SchwarzP ? -4.0
                                                                           : -16.0;
    const double V = form_volume(spec.form);
    const double rho = report.volume / V;
    const auto &s = spec.form.size;
    const double faces = report.area - rho * 2.0 * (s[0] * s[1] + s[1] * s[2] + s[0] * s[2]);
    const double h = 0.5 * pattern.tpms.wall_thickness;
    auto area_at = [&](double a) {
      return V / (a * a * a) * (2.0 * A * a * a + 4.0 * kPi * chi * h * h);
    };
    double lo = h * std::sqrt(6.0 * kPi * -chi / A), hi = 100.0;    // the area falls from lo on
    for (int i = 0; i < 100; ++i) {
      const double mid = 0.5 * (lo + hi);
      (area_at(mid) > faces ? lo : hi) = mid;
    }
    const double a = 0.5 * (lo + hi);
    const double want = geometry["cell_size"];
    BOOST_TEST(std::abs(a / want - 1.0) < 0.15,
               text << ": measured cell " << a << " mm, expected " << want);
  }
  if (geometry.contains("cell_size") && pattern.family == meshing::Family::Honeycomb) {
    // the closed cells of a slice through the core are hexagons of (cell - wall) across flats
    const Slice s =
        slice(mesh, 2, part.bbox_min[2] + 0.5 * (part.bbox_max[2] - part.bbox_min[2]) + 1e-4);
    std::vector<double> holes;
    for (double area : s.loop_areas)
      if (area < 0.0) holes.push_back(-area);
    BOOST_TEST_REQUIRE(!holes.empty(), text << ": no closed cell in the slice");
    std::nth_element(holes.begin(), holes.begin() + holes.size() / 2, holes.end());
    const double inner = std::sqrt(2.0 * holes[holes.size() / 2] / std::sqrt(3.0));
    const double d = inner + pattern.honeycomb.wall_thickness;
    const double want = geometry["cell_size"];
    BOOST_TEST(std::abs(d / want - 1.0) < 0.05,
               text << ": measured cell " << d << " mm, expected " << want);
  }
  if (geometry.contains("plies")) {
    // each ply's fibres run at ply x rotation: slices through the middle of each ply
    const int plies = geometry["plies"];
    const double height = part.bbox_max[2] - part.bbox_min[2];
    const double ply = height / plies;
    for (int k = 0; k < plies; ++k) {
      const Slice s = slice(mesh, 2, part.bbox_min[2] + (k + 0.5) * ply + 1e-4);
      const double angle = dominant_angle(s);
      const double want = std::fmod(k * pattern.bouligand.rotation, 180.0);
      BOOST_TEST(angle_difference(angle, want) < 4.0,
                 text << ": ply " << k << " fibres at " << angle << " degrees, expected " << want);
    }
  }
  if (geometry.contains("tablet_length")) {
    // the largest tablet is a whole one: length^2 x thickness
    const auto &tablets = part.bodies.front();
    BOOST_TEST_REQUIRE(tablets.name == "tablets", text);
    const auto volumes = shell_volumes(tablets.mesh);
    const double biggest = *std::max_element(volumes.begin(), volumes.end());
    const double L = std::sqrt(biggest / pattern.nacre.tablet_thickness);
    const double want = geometry["tablet_length"];
    BOOST_TEST(std::abs(L / want - 1.0) < 0.05,
               text << ": measured tablet " << L << " mm, expected " << want);
  }
}

std::string option(const std::string &name)
{
  const auto &suite = boost::unit_test::framework::master_test_suite();
  for (int i = 1; i + 1 < suite.argc; ++i)
    if (suite.argv[i] == "--" + name) return suite.argv[i + 1];
  return {};
}

void write_results(const std::string &group, const std::vector<PromptResult> &results)
{
  json out = json::array();
  for (const auto &r : results)
    out.push_back({{"text", r.text},
                   {"built", r.built},
                   {"triangles", r.triangles},
                   {"seconds", r.seconds},
                   {"reason", r.reason}});
  std::ofstream("interpreter_results_" + group + ".json") << out.dump(1) << "\n";
}

std::string row(const PromptResult &r)
{
  std::ostringstream line;
  line << std::left << std::setw(5) << (r.built ? "pass" : "FAIL") << std::right << std::setw(10)
       << r.triangles << std::setw(8) << std::fixed << std::setprecision(2) << r.seconds << "  "
       << r.text;
  if (!r.built) line << "  [" << r.reason << "]";
  return line.str();
}

}    // namespace

// ------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(pieces)

BOOST_AUTO_TEST_CASE(family_names_and_synonyms_name_the_same_family)
{
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"Bouligand", "bouligand"},
      {"twisted plywood", "bouligand"},
      {"helical plies", "bouligand"},
      {"osteon", "tubular"},
      {"a tubular part", "tubular"},
      {"something bone-like", "tubular"},
      {"foam", "cellular"},
      {"a cellular solid", "cellular"},
      {"Voronoi cells", "cellular"},
      {"honeycomb", "honeycomb"},
      {"gyroid", "tpms"},
      {"TPMS", "tpms"},
      {"Schwarz P", "tpms"},
      {"diamond", "tpms"},
      {"nacre", "nacre"},
      {"brick and mortar", "nacre"},
      {"spider web", "spider_web"}};
  for (const auto &[text, family] : cases)
    BOOST_TEST(spec_json(interpret_design(text).spec)["family"] == family, text);
  BOOST_TEST(spec_json(interpret_design("Schwarz P").spec)["tpms"]["surface"] == "schwarz_p");
  BOOST_TEST(spec_json(interpret_design("a diamond lattice").spec)["tpms"]["surface"] == "diamond");
}

BOOST_AUTO_TEST_CASE(lengths_in_any_unit_become_millimetres)
{
  BOOST_TEST(interpret_design("a gyroid with 0.5 cm cells").spec.pattern().tpms.cell_size == 5.0);
  BOOST_TEST(interpret_design("a gyroid with 800 µm walls").spec.pattern().tpms.wall_thickness ==
                 0.8,
             boost::test_tools::tolerance(1e-12));
  BOOST_TEST(interpret_design("a 3 cm gyroid cube").spec.form.size[2] == 30.0);
  BOOST_TEST(interpret_design("five plies of twisted plywood").spec.pattern().bouligand.layers ==
             5);
}

BOOST_AUTO_TEST_CASE(qualitative_words_take_their_documented_values)
{
  // the values of DESIGN_LANGUAGE.md's table (levels -3, -2, +2 of wall thickness and cells)
  BOOST_TEST(interpret_design("a gyroid with very thin walls").spec.pattern().tpms.wall_thickness ==
             0.8);
  BOOST_TEST(interpret_design("a gyroid with thick walls").spec.pattern().tpms.wall_thickness ==
             1.5);
  BOOST_TEST(
      interpret_design("a gyroid with very thick walls").spec.pattern().tpms.wall_thickness == 2.0);
  BOOST_TEST(interpret_design("a fine gyroid").spec.pattern().tpms.cell_size == 4.0);
  BOOST_TEST(interpret_design("a coarse honeycomb").spec.pattern().honeycomb.cell_size == 6.0);
  BOOST_TEST(interpret_design("an osteon with many tubules").spec.pattern().tubular.count == 25);
  BOOST_TEST(interpret_design("an osteon with a few tubules").spec.pattern().tubular.count == 4);
  BOOST_TEST(interpret_design("a very noisy Bouligand").spec.pattern().bouligand.rotation_noise ==
             10.0);
  BOOST_TEST(
      interpret_design("a slightly noisy Bouligand").spec.pattern().bouligand.rotation_noise ==
      2.0);
  const auto dense = interpret_design("a dense gyroid");
  BOOST_TEST(*dense.spec.pattern().tpms.relative_density == 0.55);
  const auto &reading =
      *std::find_if(dense.understood.begin(), dense.understood.end(),
                    [](const agents::Reading &r) { return r.field == "tpms.relative_density"; });
  BOOST_TEST(reading.source == "dense gyroid");
  BOOST_TEST(reading.note.find("level 2") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(every_qualitative_word_gives_a_printable_part)
{
  const char *families[] = {"gyroid", "Schwarz P", "diamond", "honeycomb", "Bouligand",
                            "osteon", "foam",      "nacre",   "spider web"};
  const char *words[] = {"very thin", "thin",        "thick", "very thick", "fine",   "coarse",
                         "very fine", "very coarse", "dense", "very dense", "porous", "very porous",
                         "small",     "large",       "tall",  "short",      "wide",   "many",
                         "few",       "noisy",       "smooth"};
  int tried = 0;
  for (const char *f : families)
    for (const char *w : words) {
      const std::string text = std::string("a ") + w + " " + f;
      try {
        const auto r = interpret_design(text);
        BOOST_CHECK_NO_THROW(meshing::check_printable_spec(r.spec));
        ++tried;
      } catch (const InterpretError &e) {
        BOOST_ERROR(text << ": " << e.what());
      }
    }
  BOOST_TEST(tried == 9 * 21);
}

BOOST_AUTO_TEST_CASE(negations_switch_things_off)
{
  BOOST_TEST(
      interpret_design("twisted plywood without noise").spec.pattern().bouligand.rotation_noise ==
      0.0);
  const auto h =
      interpret_design("honeycomb with face sheets").spec.pattern().honeycomb.face_sheets;
  BOOST_TEST(h.top == 1.0);
  const auto none = interpret_design("honeycomb with no top or bottom layers")
                        .spec.pattern()
                        .honeycomb.face_sheets;
  BOOST_TEST(none.top == 0.0);
  BOOST_TEST(none.bottom == 0.0);
  BOOST_TEST(!interpret_design("a spider web without a frame").spec.pattern().spider_web.frame);
  BOOST_TEST((interpret_design("a foam sphere instead of a cube").spec.form.shape ==
              meshing::Shape::Sphere));
  // the ruled-out structure is not built
  BOOST_TEST(spec_json(interpret_design("a gyroid, not a honeycomb").spec)["family"] == "tpms");
}

BOOST_AUTO_TEST_CASE(texts_with_nothing_to_build_are_refused_with_a_sentence)
{
  for (const char *text : {"", "make it nice", "a blue car"}) {
    try {
      interpret_design(text);
      BOOST_ERROR("accepted: " << text);
    } catch (const InterpretError &e) {
      const std::string what = e.what();
      BOOST_TEST(what.size() > 30u);
      BOOST_TEST(what.back() == '.');
    }
  }
}

BOOST_AUTO_TEST_CASE(contradictions_are_reported_with_both_sources)
{
  try {
    interpret_design("5 mm cells 0.1 mm cells");
    BOOST_ERROR("no family, yet accepted");
  } catch (const InterpretError &) {
  }
  try {
    interpret_design("a gyroid with 5 mm cells and 0.1 mm cells");
    BOOST_ERROR("contradiction accepted");
  } catch (const InterpretError &e) {
    const std::string what = e.what();
    BOOST_TEST(what.find("5 mm cells") != std::string::npos);
    BOOST_TEST(what.find("0.1 mm cells") != std::string::npos);
    BOOST_TEST(what.find("tpms.cell_size") != std::string::npos);
  }
  BOOST_CHECK_THROW(interpret_design("a gyroid cube and a sphere"), InterpretError);
  BOOST_CHECK_THROW(interpret_design("a very noisy Bouligand without noise"), InterpretError);
}

BOOST_AUTO_TEST_CASE(user_numbers_that_cannot_print_are_kept_for_the_loop_to_report)
{
  const auto r = interpret_design("a gyroid with 0.3 mm walls");
  BOOST_TEST(r.spec.pattern().tpms.wall_thickness == 0.3);
  BOOST_CHECK_THROW(meshing::check_printable_spec(r.spec), meshing::SpecError);
  // out of the spec's range: refused, naming the words
  try {
    interpret_design("a gyroid with 0.1 mm cells");
    BOOST_ERROR("accepted");
  } catch (const InterpretError &e) {
    BOOST_TEST(std::string(e.what()).find("0.1 mm cells") != std::string::npos);
  }
  // a number too large to hold is refused, not dropped
  BOOST_CHECK_THROW(interpret_design("a foam with 1e400 mm cells"), InterpretError);
  // a scale that would thin the default walls thickens them instead, and says so
  const auto scaled = interpret_design("a gyroid scaled by 50%");
  BOOST_TEST(scaled.spec.pattern().tpms.wall_thickness == 1.6);
  BOOST_TEST(scaled.spec.pattern().tpms.cell_size == 8.0);
  BOOST_CHECK_NO_THROW(meshing::check_printable_spec(scaled.spec));
}

BOOST_AUTO_TEST_CASE(defaults_are_assumed_aloud_and_unknown_words_reported)
{
  const auto r = interpret_design("a gyroid made of titanium");
  auto assumed = [&](const std::string &field) {
    return std::any_of(r.assumed.begin(), r.assumed.end(),
                       [&](const agents::Reading &a) { return a.field == field; });
  };
  BOOST_TEST(assumed("form.size"));
  BOOST_TEST(assumed("form.shape"));
  BOOST_TEST(assumed("tpms.cell_size"));
  BOOST_TEST_REQUIRE(r.unused.size() == 1u);
  BOOST_TEST(r.unused[0].find("titanium") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_interpretation_as_json_reads_back_as_a_spec)
{
  const json j = agents::interpretation_to_json(interpret_design("a 30 mm honeycomb panel"));
  BOOST_TEST(j.contains("understood"));
  BOOST_TEST(j.contains("assumed"));
  BOOST_TEST(j["unused"].is_array());
  const auto spec = meshing::parse_design_spec(j["spec"].dump());
  BOOST_TEST(spec.form.size[0] == 30.0);
  BOOST_TEST(j["understood"][0].contains("source"));
}

BOOST_AUTO_TEST_CASE(the_design_language_page_is_the_code_s_table)
{
  std::ifstream in(CEPHALO_DESIGN_LANGUAGE);
  BOOST_TEST_REQUIRE(in.good());
  std::stringstream page;
  page << in.rdbuf();
  const std::string text = page.str();
  const std::string begin = "<!-- generated from the interpreter's tables: begin -->\n";
  const std::string end = "<!-- generated: end -->";
  const auto b = text.find(begin), e = text.find(end);
  BOOST_TEST_REQUIRE((b != std::string::npos && e != std::string::npos));
  const std::string generated = agents::design_language_markdown();
  const bool same_text = text.substr(b + begin.size(), e - b - begin.size()) == generated;
  if (!same_text) std::ofstream("DESIGN_LANGUAGE.generated.md") << generated;
  BOOST_TEST(same_text,
             "agents/DESIGN_LANGUAGE.md differs from the code's tables; the tables as "
             "they are now were written to DESIGN_LANGUAGE.generated.md in the test's folder");
}

BOOST_AUTO_TEST_SUITE_END()

// ------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(prompts)

BOOST_AUTO_TEST_CASE(every_prompt_is_interpreted_as_it_says)
{
  const json doc = load_prompts();
  BOOST_TEST(doc["prompts"].size() >= 90u);
  std::map<std::string, int> groups;
  for (const auto &prompt : doc["prompts"]) {
    ++groups[prompt["group"]];
    BOOST_TEST_CONTEXT(prompt["text"].get<std::string>())
    {
      try {
        check_interpretation(prompt, interpret_design(prompt["text"].get<std::string>()));
      } catch (const InterpretError &e) {
        BOOST_ERROR("refused: " << e.what());
      }
    }
  }
  BOOST_TEST(groups.size() >= 8u);
}

BOOST_AUTO_TEST_CASE(texts_with_nothing_to_build_or_contradictions_are_refused)
{
  const json doc = load_prompts();
  for (const auto &text : doc["refused"]) {
    try {
      interpret_design(text.get<std::string>());
      BOOST_ERROR("accepted: \"" << text.get<std::string>() << "\"");
    } catch (const InterpretError &e) {
      BOOST_TEST_MESSAGE("refused \"" << text.get<std::string>() << "\": " << e.what());
    }
  }
}

// Builds the prompts of one group (`-- --group NAME`; all without it) and measures each part.
// A part that fails its build is recorded for the share judged by `share_of_parts_that_pass`.
BOOST_AUTO_TEST_CASE(prompts_build_into_parts_that_match_the_text)
{
  const std::string group = option("group");
  std::vector<PromptResult> results;
  const json doc = load_prompts();
  for (const auto &prompt : doc["prompts"]) {
    if (!group.empty() && prompt["group"] != group) continue;
    PromptResult r;
    r.text = prompt["text"];
    BOOST_TEST_CONTEXT(r.text)
    {
      agents::Interpretation interpretation;
      try {
        interpretation = interpret_design(r.text);
      } catch (const InterpretError &e) {
        BOOST_ERROR("refused: " << e.what());
        r.reason = e.what();
        results.push_back(r);
        continue;
      }
      const auto t0 = std::chrono::steady_clock::now();
      try {
        const meshing::BuiltPart part = meshing::build_part(interpretation.spec);
        r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        r.built = true;
        r.triangles = part.triangles();
        check_geometry(prompt, interpretation.spec, part);
      } catch (const meshing::BuildError &e) {
        r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        r.reason = e.what();
        for (const auto &reason : e.reasons()) r.reason += "; " + reason;
      } catch (const meshing::SpecError &e) {
        r.reason = e.what();
      }
    }
    BOOST_TEST_MESSAGE(row(r));
    results.push_back(r);
  }
  BOOST_TEST(!results.empty(), "no prompts in group " << group);
  write_results(group.empty() ? "all" : group, results);
}

// Reads what the group runs wrote and judges the whole suite: at least 95% of the prompts give
// a part that passes every check of the build.
BOOST_AUTO_TEST_CASE(share_of_parts_that_pass)
{
  std::set<std::string> groups;
  const json doc = load_prompts();
  for (const auto &prompt : doc["prompts"]) groups.insert(prompt["group"]);
  int total = 0, passed = 0;
  double seconds = 0.0;
  BOOST_TEST_MESSAGE("result  triangles  seconds  prompt");
  for (const auto &group : groups) {
    std::ifstream in("interpreter_results_" + group + ".json");
    BOOST_TEST_REQUIRE(in.good(), "no results for group " << group << ": run its test first");
    for (const auto &item : json::parse(in)) {
      PromptResult r;
      r.text = item["text"];
      r.built = item["built"];
      r.triangles = item["triangles"];
      r.seconds = item["seconds"];
      r.reason = item["reason"];
      BOOST_TEST_MESSAGE(row(r));
      ++total;
      passed += r.built;
      seconds += r.seconds;
    }
  }
  const double share = total ? static_cast<double>(passed) / total : 0.0;
  BOOST_TEST_MESSAGE(
      passed << " of " << total << " prompts built into parts that pass every check (" << std::fixed
             << std::setprecision(1) << 100.0 * share << "%), " << seconds << " s of building");
  BOOST_TEST(share >= 0.95, passed << " of " << total << " prompts gave a valid part");
}

BOOST_AUTO_TEST_SUITE_END()
