// The requests and replies of the Cephalo protocol (bridge/PROTOCOL.md) over Envelopes: parsing
// with errors that name the field, and building replies.
#pragma once

#include "cephalo/bridge/envelope.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cephalo::bridge {

enum class RequestType { Describe, Generate, Info, Health, Cancel, Design };

std::string_view type_name(RequestType type);

struct GenerationParams {
  int max_new_tokens = 256;
  double temperature = 0.0;
  int top_k = 0;
  double top_p = 1.0;
  std::uint64_t seed = 0;
  std::vector<std::string> stop;
  bool json_fields = false;       // format: json
  bool median_numbers = false;    // numbers: median (greedy decimals at the median)
};

// A `design` request's body (PROTOCOL.md): what to build, and how. The bridge checks the types;
// what the text or spec means is for the server's design handler (agents/) to judge.
struct DesignParams {
  std::string text;              // the design in words; with an image, a hint
  nlohmann::json spec;           // a DesignSpec object; null when not given
  int rounds = 3;                // build rounds at most
  std::string format = "stl";    // stl or 3mf
  bool critique = false;         // ask the model to critique each preview
  bool preview = true;           // send the preview PNG back
};

struct ServerLimits {
  Limits message;    // frames, JSON, attachments
  std::int64_t max_image_pixels = 16 << 20;
  std::size_t max_prompt_chars = 32768;
  int max_new_tokens = 1024;
  std::size_t queue_depth = 64;
  std::size_t design_queue_depth = 4;    // design requests waiting for the design worker
  std::size_t max_batch = 8;
  int batch_wait_ms = 5;
  nlohmann::json to_json() const;
};

struct Request {
  std::string id;
  RequestType type = RequestType::Health;
  int deadline_ms = 60000;
  // describe / generate
  std::string prompt, system;
  std::vector<std::string> images;    // encoded PNG/JPEG bytes, in order
  GenerationParams params;
  // cancel
  std::string target;
  // design (its image, if any, is in `images`)
  DesignParams design;
};

// Reads a request; throws ProtocolError (bad_request, unknown_type, too_large) naming the field.
// `id_out` receives the id as soon as it is read, so that errors can be answered by id.
Request parse_request(const Envelope &envelope, const ServerLimits &limits,
                      std::string *id_out = nullptr);
// The same, moving the images out of the envelope.
Request parse_request(Envelope &&envelope, const ServerLimits &limits,
                      std::string *id_out = nullptr);

// Builds a request message (clients).
Envelope make_request(const Request &request);
Envelope make_request(Request &&request);    // moves the images

struct Timing {
  double queue_ms = 0, encode_ms = 0, prefill_ms = 0, decode_ms = 0, total_ms = 0;
};

struct Reply {
  std::string id;
  std::string status = "ok";    // ok, error, busy
  std::string error_code, error_message;
  nlohmann::json body = nlohmann::json::object();
  std::vector<std::string> attachments;    // raw bytes after the body (design: mesh, preview)

  bool ok() const { return status == "ok"; }
  // describe / generate conveniences
  std::string text() const;
  Timing timing() const;
};

Envelope make_reply(const Reply &reply);
Reply error_reply(const std::string &id, const std::string &code, const std::string &message);
// Throws ProtocolError when the envelope is not a reply.
Reply parse_reply(const Envelope &envelope);

// The first JSON object in a text (format: json); an empty object when there is none.
nlohmann::json first_json_object(const std::string &text);
// The text of the first balanced {...} (open '{') or [...] (open '[') that is valid JSON; empty
// when there is none.
std::string_view first_json_text(std::string_view text, char open);

}    // namespace cephalo::bridge
