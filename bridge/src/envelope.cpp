// Encoding and checking of protocol frames (see envelope.h).
#include "cephalo/bridge/envelope.h"

#include <charconv>

namespace cephalo::bridge {
namespace {

nlohmann::json parse_object(const std::string &frame, const char *which)
{
  nlohmann::json value = nlohmann::json::parse(frame, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded())
    throw ProtocolError("bad_json", std::string("the ") + which + " frame is not valid JSON");
  if (!value.is_object())
    throw ProtocolError("bad_json", std::string("the ") + which + " frame must be a JSON object");
  return value;
}

}    // namespace

std::vector<std::string> encode(Envelope &&envelope)
{
  std::vector<std::string> frames;
  frames.reserve(3 + envelope.attachments.size());
  frames.push_back(std::string(kProtocolName) + "/" + std::to_string(envelope.version));
  frames.push_back(envelope.header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  frames.push_back(envelope.body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  for (auto &a : envelope.attachments) frames.push_back(std::move(a));
  return frames;
}

std::vector<std::string> encode(const Envelope &envelope)
{
  std::vector<std::string> frames;
  frames.reserve(3 + envelope.attachments.size());
  frames.push_back(std::string(kProtocolName) + "/" + std::to_string(envelope.version));
  frames.push_back(envelope.header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  frames.push_back(envelope.body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  frames.insert(frames.end(), envelope.attachments.begin(), envelope.attachments.end());
  return frames;
}

Envelope decode(const std::vector<std::string> &frames, const Limits &limits)
{
  return decode(std::vector<std::string>(frames), limits);
}

Envelope decode(std::vector<std::string> &&frames, const Limits &limits)
{
  std::size_t total = 0;
  for (const auto &frame : frames) total += frame.size();
  if (total > limits.max_message_bytes)
    throw ProtocolError("too_large", "message of " + std::to_string(total) +
                                         " bytes exceeds the limit of " +
                                         std::to_string(limits.max_message_bytes));
  if (frames.size() < 3)
    throw ProtocolError("bad_frames", "a message needs at least 3 frames (protocol, header, "
                                      "body), got " +
                                          std::to_string(frames.size()));
  if (frames.size() - 3 > limits.max_attachments)
    throw ProtocolError("too_large", std::to_string(frames.size() - 3) +
                                         " attachments exceed the limit of " +
                                         std::to_string(limits.max_attachments));

  const std::string &protocol = frames[0];
  const std::string prefix = std::string(kProtocolName) + "/";
  if (protocol.compare(0, prefix.size(), prefix) != 0)
    throw ProtocolError("bad_protocol", "the first frame must be '" + prefix + "<version>'");
  int version = 0;
  const char *first = protocol.data() + prefix.size();
  const char *last = protocol.data() + protocol.size();
  const auto [end, status] = std::from_chars(first, last, version);
  if (status != std::errc() || end != last || first == last)
    throw ProtocolError("bad_protocol", "the first frame must be '" + prefix + "<version>'");
  if (version != kProtocolVersion)
    throw ProtocolError("unsupported_version",
                        "protocol version " + std::to_string(version) +
                            " is not spoken here; supported: " + std::to_string(kProtocolVersion));

  for (int i : {1, 2})
    if (frames[i].size() > limits.max_json_bytes)
      throw ProtocolError("too_large", std::string(i == 1 ? "header" : "body") + " of " +
                                           std::to_string(frames[i].size()) +
                                           " bytes exceeds the limit of " +
                                           std::to_string(limits.max_json_bytes));

  Envelope envelope;
  envelope.version = version;
  envelope.header = parse_object(frames[1], "header");
  envelope.body = parse_object(frames[2], "body");
  envelope.attachments.assign(std::make_move_iterator(frames.begin() + 3),
                              std::make_move_iterator(frames.end()));
  return envelope;
}

}    // namespace cephalo::bridge
