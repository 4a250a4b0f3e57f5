// The design worker of the bridge's server, in-process with a handler written here (the agents'
// handler is tested through cephalo-serve in test_design_serve.cpp): `unsupported` without a
// handler, its own queue and thread, CURVE for its own connection, cancel and deadline.
#define BOOST_TEST_MODULE bridge_design_server
#include <boost/test/unit_test.hpp>

#include "cephalo/bridge/client.h"
#include "cephalo/bridge/curve.h"
#include "cephalo/bridge/zmq_io.h"
#include "running_server.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <thread>

using namespace cephalo;
using nlohmann::json;

namespace {

const std::string kGyroid = "a gyroid scaffold 10 mm cube, 5 mm cells";

bridge::Request design_request(const std::string &text)
{
  bridge::Request r;
  r.type = bridge::RequestType::Design;
  r.design.text = text;
  r.deadline_ms = 120000;
  return r;
}

// A raw design request with a DEALER socket, waiting longer than its deadline for the answer.
bridge::Reply send_raw(const std::string &endpoint, const json &body, int deadline_ms)
{
  zmq::context_t context;
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  socket.connect(endpoint);
  bridge::Envelope e;
  e.header = {{"id", bridge::new_request_id()}, {"type", "design"}, {"deadline_ms", deadline_ms}};
  e.body = body;
  bridge::send_frames(socket, bridge::encode(e));
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, std::chrono::milliseconds(deadline_ms + 5000));
  BOOST_REQUIRE(item.revents & ZMQ_POLLIN);
  const auto frames = bridge::receive_frames(socket);
  BOOST_REQUIRE(frames);
  return bridge::parse_reply(bridge::decode(*frames));
}

}    // namespace

BOOST_AUTO_TEST_CASE(a_server_without_a_design_handler_answers_unsupported)
{
  cephalo::test::RunningServer server(bridge::make_echo_backend());
  bridge::Client client(server.client());
  const auto reply = client.call(design_request(kGyroid));
  BOOST_TEST(reply.status == "error");
  BOOST_TEST(reply.error_code == "unsupported");
  bridge::Request info;
  info.type = bridge::RequestType::Info;
  const auto answer = client.call(info);
  BOOST_TEST_REQUIRE(answer.ok());
  BOOST_TEST(answer.body["design"] == false);
  BOOST_TEST(answer.body["limits"]["design_queue_depth"] == 4);
}

BOOST_AUTO_TEST_CASE(design_requests_run_on_their_own_worker_while_the_model_keeps_answering)
{
  // a handler that waits until told, and a describe that must be answered meanwhile
  std::atomic<bool> release{false};
  auto options = cephalo::test::quiet_options();
  options.limits.design_queue_depth = 1;
  options.design_handler = [&](const bridge::Request &request, const bridge::DesignContext &c) {
    while (!release && !c.should_stop()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    bridge::Reply reply;
    reply.body = {{"text", request.design.text}, {"model_endpoint", c.model.endpoint}};
    reply.attachments = {"mesh bytes"};
    return reply;
  };
  cephalo::test::RunningServer server(bridge::make_echo_backend(), options);
  bridge::AsyncClient async(server.client());
  auto first = *async.submit(design_request("first"));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto second = *async.submit(design_request("second"));    // queued: the queue holds one
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  bridge::Client client(server.client());
  const auto busy = client.call(design_request("third"));
  BOOST_TEST(busy.status == "busy");
  bridge::Request describe;
  describe.type = bridge::RequestType::Describe;
  describe.prompt = "still there?";
  describe.images = {cephalo::test::kPng};
  describe.deadline_ms = 5000;
  BOOST_TEST(client.call(describe).ok());    // the model is not held up by the design
  release = true;
  const auto a = first.get(), b = second.get();
  BOOST_TEST_REQUIRE(a.ok());
  BOOST_TEST(a.body["text"] == "first");
  BOOST_TEST(a.body["model_endpoint"] == server.server.endpoint());
  BOOST_TEST_REQUIRE(a.attachments.size() == 1u);
  BOOST_TEST(a.attachments[0] == "mesh bytes");
  BOOST_TEST(b.ok());
  BOOST_TEST(b.body["text"] == "second");
}

BOOST_AUTO_TEST_CASE(with_curve_the_design_handler_reaches_the_model_with_a_key_of_its_own)
{
  const auto server_keys = bridge::generate_curve_keypair();
  const auto client_keys = bridge::generate_curve_keypair();
  auto options = cephalo::test::quiet_options();
  options.curve_secret_key = server_keys.secret_key;
  options.curve_client_keys = {client_keys.public_key};
  options.design_handler = [](const bridge::Request &, const bridge::DesignContext &c) {
    bridge::Client model(c.model);
    bridge::Request r;
    r.type = bridge::RequestType::Generate;
    r.prompt = "through CURVE";
    r.deadline_ms = 5000;
    const auto answer = model.call(r);
    bridge::Reply reply;
    reply.body = {{"answer", answer.text()},
                  {"code", answer.error_code},
                  {"own_key", c.model.curve_public_key}};
    return reply;
  };
  cephalo::test::RunningServer server(bridge::make_echo_backend(), options);
  auto client_options = server.client();
  client_options.curve_server_key = server_keys.public_key;
  client_options.curve_public_key = client_keys.public_key;
  client_options.curve_secret_key = client_keys.secret_key;
  bridge::Client client(client_options);
  bridge::Request r = design_request(kGyroid);
  r.deadline_ms = 20000;
  const auto reply = client.call(r);
  BOOST_TEST_INFO(reply.error_code << " " << reply.error_message);
  BOOST_TEST_REQUIRE(reply.ok());
  BOOST_TEST(reply.body["code"] == "");
  BOOST_TEST(reply.body["answer"] == "echo: 13 characters, 0 image(s), 0 bytes");
  BOOST_TEST(reply.body["own_key"] != client_keys.public_key);
}

BOOST_AUTO_TEST_CASE(a_running_design_stops_when_cancelled_or_past_its_deadline)
{
  // a handler that works until told to stop, as the design loop does between steps
  auto options = cephalo::test::quiet_options();
  options.design_handler = [](const bridge::Request &request, const bridge::DesignContext &c) {
    while (!c.should_stop()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return bridge::error_reply(request.id, "no_part", "stopped");
  };
  cephalo::test::RunningServer server(bridge::make_echo_backend(), options);
  bridge::AsyncClient async(server.client());
  bridge::Request long_design = design_request("cancel me");
  long_design.id = "design-to-cancel";
  auto pending = *async.submit(long_design);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  bridge::Client client(server.client());
  bridge::Request cancel;
  cancel.type = bridge::RequestType::Cancel;
  cancel.target = "design-to-cancel";
  cancel.deadline_ms = 5000;
  const auto cancelled = client.call(cancel);
  BOOST_TEST_REQUIRE(cancelled.ok());
  BOOST_TEST(cancelled.body["cancelled"] == true);
  const auto answer = pending.get();
  BOOST_TEST(answer.error_code == "cancelled");

  // (the server's answer comes just after the deadline, so the client waits longer than it)
  const auto start = std::chrono::steady_clock::now();
  const auto late = send_raw(server.server.endpoint(), {{"text", "too slow"}}, 300);
  BOOST_TEST(late.error_code == "deadline");
  BOOST_TEST(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < 2.0);
}
