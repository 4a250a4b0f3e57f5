// cephalo-serve's core (see server.h): the I/O thread owns the ROUTER socket and answers info,
// health, cancel and every refusal at once; the worker thread takes batches from the bounded
// queue, runs them on the backend, and hands replies back through an inproc socket. `design`
// requests have a queue and a worker thread of their own (a design takes seconds to minutes and
// asks the model questions itself), so they never hold up the I/O thread or the model's batches.
#include "cephalo/bridge/server.h"

#include "cephalo/bridge/curve.h"
#include "cephalo/bridge/zmq_io.h"
#include "image_header.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace cephalo::bridge {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b)
{
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct Pending {
  Request request;
  Clock::time_point received, deadline;
  std::shared_ptr<std::atomic<bool>> cancelled = std::make_shared<std::atomic<bool>>(false);
};

struct Outgoing {
  Reply reply;
  std::string type;
  Clock::time_point received;
  double queue_ms = 0, run_ms = 0;
};

}    // namespace

struct Server::Impl {
  ServerOptions options;
  std::unique_ptr<Backend> backend;
  zmq::context_t context;
  zmq::socket_t router{context, zmq::socket_type::router};
  zmq::socket_t wake_in{context, zmq::socket_type::pair};            // I/O thread
  zmq::socket_t wake_out{context, zmq::socket_type::pair};           // worker thread
  zmq::socket_t design_wake_in{context, zmq::socket_type::pair};     // I/O thread
  zmq::socket_t design_wake_out{context, zmq::socket_type::pair};    // design worker thread
  std::string endpoint;

  std::mutex mutex;
  std::condition_variable ready;
  std::deque<Pending> queue;
  std::map<std::string, std::shared_ptr<std::atomic<bool>>> running;    // id -> cancel flag
  std::vector<Outgoing> outbox;
  std::atomic<bool> stopping{false};
  bool worker_finished = false;
  // design requests: their own queue and worker (only with a handler)
  std::deque<Pending> design_queue;
  std::condition_variable design_ready;
  bool design_running = false;
  bool design_finished = true;
  ClientOptions self_client;    // how the design handler reaches this server

  // CURVE: the ZAP handler admits the listed client keys (runs while the server object lives)
  zmq::socket_t zap{context, zmq::socket_type::rep};
  std::set<std::string> admitted;    // binary public keys
  std::atomic<bool> zap_stop{false};
  std::thread zap_thread;
  void authenticate();

  // I/O thread only: where each request in flight is answered (a retry from a reconnected
  // client moves it to the new connection)
  std::map<std::string, std::vector<std::string>> routes;
  // what each request in flight was, so that a retry is told from another client's request that
  // happens to use the same id
  std::map<std::string, std::size_t> fingerprints;
  void forget(const std::string &id)
  {
    routes.erase(id);
    fingerprints.erase(id);
  }

  void send(const std::vector<std::string> &route, const Reply &reply)
  {
    auto frames = route;
    for (auto &f : encode(make_reply(reply))) frames.push_back(std::move(f));
    send_frames(router, frames);
  }

  void log(const std::string &id, std::string_view type, const Reply &reply, double queue_ms,
           double run_ms) const
  {
    if (!options.log_requests) return;
    spdlog::info("{} {} {}{}{} queue {:.1f} ms run {:.1f} ms", id.empty() ? "-" : id, type,
                 reply.status, reply.error_code.empty() ? "" : " ", reply.error_code, queue_ms,
                 run_ms);
  }

  void answer_now(const std::vector<std::string> &route, const Reply &reply, std::string_view type)
  {
    send(route, reply);
    log(reply.id, type, reply, 0, 0);
  }

  void handle(std::vector<std::string> frames);
  void flush_outbox();
  void work();
  void design_work();
};

Server::Server(ServerOptions options, std::unique_ptr<Backend> backend) :
    impl_(std::make_unique<Impl>())
{
  impl_->options = std::move(options);
  impl_->backend = std::move(backend);
  auto &router = impl_->router;
  const auto &o = impl_->options;
  if (!o.curve_secret_key.empty()) {
    if (o.curve_client_keys.empty())
      throw std::invalid_argument("CURVE: no client keys are admitted; list at least one");
    for (const auto &key : o.curve_client_keys) {
      std::string binary(32, '\0');
      if (key.size() != 40 ||
          !zmq_z85_decode(reinterpret_cast<std::uint8_t *>(binary.data()), key.c_str()))
        throw std::invalid_argument("CURVE: '" + key +
                                    "' is not a client public key (40 characters of Z85)");
      impl_->admitted.insert(binary);
    }
    // the handler must be bound before the first connection arrives
    impl_->zap.bind("inproc://zeromq.zap.01");
    router.set(zmq::sockopt::curve_server, 1);
    router.set(zmq::sockopt::curve_secretkey, o.curve_secret_key);
  } else if (o.bind.rfind("tcp://127.", 0) != 0 && o.bind.rfind("tcp://localhost", 0) != 0 &&
             o.bind.rfind("inproc://", 0) != 0 && o.bind.rfind("ipc://", 0) != 0) {
    spdlog::warn("{} is reachable from other machines and CURVE is off: anyone who can connect can "
                 "use the model",
                 o.bind);
  }
  router.set(zmq::sockopt::linger, 0);
  router.set(zmq::sockopt::router_mandatory, 0);
  router.set(zmq::sockopt::maxmsgsize,
             static_cast<std::int64_t>(impl_->options.limits.message.max_message_bytes));
  router.bind(impl_->options.bind);
  impl_->endpoint = router.get(zmq::sockopt::last_endpoint);
  if (o.design_handler) {
    // the design handler is a client of this server; with CURVE it gets a key pair of its own
    auto &self = impl_->self_client;
    self.endpoint = impl_->endpoint;
    if (const auto any = self.endpoint.find("//0.0.0.0:"); any != std::string::npos)
      self.endpoint.replace(any + 2, 7, "127.0.0.1");
    if (!o.curve_secret_key.empty()) {
      const CurveKeyPair own = generate_curve_keypair();
      std::string binary(32, '\0');
      zmq_z85_decode(reinterpret_cast<std::uint8_t *>(binary.data()), own.public_key.c_str());
      impl_->admitted.insert(binary);
      self.curve_server_key = curve_public_of(o.curve_secret_key);
      self.curve_public_key = own.public_key;
      self.curve_secret_key = own.secret_key;
    }
    impl_->design_finished = false;
  }
  const std::string wake =
      "inproc://cephalo-serve-wake-" + std::to_string(reinterpret_cast<std::uintptr_t>(this));
  impl_->wake_in.bind(wake);
  impl_->wake_out.connect(wake);
  impl_->design_wake_in.bind(wake + "-design");
  impl_->design_wake_out.connect(wake + "-design");
  // last, so that a constructor that throws leaves no thread behind
  if (!o.curve_secret_key.empty())
    impl_->zap_thread = std::thread([impl = impl_.get()] { impl->authenticate(); });
}

Server::~Server()
{
  if (impl_->zap_thread.joinable()) {
    impl_->zap_stop = true;
    impl_->zap_thread.join();
  }
}

void Server::Impl::authenticate()
{
  // ZAP (RFC 27): version, request id, domain, address, identity, mechanism, credentials
  while (!zap_stop) {
    try {
      zmq::pollitem_t item{zap.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(100));
      if (!(item.revents & ZMQ_POLLIN)) continue;
      const auto request = receive_frames(zap);
      if (!request) continue;
      // a REP socket must answer every request, a malformed one too
      const auto &r = *request;
      const bool ok = r.size() >= 7 && r[5] == "CURVE" && admitted.count(r[6]) > 0;
      if (!ok)
        spdlog::warn("refused a connection from {}: its CURVE key is not admitted",
                     r.size() > 3 ? r[3] : "?");
      send_frames(zap, {"1.0", r.size() > 1 ? r[1] : "", ok ? "200" : "400",
                        ok ? "OK" : "client key not admitted", "", ""});
    } catch (const zmq::error_t &e) {
      if (e.num() != EINTR) spdlog::error("CURVE authentication: {}", e.what());
    }
  }
}

std::string Server::endpoint() const
{
  return impl_->endpoint;
}

void Server::stop()
{
  impl_->stopping = true;
  impl_->ready.notify_all();
  impl_->design_ready.notify_all();
}

void Server::Impl::handle(std::vector<std::string> frames)
{
  // routing prefix: the peer's identity, and the empty delimiter a REQ socket adds
  std::vector<std::string> route{frames.front()};
  std::size_t first = 1;
  if (frames.size() > 1 && frames[1].empty()) {
    route.emplace_back();
    first = 2;
  }
  frames.erase(frames.begin(), frames.begin() + static_cast<std::ptrdiff_t>(first));

  std::string id, header_frame;
  Request request;
  try {
    if (frames.size() >= 2)
      header_frame = frames[1];    // errors are answered by id where it can be read
    request = parse_request(decode(std::move(frames), options.limits.message), options.limits, &id);
    for (const auto &image : request.images) {
      const auto size = image_size(image);
      if (!size) throw ProtocolError("bad_image", "an attachment is not a PNG or JPEG file");
      if (static_cast<std::int64_t>(size->first) * size->second > options.limits.max_image_pixels)
        throw ProtocolError("too_large", "an image of " + std::to_string(size->first) + " x " +
                                             std::to_string(size->second) +
                                             " pixels exceeds the limit of " +
                                             std::to_string(options.limits.max_image_pixels));
    }
  } catch (const ProtocolError &e) {
    // answer by id where the header could be read
    if (id.empty() && !header_frame.empty()) {
      const auto header = nlohmann::json::parse(header_frame, nullptr, false);
      if (header.is_object() && header.contains("id") && header["id"].is_string() &&
          header["id"].get_ref<const std::string &>().size() <= 128)
        id = header["id"].get<std::string>();
    }
    answer_now(route, error_reply(id, e.code(), e.what()), "invalid");
    return;
  }

  if (stopping && request.type != RequestType::Health && request.type != RequestType::Info) {
    answer_now(route,
               error_reply(id, "shutting_down", "the server is stopping and takes no new work"),
               type_name(request.type));
    return;
  }
  Reply reply;
  reply.id = id;
  switch (request.type) {
  case RequestType::Info:
    reply.body = {{"model", backend->model_name()},
                  {"backend", backend->kind()},
                  {"version", "0.1.0"},
                  {"protocol_versions", {kProtocolVersion}},
                  {"design", static_cast<bool>(options.design_handler)},
                  {"limits", options.limits.to_json()}};
    answer_now(route, reply, "info");
    return;
  case RequestType::Health: {
    const std::lock_guard lock(mutex);
    reply.body = {{"state", stopping ? "draining" : "serving"},
                  {"queued", queue.size()},
                  {"running", running.size()},
                  {"designs_queued", design_queue.size()},
                  {"designs_running", design_running ? 1 : 0}};
    answer_now(route, reply, "health");
    return;
  }
  case RequestType::Cancel: {
    bool queued = false, found = false;
    {
      const std::lock_guard lock(mutex);
      for (auto *waiting : {&queue, &design_queue})
        for (auto it = waiting->begin(); !found && it != waiting->end(); ++it)
          if (it->request.id == request.target) {
            waiting->erase(it);
            queued = found = true;
            break;
          }
      if (!found)
        if (const auto it = running.find(request.target); it != running.end()) {
          it->second->store(true);
          found = true;
        }
    }
    // a queued request is answered here; a running one by the worker when it stops
    if (queued)
      if (const auto route_of = routes.find(request.target); route_of != routes.end()) {
        answer_now(route_of->second,
                   error_reply(request.target, "cancelled", "cancelled by request " + id),
                   "cancelled");
        forget(request.target);
      }
    reply.body = {{"cancelled", found}};
    answer_now(route, reply, "cancel");
    return;
  }
  case RequestType::Design:
    if (!options.design_handler) {
      answer_now(route,
                 error_reply(id, "unsupported",
                             "this server does not take design requests (cephalo-serve was built "
                             "without agents/)"),
                 "design");
      return;
    }
    break;
  case RequestType::Describe:
  case RequestType::Generate:
    break;
  }

  std::string identity(type_name(request.type));
  identity += '\0' + request.system + '\0' + request.prompt;
  for (const auto &image : request.images) identity += '\0' + std::to_string(image.size());
  if (request.type == RequestType::Design)
    identity += '\0' + request.design.text + '\0' + request.design.spec.dump();
  const std::size_t fingerprint = std::hash<std::string>{}(identity);
  if (const auto retry = routes.find(id); retry != routes.end()) {
    if (fingerprints[id] != fingerprint) {
      answer_now(route, error_reply(id, "bad_request", "id '" + id + "' is in use by a request in flight"),
                 type_name(request.type));
      return;
    }
    retry->second = route;    // the same request again, from a reconnected client
    return;
  }
  const bool design = request.type == RequestType::Design;
  {
    const std::lock_guard lock(mutex);
    auto &waiting = design ? design_queue : queue;
    const std::size_t depth_limit =
        design ? options.limits.design_queue_depth : options.limits.queue_depth;
    if (waiting.size() >= depth_limit) {
      const auto depth = waiting.size();
      send(route,
           error_reply(id, "busy", "the queue is full (" + std::to_string(depth) + " waiting)"));
      log(id, type_name(request.type), error_reply(id, "busy", ""), 0, 0);
      return;
    }
    Pending pending;
    pending.received = Clock::now();
    pending.deadline = pending.received + std::chrono::milliseconds(request.deadline_ms);
    pending.request = std::move(request);
    waiting.push_back(std::move(pending));
  }
  routes[id] = route;
  fingerprints[id] = fingerprint;
  (design ? design_ready : ready).notify_one();
}

void Server::Impl::design_work()
{
  for (;;) {
    Pending p;
    {
      std::unique_lock lock(mutex);
      design_ready.wait(lock, [&] { return stopping || !design_queue.empty(); });
      if (stopping) break;
      p = std::move(design_queue.front());
      design_queue.pop_front();
      running[p.request.id] = p.cancelled;
      design_running = true;
    }
    const auto start = Clock::now();
    const std::string &id = p.request.id;
    Reply reply;
    if (start > p.deadline) {
      reply = error_reply(id, "deadline", "the deadline passed while the request was queued");
    } else {
      DesignContext context;
      context.model = self_client;
      const auto deadline = p.deadline;
      const auto cancelled = p.cancelled;
      context.should_stop = [this, deadline, cancelled] {
        return stopping.load() || cancelled->load() || Clock::now() > deadline;
      };
      try {
        reply = options.design_handler(p.request, context);
      } catch (const std::exception &e) {
        reply = error_reply(id, "backend_error", std::string("the design failed: ") + e.what());
      }
      // a design that gave up because it was told to is answered for the reason it was told
      if (!reply.ok() && context.should_stop()) {
        if (p.cancelled->load())
          reply = error_reply(id, "cancelled", "cancelled while running");
        else if (stopping)
          reply = error_reply(id, "shutting_down", "the server stopped while the design ran");
        else
          reply = error_reply(id, "deadline", "the deadline passed while running");
      }
    }
    const auto end = Clock::now();
    reply.id = id;
    if (reply.ok() && reply.body.is_object())
      reply.body["timing"] = {{"queue_ms", ms_between(p.received, start)},
                              {"total_ms", ms_between(p.received, end)}};
    {
      const std::lock_guard lock(mutex);
      running.erase(id);
      design_running = false;
      outbox.push_back({std::move(reply), "design", p.received, ms_between(p.received, start),
                        ms_between(start, end)});
    }
    design_wake_out.send(zmq::str_buffer("r"), zmq::send_flags::dontwait);
  }
  {
    const std::lock_guard lock(mutex);
    design_finished = true;
  }
  design_wake_out.send(zmq::str_buffer("f"), zmq::send_flags::dontwait);
}

void Server::Impl::flush_outbox()
{
  std::vector<Outgoing> ready_replies;
  {
    const std::lock_guard lock(mutex);
    ready_replies.swap(outbox);
  }
  for (const auto &out : ready_replies) {
    const auto route = routes.find(out.reply.id);
    if (route == routes.end()) continue;    // answered already (cancelled while queued)
    send(route->second, out.reply);
    forget(out.reply.id);
    log(out.reply.id, out.type, out.reply, out.queue_ms, out.run_ms);
  }
}

void Server::Impl::work()
{
  const auto &limits = options.limits;
  for (;;) {
    std::vector<Pending> batch;
    {
      std::unique_lock lock(mutex);
      ready.wait(lock, [&] { return stopping || !queue.empty(); });
      if (stopping) break;
      // a short wait lets a batch fill
      const auto until = Clock::now() + std::chrono::milliseconds(limits.batch_wait_ms);
      while (queue.size() < limits.max_batch && !stopping &&
             ready.wait_until(lock, until) != std::cv_status::timeout) {}
      if (stopping) break;    // stopped while the batch was filling: it does not start
      while (!queue.empty() && batch.size() < limits.max_batch) {
        batch.push_back(std::move(queue.front()));
        queue.pop_front();
      }
      for (const auto &p : batch) running[p.request.id] = p.cancelled;
    }
    const auto start = Clock::now();
    std::vector<Outgoing> replies;
    std::vector<Job> jobs;
    std::vector<const Pending *> owners;
    for (const auto &p : batch) {
      if (start > p.deadline) {
        Outgoing out{error_reply(p.request.id, "deadline",
                                 "the deadline passed while the request was queued"),
                     std::string(type_name(p.request.type)), p.received,
                     ms_between(p.received, start), 0};
        replies.push_back(std::move(out));
        continue;
      }
      jobs.emplace_back();
      jobs.back().request = &p.request;
      owners.push_back(&p);
    }
    if (!jobs.empty()) {
      try {
        backend->run(jobs, [&](std::size_t i) {
          return owners[i]->cancelled->load() || Clock::now() > owners[i]->deadline;
        });
      } catch (const std::exception &e) {
        for (auto &job : jobs) {
          job.error_code = "backend_error";
          job.error_message = e.what();
        }
      }
    }
    const auto end = Clock::now();
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      const Pending &p = *owners[i];
      Job &job = jobs[i];
      Reply reply;
      reply.id = p.request.id;
      if (job.stopped && p.cancelled->load())
        reply = error_reply(p.request.id, "cancelled", "cancelled while running");
      else if (job.stopped)
        reply = error_reply(p.request.id, "deadline", "the deadline passed while running");
      else if (!job.error_code.empty())
        reply = error_reply(p.request.id, job.error_code, job.error_message);
      else {
        job.timing.queue_ms = ms_between(p.received, start);
        job.timing.total_ms = ms_between(p.received, end);
        reply.body = {{"text", job.text},
                      {"finish_reason", job.finish_reason},
                      {"tokens", job.tokens},
                      {"model", backend->model_name()},
                      {"timing",
                       {{"queue_ms", job.timing.queue_ms},
                        {"encode_ms", job.timing.encode_ms},
                        {"prefill_ms", job.timing.prefill_ms},
                        {"decode_ms", job.timing.decode_ms},
                        {"total_ms", job.timing.total_ms}}}};
        if (p.request.params.json_fields) reply.body["fields"] = first_json_object(job.text);
      }
      replies.push_back({std::move(reply), std::string(type_name(p.request.type)), p.received,
                         ms_between(p.received, start), ms_between(start, end)});
    }
    {
      const std::lock_guard lock(mutex);
      for (const auto &p : batch) running.erase(p.request.id);
      for (auto &r : replies) outbox.push_back(std::move(r));
    }
    wake_out.send(zmq::str_buffer("r"), zmq::send_flags::dontwait);
  }
  {
    const std::lock_guard lock(mutex);
    worker_finished = true;
  }
  wake_out.send(zmq::str_buffer("f"), zmq::send_flags::dontwait);
}

void Server::run()
{
  auto &impl = *impl_;
  std::thread worker([&] { impl.work(); });
  std::thread design_worker;
  if (impl.options.design_handler) design_worker = std::thread([&] { impl.design_work(); });
  zmq::pollitem_t items[] = {{impl.router.handle(), 0, ZMQ_POLLIN, 0},
                             {impl.wake_in.handle(), 0, ZMQ_POLLIN, 0},
                             {impl.design_wake_in.handle(), 0, ZMQ_POLLIN, 0}};
  const auto drain_wakes = [&] {
    zmq::message_t message;
    while (impl.wake_in.recv(message, zmq::recv_flags::dontwait)) {}
    while (impl.design_wake_in.recv(message, zmq::recv_flags::dontwait)) {}
  };
  bool drained = false;
  for (;;) {
    // Draining: once stop() is called, what is queued is answered shutting_down (once), new work
    // is refused, health says draining, and the loop runs until the running batch is answered.
    if (impl.stopping && !drained) {
      drained = true;
      std::deque<Pending> left;
      {
        const std::lock_guard lock(impl.mutex);
        left.swap(impl.queue);
        for (auto &p : impl.design_queue) left.push_back(std::move(p));
        impl.design_queue.clear();
      }
      impl.ready.notify_all();
      impl.design_ready.notify_all();
      for (const auto &p : left)
        if (const auto route = impl.routes.find(p.request.id); route != impl.routes.end()) {
          impl.answer_now(route->second,
                          error_reply(p.request.id, "shutting_down",
                                      "the server stopped before running the request"),
                          type_name(p.request.type));
          impl.forget(p.request.id);
        }
    }
    if (drained) {
      const std::lock_guard lock(impl.mutex);
      if (impl.worker_finished && impl.design_finished && impl.outbox.empty()) break;
    }
    try {
      zmq::poll(items, 3, std::chrono::milliseconds(drained ? 10 : 100));
    } catch (const zmq::error_t &e) {
      if (e.num() != EINTR) throw;
      continue;    // a signal interrupted the wait; stop() says whether to go on
    }
    if ((items[1].revents | items[2].revents) & ZMQ_POLLIN) drain_wakes();
    impl.flush_outbox();
    if (items[0].revents & ZMQ_POLLIN) {
      // a burst at a time, so that replies are not starved by a flood of requests
      for (int n = 0; n < 64; ++n) {
        zmq::message_t probe;
        std::vector<std::string> frames;
        if (!impl.router.recv(probe, zmq::recv_flags::dontwait)) break;
        frames.emplace_back(static_cast<const char *>(probe.data()), probe.size());
        while (probe.more()) {
          if (!impl.router.recv(probe, zmq::recv_flags::none)) break;
          frames.emplace_back(static_cast<const char *>(probe.data()), probe.size());
        }
        try {
          impl.handle(std::move(frames));
        } catch (const std::exception &e) {
          // a message that got past the checks and still failed (memory, say): logged, not fatal
          spdlog::error("a request could not be handled: {}", e.what());
        }
      }
    }
  }
  worker.join();
  if (design_worker.joinable()) design_worker.join();
  drain_wakes();
  impl.flush_outbox();
}

}    // namespace cephalo::bridge
