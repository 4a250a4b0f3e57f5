// The cephalo-serve core: a ZeroMQ ROUTER front, a bounded queue, and a scheduler that runs
// batches of waiting requests on a Backend. The pattern is the guide's load-balancing broker
// folded into one process: the I/O thread owns every socket, the worker thread only the backend.
#pragma once

#include "cephalo/bridge/backend.h"
#include "cephalo/bridge/client.h"
#include "cephalo/bridge/protocol.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace cephalo::bridge {

// What a design handler is given besides the request: how to reach this server's own model (the
// handler is a client of the server like any other, so its describe and generate requests queue
// and batch with everyone else's), and whether to give up.
struct DesignContext {
  ClientOptions model;                  // this server's endpoint (and CURVE keys it admits)
  std::function<bool()> should_stop;    // deadline passed, cancelled, or the server is stopping
};

// Answers one `design` request (PROTOCOL.md): the reply's body and attachments. Runs on the
// server's design worker thread, never on the I/O thread or the backend's. An exception is
// answered `backend_error` with its message; the reply's id is set by the server.
using DesignHandler = std::function<Reply(const Request &, const DesignContext &)>;

struct ServerOptions {
  std::string bind = "tcp://127.0.0.1:5555";    // tcp://127.0.0.1:0 picks a free port
  ServerLimits limits;
  bool log_requests = true;    // one line per request (spdlog, info level)
  // CURVE: the server's secret key (Z85) and the public keys of the clients it admits; with a
  // secret key every connection is encrypted and a client whose key is not listed is refused.
  std::string curve_secret_key;
  std::vector<std::string> curve_client_keys;
  // `design` requests: without a handler they are refused `unsupported`. Its queue holds at most
  // limits.design_queue_depth requests; more are answered busy.
  DesignHandler design_handler;
};

// Destroy a Server only after run() has returned.
class Server {
 public:
  Server(ServerOptions options, std::unique_ptr<Backend> backend);
  ~Server();
  Server(const Server &) = delete;
  Server &operator=(const Server &) = delete;

  // The endpoint bound (with the port chosen when the options asked for port 0).
  std::string endpoint() const;

  // Serves until stop(); then answers what is queued with shutting_down, lets the running batch
  // finish, sends its replies and returns.
  void run();
  // Thread-safe and signal-safe to call from another thread; run() returns soon after.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}    // namespace cephalo::bridge
