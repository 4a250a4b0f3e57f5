// The cephalo-serve core: a ZeroMQ ROUTER front, a bounded queue, and a scheduler that runs
// batches of waiting requests on a Backend. The pattern is the guide's load-balancing broker
// folded into one process: the I/O thread owns every socket, the worker thread only the backend.
#pragma once

#include "cephalo/bridge/backend.h"
#include "cephalo/bridge/protocol.h"

#include <memory>
#include <string>
#include <vector>

namespace cephalo::bridge {

struct ServerOptions {
  std::string bind = "tcp://127.0.0.1:5555";    // tcp://127.0.0.1:0 picks a free port
  ServerLimits limits;
  bool log_requests = true;    // one line per request (spdlog, info level)
  // CURVE: the server's secret key (Z85) and the public keys of the clients it admits; with a
  // secret key every connection is encrypted and a client whose key is not listed is refused.
  std::string curve_secret_key;
  std::vector<std::string> curve_client_keys;
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
