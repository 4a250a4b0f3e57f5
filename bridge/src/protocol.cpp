// Requests and replies of the Cephalo protocol (see protocol.h and PROTOCOL.md).
#include "cephalo/bridge/protocol.h"

#include <cmath>
#include <limits>

namespace cephalo::bridge {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string &field, const std::string &what)
{
  throw ProtocolError("bad_request", field + ": " + what);
}

// Optional typed fields of a JSON object; a wrong type or value names the field.
class Fields {
 public:
  Fields(const json &object, std::string where) : object_(object), where_(std::move(where)) {}

  const json *find(const char *key) const
  {
    const auto it = object_.find(key);
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }
  std::string name(const char *key) const { return where_ + key; }

  void text(const char *key, std::string &value) const
  {
    if (const json *v = find(key)) {
      if (!v->is_string()) bad(name(key), "must be a string");
      value = v->get<std::string>();
    }
  }
  void integer(const char *key, long long &value, long long min, long long max) const
  {
    if (const json *v = find(key)) {
      if (!v->is_number_integer()) bad(name(key), "must be an integer");
      if (v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(max))
        bad(name(key), "must be from " + std::to_string(min) + " to " + std::to_string(max));
      const auto n = v->get<long long>();
      if (n < min || n > max)
        bad(name(key), "must be from " + std::to_string(min) + " to " + std::to_string(max));
      value = n;
    }
  }
  void boolean(const char *key, bool &value) const
  {
    if (const json *v = find(key)) {
      if (!v->is_boolean()) bad(name(key), "must be true or false");
      value = v->get<bool>();
    }
  }
  void number(const char *key, double &value, double min, double max, bool min_open = false) const
  {
    if (const json *v = find(key)) {
      if (!v->is_number()) bad(name(key), "must be a number");
      const double x = v->get<double>();
      if (!std::isfinite(x) || x > max || x < min || (min_open && x == min))
        bad(name(key), std::string("must be in ") + (min_open ? "(" : "[") + std::to_string(min) +
                           ", " + std::to_string(max) + "]");
      value = x;
    }
  }

 private:
  const json &object_;
  std::string where_;
};

RequestType parse_type(const std::string &name)
{
  if (name == "describe") return RequestType::Describe;
  if (name == "generate") return RequestType::Generate;
  if (name == "info") return RequestType::Info;
  if (name == "health") return RequestType::Health;
  if (name == "cancel") return RequestType::Cancel;
  if (name == "design") return RequestType::Design;
  throw ProtocolError("unknown_type", "type '" + name +
                                          "' is not known; expected describe, generate, info, "
                                          "health, cancel or design");
}

Request parse_design(Request r, const Fields &body, Envelope &envelope, const ServerLimits &limits)
{
  DesignParams &d = r.design;
  body.text("text", d.text);
  if (d.text.size() > limits.max_prompt_chars)
    throw ProtocolError("too_large", "body.text has " + std::to_string(d.text.size()) +
                                         " characters; the limit is " +
                                         std::to_string(limits.max_prompt_chars));
  if (const json *spec = body.find("spec")) {
    if (!spec->is_object()) bad("body.spec", "must be a DesignSpec object");
    d.spec = *spec;
  }
  long long rounds = d.rounds;
  body.integer("rounds", rounds, 1, 10);
  d.rounds = static_cast<int>(rounds);
  body.text("format", d.format);
  if (d.format != "stl" && d.format != "3mf") bad("body.format", "must be 'stl' or '3mf'");
  body.boolean("critique", d.critique);
  body.boolean("preview", d.preview);
  if (envelope.attachments.size() > 1)
    bad("attachments",
        "a design takes at most one image, not " + std::to_string(envelope.attachments.size()));
  r.images = std::move(envelope.attachments);
  if (!d.spec.is_null() && (!d.text.empty() || !r.images.empty()))
    bad("body.spec", "a spec is built as it is: give it without text or an image");
  if (d.spec.is_null() && d.text.empty() && r.images.empty())
    bad("body.text", "a design needs text, a spec or an image attachment to describe");
  return r;
}

}    // namespace

std::string_view type_name(RequestType type)
{
  switch (type) {
  case RequestType::Describe:
    return "describe";
  case RequestType::Generate:
    return "generate";
  case RequestType::Info:
    return "info";
  case RequestType::Health:
    return "health";
  case RequestType::Cancel:
    return "cancel";
  case RequestType::Design:
    return "design";
  }
  return "?";
}

json ServerLimits::to_json() const
{
  return {{"max_message_bytes", message.max_message_bytes},
          {"max_json_bytes", message.max_json_bytes},
          {"max_attachments", message.max_attachments},
          {"max_image_pixels", max_image_pixels},
          {"max_prompt_chars", max_prompt_chars},
          {"max_new_tokens", max_new_tokens},
          {"queue_depth", queue_depth},
          {"design_queue_depth", design_queue_depth},
          {"max_batch", max_batch},
          {"batch_wait_ms", batch_wait_ms}};
}

Request parse_request(const Envelope &envelope, const ServerLimits &limits, std::string *id_out)
{
  return parse_request(Envelope(envelope), limits, id_out);
}

Request parse_request(Envelope &&envelope, const ServerLimits &limits, std::string *id_out)
{
  Request r;
  const Fields header(envelope.header, "header.");
  const json *id = header.find("id");
  if (!id || !id->is_string() || id->get_ref<const std::string &>().empty() ||
      id->get_ref<const std::string &>().size() > 128)
    bad("header.id", "must be a string of 1 to 128 characters");
  r.id = id->get<std::string>();
  if (id_out) *id_out = r.id;
  const json *type = header.find("type");
  if (!type || !type->is_string()) bad("header.type", "must be a string");
  r.type = parse_type(type->get<std::string>());
  long long deadline = r.deadline_ms;
  header.integer("deadline_ms", deadline, 1, 24LL * 3600 * 1000);
  r.deadline_ms = static_cast<int>(deadline);

  const Fields body(envelope.body, "body.");
  if (r.type == RequestType::Cancel) {
    body.text("target", r.target);
    if (r.target.empty()) bad("body.target", "must name the id of the request to cancel");
    return r;
  }
  if (r.type == RequestType::Design) return parse_design(std::move(r), body, envelope, limits);
  if (r.type != RequestType::Describe && r.type != RequestType::Generate) return r;

  const json *prompt = body.find("prompt");
  if (!prompt || !prompt->is_string()) bad("body.prompt", "must be a string");
  r.prompt = prompt->get<std::string>();
  body.text("system", r.system);
  if (r.prompt.size() + r.system.size() > limits.max_prompt_chars)
    throw ProtocolError("too_large",
                        "the prompt has " + std::to_string(r.prompt.size() + r.system.size()) +
                            " characters; the limit is " + std::to_string(limits.max_prompt_chars));

  auto &p = r.params;
  // the default obeys the server's cap too
  long long value = std::min(p.max_new_tokens, limits.max_new_tokens);
  body.integer("max_new_tokens", value, 0, limits.max_new_tokens);
  p.max_new_tokens = static_cast<int>(value);
  body.number("temperature", p.temperature, 0.0, 100.0);
  value = p.top_k;
  body.integer("top_k", value, 0, 1 << 24);
  p.top_k = static_cast<int>(value);
  body.number("top_p", p.top_p, 0.0, 1.0, /*min_open=*/true);
  value = 0;
  body.integer("seed", value, 0, std::numeric_limits<long long>::max());
  p.seed = static_cast<std::uint64_t>(value);
  if (const json *stop = body.find("stop")) {
    if (!stop->is_array() || stop->size() > 16)
      bad("body.stop", "must be an array of at most 16 strings");
    for (const auto &s : *stop) {
      if (!s.is_string() || s.get_ref<const std::string &>().empty())
        bad("body.stop", "must hold non-empty strings");
      p.stop.push_back(s.get<std::string>());
    }
  }
  std::string format = "text";
  body.text("format", format);
  if (format != "text" && format != "json") bad("body.format", "must be 'text' or 'json'");
  p.json_fields = format == "json";
  std::string numbers = "mode";
  body.text("numbers", numbers);
  if (numbers != "mode" && numbers != "median") bad("body.numbers", "must be 'mode' or 'median'");
  p.median_numbers = numbers == "median";

  if (r.type == RequestType::Generate) {
    if (!envelope.attachments.empty() || body.find("images"))
      bad("body.images", "generate takes no images; use describe");
    return r;
  }
  if (const json *images = body.find("images")) {
    if (!images->is_array()) bad("body.images", "must be an array of attachment indices");
    if (images->size() > limits.message.max_attachments)
      throw ProtocolError("too_large", "body.images names " + std::to_string(images->size()) +
                                           " images; the limit is " +
                                           std::to_string(limits.message.max_attachments));
    for (const auto &index : *images) {
      if (!index.is_number_unsigned() || index.get<std::uint64_t>() >= envelope.attachments.size())
        bad("body.images", "index " + index.dump() + " does not name one of the " +
                               std::to_string(envelope.attachments.size()) + " attachments");
      r.images.push_back(envelope.attachments[index.get<std::size_t>()]);    // may repeat: copied
    }
  } else {
    r.images = std::move(envelope.attachments);
  }
  if (r.images.empty()) bad("body.images", "describe needs at least one image attachment");
  return r;
}

Envelope make_request(Request &&request)
{
  auto images = std::move(request.images);
  request.images.clear();
  Envelope e = make_request(static_cast<const Request &>(request));
  if (request.type == RequestType::Describe || request.type == RequestType::Design)
    e.attachments = std::move(images);
  return e;
}

Envelope make_request(const Request &request)
{
  Envelope e;
  e.header = {
      {"id", request.id}, {"type", type_name(request.type)}, {"deadline_ms", request.deadline_ms}};
  if (request.type == RequestType::Cancel) e.body = {{"target", request.target}};
  if (request.type == RequestType::Describe || request.type == RequestType::Generate) {
    const auto &p = request.params;
    e.body = {{"prompt", request.prompt},
              {"max_new_tokens", p.max_new_tokens},
              {"temperature", p.temperature},
              {"top_k", p.top_k},
              {"top_p", p.top_p},
              {"seed", p.seed},
              {"format", p.json_fields ? "json" : "text"},
              {"numbers", p.median_numbers ? "median" : "mode"}};
    if (!request.system.empty()) e.body["system"] = request.system;
    if (!p.stop.empty()) e.body["stop"] = p.stop;
    if (request.type == RequestType::Describe) e.attachments = request.images;
  }
  if (request.type == RequestType::Design) {
    const auto &d = request.design;
    e.body = {{"rounds", d.rounds},
              {"format", d.format},
              {"critique", d.critique},
              {"preview", d.preview}};
    if (!d.text.empty()) e.body["text"] = d.text;
    if (!d.spec.is_null()) e.body["spec"] = d.spec;
    e.attachments = request.images;
  }
  return e;
}

std::string Reply::text() const
{
  const auto it = body.find("text");
  return it != body.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Timing Reply::timing() const
{
  Timing t;
  const auto it = body.find("timing");
  if (it == body.end() || !it->is_object()) return t;
  const auto get = [&](const char *key) {
    const auto v = it->find(key);
    return v != it->end() && v->is_number() ? v->get<double>() : 0.0;
  };
  t.queue_ms = get("queue_ms");
  t.encode_ms = get("encode_ms");
  t.prefill_ms = get("prefill_ms");
  t.decode_ms = get("decode_ms");
  t.total_ms = get("total_ms");
  return t;
}

Envelope make_reply(const Reply &reply)
{
  Envelope e;
  e.header = {{"id", reply.id}, {"type", "reply"}, {"status", reply.status}};
  if (reply.status != "ok")
    e.header["error"] = {{"code", reply.error_code}, {"message", reply.error_message}};
  e.body = reply.body;
  e.attachments = reply.attachments;
  return e;
}

Reply error_reply(const std::string &id, const std::string &code, const std::string &message)
{
  Reply r;
  r.id = id;
  r.status = code == "busy" ? "busy" : "error";
  r.error_code = code;
  r.error_message = message;
  return r;
}

Reply parse_reply(const Envelope &envelope)
{
  Reply r;
  const auto &h = envelope.header;
  const auto get = [&](const char *key) {
    const auto it = h.find(key);
    return it != h.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (get("type") != "reply")
    throw ProtocolError("bad_request", "not a reply (header.type is not 'reply')");
  r.id = get("id");
  r.status = get("status");
  if (r.status != "ok" && r.status != "error" && r.status != "busy")
    throw ProtocolError("bad_request", "reply status '" + r.status + "' is not ok, error or busy");
  if (const auto error = h.find("error"); error != h.end() && error->is_object()) {
    r.error_code = error->value("code", "");
    r.error_message = error->value("message", "");
  }
  r.body = envelope.body;
  r.attachments = envelope.attachments;
  return r;
}

std::string_view first_json_text(std::string_view text, char open)
{
  const char close = open == '[' ? ']' : '}';
  for (std::size_t start = text.find(open); start != std::string_view::npos;
       start = text.find(open, start + 1)) {
    // the shortest balanced span from here that parses
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = start; i < text.size(); ++i) {
      const char c = text[i];
      if (in_string) {
        if (c == '\\')
          ++i;
        else if (c == '"')
          in_string = false;
        continue;
      }
      if (c == '"') {
        in_string = true;
      } else if (c == open) {
        ++depth;
      } else if (c == close && --depth == 0) {
        const std::string_view span = text.substr(start, i + 1 - start);
        if (json::accept(span)) return span;
        break;
      }
    }
  }
  return {};
}

json first_json_object(const std::string &text)
{
  const std::string_view span = first_json_text(text, '{');
  return span.empty() ? json::object() : json::parse(span);
}

}    // namespace cephalo::bridge
