// build_part: design -> mesher -> flat-face merging -> transform -> checks (refining the grid
// when features were lost, shifting it when rounding spoiled the mesh, alpha wrapping as the last
// resort) -> printability (see build.h).
#include "cephalo/meshing/build.h"

#include "cgal_wrap.h"
#include "float_round.h"
#include "geometry.h"
#include "level_mesher.h"
#include "parallel.h"
#include "planar_decimation.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <random>
#include <sstream>
#include <thread>
#include <unordered_map>

namespace cephalo::meshing {

BuildError::BuildError(const std::string &message, std::vector<std::string> reasons) :
    std::runtime_error(message), reasons_(std::move(reasons))
{
}

std::size_t BuiltPart::triangles() const
{
  std::size_t n = 0;
  for (const auto &b : bodies) n += b.mesh.triangles.size();
  return n;
}

namespace {

using Clock = std::chrono::steady_clock;
using detail::Box;
using detail::Solid;

double seconds_since(Clock::time_point t)
{
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string fmt(double v, int digits = 4)
{
  std::ostringstream out;
  out.precision(digits);
  out << v;
  return out.str();
}

// Fraction of the box inside the solid, from uniform random points on all cores.
// Jittered sampling: one random point in each cell of an m x m x m grid over the box. Far less
// noisy than independent points for a solid with a smooth boundary (only cells the boundary
// crosses contribute variance), and the same on any number of cores (one seed per slab).
double sampled_fraction(const Solid &solid, const Box &box, std::size_t samples)
{
  const auto m =
      static_cast<std::size_t>(std::max(4.0, std::round(std::cbrt(static_cast<double>(samples)))));
  std::atomic<std::size_t> inside{0};
  detail::parallel_chunks(m, 1, [&](std::size_t begin, std::size_t end, unsigned) {
    std::size_t mine = 0;
    for (std::size_t k = begin; k < end; ++k) {
      std::mt19937_64 random(0x5EED + k);
      std::uniform_real_distribution<double> unit(0.0, 1.0);
      for (std::size_t j = 0; j < m; ++j)
        for (std::size_t i = 0; i < m; ++i) {
          const Vec3 p{
              box.lo[0] + (static_cast<double>(i) + unit(random)) / m * (box.hi[0] - box.lo[0]),
              box.lo[1] + (static_cast<double>(j) + unit(random)) / m * (box.hi[1] - box.lo[1]),
              box.lo[2] + (static_cast<double>(k) + unit(random)) / m * (box.hi[2] - box.lo[2])};
          mine += solid.contains(p);
        }
    }
    inside += mine;
  });
  return static_cast<double>(inside) / static_cast<double>(m * m * m);
}

// Rotation about x, then y, then z (degrees), as a matrix.
std::array<Vec3, 3> rotation(const Vec3 &degrees)
{
  const double k = 3.14159265358979323846 / 180.0;
  const double cx = std::cos(degrees[0] * k), sx = std::sin(degrees[0] * k);
  const double cy = std::cos(degrees[1] * k), sy = std::sin(degrees[1] * k);
  const double cz = std::cos(degrees[2] * k), sz = std::sin(degrees[2] * k);
  // R = Rz Ry Rx
  return {{{cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx},
           {sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx},
           {-sy, cy * sx, cy * cx}}};
}

bool is_identity(const Transform &t)
{
  return t.scale == Vec3{1, 1, 1} && t.rotate == Vec3{0, 0, 0} && t.translate == Vec3{0, 0, 0};
}

void apply_transform(TriangleMesh &mesh, const Transform &t)
{
  const auto r = rotation(t.rotate);
  for (auto &v : mesh.vertices) {
    const Vec3 s{v[0] * t.scale[0], v[1] * t.scale[1], v[2] * t.scale[2]};
    Vec3 out{};
    for (int i = 0; i < 3; ++i)
      out[i] = r[i][0] * s[0] + r[i][1] * s[1] + r[i][2] * s[2] + t.translate[i];
    for (int i = 0; i < 3; ++i) v[i] = detail::float_rounded(out[i]);
  }
}

// Removes shells enclosing less than `fraction` of the largest one: crumbs that a form cuts off
// a lattice at its corners, which no printer can place and no user wants. Cavities (shells with
// negative volume) stay. Returns the volumes removed.
std::vector<double> remove_fragments(TriangleMesh &mesh, double fraction)
{
  std::vector<std::uint32_t> parent(mesh.vertices.size());
  for (std::uint32_t i = 0; i < parent.size(); ++i) parent[i] = i;
  auto root = [&](std::uint32_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  };
  for (const auto &t : mesh.triangles) {
    const std::uint32_t a = root(t[0]);
    parent[root(t[1])] = a;
    parent[root(t[2])] = a;
  }
  std::unordered_map<std::uint32_t, double> volume;
  for (const auto &t : mesh.triangles) {
    const auto &a = mesh.vertices[t[0]], &b = mesh.vertices[t[1]], &c = mesh.vertices[t[2]];
    volume[root(t[0])] += (a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0]) +
                           a[2] * (b[0] * c[1] - b[1] * c[0])) /
                          6.0;
  }
  double largest = 0.0;
  for (const auto &[r, v] : volume) largest = std::max(largest, v);
  std::vector<double> removed;
  std::unordered_map<std::uint32_t, bool> drop;
  for (const auto &[r, v] : volume)
    if (v > 0.0 && v < fraction * largest) {
      drop[r] = true;
      removed.push_back(v);
    }
  if (removed.empty()) return removed;
  std::vector<std::array<std::uint32_t, 3>> kept;
  for (const auto &t : mesh.triangles)
    if (!drop.count(root(t[0]))) kept.push_back(t);
  mesh.triangles = std::move(kept);
  detail::drop_unused_vertices(mesh);
  return removed;
}

struct BodyCheck {
  std::vector<std::string> problems;    // any: the body is not acceptable
  bool features_lost = false;           // refining the grid may help
};

BodyCheck judge(const BuiltBody &body, double tolerance)
{
  const double density = body.relative_density;
  BodyCheck c;
  for (const auto &p : body.report.problems) c.problems.push_back(body.name + ": " + p);
  if (!body.report.problems.empty()) return c;
  if (body.expected_pieces > 0 && static_cast<int>(body.report.bodies) != body.expected_pieces) {
    c.problems.push_back(body.name + ": " + std::to_string(body.report.bodies) +
                         " separate pieces, expected " + std::to_string(body.expected_pieces));
    c.features_lost = true;
  }
  // relative, with a floor of a thousandth of the form for sparse bodies, whose error is mostly
  // the facets' approximation of their many small surfaces
  const double error = (density - body.reference_density) / std::max(body.reference_density, 1e-9);
  if (std::abs(density - body.reference_density) >
      std::max(tolerance * body.reference_density, 1e-3)) {
    c.problems.push_back(body.name + ": relative density " + fmt(density) +
                         " differs from the expected " + fmt(body.reference_density) + " (" +
                         body.reference_source + ") by " + fmt(100.0 * error, 3) + "%, more than " +
                         fmt(100.0 * tolerance, 3) + "%");
    // a sound mesh off by less than half: thin features fell between grid points (too little
    // material) or creases where walls meet were filled in (too much), which a finer grid
    // recovers; further off is a fault no grid fixes
    if (std::abs(error) < 0.5) c.features_lost = true;
  }
  return c;
}

}    // namespace

BuiltPart build_part(const DesignSpec &spec, const BuildOptions &options)
{
  auto progress = [&](const std::string &stage, double f) {
    if (options.progress) options.progress(stage, f);
  };
  if (options.check_printability) check_printable_spec(spec);
  BuiltPart part;
  part.name = spec.name;

  // A planar pattern face lying exactly on a flat face of the form (tablets flush with the box,
  // honeycomb walls on its side) has no generic intersection with it: shift the pattern's
  // lattice by a fraction of its finest feature until none does.
  detail::DesignGeometry design = detail::make_design(spec);
  {
    double feature = 1e9;
    for (const auto &b : design.bodies) feature = std::min(feature, b.pattern.finest_feature);
    const Vec3 phases[] = {{0.173, 0.291, 0.137}, {-0.247, 0.109, -0.313}, {0.331, -0.203, 0.251}};
    for (const Vec3 &phase : phases) {
      if (!detail::pattern_touches_form_faces(design, 1e-7)) break;
      const Vec3 shift{phase[0] * feature, phase[1] * feature, phase[2] * feature};
      part.notes.push_back("the pattern lay flush with a face of the form; shifted it by (" +
                           fmt(shift[0], 3) + ", " + fmt(shift[1], 3) + ", " + fmt(shift[2], 3) +
                           ") mm");
      design = detail::make_design(spec, shift);
    }
  }
  double edge = spec.quality.edge_length.value_or(1e9);
  if (!spec.quality.edge_length) {
    for (const auto &b : design.bodies) edge = std::min(edge, b.pattern.suggested_edge);
    // at least a few cells across the smallest form dimension
    edge = std::min(edge, *std::min_element(spec.form.size.begin(), spec.form.size.end()) / 4.0);
  }

  // density references: the form's volume (sampled when copies overlap), then each body's
  progress("density reference", 0.0);
  double form_volume = design.form_volume;
  if (design.forms_overlap)
    form_volume = sampled_fraction(design.form, design.form.bounds, options.density_samples) *
                  design.form.bounds.volume();
  std::vector<double> sampled;
  for (const auto &b : design.bodies)
    sampled.push_back(sampled_fraction(b.solid, b.solid.bounds, options.density_samples) *
                      b.solid.bounds.volume() / form_volume);

  // Two kinds of retry: a finer grid when features were lost (if refinement is on), and the
  // same grid shifted when float rounding spoiled a near-degenerate spot (always).
  const int max_refinements = spec.quality.refine ? 3 : 0, max_shifts = 2;
  int refinements = 0, shifts = 0;
  bool wrapped = false;
  std::vector<std::string> last_problems, attempt_notes;
  for (int attempt = 1;; ++attempt) {
    attempt_notes.clear();
    part.attempts = attempt;
    part.edge_length = edge;
    part.bodies.clear();
    bool lost = false, spoiled = false;
    last_problems.clear();
    for (std::size_t i = 0; i < design.bodies.size(); ++i) {
      const auto &geometry = design.bodies[i];
      BuiltBody body;
      body.name = geometry.name;
      body.expected_pieces = geometry.pattern.expected_pieces;
      body.sampled_density = sampled[i];
      if (geometry.pattern.analytic_density && design.bodies.size() == 1) {
        body.reference_density = *geometry.pattern.analytic_density;
        body.reference_source = "analytic: " + geometry.pattern.density_formula;
      } else {
        body.reference_density = sampled[i];
        body.reference_source = "sampled from the design at " +
                                std::to_string(options.density_samples) + " jittered points";
      }

      auto t0 = Clock::now();
      detail::MesherStats stats;
      const std::string stage = "meshing " + body.name;
      try {
        body.mesh = detail::mesh_solid(
            geometry.solid, edge, options.max_grid_points, &stats,
            [&](double f) { progress(stage, f); }, shifts);
      } catch (const std::length_error &e) {
        throw BuildError("the design is too large for the mesher at this resolution", {e.what()});
      }
      if (body.expected_pieces != detail::kLoosePieces) {
        const auto removed = remove_fragments(body.mesh, 1e-2);
        if (!removed.empty()) {
          double total = 0.0;
          for (double v : removed) total += v;
          part.notes.push_back(body.name + ": removed " + std::to_string(removed.size()) +
                               " fragment(s) of " + fmt(total, 3) +
                               " mm^3 in all, cut off by the form");
        }
      }
      part.build_seconds += seconds_since(t0);
      const double form_scale =
          spec.transform.scale[0] * spec.transform.scale[1] * spec.transform.scale[2];
      // flat faces: grid-sized triangles into large ones (kept aside in case it spoils the mesh)
      TriangleMesh full;
      if (spec.quality.merge_flat) {
        t0 = Clock::now();
        full = body.mesh;
        detail::merge_flat_regions(body.mesh, 1e-4 * edge);
        part.build_seconds += seconds_since(t0);
      }
      if (body.mesh.triangles.size() > static_cast<std::size_t>(spec.quality.max_triangles))
        throw BuildError("too many triangles",
                         {body.name + ": " + std::to_string(body.mesh.triangles.size()) +
                          " triangles exceed quality.max_triangles " +
                          std::to_string(spec.quality.max_triangles)});
      if (!is_identity(spec.transform)) apply_transform(body.mesh, spec.transform);

      progress("checking " + body.name, 0.0);
      t0 = Clock::now();
      body.report = check_mesh(body.mesh);
      if (!body.report.watertight() && !full.triangles.empty()) {
        attempt_notes.push_back(body.name + ": merging flat faces spoiled the mesh (" +
                                body.report.problems.front() + "); kept it whole");
        body.mesh = std::move(full);
        if (!is_identity(spec.transform)) apply_transform(body.mesh, spec.transform);
        body.report = check_mesh(body.mesh);
      }
      part.check_seconds += seconds_since(t0);
      body.relative_density = body.report.volume / (form_volume * form_scale);
      const BodyCheck verdict = judge(body, options.density_tolerance);
      last_problems.insert(last_problems.end(), verdict.problems.begin(), verdict.problems.end());
      lost = lost || verdict.features_lost;
      spoiled = spoiled || !body.report.watertight();
      part.bodies.push_back(std::move(body));
    }
    if (last_problems.empty()) {
      part.notes.insert(part.notes.end(), attempt_notes.begin(), attempt_notes.end());
      break;
    }
    if (spoiled && shifts == max_shifts && !wrapped) {
      // Last resort: wrap the spoiled bodies (CGAL's alpha wrapping gives a watertight,
      // manifold, intersection-free surface a hair outside the mesh), and check them again.
      wrapped = true;
      last_problems.clear();
      for (auto &body : part.bodies) {
        if (body.report.watertight()) continue;
        const double alpha = edge, offset = edge / 50.0;
        body.mesh = detail::alpha_wrap(body.mesh, alpha, offset);
        const auto t0 = Clock::now();
        body.report = check_mesh(body.mesh);
        part.check_seconds += seconds_since(t0);
        const double form_scale =
            spec.transform.scale[0] * spec.transform.scale[1] * spec.transform.scale[2];
        body.relative_density = body.report.volume / (form_volume * form_scale);
        part.notes.push_back(body.name + ": repaired by alpha wrapping (alpha " + fmt(alpha, 3) +
                             " mm, offset " + fmt(offset, 3) +
                             " mm) after meshing on shifted grids failed");
      }
      for (const auto &body : part.bodies) {
        const BodyCheck verdict = judge(body, options.density_tolerance);
        last_problems.insert(last_problems.end(), verdict.problems.begin(), verdict.problems.end());
      }
      if (last_problems.empty()) {
        part.notes.insert(part.notes.end(), attempt_notes.begin(), attempt_notes.end());
        break;
      }
    }
    if (spoiled && shifts < max_shifts) {
      ++shifts;
      part.notes.push_back("the mesh at edge length " + fmt(edge) + " mm failed a check (" +
                           last_problems.front() + "); meshed again on a shifted grid");
    } else if (lost && refinements < max_refinements) {
      ++refinements;
      part.notes.push_back("edge length " + fmt(edge) + " mm lost features (" +
                           last_problems.front() + "); refining");
      edge *= 0.7;
    } else {
      break;
    }
  }
  if (!last_problems.empty()) {
    std::string message = "the mesh of '" + spec.name + "' fails its checks at edge length " +
                          fmt(part.edge_length) + " mm";
    if (!spec.quality.refine) message += " (refinement is off)";
    throw BuildError(message, last_problems);
  }

  // the whole part's box, then the printer profile
  part.bbox_min = {1e300, 1e300, 1e300};
  part.bbox_max = {-1e300, -1e300, -1e300};
  for (const auto &b : part.bodies)
    for (int a = 0; a < 3; ++a) {
      part.bbox_min[a] = std::min(part.bbox_min[a], b.report.bbox_min[a]);
      part.bbox_max[a] = std::max(part.bbox_max[a], b.report.bbox_max[a]);
    }
  if (options.check_printability) {
    std::vector<std::string> reasons;
    for (int a = 0; a < 3; ++a) {
      const double extent = part.bbox_max[a] - part.bbox_min[a];
      if (extent > spec.printer.build_volume[a] + 1e-6)
        reasons.push_back(std::string("the part is ") + fmt(extent) + " mm along " + "xyz"[a] +
                          ", the build volume " + fmt(spec.printer.build_volume[a]) + " mm");
    }
    // The measured walls: most of them must print, and few may be far thinner. Thin wedges
    // where a form cuts a lattice obliquely are normal and slicers fill or skip them; walls
    // that a transform scaled down, or slivers of a pattern along a form's face, are not.
    const double min_wall = spec.printer.min_wall();
    for (const auto &b : part.bodies) {
      if (b.report.wall_median > 0.0 && b.report.wall_median < 0.95 * min_wall)
        reasons.push_back(b.name + ": the measured walls are " + fmt(b.report.wall_median, 3) +
                          " mm thick (median), below the printable minimum " + fmt(min_wall, 3) +
                          " mm");
      else if (b.report.wall_estimate > 0.0 && b.report.wall_estimate < 0.5 * min_wall)
        reasons.push_back(b.name + ": 5% of the surface has walls thinner than " +
                          fmt(b.report.wall_estimate, 3) +
                          " mm, less than half the printable minimum " + fmt(min_wall, 3) + " mm");
    }
    if (!reasons.empty())
      throw BuildError("'" + spec.name + "' cannot be printed with this printer profile", reasons);
  }
  return part;
}

std::string build_report_json(const DesignSpec &spec, const BuiltPart &part)
{
  nlohmann::ordered_json out;
  out["ok"] = true;
  out["name"] = part.name;
  out["spec"] = nlohmann::ordered_json::parse(design_spec_to_json(spec));
  out["edge_length"] = part.edge_length;
  out["attempts"] = part.attempts;
  out["build_seconds"] = part.build_seconds;
  out["check_seconds"] = part.check_seconds;
  out["triangles"] = part.triangles();
  out["bbox"] = {{"min", part.bbox_min}, {"max", part.bbox_max}};
  out["notes"] = part.notes;
  for (const auto &b : part.bodies) {
    const MeshReport &r = b.report;
    out["bodies"].push_back(
        nlohmann::ordered_json{{"name", b.name},
                               {"watertight", r.watertight()},
                               {"closed", r.closed},
                               {"manifold", r.manifold},
                               {"self_intersecting", r.self_intersecting},
                               {"outward", r.outward},
                               {"pieces", r.bodies},
                               {"expected_pieces", b.expected_pieces},
                               {"cavities", r.cavities},
                               {"genus", r.genus},
                               {"vertices", r.vertices},
                               {"triangles", r.triangles},
                               {"volume_mm3", r.volume},
                               {"area_mm2", r.area},
                               {"relative_density", b.relative_density},
                               {"reference_density", b.reference_density},
                               {"reference_source", b.reference_source},
                               {"sampled_density", b.sampled_density},
                               {"wall_thickness_p05_mm", r.wall_estimate},
                               {"wall_thickness_median_mm", r.wall_median},
                               {"bbox", {{"min", r.bbox_min}, {"max", r.bbox_max}}},
                               {"problems", r.problems}});
  }
  return out.dump(2);
}

}    // namespace cephalo::meshing
