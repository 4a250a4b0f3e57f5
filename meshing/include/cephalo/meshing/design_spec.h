// DesignSpec: the JSON description of a printable bio-inspired part, version 1. Units are
// millimetres and degrees. Every field has a default and a range; parse_design_spec() fills the
// defaults and refuses anything unknown or out of range with an error that names the field.
// The written schema (meshing/schema/design_spec.schema.json) is generated from the same code.
#pragma once

#include <array>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace cephalo::meshing {

inline constexpr int kDesignSpecVersion = 1;

using Vec3 = std::array<double, 3>;

// A spec that cannot be built: `field` is the dotted path of the offending field
// ("tpms.cell_size", "layers[1].family"), what() is "field: message".
class SpecError : public std::runtime_error {
 public:
  SpecError(std::string field, const std::string &message);
  const std::string &field() const { return field_; }

 private:
  std::string field_;
};

enum class Family { Tpms, Honeycomb, Bouligand, Tubular, Cellular, Nacre, SpiderWeb };
enum class Shape { Box, Cylinder, Sphere, Cone, Prism };
enum class Axis { X = 0, Y = 1, Z = 2 };

std::string_view family_name(Family family);

struct TpmsParams {
  enum class Surface { Gyroid, SchwarzP, Diamond } surface = Surface::Gyroid;
  enum class Kind { Sheet, Network } kind = Kind::Sheet;
  double cell_size = 5.0;
  double wall_thickness = 1.0;               // sheets; ignored when relative_density is given
  std::optional<double> relative_density;    // target solid fraction
  struct Grading {
    Axis axis = Axis::Z;
    double from = 0.2, to = 0.4;    // relative density at the low and high end of the axis
  };
  std::optional<Grading> grading;
};

struct FaceSheets {
  double top = 0.0, bottom = 0.0;    // thickness; 0 = none
};

struct HoneycombParams {
  double cell_size = 4.0;    // across flats
  double wall_thickness = 0.8;
  FaceSheets face_sheets;
};

struct BouligandParams {
  int layers = 8;
  double rotation = 15.0;         // degrees per ply
  double rotation_noise = 0.0;    // standard deviation, degrees
  enum class FibreShape { Rectangular, Cylindrical } fibre_shape = FibreShape::Rectangular;
  double fibre_width = 1.0;      // width, or diameter of a cylindrical fibre
  double fibre_spacing = 1.6;    // centre to centre
  int seed = 1;
};

struct TubularParams {
  int count = 9;
  double radius = 1.0;
  double ellipticity = 0.0;    // minor semi-axis = radius * (1 - ellipticity)
  enum class Placement { Ordered, Jittered, Random, Radial } placement = Placement::Ordered;
  Axis direction = Axis::Z;
  int rings = 0;                // cortical rings (annular channels) around each tubule
  double ring_spacing = 1.0;    // between successive ring centre lines
  double ring_gap = 0.4;        // width of each ring channel
  double jitter = 0.3;          // fraction of the spacing, for jittered placement
  int seed = 1;
};

struct CellularParams {
  int cells = 30;
  std::optional<double> cell_size;    // if given, cells = form volume / cell_size^3
  enum class Kind { Walls, Struts } kind = Kind::Walls;
  double thickness = 0.8;    // wall thickness or strut diameter
  double smoothing = 0.0;    // 0..1: fillets where walls or struts meet
  int seed = 1;
  FaceSheets face_sheets;
};

struct NacreParams {
  double tablet_length = 4.0;
  double tablet_thickness = 0.8;
  double gap = 0.4;        // mortar between tablets
  double overlap = 0.5;    // stagger of successive layers, fraction of a tablet period
  enum class Bodies { Both, Tablets, Matrix } bodies = Bodies::Both;
};

struct SpiderWebParams {
  int radials = 12;
  double spiral_turns = 8.0;
  double thread_thickness = 0.8;    // thread diameter
  double hub_radius = 4.0;          // free zone around the centre without spiral
  bool frame = true;                // outer ring
};

// One family and its parameters (a layer of a stack, or the whole part).
struct Pattern {
  Family family = Family::Tpms;
  TpmsParams tpms;
  HoneycombParams honeycomb;
  BouligandParams bouligand;
  TubularParams tubular;
  CellularParams cellular;
  NacreParams nacre;
  SpiderWebParams spider_web;
};

struct Layer {
  Pattern pattern;
  double thickness = 0.0;
};

struct Form {
  Shape shape = Shape::Box;
  Vec3 size{20.0, 20.0, 20.0};    // bounding box of the outer form
  int sides = 6;                  // prism
};

struct Transform {
  Vec3 scale{1.0, 1.0, 1.0};
  Vec3 rotate{0.0, 0.0, 0.0};    // degrees about x, then y, then z
  Vec3 translate{0.0, 0.0, 0.0};
};

struct ArrayLayout {
  std::array<int, 3> count{1, 1, 1};
  Vec3 spacing{0.0, 0.0, 0.0};    // 0: the form size (copies touch)
};

struct Quality {
  std::optional<double> edge_length;    // grid spacing; default from the finest feature
  bool refine = true;                   // refine when a check shows features were lost
  bool merge_flat = true;               // merge the grid-sized triangles of flat faces
  long max_triangles = 4000000;
};

struct PrinterProfile {
  double nozzle = 0.4;
  double min_wall_factor = 2.0;    // thinnest printable wall = factor x nozzle
  Vec3 build_volume{250.0, 210.0, 210.0};
  double min_wall() const { return nozzle * min_wall_factor; }
};

struct DesignSpec {
  int version = kDesignSpecVersion;
  std::string name = "part";
  std::vector<Layer> layers;    // one layer (the whole form) unless stacked
  Form form;
  Transform transform;
  ArrayLayout array;
  Quality quality;
  PrinterProfile printer;

  const Pattern &pattern() const { return layers.front().pattern; }
};

// The outer form's size when a spec gives none: the family's natural part (a 20 mm cube; a
// 40 x 40 x 10 mm honeycomb panel; a 20 x 20 x 8 mm Bouligand plate; a 60 mm web one thread
// thick, flattened to stand on the bed).
Vec3 default_form_size(const Pattern &pattern);

// Parses and validates JSON text. Throws SpecError.
DesignSpec parse_design_spec(std::string_view json);

// The spec with every default filled in, as JSON text (parse_design_spec reads it back equal).
std::string design_spec_to_json(const DesignSpec &spec);

// The JSON Schema (draft 2020-12) of version 1, generated from the parser's own field table.
std::string design_spec_schema();

// Checks a spec against its printer profile: walls and threads at least the printable minimum,
// the part inside the build volume. Throws SpecError naming the field and the numbers.
void check_printable_spec(const DesignSpec &spec);

}    // namespace cephalo::meshing
