// SentencePiece BPE: the ModelProto read from its protobuf wire format, the identity normalizer,
// and the merge loop of SentencePiece's bpe_model.cc (highest score first, leftmost on ties).
#include "sentencepiece_model.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <queue>

namespace cephalo::models {
namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";    // U+2581
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";    // U+FFFD

// Field numbers of sentencepiece_model.proto.
namespace field {
constexpr std::uint64_t kPieces = 1, kTrainerSpec = 2, kNormalizerSpec = 3;
constexpr std::uint64_t kPieceText = 1, kPieceScore = 2, kPieceType = 3;
constexpr std::uint64_t kModelType = 3, kWhitespaceAsSuffix = 24, kByteFallback = 35;
constexpr std::uint64_t kBosPiece = 46, kEosPiece = 47, kPadPiece = 48;
constexpr std::uint64_t kNormalizerName = 1, kCharsMap = 2, kAddDummyPrefix = 3;
constexpr std::uint64_t kRemoveExtraWhitespaces = 4, kEscapeWhitespaces = 5;
}    // namespace field
constexpr std::uint64_t kBpe = 2;

struct Field {
  std::uint64_t number = 0;
  int wire = 0;
  std::uint64_t varint = 0;    // wire type 0
  std::string_view bytes;      // wire types 1, 2 and 5
};

// The fields of one protobuf message, in order.
class WireReader {
 public:
  WireReader(std::string_view bytes, const std::string &file) : bytes_(bytes), file_(file) {}

  bool next(Field &field)
  {
    if (pos_ >= bytes_.size()) return false;
    const std::size_t start = pos_;
    const std::uint64_t key = varint();
    field = Field{key >> 3, static_cast<int>(key & 7), 0, {}};
    if (field.number == 0) fail("field number 0 at byte " + std::to_string(start));
    std::uint64_t length = 0;
    switch (field.wire) {
    case 0:
      field.varint = varint();
      return true;
    case 1:
      length = 8;
      break;
    case 2:
      length = varint();
      break;
    case 5:
      length = 4;
      break;
    default:
      fail("wire type " + std::to_string(field.wire) + " at byte " + std::to_string(start));
    }
    if (length > bytes_.size() - pos_)
      fail("the field at byte " + std::to_string(start) + " runs past the end");
    field.bytes = bytes_.substr(pos_, length);
    pos_ += length;
    return true;
  }

  [[noreturn]] void fail(const std::string &what) const
  {
    throw TokenizerError(file_ + ": not a SentencePiece model (" + what + ")");
  }

  void expect(const Field &field, int wire) const
  {
    if (field.wire != wire)
      fail("field " + std::to_string(field.number) + " has wire type " +
           std::to_string(field.wire) + ", expected " + std::to_string(wire));
  }

  std::string_view text(const Field &field) const
  {
    expect(field, 2);
    return field.bytes;
  }

  std::uint64_t number(const Field &field) const
  {
    expect(field, 0);
    return field.varint;
  }

  float real(const Field &field) const
  {
    expect(field, 5);
    std::uint32_t bits = 0;    // little-endian on the wire and on every machine we build for
    std::memcpy(&bits, field.bytes.data(), 4);
    float value = 0;
    std::memcpy(&value, &bits, 4);
    return value;
  }

 private:
  std::uint64_t varint()
  {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64 && pos_ < bytes_.size(); shift += 7) {
      const auto byte = static_cast<unsigned char>(bytes_[pos_++]);
      value |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
      if (!(byte & 0x80)) return value;
    }
    fail("a varint runs past the end or past 64 bits");
  }

  std::string_view bytes_;
  const std::string &file_;
  std::size_t pos_ = 0;
};

// The bytes one SentencePiece character takes (its OneCharLen: by the lead byte alone).
std::size_t char_length(char lead)
{
  constexpr unsigned char kLength[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLength[static_cast<unsigned char>(lead) >> 4];
}

}    // namespace

std::pair<Utf8, std::size_t> utf8_at(std::string_view s, std::size_t i)
{
  const auto lead = static_cast<unsigned char>(s[i]);
  if (lead < 0x80) return {Utf8::Valid, 1};
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;    // the range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return {Utf8::Invalid, 1};
  }
  for (std::size_t k = 1; k < length; ++k) {
    if (i + k >= s.size()) return {Utf8::Truncated, 1};
    const auto byte = static_cast<unsigned char>(s[i + k]);
    if (byte < (k == 1 ? low : 0x80) || byte > (k == 1 ? high : 0xBF)) return {Utf8::Invalid, 1};
  }
  return {Utf8::Valid, length};
}

SentencePieceModel SentencePieceModel::parse(std::string_view bytes, const std::string &file)
{
  SentencePieceModel model;
  std::uint64_t model_type = 1;    // the proto's default, UNIGRAM
  bool whitespace_as_suffix = false, has_trainer_spec = false, has_normalizer_spec = false;
  std::string bos_piece = "<s>", eos_piece = "</s>", pad_piece = "<pad>";
  std::string normalizer_name;
  std::size_t charsmap_bytes = 0;

  WireReader reader(bytes, file);
  Field top;
  while (reader.next(top)) {
    if (top.number == field::kPieces) {
      Piece piece;
      WireReader sub(reader.text(top), file);
      for (Field f; sub.next(f);) {
        if (f.number == field::kPieceText) piece.text = std::string(sub.text(f));
        if (f.number == field::kPieceScore) piece.score = sub.real(f);
        if (f.number == field::kPieceType) {
          const std::uint64_t type = sub.number(f);
          if (type < 1 || type > 6)
            reader.fail("piece " + std::to_string(model.pieces_.size()) + " has type " +
                        std::to_string(type));
          piece.type = static_cast<PieceType>(type);
        }
      }
      model.pieces_.push_back(std::move(piece));
    } else if (top.number == field::kTrainerSpec) {
      has_trainer_spec = true;
      WireReader sub(reader.text(top), file);
      for (Field f; sub.next(f);) {
        if (f.number == field::kModelType) model_type = sub.number(f);
        if (f.number == field::kWhitespaceAsSuffix) whitespace_as_suffix = sub.number(f) != 0;
        if (f.number == field::kByteFallback) model.byte_fallback_ = sub.number(f) != 0;
        if (f.number == field::kBosPiece) bos_piece = std::string(sub.text(f));
        if (f.number == field::kEosPiece) eos_piece = std::string(sub.text(f));
        if (f.number == field::kPadPiece) pad_piece = std::string(sub.text(f));
      }
    } else if (top.number == field::kNormalizerSpec) {
      has_normalizer_spec = true;
      WireReader sub(reader.text(top), file);
      for (Field f; sub.next(f);) {
        if (f.number == field::kNormalizerName) normalizer_name = std::string(sub.text(f));
        if (f.number == field::kCharsMap) charsmap_bytes = sub.text(f).size();
        if (f.number == field::kAddDummyPrefix) model.add_dummy_prefix_ = sub.number(f) != 0;
        if (f.number == field::kRemoveExtraWhitespaces)
          model.remove_extra_whitespaces_ = sub.number(f) != 0;
        if (f.number == field::kEscapeWhitespaces) model.escape_whitespaces_ = sub.number(f) != 0;
      }
    }
  }

  if (model.pieces_.empty() || !has_trainer_spec || !has_normalizer_spec)
    reader.fail("no pieces, trainer_spec or normalizer_spec: an empty or truncated file?");
  const auto unsupported = [&](const std::string &what) {
    throw TokenizerError(file + ": " + what +
                         "; only the BPE models of the Llama family (Llama, Mistral, Idefics2, "
                         "Phi-3) are supported");
  };
  if (model_type != kBpe) {
    const char *names[] = {"?", "UNIGRAM", "BPE", "WORD", "CHAR"};
    unsupported("model_type is " +
                (model_type < 5 ? std::string(names[model_type]) : std::to_string(model_type)));
  }
  if (charsmap_bytes > 0)
    unsupported("the normalizer '" + normalizer_name +
                "' rewrites characters (precompiled_charsmap)");
  if (whitespace_as_suffix) unsupported("treat_whitespace_as_suffix is set");

  std::fill(std::begin(model.byte_ids_), std::end(model.byte_ids_), -1);
  for (int id = 0; id < model.size(); ++id) {
    const Piece &piece = model.pieces_[id];
    if (piece.text.empty()) reader.fail("piece " + std::to_string(id) + " is empty");
    if (!std::isfinite(piece.score))    // merges are ordered by score
      reader.fail("piece " + std::to_string(id) + " has score " + std::to_string(piece.score));
    const auto [known, inserted] = model.ids_.emplace(piece.text, id);
    if (!inserted)
      reader.fail("piece '" + piece.text + "' is both id " + std::to_string(known->second) +
                  " and id " + std::to_string(id));
    if (piece.type == PieceType::UserDefined) model.user_defined_.push_back(piece.text);
    if (piece.type == PieceType::Unknown) {
      if (model.unk_id_ >= 0) reader.fail("two unknown pieces");
      model.unk_id_ = id;
    }
    if (piece.type == PieceType::Byte) {
      const bool hex = piece.text.size() == 6 && piece.text.compare(0, 3, "<0x") == 0 &&
                       piece.text[5] == '>' &&
                       std::isxdigit(static_cast<unsigned char>(piece.text[3])) &&
                       std::isxdigit(static_cast<unsigned char>(piece.text[4]));
      if (!hex || !model.byte_fallback_)
        reader.fail("byte piece '" + piece.text + "' is not <0xXX> or byte_fallback is off");
      model.byte_ids_[std::stoi(piece.text.substr(3, 2), nullptr, 16)] = id;
    }
  }
  if (model.unk_id_ < 0) reader.fail("no unknown piece");
  std::sort(model.user_defined_.begin(), model.user_defined_.end(),
            [](const std::string &a, const std::string &b) { return a.size() > b.size(); });

  // SentencePieceProcessor finds these by piece and type, not by the ids in trainer_spec.
  const auto named = [&](const std::string &text, PieceType type) {
    const int id = model.piece_id(text);
    return id >= 0 && model.pieces_[id].type == type ? id : -1;
  };
  model.bos_id_ = named(bos_piece, PieceType::Control);
  model.eos_id_ = named(eos_piece, PieceType::Control);
  model.pad_id_ = named(pad_piece, PieceType::Control);
  return model;
}

int SentencePieceModel::piece_id(std::string_view text) const
{
  const auto it = ids_.find(std::string(text));
  return it == ids_.end() ? -1 : it->second;
}

int SentencePieceModel::merge_id(std::string_view text) const
{
  const int id = piece_id(text);
  if (id < 0) return -1;
  const PieceType type = pieces_[id].type;
  return type == PieceType::Normal || type == PieceType::UserDefined || type == PieceType::Unused
             ? id
             : -1;
}

std::size_t SentencePieceModel::user_defined_at(std::string_view text, std::size_t pos) const
{
  for (const auto &symbol : user_defined_)
    if (text.compare(pos, symbol.size(), symbol) == 0) return symbol.size();
  return 0;
}

void SentencePieceModel::encode(std::string_view text, bool dummy_prefix,
                                std::vector<int> &ids) const
{
  encode_normalized(normalize(text, dummy_prefix), ids);
}

// The identity normalizer: malformed UTF-8 becomes U+FFFD, spaces become "▁", and with
// remove_extra_whitespaces, leading, trailing and repeated spaces go.
std::string SentencePieceModel::normalize(std::string_view text, bool dummy_prefix) const
{
  std::string out;
  if (remove_extra_whitespaces_)
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  if (text.empty()) return out;
  const std::string_view space = escape_whitespaces_ ? kSpaceSymbol : std::string_view(" ");
  if (dummy_prefix && add_dummy_prefix_) out += space;
  bool after_space = remove_extra_whitespaces_;
  for (std::size_t pos = 0; pos < text.size();) {
    const auto [state, length] = utf8_at(text, pos);
    const std::string_view character =
        state == Utf8::Valid ? text.substr(pos, length) : kReplacement;
    pos += length;
    if (character == " ") {
      if (!after_space) out += space;
      after_space = remove_extra_whitespaces_;
    } else {
      out += character;
      after_space = false;
    }
  }
  if (remove_extra_whitespaces_)
    while (out.size() >= space.size() &&
           out.compare(out.size() - space.size(), space.size(), space) == 0)
      out.resize(out.size() - space.size());
  return out;
}

void SentencePieceModel::encode_normalized(std::string_view text, std::vector<int> &ids) const
{
  if (text.empty()) return;
  struct Symbol {
    int prev, next;
    bool frozen;    // a user-defined symbol: never merged
    std::string_view piece;
  };
  struct Pair {
    int left, right;
    float score;
    std::size_t size;
  };
  const auto worse = [](const Pair &a, const Pair &b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::priority_queue<Pair, std::vector<Pair>, decltype(worse)> agenda(worse);
  // How each unused piece was made, to split it again: SentencePiece never outputs them.
  std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> unmerge;

  std::vector<Symbol> symbols;
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t length = user_defined_at(text, pos);
    const bool frozen = length > 0;
    if (!frozen) length = std::min(char_length(text[pos]), text.size() - pos);
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({index - 1, index + 1, frozen, text.substr(pos, length)});
    pos += length;
  }
  symbols.back().next = -1;

  const auto add_pair = [&](int left, int right) {
    if (left < 0 || right < 0 || symbols[left].frozen || symbols[right].frozen) return;
    const std::string_view merged(symbols[left].piece.data(),
                                  symbols[left].piece.size() + symbols[right].piece.size());
    const int id = merge_id(merged);
    if (id < 0) return;
    agenda.push({left, right, pieces_[id].score, merged.size()});
    if (pieces_[id].type == PieceType::Unused)
      unmerge[merged] = {symbols[left].piece, symbols[right].piece};
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) add_pair(i - 1, i);

  while (!agenda.empty()) {
    const Pair top = agenda.top();
    agenda.pop();
    Symbol &left = symbols[top.left];
    Symbol &right = symbols[top.right];
    // stale: one side was merged into something else since the pair was queued
    if (left.piece.empty() || right.piece.empty() ||
        left.piece.size() + right.piece.size() != top.size)
      continue;
    left.piece = std::string_view(left.piece.data(), top.size);
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.left;
    right.piece = {};
    add_pair(left.prev, top.left);
    add_pair(top.left, left.next);
  }

  bool after_unknown = false;
  const std::function<void(std::string_view)> emit = [&](std::string_view piece) {
    int id = piece_id(piece);
    if (id >= 0 && pieces_[id].type == PieceType::Unused) {
      const auto parts = unmerge.find(piece);
      if (parts != unmerge.end()) {
        emit(parts->second.first);
        emit(parts->second.second);
        return;
      }
    }
    if (id < 0) id = unk_id_;
    const bool unknown = pieces_[id].type == PieceType::Unknown;
    if (unknown && byte_fallback_) {
      for (const char byte : piece) {
        const int byte_id = byte_ids_[static_cast<unsigned char>(byte)];
        ids.push_back(byte_id >= 0 ? byte_id : unk_id_);
      }
    } else if (!(unknown && after_unknown)) {    // a run of unknown pieces is one <unk>
      ids.push_back(id);
    }
    after_unknown = unknown;
  };
  for (int index = 0; index >= 0; index = symbols[index].next) emit(symbols[index].piece);
}

}    // namespace cephalo::models
