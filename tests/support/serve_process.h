// Test helper: a cephalo-serve (or any server program) running as a child process that prints
// the endpoint it bound as its first line of stdout. Killed when the object goes.
#pragma once

#include <sys/types.h>

#include <cstdio>
#include <string>
#include <vector>

namespace cephalo::test {

class ServeProcess {
 public:
  // Starts `program args...`; endpoint() is empty when it exited before printing one.
  ServeProcess(const std::string &program, const std::vector<std::string> &args);
  ~ServeProcess();
  ServeProcess(const ServeProcess &) = delete;
  ServeProcess &operator=(const ServeProcess &) = delete;

  const std::string &endpoint() const { return endpoint_; }
  bool running() const;
  // Sends `signal` and returns the exit status (-1: did not exit within wait_ms, then killed).
  int stop(int signal, int wait_ms = 10000);

 private:
  pid_t pid_ = -1;
  std::FILE *stdout_ = nullptr;
  std::string endpoint_;
};

// A loopback endpoint (tcp://127.0.0.1:PORT) that nothing listens on: a port bound, then freed.
std::string dead_endpoint();

}    // namespace cephalo::test
