// cephalo dataset designs (run by cephalo-dataset): image-text pairs of bio-inspired designs.
// Every family gets varied parameters; each design is written as a caption in the design
// language, read back by the interpreter into a DesignSpec (so caption and part cannot
// disagree), built into a checked part and rendered as a preview. Records use Cephalo's
// dataset fields (image, query, answer, source) plus the spec, split by design.
//
//   cephalo dataset designs --out DIR [--count 12] [--size 384] [--seed 1] [--split 0.8,0.1,0.1]
#include "cephalo/agents/interpreter.h"
#include "model_prompts.h"
#include "cephalo/meshing/build.h"
#include "cephalo/meshing/preview.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// the question the design agent asks of a picture (cephalo design --image), so that a model
// trained on these records answers the agent in the words its interpreter reads
const std::string kQuery = cephalo::agents::detail::describe_image_prompt("");

struct Options {
  fs::path out;
  fs::path score;    // predictions to score instead of making a dataset
  int count = 12, size = 384;
  std::uint64_t seed = 1;
  double train = 0.8, validation = 0.1, test = 0.1;
};

[[noreturn]] void usage_error(const std::string &what)
{
  std::fprintf(stderr,
               "cephalo dataset: %s\n\nusage: cephalo dataset designs --out DIR [--count N] "
               "[--size PX] [--seed N] [--split TRAIN,VAL,TEST]\n"
               "       cephalo dataset designs --score PREDICTIONS.jsonl   (records of this "
               "dataset with a \"prediction\", as cephalo evaluate --out writes)\n",
               what.c_str());
  std::exit(2);
}

// One of `choices`, from the generator's bits alone (the same on every platform).
template <typename T>
T pick(std::mt19937_64 &rng, const std::vector<T> &choices)
{
  return choices[rng() % choices.size()];
}

std::string mm(double value)
{
  std::ostringstream out;
  out << value;
  return out.str();
}

// A caption in the design language for design `index` of `family`.
std::string caption(const std::string &family, std::mt19937_64 &rng)
{
  if (family == "tpms") {
    const std::string surface = pick<std::string>(rng, {"gyroid", "Schwarz P", "diamond"});
    return "a " + mm(pick<double>(rng, {16, 20, 24})) + " mm " + surface + " cube with " +
           mm(pick<double>(rng, {4, 5, 6, 8})) + " mm cells and " +
           mm(pick<double>(rng, {0.8, 1.0, 1.2})) + " mm walls";
  }
  if (family == "honeycomb") {
    const double side = pick<double>(rng, {30, 40, 50});
    return "a honeycomb panel " + mm(side) + " x " + mm(side) + " x " +
           mm(pick<double>(rng, {8, 10, 12})) + " mm with " + mm(pick<double>(rng, {3, 4, 5, 6})) +
           " mm cells and " + mm(pick<double>(rng, {0.8, 1.0, 1.2})) + " mm walls";
  }
  if (family == "bouligand")
    return "a Bouligand structure with " + std::to_string(pick<int>(rng, {4, 5, 6, 8, 10})) +
           " layers, " + std::to_string(pick<int>(rng, {10, 15, 20, 30, 45})) +
           " degrees per layer";
  if (family == "tubular")
    return "a " + mm(pick<double>(rng, {16, 20, 24})) + " mm cube of osteon-like bone with " +
           std::to_string(pick<int>(rng, {4, 9, 16})) + " tubules";
  if (family == "cellular")
    return "a " + mm(pick<double>(rng, {16, 20, 24})) + " mm Voronoi foam cube with " +
           std::to_string(pick<int>(rng, {15, 20, 30, 40})) + " cells and " +
           mm(pick<double>(rng, {0.8, 1.0, 1.2})) + " mm walls";
  if (family == "nacre")
    return "nacre, brick and mortar with " + mm(pick<double>(rng, {3, 4, 5, 6})) + " mm tablets";
  return "a spider web with " + std::to_string(pick<int>(rng, {8, 12, 16})) + " radials and " +
         std::to_string(pick<int>(rng, {6, 8, 10})) + " turns";
}

void numbers_of(const json &value, std::vector<double> &out)
{
  if (value.is_number()) out.push_back(value.get<double>());
  if (value.is_structured())
    for (const auto &item : value) numbers_of(item, out);
}

// A number written in the caption that the spec does not hold (NaN when it holds them all): the
// caption must say only what the part is.
double number_not_in(const std::string &caption, const json &spec)
{
  std::vector<double> held;
  numbers_of(spec, held);
  const char *p = caption.c_str();
  while (*p) {
    char *end = nullptr;
    const double v = std::strtod(p, &end);
    if (end != p && (p == caption.c_str() || p[-1] == ' ')) {
      if (std::find(held.begin(), held.end(), v) == held.end()) return v;
      p = end;
    } else {
      ++p;
    }
  }
  return std::nan("");
}

Options parse(int argc, char **argv)
{
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage_error(a + " needs a value");
    const std::string v = argv[++i];
    auto integer = [&](int low, int high) {
      char *end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (*end != '\0' || n < low || n > high)
        usage_error(a + " needs an integer from " + std::to_string(low) + " to " +
                    std::to_string(high) + ", got " + v);
      return static_cast<int>(n);
    };
    if (a == "--out") o.out = v;
    else if (a == "--score") o.score = v;
    else if (a == "--count") o.count = integer(1, 10000);
    else if (a == "--size") o.size = integer(64, 4096);
    else if (a == "--seed") o.seed = static_cast<std::uint64_t>(integer(0, 1 << 30));
    else if (a == "--split") {
      if (std::sscanf(v.c_str(), "%lf,%lf,%lf", &o.train, &o.validation, &o.test) != 3 ||
          o.train <= 0 || o.validation < 0 || o.test < 0)
        usage_error("--split needs three fractions TRAIN,VAL,TEST with TRAIN > 0, got " + v);
    } else {
      usage_error("unknown option " + a);
    }
  }
  if (o.out.empty() && o.score.empty()) usage_error("--out DIR is needed");
  return o;
}

// Whether `spec` (JSON) holds at a reading's field ("tpms.cell_size", "form.size") what
// `reference` holds there; numbers compared to a millionth.
bool same_field(const json &reference, const json &spec, const std::string &field)
{
  std::string pointer = "/" + field;
  std::replace(pointer.begin(), pointer.end(), '.', '/');
  const json::json_pointer at(pointer);
  if (!reference.contains(at)) return true;    // nothing the spec records
  if (!spec.contains(at)) return false;
  const std::function<bool(const json &, const json &)> equal = [&](const json &a, const json &b) {
    if (a.is_number() && b.is_number())
      return std::abs(a.get<double>() - b.get<double>()) <=
             1e-6 * std::max(1.0, std::abs(a.get<double>()));
    if (a.is_array() && b.is_array()) {
      if (a.size() != b.size()) return false;
      for (std::size_t i = 0; i < a.size(); ++i)
        if (!equal(a[i], b[i])) return false;
      return true;
    }
    return a == b;
  };
  return equal(reference[at], spec[at]);
}

// How many descriptions a model gave of held-out design renders the interpreter turns back into
// the design: the family, and every field the reference caption sets (its main numbers: cell
// size, walls, layers, tubules, outer size) at the reference's value in the spec read from the
// description. Prints a table by family.
int score(const fs::path &file)
{
  std::ifstream in(file);
  if (!in) {
    std::fprintf(stderr, "cephalo dataset: cannot read %s\n", file.c_str());
    return 1;
  }
  struct Tally {
    int n = 0, family = 0, numbers = 0, refused = 0;
    int fields = 0, fields_recovered = 0;    // the reference's numbers, one by one
  };
  std::map<std::string, Tally> by_family;
  long line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    const json record = json::parse(line, nullptr, false);
    if (!record.is_object() || !record.contains("family") || !record["family"].is_string() ||
        !record.contains("answer") || !record["answer"].is_string())
      continue;    // not a design record (a fracture record of a mixed test file)
    if (!record.contains("prediction") || !record["prediction"].is_string()) {
      std::fprintf(stderr, "cephalo dataset: %s:%ld: no \"prediction\"\n", file.c_str(), line_number);
      return 1;
    }
    Tally &t = by_family[record["family"].get<std::string>()];
    ++t.n;
    // the reference caption's fields: what a description must give back
    cephalo::agents::Interpretation reference;
    try {
      reference = cephalo::agents::interpret_design(record["answer"].get<std::string>());
    } catch (const cephalo::agents::InterpretError &e) {
      std::fprintf(stderr, "cephalo dataset: %s:%ld: the reference caption is not a design: %s\n",
                   file.c_str(), line_number, e.what());
      return 1;
    }
    const json reference_spec = json::parse(cephalo::meshing::design_spec_to_json(reference.spec));
    std::vector<std::string> fields;
    for (const auto &r : reference.understood)
      if (!r.field.empty()) fields.push_back(r.field);
    t.fields += static_cast<int>(fields.size());
    try {
      const auto reading = cephalo::agents::interpret_design(record["prediction"].get<std::string>());
      if (std::string(cephalo::meshing::family_name(reading.spec.pattern().family)) !=
          record["family"].get<std::string>())
        continue;
      ++t.family;
      const json spec = json::parse(cephalo::meshing::design_spec_to_json(reading.spec));
      int recovered = 0;
      for (const auto &field : fields) recovered += same_field(reference_spec, spec, field) ? 1 : 0;
      t.fields_recovered += recovered;
      if (recovered == static_cast<int>(fields.size())) ++t.numbers;
    } catch (const cephalo::agents::InterpretError &) {
      ++t.refused;
    }
  }
  Tally all;
  std::printf("| design family | renders | family recovered | family and numbers recovered | "
              "numbers recovered | refused |\n|---|---:|---:|---:|---:|---:|\n");
  for (const auto &[family, t] : by_family) {
    std::printf("| %s | %d | %d | %d | %d of %d | %d |\n", family.c_str(), t.n, t.family, t.numbers,
                t.fields_recovered, t.fields, t.refused);
    all.n += t.n;
    all.family += t.family;
    all.numbers += t.numbers;
    all.fields += t.fields;
    all.fields_recovered += t.fields_recovered;
    all.refused += t.refused;
  }
  if (all.n == 0) {
    std::fprintf(stderr, "cephalo dataset: %s holds no design records\n", file.c_str());
    return 1;
  }
  std::printf("| all | %d | %.3f | %.3f | %.3f | %d |\n", all.n, double(all.family) / all.n,
              double(all.numbers) / all.n,
              all.fields > 0 ? double(all.fields_recovered) / all.fields : 0.0, all.refused);
  return 0;
}

}    // namespace

int main(int argc, char **argv)
{
  // run as `cephalo-dataset designs ...` (or directly): the subcommand word is optional
  if (argc > 1 && std::string(argv[1]) == "designs") {
    --argc;
    ++argv;
  }
  const Options o = parse(argc, argv);
  if (!o.score.empty()) return score(o.score);
  fs::create_directories(o.out / "images");
  const std::vector<std::string> families = {"tpms",     "honeycomb", "bouligand", "tubular",
                                             "cellular", "nacre",     "spider_web"};
  std::mt19937_64 rng(o.seed);

  struct Design {
    std::string family, caption, image;
    json spec;
  };
  std::vector<Design> designs;
  for (const auto &family : families)
    for (int k = 0; k < o.count; ++k) {
      Design d;
      d.family = family;
      const std::string name = family + "-" + std::to_string(k);
      d.image = "images/" + name + ".png";
      // a caption the mesher cannot make (too fine a grid for its size) is replaced by another
      // draw, at most a few times: the dataset holds only designs that exist
      for (int attempt = 0;; ++attempt) {
        d.caption = caption(family, rng);
        try {
          const cephalo::agents::Interpretation reading = cephalo::agents::interpret_design(d.caption);
          if (std::string(cephalo::meshing::family_name(reading.spec.pattern().family)) != family)
            throw std::logic_error("the interpreter read it as " +
                                   std::string(cephalo::meshing::family_name(reading.spec.pattern().family)));
          d.spec = json::parse(cephalo::meshing::design_spec_to_json(reading.spec));
          const double missing = number_not_in(d.caption, d.spec);
          if (!std::isnan(missing)) throw std::logic_error("the spec read from it has no " + mm(missing));
          const auto part = cephalo::meshing::build_part(reading.spec);
          cephalo::meshing::PreviewOptions preview;
          preview.width = preview.height = o.size;
          cephalo::meshing::render_preview(part, o.out / d.image, preview);
          break;
        } catch (const std::logic_error &e) {    // the captions and the interpreter disagree
          std::fprintf(stderr, "cephalo dataset: design '%s' cannot be made: %s\n", d.caption.c_str(),
                       e.what());
          return 1;
        } catch (const std::exception &e) {
          std::fprintf(stderr, "cephalo dataset: skipping '%s' (%s)%s\n", d.caption.c_str(), e.what(),
                       attempt + 1 < 8 ? ", drawing another" : "");
          if (attempt + 1 >= 8) return 1;
        }
      }
      std::fprintf(stderr, "%s: %s\n", name.c_str(), d.caption.c_str());
      designs.push_back(std::move(d));
    }

  // splits by design: a seeded shuffle cut by the fractions
  std::vector<std::size_t> order(designs.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  const double total = o.train + o.validation + o.test;
  const auto n_test = static_cast<std::size_t>(std::round(designs.size() * o.test / total));
  const auto n_validation = static_cast<std::size_t>(std::round(designs.size() * o.validation / total));
  std::map<std::string, std::ofstream> splits;
  std::map<std::string, std::size_t> counts;
  for (const char *name : {"train", "validation", "test"}) {
    splits[name].open(o.out / (std::string(name) + ".jsonl"), std::ios::trunc);
    if (!splits[name]) usage_error("cannot write into " + o.out.string());
  }
  for (std::size_t k = 0; k < order.size(); ++k) {
    const Design &d = designs[order[k]];
    const char *split = k < n_test ? "test" : k < n_test + n_validation ? "validation" : "train";
    splits[split] << json{{"image", d.image},   {"query", kQuery},
                          {"answer", d.caption}, {"source", "design " + d.family},
                          {"family", d.family},  {"spec", d.spec}}
                         .dump()
                  << '\n';
    ++counts[split];
  }
  std::printf("designs dataset in %s: train %zu, validation %zu, test %zu designs\n",
              o.out.c_str(), counts["train"], counts["validation"], counts["test"]);
  return 0;
}
