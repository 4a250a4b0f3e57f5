// Revisions by rule (spec_revision.h). The errors of meshing/ name the field and the numbers; the
// field is moved to what prints, and the revised spec must parse and pass the printer check again.
#include "spec_revision.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <regex>

namespace cephalo::agents::detail {
namespace {

using meshing::DesignSpec;
using meshing::Pattern;
using meshing::SpecError;

std::string fmt(double value)
{
  char text[32];
  std::snprintf(text, sizeof text, "%.4g", value);
  return text;
}

// "layers[2].tpms.wall_thickness" -> layer 2, "tpms.wall_thickness"
struct FieldPath {
  std::size_t layer = 0;
  std::string rest;
};

FieldPath split_field(const std::string &field)
{
  FieldPath path{0, field};
  static const std::regex layered(R"(^layers\[(\d+)\]\.(.*)$)");
  std::smatch m;
  if (std::regex_match(field, m, layered)) {
    path.layer = std::stoul(m[1].str());
    path.rest = m[2].str();
  }
  return path;
}

// The spec is acceptable again: it parses (every range holds) and, for `field`, the printer
// check no longer objects. Other fields may still be refused; the next round revises them.
bool passes(const DesignSpec &spec, const std::string &field)
{
  try {
    meshing::parse_design_spec(meshing::design_spec_to_json(spec));
    meshing::check_printable_spec(spec);
    return true;
  } catch (const SpecError &e) {
    return e.field() != field;
  }
}

// The least value in [from, to] for which `apply` makes the spec pass (bisection; the printer's
// rules are monotonic in the fields searched). Nothing when even `to` fails.
std::optional<double> least_passing(const DesignSpec &spec, const std::string &field, double from,
                                    double to,
                                    const std::function<void(DesignSpec &, double)> &apply)
{
  auto ok = [&](double value) {
    DesignSpec trial = spec;
    apply(trial, value);
    return passes(trial, field);
  };
  if (!ok(to)) return std::nullopt;
  double lo = from, hi = to;
  for (int i = 0; i < 40 && hi - lo > 1e-4 * std::max(1.0, hi); ++i) {
    const double mid = 0.5 * (lo + hi);
    (ok(mid) ? hi : lo) = mid;
  }
  // rounded up to three significant digits, for a spec a person reads
  const double scale = std::pow(10.0, std::floor(std::log10(hi)) - 2.0);
  const double rounded = std::ceil(hi / scale - 1e-9) * scale;
  return ok(rounded) ? rounded : hi;
}

Revision revision(DesignSpec spec, const std::string &field, double from, double to,
                  const std::string &unit, const std::string &why)
{
  return {std::move(spec), field, field + " " + fmt(from) + " -> " + fmt(to) + unit + ": " + why};
}

// The wall of a family: the parameter whose thickness the printer measures.
struct Wall {
  std::string field;
  double *value = nullptr;
  double max = 0.0;    // the schema's maximum
};

std::optional<Wall> wall_of(Pattern &p)
{
  switch (p.family) {
  case meshing::Family::Tpms:
    if (p.tpms.kind != meshing::TpmsParams::Kind::Sheet) return std::nullopt;
    if (p.tpms.grading) return std::nullopt;
    if (p.tpms.relative_density)
      return Wall{"tpms.relative_density", &*p.tpms.relative_density, 0.8};
    return Wall{"tpms.wall_thickness", &p.tpms.wall_thickness, 20.0};
  case meshing::Family::Honeycomb:
    return Wall{"honeycomb.wall_thickness", &p.honeycomb.wall_thickness, 20.0};
  case meshing::Family::Bouligand:
    return Wall{"bouligand.fibre_width", &p.bouligand.fibre_width, 20.0};
  case meshing::Family::Cellular:
    return Wall{"cellular.thickness", &p.cellular.thickness, 20.0};
  case meshing::Family::Nacre:
    return Wall{"nacre.gap", &p.nacre.gap, 20.0};
  case meshing::Family::SpiderWeb:
    return Wall{"spider_web.thread_thickness", &p.spider_web.thread_thickness, 20.0};
  case meshing::Family::Tubular:
    return std::nullopt;
  }
  return std::nullopt;
}

// Scales the form (and the spacing of an array) by `factor`.
Revision shrink(DesignSpec spec, double factor, const std::string &why)
{
  const auto before = spec.form.size;
  for (int a = 0; a < 3; ++a) {
    spec.form.size[a] *= factor;
    spec.array.spacing[a] *= factor;
  }
  for (auto &layer : spec.layers) layer.thickness *= factor;
  return {spec, "form.size",
          "form.size [" + fmt(before[0]) + ", " + fmt(before[1]) + ", " + fmt(before[2]) +
              "] -> [" + fmt(spec.form.size[0]) + ", " + fmt(spec.form.size[1]) + ", " +
              fmt(spec.form.size[2]) + "] mm (x" + fmt(factor) + "): " + why};
}

bool parses(const DesignSpec &spec)
{
  try {
    meshing::parse_design_spec(meshing::design_spec_to_json(spec));
    return true;
  } catch (const SpecError &) {
    return false;
  }
}

}    // namespace

std::optional<Revision> revise_for_spec_error(const DesignSpec &original, const std::string &field,
                                              const std::string &message)
{
  DesignSpec spec = original;
  const FieldPath path = split_field(field);
  if (path.layer >= spec.layers.size()) return std::nullopt;
  Pattern &p = spec.layers[path.layer].pattern;
  const std::string prefix = field.substr(0, field.size() - path.rest.size());
  const double min_wall = spec.printer.min_wall(), nozzle = spec.printer.nozzle;
  const std::string to_minimum = "thickened to the printable minimum (printer.nozzle " +
                                 fmt(nozzle) + " x printer.min_wall_factor " +
                                 fmt(spec.printer.min_wall_factor) + ")";
  const std::string &f = path.rest;

  auto thicken = [&](double &value) -> std::optional<Revision> {
    const double before = value;
    value = min_wall;
    return revision(spec, field, before, value, " mm", to_minimum);
  };

  if (f == "tpms.wall_thickness") return thicken(p.tpms.wall_thickness);
  if (f == "honeycomb.wall_thickness") return thicken(p.honeycomb.wall_thickness);
  if (f == "cellular.thickness") return thicken(p.cellular.thickness);
  if (f == "spider_web.thread_thickness") return thicken(p.spider_web.thread_thickness);
  if (f == "nacre.gap") return thicken(p.nacre.gap);
  if (f == "honeycomb.face_sheets.top") return thicken(p.honeycomb.face_sheets.top);
  if (f == "honeycomb.face_sheets.bottom") return thicken(p.honeycomb.face_sheets.bottom);
  if (f == "cellular.face_sheets.top") return thicken(p.cellular.face_sheets.top);
  if (f == "cellular.face_sheets.bottom") return thicken(p.cellular.face_sheets.bottom);
  if (f == "bouligand.fibre_width") {
    auto &b = p.bouligand;
    const double before = b.fibre_width;
    b.fibre_width = min_wall;
    std::string why = to_minimum;
    if (b.fibre_spacing - b.fibre_width < nozzle) {
      const double spacing = b.fibre_spacing;
      b.fibre_spacing = b.fibre_width + nozzle;
      why += "; bouligand.fibre_spacing " + fmt(spacing) + " -> " + fmt(b.fibre_spacing) +
             " mm to keep a nozzle's width between fibres";
    }
    return revision(spec, field, before, b.fibre_width, " mm", why);
  }
  if (f == "bouligand.fibre_spacing") {
    const double before = p.bouligand.fibre_spacing;
    p.bouligand.fibre_spacing = p.bouligand.fibre_width + nozzle;
    return revision(spec, field, before, p.bouligand.fibre_spacing, " mm",
                    "widened so that a nozzle's width (" + fmt(nozzle) +
                        " mm) stays open between fibres");
  }
  if (f == "tubular.ring_gap") {
    auto &t = p.tubular;
    const double before = t.ring_gap;
    t.ring_gap = nozzle;
    std::string why = "widened to the nozzle (" + fmt(nozzle) + " mm) so the channel stays open";
    if (t.ring_spacing - t.ring_gap < min_wall) {
      const double spacing = t.ring_spacing;
      t.ring_spacing = t.ring_gap + min_wall;
      why += "; tubular.ring_spacing " + fmt(spacing) + " -> " + fmt(t.ring_spacing) +
             " mm to keep printable walls between rings";
    }
    return revision(spec, field, before, t.ring_gap, " mm", why);
  }
  if (f == "tubular.ring_spacing") {
    const double before = p.tubular.ring_spacing;
    p.tubular.ring_spacing = p.tubular.ring_gap + min_wall;
    return revision(spec, field, before, p.tubular.ring_spacing, " mm",
                    "widened so the wall between rings is the printable minimum " + fmt(min_wall) +
                        " mm");
  }
  if (f == "tpms.relative_density") {
    const double before = *p.tpms.relative_density;
    const auto least = least_passing(spec, field, before, 0.8, [&](DesignSpec &s, double v) {
      s.layers[path.layer].pattern.tpms.relative_density = v;
    });
    if (!least) return std::nullopt;
    p.tpms.relative_density = *least;
    return revision(spec, field, before, *least, "",
                    "raised to the least density whose walls print at tpms.cell_size " +
                        fmt(p.tpms.cell_size) + " mm");
  }
  if (f == "tpms.grading.from" || f == "tpms.grading.to") {
    const bool from = f == "tpms.grading.from";
    double &value = from ? p.tpms.grading->from : p.tpms.grading->to;
    const double before = value;
    const auto least = least_passing(spec, field, before, 0.8, [&](DesignSpec &s, double v) {
      auto &g = *s.layers[path.layer].pattern.tpms.grading;
      (from ? g.from : g.to) = v;
    });
    if (!least) return std::nullopt;
    value = *least;
    return revision(spec, field, before, *least, "",
                    "raised to the least density whose walls print at tpms.cell_size " +
                        fmt(p.tpms.cell_size) + " mm");
  }
  if (f == "tubular.count") {
    static const std::regex fits(R"(fits only (\d+))");
    std::smatch m;
    if (!std::regex_search(message, m, fits)) return std::nullopt;
    const int before = p.tubular.count;
    p.tubular.count = std::stoi(m[1].str());
    if (p.tubular.count < 1 || p.tubular.count >= before) return std::nullopt;
    return revision(spec, field, before, p.tubular.count, "",
                    "lowered to the number of tubules that fit");
  }
  if (field == "printer.build_volume") {
    double factor = 1.0;
    for (int a = 0; a < 3; ++a) {
      const double pitch = spec.array.spacing[a] > 0.0 ? spec.array.spacing[a] : spec.form.size[a];
      const double extent =
          ((spec.array.count[a] - 1) * pitch + spec.form.size[a]) * spec.transform.scale[a];
      if (extent > 0.0) factor = std::min(factor, spec.printer.build_volume[a] / extent);
    }
    if (factor >= 1.0) return std::nullopt;
    Revision r =
        shrink(spec, std::floor(factor * 0.98 * 1000.0) / 1000.0, "shrunk to fit the build volume");
    if (!parses(r.spec)) return std::nullopt;
    return r;
  }
  return std::nullopt;
}

std::optional<Revision> revise_for_build_error(const DesignSpec &original,
                                               const std::string &message,
                                               const std::vector<std::string> &reasons)
{
  DesignSpec spec = original;
  std::string all = message;
  for (const auto &r : reasons) all += "\n" + r;
  std::smatch m;

  // the mesher's grid is too fine for its budget: coarsen it until it fits
  static const std::regex grid(
      R"(a grid of (\d+) points at edge length ([0-9.eE+-]+) mm exceeds the limit of (\d+))");
  if (std::regex_search(all, m, grid)) {
    const double points = std::stod(m[1].str()), edge = std::stod(m[2].str()),
                 limit = std::stod(m[3].str());
    spec.quality.edge_length = edge * std::cbrt(points / limit) * 1.1;
    return revision(spec, "quality.edge_length", edge, *spec.quality.edge_length, " mm",
                    "coarsened: a grid of " + m[1].str() +
                        " points exceeds the mesher's limit of " + m[3].str());
  }
  static const std::regex triangles(R"((\d+) triangles exceed quality.max_triangles (\d+))");
  if (std::regex_search(all, m, triangles) && original.quality.edge_length) {
    const double ratio = std::stod(m[1].str()) / std::stod(m[2].str());
    const double edge = *original.quality.edge_length;
    spec.quality.edge_length = edge * std::sqrt(ratio) * 1.1;
    return revision(spec, "quality.edge_length", edge, *spec.quality.edge_length, " mm",
                    "coarsened: " + m[1].str() + " triangles exceed quality.max_triangles " +
                        m[2].str());
  }
  // measured walls thinner than the printer's minimum: thicken the family's wall
  static const std::regex thin_median(
      R"(measured walls are ([0-9.eE+-]+) mm thick \(median\), below the printable minimum ([0-9.eE+-]+) mm)");
  static const std::regex thin_tail(
      R"(walls thinner than ([0-9.eE+-]+) mm, less than half the printable minimum ([0-9.eE+-]+) mm)");
  double factor = 0.0;
  if (std::regex_search(all, m, thin_median))
    factor = std::stod(m[2].str()) / std::stod(m[1].str()) * 1.05;
  else if (std::regex_search(all, m, thin_tail))
    factor = 0.5 * std::stod(m[2].str()) / std::stod(m[1].str()) * 1.05;
  if (factor > 1.0) {
    for (std::size_t i = 0; i < spec.layers.size(); ++i) {
      if (const auto wall = wall_of(spec.layers[i].pattern)) {
        const double before = *wall->value;
        *wall->value = std::min(before * factor, wall->max);
        if (*wall->value <= before) continue;
        const std::string field =
            (spec.layers.size() > 1 ? "layers[" + std::to_string(i) + "]." : "") + wall->field;
        Revision r = revision(spec, field, before, *wall->value, "",
                              "thickened by x" + fmt(*wall->value / before) +
                                  ": the built part's measured walls were below the minimum");
        if (parses(r.spec)) return r;
      }
    }
    return std::nullopt;
  }
  // the built part is larger than the build volume (a rotation can only be measured)
  static const std::regex too_big(
      R"(the part is ([0-9.eE+-]+) mm along [xyz], the build volume ([0-9.eE+-]+) mm)");
  double shrink_factor = 1.0;
  for (auto it = std::sregex_iterator(all.begin(), all.end(), too_big);
       it != std::sregex_iterator(); ++it)
    shrink_factor = std::min(shrink_factor, std::stod((*it)[2].str()) / std::stod((*it)[1].str()));
  if (shrink_factor < 1.0) {
    Revision r = shrink(spec, std::floor(shrink_factor * 0.98 * 1000.0) / 1000.0,
                        "shrunk so the built part fits the build volume");
    if (parses(r.spec)) return r;
    return std::nullopt;
  }
  // the mesh failed its checks: refine where refinement was off, or start from a finer grid
  static const std::regex failed(R"(fails its checks at edge length ([0-9.eE+-]+) mm)");
  if (std::regex_search(message, m, failed)) {
    const double edge = std::stod(m[1].str());
    if (!spec.quality.refine) {
      spec.quality.refine = true;
      return Revision{spec, "quality.refine",
                      "quality.refine false -> true: the mesh failed its checks at edge length " +
                          fmt(edge) + " mm, and a finer grid may recover the features"};
    }
    spec.quality.edge_length = edge * 0.6;
    if (!parses(spec)) return std::nullopt;
    return revision(spec, "quality.edge_length", edge, *spec.quality.edge_length, " mm",
                    "a finer grid, since the mesh failed its checks even after refinement");
  }
  return std::nullopt;
}

}    // namespace cephalo::agents::detail
