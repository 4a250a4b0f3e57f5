// Scoring answers (R², accuracy, distances, exact match), and cephalo-evaluate end to end on a
// tiny random model and a small dataset written here.
#define BOOST_TEST_MODULE models_evaluation
#include <boost/test/unit_test.hpp>

#include "cephalo/models/evaluation.h"
#include "cephalo/models/image.h"
#include "process.h"
#include "scratch_dir.h"
#include "tiny_model.h"

#include <cmath>
#include <fstream>
#include <regex>

using namespace cephalo::models;
using cephalo::test::run_command;
using cephalo::test::shell_quote;

BOOST_AUTO_TEST_CASE(forms_of_answers)
{
  BOOST_TEST((answer_form("[0.2, 1.3, 1.2]") == AnswerForm::Numbers));
  BOOST_TEST((answer_form(" [0.41, 0.5] ") == AnswerForm::Position));
  BOOST_TEST((answer_form("Yes.") == AnswerForm::YesNo));
  BOOST_TEST((answer_form("0.125") == AnswerForm::Number));
  BOOST_TEST((answer_form("A crack runs along x.") == AnswerForm::Text));
  BOOST_TEST((answer_form("[0.2, oops]") == AnswerForm::Text));
  BOOST_TEST((answer_numbers("[1, -2.5e-1, 3]") == std::vector<double>{1.0, -0.25, 3.0}));
  BOOST_TEST(answer_numbers("the crack is 12 long").empty());
}

BOOST_AUTO_TEST_CASE(r_squared_of_perfect_mean_and_bad_predictions)
{
  const std::vector<double> truth{1, 2, 3, 4};
  BOOST_TEST(r_squared(truth, truth) == 1.0);
  BOOST_TEST(r_squared(truth, {2.5, 2.5, 2.5, 2.5}) == 0.0);
  // SS_res = 4 * 1, SS_tot = 5: 1 - 4/5
  BOOST_TEST(r_squared(truth, {2, 3, 4, 5}) == 0.2, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(std::isnan(r_squared({1, 1}, {1, 2})));
}

BOOST_AUTO_TEST_CASE(scores_per_query_with_unparsed_answers_as_no_skill)
{
  AnswerScorer scorer;
  const std::string stats = "CalculateVonMisesStressStatistics <stress_stdev, stress_mean, stress_median>";
  scorer.add(stats, "[1, 10, 100]", "[1, 10, 100]");
  scorer.add(stats, "[2, 20, 200]", "[2, 20, 200]");
  scorer.add(stats, "[3, 30, 300]", "I cannot tell");    // scored as the mean: (2, 20, 200)
  scorer.add("started?", "yes", "yes");
  scorer.add("started?", "no", "yes");
  scorer.add("tip?", "[0.5, 0.5]", "[0.6, 0.5]");
  scorer.add("tip?", "[0.2, 0.5]", "nowhere");    // the largest error seen
  const auto scores = scorer.scores();
  BOOST_REQUIRE_EQUAL(scores.size(), 3u);
  const QueryScore &s = scores[0];    // sorted by query: "CalculateVonMises..." first
  BOOST_TEST(s.query == stats);
  BOOST_TEST(s.count == 3u);
  BOOST_TEST(s.parsed == 2u);
  BOOST_TEST((s.names == std::vector<std::string>{"stress_stdev", "stress_mean", "stress_median"}));
  // truth 1,2,3 predicted 1,2,2: SS_res 1, SS_tot 2
  BOOST_TEST(s.values[0] == 0.5, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(scores[1].query == "started?");
  BOOST_TEST(scores[1].values[0] == 0.5);
  BOOST_TEST((scores[1].names == std::vector<std::string>{"accuracy", "always no"}));
  BOOST_TEST(scores[1].values[1] == 0.5);    // one yes, one no: a tie goes to "no"
  BOOST_TEST(scores[2].values[0] == 0.1, boost::test_tools::tolerance(1e-12));    // |dx| 0.1, 0.1
}

BOOST_AUTO_TEST_CASE(cephalo_evaluate_scores_a_model_on_a_split)
{
  cephalo::test::ScratchDir dir;
  const auto model = cephalo::test::write_tiny_chat_model(dir / "model", cephalo::test::tiny_config(), 3);
  std::ofstream data(dir / "test.jsonl");
  for (int k = 0; k < 6; ++k) {
    Image image;
    image.width = 24;
    image.height = 20;
    for (int i = 0; i < 24 * 20 * 3; ++i) image.rgb.push_back(static_cast<std::uint8_t>(i * (k + 3)));
    write_png(dir / ("s" + std::to_string(k) + ".png"), image);
    data << R"({"image": "s)" << k << R"(.png", "query": "CalculateVonMisesStressStatistics <a, b, c>", "answer": "[)"
         << k << ", " << 2 * k << ", " << 3 * k << R"(]"})" << '\n';
    // the holes cracked, the notches and the two records without a geometry did not
    data << R"({"image": "s)" << k << R"(.png", "query": "Has the crack started?", "answer": ")"
         << (k % 2 && k < 4 ? "yes" : "no") << R"(")"
         << (k < 4 ? std::string(R"(, "geometry": ")") + (k % 2 ? "hole" : "notch") + "\"" : "")
         << "}\n";
  }
  data.close();
  const std::string program = shell_quote(CEPHALO_EVALUATE);
  const auto run =
      run_command(dir.path(), program + " --model model --data test.jsonl --out p.jsonl --batch 4 "
                                        "--max-new-tokens 6 --latency 3 --threads 1 --by geometry");
  BOOST_TEST_INFO(run.output);
  BOOST_REQUIRE_EQUAL(run.exit_code, 0);
  BOOST_TEST(run.output.find("| CalculateVonMisesStressStatistics <a, b, c> | 6 |") != std::string::npos);
  BOOST_TEST(run.output.find("| Has the crack started? | 6 |") != std::string::npos);
  // an accuracy with its count of right answers, in all and in each group
  BOOST_TEST(
      std::regex_search(run.output, std::regex(R"(\| accuracy \| [01]\.\d{3} \(\d of 6\) \|)")));
  BOOST_TEST(std::regex_search(
      run.output, std::regex(R"(\| accuracy \| [01]\.\d{3} \(\d of 6\) \| [01]\.\d{3} )"
                             R"(\(\d of 2\) \| [01]\.\d{3} \(\d of 2\) \|)")));
  BOOST_TEST(run.output.find("latency, PNG file to answer") != std::string::npos);
  // the prior beside the accuracy, and a column for each geometry and one for the records
  // without one, where the holes' commoner answer is another
  BOOST_TEST(run.output.find("| always no | 0.667 |") != std::string::npos);
  BOOST_TEST(run.output.find(
                 "| query | measure | all | geometry hole | geometry notch | geometry other |") !=
             std::string::npos);
  BOOST_TEST(run.output.find("|  | always no | 0.667 | 1.000 (always yes) | 1.000 | 1.000 |") !=
             std::string::npos);
  std::ifstream predictions(dir / "p.jsonl");
  int lines = 0;
  for (std::string line; std::getline(predictions, line);) lines += line.find("\"prediction\"") != std::string::npos;
  BOOST_TEST(lines == 12);

  std::ofstream(dir / "bad.jsonl") << "{\"image\": \"s0.png\", \"query\": 3}\n";
  const auto bad = run_command(dir.path(), program + " --model model --data bad.jsonl");
  BOOST_TEST(bad.exit_code == 1);
  BOOST_TEST(bad.output.find("bad.jsonl:1: needs the string field \"query\"") != std::string::npos);
}
