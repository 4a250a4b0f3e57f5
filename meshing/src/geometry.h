// Solids as intersections of constraint functions, the language in which every family, form,
// stack and array is written before the mesher turns it into triangles (internal header).
#pragma once

#include "cephalo/meshing/design_spec.h"
#include "vec3.h"

#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace cephalo::meshing::detail {

struct Box {
  Vec3 lo{0, 0, 0}, hi{0, 0, 0};
  Vec3 size() const { return hi - lo; }
  double volume() const { return (hi[0] - lo[0]) * (hi[1] - lo[1]) * (hi[2] - lo[2]); }
};

// c(p) <= 0 inside. Near its zero set a constraint should grow like a distance in mm (unit
// gradient): the mesher interpolates it linearly between grid points.
using ConstraintFn = std::function<double(const Vec3 &)>;

struct Constraint {
  std::string name;
  ConstraintFn value;
  bool form = false;    // a face of the outer form (or one inset from it), not of the pattern
};

// The points where every constraint is <= 0. `bounds` contains all of them.
struct Solid {
  std::vector<Constraint> constraints;
  Box bounds;

  bool contains(const Vec3 &p) const
  {
    for (const auto &c : constraints)
      if (c.value(p) > 0.0) return false;
    return true;
  }
};

// What one family contributes inside its frame (the box of its layer): the constraints of its
// pattern (the form is added separately), its finest feature, and what the checks should expect.
inline constexpr int kLoosePieces = -1;

struct PatternGeometry {
  std::vector<Constraint> constraints;
  double finest_feature = 1.0;    // mm: thinnest wall, gap or thread
  double suggested_edge = 0.5;    // mm: grid spacing that resolves the pattern
  // separate bodies: > 0 that many; 0 not known in advance (a curved form may sever parts of
  // the pattern; crumbs are removed); kLoosePieces many by design (tablets, parallel fibres)
  int expected_pieces = 1;
  std::optional<double>
      analytic_density;           // solid fraction of the frame, where known in closed form
  std::string density_formula;    // how the analytic value is obtained
};

// One body of the part (nacre has two; everything else one).
struct BodyGeometry {
  std::string name;
  Solid solid;
  PatternGeometry pattern;    // expected pieces, densities, feature sizes of this body
  double face_inset = 0.0;    // the body's form faces lie this far inside the form's
};

struct DesignGeometry {
  std::vector<BodyGeometry> bodies;
  Solid form;                  // the outer form(s) alone, for densities
  double form_volume = 0.0;    // analytic, all copies (copies may not overlap for this to hold)
  bool forms_overlap = false;
};

// The pattern of one family filling `frame` (the layer's box, before any array copy). `phase`
// shifts the pattern's lattice (not its frame): used to move planar pattern faces off the
// form's faces when they would coincide.
PatternGeometry make_pattern(const Pattern &pattern, const Box &frame,
                             const PrinterProfile &printer, const Vec3 &phase = {0, 0, 0});

// A TPMS sheet's wall thickness (mm) at a relative density, and the density a wall gives, for a
// cell size: the printability check needs them before anything is built.
double tpms_sheet_wall(TpmsParams::Surface surface, double cell_size, double density);
double tpms_sheet_density(TpmsParams::Surface surface, double cell_size, double wall);

// The outer form filling `box`: its constraints and analytic volume.
std::vector<Constraint> make_form(const Form &form, const Box &box, double *volume);

// The whole design: layers stacked in the form, array copies, bodies.
DesignGeometry make_design(const DesignSpec &spec, const Vec3 &phase = {0, 0, 0});

// Whether a pattern surface lies on one of the flat faces of the form (the faces of its
// bounding box that belong to it): such coincident planes have no generic intersection, and a
// different phase must be chosen. Checked by sampling points on those faces.
bool pattern_touches_form_faces(const DesignGeometry &design, double tolerance);

}    // namespace cephalo::meshing::detail
