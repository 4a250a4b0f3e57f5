// Fuzzing cephalo-serve's front with a real in-process Server (echo backend) on loopback: 100,000
// malformed messages (random frames, bad protocol frames, truncated and wrong-typed JSON, bad
// fields, non-images, sizes at and beyond small limits), sent in pipelined windows from a DEALER;
// every one is answered with the expected error code, and serving goes on.
#define BOOST_TEST_MODULE bridge_fuzz
#include <boost/test/unit_test.hpp>

#include "cephalo/bridge/client.h"
#include "cephalo/bridge/server.h"
#include "cephalo/bridge/zmq_io.h"
#include "running_server.h"

#include <cctype>
#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <thread>

using namespace cephalo::bridge;
using nlohmann::json;

namespace {

// Small limits, so that going beyond them is cheap.
ServerOptions fuzz_options()
{
  ServerOptions o;
  o.bind = "tcp://127.0.0.1:0";
  o.log_requests = false;
  o.limits.message.max_message_bytes = 64 * 1024;
  o.limits.message.max_json_bytes = 4 * 1024;
  o.limits.message.max_attachments = 4;
  o.limits.max_image_pixels = 64 * 64;
  o.limits.max_prompt_chars = 256;
  o.limits.max_new_tokens = 64;
  return o;
}

// A PNG signature and IHDR chunk naming a width x height RGB image (no CRC check is made).
std::string png(std::uint32_t width, std::uint32_t height)
{
  std::string b("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16);
  for (const auto v : {width, height})
    for (int shift = 24; shift >= 0; shift -= 8) b += static_cast<char>((v >> shift) & 0xff);
  return b + std::string("\x08\x02\0\0\0", 5);
}

// One malformed message and the error code it must be answered with.
struct Case {
  std::vector<std::string> frames;
  std::string id;    // the id the reply must carry ("" where none can be read)
  std::string code;
};

class MalformedMessages {
 public:
  explicit MalformedMessages(const ServerLimits &limits) : limits_(limits) {}

  Case next()
  {
    id_ = "fuzz-" + std::to_string(++count_);
    switch (pick(16)) {
    case 0:
      return random_frames();
    case 1:
      return bad_protocol_frame();
    case 2:
      return truncated_json();
    case 3:
      return non_object_json();
    case 4:
      return bad_header_id();
    case 5:
      return bad_header_type_or_deadline();
    case 6:
    case 7:
    case 8:
      return bad_describe_field();
    case 9:
    case 10:
      return bad_attachment();
    case 11:
      return bad_generate_or_cancel();
    case 12:
      return too_many_attachments();
    case 13:
      return oversized_json();
    case 14:
      return pick(20) == 0 ? oversized_message() : at_the_limits_but_bad();
    default:
      return req_style_delimiter();
    }
  }

 private:
  ServerLimits limits_;
  std::mt19937_64 rng_{20240611};
  std::uint64_t count_ = 0;
  std::string id_;

  std::size_t pick(std::size_t n)
  {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }
  std::string bytes(std::size_t n)
  {
    std::string b(n, '\0');
    for (auto &c : b) c = static_cast<char>(pick(256));
    return b;
  }
  std::string header(const std::string &type = "describe") const
  {
    return json{{"id", id_}, {"type", type}, {"deadline_ms", 5000}}.dump();
  }
  static json describe_body() { return {{"prompt", "Describe the crack."}, {"max_new_tokens", 8}}; }
  Case with_id(std::vector<std::string> frames, std::string code) const
  {
    return {std::move(frames), id_, std::move(code)};
  }
  Case describe_with(const json &body, std::string code) const
  {
    return with_id({"cephalo/1", header(), body.dump(), png(4, 3)}, std::move(code));
  }

  Case random_frames()
  {
    // the first frame neither empty (a REQ delimiter) nor 'c' (a protocol frame)
    std::vector<std::string> frames(1 + pick(6));
    for (auto &f : frames) f = bytes(pick(65));
    frames[0] = bytes(1 + pick(32));
    if (frames[0][0] == 'c') frames[0][0] = 'x';
    return {frames, "", frames.size() < 3 ? "bad_frames" : "bad_protocol"};
  }
  Case req_style_delimiter()
  {
    // an empty first frame is taken for a REQ socket's delimiter: then fewer than three frames
    std::vector<std::string> frames{""};
    for (std::size_t i = pick(3); i > 0; --i) frames.push_back(bytes(pick(16)));
    return {frames, "", "bad_frames"};
  }
  Case bad_protocol_frame()
  {
    static const std::vector<std::pair<std::string, std::string>> variants{
        {"cephalo", "bad_protocol"},
        {"cephalo/", "bad_protocol"},
        {"cephalo/1x", "bad_protocol"},
        {"cephalo/ 1", "bad_protocol"},
        {"CEPHALO/1", "bad_protocol"},
        {"cephalo/+1", "bad_protocol"},
        {"cephalo/1.0", "bad_protocol"},
        {"cephalo/99999999999999999999", "bad_protocol"},
        {"cephalo/-1", "unsupported_version"},
        {"cephalo/0", "unsupported_version"},
        {"cephalo/2", "unsupported_version"},
        {"cephalo/01x", "bad_protocol"},
        {std::string("cephalo/1\0", 10), "bad_protocol"}};
    if (pick(4) == 0)
      return with_id({"cephalo/" + std::to_string(2 + pick(1000000)), header(), "{}"},
                     "unsupported_version");
    const auto &[protocol, code] = variants[pick(variants.size())];
    return with_id({protocol, header(), describe_body().dump(), png(4, 3)}, code);
  }
  Case truncated_json()
  {
    // a strict prefix of a compact JSON object is never valid JSON
    if (pick(2)) {    // the header cut: no id can be read
      const std::string whole = header();
      return {{"cephalo/1", whole.substr(0, pick(whole.size())), describe_body().dump(), png(4, 3)},
              "",
              "bad_json"};
    }
    const std::string whole = describe_body().dump();
    return with_id({"cephalo/1", header(), whole.substr(0, pick(whole.size())), png(4, 3)},
                   "bad_json");
  }
  Case non_object_json()
  {
    static const std::vector<std::string> values{"[]", "null", "42",       "\"text\"",    "true",
                                                 "",   "{}}",  "{\"a\":}", "{'id': 'x'}", "[{}]"};
    std::string value = values[pick(values.size())];
    if (pick(3) == 0) {
      // random bytes that cannot be an object: the first is neither '{' nor white space
      value = bytes(1 + pick(64));
      if (value[0] == '{' || std::isspace(static_cast<unsigned char>(value[0]))) value[0] = '#';
    }
    if (pick(2)) return {{"cephalo/1", value, "{}"}, "", "bad_json"};
    return with_id({"cephalo/1", header(), value}, "bad_json");
  }
  Case bad_header_id()
  {
    static const std::vector<json> ids{5, "", json::array(), json::object(), true, nullptr, 1.5};
    json h{{"type", "info"}};
    if (pick(6) == 0) {
      h["id"] = std::string(129, 'i');
    } else if (pick(6) != 0) {
      h["id"] = ids[pick(ids.size())];
    }    // else: no id at all
    return {{"cephalo/1", h.dump(), "{}"}, "", "bad_request"};
  }
  Case bad_header_type_or_deadline()
  {
    static const std::vector<std::pair<json, std::string>> types{
        {5, "bad_request"},        {nullptr, "bad_request"},     {json::array(), "bad_request"},
        {"", "unknown_type"},      {"Describe", "unknown_type"}, {"describe ", "unknown_type"},
        {"reply", "unknown_type"}, {"dance", "unknown_type"}};
    static const std::vector<json> deadlines{0,
                                             -1,
                                             "5000",
                                             1.5,
                                             1e30,
                                             86400001LL,
                                             true,
                                             json::array(),
                                             -9223372036854775807LL,
                                             18446744073709551615ULL};
    json h{{"id", id_}, {"type", "health"}};
    if (pick(2)) {
      const auto &[type, code] = types[pick(types.size())];
      h["type"] = type;
      if (type.is_null() && pick(2)) h.erase("type");
      return with_id({"cephalo/1", h.dump(), "{}"}, code);
    }
    h["deadline_ms"] = deadlines[pick(deadlines.size())];
    return with_id({"cephalo/1", h.dump(), "{}"}, "bad_request");
  }
  Case bad_describe_field()
  {
    static const std::vector<std::pair<std::string, json>> fields{
        {"prompt", 7},
        {"prompt", json::array()},
        {"prompt", nullptr},    // null reads as missing; prompt is required
        {"system", 5},
        {"max_new_tokens", -1},
        {"max_new_tokens", 65},
        {"max_new_tokens", "3"},
        {"max_new_tokens", 2.5},
        {"max_new_tokens", 18446744073709551615ULL},
        {"temperature", -0.1},
        {"temperature", 101},
        {"temperature", "hot"},
        {"top_k", -1},
        {"top_k", 1 << 25},
        {"top_k", 1.5},
        {"top_p", 0},
        {"top_p", 1.5},
        {"top_p", -1},
        {"top_p", "x"},
        {"seed", -1},
        {"seed", 1.5},
        {"seed", "x"},
        {"stop", "x"},
        {"stop", json::array({1})},
        {"stop", json::array({""})},
        {"stop", json(std::vector<std::string>(17, "s"))},
        {"format", "xml"},
        {"format", 5},
        {"numbers", "mean"},
        {"numbers", 1},
        {"images", "0"},
        {"images", json::array({5})},
        {"images", json::array({-1})},
        {"images", json::array({0.0})},
        {"images", json::array()},
        {"images", json::object({{"a", 0}})},
        {"images", json::array({"0"})}};
    json body = describe_body();
    if (pick(8) == 0) {
      body["prompt"] = std::string(limits_.max_prompt_chars + 1 + pick(100), 'p');
      return describe_with(body, "too_large");
    }
    if (pick(8) == 0) {
      body.erase("prompt");
      return describe_with(body, "bad_request");
    }
    const auto &[key, value] = fields[pick(fields.size())];
    body[key] = value;
    return describe_with(body, "bad_request");
  }
  Case bad_attachment()
  {
    std::string image;
    std::string code = "bad_image";
    switch (pick(6)) {
    case 0:    // random bytes that are neither PNG nor JPEG
      image = bytes(pick(2048));
      if (!image.empty() && (image[0] == '\x89' || image[0] == '\xff')) image[0] = 'x';
      break;
    case 1:
      image = png(4, 3).substr(0, pick(24));
      break;    // truncated before the size
    case 2:
      image = pick(2) ? png(0, 3) : png(4, 0);
      break;
    case 3:    // larger than max_image_pixels
      image = png(65 + static_cast<std::uint32_t>(pick(1 << 20)), 64);
      code = "too_large";
      break;
    case 4:    // a JPEG start with damaged markers
      image = "\xff\xd8" + bytes(2 + pick(64));
      image[2] = 'x';
      break;
    default:
      image = png(4, 3).substr(0, 16) + bytes(pick(8));
      break;    // IHDR, no size
    }
    std::vector<std::string> frames{"cephalo/1", header(), describe_body().dump()};
    if (pick(2)) frames.push_back(png(4, 3));    // a good image before the bad one
    frames.push_back(image);
    return with_id(frames, code);
  }
  Case bad_generate_or_cancel()
  {
    switch (pick(4)) {
    case 0:
      return with_id({"cephalo/1", header("generate"), R"({"prompt":"hi"})", png(4, 3)},
                     "bad_request");
    case 1:
      return with_id({"cephalo/1", header("generate"), R"({"prompt":"hi","images":[]})"},
                     "bad_request");
    case 2:
      return with_id({"cephalo/1", header("cancel"), R"({"target":5})"}, "bad_request");
    default:
      return with_id({"cephalo/1", header("cancel"), R"({"target":""})"}, "bad_request");
    }
  }
  Case too_many_attachments()
  {
    std::vector<std::string> frames{"cephalo/1", header(), describe_body().dump()};
    for (std::size_t i = limits_.message.max_attachments + 1 + pick(20); i > 0; --i)
      frames.push_back(png(4, 3));
    return with_id(frames, "too_large");
  }
  Case oversized_json()
  {
    const std::size_t over = limits_.message.max_json_bytes + 1 + pick(1000);
    json padded{{"id", id_}, {"type", "describe"}, {"padding", std::string(over, 'x')}};
    if (pick(2))    // the header over the limit (its id is still read for the answer)
      return with_id({"cephalo/1", padded.dump(), describe_body().dump(), png(4, 3)}, "too_large");
    json body = describe_body();
    body["padding"] = std::string(over, 'x');
    return describe_with(body, "too_large");
  }
  Case oversized_message()
  {
    // all frames together over max_message_bytes; each frame within it (a single frame over
    // it is refused by ZeroMQ itself, see below)
    std::vector<std::string> frames{"cephalo/1", header(), describe_body().dump()};
    const std::size_t total = limits_.message.max_message_bytes + 1 + pick(1 << 16);
    const std::size_t each = total / 3 + 1;
    for (int i = 0; i < 3; ++i) frames.push_back(png(4, 3) + std::string(each, '\0'));
    return with_id(frames, "too_large");
  }
  Case at_the_limits_but_bad()
  {
    // sizes right at the limits, one field wrong
    json body = describe_body();
    body["prompt"] = std::string(limits_.max_prompt_chars, 'p');
    body["top_p"] = 0;
    std::string image = png(64, 64);
    const std::size_t used = 9 + header().size() + body.dump().size();
    image.resize(limits_.message.max_message_bytes - used, '\0');
    return with_id({"cephalo/1", header(), body.dump(), image}, "bad_request");
  }
};

// The reply frames a DEALER receives: with an empty delimiter first where the request had one.
Reply parse_dealer_reply(std::vector<std::string> frames)
{
  if (!frames.empty() && frames.front().empty()) frames.erase(frames.begin());
  return parse_reply(decode(frames));
}

zmq::socket_t connect_dealer(zmq::context_t &context, const std::string &endpoint)
{
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::rcvtimeo, 10000);
  socket.connect(endpoint);
  return socket;
}

Reply describe_once(const std::string &endpoint)
{
  ClientOptions options;
  options.endpoint = endpoint;
  Request request;
  request.type = RequestType::Describe;
  request.prompt = "Still there?";
  request.images = {png(4, 3)};
  request.params.max_new_tokens = 8;    // within the fuzz limits
  request.deadline_ms = 5000;
  return Client(options).call(request);
}

}    // namespace

BOOST_AUTO_TEST_CASE(every_malformed_message_is_answered_with_its_error_and_serving_goes_on)
{
  const ServerOptions options = fuzz_options();
  cephalo::test::RunningServer s(make_echo_backend(), options);
  zmq::context_t context;
  auto socket = connect_dealer(context, s.server.endpoint());
  MalformedMessages messages(options.limits);

  const int total = 100000, window = 500;
  int answered = 0, wrong_status = 0, wrong_code = 0, unknown_id = 0;
  std::map<std::string, int> expected_without_id, answered_without_id, codes;
  const auto start = std::chrono::steady_clock::now();
  for (int sent = 0; sent < total;) {
    std::map<std::string, std::string> expected_by_id;
    const int n = std::min(window, total - sent);
    for (int i = 0; i < n; ++i) {
      Case c = messages.next();
      if (c.id.empty())
        ++expected_without_id[c.code];
      else
        expected_by_id[c.id] = c.code;
      send_frames(socket, c.frames);
    }
    sent += n;
    for (int i = 0; i < n; ++i) {
      const auto frames = receive_frames(socket);
      BOOST_REQUIRE_MESSAGE(frames, "no reply within 10 s; " << answered << " of " << sent
                                                             << " sent were answered");
      const Reply reply = parse_dealer_reply(*frames);
      ++answered;
      ++codes[reply.error_code];
      if (reply.status != "error" && reply.status != "busy") ++wrong_status;
      if (reply.id.empty()) {
        ++answered_without_id[reply.error_code];
        continue;
      }
      const auto it = expected_by_id.find(reply.id);
      if (it == expected_by_id.end()) {
        ++unknown_id;
        continue;
      }
      if (reply.error_code != it->second) {
        ++wrong_code;
        if (wrong_code <= 5)
          BOOST_TEST_MESSAGE(reply.id << ": " << reply.error_code << " (" << reply.error_message
                                      << "), expected " << it->second);
      }
      expected_by_id.erase(it);
    }
    BOOST_TEST(expected_by_id.empty());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  BOOST_TEST_MESSAGE(total << " malformed messages answered in " << seconds << " s");
  for (const auto &[code, count] : codes) BOOST_TEST_MESSAGE("  " << code << ": " << count);

  BOOST_TEST(answered == total);
  BOOST_TEST(wrong_status == 0);
  BOOST_TEST(wrong_code == 0);
  BOOST_TEST(unknown_id == 0);
  BOOST_TEST(answered_without_id == expected_without_id);
  BOOST_TEST(codes.size() >= 8u);    // the messages reached every kind of check

  const Reply still = describe_once(s.server.endpoint());
  BOOST_TEST(still.ok(), still.error_code << ": " << still.error_message);
  BOOST_TEST(still.text() == "echo: 12 characters, 1 image(s), 29 bytes");
}

BOOST_AUTO_TEST_CASE(a_frame_over_max_message_bytes_does_not_stop_the_server)
{
  // ZeroMQ's maxmsgsize (set to max_message_bytes) applies to each frame: it closes the
  // connection of a peer that sends a larger frame, before the server sees the message.
  const ServerOptions options = fuzz_options();
  cephalo::test::RunningServer s(make_echo_backend(), options);
  zmq::context_t context;
  auto socket = connect_dealer(context, s.server.endpoint());
  socket.set(zmq::sockopt::rcvtimeo, 1000);
  send_frames(socket, {"cephalo/1", R"({"id":"big","type":"describe"})", R"({"prompt":"x"})",
                       png(4, 3) + std::string(options.limits.message.max_message_bytes, '\0')});
  const auto reply = receive_frames(socket);
  BOOST_TEST_MESSAGE("a frame over the limit: " << (reply ? "answered" : "no reply"));
  if (reply) BOOST_TEST(parse_dealer_reply(*reply).error_code == "too_large");

  const Reply still = describe_once(s.server.endpoint());
  BOOST_TEST(still.ok(), still.error_code << ": " << still.error_message);
  BOOST_TEST(still.text() == "echo: 12 characters, 1 image(s), 29 bytes");
}
