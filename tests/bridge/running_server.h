// What the bridge tests share: a server on a free loopback port on its own thread, a slow
// backend for queues, deadlines and cancels, and the smallest PNG header the server accepts.
#pragma once

#include "cephalo/bridge/backend.h"
#include "cephalo/bridge/client.h"
#include "cephalo/bridge/server.h"

#include <chrono>
#include <memory>
#include <string>
#include <thread>

namespace cephalo::test {

// A PNG signature and IHDR header naming a 2 x 3 image (no backend here decodes it).
inline const std::string kPng =
    std::string("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x02\0\0\0\x03\x08\x02\0\0\0", 29);

// Takes `delay` per batch, ending early (the jobs marked stopped) once every job is stopped;
// answers "slow answer to <prompt>".
class SlowBackend : public bridge::Backend {
 public:
  explicit SlowBackend(std::chrono::milliseconds delay) : delay_(delay) {}
  std::string model_name() const override { return "slow"; }
  std::string kind() const override { return "test"; }
  void run(std::vector<bridge::Job> &jobs, const std::function<bool(std::size_t)> &stop) override
  {
    const auto until = std::chrono::steady_clock::now() + delay_;
    while (std::chrono::steady_clock::now() < until) {
      bool all_stopped = true;
      for (std::size_t i = 0; i < jobs.size(); ++i) all_stopped = all_stopped && stop(i);
      if (all_stopped) {
        for (auto &job : jobs) job.stopped = true;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    for (auto &job : jobs) job.text = "slow answer to " + job.request->prompt;
  }

 private:
  std::chrono::milliseconds delay_;
};

inline bridge::ServerOptions quiet_options(const std::string &bind = "tcp://127.0.0.1:0")
{
  bridge::ServerOptions o;
  o.bind = bind;
  o.log_requests = false;
  return o;
}

struct RunningServer {
  bridge::Server server;
  std::thread thread;
  explicit RunningServer(std::unique_ptr<bridge::Backend> backend,
                         bridge::ServerOptions options = quiet_options()) :
      server(std::move(options), std::move(backend)),
      thread([this] { server.run(); })
  {
  }
  ~RunningServer()
  {
    server.stop();
    thread.join();
  }
  bridge::ClientOptions client() const
  {
    bridge::ClientOptions c;
    c.endpoint = server.endpoint();
    return c;
  }
};

}    // namespace cephalo::test
