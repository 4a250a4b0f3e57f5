// cephalo-serve's core with real ZeroMQ on loopback: round trips of every request type, many
// clients with nothing lost or duplicated, busy when the queue is full, deadlines, a server that
// goes away and comes back, cancellation, and malformed messages answered while serving goes on.
#define BOOST_TEST_MODULE bridge_server
#include <boost/test/unit_test.hpp>

#include "cephalo/bridge/client.h"
#include "cephalo/bridge/curve.h"
#include "cephalo/bridge/server.h"
#include "cephalo/bridge/zmq_io.h"
#include "running_server.h"

#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <thread>

using namespace cephalo::bridge;
using Clock = std::chrono::steady_clock;
using cephalo::test::kPng;
using cephalo::test::quiet_options;
using cephalo::test::RunningServer;
using cephalo::test::SlowBackend;

namespace {

Request describe(const std::string &prompt, int deadline_ms = 5000)
{
  Request r;
  r.type = RequestType::Describe;
  r.prompt = prompt;
  r.images = {kPng};
  r.deadline_ms = deadline_ms;
  return r;
}

// Sends raw frames from a DEALER and waits for one reply.
std::optional<Reply> raw_round_trip(const std::string &endpoint,
                                    const std::vector<std::string> &frames, int wait_ms = 2000)
{
  zmq::context_t context;
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::rcvtimeo, wait_ms);
  socket.connect(endpoint);
  send_frames(socket, frames);
  const auto message = receive_frames(socket);
  if (!message) return std::nullopt;
  return parse_reply(decode(*message));
}

}    // namespace

BOOST_AUTO_TEST_CASE(every_request_type_round_trips)
{
  RunningServer s(make_echo_backend());
  Client client(s.client());

  const auto described = client.call(describe("What is in the picture?"));
  BOOST_TEST(described.ok());
  BOOST_TEST(described.text() == "echo: 23 characters, 1 image(s), 29 bytes");
  BOOST_TEST(described.body["model"] == "echo");
  BOOST_TEST(described.timing().total_ms >= 0.0);

  Request generate;
  generate.type = RequestType::Generate;
  generate.prompt = "Say {\"crack_length\": 12.5} please";
  generate.params.json_fields = true;
  const auto generated = client.call(generate);
  BOOST_TEST(generated.ok());
  BOOST_TEST(generated.body.contains("fields"));

  Request info;
  info.type = RequestType::Info;
  const auto about = client.call(info);
  BOOST_TEST(about.body["backend"] == "echo");
  BOOST_TEST(about.body["protocol_versions"] == nlohmann::json::array({1}));
  BOOST_TEST(about.body["limits"]["queue_depth"] == 64);

  Request health;
  health.type = RequestType::Health;
  BOOST_TEST(client.call(health).body["state"] == "serving");

  Request cancel;
  cancel.type = RequestType::Cancel;
  cancel.target = "nothing-like-this";
  BOOST_TEST(client.call(cancel).body["cancelled"] == false);
}

BOOST_AUTO_TEST_CASE(structured_answers_carry_the_first_json_object)
{
  BOOST_TEST(first_json_object(
                 "The crack is {\"length\": 23.5, \"tip\": [4, 5]} long.")["length"] == 23.5);
  BOOST_TEST(first_json_object("no object {here").empty());
  BOOST_TEST(first_json_object("{bad} then {\"a\": \"}\"}")["a"] == "}");
}

BOOST_AUTO_TEST_CASE(eight_clients_500_requests_each_every_id_answered_once)
{
  RunningServer s(make_echo_backend());
  std::mutex mutex;
  std::map<std::string, int> answered;
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c)
    clients.emplace_back([&, c] {
      Client client(s.client());
      for (int i = 0; i < 500; ++i) {
        auto request = describe("client " + std::to_string(c) + " request " + std::to_string(i));
        request.id = std::to_string(c) + "-" + std::to_string(i);
        const auto reply = client.call(request);
        if (!reply.ok() || reply.id != request.id) ++failures;
        const std::lock_guard lock(mutex);
        ++answered[reply.id];
      }
    });
  for (auto &t : clients) t.join();
  BOOST_TEST(failures == 0);
  BOOST_TEST(answered.size() == 4000u);
  BOOST_TEST(
      std::all_of(answered.begin(), answered.end(), [](const auto &a) { return a.second == 1; }));
}

BOOST_AUTO_TEST_CASE(a_full_queue_answers_busy_at_once)
{
  auto options = quiet_options();
  options.limits.queue_depth = 2;
  options.limits.max_batch = 1;
  RunningServer s(std::make_unique<SlowBackend>(std::chrono::milliseconds(300)), options);
  AsyncClient client(s.client(), 16);
  std::vector<std::future<Reply>> futures;
  for (int i = 0; i < 8; ++i)
    futures.push_back(*client.submit(describe("wait " + std::to_string(i))));
  int ok = 0, busy = 0;
  for (auto &f : futures) {
    const auto reply = f.get();
    ok += reply.ok();
    busy += reply.status == "busy" && reply.error_code == "busy";
  }
  BOOST_TEST(busy >= 4);    // one running, two queued: the rest cannot wait
  BOOST_TEST(ok + busy == 8);
}

BOOST_AUTO_TEST_CASE(deadlines_are_honoured_by_client_and_server)
{
  auto options = quiet_options();
  options.limits.max_batch = 1;
  RunningServer s(std::make_unique<SlowBackend>(std::chrono::milliseconds(400)), options);
  AsyncClient async(s.client());
  auto first = *async.submit(describe("slow", 5000));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  // queued behind the first, it expires in the queue: answered deadline, not run
  auto second = raw_round_trip(s.server.endpoint(), encode(make_request([] {
                                 auto r = describe("late", 100);
                                 r.id = "late-1";
                                 return r;
                               }())),
                               3000);
  BOOST_TEST_REQUIRE(second.has_value());
  BOOST_TEST(second->error_code == "deadline");
  BOOST_TEST(first.get().ok());

  // The client gives up at its deadline even when the server is still busy. The request
  // waits behind another one, so that the server's own answer (deadline, when it dequeues
  // the request) cannot come before the client's: otherwise the two race at 150 ms.
  auto blocker = *async.submit(describe("busy", 5000));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  Client client(s.client());
  const auto start = Clock::now();
  const auto reply = client.call(describe("too slow", 150));
  const double waited = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  BOOST_TEST(reply.error_code == "unreachable");
  BOOST_TEST(waited < 340.0);
  BOOST_TEST(blocker.get().ok());
}

BOOST_AUTO_TEST_CASE(a_server_that_goes_away_and_comes_back)
{
  std::string endpoint;
  {
    RunningServer first(make_echo_backend());
    endpoint = first.server.endpoint();
  }
  ClientOptions options;
  options.endpoint = endpoint;
  options.retry_interval_ms = 200;
  Client client(options);
  // nobody there: an error within the deadline, not a hang
  auto start = Clock::now();
  const auto dead = client.call(describe("anyone?", 600));
  BOOST_TEST(dead.error_code == "unreachable");
  BOOST_TEST(std::chrono::duration<double>(Clock::now() - start).count() < 1.5);

  // a request in flight while the server restarts is answered by the new one
  std::unique_ptr<RunningServer> second;
  std::thread restart([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    second = std::make_unique<RunningServer>(make_echo_backend(), quiet_options(endpoint));
  });
  const auto alive = client.call(describe("back?", 5000));
  restart.join();
  BOOST_TEST(alive.ok());
}

BOOST_AUTO_TEST_CASE(cancel_stops_a_queued_and_a_running_request)
{
  auto options = quiet_options();
  options.limits.max_batch = 1;
  RunningServer s(std::make_unique<SlowBackend>(std::chrono::milliseconds(2000)), options);
  AsyncClient async(s.client());
  auto running = describe("running");
  running.id = "running-1";
  auto queued = describe("queued");
  queued.id = "queued-1";
  auto running_reply = *async.submit(running);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto queued_reply = *async.submit(queued);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  Client client(s.client());
  for (const char *target : {"queued-1", "running-1"}) {
    Request cancel;
    cancel.type = RequestType::Cancel;
    cancel.target = target;
    BOOST_TEST(client.call(cancel).body["cancelled"] == true);
  }
  const auto start = Clock::now();
  BOOST_TEST(queued_reply.get().error_code == "cancelled");
  BOOST_TEST(running_reply.get().error_code == "cancelled");
  BOOST_TEST(std::chrono::duration<double>(Clock::now() - start).count() < 1.0);
}

BOOST_AUTO_TEST_CASE(malformed_messages_are_answered_and_serving_goes_on)
{
  RunningServer s(make_echo_backend());
  const auto code = [&](const std::vector<std::string> &frames) {
    const auto reply = raw_round_trip(s.server.endpoint(), frames);
    return reply ? reply->error_code : std::string("no reply");
  };
  const std::string ok_header = R"({"id": "x1", "type": "describe"})";
  BOOST_TEST(code({"cephalo/1"}) == "bad_frames");
  BOOST_TEST(code({"zmtp/1", "{}", "{}"}) == "bad_protocol");
  BOOST_TEST(code({"cephalo/9", "{}", "{}"}) == "unsupported_version");
  BOOST_TEST(code({"cephalo/1", "{not json", "{}"}) == "bad_json");
  BOOST_TEST(code({"cephalo/1", R"({"type": "describe"})", "{}"}) == "bad_request");
  BOOST_TEST(code({"cephalo/1", R"({"id": "x", "type": "dance"})", "{}"}) == "unknown_type");
  BOOST_TEST(code({"cephalo/1", ok_header, R"({"prompt": 7})", kPng}) == "bad_request");
  BOOST_TEST(code({"cephalo/1", ok_header, R"({"prompt": "hi"})", "not an image"}) == "bad_image");
  BOOST_TEST(code({"cephalo/1", ok_header, R"({"prompt": "hi", "top_p": 2})", kPng}) ==
             "bad_request");
  BOOST_TEST(code({"cephalo/1", ok_header, R"({"prompt": "hi", "images": [3]})", kPng}) ==
             "bad_request");
  std::string huge = kPng;
  huge[17] = '\x7f';    // 8 million pixels wide, 3 high
  BOOST_TEST(code({"cephalo/1", ok_header, R"({"prompt": "hi"})", huge}) == "too_large");
  const auto bad_id =
      raw_round_trip(s.server.endpoint(), {"cephalo/1", R"({"id": "mine", "type": 5})", "{}"});
  BOOST_TEST(bad_id->id == "mine");    // errors are answered by id where one can be read

  // random frames: every message is answered, and the server still serves
  std::mt19937 rng(7);
  zmq::context_t context;
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::rcvtimeo, 5000);
  socket.connect(s.server.endpoint());
  const std::vector<std::string> pieces{
      "cephalo/1", "cephalo/",     "{}",
      "{\"id\":",  ok_header,      R"({"prompt":"x"})",
      kPng,        "\xff\xd8\xff", "",
      "[]",        "null",         "{\"id\": \"z\", \"type\": \"info\"}"};
  // at most `window` messages unanswered: a client that reads none of its replies fills its
  // pipes, and the server drops replies to it rather than stall (router_mandatory off), so 3000
  // sent before one is read would lose some whenever the machine is slow to move them
  const int messages = 3000, window = 200;
  int replies = 0;
  bool silent = false;    // no reply within the receive timeout: stop, and fail below
  const auto receive = [&] {
    if (receive_frames(socket))
      ++replies;
    else
      silent = true;
  };
  for (int m = 0; m < messages && !silent; ++m) {
    while (!silent && m - replies >= window) receive();
    std::vector<std::string> frames(1 + rng() % 6);
    for (auto &f : frames) {
      f = pieces[rng() % pieces.size()];
      if (rng() % 3 == 0 && !f.empty()) f.resize(rng() % f.size());    // truncated
      if (rng() % 5 == 0) f += static_cast<char>(rng());
    }
    send_frames(socket, frames);
  }
  while (!silent && replies < messages) receive();
  BOOST_TEST(replies == messages);
  Client client(s.client());
  BOOST_TEST(client.call(describe("still there?")).ok());
}

BOOST_AUTO_TEST_CASE(curve_admits_listed_keys_and_refuses_others)
{
  const auto server_keys = generate_curve_keypair();
  const auto client_keys = generate_curve_keypair();
  const auto stranger = generate_curve_keypair();
  auto options = quiet_options();
  options.curve_secret_key = server_keys.secret_key;
  options.curve_client_keys = {client_keys.public_key};
  RunningServer s(make_echo_backend(), options);

  auto client_options = s.client();
  client_options.curve_server_key = server_keys.public_key;
  client_options.curve_public_key = client_keys.public_key;
  client_options.curve_secret_key = client_keys.secret_key;
  BOOST_TEST(Client(client_options).call(describe("secret crack", 3000)).ok());

  client_options.curve_public_key = stranger.public_key;
  client_options.curve_secret_key = stranger.secret_key;
  client_options.retry_interval_ms = 300;
  BOOST_TEST(Client(client_options).call(describe("let me in", 800)).error_code == "unreachable");

  // and a client without CURVE at all
  BOOST_TEST(Client(s.client()).call(describe("plain", 800)).error_code == "unreachable");
  BOOST_TEST(curve_public_of(client_keys.secret_key) == client_keys.public_key);
}

BOOST_AUTO_TEST_CASE(an_id_in_flight_is_not_taken_over_by_another_request)
{
  auto options = quiet_options();
  options.limits.max_batch = 1;
  RunningServer s(std::make_unique<SlowBackend>(std::chrono::milliseconds(400)), options);
  AsyncClient first(s.client());
  auto mine = describe("mine");
  mine.id = "7";
  auto reply = *first.submit(mine);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto theirs = describe("theirs");
  theirs.id = "7";
  const auto other = raw_round_trip(s.server.endpoint(), encode(make_request(theirs)));
  BOOST_TEST_REQUIRE(other.has_value());
  BOOST_TEST(other->error_code == "bad_request");
  BOOST_TEST(reply.get().text() == "slow answer to mine");
}

BOOST_AUTO_TEST_CASE(limits_hold_for_defaults_and_for_image_lists)
{
  auto options = quiet_options();
  options.limits.max_new_tokens = 64;
  RunningServer s(make_echo_backend(), options);
  auto request = describe("hi");
  request.id = "default";
  Envelope e = make_request(request);
  e.body.erase("max_new_tokens");
  // the default of 256 obeys the server's cap: parsed as 64
  BOOST_TEST(parse_request(e, options.limits).params.max_new_tokens == 64);
  BOOST_TEST(!parse_request(e, options.limits).params.median_numbers);
  request.params.median_numbers = true;
  request.params.max_new_tokens = 64;
  BOOST_TEST(parse_request(make_request(request), options.limits).params.median_numbers);
  e.body["images"] = nlohmann::json::array();
  for (int i = 0; i < 100; ++i) e.body["images"].push_back(0);
  e.header["id"] = "many";
  const auto many = raw_round_trip(s.server.endpoint(), encode(e));
  BOOST_TEST(many->error_code == "too_large");
}

BOOST_AUTO_TEST_CASE(a_stopping_server_reports_draining_and_refuses_new_work)
{
  auto options = quiet_options();
  options.limits.max_batch = 1;
  auto s = std::make_unique<RunningServer>(
      std::make_unique<SlowBackend>(std::chrono::milliseconds(600)), options);
  AsyncClient async(s->client());
  auto running = *async.submit(describe("running"));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  s->server.stop();
  Request health;
  health.type = RequestType::Health;
  health.deadline_ms = 2000;
  BOOST_TEST(Client(s->client()).call(health).body["state"] == "draining");
  BOOST_TEST(Client(s->client()).call(describe("late", 2000)).error_code == "shutting_down");
  BOOST_TEST(running.get().ok());    // the running request finishes
  s.reset();
}
