// cephalo-serve: serves a model folder (or the echo instrument) over the Cephalo protocol
// (bridge/PROTOCOL.md). SIGINT/SIGTERM: stop taking work, answer what is queued, let the
// running batch finish, exit 0.
//
//   cephalo serve --model DIR [--bind tcp://127.0.0.1:5555] [--device cuda]
#include "cephalo/bridge/model_backend.h"
#include "cephalo/bridge/server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

using namespace cephalo::bridge;

namespace {

const char *kUsage =
    "usage: cephalo serve (--model DIR | --echo) [options]\n"
    "\n"
    "Serves a Cephalo model folder over ZeroMQ (protocol: bridge/PROTOCOL.md).\n"
    "\n"
    "  --model DIR             a model folder in the Hugging Face layout\n"
    "  --echo                  the transport instrument instead of a model (answers at once)\n"
    "  --bind ENDPOINT         default tcp://127.0.0.1:5555 (tcp://127.0.0.1:0: a free port)\n"
    "  --device D, --dtype T, --threads N   as for cephalo generate\n"
    "  --queue N               requests waiting at most (default 64); more are answered busy\n"
    "  --max-batch N           requests run together (default 8)\n"
    "  --batch-wait-ms N       time to let a batch fill (default 5)\n"
    "  --max-new-tokens N      cap per request (default 1024)\n"
    "  --quiet                 no line per request\n";

[[noreturn]] void fail_usage(const std::string &what)
{
  std::fprintf(stderr, "cephalo serve: %s\n\n%s", what.c_str(), kUsage);
  std::exit(2);
}

long long whole(const std::string &flag, const std::string &text, long long min, long long max)
{
  try {
    std::size_t used = 0;
    const long long value = std::stoll(text, &used);
    if (used == text.size() && value >= min && value <= max) return value;
  } catch (const std::exception &) {
  }
  fail_usage(flag + " needs a whole number from " + std::to_string(min) + " to " +
             std::to_string(max));
}

}    // namespace

int main(int argc, char **argv)
{
  std::string model;
  bool echo = false;
  ServerOptions options;
  ModelBackendOptions backend_options;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail_usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--model")
      model = value();
    else if (a == "--echo")
      echo = true;
    else if (a == "--bind")
      options.bind = value();
    else if (a == "--device")
      backend_options.device = value();
    else if (a == "--dtype")
      backend_options.dtype = value();
    else if (a == "--threads")
      backend_options.threads = static_cast<int>(whole(a, value(), 0, 4096));
    else if (a == "--queue")
      options.limits.queue_depth = static_cast<std::size_t>(whole(a, value(), 1, 100000));
    else if (a == "--max-batch")
      options.limits.max_batch = static_cast<std::size_t>(whole(a, value(), 1, 1024));
    else if (a == "--batch-wait-ms")
      options.limits.batch_wait_ms = static_cast<int>(whole(a, value(), 0, 10000));
    else if (a == "--max-new-tokens")
      options.limits.max_new_tokens = static_cast<int>(whole(a, value(), 0, 1 << 20));
    else if (a == "--quiet")
      options.log_requests = false;
    else
      fail_usage("unknown argument '" + a + "'");
  }
  if (echo == !model.empty()) fail_usage("give either --model DIR or --echo");

  try {
    auto backend = echo ? make_echo_backend() : make_model_backend(model, backend_options);
    Server server(options, std::move(backend));
    boost::asio::io_context io;
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code &error, int signal) {
      if (error) return;
      spdlog::info("signal {}: draining", signal);
      server.stop();
    });
    std::thread signal_thread([&] { io.run(); });
    spdlog::info("serving {} on {}", echo ? "echo" : model, server.endpoint());
    // the endpoint on stdout too, for scripts that asked for port 0
    std::printf("%s\n", server.endpoint().c_str());
    std::fflush(stdout);
    server.run();
    io.stop();
    signal_thread.join();
    spdlog::info("stopped");
    return 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "cephalo serve: %s\n", e.what());
    return 1;
  }
}
