// SentencePiece BPE for the text, a table for the added tokens, and the Hugging Face fast
// tokenizer's rules for where SentencePiece's "▁" goes.
#include "cephalo/models/tokenizer.h"

#include "sentencepiece_model.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <unordered_map>

namespace cephalo::models {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";    // U+2581, SentencePiece's space
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";    // U+FFFD

struct AddedToken {
  std::string content;
  int id = -1;
  bool special = false;
  bool lstrip = false;    // swallows the whitespace before it (Hugging Face AddedToken)
  bool rstrip = false;    // swallows the whitespace after it
};

// Which runs of text get SentencePiece's dummy prefix "▁": what tokenizer.json's pre-tokenizer
// (Metaspace prepend_scheme) or legacy Prepend normalizer says.
struct PrefixRule {
  enum class Where { First, Always, Never } where = Where::First;
  bool unless_space = true;    // Metaspace adds none to text that starts with a space
};

enum class PieceKind { Text, Byte, Special };

struct Piece {
  PieceKind kind = PieceKind::Text;
  std::string surface;    // Text: "▁" as " "; Special: the piece itself
  char byte = 0;
};

std::string in_quotes(std::string_view text)
{
  return "'" + std::string(text) + "'";
}

// "▁" back to " ", as the fast tokenizer's Replace decoder does.
std::string with_spaces(std::string_view piece)
{
  std::string text;
  for (std::size_t i = 0; i < piece.size();) {
    if (piece.substr(i, kSpaceSymbol.size()) == kSpaceSymbol) {
      text += ' ';
      i += kSpaceSymbol.size();
    } else {
      text += piece[i++];
    }
  }
  return text;
}

bool is_space(char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string read_file(const fs::path &path)
{
  std::ifstream in(path, std::ios::binary);
  if (!in) throw TokenizerError(path.string() + ": cannot be opened");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::optional<json> read_json(const fs::path &path)
{
  if (!fs::exists(path)) return std::nullopt;
  const std::string text = read_file(path);
  json document;
  try {
    document = json::parse(text);
  } catch (const json::exception &e) {
    throw TokenizerError(path.string() + ": not valid JSON (" + e.what() + ")");
  }
  if (!document.is_object()) throw TokenizerError(path.string() + ": not a JSON object");
  return document;
}

bool flag(const json &object, const char *key, bool fallback, const std::string &file)
{
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) throw TokenizerError(file + ": " + key + " is not true or false");
  return it->get<bool>();
}

// bos_token and friends are a string or a serialized AddedToken ({"content": ..., ...}).
std::optional<std::string> token_name(const json &value, const std::string &file,
                                      const std::string &key)
{
  if (value.is_null()) return std::nullopt;
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object()) {
    const auto content = value.find("content");
    if (content != value.end() && content->is_string()) return content->get<std::string>();
  }
  throw TokenizerError(file + ": " + key +
                       " is neither a string nor an object with a content string");
}

AddedToken added_token_of(const json &value, int id, const std::string &file,
                          const std::string &where)
{
  if (!value.is_object()) throw TokenizerError(file + ": " + where + " is not an object");
  const auto content = value.find("content");
  if (content == value.end() || !content->is_string())
    throw TokenizerError(file + ": " + where + " has no content string");
  AddedToken token;
  token.content = content->get<std::string>();
  token.id = id;
  token.special = flag(value, "special", false, file);
  token.lstrip = flag(value, "lstrip", false, file);
  token.rstrip = flag(value, "rstrip", false, file);
  return token;
}

// The added tokens of all files, checked against each other: one id per content and one
// content per id.
class AddedTokenTable {
 public:
  void add(AddedToken token, const std::string &file)
  {
    if (token.content.empty())
      throw TokenizerError(file + ": added token " + std::to_string(token.id) + " is empty");
    if (token.id < 0)
      throw TokenizerError(file + ": added token " + in_quotes(token.content) + " has id " +
                           std::to_string(token.id) + ", expected a non-negative integer");
    const auto by_content = ids_.find(token.content);
    if (by_content != ids_.end() && by_content->second != token.id)
      throw TokenizerError(file + ": added token " + in_quotes(token.content) + " has id " +
                           std::to_string(token.id) + " but " + files_.at(by_content->second) +
                           " gives it id " + std::to_string(by_content->second));
    const auto by_id = tokens_.find(token.id);
    if (by_id == tokens_.end()) {
      ids_[token.content] = token.id;
      files_[token.id] = file;
      tokens_[token.id] = std::move(token);
      return;
    }
    AddedToken &known = by_id->second;
    if (known.content != token.content)
      throw TokenizerError(file + ": id " + std::to_string(token.id) + " is " +
                           in_quotes(token.content) + " but " + files_.at(token.id) + " says " +
                           in_quotes(known.content));
    known.special = known.special || token.special;
    known.lstrip = known.lstrip || token.lstrip;
    known.rstrip = known.rstrip || token.rstrip;
  }

  AddedToken *find(std::string_view content)
  {
    const auto it = ids_.find(std::string(content));
    return it == ids_.end() ? nullptr : &tokens_.at(it->second);
  }

  std::map<int, AddedToken> take() { return std::move(tokens_); }

 private:
  std::map<int, AddedToken> tokens_;
  std::unordered_map<std::string, int> ids_;
  std::map<int, std::string> files_;    // where each id was first declared
};

// The special tokens named in tokenizer_config.json and special_tokens_map.json.
struct NamedToken {
  std::string name;
  std::string file;
};

void read_special_names(const json &document, const std::string &file,
                        std::map<std::string, NamedToken> &named,
                        std::vector<NamedToken> &additional)
{
  for (const char *key : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
    const auto it = document.find(key);
    if (it == document.end()) continue;
    const auto name = token_name(*it, file, key);
    if (!name) continue;
    const auto [known, inserted] = named.emplace(key, NamedToken{*name, file});
    if (!inserted && known->second.name != *name)
      throw TokenizerError(file + ": " + key + " is " + in_quotes(*name) + " but " +
                           known->second.file + " says " + in_quotes(known->second.name));
  }
  const auto extra = document.find("additional_special_tokens");
  if (extra == document.end() || extra->is_null()) return;
  if (!extra->is_array()) throw TokenizerError(file + ": additional_special_tokens is not a list");
  for (const auto &value : *extra)
    if (const auto name = token_name(value, file, "additional_special_tokens"))
      additional.push_back({*name, file});
}

// Where tokenizer.json's Metaspace pre-tokenizer or legacy Prepend("▁") normalizer puts "▁".
PrefixRule tokenizer_json_rule(const json &tokenizer_json, const std::string &file)
{
  using Where = PrefixRule::Where;
  const auto of_type = [](const json &node, const char *type, const char *list) -> const json * {
    if (!node.is_object()) return nullptr;
    if (node.value("type", "") == type) return &node;
    const auto children = node.find(list);
    if (node.value("type", "") != "Sequence" || children == node.end() || !children->is_array())
      return nullptr;
    for (const auto &child : *children)
      if (child.is_object() && child.value("type", "") == type) return &child;
    return nullptr;
  };
  if (const auto pre = tokenizer_json.find("pre_tokenizer"); pre != tokenizer_json.end())
    if (const json *metaspace = of_type(*pre, "Metaspace", "pretokenizers")) {
      // older files say add_prefix_space instead of prepend_scheme
      const std::string scheme = metaspace->value(
          "prepend_scheme", metaspace->value("add_prefix_space", true) ? "always" : "never");
      if (scheme == "first") return {Where::First, true};
      if (scheme == "always") return {Where::Always, true};
      if (scheme == "never") return {Where::Never, true};
      throw TokenizerError(file + ": unknown Metaspace prepend_scheme " + in_quotes(scheme));
    }
  if (const auto norm = tokenizer_json.find("normalizer"); norm != tokenizer_json.end())
    if (of_type(*norm, "Prepend", "normalizers")) return {Where::Always, false};
  return {Where::Never, true};
}

// tokenizer.json says where "▁" goes; without it, tokenizer_config.json's legacy flag does, as
// in transformers (legacy defaults to true there: every run of text gets the prefix).
PrefixRule prefix_rule(const std::optional<json> &tokenizer_json, const std::string &json_file,
                       const std::optional<json> &config, const std::string &config_file)
{
  using Where = PrefixRule::Where;
  if (!tokenizer_json) {
    const bool legacy = config ? flag(*config, "legacy", true, config_file) : true;
    return legacy ? PrefixRule{Where::Always, false} : PrefixRule{Where::First, true};
  }
  try {
    return tokenizer_json_rule(*tokenizer_json, json_file);
  } catch (const json::exception &e) {
    throw TokenizerError(json_file + ": unexpected pre_tokenizer or normalizer (" + e.what() + ")");
  }
}

// Appends the bytes of byte tokens as UTF-8, each byte of an invalid sequence as U+FFFD. With
// hold_incomplete, a sequence cut short at the end stays in `bytes` for more to complete it.
void append_bytes(std::string &text, std::string &bytes, bool hold_incomplete)
{
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto [state, length] = utf8_at(bytes, i);
    if (state == Utf8::Truncated && hold_incomplete) break;
    if (state == Utf8::Valid)
      text.append(bytes, i, length);
    else
      text += kReplacement;
    i += length;
  }
  bytes.erase(0, i);
}

}    // namespace

struct Tokenizer::Impl {
  std::string model_file;
  SentencePieceModel sentencepiece;
  PrefixRule prefix;
  std::vector<Piece> pieces;    // by SentencePiece id
  std::map<int, AddedToken> added;
  std::unordered_map<std::string, int> added_ids;
  std::array<std::vector<const AddedToken *>, 256> added_by_first_byte;    // longest first
  int bos = -1, eos = -1, unk = -1, pad = -1;
  bool add_bos_token = true, add_eos_token = false;
  int vocab_size = 0;

  const AddedToken *added_token_at(std::string_view text, std::size_t pos) const
  {
    for (const AddedToken *token : added_by_first_byte[static_cast<unsigned char>(text[pos])])
      if (text.substr(pos, token->content.size()) == token->content) return token;
    return nullptr;
  }

  // SentencePiece prepends "▁" to every text it encodes; the fast tokenizer's "first" scheme
  // only to the text at the very start of the input, so "<image>Describe" encodes "Describe",
  // not "▁Describe". Dropping or trimming the first piece afterwards would not do: "▁Describe"
  // may be one piece where "Describe" is two. So the run is encoded without the prefix, as
  // transformers' slow LlamaTokenizer (legacy=False) does with add_dummy_prefix turned off.
  void encode_text(std::string_view text, bool at_start, std::vector<int> &ids) const
  {
    if (text.empty()) return;
    using Where = PrefixRule::Where;
    bool dummy_prefix = prefix.where == Where::Always || (prefix.where == Where::First && at_start);
    if (prefix.unless_space && (text.front() == ' ' || text.substr(0, 3) == kSpaceSymbol))
      dummy_prefix = false;
    sentencepiece.encode(text, dummy_prefix, ids);
  }

  std::string decode(const std::vector<int> &ids, bool skip_special, bool hold_incomplete) const
  {
    std::string text, bytes;
    for (const int id : ids) {
      if (const auto token = added.find(id); token != added.end()) {
        if (skip_special && token->second.special) continue;
        append_bytes(text, bytes, false);
        text += token->second.content;
        continue;
      }
      if (id < 0 || id >= static_cast<int>(pieces.size()))
        throw std::out_of_range("token id " + std::to_string(id) + " is not in the vocabulary of " +
                                model_file + " and its added tokens");
      const Piece &piece = pieces[id];
      if (piece.kind == PieceKind::Byte) {
        bytes += piece.byte;
        continue;
      }
      if (piece.kind == PieceKind::Special && skip_special) continue;
      append_bytes(text, bytes, false);
      text += piece.surface;
    }
    append_bytes(text, bytes, hold_incomplete);
    // The fast tokenizer's decoder strips one leading space: the dummy prefix's.
    if (prefix.where != PrefixRule::Where::Never && sentencepiece.add_dummy_prefix() &&
        !text.empty() && text.front() == ' ')
      text.erase(0, 1);
    return text;
  }
};

Tokenizer::Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

Tokenizer Tokenizer::load(const fs::path &model_dir)
{
  if (!fs::is_directory(model_dir))
    throw TokenizerError(model_dir.string() +
                         ": not a folder (expected a Hugging Face model folder)");
  auto impl = std::make_shared<Impl>();

  const fs::path model_path = model_dir / "tokenizer.model";
  impl->model_file = model_path.string();
  if (!fs::exists(model_path))
    throw TokenizerError(impl->model_file + ": not found (the SentencePiece model is required)");
  impl->sentencepiece = SentencePieceModel::parse(read_file(model_path), impl->model_file);

  const SentencePieceModel &sp = impl->sentencepiece;
  using Type = SentencePieceModel::PieceType;
  impl->pieces.resize(sp.size());
  for (int id = 0; id < sp.size(); ++id) {
    Piece &piece = impl->pieces[id];
    const auto &source = sp.piece(id);
    if (source.type == Type::Byte) {    // "<0xAB>"
      piece.kind = PieceKind::Byte;
      piece.byte = static_cast<char>(std::stoi(source.text.substr(3, 2), nullptr, 16));
    } else if (source.type == Type::Control || source.type == Type::Unknown) {
      piece.kind = PieceKind::Special;
      piece.surface = source.text;
    } else {
      piece.surface = with_spaces(source.text);
    }
  }
  const std::string tokenizer_json_file = (model_dir / "tokenizer.json").string();
  const std::string config_file = (model_dir / "tokenizer_config.json").string();
  const std::string added_file = (model_dir / "added_tokens.json").string();
  const std::string special_file = (model_dir / "special_tokens_map.json").string();
  const auto tokenizer_json = read_json(tokenizer_json_file);
  const auto config = read_json(config_file);
  const auto added_json = read_json(added_file);
  const auto special_map = read_json(special_file);

  AddedTokenTable table;
  if (tokenizer_json) {
    const auto list = tokenizer_json->find("added_tokens");
    if (list != tokenizer_json->end() && !list->is_null()) {
      if (!list->is_array())
        throw TokenizerError(tokenizer_json_file + ": added_tokens is not a list");
      for (const auto &entry : *list) {
        const auto id = entry.is_object() ? entry.find("id") : entry.end();
        if (id == entry.end() || !id->is_number_unsigned() ||
            id->get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<int>::max()))
          throw TokenizerError(tokenizer_json_file +
                               ": an added_tokens entry has no non-negative integer id");
        const int value = id->get<int>();
        table.add(added_token_of(entry, value, tokenizer_json_file,
                                 "added token " + std::to_string(value)),
                  tokenizer_json_file);
      }
    }
  }
  if (config) {
    const auto decoder = config->find("added_tokens_decoder");
    if (decoder != config->end() && !decoder->is_null()) {
      if (!decoder->is_object())
        throw TokenizerError(config_file + ": added_tokens_decoder is not an object");
      for (const auto &[key, value] : decoder->items()) {
        const bool digits = !key.empty() && key.size() < 10 &&
                            key.find_first_not_of("0123456789") == std::string::npos;
        if (!digits)
          throw TokenizerError(config_file + ": added_tokens_decoder key " + in_quotes(key) +
                               " is not a token id");
        table.add(
            added_token_of(value, std::stoi(key), config_file, "added_tokens_decoder entry " + key),
            config_file);
      }
    }
  }
  if (added_json) {
    for (const auto &[content, id] : added_json->items()) {
      if (!id.is_number_unsigned() ||
          id.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<int>::max()))
        throw TokenizerError(added_file + ": the id of " + in_quotes(content) +
                             " is not a non-negative integer");
      table.add({content, id.get<int>()}, added_file);
    }
  }

  // Named special tokens are matched in text like added tokens (so "<s>" in a prompt is BOS).
  std::map<std::string, NamedToken> named;
  std::vector<NamedToken> additional;
  if (config) read_special_names(*config, config_file, named, additional);
  if (special_map) read_special_names(*special_map, special_file, named, additional);
  const auto special_id = [&](const NamedToken &token, const std::string &key) {
    if (AddedToken *added = table.find(token.name)) {
      added->special = true;
      return added->id;
    }
    const int id = sp.piece_id(token.name);
    if (id < 0)
      throw TokenizerError(token.file + ": " + key + " " + in_quotes(token.name) +
                           " is neither a piece of tokenizer.model nor an added token");
    table.add({token.name, id, true}, token.file);
    return id;
  };
  const auto resolve = [&](const std::string &key, int sp_default) {
    if (const auto it = named.find(key); it != named.end()) return special_id(it->second, key);
    if (sp_default >= 0) table.add({sp.piece(sp_default).text, sp_default, true}, impl->model_file);
    return sp_default;
  };
  impl->bos = resolve("bos_token", sp.bos_id());
  impl->eos = resolve("eos_token", sp.eos_id());
  impl->unk = resolve("unk_token", sp.unk_id());
  impl->pad = resolve("pad_token", sp.pad_id());
  for (const auto &token : additional) special_id(token, "additional_special_tokens entry");

  if (config) {
    impl->add_bos_token = flag(*config, "add_bos_token", true, config_file);
    impl->add_eos_token = flag(*config, "add_eos_token", false, config_file);
  }
  impl->prefix = prefix_rule(tokenizer_json, tokenizer_json_file, config, config_file);

  impl->added = table.take();
  impl->vocab_size = sp.size();
  for (const auto &[id, token] : impl->added) {
    impl->added_ids[token.content] = id;
    impl->added_by_first_byte[static_cast<unsigned char>(token.content[0])].push_back(&token);
    impl->vocab_size = std::max(impl->vocab_size, id + 1);
  }
  for (auto &candidates : impl->added_by_first_byte)
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const AddedToken *a, const AddedToken *b) {
                       return a->content.size() > b->content.size();
                     });
  return Tokenizer(std::move(impl));
}

std::vector<int> Tokenizer::encode(std::string_view text, bool add_bos) const
{
  const Impl &impl = *impl_;
  std::vector<int> ids;
  if (add_bos && impl.add_bos_token) {
    if (impl.bos < 0)
      throw TokenizerError(impl.model_file + ": add_bos_token is set but there is no BOS token");
    ids.push_back(impl.bos);
  }
  // Split on added tokens, leftmost and longest first; the runs between go to SentencePiece.
  std::size_t run = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    const AddedToken *token = impl.added_token_at(text, pos);
    if (!token) {
      ++pos;
      continue;
    }
    std::size_t run_end = pos, next = pos + token->content.size();
    if (token->lstrip)
      while (run_end > run && is_space(text[run_end - 1])) --run_end;
    if (token->rstrip)
      while (next < text.size() && is_space(text[next])) ++next;
    impl.encode_text(text.substr(run, run_end - run), run == 0, ids);
    ids.push_back(token->id);
    run = pos = next;
  }
  impl.encode_text(text.substr(run), run == 0, ids);
  if (add_bos && impl.add_eos_token) {
    if (impl.eos < 0)
      throw TokenizerError(impl.model_file + ": add_eos_token is set but there is no EOS token");
    ids.push_back(impl.eos);
  }
  return ids;
}

std::string Tokenizer::decode(const std::vector<int> &ids, bool skip_special) const
{
  return impl_->decode(ids, skip_special, false);
}

std::string Tokenizer::token_text(int id) const
{
  if (const auto token = impl_->added.find(id); token != impl_->added.end())
    return token->second.content;
  if (id < 0 || id >= static_cast<int>(impl_->pieces.size()))
    throw std::out_of_range("token id " + std::to_string(id) + " is not in the vocabulary of " +
                            impl_->model_file + " and its added tokens");
  return impl_->sentencepiece.piece(id).text;
}

int Tokenizer::token_id(std::string_view token) const
{
  if (const auto added = impl_->added_ids.find(std::string(token)); added != impl_->added_ids.end())
    return added->second;
  return impl_->sentencepiece.piece_id(token);
}

int Tokenizer::bos_id() const
{
  return impl_->bos;
}

int Tokenizer::eos_id() const
{
  return impl_->eos;
}

int Tokenizer::pad_id() const
{
  return impl_->pad;
}

int Tokenizer::unk_id() const
{
  return impl_->unk;
}

int Tokenizer::vocab_size() const
{
  return impl_->vocab_size;
}

bool Tokenizer::is_special(int id) const
{
  if (const auto token = impl_->added.find(id); token != impl_->added.end())
    return token->second.special;
  return id >= 0 && id < static_cast<int>(impl_->pieces.size()) &&
         impl_->pieces[id].kind == PieceKind::Special;
}

TokenStream::TokenStream(Tokenizer tokenizer, bool skip_special) :
    tokenizer_(std::move(tokenizer)), skip_special_(skip_special)
{
}

std::string TokenStream::push(int id)
{
  ids_.push_back(id);
  std::string text;
  try {
    text = tokenizer_.impl_->decode(ids_, skip_special_, true);
  } catch (const std::out_of_range &) {
    ids_.pop_back();    // an unknown id leaves the stream as it was
    throw;
  }
  std::string fresh = text.substr(emitted_);
  emitted_ = text.size();
  return fresh;
}

std::string TokenStream::flush()
{
  std::string rest = tokenizer_.impl_->decode(ids_, skip_special_, false).substr(emitted_);
  ids_.clear();
  emitted_ = 0;
  return rest;
}

}    // namespace cephalo::models
