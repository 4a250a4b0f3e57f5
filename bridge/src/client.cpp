// Clients of cephalo-serve (see client.h).
#include "cephalo/bridge/client.h"

#include "cephalo/bridge/zmq_io.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

namespace cephalo::bridge {
namespace {

using Clock = std::chrono::steady_clock;

zmq::socket_t connect_dealer(zmq::context_t &context, const ClientOptions &options)
{
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::sndtimeo, 1000);
  if (!options.curve_server_key.empty()) {
    if (options.curve_public_key.empty() || options.curve_secret_key.empty())
      throw std::invalid_argument("CURVE needs the server's public key and the client's key pair");
    socket.set(zmq::sockopt::curve_serverkey, options.curve_server_key);
    socket.set(zmq::sockopt::curve_publickey, options.curve_public_key);
    socket.set(zmq::sockopt::curve_secretkey, options.curve_secret_key);
  }
  socket.connect(options.endpoint);
  return socket;
}

// The reply to `id` among what arrived, or nothing (stale replies of earlier attempts and
// malformed messages are dropped).
std::optional<Reply> matching_reply(const std::vector<std::string> &frames, const std::string &id)
{
  try {
    Reply reply = parse_reply(decode(std::vector<std::string>(frames)));
    if (reply.id == id) return reply;
  } catch (const std::exception &) {
    // malformed (ProtocolError) or with fields of the wrong type (json): not our reply
  }
  return std::nullopt;
}

}    // namespace

std::string new_request_id()
{
  static std::atomic<std::uint64_t> counter{0};
  static const std::uint64_t salt = std::random_device{}() ^ static_cast<std::uint64_t>(::getpid())
                                                                 << 32;
  std::ostringstream out;
  out << std::hex << salt << '-' << Clock::now().time_since_epoch().count() << '-' << counter++;
  return out.str();
}

struct Client::Impl {
  ClientOptions options;
  zmq::context_t context{1};
  zmq::socket_t socket = connect_dealer(context, options);
  explicit Impl(ClientOptions o) : options(std::move(o)) {}
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Client::~Client() = default;
Client::Client(Client &&) noexcept = default;
Client &Client::operator=(Client &&) noexcept = default;

Reply Client::call(Request request)
{
  if (request.id.empty()) request.id = new_request_id();
  const std::string id = request.id;
  const int deadline_ms = request.deadline_ms;
  const auto frames = encode(make_request(std::move(request)));
  const auto deadline = Clock::now() + std::chrono::milliseconds(deadline_ms);
  auto interval = std::chrono::milliseconds(std::max(impl_->options.retry_interval_ms, 1));
  int attempts = 0;
  while (Clock::now() < deadline) {
    ++attempts;
    try {
      send_frames(impl_->socket, frames);
    } catch (const std::exception &) {
      // the socket would block (no peer yet): counts as an attempt; wait and try again
    }
    const auto attempt_end = std::min(deadline, Clock::now() + interval);
    while (Clock::now() < attempt_end) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(attempt_end - Clock::now());
      zmq::pollitem_t item{impl_->socket.handle(), 0, ZMQ_POLLIN, 0};
      try {
        zmq::poll(&item, 1, std::max(left, std::chrono::milliseconds(1)));
      } catch (const zmq::error_t &e) {
        if (e.num() != EINTR) throw;
        continue;
      }
      if (!(item.revents & ZMQ_POLLIN)) continue;
      const auto message = receive_frames(impl_->socket);
      if (!message) continue;
      if (auto reply = matching_reply(*message, id)) return *reply;
    }
    // Lazy Pirate: a fresh socket, so that nothing queued for a dead peer is delivered late
    impl_->socket = connect_dealer(impl_->context, impl_->options);
    interval *= 2;
  }
  return error_reply(id, "unreachable",
                     "no reply from " + impl_->options.endpoint + " within " +
                         std::to_string(deadline_ms) + " ms (" + std::to_string(attempts) +
                         " attempt(s))");
}

struct AsyncClient::Impl {
  struct Waiting {
    std::promise<Reply> promise;
    std::vector<std::string> frames;
    Clock::time_point deadline, resend;
    std::chrono::milliseconds interval;
    int deadline_ms = 0;
  };

  ClientOptions options;
  std::size_t max_in_flight;
  zmq::context_t context{1};
  int wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  std::mutex mutex;
  std::deque<std::pair<Request, std::promise<Reply>>> submitted;
  std::atomic<std::size_t> in_flight{0};
  std::atomic<bool> stopping{false};
  std::thread thread;

  zmq::socket_t socket;    // made in the constructor, so that a bad endpoint fails there

  void loop()
  {
    std::map<std::string, Waiting> waiting;
    while (!stopping) {
      zmq::pollitem_t items[] = {{socket.handle(), 0, ZMQ_POLLIN, 0},
                                 {nullptr, wake, ZMQ_POLLIN, 0}};
      try {
        zmq::poll(items, 2, std::chrono::milliseconds(20));
      } catch (const zmq::error_t &e) {
        if (e.num() != EINTR) throw;
        continue;
      }
      if (items[1].revents & ZMQ_POLLIN) {
        std::uint64_t count = 0;
        [[maybe_unused]] const auto n = ::read(wake, &count, sizeof count);
      }
      {
        std::lock_guard lock(mutex);
        while (!submitted.empty()) {
          auto [request, promise] = std::move(submitted.front());
          submitted.pop_front();
          if (waiting.count(request.id)) {
            promise.set_value(error_reply(request.id, "bad_request",
                                          "id '" + request.id + "' is already waiting"));
            --in_flight;
            continue;
          }
          Waiting w;
          w.promise = std::move(promise);
          try {
            w.frames = encode(make_request(request));
          } catch (const std::exception &e) {
            w.promise.set_value(error_reply(request.id, "bad_request", e.what()));
            --in_flight;
            continue;
          }
          w.deadline = Clock::now() + std::chrono::milliseconds(request.deadline_ms);
          w.interval = std::chrono::milliseconds(options.retry_interval_ms);
          w.resend = Clock::now() + w.interval;
          w.deadline_ms = request.deadline_ms;
          try {
            send_frames(socket, w.frames);
          } catch (const std::exception &) {
          }
          waiting.emplace(request.id, std::move(w));
        }
      }
      if (items[0].revents & ZMQ_POLLIN)
        while (auto message = [&]() -> std::optional<std::vector<std::string>> {
          zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
          zmq::poll(&item, 1, std::chrono::milliseconds(0));
          return (item.revents & ZMQ_POLLIN) ? receive_frames(socket) : std::nullopt;
        }()) {
          try {
            Reply reply = parse_reply(decode(*message));
            const auto it = waiting.find(reply.id);
            if (it == waiting.end()) continue;    // late or duplicate
            it->second.promise.set_value(std::move(reply));
            waiting.erase(it);
            --in_flight;
          } catch (const std::exception &) {
            // a malformed reply (ProtocolError) or fields of the wrong type (json): dropped
          }
        }
      const auto now = Clock::now();
      for (auto it = waiting.begin(); it != waiting.end();) {
        auto &w = it->second;
        if (now >= w.deadline) {
          w.promise.set_value(error_reply(it->first, "unreachable",
                                          "no reply from " + options.endpoint + " within " +
                                              std::to_string(w.deadline_ms) + " ms"));
          it = waiting.erase(it);
          --in_flight;
          continue;
        }
        if (now >= w.resend) {    // the server may have restarted: send again (replies match by id)
          try {
            send_frames(socket, w.frames);
          } catch (const std::exception &) {
          }
          w.interval *= 2;
          w.resend = now + w.interval;
        }
        ++it;
      }
    }
    for (auto &[id, w] : waiting)
      w.promise.set_value(error_reply(id, "shutting_down", "the client was closed"));
    std::lock_guard lock(mutex);
    for (auto &[request, promise] : submitted)
      promise.set_value(error_reply(request.id, "shutting_down", "the client was closed"));
  }
};

AsyncClient::AsyncClient(ClientOptions options, std::size_t max_in_flight) :
    impl_(std::make_unique<Impl>())
{
  impl_->options = std::move(options);
  impl_->max_in_flight = std::max<std::size_t>(1, max_in_flight);
  if (impl_->wake < 0) throw std::runtime_error("AsyncClient: eventfd failed");
  impl_->options.retry_interval_ms = std::max(impl_->options.retry_interval_ms, 1);
  impl_->socket = connect_dealer(impl_->context, impl_->options);
  impl_->thread = std::thread([this] {
    try {
      impl_->loop();
    } catch (const std::exception &e) {
      // the socket failed (it should not): every caller still gets an answer
      std::lock_guard lock(impl_->mutex);
      impl_->stopping = true;
      for (auto &[request, promise] : impl_->submitted)
        promise.set_value(
            error_reply(request.id, "backend_error", std::string("client thread: ") + e.what()));
      impl_->submitted.clear();
    }
  });
}

AsyncClient::~AsyncClient()
{
  impl_->stopping = true;
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(impl_->wake, &one, sizeof one);
  impl_->thread.join();
  ::close(impl_->wake);
}

std::optional<std::future<Reply>> AsyncClient::submit(Request request)
{
  if (request.id.empty()) request.id = new_request_id();
  std::size_t current = impl_->in_flight.load();
  do {
    if (current >= impl_->max_in_flight) return std::nullopt;
  } while (!impl_->in_flight.compare_exchange_weak(current, current + 1));
  std::promise<Reply> promise;
  auto future = promise.get_future();
  {
    std::lock_guard lock(impl_->mutex);
    impl_->submitted.emplace_back(std::move(request), std::move(promise));
  }
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(impl_->wake, &one, sizeof one);
  return future;
}

std::size_t AsyncClient::in_flight() const
{
  return impl_->in_flight.load();
}

}    // namespace cephalo::bridge
