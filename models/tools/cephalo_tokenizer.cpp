// cephalo-tokenizer: trains the SentencePiece tokenizer of a new model and writes it as a model
// folder's tokenizer files (tokenizer.model and the added-token files the runtime reads).
//
//   cephalo tokenizer train --input corpus.txt --vocab-size 2000 --out DIR
//
// Only libsentencepiece here, never libtorch: Debian's libsentencepiece bundles a protobuf that
// crashes a process which also loads libtorch's.
#include "cli_args.h"

#include <nlohmann/json.hpp>
#include <sentencepiece_trainer.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

const char *kUsage =
    "usage: cephalo tokenizer train (--input FILE | --records FILE)... --vocab-size N --out DIR [options]\n"
    "\n"
    "Trains a SentencePiece BPE tokenizer with Llama's settings (byte fallback, identity\n"
    "normalisation, digits split, <unk> <s> </s> at 0 1 2) and the Idefics2 tokens\n"
    "<fake_token_around_image>, <image>, <end_of_utterance> as user-defined symbols at 3 4 5.\n"
    "Writes tokenizer.model, added_tokens.json, tokenizer_config.json and\n"
    "special_tokens_map.json into DIR.\n"
    "\n"
    "  --input FILE             training text, one sentence or paragraph a line\n"
    "  --records FILE           or the query and answer texts of training records (JSONL, as\n"
    "                           cephalo train reads); --input and --records may repeat\n"
    "  --vocab-size N           pieces in the vocabulary, the special ones included\n"
    "  --out DIR                the tokenizer folder (created)\n"
    "  --character-coverage X   share of characters covered by pieces (default 1.0; the rest\n"
    "                           fall back to bytes)\n"
    "  --max-sentences N        sample at most N lines (default 1000000)\n";

const std::vector<std::string> kSymbols = {"<fake_token_around_image>", "<image>",
                                           "<end_of_utterance>"};

const cephalo::models::cli::Program kCli{"cephalo tokenizer", kUsage};

[[noreturn]] void fail(const std::string &what)
{
  std::fprintf(stderr, "cephalo tokenizer: %s\n", what.c_str());
  std::exit(2);
}

// The corpus, one sentence a line (our own iterator: SentencePiece's --input splits paths at
// commas).
class Lines : public sentencepiece::SentenceIterator {
 public:
  explicit Lines(const std::vector<std::string> &lines) : lines_(lines) {}
  bool done() const override { return at_ >= lines_.size(); }
  void Next() override { ++at_; }
  const std::string &value() const override { return lines_[at_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const std::vector<std::string> &lines_;
  std::size_t at_ = 0;
};

void read_text(const fs::path &path, std::vector<std::string> &lines)
{
  if (!fs::is_regular_file(path)) fail(path.string() + ": no such file");
  std::ifstream in(path, std::ios::binary);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(std::move(line));
  }
}

// The "query" and "answer" of every record of a training JSONL file, each a sentence.
void read_records(const fs::path &path, std::vector<std::string> &lines)
{
  if (!fs::is_regular_file(path)) fail(path.string() + ": no such file");
  std::ifstream in(path, std::ios::binary);
  long number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const auto record = nlohmann::json::parse(line, nullptr, false);
    if (!record.is_object())
      fail(path.string() + ":" + std::to_string(number) + ": not a JSON object");
    for (const char *field : {"query", "answer"}) {
      const auto it = record.find(field);
      if (it == record.end() || !it->is_string())
        fail(path.string() + ":" + std::to_string(number) + ": no \"" + field + "\" text");
      if (!it->get_ref<const std::string &>().empty()) lines.push_back(it->get<std::string>());
    }
  }
}

}    // namespace

int main(int argc, char **argv)
{
  if (argc >= 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (argc < 2 || std::string(argv[1]) != "train")
    kCli.fail_usage(argc < 2 ? "no command (train)" : "unknown command '" + std::string(argv[1]) + "'");
  std::vector<std::pair<bool, fs::path>> inputs;    // (records?, path) in the order given
  std::string sources;
  fs::path out;
  long long vocab = 0, max_sentences = 1000000;
  double coverage = 1.0;
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) kCli.fail_usage(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--input" || flag == "--records") {
      inputs.emplace_back(flag == "--records", value);
      sources += (sources.empty() ? "" : ", ") + value;
    }
    else if (flag == "--out")
      out = value;
    else if (flag == "--vocab-size")
      vocab = kCli.whole(flag, value, 16, 1 << 20);
    else if (flag == "--max-sentences")
      max_sentences = kCli.whole(flag, value, 1, 1LL << 40);
    else if (flag == "--character-coverage") {
      try {
        coverage = std::stod(value);
      } catch (const std::exception &) {
        coverage = -1;
      }
      if (!(coverage > 0.9 && coverage <= 1.0))
        kCli.fail_usage("--character-coverage needs a number in (0.9, 1], not '" + value + "'");
    } else
      kCli.fail_usage("unknown option " + flag);
  }
  if (sources.empty()) kCli.fail_usage("--input FILE or --records FILE is required");
  if (out.empty()) kCli.fail_usage("--out DIR is required");
  if (vocab == 0) kCli.fail_usage("--vocab-size N is required");
  std::vector<std::string> corpus;
  for (const auto &[records, path] : inputs) (records ? read_records : read_text)(path, corpus);
  if (corpus.empty()) fail(sources + ": no text to train on");
  Lines lines(corpus);
  std::string symbols;
  for (const auto &s : kSymbols) symbols += (symbols.empty() ? "" : ",") + s;
  char coverage_text[32];
  std::snprintf(coverage_text, sizeof coverage_text, "%.6f", coverage);
  const std::string arguments =
      "--model_type=bpe --vocab_size=" + std::to_string(vocab) +
      " --byte_fallback=true --character_coverage=" + coverage_text +
      " --normalization_rule_name=identity --remove_extra_whitespaces=false --split_digits=true"
      " --allow_whitespace_only_pieces=true --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1"
      " --input_sentence_size=" +
      std::to_string(max_sentences) + " --shuffle_input_sentence=true --minloglevel=1" +
      " --user_defined_symbols=" + symbols;
  std::string model;
  const auto status = sentencepiece::SentencePieceTrainer::Train(arguments, &lines, &model);
  if (!status.ok()) fail(sources + ": SentencePiece training failed: " + status.ToString());

  std::error_code error;
  fs::create_directories(out, error);
  if (error) fail(out.string() + ": cannot be created: " + error.message());
  std::ofstream(out / "tokenizer.model", std::ios::binary) << model;
  // the user-defined symbols follow <unk> <s> </s> in the vocabulary
  nlohmann::json added = nlohmann::json::object(), decoder = nlohmann::json::object();
  nlohmann::ordered_json special_map = {{"bos_token", "<s>"},
                                        {"eos_token", "</s>"},
                                        {"unk_token", "<unk>"},
                                        {"pad_token", "<unk>"},
                                        {"additional_special_tokens", kSymbols}};
  for (std::size_t i = 0; i < kSymbols.size(); ++i) {
    const int id = 3 + static_cast<int>(i);
    added[kSymbols[i]] = id;
    decoder[std::to_string(id)] = {{"content", kSymbols[i]}, {"lstrip", false},
                                   {"normalized", false},    {"rstrip", false},
                                   {"single_word", false},   {"special", true}};
  }
  nlohmann::ordered_json config = {{"add_bos_token", true},
                                   {"add_eos_token", false},
                                   {"legacy", false},
                                   {"bos_token", "<s>"},
                                   {"eos_token", "</s>"},
                                   {"unk_token", "<unk>"},
                                   {"pad_token", "<unk>"},
                                   {"tokenizer_class", "LlamaTokenizer"},
                                   {"added_tokens_decoder", decoder},
                                   {"additional_special_tokens", kSymbols}};
  std::ofstream(out / "added_tokens.json") << added.dump(2) << "\n";
  std::ofstream(out / "tokenizer_config.json") << config.dump(2) << "\n";
  std::ofstream(out / "special_tokens_map.json") << special_map.dump(2) << "\n";
  if (!std::ofstream(out / "tokenizer_config.json", std::ios::app))
    fail(out.string() + ": cannot be written");
  std::fprintf(stderr,
               "cephalo tokenizer: %lld pieces from %zu lines of %s; <image> is %d, "
               "<end_of_utterance> %d (image_token_id and vocab_size of config.json); wrote %s\n",
               vocab, corpus.size(), sources.c_str(), 4, 5, out.string().c_str());
  return 0;
}
