// cephalo-serve: serves a model folder (or the echo instrument) over the Cephalo protocol
// (bridge/PROTOCOL.md). SIGINT/SIGTERM: stop taking work, answer what is queued, let the
// running batch finish, exit 0.
//
//   cephalo serve --model DIR [--bind tcp://127.0.0.1:5555] [--device cuda]
//
// Built with agents/, it also answers `design` requests (agents/design_service.h): the design
// loop runs on the server's design worker and asks this same server's model as a client.
#include "cephalo/bridge/curve.h"
#include "cephalo/bridge/http_front.h"
#include "cephalo/bridge/model_backend.h"
#include "cephalo/bridge/server.h"
#include "cephalo/bridge/upstream_backend.h"
#ifdef CEPHALO_SERVE_DESIGN
#include "cephalo/agents/design_service.h"
#endif

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

using namespace cephalo::bridge;

namespace {

const char *kUsage =
    "usage: cephalo serve (--model DIR | --echo | --upstream URL --upstream-model NAME) "
    "[options]\n"
    "\n"
    "Serves a Cephalo model folder over ZeroMQ (protocol: bridge/PROTOCOL.md).\n"
    "\n"
    "  --model DIR             a model folder in the Hugging Face layout\n"
    "  --echo                  the transport instrument instead of a model (answers at once)\n"
    "  --upstream URL          an OpenAI-compatible server (http://host:port, no TLS) runs the\n"
    "                          requests instead of a model: vLLM, mistral.rs, TGI, cephalo serve\n"
    "  --upstream-model NAME   the model to ask the upstream for (needed with --upstream)\n"
    "  --upstream-key KEY      sent to the upstream as a Bearer token\n"
    "  --http PORT             also an OpenAI-compatible HTTP front (POST /v1/chat/completions,\n"
    "                          GET /v1/models, GET /health); 0: a free port, printed on stdout\n"
    "  --http-bind ADDR        the HTTP front's address (default 127.0.0.1)\n"
    "  --bind ENDPOINT         default tcp://127.0.0.1:5555 (tcp://127.0.0.1:0: a free port)\n"
    "  --device D, --dtype T, --threads N   as for cephalo generate\n"
    "  --queue N               requests waiting at most (default 64); more are answered busy\n"
    "  --max-batch N           requests run together (default 8)\n"
    "  --batch-wait-ms N       time to let a batch fill (default 5)\n"
    "  --max-new-tokens N      cap per request (default 1024)\n"
    "  --quiet                 no line per request\n"
    "  --curve-key FILE        encrypt with CURVE: the server's secret key file (from keygen)\n"
    "  --curve-clients FILE    the public keys of the clients admitted, one per line\n"
    "  --design-queue N        design requests waiting at most (default 4); more are busy\n"
    "\n"
    "       cephalo serve keygen NAME   writes a CURVE key pair NAME.key (secret) and NAME.pub\n";

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
  if (argc == 3 && std::string(argv[1]) == "keygen") {
    try {
      const auto keys = write_curve_keypair(argv[2]);
      std::printf("wrote %s.key (secret) and %s.pub (public: %s)\n", argv[2], argv[2],
                  keys.public_key.c_str());
      return 0;
    } catch (const std::exception &e) {
      std::fprintf(stderr, "cephalo serve keygen: %s\n", e.what());
      return 1;
    }
  }
  // the log goes to stderr: stdout carries the endpoints, for scripts
  spdlog::set_default_logger(spdlog::stderr_color_mt("cephalo-serve"));
  std::string model, curve_key, curve_clients;
  bool echo = false;
  std::string upstream, upstream_model, upstream_key, http_bind = "127.0.0.1";
  int http_port = -1;    // no HTTP front
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
    else if (a == "--curve-key")
      curve_key = value();
    else if (a == "--curve-clients")
      curve_clients = value();
    else if (a == "--design-queue")
      options.limits.design_queue_depth = static_cast<std::size_t>(whole(a, value(), 1, 1000));
    else if (a == "--upstream")
      upstream = value();
    else if (a == "--upstream-model")
      upstream_model = value();
    else if (a == "--upstream-key")
      upstream_key = value();
    else if (a == "--http")
      http_port = static_cast<int>(whole(a, value(), 0, 65535));
    else if (a == "--http-bind")
      http_bind = value();
    else
      fail_usage("unknown argument '" + a + "'");
  }
  if (static_cast<int>(echo) + !model.empty() + !upstream.empty() != 1)
    fail_usage("give one of --model DIR, --echo or --upstream URL");
  if (upstream.empty() != upstream_model.empty())
    fail_usage("--upstream URL and --upstream-model NAME go together");
  if (http_port >= 0 && !curve_key.empty())
    fail_usage("--http does not work with CURVE yet (its client has no key)");

  if (curve_key.empty() != curve_clients.empty())
    fail_usage("CURVE needs both --curve-key and --curve-clients");

  try {
    if (!curve_key.empty()) {
      options.curve_secret_key = read_curve_key(curve_key);
      options.curve_client_keys = read_curve_keys(curve_clients);
    }
    // SIGINT and SIGTERM reach only the signal thread below: no other thread's wait is
    // interrupted (ZeroMQ's I/O threads, started with the server, inherit this mask)
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    auto backend = !upstream.empty() ? make_upstream_backend(upstream, upstream_model, upstream_key)
                   : echo            ? make_echo_backend()
                                     : make_model_backend(model, backend_options);
#ifdef CEPHALO_SERVE_DESIGN
    options.design_handler = cephalo::agents::answer_design_request;
#endif
    Server server(options, std::move(backend));
    std::unique_ptr<HttpFront> front;
    if (http_port >= 0) {
      HttpFrontOptions front_options;
      const auto &message = options.limits.message;
      front_options.max_body_bytes = message.max_message_bytes / 3 * 4 + message.max_json_bytes;
      front = std::make_unique<HttpFront>(http_bind, static_cast<unsigned short>(http_port),
                                          server.endpoint(), front_options);
    }
    boost::asio::io_context io;
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code &error, int signal) {
      if (error) return;
      spdlog::info("signal {}: draining", signal);
      server.stop();
      if (front) front->stop();
    });
    std::thread signal_thread([&] {
      pthread_sigmask(SIG_UNBLOCK, &stop_signals, nullptr);
      io.run();
    });
    spdlog::info("serving {} on {}",
                 echo               ? "echo"
                 : upstream.empty() ? model
                                    : upstream,
                 server.endpoint());
    // the endpoint on stdout too, for scripts that asked for port 0
    std::printf("%s\n", server.endpoint().c_str());
    if (front) {
      spdlog::info("HTTP front on {}:{}", http_bind, front->port());
      std::printf("http %s:%u\n", http_bind.c_str(), static_cast<unsigned>(front->port()));
    }
    std::fflush(stdout);
    std::thread front_thread([&] {
      if (front) front->run();
    });
    server.run();
    if (front) front->stop();
    front_thread.join();
    io.stop();
    signal_thread.join();
    spdlog::info("stopped");
    return 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "cephalo serve: %s\n", e.what());
    return 1;
  }
}
