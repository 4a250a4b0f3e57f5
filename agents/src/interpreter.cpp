// The embedded design interpreter (see interpreter.h): words and numbers of a design text onto
// the fields of a DesignSpec, through the tables of interpreter_vocabulary.cpp.
#include "cephalo/agents/interpreter.h"

#include "cephalo/agents/quantity.h"
#include "interpreter_vocabulary.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <sstream>

namespace cephalo::agents {
namespace {

using namespace vocabulary;
using meshing::DesignSpec;
using meshing::Pattern;
using meshing::SpecError;

constexpr double kPi = 3.14159265358979323846;

std::string number_text(double v)
{
  std::ostringstream out;
  out << v;
  return out.str();
}

// Slots named by a noun of the structure (walls, tubules) rather than by a dimension word.
bool is_topic_slot(Slot slot)
{
  switch (slot) {
  case Slot::FaceSheet:
  case Slot::Hub:
  case Slot::RingSpacing:
  case Slot::RingGap:
  case Slot::Gap:
  case Slot::Wall:
  case Slot::CellSize:
  case Slot::FibreWidth:
  case Slot::Tubule:
  case Slot::Tablet:
  case Slot::Thread:
  case Slot::LayerThickness:
    return true;
  default:
    return false;
  }
}

std::vector<std::string_view> split_words(std::string_view phrase)
{
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < phrase.size()) {
    const std::size_t space = phrase.find(' ', pos);
    const std::size_t end = space == std::string_view::npos ? phrase.size() : space;
    if (end > pos) out.push_back(phrase.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

bool starts_with(std::string_view s, std::string_view prefix)
{
  return s.substr(0, prefix.size()) == prefix;
}

std::string_view family_prefix(Family f)
{
  switch (f) {
  case Family::Tpms:
    return "tpms";
  case Family::Honeycomb:
    return "honeycomb";
  case Family::Bouligand:
    return "bouligand";
  case Family::Tubular:
    return "tubular";
  case Family::Cellular:
    return "cellular";
  case Family::Nacre:
    return "nacre";
  case Family::SpiderWeb:
    return "spider_web";
  }
  return "";
}

std::string_view family_label(Family f)
{
  switch (f) {
  case Family::Tpms:
    return "TPMS lattice";
  case Family::Honeycomb:
    return "honeycomb";
  case Family::Bouligand:
    return "Bouligand structure";
  case Family::Tubular:
    return "tubular (osteon) structure";
  case Family::Cellular:
    return "foam";
  case Family::Nacre:
    return "nacre";
  case Family::SpiderWeb:
    return "spider web";
  }
  return "";
}


const char *shape_name(Shape s)
{
  switch (s) {
  case Shape::Box:
    return "box";
  case Shape::Cylinder:
    return "cylinder";
  case Shape::Sphere:
    return "sphere";
  case Shape::Cone:
    return "cone";
  case Shape::Prism:
    return "prism";
  }
  return "box";
}

const char *surface_name(int s)
{
  return s == 1 ? "schwarz_p" : s == 2 ? "diamond" : "gyroid";
}

// Whether a noun names a feature of the family ("tablets" of nacre, "fibres" of a Bouligand).
bool topic_of_family(Topic topic, Family f)
{
  switch (topic) {
  case Topic::Wall:
  case Topic::Cell:
    return f == Family::Tpms || f == Family::Honeycomb || f == Family::Cellular;
  case Topic::FaceSheet:
    return f == Family::Honeycomb || f == Family::Cellular;
  case Topic::Fibre:
  case Topic::Ply:
    return f == Family::Bouligand;
  case Topic::Thread:
  case Topic::Radial:
  case Topic::Turn:
  case Topic::Hub:
    return f == Family::SpiderWeb;
  case Topic::Tubule:
  case Topic::Ring:
    return f == Family::Tubular;
  case Topic::Tablet:
  case Topic::Gap:
    return f == Family::Nacre;
  default:
    return false;
  }
}

// ------------------------------------------------------------------------------------------
// The text as tokens

struct Token {
  std::string text;
  std::size_t begin = 0, end = 0;    // bytes of the original text
  bool punct = false;                // , ; : . ! ? ( )
  bool number = false;               // digits
  bool used = false;                 // a rule took it
};

struct Found {
  Quantity q;
  std::size_t first = 0, last = 0;    // tokens [first, last)
  bool used = false;
};

struct Mention {
  Family family;
  int surface = -1;
  std::size_t first = 0, last = 0;
};

struct LayerDraft {
  Pattern pattern;
  int surface = -1;    // named TPMS surface
  std::size_t seg_begin = 0, seg_end = 0;
  std::optional<double> thickness;
  std::string thickness_source;
  std::set<std::string> stated;     // fields (without layer prefix) the text set
  std::optional<double> density;    // honeycomb: target density, turned into walls later
  std::string density_source;
  std::optional<double> ply_thickness;    // bouligand "1 mm plies"
  std::string ply_source;
  bool tpms_fine = false;
};

class Interpreter {
 public:
  explicit Interpreter(std::string_view text) : original_(text) {}

  Interpretation run();

 private:
  // text
  void tokenize();
  void find_numbers();
  std::size_t match_phrase(std::size_t i, std::string_view phrase) const;
  bool like_adjective(std::size_t i) const;
  std::string source(std::size_t first, std::size_t last) const;
  std::string source_of(const Found &f) const;
  bool is_word(std::size_t i, std::string_view w) const
  {
    return i < tokens_.size() && tokens_[i].text == w;
  }
  void use(std::size_t first, std::size_t last)
  {
    for (std::size_t i = first; i < last && i < tokens_.size(); ++i) tokens_[i].used = true;
  }
  bool segment_has(const LayerDraft &layer, std::string_view phrase) const;

  // stages
  void negations();
  void families();
  void layers_from_mentions();
  void dimension_groups();
  void numbers();
  void switches_pass();
  void compounds();
  void adjectives_pass();
  void forms();
  void word_transforms();
  void finish_spec();
  void collect_unused();

  // numbers
  std::optional<Slot> classify(const Found &f, std::vector<std::string_view> *hit);
  std::vector<std::size_t> window_after(const Found &f, std::size_t n) const;
  std::vector<std::size_t> window_before(const Found &f, std::size_t n) const;
  bool window_has(const std::vector<std::size_t> &window, std::string_view phrase) const;
  void apply_length(Slot slot, double mm, Found &f, LayerDraft &layer,
                    const std::vector<std::size_t> &near);
  void apply_angle(Slot slot, double deg, Found &f, LayerDraft &layer,
                   const std::vector<std::size_t> &near);
  void apply_fraction(Slot slot, double x, Found &f, LayerDraft &layer,
                      const std::vector<std::size_t> &near);
  void apply_count(Slot slot, double n, Found &f, LayerDraft &layer,
                   const std::vector<std::size_t> &near);
  LayerDraft &layer_at(std::size_t token);
  std::optional<int> axis_near(const std::vector<std::size_t> &near) const;

  // recording
  std::string layer_field(const LayerDraft &layer, std::string_view field) const;
  void understood(const std::string &field, const std::string &value, const std::string &source,
                  const std::string &note = {});
  void set_param(LayerDraft &layer, std::string_view field, double value, const std::string &src,
                 const std::string &note = {});
  bool param_applies(const LayerDraft &layer, std::string_view field) const;
  void set_size(int axis, double mm, const std::string &src, const std::string &note = {});
  void not_for(const std::string &src, std::string_view what, const LayerDraft &layer);
  void assume(const std::string &field, const std::string &value, const std::string &note);

  std::string original_, low_;
  std::vector<Token> tokens_;
  std::vector<Found> numbers_;
  std::vector<Mention> mentions_;
  std::set<Family> excluded_;
  std::vector<std::pair<std::string, std::string>> negated_;    // (phrase, source)
  std::vector<LayerDraft> layers_;
  bool stack_ = false;

  // form and placement
  std::optional<Shape> shape_;
  std::string shape_source_;
  int sides_ = 6;
  bool sides_stated_ = false;
  int flatness_ = 0;
  bool equal_sides_ = false;
  std::set<Shape> shapes_negated_;
  std::array<std::optional<double>, 3> size_;
  std::array<std::string, 3> size_source_;
  std::array<double, 3> size_factor_{1.0, 1.0, 1.0};
  std::optional<double> part_size_;    // one length for the whole part
  std::string part_size_source_;
  bool diameter_given_ = false;
  meshing::Transform transform_;
  meshing::ArrayLayout array_;
  std::optional<double> array_gap_;
  std::string array_gap_source_;
  std::optional<double> array_pitch_;
  std::string array_pitch_source_;

  std::map<std::string, std::pair<std::string, std::string>> set_fields_;    // field: value, source
  std::set<std::string> numeric_fields_;    // fields a number of the text set
  std::set<std::size_t> compound_;          // tokens of compound switches
  bool height_word_ = false;                // "tall", "short": the height is the word's
  std::vector<std::size_t> far_;            // tokens near the number being read, for axes
  bool from_number_ = false;
  std::set<std::string> assumed_fields_;
  Interpretation result_;
};

// ------------------------------------------------------------------------------------------
// Tokens and numbers

void Interpreter::tokenize()
{
  low_ = original_;
  for (std::size_t i = 0; i < low_.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(low_[i]);
    if (c < 0x80) low_[i] = static_cast<char>(std::tolower(c));
    if (low_[i] == '-' || low_[i] == '_' || low_[i] == '/' || low_[i] == '\'' || low_[i] == '"')
      low_[i] = ' ';
    // the multiplication sign between numbers: "40×40"
    if (c == 0xC3 && i + 1 < low_.size() && static_cast<unsigned char>(low_[i + 1]) == 0x97) {
      low_[i] = '*';
      low_[i + 1] = ' ';
    }
  }
  // "x" between numbers ("40 x 40 x 10", "2x2") is a times sign
  for (std::size_t i = 0; i < low_.size(); ++i) {
    if (low_[i] != 'x') continue;
    std::size_t a = i, b = i + 1;
    while (a > 0 && low_[a - 1] == ' ') --a;
    while (b < low_.size() && low_[b] == ' ') ++b;
    // the number before may carry a unit ("40 mm x 40 mm")
    std::size_t u = a;
    while (u > 0 && std::isalpha(static_cast<unsigned char>(low_[u - 1]))) --u;
    while (u > 0 && low_[u - 1] == ' ') --u;
    const bool digit_before =
        (a > 0 && std::isdigit(static_cast<unsigned char>(low_[a - 1]))) ||
        (u > 0 && u < a && std::isdigit(static_cast<unsigned char>(low_[u - 1])) &&
         (low_.compare(u, 2, "mm") == 0 || low_.compare(u, 2, "cm") == 0 ||
          low_.compare(u + 1, 2, "mm") == 0 || low_.compare(u + 1, 2, "cm") == 0));
    const bool digit_after = b < low_.size() && std::isdigit(static_cast<unsigned char>(low_[b]));
    const bool alone =
        (i == 0 || !std::isalpha(static_cast<unsigned char>(low_[i - 1]))) &&
        (i + 1 >= low_.size() || !std::isalpha(static_cast<unsigned char>(low_[i + 1])));
    if (digit_before && digit_after && alone) low_[i] = '*';
  }
  std::size_t i = 0;
  while (i < low_.size()) {
    const unsigned char c = static_cast<unsigned char>(low_[i]);
    Token t;
    t.begin = i;
    if (std::isalpha(c) || c >= 0x80) {
      while (i < low_.size() && (std::isalpha(static_cast<unsigned char>(low_[i])) ||
                                 static_cast<unsigned char>(low_[i]) >= 0x80))
        ++i;
    } else if (std::isdigit(c)) {
      t.number = true;
      while (i < low_.size() && std::isdigit(static_cast<unsigned char>(low_[i]))) ++i;
      if (i + 1 < low_.size() && low_[i] == '.' &&
          std::isdigit(static_cast<unsigned char>(low_[i + 1]))) {
        ++i;
        while (i < low_.size() && std::isdigit(static_cast<unsigned char>(low_[i]))) ++i;
      }
    } else if (c == '%' || c == '*') {
      ++i;
    } else if (std::string_view(",;:.!?()").find(static_cast<char>(c)) != std::string_view::npos) {
      t.punct = true;
      ++i;
    } else {
      ++i;
      continue;
    }
    t.end = i;
    t.text = low_.substr(t.begin, t.end - t.begin);
    if (t.text == "*") t.text = "x";
    tokens_.push_back(std::move(t));
  }
}

void Interpreter::find_numbers()
{
  std::string text = low_;
  for (auto &c : text)
    if (c == '*') c = ' ';
  for (const auto &m : find_quantities(text)) {
    Found f;
    f.q = m.quantity;
    f.first = tokens_.size();
    for (std::size_t i = 0; i < tokens_.size(); ++i) {
      if (tokens_[i].begin >= m.begin && tokens_[i].begin < m.end) {
        f.first = std::min(f.first, i);
        f.last = i + 1;
      }
    }
    if (f.first >= tokens_.size()) continue;
    // the counted noun is context, not part of the number
    numbers_.push_back(f);
  }
}

std::size_t Interpreter::match_phrase(std::size_t i, std::string_view phrase) const
{
  const auto words = split_words(phrase);
  for (std::size_t k = 0; k < words.size(); ++k) {
    if (i + k >= tokens_.size() || tokens_[i + k].text != words[k]) return 0;
  }
  return words.size();
}

std::string Interpreter::source(std::size_t first, std::size_t last) const
{
  if (first >= last || first >= tokens_.size()) return {};
  last = std::min(last, tokens_.size());
  return original_.substr(tokens_[first].begin, tokens_[last - 1].end - tokens_[first].begin);
}

std::string Interpreter::source_of(const Found &f) const
{
  // the number with the nouns around it that gave it its meaning
  std::size_t first = f.first, last = f.last;
  std::size_t n = 0;
  while (last < tokens_.size() && n < 3 && !tokens_[last].punct && !tokens_[last].number &&
         !tokens_[last].used &&
         !(tokens_[last].text == "and" || tokens_[last].text == "with" ||
           tokens_[last].text == "in" || tokens_[last].text == "a" || tokens_[last].text == "an" ||
           tokens_[last].text == "the" || tokens_[last].text == "of" ||
           tokens_[last].text == "on")) {
    ++last;
    ++n;
  }
  n = 0;
  while (first > 0 && n < 2 && !tokens_[first - 1].punct && !tokens_[first - 1].number &&
         !tokens_[first - 1].used &&
         !(tokens_[first - 1].text == "and" || tokens_[first - 1].text == "with" ||
           tokens_[first - 1].text == "a" || tokens_[first - 1].text == "an")) {
    --first;
    ++n;
  }
  return source(first, last);
}

bool Interpreter::segment_has(const LayerDraft &layer, std::string_view phrase) const
{
  for (std::size_t i = layer.seg_begin; i < layer.seg_end; ++i)
    if (match_phrase(i, phrase)) return true;
  return false;
}

// ------------------------------------------------------------------------------------------
// Recording what was read

std::string Interpreter::layer_field(const LayerDraft &layer, std::string_view field) const
{
  if (!stack_) return std::string(field);
  const auto index = static_cast<std::size_t>(&layer - layers_.data());
  return "layers[" + std::to_string(index) + "]." + std::string(field);
}

void Interpreter::understood(const std::string &field, const std::string &value,
                             const std::string &src, const std::string &note)
{
  if (!field.empty()) {
    const auto it = set_fields_.find(field);
    if (it != set_fields_.end()) {
      if (it->second.first != value)
        throw InterpretError("The text gives two values for " + field + ": " + it->second.first +
                             " (\"" + it->second.second + "\") and " + value + " (\"" + src +
                             "\"); say which one you mean.");
      return;
    }
    set_fields_[field] = {value, src};
  }
  result_.understood.push_back({field, value, src, note});
}

void Interpreter::assume(const std::string &field, const std::string &value,
                         const std::string &note)
{
  assumed_fields_.insert(field);
  result_.assumed.push_back({field, value, "", note});
}

bool Interpreter::param_applies(const LayerDraft &layer, std::string_view field) const
{
  const Family f = layer.pattern.family;
  if (starts_with(field, "face_sheets")) return f == Family::Honeycomb || f == Family::Cellular;
  return starts_with(field, family_prefix(f)) && field.size() > family_prefix(f).size() &&
         field[family_prefix(f).size()] == '.';
}

void Interpreter::not_for(const std::string &src, std::string_view what, const LayerDraft &layer)
{
  result_.unused.push_back("\"" + src + "\": a " + std::string(family_label(layer.pattern.family)) +
                           " has no " + std::string(what));
}

void Interpreter::set_param(LayerDraft &layer, std::string_view field, double v,
                            const std::string &src, const std::string &note)
{
  auto &p = layer.pattern;
  std::string name(field);
  std::string shown = number_text(v);
  auto integer = [&](int &target, int lo) {
    target = std::max(lo, static_cast<int>(std::lround(v)));
    shown = std::to_string(target);
  };
  if (name == "tpms.cell_size")
    p.tpms.cell_size = v, shown += " mm";
  else if (name == "tpms.wall_thickness")
    p.tpms.wall_thickness = v, shown += " mm";
  else if (name == "tpms.relative_density")
    p.tpms.relative_density = v;
  else if (name == "honeycomb.cell_size")
    p.honeycomb.cell_size = v, shown += " mm";
  else if (name == "honeycomb.wall_thickness")
    p.honeycomb.wall_thickness = v, shown += " mm";
  else if (name == "bouligand.layers")
    integer(p.bouligand.layers, 2);
  else if (name == "bouligand.rotation")
    p.bouligand.rotation = v, shown += " degrees";
  else if (name == "bouligand.rotation_noise")
    p.bouligand.rotation_noise = v, shown += " degrees";
  else if (name == "bouligand.fibre_width")
    p.bouligand.fibre_width = v, shown += " mm";
  else if (name == "bouligand.fibre_spacing")
    p.bouligand.fibre_spacing = v, shown += " mm";
  else if (name == "bouligand.seed")
    integer(p.bouligand.seed, 0);
  else if (name == "tubular.count")
    integer(p.tubular.count, 1);
  else if (name == "tubular.radius")
    p.tubular.radius = v, shown += " mm";
  else if (name == "tubular.ellipticity")
    p.tubular.ellipticity = v;
  else if (name == "tubular.rings")
    integer(p.tubular.rings, 0);
  else if (name == "tubular.ring_spacing")
    p.tubular.ring_spacing = v, shown += " mm";
  else if (name == "tubular.ring_gap")
    p.tubular.ring_gap = v, shown += " mm";
  else if (name == "tubular.jitter")
    p.tubular.jitter = v;
  else if (name == "tubular.seed")
    integer(p.tubular.seed, 0);
  else if (name == "cellular.cells")
    integer(p.cellular.cells, 2);
  else if (name == "cellular.cell_size")
    p.cellular.cell_size = v, shown += " mm";
  else if (name == "cellular.thickness")
    p.cellular.thickness = v, shown += " mm";
  else if (name == "cellular.smoothing")
    p.cellular.smoothing = v;
  else if (name == "cellular.seed")
    integer(p.cellular.seed, 0);
  else if (name == "nacre.tablet_length")
    p.nacre.tablet_length = v, shown += " mm";
  else if (name == "nacre.tablet_thickness")
    p.nacre.tablet_thickness = v, shown += " mm";
  else if (name == "nacre.gap")
    p.nacre.gap = v, shown += " mm";
  else if (name == "nacre.overlap")
    p.nacre.overlap = v;
  else if (name == "spider_web.radials")
    integer(p.spider_web.radials, 3);
  else if (name == "spider_web.spiral_turns")
    p.spider_web.spiral_turns = v;
  else if (name == "spider_web.thread_thickness")
    p.spider_web.thread_thickness = v, shown += " mm";
  else if (name == "spider_web.hub_radius")
    p.spider_web.hub_radius = v, shown += " mm";
  else if (name == "face_sheets.top" || name == "face_sheets.bottom") {
    auto &sheets = p.family == Family::Honeycomb ? p.honeycomb.face_sheets : p.cellular.face_sheets;
    (name == "face_sheets.top" ? sheets.top : sheets.bottom) = v;
    name = std::string(family_prefix(p.family)) + "." + name;
    shown += " mm";
  } else {
    throw std::logic_error("interpreter: no field " + name);
  }
  layer.stated.insert(name);
  if (from_number_) numeric_fields_.insert(layer_field(layer, name));
  understood(layer_field(layer, name), shown, src, note);
}

void Interpreter::set_size(int axis, double mm, const std::string &src, const std::string &note)
{
  size_[static_cast<std::size_t>(axis)] = mm;
  size_source_[static_cast<std::size_t>(axis)] = src;
  understood(std::string("form.size[") + std::to_string(axis) + "]", number_text(mm) + " mm", src,
             note);
}

LayerDraft &Interpreter::layer_at(std::size_t token)
{
  for (auto &layer : layers_)
    if (token >= layer.seg_begin && token < layer.seg_end) return layer;
  return layers_.front();
}

// ------------------------------------------------------------------------------------------
// Negations: "no face sheets", "without noise", "a sphere instead of a cube"

void Interpreter::negations()
{
  static const std::vector<std::string_view> scope_fillers = {
      "any",    "a",     "an",     "the",   "or",     "and",   "nor",    "of",
      "its",    "extra", "outer",  "inner", "layers", "layer", "sheets", "sheet",
      "plates", "caps",  "covers", "at",    "all",    "random"};
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i].used) continue;
    std::size_t neg_len = 0;
    for (const auto &n : negators()) neg_len = std::max(neg_len, match_phrase(i, n));
    if (!neg_len) continue;
    const bool form_only = match_phrase(i, "instead of") || match_phrase(i, "rather than");
    std::size_t j = i + neg_len, matched_any = 0, last_match = j;
    bool face = false;
    while (j < tokens_.size() && j < i + neg_len + 7 && !tokens_[j].punct) {
      std::size_t len = 0;
      std::string what;
      // family words, form words, negatable switches: the longest that fits
      for (const auto &w : family_words()) {
        const std::size_t l = match_phrase(j, w.phrase);
        if (l > len) {
          len = l;
          what = "family";
        }
      }
      for (const auto &w : form_words()) {
        const std::size_t l = match_phrase(j, w.phrase);
        if (l > len) {
          len = l;
          what = "form";
        }
      }
      if (!form_only)
        for (const auto &s : switches()) {
          if (!s.negatable) continue;
          const std::size_t l = match_phrase(j, s.phrase);
          if (l > len) {
            len = l;
            what = "switch";
          }
        }
      if (len) {
        const std::string phrase = source(j, j + len);
        if (what == "family") {
          for (const auto &w : family_words())
            if (match_phrase(j, w.phrase) == len) excluded_.insert(w.family);
        } else if (what == "form") {
          for (const auto &w : form_words())
            if (match_phrase(j, w.phrase) == len) shapes_negated_.insert(w.shape);
        } else {
          for (const auto &s : switches())
            if (s.negatable && match_phrase(j, s.phrase) == len) {
              negated_.push_back({std::string(s.phrase), source(i, j + len)});
              if (starts_with(s.field, "face_sheets")) face = true;
              break;
            }
        }
        ++matched_any;
        j += len;
        last_match = j;
        continue;
      }
      const bool filler = std::find(scope_fillers.begin(), scope_fillers.end(), tokens_[j].text) !=
                          scope_fillers.end();
      if (!filler) break;
      // "layers", "sheets" continue the scope only after a face sheet ("no top or bottom layers")
      if ((tokens_[j].text == "layers" || tokens_[j].text == "layer" ||
           tokens_[j].text == "sheets" || tokens_[j].text == "sheet") &&
          !face)
        break;
      ++j;
      if (face) last_match = j;
    }
    if (matched_any) {
      use(i, last_match);
      result_.understood.push_back({"", "negation", source(i, last_match), ""});
      i = last_match - 1;
    }
  }
}

// ------------------------------------------------------------------------------------------
// Families and the stack they form

void Interpreter::families()
{
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i].used) continue;
    std::size_t len = 0;
    const FamilyWord *best = nullptr;
    for (const auto &w : family_words()) {
      const std::size_t l = match_phrase(i, w.phrase);
      if (l > len) len = l, best = &w;
    }
    if (!best) continue;
    // "diamond" and "web" alone are family words; "hexagonal cells" is a honeycomb
    if (excluded_.count(best->family)) {
      use(i, i + len);
      continue;
    }
    mentions_.push_back({best->family, best->surface, i, i + len});
    use(i, i + len);
    i += len - 1;
  }
  // "a Bouligand twisted plywood": neighbouring mentions of one family are one mention
  std::vector<Mention> merged;
  for (const auto &m : mentions_) {
    if (!merged.empty() && merged.back().family == m.family && m.first <= merged.back().last + 2 &&
        (merged.back().surface < 0 || m.surface < 0 || merged.back().surface == m.surface)) {
      merged.back().last = m.last;
      if (m.surface >= 0) merged.back().surface = m.surface;
      continue;
    }
    merged.push_back(m);
  }
  mentions_ = merged;
}

void Interpreter::layers_from_mentions()
{
  // two TPMS mentions are different structures only when they name different surfaces
  auto same = [](const Mention &a, const Mention &b) {
    return a.family == b.family && (a.surface < 0 || b.surface < 0 || a.surface == b.surface);
  };
  std::vector<Mention> distinct;
  for (const auto &m : mentions_) {
    const bool seen =
        std::any_of(distinct.begin(), distinct.end(), [&](const Mention &d) { return same(d, m); });
    if (!seen) distinct.push_back(m);
  }
  if (distinct.empty()) {
    std::string form;
    for (const auto &t : tokens_)
      for (const auto &w : form_words())
        if (t.text == w.phrase) form = t.text;
    if (!excluded_.empty())
      throw InterpretError("The text rules out the only structure it names (" +
                           std::string(family_label(*excluded_.begin())) +
                           ") and names no other; name one to build (gyroid/TPMS, honeycomb, "
                           "Bouligand, osteon/tubular, "
                           "foam/Voronoi, nacre or spider web).");
    if (!form.empty())
      throw InterpretError("The text names a " + form +
                           " but no structure to fill it with; name one (gyroid/TPMS, honeycomb, "
                           "Bouligand, osteon/tubular, foam/Voronoi, nacre or spider web).");
    throw InterpretError(
        "Nothing to build in \"" + original_ +
        "\": name a structure (gyroid/TPMS, honeycomb, Bouligand, osteon/tubular, foam/Voronoi, "
        "nacre or spider web), for example \"a 20 mm gyroid cube with 5 mm cells\".");
  }
  auto make_layer = [&](const Mention &m) {
    LayerDraft d;
    // the parser's defaults, so that the spec holds what `{"family": ...}` alone would
    d.pattern = meshing::parse_design_spec(std::string("{\"family\": \"") +
                                           std::string(family_prefix(m.family)) + "\"}")
                    .pattern();
    d.surface = m.surface;
    return d;
  };
  if (distinct.size() == 1) {
    // one family, or a stack of copies of it ("two gyroid layers" stays one family)
    LayerDraft d = make_layer(distinct.front());
    for (const auto &m : mentions_)
      if (m.surface >= 0) d.surface = m.surface;
    d.seg_begin = 0;
    d.seg_end = tokens_.size();
    layers_.push_back(d);
    return;
  }
  stack_ = true;
  // segment boundaries: the relation word between neighbouring mentions, else the first
  // "and", comma or "then" after a mention, else the next mention
  static const std::vector<std::string_view> below_words = {"on top of", "atop", "on",  "over",
                                                            "above",     "upon", "onto"};
  static const std::vector<std::string_view> above_words = {"under", "below", "beneath",
                                                            "underneath"};
  static const std::vector<std::string_view> between_words = {"sandwiched between", "in between",
                                                              "between"};
  static const std::vector<std::string_view> list_words = {
      "followed by", "topped with", "then", "and", ",", "plus", "with"};
  struct Relation {
    std::size_t at = 0, len = 0;
    int kind = 0;    // 1: previous lies on the next; -1: previous lies under the next;
                     // 2: between; 0: listed; 3: topped with (next on previous)
  };
  std::vector<Relation> relations;
  for (std::size_t k = 1; k < mentions_.size(); ++k) {
    Relation r;
    r.at = mentions_[k].first;
    bool found = false;
    for (std::size_t i = mentions_[k - 1].last; i < mentions_[k].first && !found; ++i) {
      auto try_words = [&](const std::vector<std::string_view> &words, int kind) {
        for (const auto &w : words) {
          const std::size_t l = match_phrase(i, w);
          if (l && !found) {
            r = {i, l, kind};
            found = true;
          }
        }
      };
      try_words(between_words, 2);
      try_words(above_words, -1);
      try_words(below_words, 1);
    }
    for (std::size_t i = mentions_[k - 1].last; i < mentions_[k].first && !found; ++i) {
      for (const auto &w : list_words) {
        const std::size_t l = w == "," ? (tokens_[i].text == "," ? 1 : 0) : match_phrase(i, w);
        if (l && !found) {
          r = {i, l, w == "topped with" ? 3 : 0};
          found = true;
        }
      }
    }
    relations.push_back(r);
    if (found) use(r.at, r.at + r.len);
  }
  // segments, one per mention
  std::vector<LayerDraft> by_mention;
  for (std::size_t k = 0; k < mentions_.size(); ++k) {
    LayerDraft d = make_layer(mentions_[k]);
    d.seg_begin = k == 0 ? 0 : relations[k - 1].at;
    d.seg_end = k + 1 < mentions_.size() ? relations[k].at : tokens_.size();
    by_mention.push_back(d);
  }
  // order bottom first
  const bool top_down = [&] {
    for (std::size_t i = 0; i < tokens_.size(); ++i)
      if (match_phrase(i, "from top to bottom") || match_phrase(i, "top down")) {
        use(i, i + match_phrase(i, "from top to bottom") + match_phrase(i, "top down"));
        return true;
      }
    for (std::size_t i = 0; i < tokens_.size(); ++i)
      if (match_phrase(i, "from bottom to top") || match_phrase(i, "bottom up")) {
        use(i, i + match_phrase(i, "from bottom to top") + match_phrase(i, "bottom up"));
      }
    return false;
  }();
  std::vector<LayerDraft> order;
  bool listed = false;
  const auto between = std::find_if(relations.begin(), relations.end(),
                                    [](const Relation &r) { return r.kind == 2; });
  if (between != relations.end()) {
    const auto k = static_cast<std::size_t>(between - relations.begin());    // mention k: middle
    const LayerDraft middle = by_mention[k];
    // "A between B and C": B below, C above; "A between two B layers": B on both sides
    if (by_mention.size() == k + 3) {
      order = {by_mention[k + 1], middle, by_mention[k + 2]};
    } else if (k + 2 == by_mention.size()) {
      order = {by_mention[k + 1], middle, by_mention[k + 1]};
    } else {
      throw InterpretError("The text places a layer between others but the order of its " +
                           std::to_string(by_mention.size()) +
                           " structures is unclear; write \"A between two B layers\" or \"A "
                           "between B and C\".");
    }
    for (std::size_t j = 0; j < k; ++j) order.insert(order.begin(), by_mention[j]);
  } else {
    order.push_back(by_mention[0]);
    for (std::size_t k = 1; k < by_mention.size(); ++k) {
      // where the previous mention sits in `order`
      const int kind = relations[k - 1].kind;
      auto prev = std::find_if(order.begin(), order.end(), [&](const LayerDraft &d) {
        return d.seg_begin == by_mention[k - 1].seg_begin;
      });
      if (kind == 1) {
        order.insert(prev, by_mention[k]);    // previous on top of this one: this goes below
      } else {
        if (kind == 0) listed = true;
        order.insert(prev + 1, by_mention[k]);
      }
    }
  }
  if (top_down) std::reverse(order.begin(), order.end());
  layers_ = order;
  std::string names;
  for (const auto &l : layers_)
    names += (names.empty() ? "" : ", ") + std::string(family_prefix(l.pattern.family));
  result_.understood.push_back({"layers", names + " (bottom to top)", source(0, tokens_.size()),
                                "a stack of " + std::to_string(layers_.size()) + " layers"});
  if (listed && !top_down) assume("layers", names, "the structures are listed from the bottom up");
}

// ------------------------------------------------------------------------------------------
// Numbers

std::vector<std::size_t> Interpreter::window_after(const Found &f, std::size_t n) const
{
  static const std::vector<std::string_view> stops = {"with", "and",  "or",      "of", "in",
                                                      "on",   "for",  "between", "by", "under",
                                                      "over", "that", "which",   "at"};
  std::vector<std::size_t> out;
  for (std::size_t i = f.last; i < tokens_.size() && out.size() < n; ++i) {
    if (tokens_[i].punct || tokens_[i].number) break;
    if (i > f.last && std::find(stops.begin(), stops.end(), tokens_[i].text) != stops.end()) break;
    // another quantity starts here ("five mm" as words)
    bool other = false;
    for (const auto &g : numbers_)
      if (g.first == i && &g != &f) other = true;
    if (other) break;
    out.push_back(i);
  }
  return out;
}

std::vector<std::size_t> Interpreter::window_before(const Found &f, std::size_t n) const
{
  std::vector<std::size_t> out;
  for (std::size_t i = f.first; i > 0 && out.size() < n; --i) {
    const Token &t = tokens_[i - 1];
    if (t.punct || t.number) break;
    if (t.text == "and" || t.text == "with") break;
    bool other = false;
    for (const auto &g : numbers_)
      if (g.last == i && &g != &f) other = true;
    if (other) break;
    out.insert(out.begin(), i - 1);
  }
  return out;
}

bool Interpreter::window_has(const std::vector<std::size_t> &window, std::string_view phrase) const
{
  // words a compound switch took ("open cell", "cylindrical fibres") mean nothing else
  std::vector<std::size_t> free;
  for (std::size_t i : window)
    if (!compound_.count(i)) free.push_back(i);
  if (free.size() != window.size()) return window_has(free, phrase);
  if (phrase == "(a form or family word)") {
    for (std::size_t i : window) {
      for (const auto &w : form_words())
        if (match_phrase(i, w.phrase)) return true;
      for (const auto &w : family_words())
        if (match_phrase(i, w.phrase)) return true;
    }
    return false;
  }
  const auto words = split_words(phrase);
  for (std::size_t k = 0; k < window.size(); ++k) {
    if (k + words.size() > window.size()) break;
    bool all = true;
    for (std::size_t m = 0; m < words.size() && all; ++m)
      all = tokens_[window[k + m]].text == words[m];
    if (all && !like_adjective(window[k + words.size() - 1])) return true;
  }
  return false;
}

bool Interpreter::like_adjective(std::size_t i) const
{
  // "osteon-like", "web-like": the word describes what follows it ("a 16 mm osteon-like cube"
  // is a cube of 16 mm), it is not the thing a number next to it measures
  return i + 1 < tokens_.size() && tokens_[i + 1].text == "like" &&
         tokens_[i].end < original_.size() && original_[tokens_[i].end] == '-';
}

std::optional<Slot> Interpreter::classify(const Found &f, std::vector<std::string_view> *hit)
{
  const auto after = window_after(f, 4);
  const auto before = window_before(f, 4);
  auto first_rule = [&](const std::vector<std::size_t> &window,
                        bool topics_only) -> std::optional<std::pair<Slot, std::string_view>> {
    for (const auto &rule : number_rules()) {
      if (rule.dimension != f.q.dimension) continue;
      if (topics_only && !is_topic_slot(rule.slot)) continue;
      std::string_view best;
      for (const auto &w : rule.words)
        if (w.size() > best.size() && window_has(window, w)) best = w;
      if (!best.empty()) return std::make_pair(rule.slot, best);
    }
    return std::nullopt;
  };
  for (const auto *window : {&after, &before}) {
    auto found = first_rule(*window, false);
    if (!found) continue;
    if (hit) hit->push_back(found->second);
    // "tablets 1 mm thick", "tubules of 0.8 mm radius": a generic dimension word next to the
    // noun it measures
    const Slot s = found->first;
    if (s == Slot::Height || s == Slot::Width || s == Slot::Length || s == Slot::Depth ||
        s == Slot::Diameter || s == Slot::Radius) {
      const std::vector<std::size_t> close(before.size() > 2 ? before.end() - 2 : before.begin(),
                                           before.end());
      for (const auto *other : {&close, &after}) {
        const auto topic = first_rule(*other, true);
        if (topic) {
          if (hit) hit->push_back(topic->second);
          return topic->first;
        }
      }
    }
    return found->first;
  }
  return std::nullopt;
}

std::optional<int> Interpreter::axis_near(const std::vector<std::size_t> &near) const
{
  for (std::size_t i : near) {
    const std::string &t = tokens_[i].text;
    if (t == "x") return 0;
    if (t == "y") return 1;
    if (t == "z" || t == "vertical") return 2;
    if (t == "horizontal") return 0;
  }
  return std::nullopt;
}

void Interpreter::numbers()
{
  for (auto &f : numbers_) {
    from_number_ = false;
    if (f.used) continue;
    bool covered = false;
    for (std::size_t i = f.first; i < f.last; ++i) covered = covered || tokens_[i].used;
    if (covered) continue;
    if (!std::isfinite(f.q.value))
      throw InterpretError("The number in \"" + source_of(f) +
                           "\" is too large to be a size or a count; give a finite number.");
    LayerDraft &layer = layer_at(f.first);
    // near: the words after and before, and one further token for axes ("about the z axis")
    auto near = window_after(f, 5);
    for (std::size_t i : window_before(f, 5)) near.push_back(i);
    far_ = near;
    const std::size_t far_end = std::min(tokens_.size(), f.last + 6);
    for (std::size_t i = f.last; i < far_end; ++i)
      if (!tokens_[i].punct) far_.push_back(i);

    // "scale 2x", "2 times larger": a factor, not copies
    if (f.q.dimension == Dimension::Count && (f.q.unit == "x" || f.q.unit == "times") &&
        (window_has(window_before(f, 3), "scale") || window_has(window_before(f, 3), "scaled") ||
         window_has(window_after(f, 3), "larger") || window_has(window_after(f, 3), "bigger") ||
         window_has(window_after(f, 3), "the size") || window_has(window_after(f, 3), "size"))) {
      transform_.scale = {f.q.value, f.q.value, f.q.value};
      understood("transform.scale", number_text(f.q.value), source_of(f));
      f.used = true;
      use(f.first, f.last + 1);
      continue;
    }
    std::vector<std::string_view> hit;
    auto slot = classify(f, &hit);
    if (f.q.dimension == Dimension::Fraction && layer.pattern.family == Family::Tpms &&
        (segment_has(layer, "graded") || segment_has(layer, "gradient") ||
         segment_has(layer, "grading")) &&
        (!slot || *slot == Slot::Density || *slot == Slot::Porosity))
      slot = slot.value_or(Slot::Density);
    from_number_ = true;
    if (!slot) {
      // an angle with no words about it: the ply rotation of a Bouligand, else the part's turn
      if (f.q.dimension == Dimension::Angle) {
        apply_angle(layer.pattern.family == Family::Bouligand ? Slot::PlyRotation : Slot::Rotate,
                    f.q.value, f, layer, far_);
        continue;
      }
      if (f.q.dimension == Dimension::Length && !stack_ && !part_size_ && [&] {
            // "a 30 mm gyroid": the number right before the family word
            for (const auto &m : mentions_)
              if (m.first == f.last || m.first == f.last + 1) return true;
            return false;
          }()) {
        apply_length(Slot::PartSize, f.q.value, f, layer, near);
        continue;
      }
      result_.unused.push_back("\"" + source_of(f) +
                               "\": a number with no word saying what it measures");
      f.used = true;
      use(f.first, f.last);
      continue;
    }
    switch (f.q.dimension) {
    case Dimension::Length:
      apply_length(*slot, f.q.value, f, layer, near);
      break;
    case Dimension::Angle:
      apply_angle(*slot, f.q.value, f, layer, far_);
      break;
    case Dimension::Fraction:
      apply_fraction(*slot, f.q.value, f, layer, near);
      break;
    case Dimension::Count:
      apply_count(*slot, f.q.value, f, layer, near);
      break;
    }
    from_number_ = false;
    f.used = true;
    use(f.first, f.last);
    // the words that gave the number its meaning are spent: the rule's words and the
    // dimension words that qualify them ("2 mm diameter tubules", "a 6 mm hub radius")
    static const std::vector<std::string_view> modifiers = {
        "diameter", "radius", "thick",  "thickness", "wide",        "width",     "long", "length",
        "tall",     "high",   "height", "across",    "in diameter", "in height", "size", "of"};
    std::vector<std::string_view> words = hit;
    for (const auto &rule : number_rules())
      if (rule.dimension == f.q.dimension && rule.slot == *slot)
        words.insert(words.end(), rule.words.begin(), rule.words.end());
    if (f.q.dimension == Dimension::Length)
      words.insert(words.end(), modifiers.begin(), modifiers.end());
    for (const auto &window : {window_after(f, 3), window_before(f, 3)})
      for (std::size_t i : window)
        for (const auto &h : words)
          if (h != "(a form or family word)" && match_phrase(i, h)) use(i, i + match_phrase(i, h));
  }
}

void Interpreter::apply_length(Slot slot, double mm, Found &f, LayerDraft &layer,
                               const std::vector<std::size_t> &near)
{
  const std::string src = source_of(f);
  const Family fam = layer.pattern.family;
  auto has = [&](std::string_view w) { return window_has(near, w); };
  switch (slot) {
  case Slot::FaceSheet:
    if (fam != Family::Honeycomb && fam != Family::Cellular)
      return not_for(src, "face sheets", layer);
    if (!has("bottom") || has("top")) set_param(layer, "face_sheets.top", mm, src);
    if (!has("top") || has("bottom")) set_param(layer, "face_sheets.bottom", mm, src);
    return;
  case Slot::Hub:
    if (fam != Family::SpiderWeb) return not_for(src, "hub", layer);
    return set_param(layer, "spider_web.hub_radius", has("diameter") ? mm / 2 : mm, src);
  case Slot::RingSpacing:
    if (fam != Family::Tubular) return not_for(src, "rings", layer);
    return set_param(layer, "tubular.ring_spacing", mm, src);
  case Slot::RingGap:
    if (fam != Family::Tubular) return not_for(src, "rings", layer);
    return set_param(layer, "tubular.ring_gap", mm, src);
  case Slot::Gap:
    if (has("copies") || has("between copies") || has("between the copies") ||
        array_.count != std::array<int, 3>{1, 1, 1}) {
      array_gap_ = mm;
      array_gap_source_ = src;
      understood("array.spacing", "form size + " + number_text(mm) + " mm", src);
      return;
    }
    if (fam == Family::Tubular && has("ring")) return set_param(layer, "tubular.ring_gap", mm, src);
    if (fam != Family::Nacre) return not_for(src, "mortar gap", layer);
    return set_param(layer, "nacre.gap", mm, src);
  case Slot::Wall:
    if (has("strut") || has("struts")) {
      if (fam == Family::Cellular) {
        layer.pattern.cellular.kind = meshing::CellularParams::Kind::Struts;
        layer.stated.insert("cellular.kind");
      }
    }
    if (fam == Family::Tpms) return set_param(layer, "tpms.wall_thickness", mm, src);
    if (fam == Family::Honeycomb) return set_param(layer, "honeycomb.wall_thickness", mm, src);
    if (fam == Family::Cellular) return set_param(layer, "cellular.thickness", mm, src);
    if (fam == Family::Nacre) return set_param(layer, "nacre.gap", mm, src, "the mortar walls");
    return not_for(src, "walls", layer);
  case Slot::CellSize:
    if (fam == Family::Tpms) return set_param(layer, "tpms.cell_size", mm, src);
    if (fam == Family::Honeycomb) return set_param(layer, "honeycomb.cell_size", mm, src);
    if (fam == Family::Cellular) return set_param(layer, "cellular.cell_size", mm, src);
    if (fam == Family::Tubular && (has("pore") || has("pores")))
      return set_param(layer, "tubular.radius", has("radius") ? mm : mm / 2, src);
    return not_for(src, "cells", layer);
  case Slot::FibreWidth:
    if (fam != Family::Bouligand) return not_for(src, "fibres", layer);
    return set_param(layer, "bouligand.fibre_width", mm, src);
  case Slot::Spacing:
    if (array_.count != std::array<int, 3>{1, 1, 1} || has("copies")) {
      array_pitch_ = mm;
      array_pitch_source_ = src;
      understood("array.spacing", number_text(mm) + " mm", src);
      return;
    }
    if (fam == Family::Bouligand) return set_param(layer, "bouligand.fibre_spacing", mm, src);
    if (fam == Family::Tubular && (has("ring") || has("rings")))
      return set_param(layer, "tubular.ring_spacing", mm, src);
    result_.unused.push_back("\"" + src +
                             "\": a spacing with nothing spaced (no copies or fibres)");
    return;
  case Slot::Tubule: {
    if (fam != Family::Tubular) return not_for(src, "tubules", layer);
    const bool radius = has("radius") || has("radii");
    return set_param(layer, "tubular.radius", radius ? mm : mm / 2.0, src,
                     radius ? "" : "a tubule's size is its diameter");
  }
  case Slot::Tablet:
    if (fam != Family::Nacre) return not_for(src, "tablets", layer);
    if (has("thick") || has("thickness") || has("thin"))
      return set_param(layer, "nacre.tablet_thickness", mm, src);
    return set_param(layer, "nacre.tablet_length", mm, src);
  case Slot::Thread:
    if (fam != Family::SpiderWeb) return not_for(src, "threads", layer);
    return set_param(layer, "spider_web.thread_thickness", mm, src);
  case Slot::LayerThickness:
    if (stack_) {
      if (layer.thickness && std::abs(*layer.thickness - mm) > 1e-9)
        throw InterpretError("The text gives two thicknesses for the " +
                             std::string(family_prefix(fam)) + " layer: \"" +
                             layer.thickness_source + "\" and \"" + src + "\".");
      layer.thickness = mm;
      layer.thickness_source = src;
      understood(layer_field(layer, "thickness"), number_text(mm) + " mm", src);
      return;
    }
    if (fam == Family::Bouligand && (has("ply") || has("plies"))) {
      layer.ply_thickness = mm;
      layer.ply_source = src;
      understood("bouligand ply thickness", number_text(mm) + " mm", src,
                 "the height is plies x ply thickness");
      return;
    }
    return set_size(2, mm, src, "the height of the part");
  case Slot::Height:
    if (stack_ && (has("thick") || has("thickness")) && !has("part") && !has("stack")) {
      if (!layer.thickness) {
        layer.thickness = mm;
        layer.thickness_source = src;
        understood(layer_field(layer, "thickness"), number_text(mm) + " mm", src);
        return;
      }
    }
    return set_size(2, mm, src);
  case Slot::Width:
    set_size(0, mm, src);
    if (!size_[1]) {
      size_[1] = mm;
      size_source_[1] = src;
    }
    return;
  case Slot::Length:
    return set_size(0, mm, src);
  case Slot::Depth:
    return set_size(1, mm, src);
  case Slot::Diameter:
  case Slot::Radius: {
    const double d = slot == Slot::Radius ? 2.0 * mm : mm;
    diameter_given_ = true;
    set_size(0, d, src, "diameter");
    size_[1] = d;
    size_source_[1] = src;
    return;
  }
  case Slot::Side:
    for (int a = 0; a < 3; ++a) {
      if (fam == Family::SpiderWeb && a == 2) break;
      set_size(a, mm, src, a == 0 ? "every side" : "");
    }
    return;
  case Slot::PartSize:
    if (part_size_ && std::abs(*part_size_ - mm) > 1e-9)
      throw InterpretError("The text gives two sizes for the part: \"" + part_size_source_ +
                           "\" and \"" + src + "\"; say which one you mean.");
    part_size_ = mm;
    part_size_source_ = src;
    return;
  case Slot::Translate: {
    int axis = axis_near(far_).value_or(-1);
    double sign = 1.0;
    if (window_has(far_, "down")) axis = 2, sign = -1.0;
    if (window_has(far_, "up")) axis = 2;
    if (axis < 0) {
      axis = 0;
      assume("transform.translate", "along x", "a move with no direction goes along x");
    }
    transform_.translate[static_cast<std::size_t>(axis)] = sign * mm;
    understood("transform.translate[" + std::to_string(axis) + "]", number_text(sign * mm) + " mm",
               src);
    for (std::size_t i : far_)
      if (tokens_[i].text == "x" || tokens_[i].text == "y" || tokens_[i].text == "z" ||
          tokens_[i].text == "along" || tokens_[i].text == "up" || tokens_[i].text == "down")
        tokens_[i].used = true;
    return;
  }
  default:
    result_.unused.push_back("\"" + src + "\": not understood as a length");
  }
}

void Interpreter::apply_angle(Slot slot, double deg, Found &f, LayerDraft &layer,
                              const std::vector<std::size_t> &near)
{
  const std::string src = source_of(f);
  const Family fam = layer.pattern.family;
  const auto axis = axis_near(near);
  if (slot == Slot::Rotate && fam == Family::Bouligand && !axis && !window_has(near, "part") &&
      !window_has(near, "whole"))
    slot = Slot::PlyRotation;
  if (slot == Slot::PlyRotation) {
    if (fam != Family::Bouligand) return not_for(src, "plies to rotate", layer);
    for (std::size_t i : near)
      if (tokens_[i].text == "rotated" || tokens_[i].text == "rotation" ||
          tokens_[i].text == "rotating" || tokens_[i].text == "twisted" ||
          tokens_[i].text == "turned")
        tokens_[i].used = true;
    return set_param(layer, "bouligand.rotation", deg, src);
  }
  if (slot == Slot::Noise) {
    if (fam != Family::Bouligand) return not_for(src, "ply angles to disturb", layer);
    return set_param(layer, "bouligand.rotation_noise", deg, src);
  }
  const int a = axis.value_or(2);
  if (!axis) assume("transform.rotate", "about z", "the text names no axis for \"" + src + "\"");
  transform_.rotate[static_cast<std::size_t>(a)] = deg;
  understood("transform.rotate[" + std::to_string(a) + "]", number_text(deg) + " degrees", src);
  for (std::size_t i : near) {
    const std::string &t = tokens_[i].text;
    if (t == "x" || t == "y" || t == "z" || t == "axis" || t == "about" || t == "around" ||
        t == "rotate" || t == "rotated" || t == "the")
      tokens_[i].used = true;
  }
}

void Interpreter::apply_fraction(Slot slot, double x, Found &f, LayerDraft &layer,
                                 const std::vector<std::size_t> &near)
{
  const std::string src = source_of(f);
  const Family fam = layer.pattern.family;
  switch (slot) {
  case Slot::Density:
  case Slot::Porosity: {
    const double density = slot == Slot::Density ? x : 1.0 - x;
    // graded from A to B
    const bool graded = segment_has(layer, "graded") || segment_has(layer, "gradient") ||
                        segment_has(layer, "grading") || segment_has(layer, "varying");
    if (graded && fam == Family::Tpms) {
      // the next fraction after "to" is the other end
      for (auto &g : numbers_) {
        if (&g == &f || g.used || g.q.dimension != Dimension::Fraction || g.first < f.last)
          continue;
        if (g.first > f.last + 3) break;
        bool to = false;
        for (std::size_t i = f.last; i < g.first; ++i) to = to || tokens_[i].text == "to";
        if (!to) continue;
        meshing::TpmsParams::Grading grading;
        grading.from = density;
        grading.to = slot == Slot::Density ? g.q.value : 1.0 - g.q.value;
        std::vector<std::size_t> after_both;
        for (std::size_t i = g.last; i < std::min(tokens_.size(), g.last + 4); ++i)
          if (!tokens_[i].punct) after_both.push_back(i);
        auto axis = axis_near(after_both);
        if (!axis) axis = axis_near(near);
        grading.axis = static_cast<meshing::Axis>(axis.value_or(2));
        for (std::size_t i : after_both)
          if (tokens_[i].text == "x" || tokens_[i].text == "y" || tokens_[i].text == "z" ||
              tokens_[i].text == "axis")
            tokens_[i].used = true;
        layer.pattern.tpms.grading = grading;
        layer.stated.insert("tpms.grading");
        const std::string both = source(f.first, g.last);
        understood(layer_field(layer, "tpms.grading"),
                   number_text(grading.from) + " to " + number_text(grading.to) + " along " +
                       "xyz"[static_cast<int>(grading.axis)],
                   both);
        if (!axis)
          assume(layer_field(layer, "tpms.grading.axis"), "z", "no axis named for the grading");
        for (std::size_t i : near)
          if (tokens_[i].text == "x" || tokens_[i].text == "y" || tokens_[i].text == "z" ||
              tokens_[i].text == "axis")
            tokens_[i].used = true;
        g.used = true;
        use(g.first, g.last + 1);
        for (std::size_t i = layer.seg_begin; i < layer.seg_end; ++i)
          if (tokens_[i].text == "graded" || tokens_[i].text == "gradient" ||
              tokens_[i].text == "grading" || tokens_[i].text == "from" ||
              tokens_[i].text == "to" || tokens_[i].text == "along" || tokens_[i].text == "varying")
            tokens_[i].used = true;
        return;
      }
    }
    if (fam == Family::Tpms) return set_param(layer, "tpms.relative_density", density, src);
    if (fam == Family::Honeycomb) {
      layer.density = density;
      layer.density_source = src;
      understood(layer_field(layer, "honeycomb density"), number_text(density), src,
                 "walls follow: wall = cell (1 - sqrt(1 - density))");
      return;
    }
    result_.unused.push_back("\"" + src + "\": the density of a " + std::string(family_label(fam)) +
                             " follows its sizes; give walls, cells, fibres or tubules instead");
    return;
  }
  case Slot::Scale: {
    double s = x;
    if (window_has(near, "larger") || window_has(near, "bigger") || window_has(near, "enlarge") ||
        window_has(near, "enlarged"))
      s = 1.0 + x;
    else if (window_has(near, "smaller") || window_has(near, "shrink") ||
             window_has(near, "shrunk"))
      s = 1.0 - x;
    transform_.scale = {s, s, s};
    understood("transform.scale", number_text(s), src);
    return;
  }
  case Slot::Ellipticity:
    if (fam != Family::Tubular) return not_for(src, "tubules to flatten", layer);
    return set_param(layer, "tubular.ellipticity", x, src);
  case Slot::Jitter:
    if (fam != Family::Tubular) return not_for(src, "tubules to jitter", layer);
    layer.pattern.tubular.placement = meshing::TubularParams::Placement::Jittered;
    layer.stated.insert("tubular.placement");
    return set_param(layer, "tubular.jitter", x, src, "placement jittered");
  case Slot::Overlap:
    if (fam != Family::Nacre) return not_for(src, "tablets to stagger", layer);
    return set_param(layer, "nacre.overlap", x, src);
  case Slot::Smoothing:
    if (fam != Family::Cellular) return not_for(src, "foam joints to smooth", layer);
    return set_param(layer, "cellular.smoothing", x, src);
  default:
    result_.unused.push_back("\"" + src + "\": not understood as a fraction");
  }
}

void Interpreter::apply_count(Slot slot, double n, Found &f, LayerDraft &layer,
                              const std::vector<std::size_t> &near)
{
  const std::string src = source_of(f);
  const Family fam = layer.pattern.family;
  switch (slot) {
  case Slot::Seed:
    if (fam == Family::Bouligand) return set_param(layer, "bouligand.seed", n, src);
    if (fam == Family::Tubular) return set_param(layer, "tubular.seed", n, src);
    if (fam == Family::Cellular) return set_param(layer, "cellular.seed", n, src);
    return not_for(src, "random seed", layer);
  case Slot::Tubules:
    if (fam != Family::Tubular) return not_for(src, "tubules", layer);
    return set_param(layer, "tubular.count", n, src);
  case Slot::Plies: {
    // "two foam layers": layers of the stack, not plies
    bool family_word = false;
    for (const auto &m : mentions_)
      if (m.first >= f.last && m.first <= f.last + 2) family_word = true;
    if (stack_ || (family_word && fam != Family::Bouligand)) {
      understood("", std::to_string(static_cast<int>(n)) + " layers", src, "layers of the stack");
      return;
    }
    if (fam != Family::Bouligand) return not_for(src, "plies", layer);
    return set_param(layer, "bouligand.layers", n, src);
  }
  case Slot::Radials:
    if (fam != Family::SpiderWeb) return not_for(src, "radial threads", layer);
    return set_param(layer, "spider_web.radials", n, src);
  case Slot::Turns:
    if (fam != Family::SpiderWeb) return not_for(src, "spiral", layer);
    return set_param(layer, "spider_web.spiral_turns", n, src);
  case Slot::Rings:
    if (fam == Family::SpiderWeb) return set_param(layer, "spider_web.spiral_turns", n, src);
    if (fam != Family::Tubular) return not_for(src, "rings", layer);
    return set_param(layer, "tubular.rings", n, src);
  case Slot::Cells: {
    if (fam == Family::Cellular) return set_param(layer, "cellular.cells", n, src);
    if (fam == Family::Tubular && window_has(near, "pores"))
      return set_param(layer, "tubular.count", n, src);
    if (fam == Family::Tpms || fam == Family::Honeycomb) {
      // cells across: resolved against the width once the size is known
      layer.stated.insert("cells across");
      for (std::size_t i : near)
        if (tokens_[i].text == "across" || tokens_[i].text == "wide") tokens_[i].used = true;
      understood(layer_field(layer, std::string(family_prefix(fam)) + ".cell_size"),
                 "width / " + number_text(n), src, "cells across the part's width");
      layer.density = -n;    // marker: cells across (resolved in finish_spec)
      return;
    }
    return not_for(src, "cells", layer);
  }
  case Slot::Copies: {
    int axis = 0;
    const int count = std::max(1, static_cast<int>(std::lround(n)));
    bool grid = false;
    for (std::size_t i = 0; i < tokens_.size(); ++i) {
      const std::string &t = tokens_[i].text;
      if (t == "stacked" || t == "stack" || t == "tower" || match_phrase(i, "on top of each other"))
        axis = 2, tokens_[i].used = true;
      if (t == "grid" || t == "array" || t == "square") grid = true, tokens_[i].used = true;
      if (t == "row") tokens_[i].used = true;
    }
    if (grid && axis != 2) {
      const int side = static_cast<int>(std::lround(std::sqrt(count)));
      if (side * side == count) {
        array_.count = {side, side, 1};
        understood("array.count", std::to_string(side) + " x " + std::to_string(side) + " x 1",
                   src);
        return;
      }
    }
    array_.count = {1, 1, 1};
    array_.count[static_cast<std::size_t>(axis)] = count;
    if (axis == 0 && !window_has(near, "row"))
      assume("array.count", "along x", "copies with no direction are placed in a row along x");
    understood("array.count[" + std::to_string(axis) + "]", std::to_string(count), src);
    return;
  }
  case Slot::Sides:
    sides_ = std::clamp(static_cast<int>(std::lround(n)), 3, 24);
    sides_stated_ = true;
    if (!shape_) {
      shape_ = Shape::Prism;
      shape_source_ = src;
    }
    understood("form.sides", std::to_string(sides_), src);
    return;
  default:
    result_.unused.push_back("\"" + src + "\": not understood as a count");
  }
}

// "40 x 40 x 10 mm", "2x2 grid": numbers joined by "x" or "by"
void Interpreter::dimension_groups()
{
  for (std::size_t k = 0; k < numbers_.size(); ++k) {
    std::vector<std::size_t> group{k};
    while (group.size() < 3) {
      const Found &a = numbers_[group.back()];
      const std::size_t next = group.back() + 1;
      if (next >= numbers_.size()) break;
      const Found &b = numbers_[next];
      // exactly one "x" or "by" token between them (a unit may follow the first)
      std::size_t i = a.last;
      if (i < tokens_.size() && (tokens_[i].text == "mm" || tokens_[i].text == "cm")) ++i;
      if (!(i + 1 == b.first && (tokens_[i].text == "x" || tokens_[i].text == "by"))) break;
      group.push_back(next);
    }
    if (group.size() < 2) continue;
    const Found &first = numbers_[group.front()];
    const Found &last = numbers_[group.back()];
    std::size_t end = last.last;
    const auto after = window_after(last, 3);
    const bool arrangement = window_has(after, "grid") || window_has(after, "array") ||
                             window_has(after, "copies") || window_has(after, "arrangement") ||
                             window_has(after, "pattern") || window_has(after, "tiling");
    double unit_scale = 1.0;
    bool unit_given = false;
    for (std::size_t g : group)
      if (numbers_[g].q.dimension == Dimension::Length) {
        unit_given = true;
        // a length's value is already in mm; a bare number in the group takes the last unit
        unit_scale =
            numbers_[g].q.value /
            std::max(1e-300, std::strtod(tokens_[numbers_[g].first].text.c_str(), nullptr));
      }
    const std::string src = source(first.first, end);
    if (arrangement && !unit_given) {
      array_.count = {1, 1, 1};
      for (std::size_t m = 0; m < group.size(); ++m)
        array_.count[m] = std::max(1, static_cast<int>(std::lround(numbers_[group[m]].q.value)));
      understood("array.count",
                 std::to_string(array_.count[0]) + " x " + std::to_string(array_.count[1]) + " x " +
                     std::to_string(array_.count[2]),
                 source(first.first, after.empty() ? end : after.back() + 1));
      for (std::size_t i : after)
        if (tokens_[i].text == "grid" || tokens_[i].text == "array" ||
            tokens_[i].text == "copies" || tokens_[i].text == "arrangement" ||
            tokens_[i].text == "pattern" || tokens_[i].text == "tiling")
          tokens_[i].used = true;
    } else {
      if (!unit_given) assume("form.size", "millimetres", "\"" + src + "\" has no unit");
      for (std::size_t m = 0; m < group.size(); ++m) {
        const Found &g = numbers_[group[m]];
        const double mm = g.q.dimension == Dimension::Length ? g.q.value : g.q.value * unit_scale;
        set_size(static_cast<int>(m), mm, src);
      }
    }
    for (std::size_t g : group) numbers_[g].used = true;
    use(first.first, end);
    k = group.back();
  }
}

// ------------------------------------------------------------------------------------------
// Switches and qualitative words

void Interpreter::switches_pass()
{
  // negated switches first: they were consumed by negations()
  for (const auto &[phrase, src] : negated_) {
    for (const auto &s : switches()) {
      if (s.phrase != phrase) continue;
      bool applied = false;
      for (auto &layer : layers_) {
        if (!param_applies(layer, s.field)) continue;
        applied = true;
        const std::string field(s.field);
        auto &p = layer.pattern;
        if (field == "face_sheets" || field == "face_sheets.top" || field == "face_sheets.bottom") {
          auto &sheets =
              p.family == Family::Honeycomb ? p.honeycomb.face_sheets : p.cellular.face_sheets;
          if (field != "face_sheets.bottom") sheets.top = 0.0;
          if (field != "face_sheets.top") sheets.bottom = 0.0;
          const std::string name = std::string(family_prefix(p.family)) + "." + field;
          layer.stated.insert(name);
          understood(layer_field(layer, name), "none", src);
        } else if (field == "bouligand.rotation" || field == "bouligand.rotation_noise" ||
                   field == "tubular.rings" || field == "spider_web.spiral_turns" ||
                   field == "spider_web.hub_radius" || field == "cellular.smoothing") {
          set_param(layer, field, 0.0, src);
        } else if (field == "spider_web.frame") {
          p.spider_web.frame = false;
          layer.stated.insert(field);
          understood(layer_field(layer, field), "false", src);
        } else if (field == "cellular.kind") {
          p.cellular.kind = meshing::CellularParams::Kind::Walls;
          layer.stated.insert(field);
          understood(layer_field(layer, field), "walls", src);
        } else if (field == "tubular.placement") {
          p.tubular.placement = meshing::TubularParams::Placement::Ordered;
          layer.stated.insert(field);
          understood(layer_field(layer, field), "ordered", src);
        } else if (field == "nacre.bodies") {
          p.nacre.bodies = meshing::NacreParams::Bodies::Tablets;
          layer.stated.insert(field);
          understood(layer_field(layer, field), "tablets", src);
        }
      }
      if (!applied)
        result_.understood.push_back(
            {"", "nothing to remove", src, "the structure has none to begin with"});
      break;
    }
  }
  // positive switches, longest phrases first
  std::vector<const Switch *> order;
  for (const auto &s : switches()) order.push_back(&s);
  std::stable_sort(order.begin(), order.end(), [](const Switch *a, const Switch *b) {
    return split_words(a->phrase).size() > split_words(b->phrase).size();
  });
  for (auto &layer : layers_) {
    for (std::size_t i = layer.seg_begin; i < layer.seg_end; ++i) {
      if (tokens_[i].used) continue;
      for (const Switch *s : order) {
        const std::size_t len = match_phrase(i, s->phrase);
        if (!len || s->value == "(as given)") continue;
        bool free = true;
        for (std::size_t k = i; k < i + len; ++k) free = free && !tokens_[k].used;
        if (!free || !param_applies(layer, s->field)) continue;
        const std::string src = source(i, i + len);
        const std::string field(s->field);
        auto &p = layer.pattern;
        using P = meshing::TubularParams::Placement;
        if (field == "tpms.kind") {
          p.tpms.kind = s->value == "sheet" ? meshing::TpmsParams::Kind::Sheet
                                            : meshing::TpmsParams::Kind::Network;
          layer.stated.insert(field);
          understood(layer_field(layer, field), std::string(s->value), src);
        } else if (field == "cellular.kind") {
          p.cellular.kind = s->value == "struts" ? meshing::CellularParams::Kind::Struts
                                                 : meshing::CellularParams::Kind::Walls;
          layer.stated.insert(field);
          understood(layer_field(layer, field), std::string(s->value), src);
        } else if (starts_with(field, "face_sheets")) {
          // the thickness comes from a number if one is given; 1 mm otherwise
          const std::string top = std::string(family_prefix(p.family)) + ".face_sheets.top";
          const std::string bottom = std::string(family_prefix(p.family)) + ".face_sheets.bottom";
          if (field != "face_sheets.bottom" && !layer.stated.count(top))
            set_param(layer, "face_sheets.top", 1.0, src, "face sheets are 1 mm unless given");
          if (field != "face_sheets.top" && !layer.stated.count(bottom))
            set_param(layer, "face_sheets.bottom", 1.0, src, "face sheets are 1 mm unless given");
        } else if (field == "bouligand.fibre_shape") {
          p.bouligand.fibre_shape = s->value == "cylindrical"
                                        ? meshing::BouligandParams::FibreShape::Cylindrical
                                        : meshing::BouligandParams::FibreShape::Rectangular;
          layer.stated.insert(field);
          understood(layer_field(layer, field), std::string(s->value), src);
        } else if (field == "tubular.placement") {
          p.tubular.placement = s->value == "ordered"    ? P::Ordered
                                : s->value == "jittered" ? P::Jittered
                                : s->value == "random"   ? P::Random
                                                         : P::Radial;
          layer.stated.insert(field);
          understood(layer_field(layer, field), std::string(s->value), src);
        } else if (field == "tubular.direction") {
          p.tubular.direction = static_cast<meshing::Axis>(s->value == "x"   ? 0
                                                           : s->value == "y" ? 1
                                                                             : 2);
          layer.stated.insert(field);
          understood(layer_field(layer, field), std::string(s->value), src);
        } else if (field == "tubular.ellipticity" || field == "tubular.rings" ||
                   field == "nacre.overlap" || field == "cellular.smoothing" ||
                   field == "spider_web.spiral_turns" || field == "spider_web.hub_radius") {
          if (layer.stated.count(field)) {
            tokens_[i].used = true;
            continue;
          }
          set_param(layer, field, std::strtod(std::string(s->value).c_str(), nullptr), src);
        } else if (field == "spider_web.frame") {
          p.spider_web.frame = true;
          layer.stated.insert(field);
          understood(layer_field(layer, field), "true", src);
        } else if (field == "nacre.bodies") {
          using B = meshing::NacreParams::Bodies;
          p.nacre.bodies = s->value == "tablets"  ? B::Tablets
                           : s->value == "matrix" ? B::Matrix
                                                  : B::Both;
          layer.stated.insert(field);
          understood(layer_field(layer, field), std::string(s->value), src);
        } else {
          continue;
        }
        use(i, i + len);
        i += len - 1;
        break;
      }
    }
  }
}

// Compound words ("open-cell", "cylindrical fibres") first, so that no number rule reads their
// parts ("cell", "fibres") as a noun of its own
void Interpreter::compounds()
{
  for (std::size_t i = 0; i < tokens_.size(); ++i)
    for (const auto &s : switches()) {
      const std::size_t len = match_phrase(i, s.phrase);
      const bool choice = s.field == "tpms.kind" || s.field == "cellular.kind" ||
                          s.field == "bouligand.fibre_shape" || s.field == "tubular.placement" ||
                          s.field == "tubular.direction" || s.field == "nacre.bodies";
      if (len < 2 || !choice) continue;
      for (std::size_t k = i; k < i + len; ++k) compound_.insert(k);
    }
}

void Interpreter::adjectives_pass()
{
  std::vector<const Adjective *> order;
  for (const auto &a : adjectives()) order.push_back(&a);
  std::stable_sort(order.begin(), order.end(), [](const Adjective *a, const Adjective *b) {
    return split_words(a->phrase).size() > split_words(b->phrase).size();
  });
  for (auto &layer : layers_) {
    const Family fam = layer.pattern.family;
    for (std::size_t i = layer.seg_begin; i < layer.seg_end; ++i) {
      if (tokens_[i].used) continue;
      const Adjective *adj = nullptr;
      std::size_t len = 0;
      for (const Adjective *a : order)
        if ((len = match_phrase(i, a->phrase))) {
          adj = a;
          break;
        }
      if (!adj) continue;
      // level: "very thin" -3, "thin" -2, "slightly thin" -1
      int magnitude = 2;
      std::size_t first = i;
      for (const auto &w : intensifiers())
        if (i > 0 && tokens_[i - 1].text == w) magnitude = 3, first = i - 1;
      for (const auto &w : softeners()) {
        const std::size_t l = split_words(w).size();
        if (i >= l && match_phrase(i - l, w)) magnitude = 1, first = i - l;
      }
      if (adj->phrase == "tiny" || adj->phrase == "huge") magnitude = std::max(magnitude, 3);
      const int level = adj->sign * magnitude;
      // topic: a noun in the next three words, else by the kind of word
      std::optional<Topic> topic;
      std::size_t noun_end = i + len, source_end = i + len, noun_begin = i + len;
      for (std::size_t j = i + len; j < std::min(tokens_.size(), i + len + 3) && !topic; ++j) {
        if (tokens_[j].punct || tokens_[j].number || tokens_[j].text == "and" ||
            tokens_[j].text == "or" || tokens_[j].text == "but")
          break;
        std::size_t best = 0;
        for (const auto &n : topic_nouns()) {
          const std::size_t l = match_phrase(j, n.phrase);
          if (l > best) best = l, topic = n.topic, noun_end = j + l, noun_begin = j;
        }
        if (!topic) {
          for (const auto &w : form_words())
            if (match_phrase(j, w.phrase)) topic = Topic::Part, noun_end = j + 1, noun_begin = j;
          for (const auto &m : mentions_)
            if (m.first == j) topic = Topic::Part, noun_end = i + len, source_end = m.last;
        }
      }
      if (!topic) {
        switch (adj->scale) {
        case Scale::Thickness:
          topic = (fam == Family::Tpms || fam == Family::Honeycomb || fam == Family::Cellular)
                      ? Topic::Wall
                  : fam == Family::Bouligand ? Topic::Fibre
                  : fam == Family::SpiderWeb ? Topic::Thread
                  : fam == Family::Tubular   ? Topic::Tubule
                                             : Topic::Tablet;
          break;
        case Scale::Extent:
          topic = (adj->phrase == "fine" || adj->phrase == "coarse") ? Topic::Cell : Topic::Part;
          break;
        default:
          topic = Topic::Part;
          break;
        }
        noun_end = i + len;
      }
      // "a fine gyroid", "a coarse honeycomb": fineness is about the cells
      if (topic == Topic::Part && (adj->phrase == "fine" || adj->phrase == "coarse"))
        topic = Topic::Cell;
      const std::string src = source(first, std::max({noun_end, source_end, i + len}));
      // the value: a family-specific row first, then a row for any family
      const QualitativeValue *row = nullptr;
      for (const auto &q : qualitative_values())
        if (q.scale == adj->scale && q.topic == *topic && q.family == static_cast<int>(fam))
          row = &q;
      if (!row)
        for (const auto &q : qualitative_values())
          if (q.scale == adj->scale && q.topic == *topic && q.family < 0) row = &q;
      // a count of plies, radials or tubules for the family the noun belongs to
      use(first, i + len);
      if (!row) {
        result_.unused.push_back("\"" + src + "\": " + std::string(adj->phrase) + " " +
                                 std::string(topic_name(*topic)) + " has no meaning for a " +
                                 std::string(family_label(fam)));
        continue;
      }
      const double value = row->values[static_cast<std::size_t>(level_index(level))];
      const std::string note = "\"" + std::string(adj->phrase) + "\" (level " +
                               std::to_string(level) + "): " + std::string(row->note);
      const std::string field(row->field);
      auto stated = [&](const std::string &f) { return layer.stated.count(f) > 0; };
      auto param = [&](const std::string &f, double v) {
        if (!param_applies(layer, f)) {
          result_.unused.push_back("\"" + src + "\": a " + std::string(family_label(fam)) +
                                   " has no " + std::string(topic_name(*topic)));
          return;
        }
        if (stated(f) && numeric_fields_.count(layer_field(layer, f))) {
          result_.understood.push_back(
              {layer_field(layer, f), "(number given)", src, "the number in the text decides"});
          return;
        }
        set_param(layer, f, v, src, note);
      };
      if (*topic == Topic::Part && (adj->scale == Scale::Thickness || adj->scale == Scale::Extent ||
                                    adj->scale == Scale::Breadth || adj->scale == Scale::Height ||
                                    adj->scale == Scale::Length)) {
        if (adj->scale == Scale::Extent) {
          for (int a = 0; a < 3; ++a) size_factor_[static_cast<std::size_t>(a)] *= value;
        } else if (adj->scale == Scale::Breadth) {
          size_factor_[0] *= value, size_factor_[1] *= value;
        } else if (adj->scale == Scale::Length) {
          size_factor_[0] *= value;
        } else {
          size_factor_[2] *= value;
          height_word_ = true;
        }
        understood("", "form size x " + number_text(value), src, note);
        use(noun_begin, noun_end);
        continue;
      }
      if (field == "wall thickness (tpms, honeycomb, cellular)") {
        if (fam == Family::Tpms)
          param("tpms.wall_thickness", value);
        else if (fam == Family::Honeycomb)
          param("honeycomb.wall_thickness", value);
        else if (fam == Family::Cellular)
          param("cellular.thickness", value);
        else
          result_.unused.push_back("\"" + src + "\": a " + std::string(family_label(fam)) +
                                   " has no walls");
      } else if (field == "face_sheets top and bottom") {
        param("face_sheets.top", value);
        param("face_sheets.bottom", value);
      } else if (field == "honeycomb density -> wall_thickness") {
        layer.density = value;
        layer.density_source = src;
        understood(layer_field(layer, "honeycomb density"), number_text(value), src, note);
      } else if (field == "bouligand.fibre_spacing - fibre_width") {
        if (!stated("bouligand.fibre_spacing")) {
          layer.pattern.bouligand.fibre_spacing = layer.pattern.bouligand.fibre_width + value;
          layer.stated.insert("bouligand.fibre_spacing");
          understood(layer_field(layer, "bouligand.fibre_spacing"),
                     "fibre_width + " + number_text(value) + " mm", src, note);
        }
      } else if (field == "tubular.jitter (placement jittered)") {
        if (fam == Family::Tubular) {
          layer.pattern.tubular.placement = meshing::TubularParams::Placement::Jittered;
          layer.stated.insert("tubular.placement");
          param("tubular.jitter", value);
        }
      } else if (field == "tpms.relative_density") {
        if (!layer.pattern.tpms.grading) param(field, value);
      } else {
        param(field, value);
      }
      use(noun_begin, noun_end);
    }
  }
}

// ------------------------------------------------------------------------------------------
// Forms and word-only transformations

void Interpreter::forms()
{
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i].used) continue;
    std::size_t len = 0;
    const FormWord *best = nullptr;
    for (const auto &w : form_words()) {
      const std::size_t l = match_phrase(i, w.phrase);
      if (l > len) len = l, best = &w;
    }
    if (!best) continue;
    bool longer_switch = false;
    for (const auto &sw : switches())
      if (match_phrase(i, sw.phrase) > len) longer_switch = true;
    if (longer_switch) continue;
    use(i, i + len);
    if (shapes_negated_.count(best->shape)) continue;
    const std::string src = source(i, i + len);
    if (shape_ && *shape_ != best->shape)
      throw InterpretError("The text asks for two outer forms: a " +
                           std::string(shape_name(*shape_)) + " (\"" + shape_source_ +
                           "\") and a " + shape_name(best->shape) + " (\"" + src +
                           "\"); say which one you mean (\"a sphere instead of a cube\").");
    if (!shape_) {
      shape_ = best->shape;
      shape_source_ = src;
      understood("form.shape", shape_name(best->shape), src);
    }
    if (best->shape == Shape::Prism && !sides_stated_) {
      sides_ = best->sides;
      if (best->phrase != "prism") understood("form.sides", std::to_string(sides_), src);
    }
    flatness_ = best->flatness != 0 ? best->flatness : flatness_;
    equal_sides_ = equal_sides_ || best->equal;
    i += len - 1;
  }
}

void Interpreter::word_transforms()
{
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i].used) continue;
    double scale = 0.0;
    std::size_t len = 0;
    for (const auto &[phrase, s] :
         std::initializer_list<std::pair<std::string_view, double>>{{"half size", 0.5},
                                                                    {"half the size", 0.5},
                                                                    {"half scale", 0.5},
                                                                    {"twice as large", 2.0},
                                                                    {"twice as big", 2.0},
                                                                    {"twice the size", 2.0},
                                                                    {"double size", 2.0},
                                                                    {"double the size", 2.0},
                                                                    {"double sized", 2.0}}) {
      if ((len = match_phrase(i, phrase))) {
        scale = s;
        break;
      }
    }
    if (scale > 0.0) {
      transform_.scale = {scale, scale, scale};
      understood("transform.scale", number_text(scale), source(i, i + len));
      use(i, i + len);
      continue;
    }
    if ((len = match_phrase(i, "upside down"))) {
      transform_.rotate[0] = 180.0;
      understood("transform.rotate[0]", "180 degrees", source(i, i + len));
      use(i, i + len);
      continue;
    }
    // "in a row", "stacked", "grid" without a count
    if ((tokens_[i].text == "grid" || tokens_[i].text == "array") &&
        array_.count == std::array<int, 3>{1, 1, 1}) {
      array_.count = {2, 2, 1};
      understood("array.count", "2 x 2 x 1", source(i, i + 1));
      assume("array.count", "2 x 2", "a grid with no count");
      use(i, i + 1);
    }
  }
}

// ------------------------------------------------------------------------------------------
// The spec: defaults, sizes, fixes for what the stated numbers leave no room for

void Interpreter::finish_spec()
{
  // "between two foam layers": both copies of a segment's layer take what the text said of it
  for (std::size_t k = 1; k < layers_.size(); ++k)
    for (std::size_t j = 0; j < k; ++j)
      if (layers_[j].seg_begin == layers_[k].seg_begin) {
        layers_[k] = layers_[j];
        break;
      }
  DesignSpec &spec = result_.spec;
  spec.layers.clear();
  // tpms surfaces and family defaults that depend on other fields
  for (auto &layer : layers_) {
    auto &p = layer.pattern;
    if (p.family == Family::Tpms) {
      if (layer.surface >= 0) {
        p.tpms.surface = static_cast<meshing::TpmsParams::Surface>(layer.surface);
        understood(layer_field(layer, "tpms.surface"), surface_name(layer.surface), [&] {
          for (const auto &m : mentions_)
            if (m.family == Family::Tpms && m.surface >= 0) return source(m.first, m.last);
          return std::string();
        }());
      } else {
        assume(layer_field(layer, "tpms.surface"), "gyroid", "no surface named");
      }
    }
    if (p.family == Family::Bouligand && layer.stated.count("bouligand.fibre_width") &&
        !layer.stated.count("bouligand.fibre_spacing")) {
      p.bouligand.fibre_spacing = 1.6 * p.bouligand.fibre_width;
      assume(layer_field(layer, "bouligand.fibre_spacing"),
             number_text(p.bouligand.fibre_spacing) + " mm", "1.6 x the fibre width");
    }
  }
  // the outer form
  const Pattern &first = layers_.front().pattern;
  const Family fam = first.family;
  meshing::Vec3 size = meshing::default_form_size(first);
  if (stack_) size = {20.0, 20.0, 0.0};
  Shape shape = shape_.value_or(fam == Family::SpiderWeb && !stack_ ? Shape::Cylinder : Shape::Box);
  if (!shape_)
    assume("form.shape", shape_name(shape),
           fam == Family::SpiderWeb ? "a web is round" : "no outer form named");
  if (fam == Family::SpiderWeb && !stack_ && shape_ && *shape_ != Shape::Cylinder &&
      *shape_ != Shape::Box && *shape_ != Shape::Prism) {
    result_.unused.push_back("\"" + shape_source_ + "\": a spider web is flat; it stays a disc");
    shape = Shape::Cylinder;
  }
  const bool web = fam == Family::SpiderWeb && !stack_;
  if (equal_sides_ && !web) size = {20.0, 20.0, 20.0};
  if (flatness_ < 0 && !web && !height_word_) size[2] = std::min(size[2], 8.0);
  if (flatness_ > 0 && !web)
    size = {size[0] / 2.0, size[1] / 2.0, size[2] * (height_word_ ? 1.0 : 2.0)};
  if (part_size_) {
    const double d = *part_size_;
    const bool cubic = std::abs(size[0] - size[2]) < 1e-9 || equal_sides_ || shape == Shape::Sphere;
    size[0] = size[1] = d;
    if (!web && cubic && flatness_ == 0) size[2] = d;
    understood("form.size", number_text(d) + " mm", part_size_source_,
               shape == Shape::Box || shape == Shape::Sphere ? "every side" : "the diameter");
  }
  for (int a = 0; a < 3; ++a) {
    if (web && a == 2) continue;
    size[static_cast<std::size_t>(a)] *= size_factor_[static_cast<std::size_t>(a)];
  }
  if (shape == Shape::Sphere && !size_[2] && size_[0]) size[2] = *size_[0];
  if (equal_sides_ && size_[0] && !size_[2] && !web) size[2] = *size_[0];
  for (int a = 0; a < 3; ++a)
    if (size_[static_cast<std::size_t>(a)])
      size[static_cast<std::size_t>(a)] = *size_[static_cast<std::size_t>(a)];
  if ((shape == Shape::Cylinder || shape == Shape::Cone || shape == Shape::Prism) && size_[0] &&
      !size_[1])
    size[1] = size[0];

  // layer thicknesses of a stack
  if (stack_) {
    double given = 0.0;
    int missing = 0;
    for (const auto &l : layers_) {
      if (l.thickness)
        given += *l.thickness;
      else
        ++missing;
    }
    if (size_[2] && missing == 0 && std::abs(given - *size_[2]) > 1e-6)
      throw InterpretError("The layers add up to " + number_text(given) +
                           " mm but the text gives a "
                           "height of " +
                           number_text(*size_[2]) + " mm (\"" + size_source_[2] +
                           "\"); say which one you mean.");
    for (auto &l : layers_) {
      if (l.thickness) continue;
      double t = 0.0;
      if (size_[2]) {
        t = (*size_[2] - given) / missing;
        if (t <= 0.0)
          throw InterpretError("The layers given already fill the height of " +
                               number_text(*size_[2]) + " mm; leave room for the others.");
      } else {
        switch (l.pattern.family) {
        case Family::Tpms:
          t = 2.0 * l.pattern.tpms.cell_size;
          break;
        case Family::Honeycomb:
          t = 6.0;
          break;
        case Family::Bouligand:
          t = 6.0;
          break;
        case Family::Tubular:
          t = 8.0;
          break;
        case Family::Cellular:
          t = 6.0;
          break;
        case Family::Nacre:
          t = 8.0;
          break;
        case Family::SpiderWeb:
          t = 0.8 * l.pattern.spider_web.thread_thickness;
          break;
        }
      }
      l.thickness = t;
      assume(layer_field(l, "thickness"), number_text(t) + " mm",
             size_[2] ? "the rest of the height, shared equally" : "the family's default layer");
    }
    double total = 0.0;
    for (const auto &l : layers_) total += *l.thickness;
    size[2] = total;
  }

  // honeycomb density to walls; tpms and honeycomb "N cells across"
  for (auto &l : layers_) {
    auto &p = l.pattern;
    if (l.density && *l.density < 0.0) {
      const double n = -*l.density;
      const double d = size[0] / n;
      if (p.family == Family::Tpms)
        p.tpms.cell_size = d;
      else
        p.honeycomb.cell_size = d;
      l.stated.insert(std::string(family_prefix(p.family)) + ".cell_size");
      l.density.reset();
    }
    if (p.family == Family::Honeycomb && l.density) {
      const double rho = std::clamp(*l.density, 0.01, 0.99);
      const double k = 1.0 - std::sqrt(1.0 - rho);
      double wall = p.honeycomb.cell_size * k;
      const double min_wall = spec.printer.min_wall();
      if (wall < min_wall && !l.stated.count("honeycomb.cell_size")) {
        p.honeycomb.cell_size = min_wall / k;
        wall = min_wall;
        assume(layer_field(l, "honeycomb.cell_size"), number_text(p.honeycomb.cell_size) + " mm",
               "cells large enough for printable 0.8 mm walls at density " + number_text(rho));
      }
      if (l.stated.count("honeycomb.wall_thickness")) {
        result_.unused.push_back("\"" + l.density_source +
                                 "\": the wall thickness given already fixes the density");
      } else {
        p.honeycomb.wall_thickness = wall;
        l.stated.insert("honeycomb.wall_thickness");
        understood(layer_field(l, "honeycomb.wall_thickness"), number_text(wall) + " mm",
                   l.density_source, "from the density");
      }
    }
    if (p.family == Family::Bouligand && l.ply_thickness) {
      if (!size_[2]) {
        size[2] = p.bouligand.layers * *l.ply_thickness;
        understood("form.size[2]", number_text(size[2]) + " mm", l.ply_source,
                   "plies x ply thickness");
      } else if (!l.stated.count("bouligand.layers")) {
        p.bouligand.layers = std::max(2, static_cast<int>(std::lround(size[2] / *l.ply_thickness)));
        understood(layer_field(l, "bouligand.layers"), std::to_string(p.bouligand.layers),
                   l.ply_source, "height / ply thickness");
      }
    }
  }
  // a bouligand of cylindrical fibres needs plies thin enough for the fibres to touch
  for (auto &l : layers_) {
    auto &b = l.pattern.bouligand;
    if (l.pattern.family != Family::Bouligand ||
        b.fibre_shape != meshing::BouligandParams::FibreShape::Cylindrical)
      continue;
    const double height = stack_ ? *l.thickness : size[2];
    if (height / b.layers <= 0.9 * b.fibre_width) continue;
    if (!l.stated.count("bouligand.layers")) {
      b.layers = static_cast<int>(std::ceil(height / (0.8 * b.fibre_width)));
      assume(layer_field(l, "bouligand.layers"), std::to_string(b.layers),
             "cylindrical fibres touch only in plies up to 0.9 x their width");
    } else if (!stack_ && !size_[2]) {
      size[2] = b.layers * 0.8 * b.fibre_width;
      assume("form.size[2]", number_text(size[2]) + " mm",
             "cylindrical fibres touch only in plies up to 0.9 x their width");
    }
  }
  // cortical rings with the default spacing would leave walls under the printable minimum
  for (auto &l : layers_) {
    auto &t = l.pattern.tubular;
    if (l.pattern.family != Family::Tubular || t.rings == 0) continue;
    if (!l.stated.count("tubular.ring_spacing") &&
        t.ring_spacing - t.ring_gap < spec.printer.min_wall()) {
      if (!l.stated.count("tubular.ring_gap"))
        t.ring_gap = std::max(t.ring_gap, spec.printer.nozzle);
      t.ring_spacing = t.ring_gap + 0.9;
      assume(layer_field(l, "tubular.ring_spacing"), number_text(t.ring_spacing) + " mm",
             "rings 0.9 mm apart: printable walls between the ring channels");
    }
  }
  // a web's height follows its thread
  if (web && !size_[2]) size[2] = 0.8 * first.spider_web.thread_thickness;

  // tubules that do not fit; webs whose spiral is too tight
  for (auto &l : layers_) {
    auto &p = l.pattern;
    if (p.family == Family::Tubular) {
      auto &t = p.tubular;
      const int a = static_cast<int>(t.direction);
      double w = size[static_cast<std::size_t>((a + 1) % 3)],
             d = size[static_cast<std::size_t>((a + 2) % 3)];
      auto outer = [&] {
        return t.radius + t.rings * t.ring_spacing + (t.rings > 0 ? 0.5 * t.ring_gap : 0.0);
      };
      auto capacity = [&]() -> double {
        if (t.placement == meshing::TubularParams::Placement::Radial) {
          const double pitch = 2.0 * outer() + spec.printer.min_wall();
          int fits = 0;
          for (int ring = 0;; ++ring) {
            const double r = ring * pitch;
            if (r + outer() > 0.5 * std::min(w, d)) break;
            fits += ring == 0 ? 1 : static_cast<int>(std::floor(2.0 * kPi * r / pitch));
          }
          return fits;
        }
        if (t.placement == meshing::TubularParams::Placement::Random) {
          const double pitch = 2.0 * outer() + spec.printer.min_wall();
          return 0.4 * (w - 2 * outer()) * (d - 2 * outer()) / (pitch * pitch);
        }
        return 0.7 * w * d / (kPi * outer() * outer());
      };
      if (t.count <= capacity()) continue;
      if (!l.stated.count("tubular.radius")) {
        const double radius = t.radius;
        while (t.count > capacity() && t.radius > 0.6) t.radius = std::max(0.6, t.radius * 0.9);
        if (t.count <= capacity()) {
          assume(layer_field(l, "tubular.radius"), number_text(t.radius) + " mm",
                 std::to_string(t.count) + " tubules fit in the cross-section");
          continue;
        }
        t.radius = radius;
      }
      const auto u = static_cast<std::size_t>((a + 1) % 3),
                 v = static_cast<std::size_t>((a + 2) % 3);
      if (l.stated.count("tubular.count") && !size_[u] && !size_[v] && !part_size_ && !stack_) {
        while (t.count > capacity() && size[u] < 200.0) {
          size[u] += 1.0;
          size[v] += 1.0;
          w = size[u];
          d = size[v];
        }
        assume("form.size",
               number_text(size[0]) + " x " + number_text(size[1]) + " x " + number_text(size[2]) +
                   " mm",
               "wide enough for " + std::to_string(t.count) + " tubules");
        continue;
      }
      if (!l.stated.count("tubular.count")) {
        t.count = std::max(1, static_cast<int>(std::floor(capacity())));
        assume(layer_field(l, "tubular.count"), std::to_string(t.count),
               "as many tubules as fit in the cross-section");
      }
    }
    if (p.family == Family::SpiderWeb) {
      auto &wb = p.spider_web;
      const double outer = 0.5 * std::min(size[0], size[1]) - wb.thread_thickness;
      if (wb.spiral_turns > 0 &&
          (outer - wb.hub_radius) / wb.spiral_turns < 2.2 * wb.thread_thickness &&
          !l.stated.count("spider_web.spiral_turns")) {
        wb.spiral_turns =
            std::max(1.0, std::floor((outer - wb.hub_radius) / (2.2 * wb.thread_thickness)));
        assume(layer_field(l, "spider_web.spiral_turns"), number_text(wb.spiral_turns),
               "as many turns as the web's radius holds");
      }
      if (wb.hub_radius >= 0.5 * outer && !l.stated.count("spider_web.hub_radius")) {
        wb.hub_radius = 0.2 * outer;
        assume(layer_field(l, "spider_web.hub_radius"), number_text(wb.hub_radius) + " mm",
               "a hub a fifth of the web's radius");
      }
    }
    if (p.family == Family::Nacre && stack_ && !l.stated.count("nacre.bodies")) {
      p.nacre.bodies = meshing::NacreParams::Bodies::Matrix;
      assume(layer_field(l, "nacre.bodies"), "matrix", "a layer of a stack is one body");
    }
    // TPMS with a density and no kind stated: a sheet when its walls print, else a network
    if (p.family == Family::Tpms && !l.stated.count("tpms.kind") &&
        (p.tpms.relative_density || p.tpms.grading)) {
      DesignSpec probe;
      Pattern sheet = p;
      sheet.tpms.kind = meshing::TpmsParams::Kind::Sheet;
      probe.layers = {meshing::Layer{sheet, size[2]}};
      const double s_min =
          std::min({transform_.scale[0], transform_.scale[1], transform_.scale[2]});
      if (s_min < 1.0) probe.printer.nozzle /= s_min;
      bool prints = true;
      try {
        meshing::check_printable_spec(probe);
      } catch (const SpecError &) {
        prints = false;
      }
      p.tpms.kind = prints ? meshing::TpmsParams::Kind::Sheet : meshing::TpmsParams::Kind::Network;
      assume(layer_field(l, "tpms.kind"), prints ? "sheet" : "network",
             prints ? "sheet walls at this density print"
                    : "sheet walls at this density would be thinner than the printable 0.8 mm");
    }
    // a network's struts thin out with the density: cells large enough for struts of about
    // 1.5 mm (strut diameter = 2 a sqrt(density / (pi L)), L the skeleton length per cell / a)
    if (p.family == Family::Tpms && p.tpms.kind == meshing::TpmsParams::Kind::Network &&
        !l.stated.count("tpms.cell_size")) {
      const double rho = p.tpms.grading ? std::min(p.tpms.grading->from, p.tpms.grading->to)
                                        : p.tpms.relative_density.value_or(0.3);
      const double skeleton[] = {4.24, 3.0, 6.93};    // gyroid (srs), Schwarz P (pcu), diamond
      const double length = skeleton[static_cast<int>(p.tpms.surface)];
      const double need = std::ceil(2.0 * 0.75 * std::sqrt(kPi * length / rho)) / 2.0;
      if (need > p.tpms.cell_size) {
        p.tpms.cell_size = need;
        assume(layer_field(l, "tpms.cell_size"), number_text(need) + " mm",
               "network struts of printable thickness at density " + number_text(rho));
      }
    }
  }

  // a part scaled down scales its walls down: the walls the text left to the defaults are
  // thickened so that they still print
  const double shrink = std::min({transform_.scale[0], transform_.scale[1], transform_.scale[2]});
  if (shrink < 1.0) {
    const double need = spec.printer.min_wall() / shrink;
    for (auto &l : layers_) {
      auto &p = l.pattern;
      auto thicken = [&](const char *field, double &value) {
        if (l.stated.count(field) || value >= need - 1e-9) return;
        value = need;
        assume(layer_field(l, field), number_text(value) + " mm",
               "thick enough to print after scaling by " + number_text(shrink));
      };
      switch (p.family) {
      // cells the text left open grow with their walls, keeping the family's proportions
      case Family::Tpms:
        if (p.tpms.kind == meshing::TpmsParams::Kind::Sheet && !p.tpms.relative_density &&
            !p.tpms.grading) {
          const double before = p.tpms.wall_thickness;
          thicken("tpms.wall_thickness", p.tpms.wall_thickness);
          if (p.tpms.wall_thickness > before && !l.stated.count("tpms.cell_size")) {
            p.tpms.cell_size *= p.tpms.wall_thickness / before;
            assume(layer_field(l, "tpms.cell_size"), number_text(p.tpms.cell_size) + " mm",
                   "cells grow with the thickened walls");
          }
        }
        break;
      case Family::Honeycomb: {
        const double before = p.honeycomb.wall_thickness;
        thicken("honeycomb.wall_thickness", p.honeycomb.wall_thickness);
        if (p.honeycomb.wall_thickness > before && !l.stated.count("honeycomb.cell_size")) {
          p.honeycomb.cell_size *= p.honeycomb.wall_thickness / before;
          assume(layer_field(l, "honeycomb.cell_size"), number_text(p.honeycomb.cell_size) + " mm",
                 "cells grow with the thickened walls");
        }
        break;
      }
      case Family::Cellular:
        thicken("cellular.thickness", p.cellular.thickness);
        break;
      case Family::Bouligand:
        thicken("bouligand.fibre_width", p.bouligand.fibre_width);
        if (!l.stated.count("bouligand.fibre_spacing") &&
            p.bouligand.fibre_spacing < p.bouligand.fibre_width + spec.printer.nozzle / shrink) {
          p.bouligand.fibre_spacing = 1.6 * p.bouligand.fibre_width;
          assume(layer_field(l, "bouligand.fibre_spacing"),
                 number_text(p.bouligand.fibre_spacing) + " mm", "1.6 x the fibre width");
        }
        break;
      case Family::SpiderWeb:
        thicken("spider_web.thread_thickness", p.spider_web.thread_thickness);
        if (web && !size_[2]) size[2] = 0.8 * p.spider_web.thread_thickness;
        break;
      case Family::Nacre:
        thicken("nacre.gap", p.nacre.gap);
        break;
      case Family::Tubular:
        break;
      }
    }
  }

  // a honeycomb or foam layer of a stack is joined to its neighbours by a face sheet: open cells
  // meeting another pattern leave ledges too thin to print
  if (stack_)
    for (std::size_t k = 0; k < layers_.size(); ++k) {
      auto &l = layers_[k];
      auto &p = l.pattern;
      if (p.family != Family::Honeycomb && p.family != Family::Cellular) continue;
      auto &sheets =
          p.family == Family::Honeycomb ? p.honeycomb.face_sheets : p.cellular.face_sheets;
      const std::string prefix = std::string(family_prefix(p.family)) + ".face_sheets.";
      if (k > 0 && !l.stated.count(prefix + "bottom") && sheets.bottom == 0.0) {
        sheets.bottom = 1.0;
        assume(layer_field(l, prefix + "bottom"), "1 mm", "joins the layer to the one below");
      }
      if (k + 1 < layers_.size() && !l.stated.count(prefix + "top") && sheets.top == 0.0) {
        sheets.top = 1.0;
        assume(layer_field(l, prefix + "top"), "1 mm", "joins the layer to the one above");
      }
    }
  // a nacre layer of a stack is its matrix: a mortar skin of half a gap lies under its first and
  // over its last row of tablets, so the gap is 1.6 mm (skins of 0.8 mm) and the rows fill the
  // layer exactly, unless the text says otherwise
  if (stack_)
    for (auto &l : layers_) {
      auto &n = l.pattern.nacre;
      if (l.pattern.family != Family::Nacre) continue;
      if (!l.stated.count("nacre.gap") && n.gap < 2.0 * spec.printer.min_wall()) {
        n.gap = 2.0 * spec.printer.min_wall();
        assume(layer_field(l, "nacre.gap"), number_text(n.gap) + " mm",
               "mortar skins of 0.8 mm under and over the rows of tablets");
      }
      if (!l.stated.count("nacre.tablet_thickness")) {
        const double t = *l.thickness;
        double rows = std::max(1.0, std::round(t / (n.tablet_thickness + n.gap)));
        while (rows > 1.0 && t / rows - n.gap < spec.printer.min_wall()) rows -= 1.0;
        if (t / rows - n.gap >= spec.printer.min_wall()) {
          n.tablet_thickness = t / rows - n.gap;
          assume(layer_field(l, "nacre.tablet_thickness"), number_text(n.tablet_thickness) + " mm",
                 number_text(rows) + " whole rows of tablets in the layer");
        }
      }
    }
  // nacre's height holds whole rows of tablets: H = rows x (tablet + gap) + gap, so that no row
  // is cut to a sliver at the top
  if (!stack_ && fam == Family::Nacre && !size_[2]) {
    const auto &n = layers_.front().pattern.nacre;
    const double row = n.tablet_thickness + n.gap;
    const double rows = std::max(2.0, std::round((size[2] - n.gap) / row));
    const double height = rows * row + n.gap;
    if (std::abs(height - size[2]) > 1e-9) {
      size[2] = height;
      assume("form.size[2]", number_text(height) + " mm",
             number_text(rows) + " whole rows of tablets and their mortar");
    }
  }

  // what was left to the defaults
  if (!stack_ && !assumed_fields_.count("form.size"))
    for (int a = 0; a < 3; ++a)
      if (!size_[static_cast<std::size_t>(a)] && !part_size_) {
        assume("form.size",
               number_text(size[0]) + " x " + number_text(size[1]) + " x " + number_text(size[2]) +
                   " mm",
               size_factor_ != std::array<double, 3>{1, 1, 1}
                   ? "the family's default size, scaled by the words about size"
                   : "no size given: the family's default");
        break;
      }
  for (auto &l : layers_) {
    const auto &p = l.pattern;
    auto note = [&](const char *field, const std::string &value) {
      if (!l.stated.count(field) && !assumed_fields_.count(layer_field(l, field)))
        assume(layer_field(l, field), value, "the family's default");
    };
    switch (p.family) {
    case Family::Tpms:
      note("tpms.cell_size", number_text(p.tpms.cell_size) + " mm");
      if (p.tpms.kind == meshing::TpmsParams::Kind::Sheet && !p.tpms.relative_density &&
          !p.tpms.grading)
        note("tpms.wall_thickness", number_text(p.tpms.wall_thickness) + " mm");
      break;
    case Family::Honeycomb:
      note("honeycomb.cell_size", number_text(p.honeycomb.cell_size) + " mm");
      note("honeycomb.wall_thickness", number_text(p.honeycomb.wall_thickness) + " mm");
      break;
    case Family::Bouligand:
      note("bouligand.layers", std::to_string(p.bouligand.layers));
      note("bouligand.rotation", number_text(p.bouligand.rotation) + " degrees");
      note("bouligand.fibre_width", number_text(p.bouligand.fibre_width) + " mm");
      break;
    case Family::Tubular:
      note("tubular.count", std::to_string(p.tubular.count));
      note("tubular.radius", number_text(p.tubular.radius) + " mm");
      break;
    case Family::Cellular:
      if (!l.stated.count("cellular.cell_size"))
        note("cellular.cells", std::to_string(p.cellular.cells));
      note("cellular.thickness", number_text(p.cellular.thickness) + " mm");
      break;
    case Family::Nacre:
      note("nacre.tablet_length", number_text(p.nacre.tablet_length) + " mm");
      note("nacre.tablet_thickness", number_text(p.nacre.tablet_thickness) + " mm");
      note("nacre.gap", number_text(p.nacre.gap) + " mm");
      break;
    case Family::SpiderWeb:
      note("spider_web.radials", std::to_string(p.spider_web.radials));
      note("spider_web.spiral_turns", number_text(p.spider_web.spiral_turns));
      note("spider_web.thread_thickness", number_text(p.spider_web.thread_thickness) + " mm");
      break;
    }
    spec.layers.push_back({p, stack_ ? *l.thickness : size[2]});
  }
  spec.form.shape = shape;
  spec.form.size = size;
  spec.form.sides = sides_;
  spec.transform = transform_;
  spec.array = array_;
  for (int a = 0; a < 3; ++a) {
    const auto ax = static_cast<std::size_t>(a);
    if (array_.count[ax] <= 1) continue;
    if (array_pitch_)
      spec.array.spacing[ax] = *array_pitch_;
    else if (array_gap_)
      spec.array.spacing[ax] = size[ax] + *array_gap_;
  }
  {
    std::string name;
    for (const auto &l : layers_)
      name += (name.empty() ? "" : "_") + std::string(family_prefix(l.pattern.family));
    spec.name = name;
  }
  // the spec must read back: numbers outside the ranges are refused with the words they came from
  try {
    spec = meshing::parse_design_spec(meshing::design_spec_to_json(spec));
  } catch (const SpecError &e) {
    std::string words;
    for (const auto &[field, value] : set_fields_) {
      const std::string f = e.field();
      if (field == f ||
          (f.size() > field.size() && f.compare(f.size() - field.size(), field.size(), field) == 0))
        words = value.second;
    }
    throw InterpretError("The design cannot be built as stated: " + std::string(e.what()) +
                         (words.empty() ? "" : " (from \"" + words + "\")") + ".");
  }
}

void Interpreter::collect_unused()
{
  std::string phrase;
  auto flush = [&] {
    if (!phrase.empty()) result_.unused.push_back("\"" + phrase + "\": not understood");
    phrase.clear();
  };
  std::size_t phrase_first = 0, phrase_last = 0;
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    const Token &t = tokens_[i];
    bool own_feature = false;
    for (const auto &n : topic_nouns())
      if (n.phrase == t.text)
        for (const auto &l : layers_)
          own_feature = own_feature || topic_of_family(n.topic, l.pattern.family);
    const bool meaningful =
        !t.used && !t.punct && !t.number && !is_filler(t.text) && !own_feature &&
        !std::any_of(numbers_.begin(), numbers_.end(),
                     [&](const Found &f) { return f.first <= i && i < f.last; });
    if (meaningful) {
      if (phrase.empty()) phrase_first = i;
      phrase_last = i + 1;
      phrase = source(phrase_first, phrase_last);
    } else if (!phrase.empty()) {
      flush();
    }
  }
  flush();
}

Interpretation Interpreter::run()
{
  tokenize();
  find_numbers();
  negations();
  families();
  layers_from_mentions();
  dimension_groups();
  compounds();
  forms();
  numbers();
  switches_pass();
  word_transforms();
  adjectives_pass();
  finish_spec();
  collect_unused();
  return result_;
}

}    // namespace

Interpretation interpret_design(std::string_view text)
{
  bool blank = true;
  for (char c : text) blank = blank && std::isspace(static_cast<unsigned char>(c));
  if (blank)
    throw InterpretError("The design text is empty: describe a structure, for example \"a 20 mm "
                         "gyroid cube with 5 mm cells\".");
  return Interpreter(text).run();
}

nlohmann::json interpretation_to_json(const Interpretation &interpretation)
{
  auto readings = [](const std::vector<Reading> &list) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto &r : list) {
      nlohmann::json item = {{"field", r.field}, {"value", r.value}};
      if (!r.source.empty()) item["source"] = r.source;
      if (!r.note.empty()) item["note"] = r.note;
      out.push_back(item);
    }
    return out;
  };
  return {{"spec", nlohmann::json::parse(meshing::design_spec_to_json(interpretation.spec))},
          {"understood", readings(interpretation.understood)},
          {"assumed", readings(interpretation.assumed)},
          {"unused", interpretation.unused}};
}

}    // namespace cephalo::agents
