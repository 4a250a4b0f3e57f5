// cephalo dataset fracture end to end: a small sweep of real crack runs (lmp with the plugin),
// split by run, with answers that are the compute's measurements; a second call resumes, and
// makes again the runs of an edited input; a crack once measured has started for the rest of its
// run; in a run with a hole the crack measured is the branch that runs in +x from the hole's right
// rim, and the crack has started once an opening on either side of the hole spans the opening
// length.
#define BOOST_TEST_MODULE dataset
#include <boost/test/unit_test.hpp>

#include "process.h"
#include "scratch_dir.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

namespace fs = std::filesystem;
using cephalo::test::run_command;
using cephalo::test::shell_quote;
using json = nlohmann::json;

namespace {

std::vector<json> read_jsonl(const fs::path &path)
{
  std::vector<json> rows;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) rows.push_back(json::parse(line));
  return rows;
}

void write_jsonl(const fs::path &path, const std::vector<json> &rows)
{
  std::ofstream out(path, std::ios::trunc);
  for (const json &row : rows) out << row.dump() << '\n';
}

// A split's answers: step -> the query's first nine characters -> answer.
using Answers = std::map<long, std::map<std::string, std::string>>;

Answers answers_of(const fs::path &split)
{
  Answers answers;
  for (const json &row : read_jsonl(split))
    answers[row["step"].get<long>()][row["query"].get<std::string>().substr(0, 9)] =
        row["answer"].get<std::string>();
  return answers;
}

std::string read_text(const fs::path &path)
{
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A PNG's width and height from its IHDR chunk as "WxH"; "not a PNG" for anything else.
std::string png_size(const fs::path &path)
{
  unsigned char head[24] = {};
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char *>(head), sizeof head);
  if (in.gcount() != sizeof head || head[1] != 'P' || head[12] != 'I') return "not a PNG";
  auto be32 = [&](int at) {
    return head[at] << 24 | head[at + 1] << 16 | head[at + 2] << 8 | head[at + 3];
  };
  return std::to_string(be32(16)) + "x" + std::to_string(be32(20));
}

std::string command(const std::string &args)
{
  return shell_quote(CEPHALO_DATASET) + " fracture " + args + " --lmp " + shell_quote(CEPHALO_LMP);
}

}    // namespace

BOOST_AUTO_TEST_CASE(a_sweep_of_three_runs_gives_splits_by_run_with_measured_answers)
{
  cephalo::test::ScratchDir dir;
  const std::string sweep = "--runs 3 --steps 600 --every 300 --ranks 2 --size 160x120 --seed 5";
  const std::string args = "--out data " + sweep;
  const auto made = run_command(dir.path(), command(args), 300);
  BOOST_TEST_INFO(made.output);
  BOOST_REQUIRE_EQUAL(made.exit_code, 0);

  const fs::path data = dir.path() / "data";
  std::map<std::string, std::set<int>> runs_of;
  std::size_t rows = 0;
  for (const char *split : {"train", "validation", "test"}) {
    for (const json &row : read_jsonl(data / (std::string(split) + ".jsonl"))) {
      ++rows;
      runs_of[split].insert(row["run"].get<int>());
      BOOST_TEST(png_size(data / row["image"].get<std::string>()) == "160x120");
      BOOST_TEST(!row["answer"].get<std::string>().empty());
      BOOST_TEST(row["source"].get<std::string>().find("fracture run") == 0u);
      BOOST_TEST((row["geometry"] == "notch" || row["geometry"] == "hole"));
    }
  }
  // three runs: one per split, no run in two splits
  for (const char *split : {"train", "validation", "test"}) BOOST_TEST(runs_of[split].size() == 1u);
  std::set<int> all;
  for (const auto &[split, runs] : runs_of) all.insert(runs.begin(), runs.end());
  BOOST_TEST(all.size() == 3u);
  BOOST_TEST(rows >= 3u * 3u * 4u);    // 3 runs x 3 snapshots x at least 4 questions

  // the stress answer is the compute's measurement of that snapshot, rounded
  const json manifest = json::parse(read_text(data / "dataset.json"));
  BOOST_TEST(manifest["runs"].size() == 3u);
  BOOST_TEST(manifest["size"] == json::array({160, 120}));
  const int run = *runs_of["train"].begin();
  const auto records = read_jsonl(data / "images" / ("r" + std::to_string(run) + ".vm.jsonl"));
  BOOST_REQUIRE_EQUAL(records.size(), 3u);
  const json &truth = records[1]["truth"];
  bool checked = false;
  for (const json &row : read_jsonl(data / "train.jsonl")) {
    if (row["step"] != 300 || row["query"].get<std::string>().find("VonMises") == std::string::npos)
      continue;
    const json answer = json::parse(row["answer"].get<std::string>());
    BOOST_TEST(answer[0].get<double>() == truth["vm_stdev"].get<double>(), boost::test_tools::tolerance(2e-3));
    BOOST_TEST(answer[1].get<double>() == truth["vm_mean"].get<double>(), boost::test_tools::tolerance(2e-3));
    BOOST_TEST(answer[2].get<double>() == truth["vm_median"].get<double>(), boost::test_tools::tolerance(2e-3));
    checked = true;
  }
  BOOST_TEST(checked);

  // the same sweep with its runs side by side: the same records and measurements
  const auto side_by_side = run_command(dir.path(), command("--out jobs --jobs 3 " + sweep), 300);
  BOOST_TEST_INFO(side_by_side.output);
  BOOST_REQUIRE_EQUAL(side_by_side.exit_code, 0);
  for (const char *split : {"train.jsonl", "validation.jsonl", "test.jsonl"})
    BOOST_TEST(read_text(dir.path() / "jobs" / split) == read_text(data / split));
  for (int r = 0; r < 3; ++r) {
    const auto name = "r" + std::to_string(r) + ".vm.jsonl";
    const auto one = read_jsonl(data / "images" / name),
               other = read_jsonl(dir.path() / "jobs" / "images" / name);
    BOOST_REQUIRE_EQUAL(one.size(), other.size());
    for (std::size_t k = 0; k < one.size(); ++k) BOOST_TEST(one[k]["truth"] == other[k]["truth"]);
  }

  // a second call keeps the complete runs and writes the same dataset
  const std::string before = read_text(data / "train.jsonl");
  const auto again = run_command(dir.path(), command(args), 120);
  BOOST_REQUIRE_EQUAL(again.exit_code, 0);
  BOOST_TEST(again.output.find("complete, kept") != std::string::npos);
  BOOST_TEST(read_text(data / "train.jsonl") == before);

  // a crack measured at step 300 whose faces close again by step 600: it has still started
  const fs::path recording = data / "images" / ("r" + std::to_string(run) + ".vm.jsonl");
  auto snapshots = read_jsonl(recording);
  const double lo = snapshots[1]["box"]["lo"][0], hi = snapshots[1]["box"]["hi"][0];
  snapshots[0]["truth"]["crack_length"] = 0.0;
  snapshots[0]["truth"]["tip_x"] = nullptr;
  snapshots[1]["truth"]["crack_length"] = 2.0;
  snapshots[1]["truth"]["tip_x"] = lo + 0.25 * (hi - lo);
  snapshots[1]["truth"]["tip_y"] = snapshots[1]["box"]["hi"][1];
  snapshots[2]["truth"]["crack_length"] = 0.0;
  snapshots[2]["truth"]["tip_x"] = nullptr;
  write_jsonl(recording, snapshots);
  BOOST_REQUIRE_EQUAL(run_command(dir.path(), command(args), 120).exit_code, 0);
  Answers answers = answers_of(data / "train.jsonl");
  BOOST_TEST(answers[0]["Has the c"] == "no");
  BOOST_TEST(answers[300]["Has the c"] == "yes");
  BOOST_TEST(answers[300]["Where is "] == "[0.250, 1.000]");
  BOOST_TEST(answers[600]["Has the c"] == "yes");
  BOOST_TEST(answers[600].count("Where is ") == 0u);    // no tip where none is measured
  BOOST_TEST(answers[600]["Describe "].find("has started to grow") != std::string::npos);
  BOOST_TEST(answers[0]["Describe "].find("No crack has grown yet") != std::string::npos);

  // a crack measured 1.5 long has started, unless the initiation length is longer; the records
  // change, the runs are kept
  snapshots[1]["truth"]["crack_length"] = 1.5;
  write_jsonl(recording, snapshots);
  for (const std::string extra : {"", " --initiation-length 2"}) {
    const auto relabelled = run_command(dir.path(), command(args + extra), 120);
    BOOST_TEST_INFO(relabelled.output);
    BOOST_REQUIRE_EQUAL(relabelled.exit_code, 0);
    BOOST_TEST(relabelled.output.find("made again") == std::string::npos);
    answers = answers_of(data / "train.jsonl");
    const bool started = extra.empty();
    BOOST_TEST(answers[300]["Has the c"] == (started ? "yes" : "no"));
    BOOST_TEST(answers[600]["Has the c"] == (started ? "yes" : "no"));
    BOOST_TEST(answers[300].count("Where is ") == (started ? 1u : 0u));
    BOOST_TEST((answers[300]["Describe "].find("No crack has grown yet") == std::string::npos) ==
               started);
    BOOST_TEST(json::parse(read_text(data / "dataset.json"))["initiation_length"].get<double>() ==
               (started ? 1.0 : 2.0));
  }

  // The hole run (run 2 of this sweep, the validation split): it has started when the opening
  // measured at the hole (the energy recording's) spans 2.0, whatever the branch followed on the
  // right measures, and from then on; --opening-length sets another span.
  const fs::path hole_vm = data / "images" / "r2.vm.jsonl",
                 hole_pe = data / "images" / "r2.pe.jsonl";
  auto hole_snapshots = read_jsonl(hole_vm), hole_openings = read_jsonl(hole_pe);
  BOOST_REQUIRE_EQUAL(hole_openings.size(), 3u);
  for (std::size_t k = 0; k < 3; ++k) {
    BOOST_TEST(hole_openings[k]["truth"].contains("longest_opening"));
    hole_openings[k]["truth"]["longest_opening"] = k == 1 ? 2.5 : 0.4;
    // a branch on the right that has grown 1.5 without an opening of 2: no crack yet
    hole_snapshots[k]["truth"]["crack_length"] = k == 0 ? 1.5 : 0.0;
    hole_snapshots[k]["truth"]["tip_x"] =
        k == 0 ? json(hole_snapshots[k]["box"]["hi"][0].get<double>() * 0.6) : json(nullptr);
    hole_snapshots[k]["truth"]["tip_y"] = hole_snapshots[k]["box"]["hi"][1];
  }
  write_jsonl(hole_vm, hole_snapshots);
  write_jsonl(hole_pe, hole_openings);
  for (const std::string extra : {"", " --opening-length 3"}) {
    const auto relabelled = run_command(dir.path(), command(args + extra), 120);
    BOOST_TEST_INFO(relabelled.output);
    BOOST_REQUIRE_EQUAL(relabelled.exit_code, 0);
    BOOST_TEST(relabelled.output.find("made again") == std::string::npos);
    for (const json &row : read_jsonl(data / "validation.jsonl"))
      BOOST_REQUIRE(row["geometry"] == "hole");
    answers = answers_of(data / "validation.jsonl");
    const bool opened = extra.empty();
    BOOST_TEST(answers[0]["Has the c"] == "no");
    BOOST_TEST(answers[0].count("Where is ") == 0u);
    BOOST_TEST(answers[0]["Describe "].find("No crack has grown yet") != std::string::npos);
    BOOST_TEST(answers[300]["Has the c"] == (opened ? "yes" : "no"));
    BOOST_TEST(answers[600]["Has the c"] == (opened ? "yes" : "no"));
    BOOST_TEST((answers[300]["Describe "].find("A crack has opened at the hole, 2.5 long.") !=
                std::string::npos) == opened);
    BOOST_TEST(json::parse(read_text(data / "dataset.json"))["opening_length"].get<double>() ==
               (opened ? 2.0 : 3.0));
  }

  // an edited input makes every run again (the edited recording above is measured anew), and
  // the next call with it keeps them
  {
    std::ofstream edited(dir.path() / "in.edited");
    edited << read_text(CEPHALO_DATASET_INPUT) << "\n# edited\n";
  }
  const std::string with_edit = args + " --input in.edited";
  const auto remade = run_command(dir.path(), command(with_edit), 300);
  BOOST_TEST_INFO(remade.output);
  BOOST_REQUIRE_EQUAL(remade.exit_code, 0);
  std::size_t made_again = 0;
  for (auto at = remade.output.find("made again"); at != std::string::npos;
       at = remade.output.find("made again", at + 1))
    ++made_again;
  BOOST_TEST(made_again == 3u);
  BOOST_TEST(read_jsonl(recording)[1]["truth"]["crack_length"].get<double>() != 2.0);
  const auto kept = run_command(dir.path(), command(with_edit), 300);
  BOOST_REQUIRE_EQUAL(kept.exit_code, 0);
  BOOST_TEST(kept.output.find("made again") == std::string::npos);
  BOOST_TEST(kept.output.find("complete, kept") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_options_are_usage_errors)
{
  cephalo::test::ScratchDir dir;
  for (const std::string args :
       {"--runs 0 --out d", "--out d --steps 500 --every 300", "--out d --split 0,1,1",
        "--out d --frobnicate 1", "--out d --initiation-length 0", "--out d --initiation-length 2x",
        "--out d --opening-length -1", "--out d --jobs 0", "--out d --size 12",
        "--out d --size 384x", "--out d --size x288", "--out d --size 384x288x2",
        "--out d --size ' 384'", "--out d --size 99999"}) {
    const auto result = run_command(dir.path(), command(args));
    BOOST_TEST_INFO(args << ": " << result.output);
    BOOST_TEST(result.exit_code == 2);
    BOOST_TEST(result.output.find("cephalo dataset:") != std::string::npos);
  }
}

// A broken input: lmp's own error comes back with the run's number, and nothing is stamped.
BOOST_AUTO_TEST_CASE(a_run_that_fails_is_reported_with_the_end_of_its_log)
{
  cephalo::test::ScratchDir dir;
  {
    std::ofstream broken(dir.path() / "in.broken");
    broken << "units lj\nfrobnicate now\n";
  }
  const auto result = run_command(
      dir.path(),
      command("--out d --runs 4 --steps 100 --every 100 --ranks 1 --jobs 2 --input in.broken"),
      120);
  BOOST_TEST_INFO(result.output);
  BOOST_TEST(result.exit_code == 1);
  BOOST_TEST((result.output.find("run 1/4 failed (lmp exit status 1)") != std::string::npos ||
              result.output.find("run 2/4 failed (lmp exit status 1)") != std::string::npos));
  BOOST_TEST(result.output.find("frobnicate") != std::string::npos);    // the log's end
  for (const auto &entry : fs::directory_iterator(dir.path() / "d" / "images"))
    BOOST_TEST(entry.path().string().find(".run.json") == std::string::npos);
}

// A launch that gives up before lmp writes its log is tried once more; one that gives up twice is
// reported with the launcher's own words. The launcher here is a script that stands in for lmp
// and counts its calls.
BOOST_AUTO_TEST_CASE(a_launch_that_never_starts_lmp_is_tried_again_then_reported)
{
  cephalo::test::ScratchDir dir;
  const fs::path launcher = dir.path() / "lmp.sh";
  auto write_launcher = [&](int failures) {
    std::ofstream script(launcher, std::ios::trunc);
    script << "#!/bin/sh\n"
              "echo call >> calls\n"
              "if [ $(wc -l < calls) -le "
           << failures
           << " ]; then echo 'launcher: no slots today' >&2; exit 5; fi\n"
              "while [ $# -gt 0 ]; do [ \"$1\" = -log ] && echo started > \"$2\"; shift; done\n"
              "exit 7\n";
  };
  const std::string args = " fracture --out d --runs 1 --steps 100 --every 100 --ranks 1 --lmp " +
                           shell_quote(launcher.string());

  write_launcher(1);    // gives up once: the second call starts "lmp", which then fails
  fs::permissions(launcher, fs::perms::owner_all);
  const auto once = run_command(dir.path(), shell_quote(CEPHALO_DATASET) + args, 60);
  BOOST_TEST_INFO(once.output);
  BOOST_TEST(once.exit_code == 1);
  BOOST_TEST(once.output.find("run 1/1 failed (lmp exit status 7)") != std::string::npos);
  BOOST_TEST(read_text(dir.path() / "calls") == "call\ncall\n");

  fs::remove(dir.path() / "calls");
  write_launcher(2);    // gives up twice
  const auto twice = run_command(dir.path(), shell_quote(CEPHALO_DATASET) + args, 60);
  BOOST_TEST_INFO(twice.output);
  BOOST_TEST(twice.exit_code == 1);
  BOOST_TEST(twice.output.find("run 1/1 did not start (exit status 5)") != std::string::npos);
  BOOST_TEST(twice.output.find("launcher: no slots today") != std::string::npos);
  BOOST_TEST(read_text(dir.path() / "calls") == "call\ncall\n");
}

// Runs side by side, the first of which fails while the second is under way: the second
// finishes and is stamped, and no other starts. The launcher here is a script that stands in
// for lmp so that the failure comes first, whatever the machine's speed.
BOOST_AUTO_TEST_CASE(a_failing_run_among_runs_side_by_side_lets_the_others_finish_and_stops)
{
  cephalo::test::ScratchDir dir;
  const fs::path launcher = dir.path() / "lmp.sh";
  {
    std::ofstream script(launcher);
    script << "#!/bin/sh\n"
              "log= out=\n"
              "while [ $# -gt 0 ]; do\n"
              "  case $1 in\n"
              "    -log) log=$2; shift ;;\n"
              "    -var) [ \"$2\" = out ] && out=$3; shift 2 ;;\n"
              "  esac\n"
              "  shift\n"
              "done\n"
              "case $out in\n"
              "  */r0) sleep 1; echo 'ERROR: the first run breaks' > \"$log\"; exit 3 ;;\n"
              "  *) echo started > \"$log\"; sleep 4 ;;\n"
              "esac\n";
  }
  fs::permissions(launcher, fs::perms::owner_all);
  const auto result = run_command(
      dir.path(),
      shell_quote(CEPHALO_DATASET) +
          " fracture --out d --runs 6 --steps 100 --every 100 --ranks 1 --jobs 2 --lmp " +
          shell_quote(launcher.string()),
      120);
  BOOST_TEST_INFO(result.output);
  BOOST_TEST(result.exit_code == 1);
  BOOST_TEST(result.output.find("run 1/6 failed (lmp exit status 3)") != std::string::npos);
  BOOST_TEST(result.output.find("ERROR: the first run breaks") != std::string::npos);
  BOOST_TEST(result.output.find("run 2/6: done in") != std::string::npos);
  std::size_t started = 0;    // "run k/6: notch ..." or "... hole ..." as each starts
  for (const char *kind : {"/6: notch", "/6: hole"})
    for (auto at = result.output.find(kind); at != std::string::npos;
         at = result.output.find(kind, at + 1))
      ++started;
  BOOST_TEST(started == 2u);
  const fs::path images = dir.path() / "d" / "images";
  BOOST_TEST(!fs::exists(images / "r0.run.json"));
  BOOST_TEST(fs::exists(images / "r1.run.json"));
  for (int r = 2; r < 6; ++r)
    BOOST_TEST(!fs::exists(dir.path() / "d" / "logs" / ("r" + std::to_string(r) + ".log")));
}

namespace {

// One run of examples/crack/in.dataset with a round hole on 2 ranks: its von Mises recording.
std::vector<json> hole_run(const cephalo::test::ScratchDir &dir, const std::string &vars)
{
  const std::string lmp =
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -np 2 " +
      shell_quote(CEPHALO_LMP) + " -in " + shell_quote(CEPHALO_DATASET_INPUT) +
      " -log log.lammps -screen none -var plugin " + shell_quote(CEPHALO_PLUGIN) +
      " -var out hole -var geometry hole -var size 160 " + vars;
  const auto ran = run_command(dir.path(), lmp, 300);
  BOOST_TEST_INFO(ran.output);
  BOOST_REQUIRE_EQUAL(ran.exit_code, 0);
  return read_jsonl(dir.path() / "hole.vm.jsonl");
}

const double kSpacing = std::sqrt(2.0 / (0.93 * std::sqrt(3.0)));    // lattice hex 0.93

}    // namespace

// A hole pulled in mode I opens a crack on either side, and voids appear beside them. The
// dataset's crack is the branch that runs in +x from the right rim, its growth measured from
// where it appeared, as at a notch. These parameters make a run in which the first crack faces
// open at the left rim: a measurement of the first cluster anywhere followed that branch and put
// the "tip" at the left rim, to the left of the hole's centre. Later, slits open ahead of the
// right rim, apart from the cluster followed there, which does not grow: the crack has started
// by the opening measured at the hole (the energy recording's), not by the branch.
BOOST_AUTO_TEST_CASE(the_crack_of_a_hole_run_is_the_branch_from_its_right_rim)
{
  cephalo::test::ScratchDir dir;
  const double radius = 6.65;    // -var notch
  const auto snapshots = hole_run(dir, "-var notch 6.65 -var pull 0.448 -var temp 0.0262 "
                                       "-var seed 656521 -var steps 3500 -var every 250");
  BOOST_REQUIRE_EQUAL(snapshots.size(), 15u);
  const double centre = 50.0 * kSpacing, rim = (50.0 + radius) * kSpacing,
               midline = 20.0 * std::sqrt(3.0) * kSpacing;
  int measured = 0;
  double origin = 0.0;
  for (const json &snapshot : snapshots) {
    const json &truth = snapshot["truth"];
    if (!truth["tip_x"].is_number()) continue;
    const double x = truth["tip_x"], y = truth["tip_y"], length = truth["crack_length"];
    BOOST_TEST_INFO("step " << snapshot["step"] << ": tip (" << x << ", " << y << "), length "
                            << length);
    BOOST_TEST(x > centre);
    BOOST_TEST(std::abs(y - midline) < 8.0 * std::sqrt(3.0) * kSpacing);
    // one origin for the run, where the crack appeared: at the right rim
    if (measured++ == 0) origin = x - length;
    BOOST_TEST(x - length == origin, boost::test_tools::tolerance(1e-6));
  }
  BOOST_TEST(measured >= 1);
  BOOST_TEST(origin > centre);
  BOOST_TEST(origin < rim + 2.0 * kSpacing);

  const auto openings = read_jsonl(dir.path() / "hole.pe.jsonl");
  BOOST_REQUIRE_EQUAL(openings.size(), 15u);
  BOOST_TEST(openings.front()["truth"]["longest_opening"].get<double>() == 0.0);
  BOOST_TEST(openings.back()["truth"]["longest_opening"].get<double>() >= 2.0);
  BOOST_TEST(snapshots.back()["truth"]["crack_length"].get<double>() < 1.0);
}

// In most hole runs the rim slips and no crack grows. The atoms delete_atoms leaves lie up to a
// spacing beyond the radius, so measured from the nominal rim, the first slip step at the rim of
// this run (step 2625) measured 1.1, over the initiation length: the crack had "started". It
// has, but at the left rim: a branch opens there from step 2750, which the opening measured over
// both sides of the hole (the energy recording's) sees, and the branch followed on the right
// does not.
BOOST_AUTO_TEST_CASE(a_slip_step_at_a_holes_rim_is_not_a_crack)
{
  cephalo::test::ScratchDir dir;
  const auto snapshots = hole_run(dir, "-var notch 6.99 -var pull 0.422 -var temp 0.0441 "
                                       "-var seed 859625 -var steps 2875 -var every 125");
  BOOST_REQUIRE_EQUAL(snapshots.size(), 24u);
  int measured = 0;
  for (const json &snapshot : snapshots) {
    const json &truth = snapshot["truth"];
    if (!truth["tip_x"].is_number()) continue;
    ++measured;
    BOOST_TEST_INFO("step " << snapshot["step"] << ": length " << truth["crack_length"]);
    BOOST_TEST(truth["crack_length"].get<double>() < 0.5);
  }
  BOOST_TEST(measured >= 1);    // crack faces there are, at the rim

  const auto openings = read_jsonl(dir.path() / "hole.pe.jsonl");
  BOOST_REQUIRE_EQUAL(openings.size(), 24u);
  const json &left = openings.back()["truth"], &right = snapshots.back()["truth"];
  BOOST_TEST_INFO("step " << openings.back()["step"] << ": opening " << left["longest_opening"]
                          << " at the hole, " << right["longest_opening"] << " on its right");
  BOOST_TEST(left["longest_opening"].get<double>() >= 2.0);
  BOOST_TEST(right["longest_opening"].get<double>() < 2.0);
  BOOST_TEST(left["tip_x"].get<double>() < 50.0 * kSpacing);    // the crack there: on the left
}
