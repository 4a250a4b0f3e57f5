// The whole design as bodies of constraints: layers stacked in the form, array copies by
// folding coordinates into one copy, nacre's two bodies (see geometry.h).
#include "geometry.h"

#include <algorithm>
#include <memory>

namespace cephalo::meshing::detail {
namespace {

// Maps a point of the array onto the copy it belongs to (the nearest copy along each axis), so
// that every copy is the same solid and neighbouring copies join where they touch.
struct Fold {
  std::array<int, 3> count{1, 1, 1};
  Vec3 pitch{0, 0, 0}, size{0, 0, 0};

  Vec3 operator()(Vec3 p) const
  {
    for (int a = 0; a < 3; ++a) {
      if (count[a] <= 1) continue;
      const double i = std::clamp(std::round((p[a] - size[a] / 2.0) / pitch[a]), 0.0,
                                  static_cast<double>(count[a] - 1));
      p[a] -= i * pitch[a];
    }
    return p;
  }
};

Constraint folded(const Constraint &c, const Fold &fold)
{
  if (fold.count == std::array<int, 3>{1, 1, 1}) return c;
  const ConstraintFn inner = c.value;
  return {c.name, [inner, fold](const Vec3 &p) { return inner(fold(p)); }, c.form};
}

}    // namespace

DesignGeometry make_design(const DesignSpec &spec, const Vec3 &phase)
{
  DesignGeometry design;
  const Box form_box{{0.0, 0.0, 0.0}, spec.form.size};

  // one frame per layer, stacked along z from the bottom of the form
  std::vector<Box> frames;
  std::vector<PatternGeometry> patterns;
  double z = 0.0;
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const Layer &layer = spec.layers[i];
    const double thickness = spec.layers.size() == 1 ? spec.form.size[2] : layer.thickness;
    Box frame{{0.0, 0.0, z}, {spec.form.size[0], spec.form.size[1], z + thickness}};
    z += thickness;
    if (spec.layers.size() > 1 && layer.pattern.family == Family::Nacre &&
        layer.pattern.nacre.bodies == NacreParams::Bodies::Both)
      throw SpecError("layers[" + std::to_string(i) + "].nacre.bodies",
                      "two bodies need a single-family part; in a stack use tablets or matrix");
    frames.push_back(frame);
    patterns.push_back(make_pattern(layer.pattern, frame, spec.printer, phase));
  }

  Fold fold;
  fold.count = spec.array.count;
  fold.size = spec.form.size;
  bool separate = true;    // copies do not touch, so pieces multiply
  int copies = 1;
  for (int a = 0; a < 3; ++a) {
    fold.pitch[a] = spec.array.spacing[a] > 0.0 ? spec.array.spacing[a] : spec.form.size[a];
    copies *= fold.count[a];
    if (fold.count[a] > 1) {
      if (fold.pitch[a] < spec.form.size[a] - 1e-9) design.forms_overlap = true;
      if (fold.pitch[a] <= spec.form.size[a] + 1e-9) separate = false;
    }
  }

  double form_volume = 0.0;
  std::vector<Constraint> form = make_form(spec.form, form_box, &form_volume);
  for (auto &c : form) c.form = true;
  design.form_volume = form_volume * copies;
  Box bounds{{0.0, 0.0, 0.0}, spec.form.size};
  for (int a = 0; a < 3; ++a) bounds.hi[a] += (fold.count[a] - 1) * fold.pitch[a];
  for (const auto &c : form) design.form.constraints.push_back(folded(c, fold));
  design.form.bounds = bounds;

  // Pattern constraints by slot: in each layer's z range, its own constraints; a layer with
  // fewer constraints leaves the extra slots satisfied.
  auto layered = [&](const std::vector<std::vector<Constraint>> &per_layer) {
    std::size_t slots = 0;
    for (const auto &list : per_layer) slots = std::max(slots, list.size());
    std::vector<Constraint> out;
    if (per_layer.size() == 1) return per_layer.front();
    auto bounds_z = std::make_shared<std::vector<double>>();
    for (const auto &f : frames) bounds_z->push_back(f.hi[2]);
    for (std::size_t m = 0; m < slots; ++m) {
      auto fns = std::make_shared<std::vector<ConstraintFn>>();
      for (const auto &list : per_layer)
        fns->push_back(m < list.size() ? list[m].value
                                       : ConstraintFn([](const Vec3 &) { return -1.0; }));
      out.push_back({"layer slot " + std::to_string(m), [fns, bounds_z](const Vec3 &p) {
                       std::size_t i = 0;
                       while (i + 1 < bounds_z->size() && p[2] >= (*bounds_z)[i]) ++i;
                       return (*fns)[i](p);
                     }});
    }
    return out;
  };

  PatternGeometry summary;    // expectations of the whole stack
  summary.finest_feature = patterns.front().finest_feature;
  summary.suggested_edge = patterns.front().suggested_edge;
  bool all_analytic = true, all_connected = true;
  double density_sum = 0.0;
  std::vector<std::vector<Constraint>> per_layer;
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    const PatternGeometry &p = patterns[i];
    summary.finest_feature = std::min(summary.finest_feature, p.finest_feature);
    summary.suggested_edge = std::min(summary.suggested_edge, p.suggested_edge);
    if (p.expected_pieces != 1) all_connected = false;
    if (p.analytic_density)
      density_sum += *p.analytic_density * (frames[i].hi[2] - frames[i].lo[2]);
    else
      all_analytic = false;
    per_layer.push_back(p.constraints);
  }
  // analytic densities hold for the box frame; other forms and overlapping copies use sampling
  if (all_analytic && spec.form.shape == Shape::Box && !design.forms_overlap) {
    summary.analytic_density = density_sum / spec.form.size[2];
    summary.density_formula = patterns.size() == 1 ? patterns.front().density_formula
                                                   : "thickness-weighted layer densities";
  }
  // Pieces: copies that do not touch multiply them; copies of a box that share faces join
  // when the pattern reaches the faces (a spider web does not); any other form may sever parts
  // of a pattern, so the count is not known in advance there.
  bool loose = false, reaches_faces = true;
  for (const auto &layer : spec.layers)
    reaches_faces = reaches_faces && layer.pattern.family != Family::SpiderWeb;
  for (const auto &p : patterns) loose = loose || p.expected_pieces == kLoosePieces;
  const bool box = spec.form.shape == Shape::Box;
  if (loose) {
    summary.expected_pieces = kLoosePieces;
  } else if (!box || !all_connected) {
    summary.expected_pieces = 0;
  } else if (separate || !reaches_faces) {
    summary.expected_pieces = copies;
  } else {
    summary.expected_pieces = 1;
  }

  auto make_body = [&](const std::string &name, std::vector<Constraint> pattern,
                       PatternGeometry expectations) {
    BodyGeometry body;
    body.name = name;
    for (const auto &c : pattern) body.solid.constraints.push_back(folded(c, fold));
    for (const auto &c : form) body.solid.constraints.push_back(folded(c, fold));
    body.solid.bounds = bounds;
    body.pattern = std::move(expectations);
    design.bodies.push_back(std::move(body));
  };

  const Pattern &first = spec.layers.front().pattern;
  if (spec.layers.size() == 1 && first.family == Family::Nacre) {
    // Tablets stay a mortar gap inside the form, so the matrix wraps the part in a skin as thick
    // as the gaps, and no tablet face can lie on a face of the form.
    const ConstraintFn tablets = patterns.front().constraints.front().value;
    const double gap = first.nacre.gap;
    std::vector<Constraint> inset;
    for (const auto &c : form) {
      const ConstraintFn f = c.value;
      inset.push_back(
          {"nacre inset " + c.name, [f, gap](const Vec3 &p) { return f(p) + gap; }, true});
    }
    auto inset_fns = std::make_shared<std::vector<ConstraintFn>>();
    for (const auto &c : inset) inset_fns->push_back(c.value);
    PatternGeometry tablet_expect = summary, matrix_expect = summary;
    tablet_expect.expected_pieces = kLoosePieces;    // one per tablet, clipped by the form
    matrix_expect.expected_pieces = separate ? copies : 1;
    using B = NacreParams::Bodies;
    if (first.nacre.bodies != B::Matrix) {
      BodyGeometry body;
      body.name = "tablets";
      body.solid.constraints.push_back(folded({"nacre tablets", tablets}, fold));
      for (const auto &c : inset) body.solid.constraints.push_back(folded(c, fold));
      body.solid.bounds = bounds;
      body.pattern = tablet_expect;
      body.face_inset = gap;
      design.bodies.push_back(std::move(body));
    }
    if (first.nacre.bodies != B::Tablets)
      make_body("matrix",
                {{"nacre matrix",
                  [tablets, inset_fns](const Vec3 &p) {
                    double outside_inset = -1e300;    // max of the inset constraints: > 0 outside
                    for (const auto &f : *inset_fns) outside_inset = std::max(outside_inset, f(p));
                    return std::min(-tablets(p), -outside_inset);
                  },
                  // tablets and form faces in one function: creases, never coincident planes
                  true}},
                matrix_expect);
  } else {
    std::vector<std::vector<Constraint>> lists = per_layer;
    for (std::size_t i = 0; i < spec.layers.size(); ++i) {
      const Pattern &p = spec.layers[i].pattern;
      if (p.family == Family::Nacre && p.nacre.bodies == NacreParams::Bodies::Matrix) {
        const ConstraintFn tablets = lists[i].front().value;
        lists[i] = {{"nacre matrix", [tablets](const Vec3 &q) { return -tablets(q); }}};
      }
    }
    make_body(spec.name, layered(lists), summary);
  }
  return design;
}

bool pattern_touches_form_faces(const DesignGeometry &design, double tolerance)
{
  const Box &box = design.form.bounds;
  constexpr int n = 64;
  for (const auto &body : design.bodies) {
    const double inset = body.face_inset;
    for (int axis = 0; axis < 3; ++axis)
      for (int side = 0; side < 2; ++side) {
        const int u = (axis + 1) % 3, v = (axis + 2) % 3;
        int on_face = 0, touching = 0;
        for (int i = 0; i < n; ++i)
          for (int j = 0; j < n; ++j) {
            Vec3 p;
            p[axis] = side ? box.hi[axis] - inset : box.lo[axis] + inset;
            p[u] = box.lo[u] + (i + 0.5) / n * (box.hi[u] - box.lo[u]);
            p[v] = box.lo[v] + (j + 0.5) / n * (box.hi[v] - box.lo[v]);
            // on the body's form face: every form constraint within tolerance of -inset or below
            bool on = true;
            for (const auto &c : design.form.constraints)
              if (c.value(p) + inset > tolerance) on = false;
            if (!on) continue;
            ++on_face;
            // a pattern constraint vanishing here while the body's other constraints hold: the
            // pattern's surface lies in the form's face at this point
            for (const auto &c : body.solid.constraints) {
              if (c.form || std::abs(c.value(p)) > tolerance) continue;
              bool inside = true;
              for (const auto &other : body.solid.constraints)
                if (&other != &c && other.value(p) > tolerance) inside = false;
              if (inside) ++touching;
            }
          }
        if (on_face > 0 && touching > on_face / 50) return true;
      }
  }
  return false;
}

}    // namespace cephalo::meshing::detail
