// cephalo dataset designs (run by cephalo-dataset): image-text pairs of bio-inspired designs.
// Every family gets varied parameters; each design is written as a caption in the design
// language, read back by the interpreter into a DesignSpec (so caption and part cannot
// disagree), built into a checked part and rendered as a preview. Records use Cephalo's
// dataset fields (image, query, answer, source) plus the spec, split by design.
//
//   cephalo dataset designs --out DIR [--count 12] [--size 384] [--seed 1] [--split 0.8,0.1,0.1]
#include "cephalo/agents/interpreter.h"
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
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char *kQuery = "Describe this structure so that it could be 3D printed.";

struct Options {
  fs::path out;
  int count = 12, size = 384;
  std::uint64_t seed = 1;
  double train = 0.8, validation = 0.1, test = 0.1;
};

[[noreturn]] void usage_error(const std::string &what)
{
  std::fprintf(stderr,
               "cephalo dataset: %s\n\nusage: cephalo dataset designs --out DIR [--count N] "
               "[--size PX] [--seed N] [--split TRAIN,VAL,TEST]\n",
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
  if (o.out.empty()) usage_error("--out DIR is needed");
  return o;
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
      d.caption = caption(family, rng);
      const std::string name = family + "-" + std::to_string(k);
      d.image = "images/" + name + ".png";
      try {
        const cephalo::agents::Interpretation reading = cephalo::agents::interpret_design(d.caption);
        if (std::string(cephalo::meshing::family_name(reading.spec.pattern().family)) != family)
          throw std::runtime_error("the interpreter read it as " +
                                   std::string(cephalo::meshing::family_name(reading.spec.pattern().family)));
        d.spec = json::parse(cephalo::meshing::design_spec_to_json(reading.spec));
        const double missing = number_not_in(d.caption, d.spec);
        if (!std::isnan(missing))
          throw std::runtime_error("the spec read from it has no " + mm(missing));
        const auto part = cephalo::meshing::build_part(reading.spec);
        cephalo::meshing::PreviewOptions preview;
        preview.width = preview.height = o.size;
        cephalo::meshing::render_preview(part, o.out / d.image, preview);
      } catch (const std::exception &e) {
        std::fprintf(stderr, "cephalo dataset: design '%s' cannot be made: %s\n", d.caption.c_str(),
                     e.what());
        return 1;
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
