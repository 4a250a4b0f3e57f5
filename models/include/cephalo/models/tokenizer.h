// The text tokenizer of a Hugging Face Llama-family checkpoint: SentencePiece's tokenizer.model
// plus the added tokens (<image>, <end_of_utterance>, ...) that the folder's JSON files declare.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace cephalo::models {

// A missing or malformed tokenizer file. The message names the file and what is wrong with it.
class TokenizerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Encodes and decodes as the Hugging Face *fast* Llama tokenizer does. Where SentencePiece's "▁"
// goes follows the folder: tokenizer.json's Metaspace prepend_scheme or legacy Prepend
// normalizer, else tokenizer_config.json's legacy flag. Idefics2 says "first": only text at the
// very start of the input gets it, not the text after an added token ("<image>Describe" encodes
// "Describe", not "▁Describe"). Immutable once loaded: copies share the loaded model, and every
// method may be called from several threads.
class Tokenizer {
 public:
  // Reads tokenizer.model (a SentencePiece BPE model, required) and, where present,
  // added_tokens.json, tokenizer_config.json (added_tokens_decoder, bos/eos/unk/pad_token,
  // add_bos_token, add_eos_token, legacy), special_tokens_map.json and tokenizer.json
  // (added_tokens, pre_tokenizer, normalizer).
  static Tokenizer load(const std::filesystem::path &model_dir);

  // Added tokens in the text become their ids (leftmost, longest first); the text between them
  // goes through SentencePiece. With add_bos, adds the special tokens the folder's config asks
  // for, as add_special_tokens does in transformers: BOS unless add_bos_token is false, and EOS
  // only if add_eos_token is true.
  std::vector<int> encode(std::string_view text, bool add_bos = true) const;

  // Text of the ids. Byte tokens are joined into UTF-8; an invalid or incomplete sequence
  // becomes U+FFFD per byte. Throws std::out_of_range for an id outside the vocabulary.
  std::string decode(const std::vector<int> &ids, bool skip_special = false) const;

  // The vocabulary entry as the checkpoint spells it ("▁the", "<0x0A>", "<image>").
  std::string token_text(int id) const;
  int token_id(std::string_view token) const;    // -1 if the token is not in the vocabulary

  int bos_id() const;    // -1 where the tokenizer has none
  int eos_id() const;
  int pad_id() const;
  int unk_id() const;
  int vocab_size() const;    // largest id + 1, added tokens included
  bool is_special(int id) const;

 private:
  struct Impl;
  friend class TokenStream;
  explicit Tokenizer(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

// Turns generated ids into text as they arrive. Each push decodes the whole sequence so far and
// returns the new suffix, so SentencePiece's leading-space rule and byte tokens come out exactly
// as decode() gives them; an incomplete UTF-8 sequence at the end is held back until it
// completes. The concatenation of all pushes and the flush equals decode(ids, skip_special).
class TokenStream {
 public:
  explicit TokenStream(Tokenizer tokenizer, bool skip_special = false);

  std::string push(int id);
  // Returns what was held back (an incomplete UTF-8 sequence becomes U+FFFD, as in decode) and
  // starts a new sequence.
  std::string flush();

  const std::vector<int> &ids() const { return ids_; }

 private:
  Tokenizer tokenizer_;
  bool skip_special_;
  std::vector<int> ids_;
  std::size_t emitted_ = 0;    // bytes of the decoded text already returned
};

}    // namespace cephalo::models
