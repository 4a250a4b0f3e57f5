// cephalo-tokenizer end to end: it trains on a corpus file, and models/' tokenizer reads the
// folder it writes with ids equal to libsentencepiece's on the same tokenizer.model, the Idefics2
// tokens at their ids. Torch-free on purpose (libsentencepiece and libtorch crash together).
#define BOOST_TEST_MODULE models_tokenizer_training
#include <boost/test/unit_test.hpp>

#include "cephalo/models/prompt.h"
#include "cephalo/models/tokenizer.h"
#include "process.h"
#include "scratch_dir.h"

#include <sentencepiece_processor.h>

#include <fstream>
#include <memory>

namespace fs = std::filesystem;
using namespace cephalo::models;
using cephalo::test::ScratchDir;

namespace {

const std::vector<std::string> kCorpus = {
    "The crack grows along the grain boundary of the copper bicrystal.",
    "Describe the crack tip and the fracture surface in the image.",
    "The stress intensity factor reaches 2.5 MPa m^0.5 before the crack tip blunts.",
    "Spider silk combines a high tensile strength of 1.2 GPa with toughness.",
    "The gyroid scaffold has a porosity of 0.7 and a wall thickness of 0.4 mm.",
    "The von Mises stress is highest ahead of the crack tip; the wake relaxes.",
};

const std::vector<std::string> kSamples = {
    "The crack grows from the notch.",
    "Describe the stress field: 3.75 GPa at the tip.",
    "Unseen words: nacre, osteon, Bouligand!",
    "σ = 1.2 GPa, Δx ≈ 3 Å",    // characters outside the corpus fall back to bytes
    "two  spaces and a tab\there",
};

std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_of(const std::string &model)
{
  auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = sp->LoadFromSerializedProto(model);
  if (!status.ok()) throw std::runtime_error("loading the model failed: " + status.ToString());
  return sp;
}

std::string read(const fs::path &path)
{
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<int> cat(std::vector<int> a, const std::vector<int> &b)
{
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}    // namespace

BOOST_AUTO_TEST_CASE(the_trained_tokenizer_encodes_as_libsentencepiece_with_the_idefics2_tokens)
{
  ScratchDir dir;
  {
    std::ofstream corpus(dir / "corpus, with a comma.txt");
    for (int i = 0; i < 40; ++i)
      for (const auto &line : kCorpus) corpus << line << "\n";
  }
  const std::string program = cephalo::test::shell_quote(CEPHALO_TOKENIZER);
  const auto result = cephalo::test::run_command(
      dir.path(), program + " train --input 'corpus, with a comma.txt' --vocab-size 400 --out tok");
  BOOST_TEST_INFO(result.output);
  BOOST_TEST_REQUIRE(result.exit_code == 0);
  BOOST_TEST(result.output.find("<image> is 4") != std::string::npos);

  const auto tokenizer = Tokenizer::load(dir / "tok");
  const std::string model = read(dir / "tok" / "tokenizer.model");
  const auto sp = processor_of(model);
  BOOST_TEST(sp->GetPieceSize() == 400);
  BOOST_TEST(tokenizer.vocab_size() == 400);
  BOOST_TEST(tokenizer.unk_id() == 0);
  BOOST_TEST(tokenizer.bos_id() == 1);
  BOOST_TEST(tokenizer.eos_id() == 2);
  BOOST_TEST(tokenizer.token_id(kFakeImageToken) == 3);
  BOOST_TEST(tokenizer.token_id(kImageToken) == 4);
  BOOST_TEST(tokenizer.token_id(kEndOfUtterance) == 5);
  BOOST_TEST(sp->PieceToId(std::string(kImageToken)) == 4);
  BOOST_TEST(tokenizer.is_special(4));

  for (const auto &text : kSamples) {
    BOOST_TEST_CONTEXT(text)
    {
      std::vector<int> expected{1};
      const auto ids = sp->EncodeAsIds(text);
      expected.insert(expected.end(), ids.begin(), ids.end());
      BOOST_TEST(tokenizer.encode(text) == expected, boost::test_tools::per_element());
      BOOST_TEST(tokenizer.decode(tokenizer.encode(text), true) == text);
    }
  }

  // an Idefics2 prompt: the added tokens by id, the text between them as SentencePiece encodes
  // it, with the dummy prefix only at the very start (add_dummy_prefix off for the rest: the
  // normalizer_spec field appended to the model, as protobuf merges it)
  const auto no_prefix = processor_of(model + std::string("\x1A\x02\x18\x00", 4));
  const auto prompt =
      expand_image_tokens(idefics2_chat({{"user", "Describe the crack.", 1}}, true), 2, false);
  const std::vector<int> expected = cat(cat(cat(cat({1}, sp->EncodeAsIds("User:")), {3, 4, 4, 3}),
                                            no_prefix->EncodeAsIds("Describe the crack.")),
                                        cat({5}, no_prefix->EncodeAsIds("\nAssistant:")));
  BOOST_TEST(tokenizer.encode(prompt) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(bad_arguments_exit_with_2_and_say_why)
{
  ScratchDir dir;
  const std::string program = cephalo::test::shell_quote(CEPHALO_TOKENIZER);
  const auto run = [&](const std::string &arguments) {
    return cephalo::test::run_command(dir.path(), program + " " + arguments);
  };
  const auto missing = run("train --input nowhere.txt --vocab-size 100 --out tok");
  BOOST_TEST(missing.exit_code == 2);
  BOOST_TEST(missing.output.find("nowhere.txt: no such file") != std::string::npos);
  const auto vocab = run("train --input x.txt --vocab-size ten --out tok");
  BOOST_TEST(vocab.exit_code == 2);
  BOOST_TEST(vocab.output.find("--vocab-size needs a whole number") != std::string::npos);
  BOOST_TEST(run("fit --input x.txt").exit_code == 2);
  BOOST_TEST(run("train --vocab-size 100 --out tok").exit_code == 2);
  std::ofstream(dir / "empty.txt") << "\n\n";
  const auto empty = run("train --input empty.txt --vocab-size 100 --out tok");
  BOOST_TEST(empty.exit_code == 2);
  BOOST_TEST(empty.output.find("no text to train on") != std::string::npos);
  // a vocabulary larger than the corpus can fill is SentencePiece's error, passed on
  std::ofstream(dir / "tiny.txt") << "ab ab ab\n";
  const auto large = run("train --input tiny.txt --vocab-size 5000 --out tok");
  BOOST_TEST(large.exit_code == 2);
  BOOST_TEST(large.output.find("SentencePiece training failed") != std::string::npos);
}
