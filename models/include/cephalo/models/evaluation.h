// Scoring a model's answers against a dataset's: Cephalo's statistics answers ("[a, b, c]") by
// R² per component, yes/no answers by accuracy, positions ("[x, y]") by distance, single numbers
// by R² and mean absolute error, anything else by exact match. Answers are grouped by query.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace cephalo::models {

// The form of a reference answer, which decides how predictions for it are scored.
enum class AnswerForm { Numbers, YesNo, Position, Number, Text };

// "[0.2, 1.3, 1.2]" -> Numbers (3), "[0.41, 0.5]" -> Position, "yes"/"no" -> YesNo, "0.12" ->
// Number, anything else Text.
AnswerForm answer_form(const std::string &answer);

// The numbers of an answer in one of the numeric forms; empty when the text holds none in that
// form (a prediction that does not parse).
std::vector<double> answer_numbers(const std::string &text);

// R² = 1 - SS_res / SS_tot of predictions against truths (NaN with fewer than two truths or
// none that differ).
double r_squared(const std::vector<double> &truth, const std::vector<double> &predicted);

struct QueryScore {
  std::string query;
  AnswerForm form = AnswerForm::Text;
  std::size_t count = 0, parsed = 0;    // predictions, and those in the reference's form
  // Numbers: R² per component, named from "<a, b, c>" in the query when it has that list.
  // Number: one R² and the mean absolute error. Position: mean |dx|, |dy| and distance.
  // YesNo: the share of right answers, and that of always giving the commoner reference answer
  // (named "always yes" or "always no"). Text: the share of exact matches.
  std::vector<std::string> names;
  std::vector<double> values;
};

// Collects predictions and scores them per query. A prediction that does not parse counts as
// the mean of the truths (no skill) in R², as wrong in accuracy, and as the largest error seen
// in distances.
class AnswerScorer {
 public:
  void add(const std::string &query, const std::string &reference, const std::string &prediction);
  std::vector<QueryScore> scores() const;

 private:
  struct Item {
    std::string reference, prediction;
  };
  std::map<std::string, std::vector<Item>> by_query_;
};

}    // namespace cephalo::models
