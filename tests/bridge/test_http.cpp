// The OpenAI-compatible HTTP front and the upstream backend with real sockets on loopback: chat
// completions with and without images against the echo backend, models and health, refusals
// with their HTTP codes (400, 404, 405, 413, 429, 502, 504), and both sides real: a server whose
// upstream is another server's HTTP front. With curl installed, curl talks to the front too.
#define BOOST_TEST_MODULE bridge_http
#include <boost/test/unit_test.hpp>

#include "cephalo/bridge/client.h"
#include "cephalo/bridge/http_front.h"
#include "cephalo/bridge/server.h"
#include "cephalo/bridge/upstream_backend.h"
#include "process.h"
#include "running_server.h"
#include "scratch_dir.h"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

using namespace cephalo::bridge;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using cephalo::test::kPng;
using cephalo::test::quiet_options;
using cephalo::test::RunningServer;
using cephalo::test::SlowBackend;

namespace {

// the base64 of kPng
const std::string kPngBase64 = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAADCAIAAAA=";

// An HTTP front on a free loopback port, serving on its own thread.
struct RunningFront {
  HttpFront front;
  std::thread thread;
  RunningFront(const std::string &zmq_endpoint, HttpFrontOptions options = {}) :
      front("127.0.0.1", 0, zmq_endpoint, options), thread([this] { front.run(); })
  {
  }
  ~RunningFront()
  {
    front.stop();
    thread.join();
  }
  std::string url(const std::string &path = "") const
  {
    return "http://127.0.0.1:" + std::to_string(front.port()) + path;
  }
};

HttpResponse request(const std::string &method, const std::string &url,
                     const std::string &body = "")
{
  HttpExchange x;
  x.method = method;
  x.url = url;
  x.body = body;
  if (!body.empty()) x.headers.emplace_back("Content-Type", "application/json");
  x.timeout_ms = 10000;
  return http_exchange(x);
}

HttpResponse chat(const RunningFront &f, const json &body)
{
  return request("POST", f.url("/v1/chat/completions"), body.dump());
}

json user_says(const json &content)
{
  return {{"model", "echo"}, {"messages", json::array({{{"role", "user"}, {"content", content}}})}};
}

json image_part(const std::string &base64, const std::string &type = "image/png")
{
  return {{"type", "image_url"}, {"image_url", {{"url", "data:" + type + ";base64," + base64}}}};
}

// The OpenAI error object of a response: {code, type}.
std::pair<std::string, std::string> error_of(const HttpResponse &r)
{
  const auto body = json::parse(r.body, nullptr, false);
  if (!body.is_object() || !body.contains("error")) return {"(no error object)", r.body};
  return {body["error"].value("code", ""), body["error"].value("type", "")};
}

}    // namespace

BOOST_AUTO_TEST_CASE(chat_completions_reach_the_echo_backend)
{
  RunningServer s(make_echo_backend());
  RunningFront f(s.server.endpoint());

  json text_only = user_says("Hello there");
  const json system = {{"role", "system"}, {"content", "Be brief."}};
  text_only["messages"].insert(text_only["messages"].begin(), system);
  text_only["max_tokens"] = 16;
  text_only["temperature"] = 0.5;
  text_only["stop"] = "END";
  const auto r = chat(f, text_only);
  BOOST_TEST_REQUIRE(r.status == 200, r.body);
  BOOST_TEST(r.header("content-type") == "application/json");
  const auto body = json::parse(r.body);
  BOOST_TEST(body["object"] == "chat.completion");
  BOOST_TEST(body["id"].get<std::string>().rfind("chatcmpl-", 0) == 0u);
  BOOST_TEST(body["model"] == "echo");
  BOOST_TEST(body["choices"][0]["message"]["role"] == "assistant");
  BOOST_TEST(body["choices"][0]["message"]["content"] ==
             "echo: 11 characters, 0 image(s), 0 bytes");
  BOOST_TEST(body["choices"][0]["finish_reason"] == "stop");
  BOOST_TEST(body["usage"]["completion_tokens"] == 0);
  BOOST_TEST(body["cephalo"]["timing"]["total_ms"].get<double>() >= 0.0);

  // text parts are joined by a newline; the image arrives as its 29 bytes
  const auto described = chat(f, user_says(json::array({{{"type", "text"}, {"text", "What is"}},
                                                        {{"type", "text"}, {"text", "in it?"}},
                                                        image_part(kPngBase64)})));
  BOOST_TEST_REQUIRE(described.status == 200, described.body);
  BOOST_TEST(json::parse(described.body)["choices"][0]["message"]["content"] ==
             "echo: 14 characters, 1 image(s), 29 bytes");

  // two images in one message
  const auto two = chat(f, user_says(json::array({{{"type", "text"}, {"text", "Compare"}},
                                                  image_part(kPngBase64),
                                                  image_part(kPngBase64)})));
  BOOST_TEST(json::parse(two.body)["choices"][0]["message"]["content"] ==
             "echo: 7 characters, 2 image(s), 58 bytes");
}

BOOST_AUTO_TEST_CASE(models_and_health_come_from_the_server)
{
  RunningServer s(make_echo_backend());
  RunningFront f(s.server.endpoint());
  const auto models = request("GET", f.url("/v1/models"));
  BOOST_TEST_REQUIRE(models.status == 200, models.body);
  const auto list = json::parse(models.body);
  BOOST_TEST(list["object"] == "list");
  BOOST_TEST(list["data"].size() == 1u);
  BOOST_TEST(list["data"][0]["id"] == "echo");
  BOOST_TEST(list["data"][0]["object"] == "model");

  const auto health = request("GET", f.url("/health"));
  BOOST_TEST_REQUIRE(health.status == 200, health.body);
  BOOST_TEST(json::parse(health.body)["state"] == "serving");
  BOOST_TEST(json::parse(health.body)["queued"] == 0);
}

BOOST_AUTO_TEST_CASE(bad_requests_are_answered_with_openai_errors)
{
  RunningServer s(make_echo_backend());
  RunningFront f(s.server.endpoint());
  const auto post = [&](const std::string &body) {
    return request("POST", f.url("/v1/chat/completions"), body);
  };
  const auto expect = [](const HttpResponse &r, int status, const std::string &code) {
    BOOST_TEST(r.status == status, r.body);
    BOOST_TEST(error_of(r).first == code, r.body);
    BOOST_TEST(error_of(r).second == (status >= 500 ? "server_error" : "invalid_request_error"));
  };
  expect(post("{not json"), 400, "bad_json");
  expect(post("[1, 2]"), 400, "bad_json");
  expect(post("{}"), 400, "bad_request");
  expect(post(R"({"messages": []})"), 400, "bad_request");
  expect(post(R"({"messages": [{"role": "user", "content": 7}]})"), 400, "bad_request");
  expect(post(R"({"messages": [{"role": "user", "content": "hi"}], "stream": true})"), 400,
         "unsupported");
  expect(post(R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": "many"})"), 400,
         "bad_request");
  expect(post(R"({"messages": [{"role": "user", "content": "hi"}], "seed": -1})"), 400,
         "bad_request");
  expect(post(R"({"messages": [{"role": "user", "content": "hi"}], "numbers": "mean"})"), 400,
         "bad_request");
  expect(post(R"({"messages": [{"role": "user", "content": "hi"},
                               {"role": "assistant", "content": "hello"}]})"),
         400, "bad_request");
  // the server's own checks: over its max_new_tokens, an image that is not one
  expect(post(R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5000})"), 400,
         "bad_request");
  expect(chat(f, user_says(json::array(
                     {{{"type", "text"}, {"text", "x"}}, image_part("bm90IGFuIGltYWdl")}))),
         400, "bad_image");
  expect(chat(f, user_says(json::array(
                     {{{"type", "image_url"}, {"image_url", {{"url", "https://x/y.png"}}}}}))),
         400, "bad_request");
  expect(chat(f, user_says(json::array({image_part("not*base64")}))), 400, "bad_request");
  expect(request("GET", f.url("/v1/chat/completions")), 405, "method_not_allowed");
  expect(request("GET", f.url("/v2/anything")), 404, "not_found");

  const auto bad = post("{not json");
  BOOST_TEST(json::parse(bad.body)["error"]["message"] == "the request body is not valid JSON");
  // and serving goes on
  BOOST_TEST(chat(f, user_says("still?")).status == 200);
}

BOOST_AUTO_TEST_CASE(an_oversized_body_is_refused_with_413_before_it_is_read)
{
  RunningServer s(make_echo_backend());
  HttpFrontOptions options;
  options.max_body_bytes = 1 << 20;
  RunningFront f(s.server.endpoint(), options);
  const std::string big =
      "{\"messages\": [{\"role\": \"user\", \"content\": \"" + std::string(2 << 20, 'a') + "\"}]}";
  const auto r = request("POST", f.url("/v1/chat/completions"), big);
  BOOST_TEST(r.status == 413, r.body);
  BOOST_TEST(error_of(r).first == "too_large");
  // under the front's limit, over the server's prompt limit: the server's too_large
  const auto prompt = chat(f, user_says(std::string(40000, 'b')));
  BOOST_TEST(prompt.status == 413, prompt.body);
  BOOST_TEST(request("GET", f.url("/health")).status == 200);
}

BOOST_AUTO_TEST_CASE(a_full_queue_answers_429)
{
  auto options = quiet_options();
  options.limits.queue_depth = 1;
  options.limits.max_batch = 1;
  RunningServer s(std::make_unique<SlowBackend>(std::chrono::milliseconds(300)), options);
  RunningFront f(s.server.endpoint());
  std::vector<HttpResponse> responses(5);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < responses.size(); ++i)
    threads.emplace_back(
        [&, i] { responses[i] = chat(f, user_says("wait " + std::to_string(i))); });
  for (auto &t : threads) t.join();
  int ok = 0, busy = 0;
  for (const auto &r : responses) {
    ok += r.status == 200;
    if (r.status == 429) {
      ++busy;
      BOOST_TEST(error_of(r).first == "busy");
      BOOST_TEST(error_of(r).second == "rate_limit_error");
      BOOST_TEST(r.header("Retry-After") == "1");
    }
  }
  BOOST_TEST(busy >= 2);    // one running, one queued: the rest cannot wait
  BOOST_TEST(ok >= 1);
  BOOST_TEST(ok + busy == 5);
}

BOOST_AUTO_TEST_CASE(a_late_answer_is_504_and_a_missing_server_502)
{
  RunningServer s(std::make_unique<SlowBackend>(std::chrono::milliseconds(3000)));
  HttpFrontOptions options;
  options.deadline_ms = 300;
  options.control_deadline_ms = 300;
  {
    RunningFront f(s.server.endpoint(), options);
    const auto start = Clock::now();
    const auto r = chat(f, user_says("too slow"));
    BOOST_TEST(r.status == 504, r.body);
    BOOST_TEST(error_of(r).first == "deadline");
    BOOST_TEST(std::chrono::duration<double>(Clock::now() - start).count() < 2.0);
  }
  std::string gone;
  {
    RunningServer first(make_echo_backend());
    gone = first.server.endpoint();
  }
  RunningFront f(gone, options);
  const auto r = chat(f, user_says("anyone?"));
  BOOST_TEST(r.status == 502, r.body);
  BOOST_TEST(error_of(r).first == "unreachable");
  BOOST_TEST(request("GET", f.url("/health")).status == 502);
}

BOOST_AUTO_TEST_CASE(an_upstream_backend_talks_to_another_servers_http_front)
{
  RunningServer first(make_echo_backend());
  RunningFront f(first.server.endpoint());
  RunningServer second(make_upstream_backend(f.url(), "echo"));
  ClientOptions to_second;
  to_second.endpoint = second.server.endpoint();
  Client client(to_second);

  // 29, 30 and 31 bytes: base64 with two, one and no '=' of padding, there and back
  Request describe;
  describe.type = RequestType::Describe;
  describe.prompt = "What is in the picture?";
  describe.system = "You look at fracture surfaces.";
  describe.images = {kPng, kPng + "x", kPng + "xy"};
  describe.deadline_ms = 5000;
  const auto described = client.call(describe);
  BOOST_TEST_REQUIRE(described.ok(), described.error_code + ": " + described.error_message);
  BOOST_TEST(described.text() == "echo: 23 characters, 3 image(s), 90 bytes");
  BOOST_TEST(described.body["model"] == "echo");
  BOOST_TEST(described.body["finish_reason"] == "stop");

  Request generate;
  generate.type = RequestType::Generate;
  generate.prompt = "Only words";
  generate.params.stop = {"\n"};
  generate.deadline_ms = 5000;
  BOOST_TEST(client.call(generate).text() == "echo: 10 characters, 0 image(s), 0 bytes");

  // the upstream refusing is a backend_error naming the URL and the status
  generate.params.max_new_tokens = 5000;    // over the first server's limit
  auto options = quiet_options();
  options.limits.max_new_tokens = 8192;
  RunningServer third(make_upstream_backend(f.url("/v1"), "echo"), options);
  ClientOptions to_third;
  to_third.endpoint = third.server.endpoint();
  const auto refused = Client(to_third).call(generate);
  BOOST_TEST(refused.error_code == "backend_error");
  BOOST_TEST(refused.error_message.find(f.url("/v1/chat/completions") + " answered HTTP 400") !=
                 std::string::npos,
             refused.error_message);

  // nobody listening upstream
  const std::string closed = [] {
    HttpFront probe("127.0.0.1", 0, "tcp://127.0.0.1:1");
    return "http://127.0.0.1:" + std::to_string(probe.port());
  }();
  RunningServer fourth(make_upstream_backend(closed, "echo"), options);
  to_third.endpoint = fourth.server.endpoint();
  const auto unreachable = Client(to_third).call(generate);
  BOOST_TEST(unreachable.error_code == "backend_error");
  BOOST_TEST(unreachable.error_message.find(closed) != std::string::npos,
             unreachable.error_message);

  BOOST_CHECK_THROW(make_upstream_backend("https://example.org", "m"), std::invalid_argument);
  BOOST_CHECK_THROW(make_upstream_backend("localhost:8000", "m"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(curl_gets_a_chat_completion)
{
  if (std::system("command -v curl > /dev/null 2>&1") != 0) {
    BOOST_TEST_MESSAGE("curl is not installed; skipped");
    return;
  }
  RunningServer s(make_echo_backend());
  RunningFront f(s.server.endpoint());
  cephalo::test::ScratchDir dir;
  std::ofstream(dir / "request.json")
      << user_says(json::array({{{"type", "text"}, {"text", "Describe the crack."}},
                                image_part(kPngBase64)}))
             .dump();
  const auto result =
      cephalo::test::run_command(dir.path(),
                                 "curl -sS -H 'Content-Type: application/json' -d @request.json " +
                                     cephalo::test::shell_quote(f.url("/v1/chat/completions")),
                                 30);
  BOOST_TEST_REQUIRE(result.exit_code == 0, result.output);
  const auto body = json::parse(result.output, nullptr, false);
  BOOST_TEST_REQUIRE(body.is_object(), result.output);
  BOOST_TEST(body["choices"][0]["message"]["content"] ==
             "echo: 19 characters, 1 image(s), 29 bytes");
}
