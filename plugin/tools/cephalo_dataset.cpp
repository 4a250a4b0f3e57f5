// cephalo dataset fracture: image-text pairs from a sweep of crack simulations. Each run is
// examples/crack/in.dataset on lmp with the Cephalo plugin, fix cephalo/vlm recording snapshots
// without a model (von Mises stress and potential energy on fixed colour scales) and compute
// cephalo/crack measuring the truth; the records become JSONL in Cephalo's dataset fields
// (image, query, answer, source), split by run so that the test split holds runs never seen.
//
// `cephalo dataset designs ...` runs cephalo-dataset-designs (agents/) from beside this program.
//
//   cephalo dataset fracture --out DIR [--runs 24] [--steps 5000] [--every 250] [--ranks 2]
//                            [--jobs 1] [--size 384x288] [--seed 1] [--split 0.8,0.1,0.1]
//                            [--initiation-length 1.0] [--opening-length 2.0] [--lmp lmp]
//                            [--plugin cephaloplugin.so] [--input in.dataset]
//
// Runs already complete in DIR are kept, so an interrupted sweep resumes where it stopped. A run
// is complete when its recordings are and its stamp (images/rN.run.json: the run's parameters,
// the sweep's settings and a hash of the input file) matches this call: a run made with another
// input, seed or setting is made again. The records are written again from the recordings on
// every call: --initiation-length and --opening-length (from which a crack has started) need no
// new runs.
//
// --jobs N runs N simulations at once, each on --ranks ranks (unbound, so that they share the
// cores): a run's recordings do not depend on it. A run that fails lets those under way finish
// (their recordings are kept) and starts no more.
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cephalo/meshing/pixel_size.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char *kStressQuery =
    "CalculateVonMisesStressStatistics <stress_stdev, stress_mean, stress_median>";
constexpr const char *kEnergyQuery =
    "CalculatePotentialEnergyStatistics <energy_stdev, energy_mean, energy_median>";
constexpr const char *kInitiationQuery = "Has the crack started to grow? Answer yes or no.";
constexpr const char *kTipQuery =
    "Where is the crack tip? Answer [x, y] as fractions of the specimen's width and height.";
constexpr const char *kLengthQuery =
    "How far has the crack grown, as a fraction of the specimen's width?";
constexpr const char *kDescribeQuery = "Describe the fracture snapshot.";
// Growth (distance units) from which the crack counts as started: about one nearest-neighbour
// distance of the dataset's lattice (1.11). At a notch, cracks that have started can sit
// between 1 and 2 for dozens of snapshots while bonds break ahead of them, so a longer one
// calls them late.
constexpr double kDefaultInitiationLength = 1.0;
// Longest opening (distance units) from which a crack has started at a hole: the isolated
// broken pairs and slip steps at its rim span up to 1.7 and stay there; of the 53 hole runs of
// the default sweep, the 32 whose openings pass 2.0 go on to open cracks of 2 to 42, and in all
// but one an opening, once past 2.0, stays past it.
constexpr double kDefaultOpeningLength = 2.0;

struct Options {
  fs::path out, lmp = CEPHALO_DEFAULT_LMP, plugin, input, mpiexec = "mpirun";
  int runs = 24, steps = 5000, every = 250, ranks = 2, jobs = 1;
  // Snapshot width and height in pixels: the strip is about 1.4 times as wide as it is high, and
  // the model's image processor stretches the picture to its square, so a 4:3 snapshot gives
  // the crack's opening more pixels than a square one.
  int size = 384, height = 288;
  std::uint64_t seed = 1;
  double train = 0.8, validation = 0.1, test = 0.1;
  double initiation_length = kDefaultInitiationLength;
  double opening_length = kDefaultOpeningLength;
};

struct RunParams {
  int index = 0;
  std::string geometry;    // notch or hole
  double flaw = 0;         // notch length or hole radius (lattice units)
  double pull = 0, temperature = 0;
  long seed = 0;
  std::string split;
  json to_json() const
  {
    return {{"run", index},       {"geometry", geometry}, {"flaw", flaw}, {"pull", pull},
            {"temperature", temperature}, {"seed", seed}, {"split", split}};
  }
};

[[noreturn]] void fail(const std::string &message)
{
  std::fprintf(stderr, "cephalo dataset: %s\n", message.c_str());
  std::exit(1);
}

std::string quote(const std::string &text)
{
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

fs::path own_directory()
{
  std::error_code error;
  const fs::path self = fs::read_symlink("/proc/self/exe", error);
  return error ? fs::path() : self.parent_path();
}

// Uniform in [lo, hi) from the generator's bits alone, the same on every platform.
double uniform(std::mt19937_64 &rng, double lo, double hi)
{
  return lo + (hi - lo) * static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

double round_to(double value, int decimals)
{
  const double scale = std::pow(10.0, decimals);
  return std::round(value * scale) / scale;
}

std::string fixed(double value, int decimals)
{
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, round_to(value, decimals) + 0.0);
  return text;
}

std::vector<RunParams> plan(const Options &o)
{
  std::mt19937_64 rng(o.seed);
  std::vector<RunParams> runs;
  for (int r = 0; r < o.runs; ++r) {
    RunParams p;
    p.index = r;
    // one run in three has a round hole in the middle instead of an edge notch
    p.geometry = r % 3 == 2 ? "hole" : "notch";
    p.flaw = round_to(p.geometry == "notch" ? uniform(rng, 10.0, 35.0) : uniform(rng, 3.0, 9.0), 2);
    p.pull = round_to(uniform(rng, 0.15, 0.45), 3);
    p.temperature = round_to(uniform(rng, 0.002, 0.05), 4);
    p.seed = 100000 + static_cast<long>(rng() % 900000);
    runs.push_back(p);
  }
  // splits by run: a seeded shuffle of the run indices, cut by the fractions
  std::vector<int> order(o.runs);
  for (int r = 0; r < o.runs; ++r) order[r] = r;
  std::shuffle(order.begin(), order.end(), rng);
  const double total = o.train + o.validation + o.test;
  int n_test = static_cast<int>(std::round(o.runs * o.test / total));
  int n_validation = static_cast<int>(std::round(o.runs * o.validation / total));
  if (o.test > 0 && n_test == 0 && o.runs >= 3) n_test = 1;
  if (o.validation > 0 && n_validation == 0 && o.runs >= 3) n_validation = 1;
  for (int k = 0; k < o.runs; ++k)
    runs[order[k]].split = k < n_test ? "test" : k < n_test + n_validation ? "validation" : "train";
  return runs;
}

std::vector<json> read_jsonl(const fs::path &path)
{
  std::vector<json> rows;
  std::ifstream in(path);
  std::size_t line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    json row = json::parse(line, nullptr, false);
    if (row.is_discarded())
      fail(path.string() + ":" + std::to_string(line_number) + ": not a JSON object");
    rows.push_back(std::move(row));
  }
  return rows;
}

// 64-bit FNV-1a of a file's bytes, as 16 hex digits.
std::string file_hash(const fs::path &path)
{
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read " + path.string());
  std::uint64_t h = 14695981039346656037ull;
  char buffer[1 << 14];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      h ^= static_cast<unsigned char>(buffer[i]);
      h *= 1099511628211ull;
    }
    if (!in) break;
  }
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
  return text;
}

// The snapshot size as recorded: the width alone for a square one, else [width, height].
json size_json(const Options &o)
{
  return o.height == o.size ? json(o.size) : json::array({o.size, o.height});
}

// What makes a run's recordings: its parameters (not its split), the sweep's settings and the
// input file. The plugin and lmp are left out: a rebuild of the same code keeps the data.
json run_stamp(const Options &o, const RunParams &p, const std::string &input_hash)
{
  json params = p.to_json();
  params.erase("split");
  return {{"params", params},     {"steps", o.steps}, {"every", o.every},
          {"size", size_json(o)}, {"ranks", o.ranks}, {"input_fnv1a", input_hash}};
}

// Where a run's recordings and images go: DIR/images/rN, absolute (the recordings name images by
// it).
fs::path run_prefix(const Options &o, const RunParams &p)
{
  return fs::absolute(o.out / "images" / ("r" + std::to_string(p.index)));
}

fs::path stamp_path(const fs::path &prefix)
{
  return prefix.string() + ".run.json";
}

enum class RunState { Missing, Stale, Complete };

RunState run_state(const Options &o, const fs::path &prefix, const json &stamp)
{
  const std::size_t expected = static_cast<std::size_t>(o.steps / o.every + 1);
  for (const char *field : {".vm.jsonl", ".pe.jsonl"}) {
    const fs::path path = prefix.string() + field;
    if (!fs::exists(path) || read_jsonl(path).size() != expected) return RunState::Missing;
  }
  const json made = json::parse(std::ifstream(stamp_path(prefix)), nullptr, false);
  return made == stamp ? RunState::Complete : RunState::Stale;
}

std::string read_tail(const fs::path &path, std::size_t most)
{
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string s = text.str();
  return s.substr(s.size() > most ? s.size() - most : 0);
}

// Runs one simulation; throws std::runtime_error, naming the run and the end of its log, when it
// fails. The launcher's own output goes to LOG.out, and its end into the error when lmp never
// wrote its log. Such a launch is tried once more a second later: with several runs side by
// side on a loaded machine, mpirun has now and then given up before starting lmp.
void simulate(const Options &o, const RunParams &p, const fs::path &prefix, const fs::path &log)
{
  const fs::path launch = log.string() + ".out";
  std::ostringstream command;
  // MPI binds the ranks of a small run to the first cores: runs side by side would share them
  if (o.ranks > 1)
    command << "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " << quote(o.mpiexec)
            << " --oversubscribe" << (o.jobs > 1 ? " --bind-to none" : "") << " -np " << o.ranks
            << ' ';
  command << quote(o.lmp.string()) << " -in " << quote(o.input.string()) << " -log "
          << quote(log.string()) << " -screen none -var plugin " << quote(o.plugin.string())
          << " -var out " << quote(prefix.string()) << " -var geometry " << p.geometry
          << " -var notch " << p.flaw << " -var pull " << p.pull << " -var temp " << p.temperature
          << " -var seed " << p.seed << " -var steps " << o.steps << " -var every " << o.every
          << " -var size " << o.size << " -var height " << o.height << " > "
          << quote(launch.string()) << " 2>&1";
  int status = 0;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::seconds(1));
    fs::remove(log);
    status = std::system(command.str().c_str());
    if (status == 0 || fs::exists(log)) break;
  }
  if (status == 0) {
    fs::remove(launch);
    return;
  }
  const std::string run = "run " + std::to_string(p.index + 1) + "/" + std::to_string(o.runs);
  const std::string how = status == -1 ? "could not be started"
                          : WIFSIGNALED(status)
                              ? "killed by signal " + std::to_string(WTERMSIG(status))
                              : "exit status " + std::to_string(WEXITSTATUS(status));
  if (!fs::exists(log))
    throw std::runtime_error(run + " did not start (" + how + "): is " + o.lmp.string() +
                             " a LAMMPS executable with the PLUGIN package (--lmp), and " +
                             o.mpiexec.string() + " an MPI launcher (--mpiexec)? " +
                             launch.string() + " ends:\n" + read_tail(launch, 1000));
  throw std::runtime_error(run + " failed (lmp " + how + "); the end of its log " + log.string() +
                           ":\n" + read_tail(log, 2000));
}

// The sentences of a description, built only from what the computes measured. `initiated`: the
// crack started at this snapshot or an earlier one; `measured`: the crack followed has grown
// enough to have a tip; `opening`: the longest opening at the hole.
std::string describe(const RunParams &p, const json &truth, double width, bool initiated,
                     bool measured, double opening)
{
  std::ostringstream d;
  const bool hole = p.geometry == "hole";
  d << (hole ? "A two-dimensional Lennard-Jones crystal with a round hole"
             : "A two-dimensional Lennard-Jones crystal with an edge notch")
    << ", pulled apart in mode I. ";
  if (hole && initiated) d << "A crack has opened at the hole, " << fixed(opening, 1) << " long. ";
  if (measured) {
    d << (hole ? "Its branch on the right has grown " : "A crack has grown ")
      << fixed(truth["crack_length"].get<double>(), 1) << " from the flaw; its tip is at "
      << fixed(100.0 * truth["tip_x"].get<double>() / width, 0) << "% of the width";
    const double speed = truth.value("crack_speed", 0.0);
    if (speed > 0.0) d << ", advancing at " << fixed(speed, 2);
    d << ". ";
  } else if (initiated && !hole) {
    d << "A crack has started to grow from the flaw, but it is too short to measure in this "
         "snapshot. ";
  } else if (!initiated) {
    d << "No crack has grown yet. ";
  }
  if (measured || (hole && initiated))
    d << fixed(100.0 * truth.value("damage", 0.0), 1) << "% of the bonds are broken. ";
  d << "The von Mises stress averages " << fixed(truth.value("vm_mean", 0.0), 2)
    << " (median " << fixed(truth.value("vm_median", 0.0), 2) << ", standard deviation "
    << fixed(truth.value("vm_stdev", 0.0), 2) << ", highest " << fixed(truth.value("vm_max", 0.0), 2)
    << ").";
  return d.str();
}

struct Counts {
  std::map<std::string, std::size_t> records, runs;
};

void write_split_records(const Options &o, const RunParams &p, const fs::path &prefix,
                         std::map<std::string, std::ofstream> &splits, Counts &counts)
{
  const auto vm = read_jsonl(prefix.string() + ".vm.jsonl");
  const auto pe = read_jsonl(prefix.string() + ".pe.jsonl");
  if (vm.size() != pe.size()) fail("run " + std::to_string(p.index) + ": records do not pair up");
  std::ofstream &out = splits.at(p.split);
  ++counts.runs[p.split];
  // A crack that has started has started: initiation is the first snapshot that measured it,
  // and every later one of the run. A notch's crack grows from its tip: it has started when it
  // has grown the initiation length (the compute keeps a crack whose faces close again, heal
  // no, but the measured length can still dip when the crack's cluster of face atoms changes).
  // A hole cracks where it will, on either side, and often as slits that open ahead of the rim
  // and join: it has started when an opening at the hole (the energy recording's compute, over
  // both sides) spans the opening length. Its tip is that of the branch followed on the right.
  bool initiated = false;
  for (std::size_t k = 0; k < vm.size(); ++k) {
    const json &a = vm[k], &b = pe[k];
    if (a["step"] != b["step"] || !a.contains("truth") || a["image"].is_null() || b["image"].is_null())
      fail("run " + std::to_string(p.index) + ": snapshot " + std::to_string(k) +
           " lacks an image or measured values");
    const json &truth = a["truth"];
    const double lo_x = a["box"]["lo"][0], hi_x = a["box"]["hi"][0];
    const double lo_y = a["box"]["lo"][1], hi_y = a["box"]["hi"][1];
    const double width = hi_x - lo_x, height = hi_y - lo_y;
    const std::string source = "fracture run " + std::to_string(p.index) + " step " +
                               std::to_string(a["step"].get<long>()) + " (" + p.geometry + ")";
    const fs::path root = fs::absolute(o.out);
    const fs::path vm_image = fs::relative(a["image"].get<std::string>(), root);
    const fs::path pe_image = fs::relative(b["image"].get<std::string>(), root);
    auto emit = [&](const fs::path &image, const std::string &query, const std::string &answer) {
      json row = {{"image", image.string()}, {"query", query}, {"answer", answer},
                  {"source", source},        {"run", p.index}, {"step", a["step"]},
                  {"geometry", p.geometry}};
      out << row.dump() << '\n';
      ++counts.records[p.split];
    };
    emit(vm_image, kStressQuery,
         "[" + fixed(truth.value("vm_stdev", 0.0), 3) + ", " + fixed(truth.value("vm_mean", 0.0), 3) +
             ", " + fixed(truth.value("vm_median", 0.0), 3) + "]");
    emit(pe_image, kEnergyQuery,
         "[" + fixed(truth.value("pe_stdev", 0.0), 3) + ", " + fixed(truth.value("pe_mean", 0.0), 3) +
             ", " + fixed(truth.value("pe_median", 0.0), 3) + "]");
    const double length = truth.value("crack_length", 0.0);
    const bool grown = length >= o.initiation_length && truth["tip_x"].is_number();
    const json &openings = b.contains("truth") ? b["truth"] : truth;
    const double opening =
        openings.contains("longest_opening") && openings["longest_opening"].is_number()
            ? openings["longest_opening"].get<double>()
            : 0.0;
    const bool hole = p.geometry == "hole";
    initiated = initiated || (hole ? opening >= o.opening_length : grown);
    const bool measured = grown && initiated;
    emit(vm_image, kInitiationQuery, initiated ? "yes" : "no");
    if (measured) {
      emit(vm_image, kTipQuery,
           "[" + fixed((truth["tip_x"].get<double>() - lo_x) / width, 3) + ", " +
               fixed((truth["tip_y"].get<double>() - lo_y) / height, 3) + "]");
      emit(vm_image, kLengthQuery, fixed(length / width, 3));
    }
    emit(vm_image, kDescribeQuery, describe(p, truth, width, initiated, measured, opening));
  }
}

Options parse(int argc, char **argv)
{
  Options o;
  if (argc < 2 || std::string(argv[1]) != "fracture") {
    std::fprintf(
        stderr,
        "usage: cephalo dataset fracture --out DIR [--runs N] [--steps N] "
        "[--every N] [--ranks N] [--jobs N] [--size W[xH]] [--seed N] [--split TRAIN,VAL,TEST] "
        "[--initiation-length L] [--opening-length L] [--lmp LMP] [--plugin SO] "
        "[--input FILE]\n"
        "       cephalo dataset designs --out DIR [--count N] [--size PX] "
        "[--seed N] [--split TRAIN,VAL,TEST]\n");
    std::exit(2);
  }
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "cephalo dataset: %s needs a value\n", a.c_str());
      std::exit(2);
    }
    const std::string v = argv[++i];
    auto integer = [&](int low) {
      char *end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (*end != '\0' || n < low || n > 1000000) {
        std::fprintf(stderr, "cephalo dataset: %s needs an integer >= %d, got %s\n", a.c_str(), low, v.c_str());
        std::exit(2);
      }
      return static_cast<int>(n);
    };
    if (a == "--out") o.out = v;
    else if (a == "--runs") o.runs = integer(1);
    else if (a == "--steps") o.steps = integer(1);
    else if (a == "--every") o.every = integer(1);
    else if (a == "--ranks") o.ranks = integer(1);
    else if (a == "--jobs")
      o.jobs = integer(1);
    else if (a == "--size") {
      // as cephalo mesh --preview-size, in fix cephalo/vlm's range
      try {
        const auto size = cephalo::meshing::parse_pixel_size(v);
        o.size = size.width;
        o.height = size.height;
      } catch (const std::invalid_argument &e) {
        std::fprintf(stderr, "cephalo dataset: --size: %s\n", e.what());
        std::exit(2);
      }
    } else if (a == "--seed")
      o.seed = static_cast<std::uint64_t>(integer(0));
    else if (a == "--lmp") o.lmp = v;
    else if (a == "--plugin") o.plugin = v;
    else if (a == "--input") o.input = v;
    else if (a == "--mpiexec") o.mpiexec = v;
    else if (a == "--initiation-length" || a == "--opening-length") {
      char *end = nullptr;
      const double length = std::strtod(v.c_str(), &end);
      if (*end != '\0' || !(length > 0.0) || !std::isfinite(length)) {
        std::fprintf(stderr, "cephalo dataset: %s needs a length > 0 (distance units), got %s\n",
                     a.c_str(), v.c_str());
        std::exit(2);
      }
      (a == "--initiation-length" ? o.initiation_length : o.opening_length) = length;
    } else if (a == "--split") {
      if (std::sscanf(v.c_str(), "%lf,%lf,%lf", &o.train, &o.validation, &o.test) != 3 ||
          o.train <= 0 || o.validation < 0 || o.test < 0) {
        std::fprintf(stderr, "cephalo dataset: --split needs three fractions TRAIN,VAL,TEST with TRAIN > 0, got %s\n", v.c_str());
        std::exit(2);
      }
    } else {
      std::fprintf(stderr, "cephalo dataset: unknown option %s\n", a.c_str());
      std::exit(2);
    }
  }
  if (o.out.empty()) {
    std::fprintf(stderr, "cephalo dataset: --out DIR is needed\n");
    std::exit(2);
  }
  if (o.steps % o.every != 0) {
    std::fprintf(stderr, "cephalo dataset: --steps must be a multiple of --every\n");
    std::exit(2);
  }
  const fs::path here = own_directory();
  if (o.plugin.empty()) o.plugin = here / ".." / "plugin" / "cephaloplugin.so";
  if (o.input.empty()) o.input = fs::path(CEPHALO_SOURCE_DIR) / "examples" / "crack" / "in.dataset";
  for (fs::path *path : {&o.plugin, &o.input})
    if (!fs::exists(*path)) {
      std::fprintf(stderr, "cephalo dataset: %s does not exist (--plugin, --input)\n", path->c_str());
      std::exit(2);
    }
  o.plugin = fs::canonical(o.plugin);
  o.input = fs::canonical(o.input);
  return o;
}

}    // namespace

int main(int argc, char **argv)
{
  // the designs come from agents/ (meshing): its own program, found beside this one
  if (argc > 1 && std::string(argv[1]) == "designs") {
    const fs::path designs = own_directory() / "cephalo-dataset-designs";
    execv(designs.c_str(), argv);
    std::fprintf(stderr, "cephalo dataset: cannot run %s (built with agents/)\n", designs.c_str());
    return 127;
  }
  const Options o = parse(argc, argv);
  fs::create_directories(o.out / "images");
  fs::create_directories(o.out / "logs");
  const auto runs = plan(o);

  const std::string input_hash = file_hash(o.input);
  struct Pending {
    const RunParams *params;
    fs::path prefix;
    json stamp;
    RunState state;
  };
  std::vector<Pending> pending;
  for (const auto &p : runs) {
    Pending run{&p, run_prefix(o, p), run_stamp(o, p, input_hash), RunState::Missing};
    run.state = run_state(o, run.prefix, run.stamp);
    if (run.state == RunState::Complete)
      std::fprintf(stderr, "run %d/%d: complete, kept\n", p.index + 1, o.runs);
    else
      pending.push_back(std::move(run));
  }
  // the runs to make, --jobs at a time; each one's stamp is written when it is complete, so that
  // an interrupted sweep keeps what it finished
  std::atomic<std::size_t> next{0};
  std::mutex lock;
  std::string failure;
  const auto work = [&] {
    for (std::size_t k; (k = next++) < pending.size();) {
      const RunParams &p = *pending[k].params;
      const fs::path &prefix = pending[k].prefix;
      {
        const std::lock_guard<std::mutex> hold(lock);
        if (!failure.empty()) return;
        std::fprintf(stderr, "run %d/%d: %s %.2f, pull %.3f, T %.4f (%s)%s\n", p.index + 1, o.runs,
                     p.geometry.c_str(), p.flaw, p.pull, p.temperature, p.split.c_str(),
                     pending[k].state == RunState::Stale
                         ? "; the run there was made with another input, seed or setting: made "
                           "again"
                         : "");
      }
      const auto started = std::chrono::steady_clock::now();
      try {
        fs::remove(stamp_path(prefix));
        const fs::path log =
            fs::absolute(o.out / "logs" / ("r" + std::to_string(p.index) + ".log"));
        fs::remove(log);    // a failure names this attempt's log, never an earlier one's
        simulate(o, p, prefix, log);
        std::ofstream(stamp_path(prefix)) << pending[k].stamp.dump(2) << '\n';
      } catch (const std::exception &error) {
        const std::lock_guard<std::mutex> hold(lock);
        if (failure.empty()) failure = error.what();
        return;
      }
      if (o.jobs > 1) {    // one after another, the next run's line says as much
        const std::lock_guard<std::mutex> hold(lock);
        std::fprintf(
            stderr, "run %d/%d: done in %.0f s\n", p.index + 1, o.runs,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      }
    }
  };
  std::vector<std::thread> workers;
  const std::size_t jobs = std::min<std::size_t>(static_cast<std::size_t>(o.jobs), pending.size());
  try {
    for (std::size_t j = 1; j < jobs; ++j) workers.emplace_back(work);
  } catch (const std::system_error &error) {    // fewer threads than asked for: fewer jobs
    std::fprintf(stderr, "cephalo dataset: %zu of %zu jobs at once (%s)\n", workers.size() + 1,
                 jobs, error.what());
  }
  work();
  for (auto &worker : workers) worker.join();
  if (!failure.empty()) fail(failure);

  std::map<std::string, std::ofstream> splits;
  for (const char *name : {"train", "validation", "test"}) {
    splits[name].open(o.out / (std::string(name) + ".jsonl"), std::ios::trunc);
    if (!splits[name]) fail("cannot write " + (o.out / (std::string(name) + ".jsonl")).string());
  }
  Counts counts;
  json manifest = {
      {"kind", "fracture"},
      {"queries",
       {kStressQuery, kEnergyQuery, kInitiationQuery, kTipQuery, kLengthQuery, kDescribeQuery}},
      {"steps", o.steps},
      {"every", o.every},
      {"size", size_json(o)},
      {"seed", o.seed},
      {"initiation_length", o.initiation_length},
      {"opening_length", o.opening_length},
      {"runs", json::array()}};
  for (const auto &p : runs) {
    write_split_records(o, p, run_prefix(o, p), splits, counts);
    manifest["runs"].push_back(p.to_json());
  }
  manifest["records"] = counts.records;
  std::ofstream(o.out / "dataset.json") << manifest.dump(2) << '\n';
  std::printf("fracture dataset in %s: ", o.out.c_str());
  for (const char *name : {"train", "validation", "test"})
    std::printf("%s %zu records from %zu runs%s", name, counts.records[name], counts.runs[name],
                std::string(name) == "test" ? "\n" : ", ");
  return 0;
}
