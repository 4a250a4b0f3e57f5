// DesignSpec parsing, defaults, JSON output and schema (see design_spec.h). One reader serves
// both parsing and schema generation, so the written schema cannot drift from the parser.
#include "cephalo/meshing/design_spec.h"

#include "geometry.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <set>
#include <sstream>
#include <utility>

namespace cephalo::meshing {

using nlohmann::json;
using nlohmann::ordered_json;

SpecError::SpecError(std::string field, const std::string &message) :
    std::runtime_error(field + ": " + message), field_(std::move(field))
{
}

namespace {

std::string number_text(double value)
{
  std::ostringstream out;
  out << value;
  return out.str();
}

// Levenshtein distance, for "did you mean" suggestions on misspelt keys.
std::size_t edit_distance(const std::string &a, const std::string &b)
{
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// Reads one JSON object field by field. With no object it reads nothing and records the schema
// of each field instead (types, defaults, ranges, units, descriptions).
class Reader {
 public:
  Reader(const json *object, std::string path, ordered_json *schema) :
      object_(object), path_(std::move(path)), schema_(schema)
  {
    if (object_ && !object_->is_object()) throw SpecError(path_or_root(), "must be a JSON object");
    if (schema_) {
      (*schema_)["type"] = "object";
      (*schema_)["additionalProperties"] = false;
    }
  }

  std::string field(const std::string &key) const
  {
    return path_.empty() ? key : path_ + "." + key;
  }
  bool has(const std::string &key) const { return object_ && object_->contains(key); }

  double number(const std::string &key, double fallback, double min, double max, const char *unit,
                const char *description)
  {
    describe(key, {{"type", "number"},
                   {"default", fallback},
                   {"minimum", min},
                   {"maximum", max},
                   {"unit", unit},
                   {"description", description}});
    const json *value = take(key);
    if (!value) return fallback;
    return checked_number(key, *value, min, max);
  }

  std::optional<double> optional_number(const std::string &key, double min, double max,
                                        const char *unit, const char *description)
  {
    describe(key, {{"type", "number"},
                   {"minimum", min},
                   {"maximum", max},
                   {"unit", unit},
                   {"description", description}});
    const json *value = take(key);
    if (!value) return std::nullopt;
    return checked_number(key, *value, min, max);
  }

  int integer(const std::string &key, int fallback, int min, int max, const char *description)
  {
    describe(key, {{"type", "integer"},
                   {"default", fallback},
                   {"minimum", min},
                   {"maximum", max},
                   {"description", description}});
    const json *value = take(key);
    if (!value) return fallback;
    if (!value->is_number_integer())
      throw SpecError(field(key), "must be an integer, got " + value->dump());
    const auto v = value->get<long long>();
    if (v < min || v > max)
      throw SpecError(field(key), std::to_string(v) + " is outside the range " +
                                      std::to_string(min) + " to " + std::to_string(max));
    return static_cast<int>(v);
  }

  bool boolean(const std::string &key, bool fallback, const char *description)
  {
    describe(key, {{"type", "boolean"}, {"default", fallback}, {"description", description}});
    const json *value = take(key);
    if (!value) return fallback;
    if (!value->is_boolean())
      throw SpecError(field(key), "must be true or false, got " + value->dump());
    return value->get<bool>();
  }

  std::string text(const std::string &key, const std::string &fallback, const char *description)
  {
    describe(key, {{"type", "string"}, {"default", fallback}, {"description", description}});
    const json *value = take(key);
    if (!value) return fallback;
    if (!value->is_string()) throw SpecError(field(key), "must be a string, got " + value->dump());
    return value->get<std::string>();
  }

  template <class E>
  E choice(const std::string &key, E fallback,
           std::initializer_list<std::pair<const char *, E>> options, const char *description)
  {
    ordered_json names = ordered_json::array();
    const char *fallback_name = "";
    for (const auto &[name, option] : options) {
      names.push_back(name);
      if (option == fallback) fallback_name = name;
    }
    describe(key, {{"type", "string"},
                   {"enum", names},
                   {"default", fallback_name},
                   {"description", description}});
    const json *value = take(key);
    if (!value) return fallback;
    if (value->is_string())
      for (const auto &[name, option] : options)
        if (value->get<std::string>() == name) return option;
    throw SpecError(field(key), "must be one of " + names.dump() + ", got " + value->dump());
  }

  Vec3 vec3(const std::string &key, Vec3 fallback, double min, double max, const char *unit,
            const char *description)
  {
    describe(key, {{"type", "array"},
                   {"items", {{"type", "number"}, {"minimum", min}, {"maximum", max}}},
                   {"minItems", 3},
                   {"maxItems", 3},
                   {"default", fallback},
                   {"unit", unit},
                   {"description", description}});
    const json *value = take(key);
    if (!value) return fallback;
    if (value->is_number()) {    // one number for all three components
      const double v = checked_number(key, *value, min, max);
      return {v, v, v};
    }
    if (!value->is_array() || value->size() != 3)
      throw SpecError(field(key),
                      "must be a number or an array of 3 numbers, got " + value->dump());
    Vec3 out{};
    for (std::size_t i = 0; i < 3; ++i)
      out[i] = checked_number(key + "[" + std::to_string(i) + "]", (*value)[i], min, max);
    return out;
  }

  std::array<int, 3> ivec3(const std::string &key, std::array<int, 3> fallback, int min, int max,
                           const char *description)
  {
    describe(key, {{"type", "array"},
                   {"items", {{"type", "integer"}, {"minimum", min}, {"maximum", max}}},
                   {"minItems", 3},
                   {"maxItems", 3},
                   {"default", fallback},
                   {"description", description}});
    const json *value = take(key);
    if (!value) return fallback;
    if (!value->is_array() || value->size() != 3)
      throw SpecError(field(key), "must be an array of 3 integers, got " + value->dump());
    std::array<int, 3> out{};
    for (std::size_t i = 0; i < 3; ++i) {
      const json &v = (*value)[i];
      if (!v.is_number_integer() || v.get<long long>() < min || v.get<long long>() > max)
        throw SpecError(field(key) + "[" + std::to_string(i) + "]",
                        "must be an integer from " + std::to_string(min) + " to " +
                            std::to_string(max) + ", got " + v.dump());
      out[i] = static_cast<int>(v.get<long long>());
    }
    return out;
  }

  // A nested object; absent reads as empty (all defaults).
  Reader object(const std::string &key, const char *description)
  {
    ordered_json *schema = nullptr;
    if (schema_) {
      auto &entry = (*schema_)["properties"][key];
      entry["description"] = description;
      schema = &entry;
    }
    const json *value = take(key);
    return Reader(value, field(key), schema);
  }

  // Refuses keys nobody asked for, suggesting the nearest known one.
  void finish() const
  {
    if (!object_) return;
    for (const auto &[key, value] : object_->items()) {
      if (known_.count(key)) continue;
      std::string suggestion;
      std::size_t best = 3;
      for (const auto &k : known_) {
        const std::size_t d = edit_distance(key, k);
        if (d < best) best = d, suggestion = k;
      }
      throw SpecError(field(key), "unknown field" + (suggestion.empty()
                                                         ? std::string()
                                                         : "; did you mean '" + suggestion + "'?"));
    }
  }

  // The raw value of a field that is read by hand (marks it known).
  const json *raw(const std::string &key) { return take(key); }

  bool collecting_schema() const { return schema_ != nullptr; }
  ordered_json *schema() { return schema_; }

 private:
  std::string path_or_root() const { return path_.empty() ? "(spec)" : path_; }

  const json *take(const std::string &key)
  {
    known_.insert(key);
    if (!object_) return nullptr;
    const auto it = object_->find(key);
    return it == object_->end() || it->is_null() ? nullptr : &*it;
  }

  void describe(const std::string &key, ordered_json entry)
  {
    known_.insert(key);
    if (schema_) (*schema_)["properties"][key] = std::move(entry);
  }

  double checked_number(const std::string &key, const json &value, double min, double max) const
  {
    if (!value.is_number()) throw SpecError(field(key), "must be a number, got " + value.dump());
    const double v = value.get<double>();
    if (!std::isfinite(v) || v < min || v > max)
      throw SpecError(field(key), number_text(v) + " is outside the range " + number_text(min) +
                                      " to " + number_text(max));
    return v;
  }

  const json *object_;
  std::string path_;
  ordered_json *schema_;
  std::set<std::string> known_;
};

constexpr std::initializer_list<std::pair<const char *, Family>> kFamilies = {
    {"tpms", Family::Tpms},           {"honeycomb", Family::Honeycomb},
    {"bouligand", Family::Bouligand}, {"tubular", Family::Tubular},
    {"cellular", Family::Cellular},   {"nacre", Family::Nacre},
    {"spider_web", Family::SpiderWeb}};

constexpr std::initializer_list<std::pair<const char *, Axis>> kAxes = {
    {"x", Axis::X}, {"y", Axis::Y}, {"z", Axis::Z}};

FaceSheets read_face_sheets(Reader in)
{
  FaceSheets sheets;
  sheets.top =
      in.number("top", 0.0, 0.0, 100.0, "mm", "thickness of a solid sheet on top; 0 for none");
  sheets.bottom = in.number("bottom", 0.0, 0.0, 100.0, "mm",
                            "thickness of a solid sheet at the bottom; 0 for none");
  in.finish();
  return sheets;
}

void read_family_params(Pattern &p, Family family, Reader in)
{
  switch (family) {
  case Family::Tpms: {
    auto &t = p.tpms;
    using S = TpmsParams::Surface;
    using K = TpmsParams::Kind;
    t.surface =
        in.choice("surface", S::Gyroid,
                  {{"gyroid", S::Gyroid}, {"schwarz_p", S::SchwarzP}, {"diamond", S::Diamond}},
                  "triply periodic minimal surface");
    t.kind = in.choice("kind", K::Sheet, {{"sheet", K::Sheet}, {"network", K::Network}},
                       "sheet: a wall along the surface; network: the solid on one side of it");
    t.cell_size = in.number("cell_size", 5.0, 0.5, 100.0, "mm", "edge of the cubic unit cell");
    const bool wall_given = in.has("wall_thickness");
    t.wall_thickness =
        in.number("wall_thickness", 1.0, 0.05, 20.0, "mm", "sheet wall thickness (sheets only)");
    t.relative_density = in.optional_number("relative_density", 0.03, 0.8, "fraction",
                                            "target solid fraction; replaces wall_thickness");
    Reader grading = in.object("grading", "relative density varying linearly along an axis");
    if (in.has("grading") || grading.collecting_schema()) {
      TpmsParams::Grading g;
      g.axis = grading.choice("axis", Axis::Z, kAxes, "axis of the gradient");
      g.from =
          grading.number("from", 0.2, 0.03, 0.8, "fraction", "relative density at the low end");
      g.to = grading.number("to", 0.4, 0.03, 0.8, "fraction", "relative density at the high end");
      grading.finish();
      if (in.has("grading")) t.grading = g;
    }
    if (in.collecting_schema()) break;
    if (t.kind == K::Network && wall_given)
      throw SpecError(in.field("wall_thickness"),
                      "applies to sheets; give relative_density for a network");
    if (t.kind == K::Network && !t.relative_density && !t.grading) t.relative_density = 0.3;
    if (t.grading && t.relative_density)
      throw SpecError(in.field("grading"), "give either grading or relative_density, not both");
    break;
  }
  case Family::Honeycomb: {
    auto &h = p.honeycomb;
    h.cell_size = in.number("cell_size", 4.0, 0.5, 100.0, "mm", "hexagonal cell size across flats");
    h.wall_thickness = in.number("wall_thickness", 0.8, 0.05, 20.0, "mm", "cell wall thickness");
    h.face_sheets = read_face_sheets(in.object("face_sheets", "solid sheets closing the cells"));
    if (!in.collecting_schema() && h.wall_thickness >= h.cell_size)
      throw SpecError(in.field("wall_thickness"), number_text(h.wall_thickness) +
                                                      " mm leaves no cell inside a " +
                                                      number_text(h.cell_size) + " mm cell");
    break;
  }
  case Family::Bouligand: {
    auto &b = p.bouligand;
    using F = BouligandParams::FibreShape;
    b.layers = in.integer("layers", 8, 2, 400, "number of plies stacked along z");
    b.rotation = in.number("rotation", 15.0, 0.0, 90.0, "degrees",
                           "fibre rotation from one ply to the next");
    b.rotation_noise = in.number("rotation_noise", 0.0, 0.0, 45.0, "degrees",
                                 "standard deviation of a random extra rotation per ply");
    b.fibre_shape = in.choice("fibre_shape", F::Rectangular,
                              {{"rectangular", F::Rectangular}, {"cylindrical", F::Cylindrical}},
                              "cross-section of the fibres");
    b.fibre_width = in.number("fibre_width", 1.0, 0.05, 20.0, "mm",
                              "fibre width, or diameter of a cylindrical fibre");
    b.fibre_spacing = in.number("fibre_spacing", 1.6, 0.05, 50.0, "mm",
                                "centre-to-centre distance of fibres in a ply");
    b.seed = in.integer("seed", 1, 0, 1000000000, "random seed of the rotation noise");
    if (!in.collecting_schema() && b.fibre_spacing <= b.fibre_width)
      throw SpecError(in.field("fibre_spacing"),
                      number_text(b.fibre_spacing) + " mm must exceed fibre_width " +
                          number_text(b.fibre_width) + " mm, or the fibres merge into a plate");
    break;
  }
  case Family::Tubular: {
    auto &t = p.tubular;
    using P = TubularParams::Placement;
    t.count = in.integer("count", 9, 1, 2000, "number of tubules");
    t.radius = in.number("radius", 1.0, 0.05, 50.0, "mm", "tubule radius (major semi-axis)");
    t.ellipticity = in.number("ellipticity", 0.0, 0.0, 0.8, "fraction",
                              "minor semi-axis = radius x (1 - ellipticity)");
    t.placement = in.choice("placement", P::Ordered,
                            {{"ordered", P::Ordered},
                             {"jittered", P::Jittered},
                             {"random", P::Random},
                             {"radial", P::Radial}},
                            "arrangement of the tubules in the cross-section");
    t.direction = in.choice("direction", Axis::Z, kAxes, "axis the tubules run along");
    t.rings = in.integer("rings", 0, 0, 8, "cortical rings (annular channels) around each tubule");
    t.ring_spacing = in.number("ring_spacing", 1.0, 0.05, 50.0, "mm",
                               "distance between successive ring centre lines");
    t.ring_gap = in.number("ring_gap", 0.4, 0.02, 20.0, "mm", "width of each ring channel");
    t.jitter = in.number("jitter", 0.3, 0.0, 0.5, "fraction",
                         "random displacement for jittered placement, fraction of the spacing");
    t.seed = in.integer("seed", 1, 0, 1000000000, "random seed of jittered and random placement");
    if (!in.collecting_schema() && t.rings > 0 && t.ring_gap >= t.ring_spacing)
      throw SpecError(in.field("ring_gap"), number_text(t.ring_gap) +
                                                " mm must be smaller than ring_spacing " +
                                                number_text(t.ring_spacing) + " mm");
    break;
  }
  case Family::Cellular: {
    auto &c = p.cellular;
    using K = CellularParams::Kind;
    c.cells = in.integer("cells", 30, 2, 5000, "number of Voronoi cells");
    c.cell_size =
        in.optional_number("cell_size", 0.5, 100.0, "mm", "mean cell size; replaces cells");
    c.kind = in.choice("kind", K::Walls, {{"walls", K::Walls}, {"struts", K::Struts}},
                       "walls: closed-cell foam; struts: open-cell foam");
    c.thickness = in.number("thickness", 0.8, 0.05, 20.0, "mm", "wall thickness or strut diameter");
    c.smoothing = in.number(
        "smoothing", 0.0, 0.0, 1.0, "fraction",
        "fillets where walls or struts meet, up to half the thickness deep at 1 (0: sharp)");
    c.seed = in.integer("seed", 1, 0, 1000000000, "random seed of the cell centres");
    c.face_sheets = read_face_sheets(in.object("face_sheets", "solid sandwich sheets"));
    break;
  }
  case Family::Nacre: {
    auto &n = p.nacre;
    using B = NacreParams::Bodies;
    n.tablet_length =
        in.number("tablet_length", 6.0, 0.2, 100.0, "mm", "edge of the square tablets");
    n.tablet_thickness = in.number("tablet_thickness", 1.2, 0.05, 20.0, "mm", "tablet thickness");
    n.gap = in.number("gap", 0.8, 0.02, 20.0, "mm", "mortar between tablets");
    n.overlap = in.number("overlap", 0.5, 0.0, 0.5, "fraction",
                          "stagger of successive layers, fraction of a tablet period");
    n.bodies = in.choice("bodies", B::Both,
                         {{"both", B::Both}, {"tablets", B::Tablets}, {"matrix", B::Matrix}},
                         "both: tablets and matrix as two bodies for two-material printing");
    break;
  }
  case Family::SpiderWeb: {
    auto &w = p.spider_web;
    w.radials = in.integer("radials", 12, 3, 128, "radial threads");
    w.spiral_turns =
        in.number("spiral_turns", 8.0, 0.0, 200.0, "turns", "turns of the capture spiral");
    w.thread_thickness = in.number("thread_thickness", 0.8, 0.05, 20.0, "mm", "thread diameter");
    w.hub_radius = in.number("hub_radius", 4.0, 0.0, 500.0, "mm",
                             "free zone around the centre without spiral");
    w.frame = in.boolean("frame", true, "outer frame thread");
    break;
  }
  }
  in.finish();
}

// The family field and its parameter object; in schema mode, records every family's object.
Pattern read_pattern(Reader &in, std::optional<Family> fallback)
{
  Pattern p;
  if (in.collecting_schema()) {
    in.choice("family", Family::Tpms, kFamilies, "structure family");
    for (const auto &[name, family] : kFamilies) {
      Pattern ignored;
      read_family_params(ignored, family,
                         in.object(name, "parameters of the family of the same name"));
    }
    return p;
  }
  if (!in.has("family") && !fallback)
    throw SpecError(
        in.field("family"),
        "missing: one of tpms, honeycomb, bouligand, tubular, cellular, nacre, spider_web");
  p.family = in.choice("family", fallback.value_or(Family::Tpms), kFamilies, "structure family");
  for (const auto &[name, family] : kFamilies) {
    if (family == p.family) {
      read_family_params(p, family, in.object(name, ""));
    } else if (in.has(name)) {
      throw SpecError(in.field(name),
                      std::string("given, but family is ") + std::string(family_name(p.family)));
    }
  }
  return p;
}


void read_header(DesignSpec &spec, Reader &in)
{
  spec.version = in.integer("version", kDesignSpecVersion, 1, 1000,
                            "DesignSpec version; this build reads version 1");
  if (!in.collecting_schema() && spec.version != kDesignSpecVersion)
    throw SpecError(in.field("version"), "version " + std::to_string(spec.version) +
                                             " is not supported; this build reads version " +
                                             std::to_string(kDesignSpecVersion));
  spec.name = in.text("name", "part", "name of the part (used for files and 3MF objects)");
  const std::string units = in.text("units", "mm", "length unit; always mm");
  if (units != "mm")
    throw SpecError(in.field("units"), "only mm is supported, got \"" + units + "\"");
}

void read_rest(DesignSpec &spec, Reader &in, const Vec3 &fallback_size, Shape fallback_shape)
{
  {
    Reader form = in.object("form", "outer form the structure fills");
    using S = Shape;
    spec.form.shape = form.choice(
        "shape", fallback_shape,
        {{"box", S::Box},
         {"cylinder", S::Cylinder},
         {"sphere", S::Sphere},
         {"cone", S::Cone},
         {"prism", S::Prism}},
        "outer form; cylinder, cone and prism stand on the xy plane with their axis along z "
        "(default: cylinder for spider_web, box otherwise)");
    spec.form.size = form.vec3(
        "size", fallback_size, 0.1, 2000.0, "mm",
        "bounding box of the form (x, y, z); default per family: honeycomb 40x40x10, bouligand "
        "20x20x8, "
        "nacre 20x20x10, spider_web 60x60x(0.8 thread), others 20x20x20, layers 20x20xtotal");
    spec.form.sides = form.integer("sides", 6, 3, 24, "sides of a prism");
    form.finish();
  }
  {
    Reader t =
        in.object("transform", "applied to the finished part: scale, then rotate, then translate");
    spec.transform.scale = t.vec3("scale", {1.0, 1.0, 1.0}, 0.01, 100.0, "factor",
                                  "scale factors (one number for all axes)");
    spec.transform.rotate = t.vec3("rotate", {0.0, 0.0, 0.0}, -360.0, 360.0, "degrees",
                                   "rotations about x, then y, then z");
    spec.transform.translate =
        t.vec3("translate", {0.0, 0.0, 0.0}, -10000.0, 10000.0, "mm", "translation");
    t.finish();
  }
  {
    Reader a = in.object("array", "copies of the form in a row, grid or stack");
    spec.array.count = a.ivec3("count", {1, 1, 1}, 1, 50, "copies along x, y, z");
    spec.array.spacing =
        a.vec3("spacing", {0.0, 0.0, 0.0}, 0.0, 10000.0, "mm",
               "distance between copies along x, y, z; 0 = the form size (copies touch)");
    a.finish();
  }
  {
    Reader q = in.object("quality", "meshing resolution");
    spec.quality.edge_length =
        q.optional_number("edge_length", 0.01, 50.0, "mm",
                          "grid spacing of the mesher; default from the finest feature");
    spec.quality.refine =
        q.boolean("refine", true, "refine the grid when the checks show lost features");
    spec.quality.merge_flat = q.boolean("merge_flat", true,
                                        "merge the grid-sized triangles of flat faces into larger "
                                        "ones (the surface does not move)");
    spec.quality.max_triangles = q.integer("max_triangles", 4000000, 1000, 50000000,
                                           "refuse to build more triangles than this");
    q.finish();
  }
  {
    Reader pr = in.object("printer", "printability profile");
    spec.printer.nozzle = pr.number("nozzle", 0.4, 0.05, 2.0, "mm", "nozzle diameter");
    spec.printer.min_wall_factor = pr.number("min_wall_factor", 2.0, 1.0, 6.0, "factor",
                                             "thinnest printable wall = factor x nozzle");
    spec.printer.build_volume =
        pr.vec3("build_volume", {250.0, 210.0, 210.0}, 1.0, 5000.0, "mm", "printer build volume");
    pr.finish();
  }
}

std::string layer_prefix(const DesignSpec &spec, std::size_t i)
{
  return spec.layers.size() > 1 ? "layers[" + std::to_string(i) + "]." : "";
}

// Geometric consistency that single fields cannot see.
void check_geometry(const DesignSpec &spec)
{
  const double height = spec.form.size[2];
  double stack = 0.0;
  for (const auto &layer : spec.layers) stack += layer.thickness;
  if (spec.layers.size() > 1 && std::abs(stack - height) > 1e-6 * std::max(1.0, height))
    throw SpecError("form.size", "height " + number_text(height) +
                                     " mm differs from the layers' total thickness " +
                                     number_text(stack) + " mm");
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const Pattern &p = spec.layers[i].pattern;
    const std::string prefix = layer_prefix(spec, i);
    const double layer_height = spec.layers.size() > 1 ? spec.layers[i].thickness : height;
    if (p.family == Family::Bouligand) {
      const auto &b = p.bouligand;
      const double ply = layer_height / b.layers;
      if (b.fibre_shape == BouligandParams::FibreShape::Cylindrical && ply > 0.9 * b.fibre_width)
        throw SpecError(prefix + "bouligand.layers",
                        std::to_string(b.layers) + " plies in " + number_text(layer_height) +
                            " mm are " + number_text(ply) + " mm thick; cylindrical fibres of " +
                            number_text(b.fibre_width) + " mm only touch in plies up to " +
                            number_text(0.9 * b.fibre_width) + " mm");
    }
    if (p.family == Family::SpiderWeb) {
      const auto &w = p.spider_web;
      const double outer =
          0.5 * std::min(spec.form.size[0], spec.form.size[1]) - w.thread_thickness;
      if (w.hub_radius >= outer)
        throw SpecError(prefix + "spider_web.hub_radius",
                        number_text(w.hub_radius) + " mm leaves no room inside the web's radius " +
                            number_text(outer) + " mm");
      if (w.spiral_turns > 0) {
        const double pitch = (outer - w.hub_radius) / w.spiral_turns;
        if (pitch < 2.0 * w.thread_thickness)
          throw SpecError(prefix + "spider_web.spiral_turns",
                          number_text(w.spiral_turns) + " turns between radius " +
                              number_text(w.hub_radius) + " and " + number_text(outer) +
                              " mm leave " + number_text(pitch) + " mm between threads of " +
                              number_text(w.thread_thickness) +
                              " mm (at least twice the thread is needed)");
      }
    }
    if (p.family == Family::Tubular) {
      const auto &t = p.tubular;
      const int a = static_cast<int>(t.direction);
      const double w = spec.form.size[(a + 1) % 3], d = spec.form.size[(a + 2) % 3];
      const double outer =
          t.radius + t.rings * t.ring_spacing + (t.rings > 0 ? 0.5 * t.ring_gap : 0.0);
      if (t.count * 3.14159265358979 * outer * outer > 0.7 * w * d)
        throw SpecError(prefix + "tubular.count",
                        std::to_string(t.count) + " tubules of outer radius " + number_text(outer) +
                            " mm do not fit in a " + number_text(w) + " x " + number_text(d) +
                            " mm cross-section");
    }
  }
}

ordered_json face_sheets_json(const FaceSheets &f)
{
  return {{"top", f.top}, {"bottom", f.bottom}};
}

const char *axis_name(Axis a)
{
  return a == Axis::X ? "x" : a == Axis::Y ? "y" : "z";
}

ordered_json pattern_json(const Pattern &p)
{
  ordered_json out;
  out["family"] = family_name(p.family);
  ordered_json params;
  switch (p.family) {
  case Family::Tpms: {
    const auto &t = p.tpms;
    params["surface"] = t.surface == TpmsParams::Surface::Gyroid     ? "gyroid"
                        : t.surface == TpmsParams::Surface::SchwarzP ? "schwarz_p"
                                                                     : "diamond";
    params["kind"] = t.kind == TpmsParams::Kind::Sheet ? "sheet" : "network";
    params["cell_size"] = t.cell_size;
    if (t.kind == TpmsParams::Kind::Sheet) params["wall_thickness"] = t.wall_thickness;
    if (t.relative_density) params["relative_density"] = *t.relative_density;
    if (t.grading)
      params["grading"] = {
          {"axis", axis_name(t.grading->axis)}, {"from", t.grading->from}, {"to", t.grading->to}};
    break;
  }
  case Family::Honeycomb:
    params = {{"cell_size", p.honeycomb.cell_size},
              {"wall_thickness", p.honeycomb.wall_thickness},
              {"face_sheets", face_sheets_json(p.honeycomb.face_sheets)}};
    break;
  case Family::Bouligand: {
    const auto &b = p.bouligand;
    params = {{"layers", b.layers},
              {"rotation", b.rotation},
              {"rotation_noise", b.rotation_noise},
              {"fibre_shape", b.fibre_shape == BouligandParams::FibreShape::Rectangular
                                  ? "rectangular"
                                  : "cylindrical"},
              {"fibre_width", b.fibre_width},
              {"fibre_spacing", b.fibre_spacing},
              {"seed", b.seed}};
    break;
  }
  case Family::Tubular: {
    const auto &t = p.tubular;
    using P = TubularParams::Placement;
    params = {{"count", t.count},
              {"radius", t.radius},
              {"ellipticity", t.ellipticity},
              {"placement", t.placement == P::Ordered    ? "ordered"
                            : t.placement == P::Jittered ? "jittered"
                            : t.placement == P::Random   ? "random"
                                                         : "radial"},
              {"direction", axis_name(t.direction)},
              {"rings", t.rings},
              {"ring_spacing", t.ring_spacing},
              {"ring_gap", t.ring_gap},
              {"jitter", t.jitter},
              {"seed", t.seed}};
    break;
  }
  case Family::Cellular: {
    const auto &c = p.cellular;
    params["cells"] = c.cells;
    if (c.cell_size) params["cell_size"] = *c.cell_size;
    params["kind"] = c.kind == CellularParams::Kind::Walls ? "walls" : "struts";
    params["thickness"] = c.thickness;
    params["smoothing"] = c.smoothing;
    params["seed"] = c.seed;
    params["face_sheets"] = face_sheets_json(c.face_sheets);
    break;
  }
  case Family::Nacre: {
    const auto &n = p.nacre;
    using B = NacreParams::Bodies;
    params = {{"tablet_length", n.tablet_length},
              {"tablet_thickness", n.tablet_thickness},
              {"gap", n.gap},
              {"overlap", n.overlap},
              {"bodies", n.bodies == B::Both      ? "both"
                         : n.bodies == B::Tablets ? "tablets"
                                                  : "matrix"}};
    break;
  }
  case Family::SpiderWeb: {
    const auto &w = p.spider_web;
    params = {{"radials", w.radials},
              {"spiral_turns", w.spiral_turns},
              {"thread_thickness", w.thread_thickness},
              {"hub_radius", w.hub_radius},
              {"frame", w.frame}};
    break;
  }
  }
  out[std::string(family_name(p.family))] = params;
  return out;
}

}    // namespace

std::string_view family_name(Family family)
{
  for (const auto &[name, f] : kFamilies)
    if (f == family) return name;
  return "unknown";
}

DesignSpec parse_design_spec(std::string_view text)
{
  json document;
  try {
    document = json::parse(text.begin(), text.end());
  } catch (const json::parse_error &e) {
    // "[json.exception.parse_error.101] parse error at line 1, column 9: ..." -> from "line"
    const std::string what = e.what();
    const auto at = what.find("line ");
    throw SpecError("(spec)",
                    "not valid JSON: " + (at == std::string::npos ? what : what.substr(at)));
  }
  Reader in(&document, "", nullptr);
  DesignSpec spec;
  read_header(spec, in);

  Vec3 size_fallback{20.0, 20.0, 20.0};
  Shape shape_fallback = Shape::Box;
  if (const json *layers = in.raw("layers")) {
    if (in.has("family")) throw SpecError("layers", "give either family or layers, not both");
    if (!layers->is_array() || layers->empty())
      throw SpecError("layers", "must be a non-empty array of layers");
    double total = 0.0;
    for (std::size_t i = 0; i < layers->size(); ++i) {
      Reader item(&(*layers)[i], "layers[" + std::to_string(i) + "]", nullptr);
      Layer layer;
      layer.pattern = read_pattern(item, std::nullopt);
      if (!item.has("thickness"))
        throw SpecError(item.field("thickness"), "missing: each layer needs its thickness");
      layer.thickness = item.number("thickness", 0.0, 0.01, 10000.0, "mm", "");
      item.finish();
      total += layer.thickness;
      spec.layers.push_back(layer);
    }
    size_fallback = {20.0, 20.0, total};
  } else {
    Layer layer;
    layer.pattern = read_pattern(in, std::nullopt);
    spec.layers.push_back(layer);
    size_fallback = default_form_size(spec.pattern());
    if (spec.pattern().family == Family::SpiderWeb) shape_fallback = Shape::Cylinder;
  }
  read_rest(spec, in, size_fallback, shape_fallback);
  in.finish();
  if (spec.layers.size() == 1) spec.layers[0].thickness = spec.form.size[2];
  check_geometry(spec);
  return spec;
}

std::string design_spec_to_json(const DesignSpec &spec)
{
  ordered_json out;
  out["version"] = spec.version;
  out["name"] = spec.name;
  out["units"] = "mm";
  if (spec.layers.size() == 1) {
    const ordered_json pattern = pattern_json(spec.pattern());
    for (const auto &[key, value] : pattern.items()) out[key] = value;
  } else {
    ordered_json layers = ordered_json::array();
    for (const auto &layer : spec.layers) {
      ordered_json item = pattern_json(layer.pattern);
      item["thickness"] = layer.thickness;
      layers.push_back(item);
    }
    out["layers"] = layers;
  }
  const char *shapes[] = {"box", "cylinder", "sphere", "cone", "prism"};
  out["form"] = {{"shape", shapes[static_cast<int>(spec.form.shape)]},
                 {"size", spec.form.size},
                 {"sides", spec.form.sides}};
  out["transform"] = {{"scale", spec.transform.scale},
                      {"rotate", spec.transform.rotate},
                      {"translate", spec.transform.translate}};
  out["array"] = {{"count", spec.array.count}, {"spacing", spec.array.spacing}};
  ordered_json quality;
  if (spec.quality.edge_length) quality["edge_length"] = *spec.quality.edge_length;
  quality["refine"] = spec.quality.refine;
  quality["merge_flat"] = spec.quality.merge_flat;
  quality["max_triangles"] = spec.quality.max_triangles;
  out["quality"] = quality;
  out["printer"] = {{"nozzle", spec.printer.nozzle},
                    {"min_wall_factor", spec.printer.min_wall_factor},
                    {"build_volume", spec.printer.build_volume}};
  return out.dump(2);
}

std::string design_spec_schema()
{
  ordered_json schema;
  schema["$schema"] = "https://json-schema.org/draft/2020-12/schema";
  schema["$id"] = "https://cephalo.invalid/schema/design_spec-1.json";
  schema["title"] = "Cephalo DesignSpec, version 1";
  schema["description"] = "A printable bio-inspired part: one structure family (or a stack of "
                          "layers) filling an outer form, with "
                          "transform, array, meshing quality and printer profile. Lengths in mm, "
                          "angles in degrees. Give either "
                          "family with the object of the same name, or layers.";
  Reader in(nullptr, "", &schema);
  DesignSpec ignored;
  read_header(ignored, in);
  read_pattern(in, std::nullopt);
  {
    auto &layers = schema["properties"]["layers"];
    layers["type"] = "array";
    layers["minItems"] = 1;
    layers["description"] =
        "layers stacked along z from the bottom, each one family; replaces family";
    ordered_json item;
    Reader layer(nullptr, "layers[]", &item);
    read_pattern(layer, std::nullopt);
    layer.number("thickness", 0.0, 0.01, 10000.0, "mm", "layer thickness along z");
    item["required"] = {"family", "thickness"};
    layers["items"] = item;
  }
  read_rest(ignored, in, {20.0, 20.0, 20.0}, Shape::Box);
  schema["oneOf"] = ordered_json::array({{{"required", {"family"}}}, {{"required", {"layers"}}}});
  return schema.dump(2) + "\n";
}

void check_printable_spec(const DesignSpec &spec)
{
  const double min_wall = spec.printer.min_wall();
  const std::string minimum = "the printable minimum " + number_text(min_wall) +
                              " mm (printer.nozzle " + number_text(spec.printer.nozzle) +
                              " x printer.min_wall_factor " +
                              number_text(spec.printer.min_wall_factor) + ")";
  const std::string rule = " mm is below " + minimum;
  auto need = [&](const std::string &field, double value) {
    if (value < min_wall - 1e-12) throw SpecError(field, number_text(value) + rule);
  };
  auto sheets = [&](const std::string &field, const FaceSheets &f) {
    if (f.top > 0.0) need(field + ".top", f.top);
    if (f.bottom > 0.0) need(field + ".bottom", f.bottom);
  };
  // an opening narrower than the nozzle closes up when printed
  auto gap = [&](const std::string &field, double value, const char *what) {
    if (value < spec.printer.nozzle - 1e-12)
      throw SpecError(field, "leaves " + number_text(value) + " mm " + what +
                                 ", narrower than printer.nozzle " +
                                 number_text(spec.printer.nozzle) +
                                 " mm: it would close up when printed");
  };
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const Pattern &p = spec.layers[i].pattern;
    const std::string prefix = layer_prefix(spec, i);
    switch (p.family) {
    case Family::Tpms: {
      const TpmsParams &t = p.tpms;
      if (t.kind != TpmsParams::Kind::Sheet) break;
      if (!t.relative_density && !t.grading) {
        need(prefix + "tpms.wall_thickness", t.wall_thickness);
        break;
      }
      // a density sets the wall through the cell size: say which density would do
      auto density_need = [&](const std::string &field, double density) {
        const double wall = detail::tpms_sheet_wall(t.surface, t.cell_size, density);
        if (wall >= min_wall - 1e-12) return;
        throw SpecError(
            field, number_text(density) + " gives walls of " + number_text(wall) +
                       " mm at tpms.cell_size " + number_text(t.cell_size) + ", below " + minimum +
                       "; a density of at least " +
                       number_text(detail::tpms_sheet_density(t.surface, t.cell_size, min_wall)) +
                       " or a cell size of at least " + number_text(t.cell_size * min_wall / wall) +
                       " mm prints");
      };
      if (t.grading) {
        density_need(prefix + "tpms.grading.from", t.grading->from);
        density_need(prefix + "tpms.grading.to", t.grading->to);
      } else {
        density_need(prefix + "tpms.relative_density", *t.relative_density);
      }
      break;
    }
    case Family::Honeycomb:
      need(prefix + "honeycomb.wall_thickness", p.honeycomb.wall_thickness);
      sheets(prefix + "honeycomb.face_sheets", p.honeycomb.face_sheets);
      break;
    case Family::Bouligand:
      need(prefix + "bouligand.fibre_width", p.bouligand.fibre_width);
      gap(prefix + "bouligand.fibre_spacing", p.bouligand.fibre_spacing - p.bouligand.fibre_width,
          "between fibres");
      break;
    case Family::Tubular:
      if (p.tubular.rings > 0) {
        need(prefix + "tubular.ring_spacing", p.tubular.ring_spacing - p.tubular.ring_gap);
        gap(prefix + "tubular.ring_gap", p.tubular.ring_gap, "of ring channel");
      }
      break;
    case Family::Cellular:
      need(prefix + "cellular.thickness", p.cellular.thickness);
      sheets(prefix + "cellular.face_sheets", p.cellular.face_sheets);
      break;
    case Family::Nacre:
      if (p.nacre.bodies != NacreParams::Bodies::Tablets) need(prefix + "nacre.gap", p.nacre.gap);
      break;
    case Family::SpiderWeb:
      need(prefix + "spider_web.thread_thickness", p.spider_web.thread_thickness);
      break;
    }
  }
  // Overall size: the array of forms, scaled; a rotation can only be checked on the mesh.
  for (int a = 0; a < 3; ++a) {
    const double pitch = spec.array.spacing[a] > 0.0 ? spec.array.spacing[a] : spec.form.size[a];
    const double extent =
        ((spec.array.count[a] - 1) * pitch + spec.form.size[a]) * spec.transform.scale[a];
    if (extent > spec.printer.build_volume[a] + 1e-9)
      throw SpecError("printer.build_volume",
                      std::string("the part is ") + number_text(extent) + " mm along " + "xyz"[a] +
                          ", more than the build volume's " +
                          number_text(spec.printer.build_volume[a]) + " mm");
  }
}

Vec3 default_form_size(const Pattern &p)
{
  switch (p.family) {
  case Family::Honeycomb:
    return {40.0, 40.0, 10.0};
  case Family::Bouligand:
    return {20.0, 20.0, 8.0};
  case Family::Nacre:
    return {20.0, 20.0, 10.0};
  // threads flattened to 80 % top and bottom: flat faces to stand on the bed
  case Family::SpiderWeb:
    return {60.0, 60.0, 0.8 * p.spider_web.thread_thickness};
  default:
    return {20.0, 20.0, 20.0};
  }
}

}    // namespace cephalo::meshing
