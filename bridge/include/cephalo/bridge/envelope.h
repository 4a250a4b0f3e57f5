// One Cephalo protocol message as ZeroMQ frames: a protocol frame ("cephalo/<version>"), a JSON
// header, a JSON body, then raw binary attachments (images). Checked against limits before any
// JSON is parsed.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace cephalo::bridge {

inline constexpr std::string_view kProtocolName = "cephalo";
inline constexpr int kProtocolVersion = 1;

struct Envelope {
  int version = kProtocolVersion;
  nlohmann::json header = nlohmann::json::object();
  nlohmann::json body = nlohmann::json::object();
  std::vector<std::string> attachments;    // raw bytes, one frame each
};

struct Limits {
  std::size_t max_message_bytes = 64u << 20;    // all frames together
  std::size_t max_json_bytes = 1u << 20;        // header and body frames each
  std::size_t max_attachments = 16;
};

// A message that cannot be accepted. `code` is stable and machine-readable
// (bad_protocol, unsupported_version, bad_frames, bad_json, too_large); the message says
// what was wrong and what was expected.
class ProtocolError : public std::runtime_error {
 public:
  ProtocolError(std::string code, const std::string &message) :
      std::runtime_error(message), code_(std::move(code))
  {
  }
  const std::string &code() const { return code_; }

 private:
  std::string code_;
};

std::vector<std::string> encode(const Envelope &envelope);
std::vector<std::string> encode(Envelope &&envelope);    // moves the attachments

// Throws ProtocolError. An unknown version is refused with the versions this side speaks.
Envelope decode(const std::vector<std::string> &frames, const Limits &limits = {});
Envelope decode(std::vector<std::string> &&frames, const Limits &limits = {});    // moves them

}    // namespace cephalo::bridge
