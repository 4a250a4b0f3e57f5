// A server program as a child process (see serve_process.h).
#include "serve_process.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace cephalo::test {

ServeProcess::ServeProcess(const std::string &program, const std::vector<std::string> &args)
{
  int out[2];
  if (pipe(out) != 0) throw std::runtime_error("ServeProcess: pipe failed");
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("ServeProcess: fork failed");
  if (pid_ == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    std::vector<char *> argv{const_cast<char *>(program.c_str())};
    for (const auto &a : args) argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    execv(program.c_str(), argv.data());
    _exit(127);
  }
  close(out[1]);
  stdout_ = fdopen(out[0], "r");
  char line[512] = {};
  if (stdout_ && std::fgets(line, sizeof line, stdout_))
    endpoint_ = std::string(line, std::strcspn(line, "\n"));
}

ServeProcess::~ServeProcess()
{
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (stdout_) std::fclose(stdout_);
}

bool ServeProcess::running() const
{
  return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0;
}

int ServeProcess::stop(int signal, int wait_ms)
{
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  int status = 0;
  while (std::chrono::steady_clock::now() < until) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

std::string dead_endpoint()
{
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("dead_endpoint: no socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  const bool bound = bind(fd, reinterpret_cast<sockaddr *>(&address), sizeof address) == 0 &&
                     getsockname(fd, reinterpret_cast<sockaddr *>(&address), &length) == 0;
  close(fd);
  if (!bound) throw std::runtime_error("dead_endpoint: cannot bind a loopback port");
  return "tcp://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
}

}    // namespace cephalo::test
