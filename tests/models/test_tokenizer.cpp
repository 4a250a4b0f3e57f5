// Tokenizer and Idefics2 prompt layout: ids equal to SentencePiece's own, round trips, added
// tokens and the spaces around them, the image-token expansion, streaming, and refusal of damaged
// tokenizer folders. The SentencePiece model is trained at test time on a few materials-science
// sentences, with Llama's settings; libsentencepiece is the reference the encoder is checked
// against (this test must not load libtorch: the two crash together, see CMakeLists.txt).
#define BOOST_TEST_MODULE models_text
#include <boost/test/unit_test.hpp>

#include "cephalo/models/prompt.h"
#include "cephalo/models/tokenizer.h"
#include "scratch_dir.h"

#include <nlohmann/json.hpp>
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <thread>

namespace fs = std::filesystem;
using namespace cephalo::models;
using cephalo::test::ScratchDir;
using nlohmann::json;

namespace {

const std::vector<std::string> kCorpus = {
    "The crack grows along the grain boundary of the copper bicrystal.",
    "Describe the crack tip and the fracture surface in the image.",
    "The stress intensity factor reaches 2.5 MPa m^0.5 before the crack tip blunts.",
    "Dislocations nucleate at the notch and glide on the {111} planes of the crystal.",
    "Spider silk combines a high tensile strength of 1.2 GPa with toughness.",
    "The Young's modulus of the fibre is 10 GPa and its strain at break is 30 %.",
    "σ = 1.2 GPa, Δx ≈ 3 Å at 300 K; the crack grows 5 μm per cycle.",
    "The gyroid scaffold has a porosity of 0.7 and a wall thickness of 0.4 mm.",
    "The lattice of the gyroid is printed in PLA with a nozzle of 0.4 mm.",
    "The crack grows from the notch, branches and arrests at the interface.",
    "User: what does the image show? Assistant: a crack in a copper crystal.",
};

class Sentences : public sentencepiece::SentenceIterator {
 public:
  bool done() const override { return index_ >= 20 * kCorpus.size(); }
  void Next() override { ++index_; }
  const std::string &value() const override { return kCorpus[index_ % kCorpus.size()]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  std::size_t index_ = 0;
};

std::string train(const std::string &options)
{
  Sentences sentences;
  std::string serialized;
  const auto status = sentencepiece::SentencePieceTrainer::Train(
      options + " --character_coverage=1.0 --minloglevel=1", &sentences, &serialized);
  if (!status.ok()) throw std::runtime_error("training failed: " + status.ToString());
  return serialized;
}

// Trained once per run (a few milliseconds): BPE with Llama's settings (identity
// normalization, whitespace kept, byte fallback, digits split, <unk> <s> </s> at 0 1 2).
const std::string &trained_model()
{
  static const std::string model =
      train("--model_type=bpe --vocab_size=400 --byte_fallback=true "
            "--normalization_rule_name=identity --remove_extra_whitespaces=false "
            "--split_digits=true --allow_whitespace_only_pieces=true");
  return model;
}

std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_of(const std::string &model)
{
  auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = sp->LoadFromSerializedProto(model);
  if (!status.ok()) throw std::runtime_error("loading the model failed: " + status.ToString());
  return sp;
}

// libsentencepiece on the trained model: the reference for the text at the start of a prompt.
const sentencepiece::SentencePieceProcessor &plain_sentencepiece()
{
  static const auto processor = processor_of(trained_model());
  return *processor;
}

// ... and for the text after an added token: the same model with add_dummy_prefix off. Appended
// to the serialized model, normalizer_spec (field 3) {add_dummy_prefix (field 3): false} merges
// into the one already there, as protobuf merges repeated message fields.
const sentencepiece::SentencePieceProcessor &sentencepiece_without_prefix()
{
  static const auto processor = processor_of(trained_model() + std::string("\x1A\x02\x18\x00", 4));
  return *processor;
}

std::vector<int> cat(std::vector<int> a, const std::vector<int> &b)
{
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

int base_vocab()
{
  return plain_sentencepiece().GetPieceSize();
}

void write_text(const fs::path &path, const std::string &text)
{
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

json token_object(const std::string &content, bool special = true)
{
  return {{"content", content}, {"lstrip", false},      {"normalized", false},
          {"rstrip", false},    {"single_word", false}, {"special", special}};
}

// A tokenizer folder laid out like Hugging Face's Idefics2 one.
fs::path write_idefics2_folder(const fs::path &dir, const json &config_changes = json::object())
{
  const int v = base_vocab();
  write_text(dir / "tokenizer.model", trained_model());
  write_text(
      dir / "added_tokens.json",
      json{{"<fake_token_around_image>", v}, {"<image>", v + 1}, {"<end_of_utterance>", v + 2}}
          .dump(2));
  json config = {{"add_bos_token", true},
                 {"add_eos_token", false},
                 {"legacy", false},
                 {"bos_token", "<s>"},
                 {"eos_token", "</s>"},
                 {"unk_token", "<unk>"},
                 {"pad_token", "<unk>"},
                 {"tokenizer_class", "LlamaTokenizer"},
                 {"added_tokens_decoder",
                  {{"0", token_object("<unk>")},
                   {"1", token_object("<s>")},
                   {"2", token_object("</s>")},
                   {std::to_string(v), token_object("<fake_token_around_image>")},
                   {std::to_string(v + 1), token_object("<image>")},
                   {std::to_string(v + 2), token_object("<end_of_utterance>")}}}};
  config.merge_patch(config_changes);
  write_text(dir / "tokenizer_config.json", config.dump(2));
  const json special_map = {{"additional_special_tokens",
                             {token_object("<fake_token_around_image>"), token_object("<image>"),
                              token_object("<end_of_utterance>")}},
                            {"bos_token", token_object("<s>")},
                            {"eos_token", token_object("</s>")},
                            {"pad_token", token_object("<unk>")},
                            {"unk_token", token_object("<unk>")}};
  write_text(dir / "special_tokens_map.json", special_map.dump(2));
  return dir;
}

std::vector<int> ints(std::initializer_list<int> values)
{
  return values;
}

// The vocabulary entries of ids, joined ("▁the▁crack").
std::string joined_pieces(const Tokenizer &tokenizer, const std::vector<int> &ids)
{
  std::string text;
  for (const int id : ids) text += tokenizer.token_text(id);
  return text;
}

long count_of(const std::vector<int> &ids, int id)
{
  return std::count(ids.begin(), ids.end(), id);
}

std::string load_error(const fs::path &dir)
{
  try {
    Tokenizer::load(dir);
  } catch (const TokenizerError &e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string &text, const std::string &part)
{
  return text.find(part) != std::string::npos;
}

}    // namespace

BOOST_AUTO_TEST_CASE(loads_the_vocabulary_and_the_added_tokens_of_an_idefics2_folder)
{
  ScratchDir dir;
  const auto tokenizer = Tokenizer::load(write_idefics2_folder(dir.path()));
  const int v = base_vocab();
  BOOST_TEST(v == 400);
  BOOST_TEST(tokenizer.vocab_size() == v + 3);
  BOOST_TEST(tokenizer.token_id("<fake_token_around_image>") == v);
  BOOST_TEST(tokenizer.token_id("<image>") == v + 1);
  BOOST_TEST(tokenizer.token_id("<end_of_utterance>") == v + 2);
  BOOST_TEST(tokenizer.token_text(v + 2) == "<end_of_utterance>");
  BOOST_TEST(tokenizer.bos_id() == 1);
  BOOST_TEST(tokenizer.eos_id() == 2);
  BOOST_TEST(tokenizer.unk_id() == 0);
  BOOST_TEST(tokenizer.pad_id() == 0);    // Idefics2 pads with <unk>
  BOOST_TEST(tokenizer.token_text(1) == "<s>");
  BOOST_TEST(tokenizer.token_text(3) == "<0x00>");
  BOOST_TEST(tokenizer.token_id("<0x0A>") == 3 + 0x0A);
  BOOST_TEST(tokenizer.token_id("▁the") == plain_sentencepiece().PieceToId("▁the"));
  BOOST_TEST(tokenizer.token_id("no such piece") == -1);
  BOOST_TEST(tokenizer.is_special(1));
  BOOST_TEST(tokenizer.is_special(v + 1));
  BOOST_TEST(!tokenizer.is_special(tokenizer.token_id("▁the")));
  BOOST_TEST(!tokenizer.is_special(v + 3));
  BOOST_CHECK_THROW(tokenizer.token_text(v + 3), std::out_of_range);
  BOOST_CHECK_THROW(tokenizer.decode({5, v + 3}), std::out_of_range);
}

BOOST_AUTO_TEST_CASE(plain_text_encodes_as_sentencepiece_does_and_round_trips)
{
  ScratchDir dir;
  const auto tokenizer = Tokenizer::load(write_idefics2_folder(dir.path()));
  for (const std::string text :
       {"The crack grows along the grain boundary.", "Describe the crack tip.",
        "a  double space and a trailing one ", "digits 12345 and 0.4 mm", ""}) {
    BOOST_TEST_CONTEXT(text)
    {
      const auto ids = tokenizer.encode(text, false);
      BOOST_TEST(ids == plain_sentencepiece().EncodeAsIds(text));
      BOOST_TEST(tokenizer.decode(ids) == text);
      const auto with_bos = tokenizer.encode(text);
      BOOST_REQUIRE(with_bos.size() == ids.size() + 1);
      BOOST_TEST(with_bos.front() == 1);
      BOOST_TEST(std::equal(ids.begin(), ids.end(), with_bos.begin() + 1));
      BOOST_TEST(tokenizer.decode(with_bos, true) == text);
    }
  }
  // as the fast tokenizer decodes: the space of the dummy prefix stays after a kept <s>
  BOOST_TEST(tokenizer.decode(tokenizer.encode("The crack")) == "<s> The crack");
  // digits are split one by one, as in Llama's vocabulary
  const auto digits = tokenizer.encode("12345", false);
  BOOST_TEST(joined_pieces(tokenizer, digits) == "▁12345");
  BOOST_TEST(digits.size() == 6u);
}

BOOST_AUTO_TEST_CASE(ids_are_those_of_libsentencepiece_with_and_without_the_dummy_prefix)
{
  ScratchDir dir;
  const auto tokenizer = Tokenizer::load(write_idefics2_folder(dir.path()));
  const int image = base_vocab() + 1;
  std::vector<std::string> samples(kCorpus);
  for (const std::string extra :
       {"crack", "the crack tip", "a  b   c", "trailing  ", "tab\tand\nnewline", "😀 emoji",
        "σσσ ΔΔ Å", "Ünïcödé 応力 ≈≈", "1234567890", "{111}<110>", "replacement \xEF\xBF\xBD",
        "bad \xFF byte \xC3", "x", "Strength of 1.2 GPa and 5 μm.", "\n\n"})
    samples.push_back(extra);
  for (const std::string &text : samples) {
    BOOST_TEST_CONTEXT(text)
    {
      BOOST_TEST(tokenizer.encode(text, false) == plain_sentencepiece().EncodeAsIds(text));
      BOOST_TEST(tokenizer.encode("<image>" + text, false) ==
                 cat({image}, sentencepiece_without_prefix().EncodeAsIds(text)));
    }
  }
  // the fast tokenizer's Metaspace adds no "▁" to a text that starts with a space or a "▁"
  for (const std::string text : {" the crack", "▁the crack"}) {
    BOOST_TEST(tokenizer.encode(text, false) == sentencepiece_without_prefix().EncodeAsIds(text));
    BOOST_TEST(joined_pieces(tokenizer, tokenizer.encode(text, false)) == "▁the▁crack");
  }
}

BOOST_AUTO_TEST_CASE(unicode_round_trips_through_byte_fallback)
{
  ScratchDir dir;
  const auto tokenizer = Tokenizer::load(write_idefics2_folder(dir.path()));
  for (const std::string text :
       {"σ = 1.2 GPa, Δx ≈ 3 Å", "応力拡大係数 K_I", "a crack 😀 and a tab\there", "line\nbreak"}) {
    BOOST_TEST_CONTEXT(text)
    {
      const auto ids = tokenizer.encode(text, false);
      BOOST_TEST(tokenizer.decode(ids) == text);
      BOOST_TEST(tokenizer.decode(tokenizer.encode(text), true) == text);
    }
  }
  // the emoji is not in the vocabulary: four byte tokens
  const auto emoji = tokenizer.encode("😀", false);
  BOOST_TEST(joined_pieces(tokenizer, emoji) == "▁<0xF0><0x9F><0x98><0x80>");
  // a byte sequence that is not UTF-8 decodes to U+FFFD per byte, not to broken text
  const int e2 = tokenizer.token_id("<0xE2>"), x41 = tokenizer.token_id("<0x41>");
  BOOST_TEST(tokenizer.decode({e2, x41}) == "\xEF\xBF\xBD"
                                            "A");
  BOOST_TEST(tokenizer.decode({e2}) == "\xEF\xBF\xBD");
}

BOOST_AUTO_TEST_CASE(added_tokens_in_the_text_become_their_ids_and_decode_back)
{
  ScratchDir dir;
  const auto tokenizer = Tokenizer::load(write_idefics2_folder(dir.path()));
  const int v = base_vocab();
  const std::string text = "User:<image>Describe the crack.<end_of_utterance>\nAssistant:";
  const auto ids = tokenizer.encode(text, false);
  BOOST_TEST(count_of(ids, v + 1) == 1);
  BOOST_TEST(count_of(ids, v + 2) == 1);
  for (const int id : ids) BOOST_TEST((id < v || id == v + 1 || id == v + 2));
  BOOST_TEST(tokenizer.decode(ids) == text);
  BOOST_TEST(tokenizer.decode(ids, true) == "User:Describe the crack.\nAssistant:");

  // the runs between added tokens are SentencePiece's pieces of exactly that text
  const auto image = std::find(ids.begin(), ids.end(), v + 1);
  const auto end = std::find(ids.begin(), ids.end(), v + 2);
  BOOST_TEST(joined_pieces(tokenizer, {ids.begin(), image}) == "▁User:");
  BOOST_TEST(joined_pieces(tokenizer, {image + 1, end}) == "Describe▁the▁crack.");
  BOOST_TEST(tokenizer.token_text(*(end + 1)) == "<0x0A>");

  BOOST_TEST(tokenizer.encode("<image><image><end_of_utterance>", false) ==
             ints({v + 1, v + 1, v + 2}));
  // named special tokens are matched in text too, as by the Hugging Face tokenizer
  BOOST_TEST(tokenizer.encode("<s></s>", false) == ints({1, 2}));
  // a near miss is plain text
  const auto near_miss = tokenizer.encode("<imag>", false);
  BOOST_TEST(count_of(near_miss, v + 1) == 0);
  BOOST_TEST(tokenizer.decode(near_miss) == "<imag>");
}

BOOST_AUTO_TEST_CASE(the_longest_added_token_wins)
{
  ScratchDir dir;
  write_idefics2_folder(dir.path());
  const int v = base_vocab();
  write_text(dir / "added_tokens.json", json{{"<fake_token_around_image>", v},
                                             {"<image>", v + 1},
                                             {"<end_of_utterance>", v + 2},
                                             {"<end", v + 3}}
                                            .dump());
  const auto tokenizer = Tokenizer::load(dir.path());
  BOOST_TEST(tokenizer.vocab_size() == v + 4);
  BOOST_TEST(!tokenizer.is_special(v + 3));    // in no list of special tokens
  const auto ids = tokenizer.encode("<end_of_utterance><end>", false);
  BOOST_TEST(ids.front() == v + 2);
  BOOST_TEST(ids[1] == v + 3);
  BOOST_TEST(tokenizer.decode(ids, true) == "<end>");
}

BOOST_AUTO_TEST_CASE(no_dummy_prefix_after_an_added_token)
{
  ScratchDir dir;
  const auto tokenizer = Tokenizer::load(write_idefics2_folder(dir.path()));
  const int v = base_vocab();
  const int the = tokenizer.token_id("▁the");
  BOOST_REQUIRE(the >= 0);

  // only the text at the start of the input gets "▁"
  const auto ids = tokenizer.encode("the crack<image>the crack", false);
  const auto image = std::find(ids.begin(), ids.end(), v + 1);
  BOOST_TEST(joined_pieces(tokenizer, {ids.begin(), image}) == "▁the▁crack");
  BOOST_TEST(joined_pieces(tokenizer, {image + 1, ids.end()}) == "the▁crack");
  BOOST_TEST(*(image + 1) != the);
  BOOST_TEST(std::vector<int>(ids.begin(), image) ==
             plain_sentencepiece().EncodeAsIds("the crack"));
  BOOST_TEST(std::vector<int>(image + 1, ids.end()) ==
             sentencepiece_without_prefix().EncodeAsIds("the crack"));

  // an input that starts with an added token has no "▁" at all; a space after one is the "▁"
  const auto leading = tokenizer.encode("<image>the", false);
  BOOST_TEST(joined_pieces(tokenizer, leading) == "<image>the");
  const auto spaced = tokenizer.encode("<image> the crack", false);
  BOOST_TEST(joined_pieces(tokenizer, spaced) == "<image>▁the▁crack");
  BOOST_TEST(spaced[1] == the);
  BOOST_TEST(tokenizer.decode(spaced) == "<image> the crack");

  // "\n" after <end_of_utterance> is the newline byte alone, no "▁" before it
  const auto turn = tokenizer.encode("<end_of_utterance>\nAssistant:", false);
  BOOST_TEST(turn[0] == v + 2);
  BOOST_TEST(tokenizer.token_text(turn[1]) == "<0x0A>");
  for (const int id : turn) BOOST_TEST(tokenizer.token_text(id) != "▁");
}

BOOST_AUTO_TEST_CASE(legacy_folders_put_the_prefix_before_every_run_unless_tokenizer_json_says_not)
{
  ScratchDir dir;
  write_idefics2_folder(dir.path(), {{"legacy", nullptr}});    // transformers' default: legacy
  const int v = base_vocab();
  const auto legacy = Tokenizer::load(dir.path()).encode("<image>the crack", false);
  const auto &sp = plain_sentencepiece();
  auto expected = sp.EncodeAsIds("the crack");
  expected.insert(expected.begin(), v + 1);
  BOOST_TEST(legacy == expected);

  // tokenizer.json is what the fast tokenizer reads; its Metaspace scheme decides
  const json metaspace = {
      {"added_tokens", json::array({{{"id", v + 1}, {"content", "<image>"}, {"special", true}}})},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Metaspace"},
        {"replacement", "▁"},
        {"prepend_scheme", "first"},
        {"split", false}}}};
  write_text(dir / "tokenizer.json", metaspace.dump());
  const auto first = Tokenizer::load(dir.path());
  BOOST_TEST(joined_pieces(first, first.encode("<image>the crack", false)) == "<image>the▁crack");

  const json prepend = {
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", "▁"}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "▁"}}}}}},
      {"pre_tokenizer", nullptr}};
  write_text(dir / "tokenizer.json", prepend.dump());
  BOOST_TEST(Tokenizer::load(dir.path()).encode("<image>the crack", false) == expected);
}

BOOST_AUTO_TEST_CASE(idefics2_chat_template_matches_the_hugging_face_one)
{
  BOOST_TEST(idefics2_chat({{"user", "Describe the crack.", 1}}) ==
             "User:<image>Describe the crack.<end_of_utterance>\nAssistant:");
  BOOST_TEST(idefics2_chat({{"system", "You are a materials scientist."},
                            {"user", "What is shown?", 2},
                            {"assistant", "Two cracks."},
                            {"user", "Which one is longer?"}},
                           false) == "System: You are a materials scientist.<end_of_utterance>\n"
                                     "User:<image><image>What is shown?<end_of_utterance>\n"
                                     "Assistant: Two cracks.<end_of_utterance>\n"
                                     "User: Which one is longer?<end_of_utterance>\n");
  BOOST_TEST(idefics2_chat({{"USER", "Hi"}}) == "User: Hi<end_of_utterance>\nAssistant:");
  BOOST_TEST(idefics2_chat({}) == "Assistant:");
  BOOST_CHECK_THROW(idefics2_chat({{"", "Hi"}}), std::invalid_argument);
  BOOST_CHECK_THROW(idefics2_chat({{"user", "Hi", -1}}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(image_tokens_expand_as_the_idefics2_processor_does)
{
  const std::string F(kFakeImageToken), I(kImageToken);
  BOOST_TEST(expand_image_tokens("a<image>b", 2, false) == "a" + F + I + I + F + "b");
  // adjacent images share the fake token between them
  BOOST_TEST(expand_image_tokens("<image><image>", 1, false) == F + I + F + I + F);
  // with splitting: 4 crops and the whole image, fake tokens between them collapsed
  BOOST_TEST(expand_image_tokens("<image>", 1, true) == F + I + F + I + F + I + F + I + F + I + F);
  // one pass, as Python's str.replace: a fake token already in the text makes a pair that stays
  BOOST_TEST(expand_image_tokens("<image>" + F + "<image>", 1, false) == F + I + F + F + I + F);
  BOOST_TEST(expand_image_tokens("no images", 64, true) == "no images");
  BOOST_CHECK_THROW(expand_image_tokens("<image>", 0, false), std::invalid_argument);

  BOOST_TEST(count_images("User:<image><image>x<image>") == 3);
  BOOST_TEST(count_images("<imag><image") == 0);
  BOOST_TEST(count_images(expand_image_tokens("<image><image>", 64, true)) == 640);
}

BOOST_AUTO_TEST_CASE(an_expanded_idefics2_prompt_has_64_image_ids_per_image)
{
  ScratchDir dir;
  const auto tokenizer = Tokenizer::load(write_idefics2_folder(dir.path()));
  const int v = base_vocab();
  const int fake = v, image = v + 1, end = v + 2;

  const std::string prompt = idefics2_chat({{"user", "Describe the crack.", 1}});
  const auto ids = tokenizer.encode(expand_image_tokens(prompt, 64, false));
  BOOST_TEST(ids.front() == 1);
  BOOST_TEST(count_of(ids, image) == 64);
  BOOST_TEST(count_of(ids, fake) == 2);
  BOOST_TEST(count_of(ids, end) == 1);
  // the 64 image ids sit together between the two fake tokens
  const auto first_fake = std::find(ids.begin(), ids.end(), fake);
  BOOST_REQUIRE(first_fake + 65 < ids.end());
  BOOST_TEST(std::all_of(first_fake + 1, first_fake + 65, [&](int id) { return id == image; }));
  BOOST_TEST(*(first_fake + 65) == fake);
  BOOST_TEST(joined_pieces(tokenizer, {ids.begin() + 1, first_fake}) == "▁User:");
  BOOST_TEST(tokenizer.decode(ids, true) == "User:Describe the crack.\nAssistant:");

  const std::string two = idefics2_chat({{"user", "Compare the cracks.", 2}});
  const auto split = tokenizer.encode(expand_image_tokens(two, 64, true));
  BOOST_TEST(count_of(split, image) == 2 * 5 * 64);
  BOOST_TEST(count_of(split, fake) == 11);    // 6 per image, one shared between them
}

BOOST_AUTO_TEST_CASE(token_stream_gives_the_same_text_as_decode)
{
  ScratchDir dir;
  const auto tokenizer = Tokenizer::load(write_idefics2_folder(dir.path()));
  for (const std::string text :
       {"The crack grows 5 μm per cycle.", "σ = 1.2 GPa, Δx ≈ 3 Å 😀 done",
        "User:<image>Describe the crack.<end_of_utterance>\nAssistant: 応力", "  two spaces"}) {
    for (const bool skip : {false, true}) {
      BOOST_TEST_CONTEXT(text << (skip ? " (skip special)" : ""))
      {
        const auto ids = tokenizer.encode(text);
        TokenStream stream(tokenizer, skip);
        std::string streamed;
        for (const int id : ids) {
          const std::string piece = stream.push(id);
          // every piece is whole UTF-8: no replacement character ever comes out
          BOOST_TEST(!contains(piece, "\xEF\xBF\xBD"));
          streamed += piece;
        }
        streamed += stream.flush();
        BOOST_TEST(streamed == tokenizer.decode(ids, skip));
      }
    }
  }

  // the bytes of an emoji come out together with the last of them
  TokenStream stream(tokenizer);
  std::vector<std::string> pieces;
  for (const int id : tokenizer.encode("a😀", false)) pieces.push_back(stream.push(id));
  BOOST_TEST(pieces == std::vector<std::string>({"a", "", "", "", "😀"}));
  BOOST_TEST(stream.flush() == "");

  // an incomplete sequence is held back and flushed as U+FFFD; flush starts a new sequence
  BOOST_TEST(stream.push(tokenizer.token_id("<0xE2>")) == "");
  BOOST_TEST(stream.flush() == "\xEF\xBF\xBD");
  BOOST_TEST(stream.ids().empty());
  BOOST_TEST(stream.push(tokenizer.token_id("▁the")) == "the");

  // an unknown id is refused and leaves the stream as it was
  BOOST_CHECK_THROW(stream.push(tokenizer.vocab_size()), std::out_of_range);
  BOOST_TEST(stream.ids().size() == 1u);
}

BOOST_AUTO_TEST_CASE(encode_and_decode_can_run_on_several_threads)
{
  ScratchDir dir;
  const auto tokenizer = Tokenizer::load(write_idefics2_folder(dir.path()));
  const std::string prompt = expand_image_tokens(
      idefics2_chat({{"user", "σ ≈ 1.2 GPa: describe the crack.", 1}}), 64, true);
  const auto expected = tokenizer.encode(prompt);
  std::vector<int> matches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 50; ++round) {
        const auto ids = tokenizer.encode(prompt);
        matches[t] += ids == expected && tokenizer.decode(ids) == "<s> " + prompt;
      }
    });
  for (auto &thread : threads) thread.join();
  BOOST_TEST(matches == std::vector<int>(4, 50));
}

BOOST_AUTO_TEST_CASE(damaged_folders_are_refused_with_the_file_named)
{
  ScratchDir dir;
  const fs::path folder = write_idefics2_folder(dir.path());

  fs::remove(folder / "tokenizer.model");
  std::string error = load_error(folder);
  BOOST_TEST(contains(error, "tokenizer.model: not found"), error);

  write_text(folder / "tokenizer.model", "this is not a SentencePiece model");
  error = load_error(folder);
  BOOST_TEST(contains(error, "tokenizer.model: not a SentencePiece model"), error);

  write_text(folder / "tokenizer.model", trained_model().substr(0, trained_model().size() / 2));
  error = load_error(folder);
  BOOST_TEST(contains(error, "tokenizer.model: not a SentencePiece model"), error);

  // every truncation is refused; flipped bytes load or are refused, never crash
  const std::string &model = trained_model();
  int refused = 0;
  for (std::size_t cut = 0; cut < model.size(); cut += 13) {
    write_text(folder / "tokenizer.model", model.substr(0, cut));
    refused += contains(load_error(folder), "tokenizer.model: not a SentencePiece model");
  }
  BOOST_TEST(refused == static_cast<int>((model.size() + 12) / 13));
  std::mt19937 random(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::string damaged = model;
    for (int flip = 0; flip < 4; ++flip)
      damaged[random() % damaged.size()] = static_cast<char>(random() & 0xFF);
    write_text(folder / "tokenizer.model", damaged);
    try {
      Tokenizer::load(folder).encode("The crack grows.");
    } catch (const TokenizerError &e) {
      BOOST_TEST(contains(e.what(), "tokenizer.model: "), e.what());
    }
  }

  write_text(folder / "tokenizer.model", trained_model());
  write_text(folder / "added_tokens.json", "{\"<image>\": 401,");
  error = load_error(folder);
  BOOST_TEST(contains(error, "added_tokens.json: not valid JSON"), error);

  write_text(folder / "added_tokens.json", R"({"<image>": "401"})");
  error = load_error(folder);
  BOOST_TEST(
      contains(error, "added_tokens.json: the id of '<image>' is not a non-negative integer"),
      error);

  // two files that disagree: both are named
  const int v = base_vocab();
  write_text(folder / "added_tokens.json", json{{"<image>", v + 5}}.dump());
  error = load_error(folder);
  BOOST_TEST(
      contains(error, "added_tokens.json: added token '<image>' has id " + std::to_string(v + 5)),
      error);
  BOOST_TEST(contains(error, "tokenizer_config.json gives it id " + std::to_string(v + 1)), error);

  write_text(folder / "added_tokens.json", "[]");
  error = load_error(folder);
  BOOST_TEST(contains(error, "added_tokens.json: not a JSON object"), error);

  fs::remove(folder / "added_tokens.json");
  write_text(folder / "special_tokens_map.json", json{{"bos_token", "<start>"}}.dump());
  error = load_error(folder);
  BOOST_TEST(contains(error, "special_tokens_map.json: bos_token is '<start>'"), error);
  BOOST_TEST(contains(error, "tokenizer_config.json says '<s>'"), error);

  write_text(folder / "special_tokens_map.json",
             json{{"additional_special_tokens", {"<x>"}}}.dump());
  error = load_error(folder);
  BOOST_TEST(contains(error, "special_tokens_map.json: additional_special_tokens entry '<x>' is "
                             "neither a piece of tokenizer.model nor an added token"),
             error);

  // models this encoder does not reproduce are refused, not encoded differently
  write_text(folder / "tokenizer.model",
             train("--model_type=unigram --vocab_size=120 --hard_vocab_limit=false"));
  error = load_error(folder);
  BOOST_TEST(contains(error, "tokenizer.model: model_type is UNIGRAM; only the BPE models"), error);
  write_text(folder / "tokenizer.model", train("--model_type=bpe --vocab_size=120"));
  error = load_error(folder);
  BOOST_TEST(contains(error, "tokenizer.model: the normalizer 'nmt_nfkc' rewrites characters"),
             error);

  error = load_error(folder / "missing");
  BOOST_TEST(contains(error, "not a folder"), error);
}
