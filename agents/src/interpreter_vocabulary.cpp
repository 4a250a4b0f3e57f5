// The design interpreter's vocabulary tables (see interpreter_vocabulary.h).
#include "interpreter_vocabulary.h"

#include "cephalo/agents/interpreter.h"

#include <algorithm>
#include <map>
#include <sstream>

namespace cephalo::agents::vocabulary {

const std::vector<FamilyWord> &family_words()
{
  static const std::vector<FamilyWord> words = {
      {"gyroid", Family::Tpms, 0},
      {"gyroids", Family::Tpms, 0},
      {"tpms", Family::Tpms},
      {"triply periodic minimal surface", Family::Tpms},
      {"minimal surface", Family::Tpms},
      {"schwarz p", Family::Tpms, 1},
      {"schwarz primitive", Family::Tpms, 1},
      {"primitive surface", Family::Tpms, 1},
      {"p surface", Family::Tpms, 1},
      {"schwarz d", Family::Tpms, 2},
      {"schwarz diamond", Family::Tpms, 2},
      {"diamond", Family::Tpms, 2},
      {"honeycomb", Family::Honeycomb},
      {"honeycombs", Family::Honeycomb},
      {"hexagonal cells", Family::Honeycomb},
      {"hexagonal lattice", Family::Honeycomb},
      {"hex cells", Family::Honeycomb},
      {"beehive", Family::Honeycomb},
      {"bouligand", Family::Bouligand},
      {"twisted plywood", Family::Bouligand},
      {"helical plies", Family::Bouligand},
      {"helicoidal", Family::Bouligand},
      {"helicoid", Family::Bouligand},
      {"helical", Family::Bouligand},
      {"plywood", Family::Bouligand},
      {"rotated plies", Family::Bouligand},
      {"mantis shrimp", Family::Bouligand},
      {"dactyl club", Family::Bouligand},
      {"osteon", Family::Tubular},
      {"osteons", Family::Tubular},
      {"osteonal", Family::Tubular},
      {"tubular", Family::Tubular},
      {"tubules", Family::Tubular},
      {"tubule", Family::Tubular},
      {"bone like", Family::Tubular},
      {"bone", Family::Tubular},
      {"cortical bone", Family::Tubular},
      {"haversian", Family::Tubular},
      {"haversian canals", Family::Tubular},
      {"dentin", Family::Tubular},
      {"dentine", Family::Tubular},
      {"foam", Family::Cellular},
      {"foams", Family::Cellular},
      {"foamy", Family::Cellular},
      {"cellular", Family::Cellular},
      {"voronoi", Family::Cellular},
      {"sponge", Family::Cellular},
      {"spongy", Family::Cellular},
      {"trabecular", Family::Cellular},
      {"trabecular bone", Family::Cellular},
      {"cancellous bone", Family::Cellular},
      {"spongy bone", Family::Cellular},
      {"nacre", Family::Nacre},
      {"nacreous", Family::Nacre},
      {"brick and mortar", Family::Nacre},
      {"bricks and mortar", Family::Nacre},
      {"mother of pearl", Family::Nacre},
      {"abalone", Family::Nacre},
      {"spider web", Family::SpiderWeb},
      {"spider s web", Family::SpiderWeb},
      {"spiderweb", Family::SpiderWeb},
      {"cobweb", Family::SpiderWeb},
      {"orb web", Family::SpiderWeb},
      {"web", Family::SpiderWeb},
  };
  return words;
}

const std::vector<FormWord> &form_words()
{
  static const std::vector<FormWord> words = {
      {"cube", Shape::Box, 6, 0, true},
      {"cubes", Shape::Box, 6, 0, true},
      {"cubic", Shape::Box, 6, 0, true},
      {"box", Shape::Box},
      {"block", Shape::Box},
      {"cuboid", Shape::Box},
      {"plate", Shape::Box, 6, -1},
      {"slab", Shape::Box, 6, -1},
      {"panel", Shape::Box, 6, -1},
      {"tile", Shape::Box, 6, -1},
      {"tiles", Shape::Box, 6, -1},
      {"plates", Shape::Box, 6, -1},
      {"panels", Shape::Box, 6, -1},
      {"cylinder", Shape::Cylinder},
      {"cylindrical", Shape::Cylinder},
      {"disc", Shape::Cylinder, 6, -1},
      {"disk", Shape::Cylinder, 6, -1},
      {"puck", Shape::Cylinder, 6, -1},
      {"rod", Shape::Cylinder, 6, 1},
      {"pillar", Shape::Cylinder, 6, 1},
      {"column", Shape::Cylinder, 6, 1},
      {"sphere", Shape::Sphere, 6, 0, true},
      {"spherical", Shape::Sphere, 6, 0, true},
      {"ball", Shape::Sphere, 6, 0, true},
      {"globe", Shape::Sphere, 6, 0, true},
      {"cone", Shape::Cone},
      {"conical", Shape::Cone},
      {"prism", Shape::Prism, 6},
      {"hexagonal prism", Shape::Prism, 6},
      {"triangular prism", Shape::Prism, 3},
      {"pentagonal prism", Shape::Prism, 5},
      {"octagonal prism", Shape::Prism, 8},
  };
  return words;
}

const std::vector<Adjective> &adjectives()
{
  static const std::vector<Adjective> words = {
      {"thin", Scale::Thickness, -1},    {"slender", Scale::Thickness, -1},
      {"skinny", Scale::Thickness, -1},  {"thick", Scale::Thickness, 1},
      {"fat", Scale::Thickness, 1},      {"chunky", Scale::Thickness, 1},
      {"small", Scale::Extent, -1},      {"little", Scale::Extent, -1},
      {"fine", Scale::Extent, -1},       {"tiny", Scale::Extent, -1},
      {"large", Scale::Extent, 1},       {"big", Scale::Extent, 1},
      {"coarse", Scale::Extent, 1},      {"huge", Scale::Extent, 1},
      {"narrow", Scale::Breadth, -1},    {"wide", Scale::Breadth, 1},
      {"broad", Scale::Breadth, 1},      {"short", Scale::Height, -1},
      {"low", Scale::Height, -1},        {"flat", Scale::Height, -1},
      {"squat", Scale::Height, -1},      {"tall", Scale::Height, 1},
      {"high", Scale::Height, 1},        {"long", Scale::Length, 1},
      {"elongated", Scale::Length, 1},   {"porous", Scale::Density, -1},
      {"light", Scale::Density, -1},     {"lightweight", Scale::Density, -1},
      {"airy", Scale::Density, -1},      {"sparse", Scale::Density, -1},
      {"dense", Scale::Density, 1},      {"heavy", Scale::Density, 1},
      {"compact", Scale::Density, 1},    {"few", Scale::Count, -1},
      {"a few", Scale::Count, -1},       {"many", Scale::Count, 1},
      {"numerous", Scale::Count, 1},     {"lots of", Scale::Count, 1},
      {"a lot of", Scale::Count, 1},     {"plenty of", Scale::Count, 1},
      {"noisy", Scale::Noise, 1},        {"disordered", Scale::Noise, 1},
      {"irregular", Scale::Noise, 1},    {"imperfect", Scale::Noise, 1},
      {"noise", Scale::Noise, 1},        {"smooth", Scale::Smoothness, 1},
      {"rounded", Scale::Smoothness, 1}, {"filleted", Scale::Smoothness, 1},
      {"fillets", Scale::Smoothness, 1},
  };
  return words;
}

const std::vector<std::string_view> &intensifiers()
{
  static const std::vector<std::string_view> words = {"very",  "extremely", "really", "super",
                                                      "ultra", "highly",    "quite",  "much"};
  return words;
}

const std::vector<std::string_view> &softeners()
{
  static const std::vector<std::string_view> words = {"slightly", "somewhat", "a bit", "a little",
                                                      "mildly",   "a touch",  "rather"};
  return words;
}

const std::vector<TopicNoun> &topic_nouns()
{
  static const std::vector<TopicNoun> words = {
      {"face sheets", Topic::FaceSheet},
      {"face sheet", Topic::FaceSheet},
      {"skins", Topic::FaceSheet},
      {"skin", Topic::FaceSheet},
      {"walls", Topic::Wall},
      {"wall", Topic::Wall},
      {"walled", Topic::Wall},
      {"celled", Topic::Cell},
      {"struts", Topic::Wall},
      {"strut", Topic::Wall},
      {"membranes", Topic::Wall},
      {"ligaments", Topic::Wall},
      {"cells", Topic::Cell},
      {"cell", Topic::Cell},
      {"unit cells", Topic::Cell},
      {"pores", Topic::Cell},
      {"pore", Topic::Cell},
      {"bubbles", Topic::Cell},
      {"fibres", Topic::Fibre},
      {"fibre", Topic::Fibre},
      {"fibers", Topic::Fibre},
      {"fiber", Topic::Fibre},
      {"threads", Topic::Thread},
      {"thread", Topic::Thread},
      {"silk", Topic::Thread},
      {"strands", Topic::Thread},
      {"tubules", Topic::Tubule},
      {"tubule", Topic::Tubule},
      {"channels", Topic::Tubule},
      {"channel", Topic::Tubule},
      {"tubes", Topic::Tubule},
      {"holes", Topic::Tubule},
      {"canals", Topic::Tubule},
      {"osteons", Topic::Tubule},
      {"tablets", Topic::Tablet},
      {"tablet", Topic::Tablet},
      {"bricks", Topic::Tablet},
      {"platelets", Topic::Tablet},
      {"plies", Topic::Ply},
      {"ply", Topic::Ply},
      {"layers", Topic::Ply},
      {"lamellae", Topic::Ply},
      {"radials", Topic::Radial},
      {"radial threads", Topic::Radial},
      {"spokes", Topic::Radial},
      {"radial", Topic::Radial},
      {"turns", Topic::Turn},
      {"spiral turns", Topic::Turn},
      {"loops", Topic::Turn},
      {"windings", Topic::Turn},
      {"rings", Topic::Ring},
      {"ring", Topic::Ring},
      {"mortar", Topic::Gap},
      {"gaps", Topic::Gap},
      {"gap", Topic::Gap},
      {"hub", Topic::Hub},
      {"copies", Topic::Copy},
      {"sides", Topic::Side},
      {"part", Topic::Part},
      {"sample", Topic::Part},
      {"piece", Topic::Part},
      {"specimen", Topic::Part},
      {"object", Topic::Part},
      {"structure", Topic::Part},
      {"scaffold", Topic::Part},
      {"lattice", Topic::Part},
      {"design", Topic::Part},
      {"implant", Topic::Part},
      {"joints", Topic::Part},
      {"junctions", Topic::Part},
  };
  return words;
}

std::string_view topic_name(Topic topic)
{
  switch (topic) {
  case Topic::Wall:
    return "walls";
  case Topic::Cell:
    return "cells";
  case Topic::Fibre:
    return "fibres";
  case Topic::Thread:
    return "threads";
  case Topic::Tubule:
    return "tubules";
  case Topic::Tablet:
    return "tablets";
  case Topic::Ply:
    return "plies";
  case Topic::Radial:
    return "radials";
  case Topic::Turn:
    return "spiral turns";
  case Topic::Ring:
    return "rings";
  case Topic::FaceSheet:
    return "face sheets";
  case Topic::Gap:
    return "mortar gap";
  case Topic::Hub:
    return "hub";
  case Topic::Copy:
    return "copies";
  case Topic::Side:
    return "sides";
  case Topic::Part:
    return "the part";
  }
  return "?";
}

int level_index(int level)
{
  return level < 0 ? std::clamp(level, -3, -1) + 3 : std::clamp(level, 1, 3) + 2;
}

const std::vector<QualitativeValue> &qualitative_values()
{
  constexpr int kTpms = static_cast<int>(Family::Tpms);
  constexpr int kHoney = static_cast<int>(Family::Honeycomb);
  constexpr int kBoul = static_cast<int>(Family::Bouligand);
  constexpr int kTub = static_cast<int>(Family::Tubular);
  constexpr int kFoam = static_cast<int>(Family::Cellular);
  constexpr int kWeb = static_cast<int>(Family::SpiderWeb);
  static const std::vector<QualitativeValue> values = {
      // thickness of solid features: never below the printable minimum of the default printer
      {Scale::Thickness,
       Topic::Wall,
       -1,
       "wall thickness (tpms, honeycomb, cellular)",
       {0.8, 0.8, 0.9, 1.2, 1.5, 2.0},
       "mm; 0.8 is the printable minimum (2 x 0.4 mm nozzle)"},
      {Scale::Thickness,
       Topic::Fibre,
       -1,
       "bouligand.fibre_width",
       {0.8, 0.8, 0.9, 1.2, 1.5, 2.0},
       "mm; fibre_spacing follows at 1.6 x the width unless given"},
      {Scale::Thickness,
       Topic::Thread,
       -1,
       "spider_web.thread_thickness",
       {0.8, 0.8, 0.9, 1.0, 1.2, 1.5},
       "mm"},
      {Scale::Thickness,
       Topic::Tubule,
       -1,
       "tubular.radius",
       {0.5, 0.6, 0.8, 1.25, 1.5, 2.0},
       "mm"},
      {Scale::Thickness,
       Topic::Tablet,
       -1,
       "nacre.tablet_thickness",
       {1.2, 1.2, 1.2, 1.5, 2.0, 2.5},
       "mm; at least 1.2: the bottom row, cut by the 0.8 mm mortar skin, keeps 0.8 mm"},
      {Scale::Thickness,
       Topic::FaceSheet,
       -1,
       "face_sheets top and bottom",
       {0.8, 0.8, 0.9, 1.5, 2.0, 3.0},
       "mm"},
      {Scale::Thickness,
       Topic::Part,
       -1,
       "form.size z (factor)",
       {0.3, 0.4, 0.75, 1.5, 2.0, 3.0},
       "times the family's default height"},
      // extent: cells, tablets, tubules, the part
      {Scale::Extent, Topic::Cell, kTpms, "tpms.cell_size", {3.5, 4.0, 4.5, 6.0, 8.0, 10.0}, "mm"},
      {Scale::Extent,
       Topic::Cell,
       kHoney,
       "honeycomb.cell_size",
       {2.5, 3.0, 3.5, 5.0, 6.0, 8.0},
       "mm"},
      {Scale::Extent,
       Topic::Cell,
       kFoam,
       "cellular.cell_size",
       {3.5, 4.5, 5.5, 7.5, 9.0, 12.0},
       "mm"},
      {Scale::Extent, Topic::Tubule, -1, "tubular.radius", {0.5, 0.6, 0.8, 1.25, 1.5, 2.0}, "mm"},
      {Scale::Extent,
       Topic::Tablet,
       -1,
       "nacre.tablet_length",
       {3.0, 4.0, 5.0, 7.0, 8.0, 10.0},
       "mm"},
      {Scale::Extent,
       Topic::Fibre,
       -1,
       "bouligand.fibre_width",
       {0.8, 0.8, 0.9, 1.2, 1.5, 2.0},
       "mm"},
      {Scale::Extent,
       Topic::Thread,
       -1,
       "spider_web.thread_thickness",
       {0.8, 0.8, 0.9, 1.0, 1.2, 1.5},
       "mm"},
      {Scale::Extent,
       Topic::Gap,
       -1,
       "nacre.gap",
       {0.8, 0.8, 0.8, 1.0, 1.2, 1.5},
       "mm; 0.8 is the printable minimum of the mortar"},
      {Scale::Extent,
       Topic::Hub,
       -1,
       "spider_web.hub_radius",
       {1.5, 2.0, 3.0, 5.0, 6.0, 8.0},
       "mm"},
      {Scale::Extent,
       Topic::Part,
       -1,
       "form.size (factor)",
       {0.5, 0.6, 0.8, 1.25, 1.5, 2.0},
       "times the family's default size (a web keeps its thread height)"},
      // breadth, height and length of the form
      {Scale::Breadth, Topic::Tubule, -1, "tubular.radius", {0.5, 0.6, 0.8, 1.25, 1.5, 2.0}, "mm"},
      {Scale::Breadth,
       Topic::Fibre,
       -1,
       "bouligand.fibre_width",
       {0.8, 0.8, 0.9, 1.2, 1.5, 2.0},
       "mm"},
      {Scale::Breadth,
       Topic::Part,
       -1,
       "form.size x and y (factor)",
       {0.4, 0.5, 0.75, 1.25, 1.5, 2.0},
       "times the family's default"},
      {Scale::Height,
       Topic::Part,
       -1,
       "form.size z (factor)",
       {0.3, 0.4, 0.75, 1.5, 2.0, 3.0},
       "times the family's default height"},
      {Scale::Length,
       Topic::Part,
       -1,
       "form.size x (factor)",
       {0.5, 0.6, 0.8, 1.5, 2.0, 3.0},
       "times the family's default"},
      {Scale::Length,
       Topic::Tablet,
       -1,
       "nacre.tablet_length",
       {3.0, 4.0, 5.0, 7.0, 8.0, 10.0},
       "mm"},
      // density, per family: what makes that family denser
      {Scale::Density,
       Topic::Part,
       kTpms,
       "tpms.relative_density",
       {0.2, 0.25, 0.3, 0.45, 0.55, 0.7},
       "fraction; a sheet whose walls would print thinner than 0.8 mm becomes a network, whose "
       "cells grow until its struts are about 1.5 mm"},
      {Scale::Density,
       Topic::Part,
       kHoney,
       "honeycomb density -> wall_thickness",
       {0.15, 0.2, 0.25, 0.4, 0.5, 0.6},
       "fraction; wall = cell (1 - sqrt(1 - density)); cells grow when the wall would be under "
       "0.8 mm"},
      {Scale::Density,
       Topic::Part,
       kFoam,
       "cellular.cell_size",
       {12.0, 10.0, 8.0, 5.0, 4.5, 4.0},
       "mm; at a fixed wall a foam is denser with smaller cells"},
      {Scale::Density,
       Topic::Part,
       kBoul,
       "bouligand.fibre_spacing - fibre_width",
       {1.6, 1.2, 0.9, 0.5, 0.45, 0.4},
       "mm between fibres (at least the 0.4 mm nozzle)"},
      {Scale::Density,
       Topic::Part,
       kTub,
       "tubular.radius",
       {2.0, 1.6, 1.25, 0.8, 0.6, 0.5},
       "mm; a denser bone has narrower tubules"},
      {Scale::Density,
       Topic::Part,
       kWeb,
       "spider_web.spiral_turns",
       {3, 4, 6, 10, 12, 14},
       "turns"},
      // counts
      {Scale::Count, Topic::Tubule, -1, "tubular.count", {2, 4, 6, 16, 25, 36}, ""},
      {Scale::Count, Topic::Ply, -1, "bouligand.layers", {3, 4, 6, 12, 14, 16}, ""},
      {Scale::Count, Topic::Radial, -1, "spider_web.radials", {4, 6, 8, 16, 20, 24}, ""},
      {Scale::Count, Topic::Turn, -1, "spider_web.spiral_turns", {3, 4, 6, 10, 12, 14}, ""},
      {Scale::Count, Topic::Ring, -1, "tubular.rings", {1, 1, 1, 2, 3, 3}, ""},
      {Scale::Count, Topic::Cell, kFoam, "cellular.cells", {8, 10, 15, 50, 80, 120}, ""},
      {Scale::Count,
       Topic::Cell,
       kTpms,
       "tpms.cell_size",
       {8.0, 7.0, 6.0, 4.5, 4.0, 3.5},
       "mm: more cells are smaller cells"},
      {Scale::Count,
       Topic::Cell,
       kHoney,
       "honeycomb.cell_size",
       {8.0, 6.0, 5.0, 3.5, 3.0, 2.5},
       "mm: more cells are smaller cells"},
      // disorder and smoothness
      {Scale::Noise,
       Topic::Part,
       kBoul,
       "bouligand.rotation_noise",
       {0, 0, 0, 2, 5, 10},
       "degrees"},
      {Scale::Noise,
       Topic::Part,
       kTub,
       "tubular.jitter (placement jittered)",
       {0, 0, 0, 0.15, 0.3, 0.5},
       "fraction of the spacing"},
      {Scale::Smoothness,
       Topic::Part,
       kFoam,
       "cellular.smoothing",
       {0, 0, 0, 0.25, 0.5, 1.0},
       "fraction"},
  };
  return values;
}

const std::vector<NumberRule> &number_rules()
{
  using D = Dimension;
  static const std::vector<NumberRule> rules = {
      {D::Length,
       {"face sheet", "face sheets", "skin", "skins", "facing", "facings", "cover sheets",
        "top sheet", "bottom sheet", "lid", "lids"},
       Slot::FaceSheet,
       "face sheet thickness (honeycomb, cellular)"},
      {D::Length, {"hub"}, Slot::Hub, "spider_web.hub_radius (\"hub diameter\" halves)"},
      {D::Length, {"ring spacing", "rings apart"}, Slot::RingSpacing, "tubular.ring_spacing"},
      {D::Length,
       {"ring gap", "ring gaps", "ring channel", "ring channels"},
       Slot::RingGap,
       "tubular.ring_gap"},
      {D::Length,
       {"gap", "gaps", "mortar", "matrix"},
       Slot::Gap,
       "nacre.gap; between copies of an array: the spacing grows by it"},
      {D::Length,
       {"wall", "walls", "wall thickness", "membrane", "membranes", "strut", "struts", "ligaments"},
       Slot::Wall,
       "tpms.wall_thickness, honeycomb.wall_thickness, cellular.thickness"},
      {D::Length,
       {"cell", "cells", "unit cell", "unit cells", "cell size", "pore", "pores", "period"},
       Slot::CellSize,
       "tpms.cell_size, honeycomb.cell_size, cellular.cell_size"},
      {D::Length,
       {"fibre", "fibres", "fiber", "fibers", "fibre width", "fiber width"},
       Slot::FibreWidth,
       "bouligand.fibre_width"},
      {D::Length,
       {"apart", "spacing", "spaced", "pitch", "separation", "centre to centre",
        "center to center"},
       Slot::Spacing,
       "array.spacing with copies; bouligand.fibre_spacing; tubular.ring_spacing with rings"},
      {D::Length,
       {"tubule", "tubules", "channel", "channels", "tube", "tubes", "hole", "holes", "canal",
        "canals", "osteon", "osteons", "bore", "bores"},
       Slot::Tubule,
       "tubular.radius (a bare size or a diameter is halved; \"radius\" is not)"},
      {D::Length,
       {"tablet", "tablets", "brick", "bricks", "platelet", "platelets"},
       Slot::Tablet,
       "nacre.tablet_length (\"thick\" tablets: tablet_thickness)"},
      {D::Length,
       {"thread", "threads", "silk", "strand", "strands"},
       Slot::Thread,
       "spider_web.thread_thickness"},
      {D::Length,
       {"layer", "layers", "ply", "plies", "lamella", "lamellae"},
       Slot::LayerThickness,
       "a layer of a stack; for one family the height (plies: height = plies x thickness)"},
      {D::Length,
       {"tall", "high", "height", "in height", "thick", "thickness"},
       Slot::Height,
       "form.size z (in a stack: the layer's thickness)"},
      {D::Length, {"wide", "width", "across", "broad"}, Slot::Width, "form.size x (and y)"},
      {D::Length, {"long", "length"}, Slot::Length, "form.size x"},
      {D::Length, {"deep", "depth"}, Slot::Depth, "form.size y"},
      {D::Length, {"diameter", "dia", "diam"}, Slot::Diameter, "form.size x and y"},
      {D::Length, {"radius"}, Slot::Radius, "form.size x and y = 2 x radius"},
      {D::Length,
       {"side", "sides", "on a side", "edge", "edges", "per side", "each side"},
       Slot::Side,
       "form.size, every side"},
      {D::Length,
       {"part", "sample", "piece", "specimen", "object", "structure", "scaffold", "lattice",
        "design", "implant", "(a form or family word)"},
       Slot::PartSize,
       "form.size: a cube or sphere every side, a cylinder, disc or cone its diameter"},
      {D::Length,
       {"move", "moved", "shift", "shifted", "translate", "translated", "offset", "up", "down"},
       Slot::Translate,
       "transform.translate (along x, y or z; up and down are z)"},
      {D::Angle,
       {"per layer", "per ply", "each layer", "each ply", "between layers", "between plies",
        "from layer to layer", "from ply to ply", "ply to ply", "layer to layer", "per lamella",
        "twist", "pitch angle", "successive"},
       Slot::PlyRotation,
       "bouligand.rotation"},
      {D::Angle,
       {"noise", "noisy", "random", "randomness", "jitter", "scatter", "disorder", "deviation",
        "variation", "spread"},
       Slot::Noise,
       "bouligand.rotation_noise"},
      {D::Angle,
       {"about", "around", "rotate", "rotated", "rotation", "turn", "turned", "tilt", "tilted",
        "spin", "x axis", "y axis", "z axis"},
       Slot::Rotate,
       "transform.rotate about the axis named (z when none); in a Bouligand text without an "
       "axis: bouligand.rotation"},
      {D::Fraction,
       {"dense", "density", "relative density", "solid", "solidity", "infill", "fill", "filled",
        "volume fraction", "solid fraction"},
       Slot::Density,
       "tpms.relative_density; honeycomb walls from the density; graded from A to B: "
       "tpms.grading"},
      {D::Fraction,
       {"porous", "porosity", "void", "voids", "open", "empty", "air"},
       Slot::Porosity,
       "1 - density"},
      {D::Fraction,
       {"scale", "scaled", "size", "larger", "bigger", "smaller", "as large", "scale factor",
        "shrink", "shrunk", "enlarge", "enlarged"},
       Slot::Scale,
       "transform.scale (larger: 1 + x, smaller: 1 - x)"},
      {D::Fraction,
       {"elliptical", "ellipticity", "eccentricity", "oval", "flattened", "elliptic"},
       Slot::Ellipticity,
       "tubular.ellipticity"},
      {D::Fraction,
       {"jitter", "jittered", "displacement", "perturbation"},
       Slot::Jitter,
       "tubular.jitter (placement jittered)"},
      {D::Fraction,
       {"overlap", "overlapping", "stagger", "staggered", "offset"},
       Slot::Overlap,
       "nacre.overlap"},
      {D::Fraction,
       {"smoothing", "smooth", "fillet", "fillets", "rounding", "rounded"},
       Slot::Smoothing,
       "cellular.smoothing"},
      {D::Count, {"seed", "random seed"}, Slot::Seed, "seed of the family's random numbers"},
      {D::Count,
       {"tubule", "tubules", "channel", "channels", "tube", "tubes", "hole", "holes", "canal",
        "canals", "osteon", "osteons"},
       Slot::Tubules,
       "tubular.count"},
      {D::Count,
       {"layer", "layers", "ply", "plies", "lamella", "lamellae", "lamina", "laminae"},
       Slot::Plies,
       "bouligand.layers; with another family (\"two foam layers\"): layers of a stack"},
      {D::Count,
       {"radial", "radials", "spoke", "spokes", "ray", "rays", "radial threads", "radii"},
       Slot::Radials,
       "spider_web.radials"},
      {D::Count,
       {"turn", "turns", "spiral turns", "loop", "loops", "winding", "windings", "revolution",
        "revolutions", "coil", "coils"},
       Slot::Turns,
       "spider_web.spiral_turns"},
      {D::Count,
       {"ring", "rings", "annulus", "annuli", "cortical rings"},
       Slot::Rings,
       "tubular.rings (for a web: spider_web.spiral_turns)"},
      {D::Count,
       {"cell", "cells", "bubble", "bubbles", "pore", "pores", "voids"},
       Slot::Cells,
       "cellular.cells; tpms and honeycomb: cell_size = width / count"},
      {D::Count,
       {"copy",      "copies",    "part",   "parts",   "piece",   "pieces", "cube",
        "cubes",     "block",     "blocks", "unit",    "units",   "sample", "samples",
        "instance",  "instances", "module", "modules", "tile",    "tiles",  "times",
        "cylinders", "spheres",   "discs",  "disks",   "replicas"},
       Slot::Copies,
       "array.count: in a row along x, stacked along z, or as a square grid (\"grid\")"},
      {D::Count, {"side", "sides", "sided", "faces", "gon"}, Slot::Sides, "form.sides (a prism)"},
  };
  return rules;
}

const std::vector<Switch> &switches()
{
  static const std::vector<Switch> words = {
      {"sheet", "tpms.kind", "sheet", false, ""},
      {"sheets", "tpms.kind", "sheet", false, ""},
      {"shell", "tpms.kind", "sheet", false, ""},
      {"network", "tpms.kind", "network", false, ""},
      {"skeletal", "tpms.kind", "network", false, ""},
      {"solid network", "tpms.kind", "network", false, ""},
      {"open cell", "cellular.kind", "struts", false, ""},
      {"open celled", "cellular.kind", "struts", false, ""},
      {"struts", "cellular.kind", "struts", true, "walls"},
      {"strut", "cellular.kind", "struts", true, "walls"},
      {"closed cell", "cellular.kind", "walls", false, ""},
      {"closed celled", "cellular.kind", "walls", false, ""},
      {"face sheets", "face_sheets", "1 mm top and bottom", true, "none"},
      {"face sheet", "face_sheets", "1 mm top and bottom", true, "none"},
      {"skins", "face_sheets", "1 mm top and bottom", true, "none"},
      {"skin", "face_sheets", "1 mm top and bottom", true, "none"},
      {"sandwich", "face_sheets", "1 mm top and bottom", true, "none"},
      {"top and bottom", "face_sheets", "1 mm top and bottom", true, "none"},
      {"top or bottom", "face_sheets", "1 mm top and bottom", true, "none"},
      {"top sheet", "face_sheets.top", "1 mm", true, "none"},
      {"bottom sheet", "face_sheets.bottom", "1 mm", true, "none"},
      {"top", "face_sheets.top", "1 mm", true, "none"},
      {"bottom", "face_sheets.bottom", "1 mm", true, "none"},
      {"lids", "face_sheets", "1 mm top and bottom", true, "none"},
      {"cylindrical fibres", "bouligand.fibre_shape", "cylindrical", false, ""},
      {"cylindrical fibers", "bouligand.fibre_shape", "cylindrical", false, ""},
      {"round fibres", "bouligand.fibre_shape", "cylindrical", false, ""},
      {"round fibers", "bouligand.fibre_shape", "cylindrical", false, ""},
      {"rectangular fibres", "bouligand.fibre_shape", "rectangular", false, ""},
      {"rectangular fibers", "bouligand.fibre_shape", "rectangular", false, ""},
      {"flat fibres", "bouligand.fibre_shape", "rectangular", false, ""},
      {"flat fibers", "bouligand.fibre_shape", "rectangular", false, ""},
      {"rotation", "bouligand.rotation", "(as given)", true, "0"},
      {"twist", "bouligand.rotation", "(as given)", true, "0"},
      {"noise", "bouligand.rotation_noise", "(as given)", true, "0"},
      {"noisy", "bouligand.rotation_noise", "(as given)", true, "0"},
      {"randomness", "bouligand.rotation_noise", "(as given)", true, "0"},
      {"disorder", "bouligand.rotation_noise", "(as given)", true, "0"},
      {"ordered", "tubular.placement", "ordered", false, ""},
      {"regular", "tubular.placement", "ordered", false, ""},
      {"aligned", "tubular.placement", "ordered", false, ""},
      {"jittered", "tubular.placement", "jittered", true, "ordered"},
      {"jitter", "tubular.placement", "jittered", true, "ordered"},
      {"random", "tubular.placement", "random", false, ""},
      {"randomly", "tubular.placement", "random", false, ""},
      {"radial", "tubular.placement", "radial", false, ""},
      {"radially", "tubular.placement", "radial", false, ""},
      {"concentric", "tubular.placement", "radial", false, ""},
      {"along x", "tubular.direction", "x", false, ""},
      {"along y", "tubular.direction", "y", false, ""},
      {"along z", "tubular.direction", "z", false, ""},
      {"horizontal", "tubular.direction", "x", false, ""},
      {"horizontally", "tubular.direction", "x", false, ""},
      {"vertical", "tubular.direction", "z", false, ""},
      {"vertically", "tubular.direction", "z", false, ""},
      {"elliptical", "tubular.ellipticity", "0.3", false, ""},
      {"oval", "tubular.ellipticity", "0.3", false, ""},
      {"cortical rings", "tubular.rings", "2", true, "0"},
      {"concentric rings", "tubular.rings", "2", true, "0"},
      {"rings", "tubular.rings", "2", true, "0"},
      {"lamellae", "tubular.rings", "2", true, "0"},
      {"frame", "spider_web.frame", "true", true, "false"},
      {"outer ring", "spider_web.frame", "true", true, "false"},
      {"spiral", "spider_web.spiral_turns", "8", true, "0"},
      {"capture spiral", "spider_web.spiral_turns", "8", true, "0"},
      {"hub", "spider_web.hub_radius", "4", true, "0"},
      {"tablets only", "nacre.bodies", "tablets", false, ""},
      {"only tablets", "nacre.bodies", "tablets", false, ""},
      {"only the tablets", "nacre.bodies", "tablets", false, ""},
      {"just the tablets", "nacre.bodies", "tablets", false, ""},
      {"matrix only", "nacre.bodies", "matrix", false, ""},
      {"only the matrix", "nacre.bodies", "matrix", false, ""},
      {"just the matrix", "nacre.bodies", "matrix", false, ""},
      {"two materials", "nacre.bodies", "both", false, ""},
      {"two material", "nacre.bodies", "both", false, ""},
      {"multi material", "nacre.bodies", "both", false, ""},
      {"mortar", "nacre.bodies", "both", true, "tablets"},
      {"matrix", "nacre.bodies", "both", true, "tablets"},
      {"staggered", "nacre.overlap", "0.5", false, ""},
      {"columnar", "nacre.overlap", "0", false, ""},
      {"smoothing", "cellular.smoothing", "0.5", true, "0"},
      {"fillets", "cellular.smoothing", "0.5", true, "0"},
  };
  return words;
}

const std::vector<std::string_view> &negators()
{
  static const std::vector<std::string_view> words = {
      "no",    "without", "not",  "none",   "zero",       "free of",    "lacking",
      "minus", "omit",    "skip", "remove", "instead of", "rather than"};
  return words;
}

bool is_filler(std::string_view word)
{
  static const std::vector<std::string_view> words = {
      "a",        "an",          "the",         "of",         "with",       "and",       "in",
      "on",       "to",          "for",         "make",       "makes",      "made",      "create",
      "design",   "build",       "print",       "printed",    "printable",  "generate",  "me",
      "please",   "i",           "we",          "want",       "need",       "would",     "like",
      "it",       "its",         "that",        "this",       "is",         "are",       "be",
      "as",       "shape",       "shaped",      "form",       "part",       "structure", "pattern",
      "has",      "have",        "having",      "some",       "each",       "per",       "by",
      "at",       "from",        "into",        "inside",     "within",     "filled",    "fill",
      "filling",  "which",       "where",       "also",       "both",       "so",        "but",
      "or",       "then",        "using",       "use",        "mm",         "x",         "about",
      "around",   "along",       "axis",        "like",       "style",      "type",      "kind",
      "inspired", "bio",         "bioinspired", "biomimetic", "material",   "layer",     "layers",
      "thick",    "thickness",   "size",        "sized",      "all",        "over",      "let",
      "s",        "can",         "you",         "could",      "should",     "give",      "get",
      "an",       "one",         "whole",       "entire",     "just",       "only",      "sample",
      "piece",    "object",      "model",       "specimen",   "scaffold",   "lattice",   "infill",
      "arranged", "arrangement", "pattern",     "patterned",  "based",      "here",      "there",
      "them",     "they",        "their",       "same",       "other",      "another",   "instead",
      "rather",   "than",        "copy",        "copies",     "stacked",    "stack",     "stacking",
      "placed",   "put",         "set",         "sit",        "sits",       "sitting",   "lying",
      "lies",     "core",        "sandwiched",  "together",   "between",    "two",       "under",
      "below",    "above",       "top",         "bottom",     "upon",       "onto",      "atop",
      "beneath",  "underneath",  "followed",    "next",       "beside",     "side",      "wall",
      "walls",    "cell",        "placement",   "positions",  "positioned", "running",   "run",
      "runs",     "going",       "oriented",    "shell",      "surface",    "surfaces",  "like",
      "looking",  "similar",     "resembling",  "mimicking",  "joints",     "junctions", "cells",
      "unit",     "units",       "degree",      "degrees",    "any",        "more",      "less",
      "quite",    "thing"};
  return std::find(words.begin(), words.end(), word) != words.end();
}

const std::vector<DefaultNote> &default_notes()
{
  static const std::vector<DefaultNote> notes = {
      {"form.shape", "box (a spider web: cylinder)"},
      {"form.size",
       "the family's default: honeycomb 40 x 40 x 10, bouligand 20 x 20 x 8, nacre 20 x 20 x "
       "10, spider web 60 x 60 x (0.8 x thread), others 20 x 20 x 20 mm; a cube or "
       "sphere with no size: 20 mm"},
      {"a cylinder, disc, rod or cone with one length", "that length is its diameter"},
      {"flat forms (plate, panel, slab, tile, disc)",
       "height 8 mm, or the family's default if lower"},
      {"tall forms (rod, pillar, column)", "half the default width, twice the default height"},
      {"a stack's layers", "listed from the bottom up unless \"from top to bottom\"; thickness per "
                           "layer: tpms 2 cells, honeycomb 6, bouligand 6, tubular 8, cellular 6, "
                           "nacre 8, spider web 0.8 x thread (mm); width 20 x 20 mm"},
      {"nacre in a stack", "the matrix body (a single-family nacre part has both bodies), a 1.6 mm "
                           "mortar gap and tablets as thick as whole rows in the layer allow"},
      {"honeycomb or foam in a stack", "a 1 mm face sheet on each side that meets another layer"},
      {"a nacre part's height",
       "whole rows of tablets: rows x (tablet + gap) + gap, near the default"},
      {"a TPMS named only as TPMS or minimal surface", "gyroid"},
      {"a rotation with no axis", "about z"},
      {"face sheets with no thickness", "1 mm"},
      {"cylindrical fibres", "plies 0.8 x the fibre width thick (the height follows)"},
      {"everything else", "the DesignSpec defaults (meshing/schema/design_spec.schema.json)"},
  };
  return notes;
}

}    // namespace cephalo::agents::vocabulary

namespace cephalo::agents {

namespace {

std::string join(const std::vector<std::string_view> &words)
{
  std::string out;
  for (const auto &w : words) out += (out.empty() ? "" : ", ") + std::string(w);
  return out;
}

std::string value_text(double v)
{
  std::ostringstream out;
  out << v;
  return out.str();
}

const char *scale_name(vocabulary::Scale s)
{
  using vocabulary::Scale;
  switch (s) {
  case Scale::Thickness:
    return "thickness";
  case Scale::Extent:
    return "extent";
  case Scale::Breadth:
    return "breadth";
  case Scale::Height:
    return "height";
  case Scale::Length:
    return "length";
  case Scale::Density:
    return "density";
  case Scale::Count:
    return "count";
  case Scale::Noise:
    return "disorder";
  case Scale::Smoothness:
    return "smoothness";
  }
  return "";
}

const char *dimension_name(Dimension d)
{
  switch (d) {
  case Dimension::Length:
    return "length (mm, cm, µm)";
  case Dimension::Angle:
    return "angle (degrees)";
  case Dimension::Fraction:
    return "percentage";
  case Dimension::Count:
    return "count";
  }
  return "";
}

}    // namespace

std::string design_language_markdown()
{
  using namespace vocabulary;
  std::ostringstream md;
  md << "### Structures\n\n| family | words |\n|---|---|\n";
  std::map<std::string, std::vector<std::string_view>> by_family;
  std::vector<std::string> order;
  for (const auto &w : family_words()) {
    std::string name(meshing::family_name(w.family));
    if (w.surface >= 0)
      name += w.surface == 0 ? " (gyroid)" : w.surface == 1 ? " (schwarz_p)" : " (diamond)";
    if (!by_family.count(name)) order.push_back(name);
    by_family[name].push_back(w.phrase);
  }
  for (const auto &name : order) md << "| `" << name << "` | " << join(by_family[name]) << " |\n";

  md << "\n### Outer forms\n\n| words | form |\n|---|---|\n";
  for (const auto &w : form_words()) {
    const char *shapes[] = {"box", "cylinder", "sphere", "cone", "prism"};
    md << "| " << w.phrase << " | " << shapes[static_cast<int>(w.shape)];
    if (w.shape == meshing::Shape::Prism) md << ", " << w.sides << " sides";
    if (w.flatness < 0) md << ", flat";
    if (w.flatness > 0) md << ", tall and narrow";
    if (w.equal) md << ", equal sides";
    md << " |\n";
  }

  md << "\n### Qualitative words\n\nA word has level 2 (\"thin\" -2, \"thick\" +2; \"tiny\" and "
        "\"huge\" 3); "
     << join(intensifiers()) << " make it 3; " << join(softeners())
     << " make it 1. The word applies to the noun that follows it (\"thin walls\", \"many "
        "tubules\"); with no noun, thickness words mean the family's walls (fibres, threads, "
        "tubules), \"fine\" and \"coarse\" its cells, and other words the part.\n\n";
  md << "| scale | words (sign) |\n|---|---|\n";
  std::map<std::string, std::string> adjective_rows;
  std::vector<std::string> adjective_order;
  for (const auto &a : adjectives()) {
    const std::string scale = scale_name(a.scale);
    if (!adjective_rows.count(scale)) adjective_order.push_back(scale);
    auto &row = adjective_rows[scale];
    row += (row.empty() ? "" : ", ") + std::string(a.phrase) + (a.sign > 0 ? " (+)" : " (-)");
  }
  for (const auto &scale : adjective_order)
    md << "| " << scale << " | " << adjective_rows[scale] << " |\n";
  md << "\n| scale | noun | family | field | -3 | -2 | -1 | +1 | +2 | +3 | unit, rule |\n"
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|\n";
  for (const auto &q : qualitative_values()) {
    md << "| " << scale_name(q.scale) << " | " << topic_name(q.topic) << " | "
       << (q.family < 0 ? std::string("any")
                        : std::string(meshing::family_name(static_cast<meshing::Family>(q.family))))
       << " | " << q.field;
    for (double v : q.values) md << " | " << value_text(v);
    md << " | " << q.note << " |\n";
  }
  md << "\nNouns: ";
  {
    std::map<std::string, std::vector<std::string_view>> nouns;
    std::vector<std::string> noun_order;
    for (const auto &n : topic_nouns()) {
      const std::string t(topic_name(n.topic));
      if (!nouns.count(t)) noun_order.push_back(t);
      nouns[t].push_back(n.phrase);
    }
    std::string line;
    for (const auto &t : noun_order) line += (line.empty() ? "" : "; ") + t + ": " + join(nouns[t]);
    md << line << ".\n";
  }

  md << "\n### Numbers\n\nA number takes its meaning from the words right after it (\"5 mm "
        "cells\"), else from the words before it (\"cell size of 5 mm\"); rules are tried in "
        "this order. Lengths are converted to mm, percentages to fractions. \"40 x 40 x 10 mm\" "
        "is the form's size, \"2x2 grid\" an array.\n\n"
        "| number | words | field |\n|---|---|---|\n";
  for (const auto &r : number_rules())
    md << "| " << dimension_name(r.dimension) << " | " << join(r.words) << " | " << r.meaning
       << " |\n";

  md << "\n### Switches and negations\n\nNegation words: " << join(negators())
     << ". They apply to the words that follow (\"no top or bottom layers\", \"without any "
        "tubules\"); a negated structure or form is ruled out (\"a sphere instead of a "
        "cube\").\n\n| words | field | value | negated |\n|---|---|---|---|\n";
  for (const auto &s : switches())
    md << "| " << s.phrase << " | " << s.field << " | " << s.value << " | "
       << (s.negatable ? std::string(s.negated_value) : std::string("-")) << " |\n";

  md << "\n### Defaults\n\n| when the text is silent about | the interpreter assumes "
        "|\n|---|---|\n";
  for (const auto &d : default_notes()) md << "| " << d.what << " | " << d.value << " |\n";
  return md.str();
}

}    // namespace cephalo::agents
