// config.json of Idefics2 checkpoints: reading with errors that name the key, and writing.
#include "cephalo/models/config.h"

#include "config_file.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

namespace cephalo::models {
namespace {

using nlohmann::json;

// Reads optional keys of one JSON object, naming "file: section.key" in every error.
class Reader {
 public:
  Reader(const json &object, std::string where) : object_(object), where_(std::move(where)) {}

  void integer(const char *key, int &value, int min = 1) const
  {
    const json *v = find(key);
    if (!v) return;
    if (!v->is_number_integer()) fail(key, "must be an integer");
    const auto n = v->get<long long>();
    if (n < min || n > 1LL << 30) fail(key, std::to_string(n) + " is out of range");
    value = static_cast<int>(n);
  }
  void real(const char *key, double &value) const
  {
    const json *v = find(key);
    if (!v) return;
    if (!v->is_number()) fail(key, "must be a number");
    value = v->get<double>();
    if (!(value > 0)) fail(key, "must be positive");
  }
  void text(const char *key, std::string &value) const
  {
    const json *v = find(key);
    if (!v) return;
    if (!v->is_string()) fail(key, "must be a string");
    value = v->get<std::string>();
  }
  void boolean(const char *key, bool &value) const
  {
    const json *v = find(key);
    if (!v) return;
    if (!v->is_boolean()) fail(key, "must be true or false");
    value = v->get<bool>();
  }
  // A token id: an integer, or (as some configs write eos) a list whose first entry is used.
  void token(const char *key, int &value) const
  {
    const json *v = find(key);
    if (!v) return;
    if (v->is_array() && !v->empty() && (*v)[0].is_number_integer()) v = &(*v)[0];
    if (!v->is_number_integer()) fail(key, "must be a token id");
    value = v->get<int>();
  }
  bool present(const char *key) const { return object_.contains(key); }
  const json *find(const char *key) const
  {
    const auto it = object_.find(key);
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }
  [[noreturn]] void fail(const std::string &key, const std::string &what) const
  {
    throw ConfigError(where_ + "." + key + ": " + what);
  }
  const std::string &where() const { return where_; }

 private:
  const json &object_;
  std::string where_;
};

const json &section(const json &root, const char *key, const std::string &where)
{
  static const json empty = json::object();
  const auto it = root.find(key);
  if (it == root.end() || it->is_null()) return empty;
  if (!it->is_object()) throw ConfigError(where + ": " + key + " must be an object");
  return *it;
}

void check_activation(const std::string &name, const std::string &where)
{
  if (name != "silu" && name != "gelu_pytorch_tanh" && name != "gelu")
    throw ConfigError(where + ": activation '" + name +
                      "' is not supported (silu, gelu, gelu_pytorch_tanh)");
}

}    // namespace

Idefics2Config Idefics2Config::parse(const std::string &json_text, const std::string &where)
{
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception &e) {
    throw ConfigError(where + ": not valid JSON: " + e.what());
  }
  if (!root.is_object()) throw ConfigError(where + ": not a JSON object");
  Idefics2Config c;
  const Reader top(root, where);
  std::string model_type;
  top.text("model_type", model_type);
  if (model_type != "idefics2")
    throw ConfigError(where + ": model_type is '" + model_type +
                      "'; this runtime reads Idefics2 checkpoints (model_type \"idefics2\")");
  top.token("image_token_id", c.image_token_id);
  top.boolean("tie_word_embeddings", c.tie_word_embeddings);
  top.text("torch_dtype", c.torch_dtype);
  top.text("dtype", c.torch_dtype);

  const Reader v(section(root, "vision_config", where), where + ": vision_config");
  v.integer("hidden_size", c.vision.hidden_size);
  v.integer("intermediate_size", c.vision.intermediate_size);
  v.integer("num_hidden_layers", c.vision.num_hidden_layers);
  v.integer("num_attention_heads", c.vision.num_attention_heads);
  v.integer("num_channels", c.vision.num_channels);
  v.integer("image_size", c.vision.image_size);
  v.integer("patch_size", c.vision.patch_size);
  v.text("hidden_act", c.vision.hidden_act);
  v.real("layer_norm_eps", c.vision.layer_norm_eps);

  const json &text_json = section(root, "text_config", where);
  if (text_json.empty()) {
    // Idefics2Config's own text defaults when the section is missing
    c.text.rms_norm_eps = 1e-5;
    c.text.max_position_embeddings = 32768;
  }
  const Reader t(text_json, where + ": text_config");
  std::string text_type = "mistral";
  t.text("model_type", text_type);
  if (text_type != "mistral")
    throw ConfigError(where + ": text_config.model_type is '" + text_type +
                      "'; Idefics2 checkpoints have a Mistral decoder");
  t.integer("vocab_size", c.text.vocab_size);
  t.integer("hidden_size", c.text.hidden_size);
  t.integer("intermediate_size", c.text.intermediate_size);
  t.integer("num_hidden_layers", c.text.num_hidden_layers);
  t.integer("num_attention_heads", c.text.num_attention_heads);
  // as MistralConfig: 8 when the key is absent, one per query head when it is null
  if (t.present("num_key_value_heads") && !t.find("num_key_value_heads"))
    c.text.num_key_value_heads = c.text.num_attention_heads;
  t.integer("num_key_value_heads", c.text.num_key_value_heads);
  c.text.head_dim = c.text.hidden_size / c.text.num_attention_heads;
  t.integer("head_dim", c.text.head_dim);
  t.text("hidden_act", c.text.hidden_act);
  t.real("rms_norm_eps", c.text.rms_norm_eps);
  t.real("rope_theta", c.text.rope_theta);
  // transformers 5 writes RoPE settings as rope_parameters {rope_type, rope_theta}.
  if (const json *rope = t.find("rope_parameters")) {
    if (!rope->is_object()) t.fail("rope_parameters", "must be an object");
    const Reader r(*rope, t.where() + ".rope_parameters");
    std::string type = "default";
    r.text("rope_type", type);
    if (type != "default")
      r.fail("rope_type", "'" + type + "' is not supported (only default RoPE)");
    r.real("rope_theta", c.text.rope_theta);
  }
  if (const json *scaling = t.find("rope_scaling"); scaling && !scaling->empty())
    t.fail("rope_scaling", "scaled RoPE is not supported");
  // 4096 when the key is absent; null turns the window off
  if (t.present("sliding_window") && !t.find("sliding_window")) c.text.sliding_window.reset();
  if (t.find("sliding_window")) {
    int window = 0;
    t.integer("sliding_window", window);
    c.text.sliding_window = window;
  }
  t.integer("max_position_embeddings", c.text.max_position_embeddings);
  t.token("bos_token_id", c.text.bos_token_id);
  t.token("eos_token_id", c.text.eos_token_id);
  t.token("pad_token_id", c.text.pad_token_id);
  bool text_tie = c.tie_word_embeddings;
  t.boolean("tie_word_embeddings", text_tie);
  c.tie_word_embeddings = c.tie_word_embeddings || text_tie;
  // Older checkpoints keep the image token in the text config.
  if (!top.find("image_token_id")) t.token("image_token_id", c.image_token_id);

  const Reader p(section(root, "perceiver_config", where), where + ": perceiver_config");
  p.text("hidden_act", c.perceiver.hidden_act);
  p.integer("resampler_n_latents", c.perceiver.resampler_n_latents);
  p.integer("resampler_depth", c.perceiver.resampler_depth);
  p.integer("resampler_n_heads", c.perceiver.resampler_n_heads);
  p.integer("resampler_head_dim", c.perceiver.resampler_head_dim);
  p.integer("num_key_value_heads", c.perceiver.num_key_value_heads);
  // As Idefics2Config does: a perceiver hidden_size (4096 when absent) that differs from the
  // text model's was a default, and is replaced by the text model's, with its norm epsilon.
  int perceiver_hidden = 4096;
  p.integer("hidden_size", perceiver_hidden);
  p.real("rms_norm_eps", c.perceiver.rms_norm_eps);
  if (perceiver_hidden != c.text.hidden_size) c.perceiver.rms_norm_eps = c.text.rms_norm_eps;

  c.validate(where);
  return c;
}

Idefics2Config Idefics2Config::load(const std::filesystem::path &file)
{
  return parse(read_config_file(file), file.string());
}

void Idefics2Config::validate(const std::string &where) const
{
  const auto need = [&](bool ok, const std::string &what) {
    if (!ok) throw ConfigError(where + ": " + what);
  };
  need(vision.hidden_size % vision.num_attention_heads == 0,
       "vision_config.hidden_size must be a multiple of num_attention_heads");
  need(vision.image_size >= vision.patch_size,
       "vision_config.image_size must be at least patch_size");
  need(perceiver.resampler_n_heads % perceiver.num_key_value_heads == 0,
       "perceiver_config.resampler_n_heads must be a multiple of num_key_value_heads");
  need(text.num_attention_heads % text.num_key_value_heads == 0,
       "text_config.num_attention_heads must be a multiple of num_key_value_heads");
  need(text.head_dim % 2 == 0, "text_config.head_dim must be even (RoPE rotates pairs)");
  need(image_token_id >= 0 && image_token_id < text.vocab_size,
       "image_token_id " + std::to_string(image_token_id) + " is outside the vocabulary of " +
           std::to_string(text.vocab_size));
  need(vision.num_channels == 3, "vision_config.num_channels must be 3 (RGB images)");
  check_activation(vision.hidden_act, where + ": vision_config.hidden_act");
  check_activation(perceiver.hidden_act, where + ": perceiver_config.hidden_act");
  check_activation(text.hidden_act, where + ": text_config.hidden_act");
}

std::string Idefics2Config::to_json() const
{
  nlohmann::ordered_json root;
  root["architectures"] = {"Idefics2ForConditionalGeneration"};
  root["model_type"] = "idefics2";
  root["image_token_id"] = image_token_id;
  root["tie_word_embeddings"] = tie_word_embeddings;
  root["torch_dtype"] = torch_dtype;
  root["vision_config"] = {{"model_type", "idefics2_vision"},
                           {"hidden_size", vision.hidden_size},
                           {"intermediate_size", vision.intermediate_size},
                           {"num_hidden_layers", vision.num_hidden_layers},
                           {"num_attention_heads", vision.num_attention_heads},
                           {"num_channels", vision.num_channels},
                           {"image_size", vision.image_size},
                           {"patch_size", vision.patch_size},
                           {"hidden_act", vision.hidden_act},
                           {"layer_norm_eps", vision.layer_norm_eps}};
  root["perceiver_config"] = {{"model_type", "idefics2_perceiver"},
                              {"hidden_size", text.hidden_size},
                              {"hidden_act", perceiver.hidden_act},
                              {"resampler_n_latents", perceiver.resampler_n_latents},
                              {"resampler_depth", perceiver.resampler_depth},
                              {"resampler_n_heads", perceiver.resampler_n_heads},
                              {"resampler_head_dim", perceiver.resampler_head_dim},
                              {"num_key_value_heads", perceiver.num_key_value_heads},
                              {"rms_norm_eps", perceiver.rms_norm_eps}};
  nlohmann::ordered_json t = {{"model_type", "mistral"},
                              {"vocab_size", text.vocab_size},
                              {"hidden_size", text.hidden_size},
                              {"intermediate_size", text.intermediate_size},
                              {"num_hidden_layers", text.num_hidden_layers},
                              {"num_attention_heads", text.num_attention_heads},
                              {"num_key_value_heads", text.num_key_value_heads},
                              {"head_dim", text.head_dim},
                              {"hidden_act", text.hidden_act},
                              {"rms_norm_eps", text.rms_norm_eps},
                              {"rope_theta", text.rope_theta},
                              {"max_position_embeddings", text.max_position_embeddings},
                              {"bos_token_id", text.bos_token_id},
                              {"eos_token_id", text.eos_token_id},
                              {"pad_token_id", text.pad_token_id},
                              {"tie_word_embeddings", tie_word_embeddings}};
  t["sliding_window"] = text.sliding_window ? nlohmann::ordered_json(*text.sliding_window)
                                            : nlohmann::ordered_json(nullptr);
  root["text_config"] = t;
  return root.dump(2) + "\n";
}

void Idefics2Config::save(const std::filesystem::path &file) const
{
  std::ofstream out(file, std::ios::trunc);
  out << to_json();
  if (!out.flush()) throw ConfigError(file.string() + ": cannot write");
}

}    // namespace cephalo::models
