// The upstream backend and its plain-HTTP transport (see upstream_backend.h). Each exchange runs
// on an io_context of its own, one operation at a time, polling the caller's stop between
// short runs: synchronous in shape, with a deadline and cancellation.
#include "cephalo/bridge/upstream_backend.h"

#include "cephalo/bridge/base64.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <stdexcept>
#include <thread>

namespace cephalo::bridge {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Url {
  std::string host, port, path;    // path begins with '/'
};

Url parse_url(const std::string &url)
{
  const std::string scheme = "http://";
  if (url.rfind("https://", 0) == 0)
    throw std::invalid_argument("'" + url +
                                "': TLS (https) is not supported; use http:// (through a local "
                                "proxy for a TLS endpoint)");
  if (url.rfind(scheme, 0) != 0)
    throw std::invalid_argument("'" + url + "' is not a URL of the form http://host[:port][/path]");
  const std::string rest = url.substr(scheme.size());
  const auto slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  Url u;
  u.path = slash == std::string::npos ? "/" : rest.substr(slash);
  std::string::size_type colon = std::string::npos;
  if (!authority.empty() && authority.front() == '[') {    // [IPv6]:port
    const auto close = authority.find(']');
    if (close == std::string::npos)
      throw std::invalid_argument("'" + url + "': unclosed '[' in the host");
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') throw std::invalid_argument("'" + url + "': bad host");
      colon = close + 1;
    }
  } else {
    colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
  }
  u.port = colon == std::string::npos ? "80" : authority.substr(colon + 1);
  if (u.host.empty() || u.port.empty() ||
      u.port.find_first_not_of("0123456789") != std::string::npos)
    throw std::invalid_argument("'" + url + "' is not a URL of the form http://host[:port][/path]");
  return u;
}

std::string lowered(std::string text)
{
  for (auto &c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// Runs the operation that `start` begins to completion, cancelling it (through `cancel`) when
// the deadline passes or `stop` says so. Returns the operation's error.
template <class Start, class Cancel>
beast::error_code run_operation(net::io_context &io, Clock::time_point deadline,
                                const std::function<bool()> &stop, Start &&start, Cancel &&cancel,
                                bool &interrupted)
{
  beast::error_code result;
  bool done = false;
  start([&](beast::error_code ec, auto &&...) {
    result = ec;
    done = true;
  });
  io.restart();
  bool cancelled = false;
  while (!done) {
    io.run_one_for(std::chrono::milliseconds(20));
    if (!done && !cancelled && (Clock::now() >= deadline || (stop && stop()))) {
      cancel();
      cancelled = interrupted = true;
    }
  }
  io.run();    // what the cancellation left (the stream's timer)
  return result;
}

std::string image_data_uri(const std::string &bytes)
{
  std::string type;
  if (bytes.rfind("\x89PNG\r\n\x1a\n", 0) == 0)
    type = "image/png";
  else if (bytes.rfind("\xff\xd8\xff", 0) == 0)
    type = "image/jpeg";
  else
    throw std::invalid_argument("an image is neither PNG nor JPEG");
  return "data:" + type + ";base64," + base64_encode(bytes);
}

class UpstreamBackend : public Backend {
 public:
  UpstreamBackend(const std::string &base_url, std::string model, std::string api_key) :
      model_(std::move(model)), api_key_(std::move(api_key))
  {
    Url u = parse_url(base_url);
    std::string prefix = u.path;
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    const bool has_v1 = prefix.size() >= 3 && prefix.compare(prefix.size() - 3, 3, "/v1") == 0;
    const std::string authority = u.host.find(':') != std::string::npos
                                      ? "[" + u.host + "]:" + u.port
                                      : u.host + ":" + u.port;
    url_ = "http://" + authority + prefix + (has_v1 ? "" : "/v1") + "/chat/completions";
  }

  std::string model_name() const override { return model_; }
  std::string kind() const override { return "upstream"; }

  void run(std::vector<Job> &jobs, const std::function<bool(std::size_t)> &stop) override
  {
    // the jobs of a batch go out together: an upstream server batches them itself
    std::vector<std::thread> threads;
    threads.reserve(jobs.size());
    for (std::size_t i = 0; i < jobs.size(); ++i)
      threads.emplace_back([&, i] { run_one(jobs[i], [&stop, i] { return stop(i); }); });
    for (auto &t : threads) t.join();
  }

 private:
  json request_body(const Request &r) const
  {
    json messages = json::array();
    if (!r.system.empty()) messages.push_back({{"role", "system"}, {"content", r.system}});
    if (r.images.empty()) {
      messages.push_back({{"role", "user"}, {"content", r.prompt}});
    } else {
      json parts = json::array({{{"type", "text"}, {"text", r.prompt}}});
      for (const auto &image : r.images)
        parts.push_back({{"type", "image_url"}, {"image_url", {{"url", image_data_uri(image)}}}});
      messages.push_back({{"role", "user"}, {"content", std::move(parts)}});
    }
    const auto &p = r.params;
    json body = {{"model", model_},
                 {"messages", std::move(messages)},
                 {"max_tokens", p.max_new_tokens},
                 {"temperature", p.temperature},
                 {"top_p", p.top_p},
                 {"seed", p.seed},
                 {"stream", false}};
    if (p.top_k > 0) body["top_k"] = p.top_k;    // not OpenAI's, but vLLM and mistral.rs take it
    if (!p.stop.empty()) body["stop"] = p.stop;
    return body;
  }

  void fail(Job &job, const std::string &code, const std::string &message) const
  {
    job.error_code = code;
    job.error_message = message;
  }

  void run_one(Job &job, const std::function<bool()> &stop) const
  {
    const Request &r = *job.request;
    HttpExchange x;
    x.method = "POST";
    x.url = url_;
    try {
      x.body = request_body(r).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } catch (const std::invalid_argument &e) {
      return fail(job, "bad_image", e.what());
    }
    x.headers.emplace_back("Content-Type", "application/json");
    if (!api_key_.empty()) x.headers.emplace_back("Authorization", "Bearer " + api_key_);
    x.timeout_ms = r.deadline_ms;
    bool stopped = false;
    x.stop = [&] { return stopped = stopped || stop(); };
    const auto start = Clock::now();
    HttpResponse response;
    try {
      response = http_exchange(x);
    } catch (const std::exception &e) {
      // ended by the server (deadline or cancel) or by the request's own deadline: not a failure
      // of the upstream
      if (stopped || Clock::now() - start >= std::chrono::milliseconds(r.deadline_ms)) {
        job.stopped = true;
        return;
      }
      return fail(job, "backend_error", e.what());
    }
    const double wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    const json body = json::parse(response.body, nullptr, false);
    if (response.status != 200) {
      std::string said = response.body.substr(0, 300);
      if (body.is_object() && body.contains("error")) {
        const auto &error = body["error"];
        said = error.is_object() && error.contains("message") && error["message"].is_string()
                   ? error["message"].get<std::string>()
                   : error.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      }
      return fail(job, "backend_error",
                  "upstream " + url_ + " answered HTTP " + std::to_string(response.status) + ": " +
                      said);
    }
    const json *choice = nullptr;
    if (body.is_object() && body.contains("choices") && body["choices"].is_array() &&
        !body["choices"].empty() && body["choices"][0].is_object())
      choice = &body["choices"][0];
    if (!choice || !choice->contains("message") || !(*choice)["message"].is_object())
      return fail(job, "backend_error",
                  "upstream " + url_ +
                      " answered without choices[0].message: " + response.body.substr(0, 300));
    const json &message = (*choice)["message"];
    if (message.contains("content") && message["content"].is_string())
      job.text = message["content"].get<std::string>();
    const auto finish = choice->find("finish_reason");
    job.finish_reason = finish != choice->end() && *finish == "length" ? "length" : "stop";
    if (const auto usage = body.find("usage"); usage != body.end() && usage->is_object())
      if (const auto n = usage->find("completion_tokens");
          n != usage->end() && n->is_number_integer())
        job.tokens = n->get<int>();
    // our own HTTP front reports the upstream server's timing; others only the wall time
    job.timing.decode_ms = wall_ms;
    if (const auto extra = body.find("cephalo"); extra != body.end() && extra->is_object())
      if (const auto t = extra->find("timing"); t != extra->end() && t->is_object()) {
        const auto ms = [&](const char *key) {
          const auto v = t->find(key);
          return v != t->end() && v->is_number() ? v->get<double>() : 0.0;
        };
        job.timing.encode_ms = ms("encode_ms");
        job.timing.prefill_ms = ms("prefill_ms");
        job.timing.decode_ms = ms("decode_ms");
      }
  }

  std::string model_, api_key_, url_;
};

}    // namespace

std::string HttpResponse::header(const std::string &name) const
{
  const std::string wanted = lowered(name);
  for (const auto &[key, value] : headers)
    if (lowered(key) == wanted) return value;
  return {};
}

HttpResponse http_exchange(const HttpExchange &x)
{
  const Url url = parse_url(x.url);
  const auto deadline = Clock::now() + std::chrono::milliseconds(x.timeout_ms);
  net::io_context io;
  tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  bool interrupted = false;
  const auto failed = [&](const std::string &step, const beast::error_code &ec) {
    const std::string why = !interrupted ? ec.message()
                            : Clock::now() >= deadline
                                ? "no answer within " + std::to_string(x.timeout_ms) + " ms"
                                : "stopped by the caller";
    return std::runtime_error(x.method + " " + x.url + ": " + step + ": " + why);
  };

  tcp::resolver::results_type endpoints;
  auto ec = run_operation(
      io, deadline, x.stop,
      [&](auto handler) {
        resolver.async_resolve(url.host, url.port,
                               [&, handler](beast::error_code e, tcp::resolver::results_type r) {
                                 endpoints = std::move(r);
                                 handler(e);
                               });
      },
      [&] { resolver.cancel(); }, interrupted);
  if (ec) throw failed("resolving " + url.host, ec);

  stream.expires_at(deadline);
  ec = run_operation(
      io, deadline, x.stop,
      [&](auto handler) {
        stream.async_connect(endpoints,
                             [handler](beast::error_code e, const tcp::endpoint &) { handler(e); });
      },
      [&] { stream.cancel(); }, interrupted);
  if (ec) throw failed("connecting", ec);

  http::request<http::string_body> request;
  const auto verb = http::string_to_verb(x.method);
  if (verb == http::verb::unknown) throw std::invalid_argument("unknown HTTP method " + x.method);
  request.method(verb);
  request.target(url.path);
  request.version(11);
  request.set(http::field::host, url.host + ":" + url.port);
  request.set(http::field::user_agent, "cephalo-serve");
  for (const auto &[name, value] : x.headers) request.set(name, value);
  request.body() = x.body;
  request.keep_alive(false);
  request.prepare_payload();
  ec = run_operation(
      io, deadline, x.stop,
      [&](auto handler) {
        http::async_write(stream, request,
                          [handler](beast::error_code e, std::size_t) { handler(e); });
      },
      [&] { stream.cancel(); }, interrupted);
  if (ec) throw failed("sending the request", ec);

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(std::uint64_t{256} << 20);
  ec = run_operation(
      io, deadline, x.stop,
      [&](auto handler) {
        http::async_read(stream, buffer, parser,
                         [handler](beast::error_code e, std::size_t) { handler(e); });
      },
      [&] { stream.cancel(); }, interrupted);
  if (ec) throw failed("reading the response", ec);

  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  HttpResponse response;
  auto &message = parser.get();
  response.status = static_cast<int>(message.result_int());
  response.body = std::move(message.body());
  for (const auto &field : message)
    response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  return response;
}

std::unique_ptr<Backend> make_upstream_backend(const std::string &base_url,
                                               const std::string &model, std::string api_key)
{
  return std::make_unique<UpstreamBackend>(base_url, model, std::move(api_key));
}

}    // namespace cephalo::bridge
