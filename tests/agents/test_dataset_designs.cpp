// cephalo dataset designs: one design per family, rendered, captioned in the design language,
// split by design; every number of a caption is in the spec that was built from it.
#define BOOST_TEST_MODULE dataset_designs
#include <boost/test/unit_test.hpp>

#include "process.h"
#include "scratch_dir.h"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <set>

namespace fs = std::filesystem;
using json = nlohmann::json;
using cephalo::test::run_command;
using cephalo::test::shell_quote;

namespace {

// Every number in a JSON value, flattened.
void numbers_of(const json &value, std::set<double> &out)
{
  if (value.is_number()) out.insert(value.get<double>());
  if (value.is_structured())
    for (const auto &item : value) numbers_of(item, out);
}

}    // namespace

BOOST_AUTO_TEST_CASE(one_design_per_family_with_captions_the_spec_honours)
{
  cephalo::test::ScratchDir dir;
  const auto made = run_command(dir.path(), shell_quote(CEPHALO_DATASET_DESIGNS) +
                                                " --out data --count 1 --size 128 --seed 3", 600);
  BOOST_TEST_INFO(made.output);
  BOOST_REQUIRE_EQUAL(made.exit_code, 0);
  std::set<std::string> families;
  std::size_t records = 0;
  std::ofstream predictions(dir / "predictions.jsonl");
  for (const char *split : {"train", "validation", "test"}) {
    std::ifstream in(dir / "data" / (std::string(split) + ".jsonl"));
    for (std::string line; std::getline(in, line);) {
      const json r = json::parse(line);
      ++records;
      families.insert(r["family"].get<std::string>());
      BOOST_TEST(r["spec"]["family"] == r["family"]);
      // the question is the design agent's, so that a model trained here answers the agent
      BOOST_TEST(r["query"].get<std::string>().find("3D-printable part") != std::string::npos);
      // a model that repeats every caption but one, which says nothing buildable
      json predicted = r;
      predicted["prediction"] = records == 1 ? "nothing to see here" : r["answer"];
      predictions << predicted.dump() << "\n";
      BOOST_TEST(fs::file_size(dir / "data" / r["image"].get<std::string>()) > 500u);
      // the caption's numbers ("16 mm", "10 layers", "30 degrees") are the spec's
      std::set<double> in_spec;
      numbers_of(r["spec"], in_spec);
      const std::string caption = r["answer"];
      const char *p = caption.c_str();
      while (*p) {
        char *end = nullptr;
        const double v = std::strtod(p, &end);
        if (end != p && (p == caption.c_str() || p[-1] == ' ')) {
          BOOST_TEST_INFO(caption);
          BOOST_TEST(in_spec.count(v) == 1u);
          p = end;
        } else {
          ++p;
        }
      }
    }
  }
  BOOST_TEST(records == 7u);
  BOOST_TEST(families.size() == 7u);
  predictions.close();

  // --score: the share of descriptions the interpreter turns back into family and numbers
  const auto scored =
      run_command(dir.path(), shell_quote(CEPHALO_DATASET_DESIGNS) + " --score predictions.jsonl");
  BOOST_TEST_INFO(scored.output);
  BOOST_TEST(scored.exit_code == 0);
  // six of seven give their family and every number back; the seventh none of its numbers
  BOOST_TEST(scored.output.find("| all | 7 | 0.857 | 0.857 | 0.") != std::string::npos);
  BOOST_TEST(scored.output.find("| 0.857 | 0.857 | 1.000 |") == std::string::npos);
  {
    std::ofstream unanswered(dir / "unanswered.jsonl");
    unanswered << R"({"family": "tpms", "answer": "a gyroid"})" << "\n";
  }
  const auto refused =
      run_command(dir.path(), shell_quote(CEPHALO_DATASET_DESIGNS) + " --score unanswered.jsonl");
  BOOST_TEST(refused.exit_code == 1);
  BOOST_TEST(refused.output.find("unanswered.jsonl:1: no \"prediction\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_options_are_usage_errors)
{
  cephalo::test::ScratchDir dir;
  for (const std::string args : {"", "--out d --count 0", "--out d --size 10", "--out d --what 1"}) {
    const auto result = run_command(dir.path(), shell_quote(CEPHALO_DATASET_DESIGNS) + " " + args);
    BOOST_TEST_INFO(args << ": " << result.output);
    BOOST_TEST(result.exit_code == 2);
  }
}
