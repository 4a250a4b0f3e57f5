// A SentencePiece BPE model (tokenizer.model) read and applied without libsentencepiece: Debian's
// build of it exports a bundled protobuf that clashes with libtorch's libprotobuf in one process.
#pragma once

#include "cephalo/models/tokenizer.h"

#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace cephalo::models {

// The UTF-8 sequence at s[i] by Table 3-7 of the Unicode standard (no overlong forms, no
// surrogates, nothing above U+10FFFF): valid with its length, invalid (length 1), or a valid
// start that the end of `s` cuts short (length 1).
enum class Utf8 { Valid, Invalid, Truncated };
std::pair<Utf8, std::size_t> utf8_at(std::string_view s, std::size_t i);

class SentencePieceModel {
 public:
  enum class PieceType {
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6
  };
  struct Piece {
    std::string text;
    float score = 0;
    PieceType type = PieceType::Normal;
  };

  // Parses a serialized ModelProto. Throws TokenizerError naming `file` for a damaged file and
  // for what SentencePiece can do but this class does not (unigram models, normalizers that
  // rewrite characters, whitespace as suffix).
  static SentencePieceModel parse(std::string_view bytes, const std::string &file);

  // Appends the ids of `text` as SentencePiece's Encode does; with dummy_prefix false, as it does
  // with normalizer_spec.add_dummy_prefix turned off.
  void encode(std::string_view text, bool dummy_prefix, std::vector<int> &ids) const;

  int size() const { return static_cast<int>(pieces_.size()); }
  const Piece &piece(int id) const { return pieces_[id]; }
  int piece_id(std::string_view text) const;    // -1 if no piece has that text
  bool add_dummy_prefix() const { return add_dummy_prefix_; }

  int unk_id() const { return unk_id_; }    // the piece of type Unknown; every model has one
  // As SentencePieceProcessor: the control pieces named in trainer_spec, -1 where there is none.
  int bos_id() const { return bos_id_; }
  int eos_id() const { return eos_id_; }
  int pad_id() const { return pad_id_; }

 private:
  std::string normalize(std::string_view text, bool dummy_prefix) const;
  void encode_normalized(std::string_view normalized, std::vector<int> &ids) const;
  std::size_t user_defined_at(std::string_view text, std::size_t pos) const;
  int merge_id(std::string_view text) const;    // -1 unless a normal, user-defined or unused piece

  std::vector<Piece> pieces_;
  std::unordered_map<std::string, int> ids_;
  std::vector<std::string> user_defined_;    // longest first
  int byte_ids_[256] = {};
  bool byte_fallback_ = false;
  bool add_dummy_prefix_ = true;
  bool remove_extra_whitespaces_ = true;
  bool escape_whitespaces_ = true;
  int unk_id_ = -1, bos_id_ = -1, eos_id_ = -1, pad_id_ = -1;
};

}    // namespace cephalo::models
