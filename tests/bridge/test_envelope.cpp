// Protocol frames: encoding, a real ZeroMQ round trip on loopback, and refusal of malformed
// messages with stable error codes.
#define BOOST_TEST_MODULE bridge
#include <boost/test/unit_test.hpp>

#include "cephalo/bridge/envelope.h"
#include "cephalo/bridge/zmq_io.h"

using namespace cephalo::bridge;

namespace {

std::string code_of(const std::vector<std::string> &frames, const Limits &limits = {})
{
  try {
    decode(frames, limits);
  } catch (const ProtocolError &e) {
    return e.code() + ": " + e.what();
  }
  return "accepted";
}

Envelope sample()
{
  Envelope envelope;
  envelope.header = {{"id", "req-1"}, {"type", "describe"}, {"deadline_ms", 5000}};
  envelope.body = {{"prompt", "Describe the crack."}, {"max_new_tokens", 64}};
  envelope.attachments = {std::string("\x89PNG\r\n\x1a\n\0\0binary", 16), std::string(100000, 'x')};
  return envelope;
}

}    // namespace

BOOST_AUTO_TEST_CASE(frames_start_with_protocol_then_header_body_and_attachments)
{
  const auto frames = encode(sample());
  BOOST_REQUIRE_EQUAL(frames.size(), 5u);
  BOOST_TEST(frames[0] == "cephalo/1");
  BOOST_TEST(nlohmann::json::parse(frames[1])["id"] == "req-1");
  BOOST_TEST(frames[3].size() == 16u);
  const Envelope back = decode(frames);
  BOOST_TEST(back.header == sample().header);
  BOOST_TEST(back.body == sample().body);
  BOOST_TEST(back.attachments == sample().attachments);
}

BOOST_AUTO_TEST_CASE(round_trip_over_zeromq_on_loopback)
{
  zmq::context_t context;
  zmq::socket_t router(context, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.set(zmq::sockopt::rcvtimeo, 5000);
  router.bind("tcp://127.0.0.1:*");
  const std::string endpoint = router.get(zmq::sockopt::last_endpoint);

  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.set(zmq::sockopt::rcvtimeo, 5000);
  dealer.connect(endpoint);
  send_frames(dealer, encode(sample()));

  auto received = receive_frames(router);
  BOOST_REQUIRE(received.has_value());
  // ROUTER prepends the peer's identity frame
  const std::string identity = received->front();
  received->erase(received->begin());
  const Envelope request = decode(*received);
  BOOST_TEST(request.attachments == sample().attachments);

  Envelope reply;
  reply.header = {{"id", request.header["id"]}, {"status", "ok"}};
  auto frames = encode(reply);
  frames.insert(frames.begin(), identity);
  send_frames(router, frames);
  const auto answer = receive_frames(dealer);
  BOOST_REQUIRE(answer.has_value());
  BOOST_TEST(decode(*answer).header["status"] == "ok");

  // nothing more arrives: the receive times out instead of blocking forever
  dealer.set(zmq::sockopt::rcvtimeo, 50);
  BOOST_TEST(!receive_frames(dealer).has_value());
}

BOOST_AUTO_TEST_CASE(malformed_messages_are_refused_with_codes)
{
  const auto good = encode(sample());
  BOOST_TEST(code_of({"cephalo/1", "{}"}).rfind("bad_frames", 0) == 0);
  BOOST_TEST(code_of({"zephalo/1", "{}", "{}"}).rfind("bad_protocol", 0) == 0);
  BOOST_TEST(code_of({"cephalo/x", "{}", "{}"}).rfind("bad_protocol", 0) == 0);
  BOOST_TEST(code_of({"cephalo/", "{}", "{}"}).rfind("bad_protocol", 0) == 0);
  const std::string version = code_of({"cephalo/7", "{}", "{}"});
  BOOST_TEST(version.rfind("unsupported_version", 0) == 0);
  BOOST_TEST(version.find("supported: 1") != std::string::npos, version);
  BOOST_TEST(code_of({"cephalo/1", "{not json", "{}"}).rfind("bad_json: the header", 0) == 0);
  BOOST_TEST(code_of({"cephalo/1", "{}", "[1,2]"})
                 .rfind("bad_json: the body frame must be a JSON object", 0) == 0);

  Limits small;
  small.max_message_bytes = 1000;
  BOOST_TEST(code_of(good, small).rfind("too_large", 0) == 0);
  small = Limits{};
  small.max_attachments = 1;
  BOOST_TEST(code_of(good, small).rfind("too_large", 0) == 0);
  small = Limits{};
  small.max_json_bytes = 10;
  BOOST_TEST(code_of(good, small).rfind("too_large: header", 0) == 0);
}
