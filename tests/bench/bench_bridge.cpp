// bench_bridge: what the bridge's transport costs — round-trip latency (p50/p99) and throughput
// of `describe` requests through a real cephalo::bridge::Server with the echo backend (the
// transport instrument, not a model) and a cephalo::bridge::Client, next to raw ZeroMQ REQ/REP
// carrying the same request and reply bytes on loopback TCP in the same run. Prints a table.
//
//   bench_bridge [--small N] [--large N] [--threads N]
#include "cephalo/bridge/client.h"
#include "cephalo/bridge/server.h"
#include "cephalo/bridge/zmq_io.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

using namespace cephalo::bridge;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  int small = 2000;    // sequential 1 KB requests timed
  int large = 300;     // sequential 256 KB requests timed
  int threads = 4;     // client threads of the throughput figure
};

[[noreturn]] void usage()
{
  std::fprintf(stderr, "usage: bench_bridge [--small N] [--large N] [--threads N]\n");
  std::exit(2);
}

Options parse_options(int argc, char **argv)
{
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage();
    const int value = std::atoi(argv[++i]);
    if (value < 1) usage();
    if (a == "--small")
      o.small = value;
    else if (a == "--large")
      o.large = value;
    else if (a == "--threads")
      o.threads = value;
    else
      usage();
  }
  return o;
}

// `size` bytes that pass the server's image check: a PNG signature and an IHDR chunk (with its
// CRC) naming a 16 x 16 RGB image, padded with zeros. The echo backend never decodes them.
std::string png_attachment(std::size_t size)
{
  std::string png("\x89PNG\r\n\x1a\n"
                  "\0\0\0\x0dIHDR\0\0\0\x10\0\0\0\x10\x08\x02\0\0\0\x90\x91\x68\x36",
                  33);
  png.resize(std::max(size, png.size()), '\0');
  return png;
}

Request describe_request(std::size_t attachment_bytes)
{
  Request r;
  r.type = RequestType::Describe;
  r.prompt = "Describe the crack in this image.";
  r.images = {png_attachment(attachment_bytes)};
  r.params.max_new_tokens = 16;
  return r;
}

struct Stats {
  double p50_us = 0, p99_us = 0, per_second = 0;
};

void percentiles(std::vector<double> us, Stats &stats)
{
  std::sort(us.begin(), us.end());
  stats.p50_us = us[us.size() / 2];
  stats.p99_us = us[std::min(us.size() - 1, us.size() * 99 / 100)];
}

// Times `count` sequential round trips of `round_trip` after `count / 10` untimed ones.
std::vector<double> sequential_us(int count, const std::function<void()> &round_trip)
{
  for (int i = 0; i < std::max(count / 10, 20); ++i) round_trip();
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    const auto start = Clock::now();
    round_trip();
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  return us;
}

// Requests per second of `threads` clients doing `count` round trips each; make_client(t) returns
// the round trip of thread t (built before the clock starts).
double throughput(int threads, int count,
                  const std::function<std::function<void()>(int)> &make_client)
{
  std::vector<std::function<void()>> clients;
  for (int t = 0; t < threads; ++t) clients.push_back(make_client(t));
  for (auto &c : clients)
    for (int i = 0; i < 10; ++i) c();
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      while (!go) std::this_thread::yield();
      for (int i = 0; i < count; ++i) clients[static_cast<std::size_t>(t)]();
    });
  const auto start = Clock::now();
  go = true;
  for (auto &th : pool) th.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return threads * count / seconds;
}

// The Cephalo path: Client::call through the Server's ROUTER, queue, worker and echo backend.
std::function<void()> server_round_trip(const std::string &endpoint, const Request &request,
                                        const std::string &expected_text)
{
  ClientOptions options;
  options.endpoint = endpoint;
  options.retry_interval_ms = 60000;    // no Lazy Pirate resends inside a measurement
  auto client = std::make_shared<Client>(options);
  return [client, request, expected_text] {
    const Reply reply = client->call(request);
    if (!reply.ok() || reply.text() != expected_text) {
      std::fprintf(stderr, "bench_bridge: unexpected reply %s %s: %s\n", reply.status.c_str(),
                   reply.error_code.c_str(), reply.text().c_str());
      std::exit(1);
    }
  };
}

// The raw baseline: a REP thread on loopback TCP answering every request with fixed frames.
class RawEcho {
 public:
  explicit RawEcho(std::vector<std::string> reply) : reply_(std::move(reply))
  {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::rcvtimeo, 100);    // to see stop()
    socket_.bind("tcp://127.0.0.1:0");
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
    thread_ = std::thread([this] {
      while (!stopping_)
        if (receive_frames(socket_)) send_frames(socket_, reply_);
    });
  }
  ~RawEcho()
  {
    stopping_ = true;
    thread_.join();
  }
  const std::string &endpoint() const { return endpoint_; }

 private:
  std::vector<std::string> reply_;
  zmq::context_t context_{1};
  zmq::socket_t socket_{context_, zmq::socket_type::rep};
  std::string endpoint_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

std::function<void()> raw_round_trip(const std::string &endpoint,
                                     const std::vector<std::string> &request,
                                     std::size_t reply_bytes)
{
  auto context = std::make_shared<zmq::context_t>(1);
  auto socket = std::make_shared<zmq::socket_t>(*context, zmq::socket_type::req);
  socket->set(zmq::sockopt::linger, 0);
  socket->connect(endpoint);
  return [context, socket, request, reply_bytes] {
    send_frames(*socket, request);
    const auto reply = receive_frames(*socket);
    std::size_t bytes = 0;
    for (const auto &f : *reply) bytes += f.size();
    if (bytes != reply_bytes) {
      std::fprintf(stderr, "bench_bridge: raw reply of %zu bytes, expected %zu\n", bytes,
                   reply_bytes);
      std::exit(1);
    }
  };
}

std::size_t total_bytes(const std::vector<std::string> &frames)
{
  std::size_t bytes = 0;
  for (const auto &f : frames) bytes += f.size();
  return bytes;
}

}    // namespace

int main(int argc, char **argv)
{
  const Options options = parse_options(argc, argv);

  ServerOptions server_options;
  server_options.bind = "tcp://127.0.0.1:0";
  server_options.log_requests = false;        // no spdlog line per request
  server_options.limits.batch_wait_ms = 0;    // run a request as soon as it is queued
  Server server(server_options, make_echo_backend());
  std::thread serving([&] { server.run(); });

  std::printf("bench_bridge: transport cost of cephalo-serve. The backend is the echo instrument\n"
              "(make_echo_backend(): answers at once, not a model). Server settings: "
              "log_requests=false,\nbatch_wait_ms=0, max_batch=%zu, queue_depth=%zu; client "
              "retry_interval_ms=60000.\nRaw: ZeroMQ REQ/REP on loopback TCP carrying the same "
              "request and reply bytes.\n%u hardware threads.\n\n",
              server_options.limits.max_batch, server_options.limits.queue_depth,
              std::thread::hardware_concurrency());
  std::printf("| request | path | p50 (us) | p99 (us) | p50 ratio | throughput, %d threads "
              "(req/s) |\n|---|---|---|---|---|---|\n",
              options.threads);

  struct Case {
    const char *name;
    std::size_t attachment_bytes;
    int count;
  };
  for (const Case &c :
       {Case{"1 KB", 1024, options.small}, Case{"256 KB", 256 * 1024, options.large}}) {
    const Request request = describe_request(c.attachment_bytes);
    const std::string expected = "echo: " + std::to_string(request.prompt.size()) +
                                 " characters, 1 image(s), " + std::to_string(c.attachment_bytes) +
                                 " bytes";

    // the raw path carries the bytes the server path carries: the encoded request, and the
    // encoded reply the server gives to it
    ClientOptions probe_options;
    probe_options.endpoint = server.endpoint();
    Request probe = request;
    probe.id = new_request_id();
    const Reply sample = Client(probe_options).call(probe);
    const auto request_frames = encode(make_request(probe));
    const auto reply_frames = encode(make_reply(sample));
    RawEcho raw(reply_frames);

    Stats cephalo, zmq_raw;
    percentiles(sequential_us(c.count, server_round_trip(server.endpoint(), request, expected)),
                cephalo);
    percentiles(sequential_us(c.count, raw_round_trip(raw.endpoint(), request_frames,
                                                      total_bytes(reply_frames))),
                zmq_raw);
    const int per_thread = std::max(c.count / options.threads, 50);
    cephalo.per_second = throughput(options.threads, per_thread, [&](int) {
      return server_round_trip(server.endpoint(), request, expected);
    });
    zmq_raw.per_second = throughput(options.threads, per_thread, [&](int) {
      return raw_round_trip(raw.endpoint(), request_frames, total_bytes(reply_frames));
    });

    std::printf("| %s (%zu B sent, %zu B back) | Server + Client, echo backend | %.0f | %.0f | "
                "%.2f | %.0f |\n",
                c.name, total_bytes(request_frames), total_bytes(reply_frames), cephalo.p50_us,
                cephalo.p99_us, cephalo.p50_us / zmq_raw.p50_us, cephalo.per_second);
    std::printf("| %s | raw ZeroMQ REQ/REP | %.0f | %.0f | 1 | %.0f |\n", c.name, zmq_raw.p50_us,
                zmq_raw.p99_us, zmq_raw.per_second);
    std::fflush(stdout);
  }
  std::printf("\np50 ratio: p50(Server + Client) / p50(raw REQ/REP); the goal is <= 1.5.\n");

  server.stop();
  serving.join();
  return 0;
}
