// Scoring answers against references (see evaluation.h). No libtorch here.
#include "cephalo/models/evaluation.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <numeric>

namespace cephalo::models {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string trimmed_lower(const std::string &text)
{
  std::size_t a = 0, b = text.size();
  while (a < b && std::isspace(static_cast<unsigned char>(text[a]))) ++a;
  while (b > a && (std::isspace(static_cast<unsigned char>(text[b - 1])) || text[b - 1] == '.')) --b;
  std::string out = text.substr(a, b - a);
  for (char &c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Numbers of a "[a, b, ...]" list at the start of the text, or one number that is the whole
// text; empty otherwise.
std::vector<double> leading_numbers(const std::string &text, bool *bracketed)
{
  std::vector<double> out;
  const char *p = text.c_str();
  while (std::isspace(static_cast<unsigned char>(*p))) ++p;
  *bracketed = *p == '[';
  if (*bracketed) {
    ++p;
    for (;;) {
      char *end = nullptr;
      const double v = std::strtod(p, &end);
      if (end == p || !std::isfinite(v)) return {};
      out.push_back(v);
      p = end;
      while (std::isspace(static_cast<unsigned char>(*p))) ++p;
      if (*p == ']') return out;
      if (*p != ',') return {};
      ++p;
    }
  }
  char *end = nullptr;
  const double v = std::strtod(p, &end);
  if (end == p || !std::isfinite(v)) return {};
  while (std::isspace(static_cast<unsigned char>(*end)) || *end == '.') ++end;
  if (*end != '\0') return {};
  out.push_back(v);
  return out;
}

double mean(const std::vector<double> &v)
{
  return v.empty() ? kNaN : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// "CalculateVonMisesStressStatistics <stress_stdev, stress_mean, stress_median>" -> the names.
std::vector<std::string> listed_names(const std::string &query, std::size_t count)
{
  std::vector<std::string> names;
  const auto open = query.find('<'), close = query.find('>', open);
  if (open != std::string::npos && close != std::string::npos) {
    std::string item;
    for (std::size_t i = open + 1; i <= close; ++i) {
      if (i == close || query[i] == ',') {
        const auto a = item.find_first_not_of(' '), b = item.find_last_not_of(' ');
        if (a != std::string::npos) names.push_back(item.substr(a, b - a + 1));
        item.clear();
      } else {
        item += query[i];
      }
    }
  }
  if (names.size() != count) {
    names.clear();
    for (std::size_t k = 0; k < count; ++k) names.push_back("value " + std::to_string(k + 1));
  }
  return names;
}

}    // namespace

AnswerForm answer_form(const std::string &answer)
{
  const std::string word = trimmed_lower(answer);
  if (word == "yes" || word == "no") return AnswerForm::YesNo;
  bool bracketed = false;
  const auto numbers = leading_numbers(answer, &bracketed);
  if (numbers.empty()) return AnswerForm::Text;
  if (!bracketed) return AnswerForm::Number;
  return numbers.size() == 2 ? AnswerForm::Position : AnswerForm::Numbers;
}

std::vector<double> answer_numbers(const std::string &text)
{
  bool bracketed = false;
  return leading_numbers(text, &bracketed);
}

double r_squared(const std::vector<double> &truth, const std::vector<double> &predicted)
{
  if (truth.size() < 2 || truth.size() != predicted.size()) return kNaN;
  const double m = mean(truth);
  double ss_res = 0, ss_tot = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    ss_res += (truth[i] - predicted[i]) * (truth[i] - predicted[i]);
    ss_tot += (truth[i] - m) * (truth[i] - m);
  }
  return ss_tot > 0 ? 1.0 - ss_res / ss_tot : kNaN;
}

void AnswerScorer::add(const std::string &query, const std::string &reference,
                       const std::string &prediction)
{
  by_query_[query].push_back({reference, prediction});
}

std::vector<QueryScore> AnswerScorer::scores() const
{
  std::vector<QueryScore> out;
  for (const auto &[query, items] : by_query_) {
    QueryScore s;
    s.query = query;
    s.count = items.size();
    s.form = answer_form(items.front().reference);
    switch (s.form) {
    case AnswerForm::Numbers:
    case AnswerForm::Number: {
      const std::size_t width = answer_numbers(items.front().reference).size();
      std::vector<std::vector<double>> truth(width), predicted(width);
      std::vector<bool> ok;
      for (const auto &item : items) {
        const auto t = answer_numbers(item.reference);
        const auto p = answer_numbers(item.prediction);
        const bool parsed = p.size() == width && answer_form(item.prediction) == s.form;
        s.parsed += parsed;
        for (std::size_t k = 0; k < width; ++k) {
          truth[k].push_back(k < t.size() ? t[k] : kNaN);
          predicted[k].push_back(parsed ? p[k] : kNaN);
        }
      }
      // an answer that does not parse predicts nothing: score it as the truths' mean
      for (std::size_t k = 0; k < width; ++k) {
        const double m = mean(truth[k]);
        for (double &p : predicted[k])
          if (std::isnan(p)) p = m;
      }
      if (s.form == AnswerForm::Numbers) {
        s.names = listed_names(query, width);
        for (std::size_t k = 0; k < width; ++k) s.values.push_back(r_squared(truth[k], predicted[k]));
      } else {
        s.names = {"R2", "mean absolute error"};
        double error = 0;
        for (std::size_t i = 0; i < items.size(); ++i) error += std::abs(truth[0][i] - predicted[0][i]);
        s.values = {r_squared(truth[0], predicted[0]), error / static_cast<double>(items.size())};
      }
      break;
    }
    case AnswerForm::Position: {
      std::vector<double> dx, dy, distance;
      for (const auto &item : items) {
        const auto t = answer_numbers(item.reference);
        const auto p = answer_numbers(item.prediction);
        if (p.size() == 2 && answer_form(item.prediction) == AnswerForm::Position) {
          ++s.parsed;
          dx.push_back(std::abs(p[0] - t[0]));
          dy.push_back(std::abs(p[1] - t[1]));
          distance.push_back(std::hypot(p[0] - t[0], p[1] - t[1]));
        }
      }
      // unparsed positions count as the largest error seen (1 when none parsed)
      const double worst_x = dx.empty() ? 1.0 : *std::max_element(dx.begin(), dx.end());
      const double worst_y = dy.empty() ? 1.0 : *std::max_element(dy.begin(), dy.end());
      const double worst = distance.empty() ? 1.0 : *std::max_element(distance.begin(), distance.end());
      while (dx.size() < items.size()) {
        dx.push_back(worst_x);
        dy.push_back(worst_y);
        distance.push_back(worst);
      }
      s.names = {"mean |dx|", "mean |dy|", "mean distance"};
      s.values = {mean(dx), mean(dy), mean(distance)};
      break;
    }
    case AnswerForm::YesNo:
    case AnswerForm::Text: {
      std::size_t right = 0, yes = 0;
      for (const auto &item : items) {
        const bool same = trimmed_lower(item.prediction) == trimmed_lower(item.reference);
        right += same;
        s.parsed += s.form == AnswerForm::Text || answer_form(item.prediction) == AnswerForm::YesNo;
        yes += trimmed_lower(item.reference) == "yes";
      }
      const double n = static_cast<double>(items.size());
      if (s.form == AnswerForm::YesNo) {
        // the accuracy to beat: always giving the commoner reference answer
        s.names = {"accuracy", yes * 2 > items.size() ? "always yes" : "always no"};
        s.values = {static_cast<double>(right) / n,
                    static_cast<double>(std::max(yes, items.size() - yes)) / n};
      } else {
        s.names = {"exact match"};
        s.values = {static_cast<double>(right) / n};
      }
      break;
    }
    }
    out.push_back(std::move(s));
  }
  return out;
}

}    // namespace cephalo::models
