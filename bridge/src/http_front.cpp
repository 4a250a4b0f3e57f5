// The OpenAI-compatible HTTP front (see http_front.h). The acceptor runs on an io_context of its
// own; each connection gets a thread with its own io_context, running one operation at a time
// (synchronous in shape, with timeouts), and borrows a Client from a pool for its calls.
#include "cephalo/bridge/http_front.h"

#include "cephalo/bridge/base64.h"
#include "cephalo/bridge/client.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <ctime>
#include <list>
#include <mutex>
#include <thread>

namespace cephalo::bridge {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;
using Response = http::response<http::string_body>;

// A request answered with an OpenAI-style error object.
class HttpError : public std::runtime_error {
 public:
  HttpError(int status, std::string code, const std::string &message) :
      std::runtime_error(message), status_(status), code_(std::move(code))
  {
  }
  int status() const { return status_; }
  const std::string &code() const { return code_; }

 private:
  int status_;
  std::string code_;
};

[[noreturn]] void bad_request(const std::string &field, const std::string &what)
{
  throw HttpError(400, "bad_request", field + ": " + what);
}

// The HTTP status for a Cephalo error code (PROTOCOL.md, Errors).
int status_of(const std::string &code)
{
  if (code == "busy") return 429;
  if (code == "too_large") return 413;
  if (code == "deadline") return 504;
  if (code == "unreachable") return 502;
  if (code == "shutting_down") return 503;
  if (code == "bad_request" || code == "bad_json" || code == "bad_image" ||
      code == "unknown_type" || code == "bad_frames" || code == "bad_protocol" ||
      code == "unsupported_version")
    return 400;
  return 500;    // backend_error, cancelled
}

Response json_response(int status, const json &body)
{
  Response response{static_cast<http::status>(status), 11};
  response.set(http::field::server, "cephalo-serve");
  response.set(http::field::content_type, "application/json");
  response.body() = body.dump(
      -1, ' ', false,
      nlohmann::json::error_handler_t::replace);    // bytes from the wire may not be UTF-8
  response.prepare_payload();
  return response;
}

// A response after which the connection is closed.
Response closing(Response response)
{
  response.keep_alive(false);
  return response;
}

Response error_response(int status, const std::string &code, const std::string &message)
{
  const std::string type = status == 429   ? "rate_limit_error"
                           : status >= 500 ? "server_error"
                                           : "invalid_request_error";
  auto response = json_response(
      status,
      {{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code}}}});
  if (status == 429 || status == 503) response.set(http::field::retry_after, "1");
  return response;
}

[[noreturn]] void throw_reply_error(const Reply &reply)
{
  const std::string message = reply.error_code == "unreachable"
                                  ? "the Cephalo server does not answer: " + reply.error_message
                                  : reply.error_message;
  throw HttpError(status_of(reply.error_code), reply.error_code, message);
}

// --- chat completions <-> describe / generate -------------------------------------------------

// The text of a message's content: a string, or the text parts of an array of parts. Image parts
// go to `images` (data: URIs only); without `images` they are refused.
std::string message_text(const json &content, const std::string &where,
                         std::vector<std::string> *images)
{
  if (content.is_null()) return {};
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) bad_request(where, "must be a string or an array of content parts");
  std::string text;
  for (std::size_t j = 0; j < content.size(); ++j) {
    const json &part = content[j];
    const std::string at = where + "[" + std::to_string(j) + "]";
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
      bad_request(at, "must be an object with a string 'type'");
    const std::string type = part["type"].get<std::string>();
    if (type == "text") {
      if (!part.contains("text") || !part["text"].is_string())
        bad_request(at + ".text", "must be a string");
      if (!text.empty()) text += '\n';
      text += part["text"].get<std::string>();
    } else if (type == "image_url") {
      if (!images) bad_request(at, "images are only taken in user messages");
      const json *url = part.contains("image_url") ? &part["image_url"] : nullptr;
      if (url && url->is_object()) url = url->contains("url") ? &(*url)["url"] : nullptr;
      if (!url || !url->is_string()) bad_request(at + ".image_url.url", "must be a string");
      const std::string &uri = url->get_ref<const std::string &>();
      const auto comma = uri.find(',');
      if (uri.rfind("data:", 0) != 0 || comma == std::string::npos)
        bad_request(at + ".image_url.url",
                    "only data: URIs are taken (data:image/png;base64,...), not links");
      const std::string_view meta(uri.data(), comma);
      if (meta.size() < 7 || meta.substr(meta.size() - 7) != ";base64")
        bad_request(at + ".image_url.url", "the data: URI must be base64 (;base64,)");
      auto bytes = base64_decode(std::string_view(uri).substr(comma + 1));
      if (!bytes) bad_request(at + ".image_url.url", "the data: URI's payload is not base64");
      images->push_back(std::move(*bytes));
    } else {
      bad_request(at + ".type", "'" + type + "' is not taken; expected text or image_url");
    }
  }
  return text;
}

// A describe (with images) or generate request from an OpenAI chat completion request. The
// Cephalo protocol carries one system message and one user turn: system messages become the
// system text, the last message (which must be the user's) the prompt and its images; earlier
// user and assistant turns are not forwarded.
Request chat_request(const json &body)
{
  if (const auto stream = body.find("stream"); stream != body.end() && *stream == true)
    throw HttpError(400, "unsupported", "stream: streaming is not supported yet; send false");
  if (const auto n = body.find("n"); n != body.end() && !n->is_null() && *n != 1)
    bad_request("n", "only one choice (n = 1) is supported");
  const auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array() || messages->empty())
    bad_request("messages", "must be a non-empty array of messages");

  Request r;
  r.id = new_request_id();
  for (std::size_t i = 0; i < messages->size(); ++i) {
    const json &m = (*messages)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      bad_request(where, "must be an object with a string 'role'");
    const std::string role = m["role"].get<std::string>();
    const json content = m.contains("content") ? m["content"] : json();
    const bool last = i + 1 == messages->size();
    if (role == "system" || role == "developer") {
      const std::string text = message_text(content, where + ".content", nullptr);
      if (!r.system.empty() && !text.empty()) r.system += "\n\n";
      r.system += text;
    } else if (role == "user") {
      if (last) r.prompt = message_text(content, where + ".content", &r.images);
    } else if (role != "assistant" && role != "tool") {
      bad_request(where + ".role", "'" + role + "' is not system, developer, user or assistant");
    }
    if (last && role != "user") bad_request(where, "the last message must be the user's");
  }
  r.type = r.images.empty() ? RequestType::Generate : RequestType::Describe;

  // Ranges are the server's to check (its limits); here only the types.
  auto &p = r.params;
  const auto field = [&](const char *key) -> const json * {
    const auto it = body.find(key);
    return it == body.end() || it->is_null() ? nullptr : &*it;
  };
  for (const char *key : {"max_tokens", "max_completion_tokens"})    // the latter wins
    if (const json *v = field(key)) {
      if (!v->is_number_integer() || *v < 0) bad_request(key, "must be an integer >= 0");
      p.max_new_tokens =
          v->is_number_unsigned() && v->get<std::uint64_t>() > INT_MAX ? INT_MAX : v->get<int>();
    }
  if (const json *v = field("temperature")) {
    if (!v->is_number()) bad_request("temperature", "must be a number");
    p.temperature = v->get<double>();
  }
  if (const json *v = field("top_p")) {
    if (!v->is_number()) bad_request("top_p", "must be a number");
    p.top_p = v->get<double>();
  }
  if (const json *v = field("top_k")) {
    if (!v->is_number_integer() || *v < 0 || *v > INT_MAX)
      bad_request("top_k", "must be an integer >= 0");
    p.top_k = v->get<int>();
  }
  if (const json *v = field("seed")) {
    if (!v->is_number_integer() || *v < 0) bad_request("seed", "must be an integer >= 0");
    p.seed = v->get<std::uint64_t>();
  }
  if (const json *v = field("numbers")) {
    if (!v->is_string() || (*v != "mode" && *v != "median"))
      bad_request("numbers", "must be \"mode\" or \"median\"");
    p.median_numbers = *v == "median";
  }
  if (const json *v = field("stop")) {
    if (v->is_string())
      p.stop = {v->get<std::string>()};
    else if (v->is_array() &&
             std::all_of(v->begin(), v->end(), [](const json &s) { return s.is_string(); }))
      p.stop = v->get<std::vector<std::string>>();
    else
      bad_request("stop", "must be a string or an array of strings");
  }
  if (const json *v = field("response_format")) {
    const auto type = v->is_object() ? v->find("type") : v->end();
    if (type != v->end() && *type == "json_object")
      p.json_fields = true;
    else if (type == v->end() || *type != "text")
      bad_request("response_format", "only {\"type\": \"text\"} and {\"type\": \"json_object\"}");
  }
  if (const json *v = field("model"); v && !v->is_string())
    bad_request("model", "must be a string");
  return r;
}

json chat_completion(const Request &request, const Reply &reply)
{
  const auto &b = reply.body;
  const auto integer = [&](const char *key) {
    const auto v = b.find(key);
    return v != b.end() && v->is_number_integer() ? v->get<long long>() : 0LL;
  };
  const long long completion = integer("tokens"), prompt = integer("prompt_tokens");
  json out = {{"id", "chatcmpl-" + request.id},
              {"object", "chat.completion"},
              {"created", static_cast<long long>(std::time(nullptr))},
              {"model", b.value("model", std::string())},
              {"choices",
               json::array({{{"index", 0},
                             {"message", {{"role", "assistant"}, {"content", reply.text()}}},
                             {"logprobs", nullptr},
                             {"finish_reason", b.value("finish_reason", std::string("stop"))}}})},
              {"usage",
               {{"prompt_tokens", prompt},
                {"completion_tokens", completion},
                {"total_tokens", prompt + completion}}}};
  // what OpenAI's format has no place for: the server's timing and, for json, the fields
  json extra = {{"request_id", request.id}};
  if (b.contains("timing")) extra["timing"] = b["timing"];
  if (b.contains("fields")) extra["fields"] = b["fields"];
  out["cephalo"] = std::move(extra);
  return out;
}

// --- connections --------------------------------------------------------------------------------

// Runs the operation that `start` begins on `io` (which nothing else runs) to completion.
template <class Start> beast::error_code complete(net::io_context &io, Start &&start)
{
  beast::error_code result;
  start([&](beast::error_code ec, std::size_t) { result = ec; });
  io.restart();
  io.run();
  return result;
}

bool is_http_error(const beast::error_code &ec)
{
  return ec.category() == http::make_error_code(http::error::bad_method).category();
}

}    // namespace

struct HttpFront::Impl {
  struct Connection {
    std::shared_ptr<net::io_context> io;
    std::thread thread;
    int fd = -1;    // while open; stop() shuts its reading side
    bool done = false;
  };

  HttpFrontOptions options;
  std::string zmq_endpoint;
  unsigned short port = 0;
  net::io_context io;    // the acceptor's
  tcp::acceptor acceptor{io};
  net::steady_timer retry{io};
  std::atomic<bool> stopping{false};

  std::mutex mutex;
  std::list<Connection> connections;
  std::vector<std::unique_ptr<Client>> idle_clients;

  Reply call(Request request)
  {
    std::unique_ptr<Client> client;
    {
      const std::lock_guard lock(mutex);
      if (!idle_clients.empty()) {
        client = std::move(idle_clients.back());
        idle_clients.pop_back();
      }
    }
    if (!client) {
      ClientOptions o;
      o.endpoint = zmq_endpoint;
      client = std::make_unique<Client>(o);
    }
    Reply reply = client->call(std::move(request));
    const std::lock_guard lock(mutex);
    idle_clients.push_back(std::move(client));
    return reply;
  }

  Response chat(const http::request<http::string_body> &http_request)
  {
    const json body = json::parse(http_request.body(), nullptr, false);
    if (body.is_discarded()) throw HttpError(400, "bad_json", "the request body is not valid JSON");
    if (!body.is_object())
      throw HttpError(400, "bad_json", "the request body is not a JSON object");
    Request request = chat_request(body);
    request.deadline_ms = options.deadline_ms;
    const Reply reply = call(request);
    if (reply.error_code == "unreachable") {
      // The client stops waiting when the server's deadline passes, a moment before the
      // server's own answer: a server that answers a probe was up, and the request ran late.
      Request probe;
      probe.type = RequestType::Health;
      probe.deadline_ms = std::min(options.control_deadline_ms, 1000);
      if (call(probe).ok())
        throw HttpError(504, "deadline",
                        "no answer within the deadline of " + std::to_string(options.deadline_ms) +
                            " ms");
      throw_reply_error(reply);
    }
    if (!reply.ok()) throw_reply_error(reply);
    return json_response(200, chat_completion(request, reply));
  }

  Reply control(RequestType type)
  {
    Request request;
    request.type = type;
    request.deadline_ms = options.control_deadline_ms;
    return call(request);
  }

  Response models()
  {
    const Reply reply = control(RequestType::Info);
    if (!reply.ok()) throw_reply_error(reply);
    const auto &b = reply.body;
    return json_response(
        200, {{"object", "list"},
              {"data", json::array({{{"id", b.value("model", std::string())},
                                     {"object", "model"},
                                     {"created", 0},
                                     {"owned_by", "cephalo"},
                                     {"backend", b.value("backend", std::string())}}})}});
  }

  Response health()
  {
    const Reply reply = control(RequestType::Health);
    if (!reply.ok()) throw_reply_error(reply);
    return json_response(reply.body.value("state", std::string()) == "serving" ? 200 : 503,
                         reply.body);
  }

  Response handle(const http::request<http::string_body> &request)
  {
    try {
      std::string target(request.target());
      target = target.substr(0, target.find('?'));
      while (target.size() > 1 && target.back() == '/') target.pop_back();
      const auto method = request.method();
      const auto only = [&](http::verb allowed) {
        if (method == allowed) return;
        throw HttpError(405, "method_not_allowed",
                        std::string(request.method_string()) + " " + target + ": use " +
                            std::string(http::to_string(allowed)));
      };
      if (target == "/v1/chat/completions") {
        only(http::verb::post);
        return chat(request);
      }
      if (target == "/v1/models") {
        only(http::verb::get);
        return models();
      }
      if (target == "/health") {
        only(http::verb::get);
        return health();
      }
      throw HttpError(404, "not_found",
                      "no " + target +
                          " here; try POST /v1/chat/completions, GET /v1/models or "
                          "GET /health");
    } catch (const HttpError &e) {
      return error_response(e.status(), e.code(), e.what());
    } catch (const std::exception &e) {
      return error_response(500, "internal_error", e.what());
    }
  }

  void accept_next();
  void serve(Connection &connection, tcp::socket socket);
};

void HttpFront::Impl::accept_next()
{
  auto connection_io = std::make_shared<net::io_context>();
  acceptor.async_accept(
      *connection_io, [this, connection_io](beast::error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted || stopping) return;
        if (ec) {    // out of descriptors, say: try again a little later
          retry.expires_after(std::chrono::milliseconds(50));
          retry.async_wait([this](beast::error_code e) {
            if (!e) accept_next();
          });
          return;
        }
        {
          const std::lock_guard lock(mutex);
          for (auto it = connections.begin(); it != connections.end();)
            if (it->done) {
              it->thread.join();
              it = connections.erase(it);
            } else {
              ++it;
            }
          if (connections.size() >= options.max_connections) {
            beast::error_code ignored;
            http::write(socket,
                        error_response(503, "too_many_connections",
                                       std::to_string(connections.size()) +
                                           " connections are open; try again later"),
                        ignored);
          } else {
            auto &c = connections.emplace_back();
            c.io = connection_io;
            c.fd = socket.native_handle();
            c.thread = std::thread([this, &c, s = std::move(socket)]() mutable {
              serve(c, std::move(s));
              const std::lock_guard done_lock(mutex);
              c.done = true;
            });
          }
        }
        accept_next();
      });
}

void HttpFront::Impl::serve(Connection &connection, tcp::socket socket)
{
  auto &io = *connection.io;
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  const auto write = [&](Response &&response) {
    stream.expires_after(std::chrono::milliseconds(options.io_timeout_ms));
    return complete(io, [&](auto handler) { http::async_write(stream, response, handler); });
  };
  // After refusing a body: let the client finish sending it (for a while), so that the refusal
  // is read rather than lost to a connection reset.
  const auto drain = [&] {
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    std::vector<char> scratch(64 * 1024);
    stream.expires_at(until);
    while (!ec && std::chrono::steady_clock::now() < until)
      ec = complete(io,
                    [&](auto handler) { stream.async_read_some(net::buffer(scratch), handler); });
  };

  while (!stopping) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(64 * 1024);
    parser.body_limit(options.max_body_bytes);
    stream.expires_after(std::chrono::milliseconds(options.idle_timeout_ms));
    auto ec = complete(
        io, [&](auto handler) { http::async_read_header(stream, buffer, parser, handler); });
    const auto too_large = [&] {
      return error_response(413, "too_large",
                            "the request body is over the limit of " +
                                std::to_string(options.max_body_bytes) + " bytes");
    };
    if (ec == http::error::body_limit) {    // told by Content-Length
      const bool will_send = !beast::iequals(parser.get()[http::field::expect], "100-continue");
      write(closing(too_large()));
      if (will_send) drain();
      break;
    }
    if (ec) {
      if (is_http_error(ec) && ec != http::error::end_of_stream &&
          ec != http::error::partial_message)
        write(closing(error_response(400, "bad_http", "malformed HTTP request: " + ec.message())));
      break;    // closed, timed out or unreadable
    }
    if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
      http::response<http::empty_body> go_on{http::status::continue_, 11};
      stream.expires_after(std::chrono::milliseconds(options.io_timeout_ms));
      if (complete(io, [&](auto handler) { http::async_write(stream, go_on, handler); })) break;
    }
    stream.expires_after(std::chrono::milliseconds(options.io_timeout_ms));
    ec = complete(io, [&](auto handler) { http::async_read(stream, buffer, parser, handler); });
    if (ec == http::error::body_limit) {    // a chunked body that grew too large
      write(closing(too_large()));
      drain();
      break;
    }
    if (ec) {
      if (is_http_error(ec) && ec != http::error::end_of_stream &&
          ec != http::error::partial_message)
        write(closing(error_response(400, "bad_http", "malformed HTTP request: " + ec.message())));
      break;
    }
    const auto &request = parser.get();
    Response response = handle(request);
    const bool keep_alive = request.keep_alive() && !stopping;
    response.keep_alive(keep_alive);
    if (write(std::move(response)) || !keep_alive) break;
  }
  {
    const std::lock_guard lock(mutex);
    connection.fd = -1;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream.socket().close(ignored);
}

HttpFront::HttpFront(const std::string &bind_address, unsigned short port, std::string zmq_endpoint,
                     HttpFrontOptions options) :
    impl_(std::make_unique<Impl>())
{
  impl_->options = options;
  impl_->zmq_endpoint = std::move(zmq_endpoint);
  const std::string where = bind_address + ":" + std::to_string(port);
  try {
    const tcp::endpoint endpoint(net::ip::make_address(bind_address), port);
    auto &acceptor = impl_->acceptor;
    acceptor.open(endpoint.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(net::socket_base::max_listen_connections);
    impl_->port = acceptor.local_endpoint().port();
  } catch (const std::exception &e) {
    throw std::runtime_error("HTTP front: cannot listen on " + where + ": " + e.what());
  }
}

HttpFront::~HttpFront()
{
  stop();
  // run() joined every connection; threads of a front that never ran do not exist
}

unsigned short HttpFront::port() const
{
  return impl_->port;
}

void HttpFront::run()
{
  auto &impl = *impl_;
  if (!impl.stopping) {
    impl.accept_next();
    impl.io.run();
  }
  beast::error_code ignored;
  impl.acceptor.close(ignored);
  for (;;) {
    std::thread thread;
    {
      const std::lock_guard lock(impl.mutex);
      for (auto &c : impl.connections)
        if (c.thread.joinable()) {
          thread = std::move(c.thread);
          break;
        }
    }
    if (!thread.joinable()) break;
    thread.join();
  }
  const std::lock_guard lock(impl.mutex);
  impl.connections.clear();
}

void HttpFront::stop()
{
  auto &impl = *impl_;
  impl.stopping = true;
  {
    // idle connections see the end of their input; those answering a request finish it
    const std::lock_guard lock(impl.mutex);
    for (const auto &c : impl.connections)
      if (c.fd >= 0) ::shutdown(c.fd, SHUT_RD);
  }
  impl.io.stop();
}

}    // namespace cephalo::bridge
