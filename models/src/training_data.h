// Training examples: records tokenized in the Idefics2 chat layout with the answer's tokens
// marked, and the per-epoch order of the records (internal to models/).
#pragma once

#include "cephalo/models/tokenizer.h"
#include "cephalo/models/training.h"

#include <cstdint>
#include <random>
#include <vector>

namespace cephalo::models {

struct Example {
  std::vector<int>
      ids;    // BOS, the prompt with image tokens expanded, the answer, <end_of_utterance>
  int answer_start = 0;      // ids[answer_start:] are the answer: the tokens the loss is taken on
  std::size_t record = 0;    // index into the records
};

// "User:<image>{query}<end_of_utterance>\nAssistant:" as the runtime lays out a one-image chat,
// then " {answer}<end_of_utterance>" as the chat template writes the assistant's turn. Throws
// TrainingError naming the record when the tokenizer has no <end_of_utterance> or the text is
// longer than max_length tokens.
Example make_example(const TrainingRecord &record, std::size_t index, const Tokenizer &tokenizer,
                     int image_seq_len, bool image_splitting, int max_length);

// The prompt token ids alone (what generation starts from).
std::vector<int> prompt_ids(const std::string &query, const Tokenizer &tokenizer, int image_seq_len,
                            bool image_splitting);

// Which record is sample number `sample` counted from the start of training: epochs follow each
// other, each in its own order, a shuffle seeded by (seed, epoch). The same for every run, so
// that a resumed run sees the records that a run without a stop would have seen.
//
// With `lengths` (one per record) and a `batch` of more than one, records of like length share
// a batch, so that little of a batch is padding: the shuffled epoch is cut into windows of
// kGroupWindow batches, each window sorted by length, cut into batches, and its batches shuffled.
// Batches are counted from sample 0, so they stay whole across epochs.
class RecordOrder {
 public:
  static constexpr std::size_t kGroupWindow = 64;

  RecordOrder(std::size_t records, std::uint64_t seed, std::vector<int> lengths = {},
              std::size_t batch = 1);
  std::size_t at(std::uint64_t sample);

 private:
  void group(std::uint64_t epoch, std::mt19937_64 &rng);

  std::size_t records_;
  std::uint64_t seed_;
  std::vector<int> lengths_;
  std::size_t batch_;
  std::uint64_t epoch_ = ~std::uint64_t{0};
  std::vector<std::size_t> order_;
};

}    // namespace cephalo::models
