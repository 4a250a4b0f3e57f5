// cephalo-serve's OpenAI-compatible HTTP front: POST /v1/chat/completions, GET /v1/models and
// GET /health, each translated into a Cephalo protocol request to the ZeroMQ server, so that the
// queue, batching and limits stay in one place. Plain HTTP/1.1 (no TLS, no streaming); a thread
// per connection, each with a client of the ZeroMQ server. Boost.Beast stays in the .cpp.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace cephalo::bridge {

struct HttpFrontOptions {
  // A request body over this is answered 413 before it is read (images travel as base64, a
  // third larger than the server's max_message_bytes allows for their bytes).
  std::size_t max_body_bytes = (std::size_t{64} << 20) / 3 * 4 + (std::size_t{1} << 20);
  int deadline_ms = 60000;              // of each chat completion (answered 504 when it passes)
  int control_deadline_ms = 5000;       // of the info and health requests behind models and health
  std::size_t max_connections = 256;    // more are answered 503 and closed
  int idle_timeout_ms = 30000;          // a kept-alive connection without a request is closed
  int io_timeout_ms = 60000;            // reading a request's body, writing a response
};

class HttpFront {
 public:
  // Listens on bind_address:port at once (port 0 picks a free one); `zmq_endpoint` is the
  // ROUTER of the cephalo-serve core to forward to. Throws std::runtime_error when it cannot
  // listen.
  HttpFront(const std::string &bind_address, unsigned short port, std::string zmq_endpoint,
            HttpFrontOptions options = {});
  ~HttpFront();    // after run() has returned
  HttpFront(const HttpFront &) = delete;
  HttpFront &operator=(const HttpFront &) = delete;

  unsigned short port() const;

  // Serves until stop(): then takes no new connection or request, lets the requests in flight
  // be answered, and returns when every connection is closed.
  void run();
  // Thread-safe; run() returns soon after (once requests in flight are answered).
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}    // namespace cephalo::bridge
