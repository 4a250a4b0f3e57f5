// Training data: JSONL records checked line by line, tokenized in the Idefics2 chat layout, and
// the seeded order in which training visits them.
#include "training_data.h"

#include "cephalo/models/prompt.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>

namespace cephalo::models {
namespace fs = std::filesystem;

std::vector<TrainingRecord> read_training_records(const fs::path &jsonl)
{
  std::ifstream in(jsonl, std::ios::binary);
  if (!in) throw TrainingError(jsonl.string() + ": cannot be opened");
  std::vector<TrainingRecord> records;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = jsonl.string() + ":" + std::to_string(number);
    nlohmann::json document;
    try {
      document = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception &e) {
      throw TrainingError(where + ": not valid JSON (" + e.what() + ")");
    }
    if (!document.is_object()) throw TrainingError(where + ": not a JSON object");
    const auto text = [&](const char *key, bool required) -> std::string {
      const auto it = document.find(key);
      if (it == document.end() || it->is_null()) {
        if (required) throw TrainingError(where + ": no \"" + std::string(key) + "\" field");
        return {};
      }
      if (!it->is_string())
        throw TrainingError(where + ": \"" + std::string(key) + "\" is not a string");
      if (required && it->get<std::string>().empty())
        throw TrainingError(where + ": \"" + std::string(key) + "\" is empty");
      return it->get<std::string>();
    };
    TrainingRecord record;
    record.where = where;
    const fs::path image = text("image", true);
    record.image = image.is_absolute() ? image : jsonl.parent_path() / image;
    record.query = text("query", true);
    record.answer = text("answer", true);
    record.source = text("source", false);
    if (!fs::is_regular_file(record.image))
      throw TrainingError(where + ": image " + record.image.string() + " does not exist");
    records.push_back(std::move(record));
  }
  if (records.empty()) throw TrainingError(jsonl.string() + ": no records");
  return records;
}

namespace {

std::string user_turn(const std::string &query)
{
  return idefics2_chat({{"user", query, 1}}, /*add_generation_prompt=*/true);
}

}    // namespace

std::vector<int> prompt_ids(const std::string &query, const Tokenizer &tokenizer, int image_seq_len,
                            bool image_splitting)
{
  return tokenizer.encode(expand_image_tokens(user_turn(query), image_seq_len, image_splitting));
}

Example make_example(const TrainingRecord &record, std::size_t index, const Tokenizer &tokenizer,
                     int image_seq_len, bool image_splitting, int max_length)
{
  if (tokenizer.token_id(kEndOfUtterance) < 0)
    throw TrainingError(record.where + ": the tokenizer has no " + std::string(kEndOfUtterance) +
                        " token to end answers with");
  // the chat template's text of the whole exchange, without the newline after the answer
  std::string full =
      idefics2_chat({{"user", record.query, 1}, {"assistant", record.answer, 0}}, false);
  full.pop_back();
  Example example;
  example.record = index;
  example.ids = tokenizer.encode(expand_image_tokens(full, image_seq_len, image_splitting));
  const auto prompt = prompt_ids(record.query, tokenizer, image_seq_len, image_splitting);
  // the answer starts where the tokens stop being those of the prompt alone
  const auto split =
      std::mismatch(prompt.begin(), prompt.end(), example.ids.begin(), example.ids.end());
  example.answer_start = static_cast<int>(split.second - example.ids.begin());
  // the loss at the answer's first token is read at the token before it: a prompt that the
  // tokenizer splits differently alone than within the exchange has none
  if (example.answer_start < 1)
    throw TrainingError(record.where + ": the tokenizer splits the prompt differently alone than "
                                       "within the exchange");
  if (example.answer_start >= static_cast<int>(example.ids.size()))
    throw TrainingError(record.where + ": the answer adds no tokens to the prompt");
  if (static_cast<int>(example.ids.size()) > max_length)
    throw TrainingError(record.where + ": " + std::to_string(example.ids.size()) +
                        " tokens with the image, more than the model's " +
                        std::to_string(max_length) + " positions");
  return example;
}

namespace {

// Fisher-Yates with the generator's raw output: std::shuffle's use of it differs between standard
// libraries
template <typename It> void shuffle(It first, It last, std::mt19937_64 &rng)
{
  for (auto n = static_cast<std::uint64_t>(last - first); n > 1; --n)
    std::swap(first[static_cast<std::ptrdiff_t>(n - 1)],
              first[static_cast<std::ptrdiff_t>(rng() % n)]);
}

}    // namespace

RecordOrder::RecordOrder(std::size_t records, std::uint64_t seed, std::vector<int> lengths,
                         std::size_t batch) :
    records_(records),
    seed_(seed), lengths_(std::move(lengths)), batch_(std::max<std::size_t>(batch, 1))
{
  if (!lengths_.empty() && lengths_.size() != records_)
    throw std::invalid_argument("RecordOrder: " + std::to_string(lengths_.size()) +
                                " lengths for " + std::to_string(records_) + " records");
}

std::size_t RecordOrder::at(std::uint64_t sample)
{
  const std::uint64_t epoch = sample / records_;
  if (epoch != epoch_) {
    order_.resize(records_);
    for (std::size_t i = 0; i < records_; ++i) order_[i] = i;
    std::mt19937_64 rng(seed_ * 0x9E3779B97F4A7C15ull + epoch + 1);
    shuffle(order_.begin(), order_.end(), rng);
    if (!lengths_.empty() && batch_ > 1) group(epoch, rng);
    epoch_ = epoch;
  }
  return order_[sample % records_];
}

void RecordOrder::group(std::uint64_t epoch, std::mt19937_64 &rng)
{
  // the first whole batch of this epoch: a batch that began in the previous epoch stays as it is
  const std::uint64_t into = (epoch * records_) % batch_;
  const std::size_t start = into == 0 ? 0 : static_cast<std::size_t>(batch_ - into);
  const std::size_t window = batch_ * kGroupWindow;
  std::vector<std::size_t> batches;
  for (std::size_t begin = start; begin < records_; begin += window) {
    const std::size_t end = std::min(begin + window, records_);
    const auto first = order_.begin() + static_cast<std::ptrdiff_t>(begin);
    const auto last = order_.begin() + static_cast<std::ptrdiff_t>(end);
    std::stable_sort(first, last,
                     [this](std::size_t a, std::size_t b) { return lengths_[a] > lengths_[b]; });
    // whole batches change places; a last, partial one stays at the end of the window
    const std::size_t whole = (end - begin) / batch_;
    batches.resize(whole);
    for (std::size_t k = 0; k < whole; ++k) batches[k] = k;
    shuffle(batches.begin(), batches.end(), rng);
    std::vector<std::size_t> sorted(first, first + static_cast<std::ptrdiff_t>(whole * batch_));
    for (std::size_t k = 0; k < whole; ++k)
      std::copy_n(sorted.begin() + static_cast<std::ptrdiff_t>(batches[k] * batch_), batch_,
                  first + static_cast<std::ptrdiff_t>(k * batch_));
  }
}

}    // namespace cephalo::models
