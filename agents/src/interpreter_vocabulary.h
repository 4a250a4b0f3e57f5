// The design interpreter's vocabulary: every word it knows and the value it gives it, as data.
// The interpreter reads these tables and DESIGN_LANGUAGE.md is generated from them, so the
// documentation and the behaviour cannot drift apart (internal header).
#pragma once

#include "cephalo/agents/quantity.h"
#include "cephalo/meshing/design_spec.h"

#include <array>
#include <string_view>
#include <vector>

namespace cephalo::agents::vocabulary {

using meshing::Family;
using meshing::Shape;

// Phrases are lowercase words separated by single spaces; the text is lowercased and its
// hyphens, underscores, slashes and apostrophes read as spaces before matching.
struct FamilyWord {
  std::string_view phrase;
  Family family;
  int surface = -1;    // TPMS surface it names: 0 gyroid, 1 Schwarz P, 2 diamond; -1 none
};
const std::vector<FamilyWord> &family_words();

struct FormWord {
  std::string_view phrase;
  Shape shape;
  int sides = 6;       // prism
  int flatness = 0;    // -1: a flat form (plate, disc): height level -2; +1: tall and narrow (rod)
  bool equal = false;    // all three sides equal (cube, sphere)
};
const std::vector<FormWord> &form_words();

// Qualitative words: an adjective moves a quantity by a level from -3 to +3 ("slightly thin" -1,
// "thin" -2, "very thin" -3; "thick" +2).
enum class Scale {
  Thickness,    // thin, thick
  Extent,       // small, large, fine, coarse
  Breadth,      // narrow, wide
  Height,       // short, tall
  Length,       // long
  Density,      // porous, dense
  Count,        // few, many
  Noise,        // noisy, disordered
  Smoothness    // smooth, rounded
};
struct Adjective {
  std::string_view phrase;
  Scale scale;
  int sign;    // +1 or -1: the direction of "thick", "thin"
};
const std::vector<Adjective> &adjectives();
const std::vector<std::string_view> &intensifiers();    // very, extremely: level 3
const std::vector<std::string_view> &softeners();       // slightly, a bit: level 1

// What a qualitative word or a number is about: found from the nouns near it.
enum class Topic {
  Wall,         // walls, struts, membranes
  Cell,         // cells, pores of a lattice or foam
  Fibre,        // fibres of a Bouligand ply
  Thread,       // spider-web threads
  Tubule,       // tubules, channels, holes
  Tablet,       // nacre tablets
  Ply,          // plies (layers of a Bouligand structure)
  Radial,       // radial threads of a web
  Turn,         // turns of a web's spiral
  Ring,         // cortical rings around a tubule
  FaceSheet,    // face sheets, skins
  Gap,          // mortar between tablets
  Hub,          // a web's hub
  Copy,         // copies of the form in an array
  Side,         // sides of a prism
  Part          // the part itself (form nouns, family nouns, "part", "sample")
};
struct TopicNoun {
  std::string_view phrase;
  Topic topic;
};
const std::vector<TopicNoun> &topic_nouns();
std::string_view topic_name(Topic topic);

// The value of a qualitative level for a topic and family: values[0..5] are levels -3, -2, -1,
// +1, +2, +3. `field` names the DesignSpec field (or a rule in words when it is derived).
struct QualitativeValue {
  Scale scale;
  Topic topic;
  int family = -1;    // -1: any family the field belongs to
  std::string_view field;
  std::array<double, 6> values;
  std::string_view note;
};
const std::vector<QualitativeValue> &qualitative_values();
int level_index(int level);    // -3..-1, 1..3 -> 0..5

// Numbers: the words near a number that say what it measures.
enum class Slot {
  FaceSheet,
  LayerThickness,
  Wall,
  CellSize,
  FibreWidth,
  FibreSpacing,
  Tubule,
  Tablet,
  Gap,
  Thread,
  Hub,
  RingSpacing,
  RingGap,
  Height,
  Width,
  Depth,
  Length,
  Diameter,
  Radius,
  Side,
  PartSize,
  PlyRotation,
  Noise,
  Rotate,
  Density,
  Porosity,
  Scale,
  Ellipticity,
  Jitter,
  Overlap,
  Smoothing,
  Translate,
  Spacing,
  Seed,
  Cells,
  Plies,
  Tubules,
  Radials,
  Turns,
  Rings,
  Copies,
  Sides
};
struct NumberRule {
  Dimension dimension;
  std::vector<std::string_view> words;    // any of these near the number
  Slot slot;
  std::string_view meaning;    // for the documentation
};
// In order of precedence: the words right after a number are tried against every rule first,
// then the words before it.
const std::vector<NumberRule> &number_rules();

// Words that switch something on or off.
struct Switch {
  std::string_view phrase;
  std::string_view field;    // DesignSpec field, or a rule in words
  std::string_view value;    // as written into the spec
  bool negatable;            // "no X", "without X" means the opposite setting
  std::string_view negated_value;
};
const std::vector<Switch> &switches();

const std::vector<std::string_view> &negators();    // no, without, not
// Words that carry no design meaning of their own ("a", "make", "with").
bool is_filler(std::string_view word);

// Defaults the interpreter chooses when the text is silent (documented with their reasons).
struct DefaultNote {
  std::string_view what;
  std::string_view value;
};
const std::vector<DefaultNote> &default_notes();

}    // namespace cephalo::agents::vocabulary
