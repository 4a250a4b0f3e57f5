// cephalo-evaluate: asks a model every question of a dataset split (JSONL records with image,
// query and answer, as cephalo dataset writes them) and prints how well its answers match:
// R² of Cephalo's statistics answers per component, accuracy of yes/no answers, distance of
// positions, R² of single numbers, exact match of texts; with --by FIELD, the same measures
// again for each value of a field of the records (the fracture datasets' "geometry", say), side
// by side. Optionally times single questions from PNG file to finished answer.
//
//   cephalo evaluate --model DIR --data test.jsonl [--out predictions.jsonl] [--limit N]
//                    [--by FIELD] [--batch 8] [--max-new-tokens 64] [--numbers mode|median]
//                    [--latency 20] [--threads N]
#include "cephalo/models/evaluation.h"
#include "cephalo/models/image.h"
#include "cephalo/models/runtime.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace cephalo::models;
using json = nlohmann::json;

namespace {

const char *kUsage =
    "usage: cephalo evaluate --model DIR --data FILE.jsonl [options]\n"
    "\n"
    "  --model DIR            a model folder in the Hugging Face layout\n"
    "  --data FILE            JSONL records {\"image\", \"query\", \"answer\"}; image paths are\n"
    "                         relative to the file\n"
    "  --out FILE             write each record with the model's answer as \"prediction\"\n"
    "  --limit N              the first N records only\n"
    "  --by FIELD             also score the records by the values of this string field, one\n"
    "                         column each (records without it: \"other\")\n"
    "  --batch N              questions answered together (default 8)\n"
    "  --max-new-tokens N     default 64\n"
    "  --numbers mode|median  how greedy decoding writes the decimals of numbers: the likeliest\n"
    "                         digit at each place (mode, the default) or the median of the\n"
    "                         model's distribution over them\n"
    "  --latency N            also time N single questions, PNG file to finished answer\n"
    "  --device, --dtype, --threads   as for cephalo generate\n";

struct Record {
  fs::path image;
  std::string query, answer;
  json row;
};

std::vector<Record> read_records(const fs::path &path, std::size_t limit)
{
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::vector<Record> records;
  std::size_t line_number = 0;
  for (std::string line; std::getline(in, line) && records.size() < limit;) {
    ++line_number;
    if (line.empty()) continue;
    const std::string where = path.string() + ":" + std::to_string(line_number);
    json row = json::parse(line, nullptr, false);
    if (row.is_discarded() || !row.is_object())
      throw std::runtime_error(where + ": not a JSON object");
    for (const char *field : {"image", "query", "answer"})
      if (!row.contains(field) || !row[field].is_string())
        throw std::runtime_error(where + ": needs the string field \"" + field + "\"");
    Record r;
    r.image = path.parent_path() / row["image"].get<std::string>();
    r.query = row["query"];
    r.answer = row["answer"];
    r.row = std::move(row);
    records.push_back(std::move(r));
  }
  if (records.empty()) throw std::runtime_error(path.string() + " holds no records");
  return records;
}

GenerationRequest request_for(const Record &r, int max_new_tokens, NumberDecoding numbers)
{
  GenerationRequest q;
  q.messages = {{"user", r.query, 1}};
  q.images.push_back(read_image(r.image));
  q.sampling.max_new_tokens = max_new_tokens;
  q.sampling.numbers = numbers;
  return q;
}

std::string trim(const std::string &text)
{
  const auto a = text.find_first_not_of(" \n\t"), b = text.find_last_not_of(" \n\t");
  return a == std::string::npos ? std::string() : text.substr(a, b - a + 1);
}

std::string format_value(double v)
{
  if (std::isnan(v)) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", v);
  return text;
}

// A measure of a query as printed; an accuracy or a share of exact matches also as the count of
// right answers, which a goal such as 0.95 is a whole number of: 0.9497 prints as 0.950
std::string format_measure(const QueryScore &s, std::size_t k)
{
  std::string text = format_value(s.values[k]);
  if (k == 0 && (s.form == AnswerForm::YesNo || s.form == AnswerForm::Text) && s.count > 0)
    text += " (" + std::to_string(std::llround(s.values[k] * static_cast<double>(s.count))) +
            " of " + std::to_string(s.count) + ")";
  return text;
}

// The measures of every query, one column for all records and one per value of the --by field:
// rows as in the main table, a value of "-" where a group has no records of that query.
void print_by_group(const std::string &field, const std::vector<QueryScore> &all,
                    const std::map<std::string, AnswerScorer> &groups)
{
  std::printf("\n| query | measure | all |");
  for (const auto &[name, scorer] : groups) std::printf(" %s %s |", field.c_str(), name.c_str());
  std::printf("\n|---|---|---:|");
  for (std::size_t k = 0; k < groups.size(); ++k) std::printf("---:|");
  std::printf("\n");
  std::map<std::string, std::vector<QueryScore>> of_group;
  for (const auto &[name, scorer] : groups) of_group[name] = scorer.scores();
  for (const QueryScore &s : all) {
    for (std::size_t k = 0; k < s.values.size(); ++k) {
      std::printf("| %s | %s | %s |", k == 0 ? s.query.c_str() : "", s.names[k].c_str(),
                  format_measure(s, k).c_str());
      for (const auto &[name, scores] : of_group) {
        auto it = std::find_if(scores.begin(), scores.end(),
                               [&](const QueryScore &g) { return g.query == s.query; });
        std::string cell = "-";
        if (it != scores.end() && k < it->values.size()) {
          cell = format_measure(*it, k);
          // a yes/no group's commoner answer can differ from all records': say which it is
          if (it->names[k] != s.names[k]) cell += " (" + it->names[k] + ")";
        }
        std::printf(" %s |", cell.c_str());
      }
      std::printf("\n");
    }
  }
}

}    // namespace

int main(int argc, char **argv)
{
  fs::path model_dir, data, out;
  std::string by;
  std::size_t limit = static_cast<std::size_t>(-1);
  int batch = 8, max_new_tokens = 64, latency = 0;
  NumberDecoding numbers = NumberDecoding::mode;
  RuntimeOptions runtime;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "cephalo evaluate: %s needs a value\n\n%s", a.c_str(), kUsage);
      return 2;
    }
    const std::string v = argv[++i];
    try {
      if (a == "--model") model_dir = v;
      else if (a == "--data") data = v;
      else if (a == "--out") out = v;
      else if (a == "--limit") limit = std::stoul(v);
      else if (a == "--by")
        by = v;
      else if (a == "--batch") batch = std::max(1, std::stoi(v));
      else if (a == "--max-new-tokens") max_new_tokens = std::max(1, std::stoi(v));
      else if (a == "--latency") latency = std::max(0, std::stoi(v));
      else if (a == "--numbers")
        numbers = parse_number_decoding(v);
      else if (a == "--device") runtime.device = v;
      else if (a == "--dtype") runtime.dtype = v;
      else if (a == "--threads") runtime.threads = std::stoi(v);
      else {
        std::fprintf(stderr, "cephalo evaluate: unknown option %s\n\n%s", a.c_str(), kUsage);
        return 2;
      }
    } catch (const std::logic_error &e) {
      if (a == "--numbers")
        std::fprintf(stderr, "cephalo evaluate: --numbers: %s\n", e.what());
      else
        std::fprintf(stderr, "cephalo evaluate: %s needs a number, got %s\n", a.c_str(), v.c_str());
      return 2;
    }
  }
  if (model_dir.empty() || data.empty()) {
    std::fprintf(stderr, "cephalo evaluate: --model and --data are needed\n\n%s", kUsage);
    return 2;
  }

  try {
    std::vector<Record> records = read_records(data, limit);
    VisionLanguageModel model = VisionLanguageModel::load(model_dir, runtime);
    std::fprintf(stderr, "%s\n", model.describe().c_str());

    AnswerScorer scorer;
    std::map<std::string, AnswerScorer> groups;    // --by: value of the field -> its records
    std::ofstream predictions;
    if (!out.empty()) {
      predictions.open(out, std::ios::trunc);
      if (!predictions) throw std::runtime_error("cannot write " + out.string());
    }
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t first = 0; first < records.size(); first += static_cast<std::size_t>(batch)) {
      const std::size_t last = std::min(records.size(), first + static_cast<std::size_t>(batch));
      std::vector<GenerationRequest> requests;
      for (std::size_t k = first; k < last; ++k)
        requests.push_back(request_for(records[k], max_new_tokens, numbers));
      const auto results = model.generate(requests);
      for (std::size_t k = first; k < last; ++k) {
        const std::string answer = trim(results[k - first].text);
        scorer.add(records[k].query, records[k].answer, answer);
        if (!by.empty()) {
          const json &row = records[k].row;
          const auto field = row.find(by);
          const std::string group =
              field != row.end() && field->is_string() ? field->get<std::string>() : "other";
          groups[group].add(records[k].query, records[k].answer, answer);
        }
        if (predictions.is_open()) {
          json row = records[k].row;
          row["prediction"] = answer;
          predictions << row.dump() << '\n';
        }
      }
      std::fprintf(stderr, "\r%zu / %zu answered", last, records.size());
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "\n");

    std::printf("| query | n | answers in form | measure | value |\n|---|---:|---:|---|---:|\n");
    const std::vector<QueryScore> scores = scorer.scores();
    for (const QueryScore &s : scores)
      for (std::size_t k = 0; k < s.values.size(); ++k)
        std::printf("| %s | %zu | %zu | %s | %s |\n", k == 0 ? s.query.c_str() : "", s.count,
                    s.parsed, s.names[k].c_str(), format_measure(s, k).c_str());
    if (!by.empty()) print_by_group(by, scores, groups);
    std::printf("\n%zu questions in %.1f s (batches of %d; numbers as the %s)\n", records.size(),
                seconds, batch, number_decoding_name(numbers));

    if (latency > 0) {
      // one question at a time, from the PNG file on disk to the finished answer
      std::vector<double> ms;
      for (int k = 0; k < latency; ++k) {
        const Record &r = records[static_cast<std::size_t>(k) % records.size()];
        const auto t0 = std::chrono::steady_clock::now();
        model.generate({request_for(r, max_new_tokens, numbers)});
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
      std::sort(ms.begin(), ms.end());
      std::printf("latency, PNG file to answer, one question at a time (%d): median %.1f ms, "
                  "p90 %.1f ms\n",
                  latency, ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 9 / 10)]);
    }
  } catch (const std::exception &e) {
    std::fprintf(stderr, "cephalo evaluate: %s\n", e.what());
    return 1;
  }
  return 0;
}
