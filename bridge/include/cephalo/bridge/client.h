// Clients of cephalo-serve. Client: a synchronous call with a deadline, retried as the ZeroMQ
// guide's Lazy Pirate (no reply within the retry interval: close the socket, reconnect, send
// again, with backoff). AsyncClient: calls that never block the caller, answered through
// futures by a thread of its own. A dead or restarting server gives an error reply within the
// deadline, never a hang. No libtorch here.
#pragma once

#include "cephalo/bridge/protocol.h"

#include <future>
#include <memory>
#include <optional>
#include <string>

namespace cephalo::bridge {

struct ClientOptions {
  std::string endpoint = "tcp://127.0.0.1:5555";
  int retry_interval_ms = 5000;    // first wait before resending; doubles each time
  // CURVE (all Z85, all or none): the server's public key and this client's key pair
  std::string curve_server_key, curve_public_key, curve_secret_key;
};

// A new request id: unique per process and time (hex).
std::string new_request_id();

class Client {
 public:
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(Client &&) noexcept;
  Client &operator=(Client &&) noexcept;

  // Sends `request` (an empty id gets one) and waits at most request.deadline_ms for its reply.
  // Without one: an error reply with code "unreachable". Use from one thread at a time.
  Reply call(Request request);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class AsyncClient {
 public:
  // At most `max_in_flight` requests wait for replies at once.
  explicit AsyncClient(ClientOptions options = {}, std::size_t max_in_flight = 8);
  ~AsyncClient();    // answers what is still waiting with "shutting_down"

  // A future for the reply, or nothing when max_in_flight requests are already waiting (the
  // caller decides whether to skip). Thread-safe.
  std::optional<std::future<Reply>> submit(Request request);
  std::size_t in_flight() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}    // namespace cephalo::bridge
