// The worker of fix cephalo/vlm (see vlm_session.h).
#include "core/vlm_session.h"

#include "cephalo/bridge/client.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

namespace cephalo::plugin {
namespace {

using Clock = std::chrono::steady_clock;
using ordered_json = nlohmann::ordered_json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double ms_between(Clock::time_point from, Clock::time_point to)
{
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// The first {...} or [...] in `text` that is valid JSON, keeping the order of object fields.
std::optional<ordered_json> first_json(const std::string &text, char open)
{
  const std::string_view span = bridge::first_json_text(text, open);
  if (span.empty()) return std::nullopt;
  return ordered_json::parse(span);
}

bool as_number(const ordered_json &value, double &out)
{
  if (value.is_number()) {
    out = value.get<double>();
    return std::isfinite(out);
  }
  if (value.is_boolean()) {
    out = value.get<bool>() ? 1.0 : 0.0;
    return true;
  }
  return false;
}

std::string image_path(const std::string &pattern, std::int64_t step)
{
  std::string path = pattern;
  const std::size_t star = path.find('*');
  if (star != std::string::npos) path.replace(star, 1, std::to_string(step));
  return path;
}

}    // namespace

std::vector<double> parse_answer_values(const std::string &text,
                                        const std::vector<std::string> &names, std::size_t count,
                                        bool *found)
{
  std::vector<double> values(count, kNaN);
  bool any = false;
  auto put = [&](std::size_t i, const ordered_json &value) {
    double number = 0.0;
    if (i < count && as_number(value, number)) {
      values[i] = number;
      any = true;
    }
  };

  if (!names.empty()) {
    if (auto object = first_json(text, '{'); object && object->is_object())
      for (std::size_t i = 0; i < names.size(); ++i)
        if (auto it = object->find(names[i]); it != object->end()) put(i, *it);
  } else if (auto array = first_json(text, '['); array && array->is_array()) {
    for (std::size_t i = 0; i < array->size(); ++i) put(i, (*array)[i]);
  } else if (auto object = first_json(text, '{'); object && object->is_object()) {
    std::size_t i = 0;
    for (const auto &item : object->items()) put(i++, item.value());
  }
  if (found) *found = any;
  return values;
}

struct VlmSession::Impl {
  VlmSettings settings;
  std::ofstream output;
  std::unique_ptr<bridge::AsyncClient> client;

  struct Job {
    std::uint64_t sequence = 0;
    Snapshot snapshot;
    bool has_image = false;    // false: dropped because the worker was behind
  };
  struct Held {    // drawn, waiting for the server's state to be known
    std::uint64_t sequence = 0;
    ordered_json record, truth;
    std::string png;
  };
  struct Pending {
    std::uint64_t sequence = 0;
    ordered_json record;
    Clock::time_point sent;
    std::future<bridge::Reply> reply;
  };

  // shared with the simulation thread, under `mutex`
  mutable std::mutex mutex;
  std::condition_variable wake;        // the worker: new jobs, stop, expire
  std::condition_variable recorded;    // waiters: a record was finished
  std::deque<Job> jobs;
  std::size_t pending_count = 0;
  std::uint64_t next_sequence = 0;
  std::uint64_t next_write = 0;                    // records are written in sequence order
  std::map<std::uint64_t, std::string> finished;   // recorded, not yet written
  VlmCounters counters;
  std::string model;
  bool stop = false;
  bool expire = false;    // record everything still waiting as a timeout

  // the worker's own
  std::deque<Held> held;
  std::vector<Pending> pending;
  enum class Server { Unknown, Up, Down } server = Server::Unknown;
  std::optional<std::future<bridge::Reply>> probe;    // an `info` request out
  Clock::time_point last_probe;
  std::string server_problem;
  std::thread worker;

  explicit Impl(VlmSettings s) : settings(std::move(s))
  {
    output.open(settings.output, std::ios::out | std::ios::trunc);
    if (!output) throw std::runtime_error("cannot open " + settings.output + " for writing");
    counters.values.assign(settings.value_count, kNaN);
    if (!settings.endpoint.empty()) {
      bridge::ClientOptions options;
      options.endpoint = settings.endpoint;
      options.curve_server_key = settings.curve_server_key;
      options.curve_public_key = settings.curve_public_key;
      options.curve_secret_key = settings.curve_secret_key;
      // one more than the snapshots, for the `info` probe
      client = std::make_unique<bridge::AsyncClient>(options, settings.max_in_flight + 1);
    }
    worker = std::thread([this] { run(); });
  }

  bool is_recorded(std::uint64_t sequence) const
  {
    return sequence < next_write || finished.count(sequence) != 0;
  }

  void run()
  {
    for (;;) {
      std::deque<Job> batch;
      bool expiring = false;
      {
        std::unique_lock<std::mutex> lock(mutex);
        auto ready = [&] { return stop || expire || !jobs.empty(); };
        if (pending.empty() && held.empty())
          wake.wait(lock, ready);
        else
          wake.wait_for(lock, std::chrono::milliseconds(5), ready);
        batch.swap(jobs);
        expiring = expire;
        if (stop && batch.empty() && pending.empty() && held.empty()) break;
      }
      for (Job &job : batch) process(job, expiring);
      dispatch(expiring);
      collect(expiring);
      if (expiring) {
        std::lock_guard<std::mutex> lock(mutex);
        if (jobs.empty() && pending.empty() && held.empty()) {
          expire = false;
          recorded.notify_all();
        }
      }
    }
  }

  ordered_json start_record(const Snapshot &snapshot)
  {
    ordered_json record;
    record["step"] = snapshot.step;
    record["time"] = snapshot.time;
    record["image"] = nullptr;
    record["prompt"] = settings.prompt;
    record["status"] = "";
    const Box &b = snapshot.box;
    record["box"] = {{"lo", {b.lo[0], b.lo[1], b.lo[2]}},
                     {"hi", {b.hi[0], b.hi[1], b.hi[2]}},
                     {"tilt", {b.xy, b.xz, b.yz}}};
    return record;
  }

  void process(Job &job, bool expiring)
  {
    ordered_json record = start_record(job.snapshot);
    std::string png;
    if (job.has_image) {
      const auto start = Clock::now();
      decorate(job.snapshot.image, job.snapshot.box, job.snapshot.resolved);
      const std::vector<std::uint8_t> bytes = encode_png(job.snapshot.image);
      png.assign(bytes.begin(), bytes.end());
      record["render_ms"] = job.snapshot.render_ms;
      record["encode_ms"] = ms_between(start, Clock::now());
      job.snapshot.image = Framebuffer();    // the pixels are no longer needed
      if (!settings.image_pattern.empty()) {
        const std::string path = image_path(settings.image_pattern, job.snapshot.step);
        std::ofstream file(path, std::ios::binary | std::ios::trunc);
        file.write(png.data(), static_cast<std::streamsize>(png.size()));
        if (file.flush())
          record["image"] = path;
        else
          record["image_error"] = "cannot write " + path;
      }
    }
    ordered_json truth = ordered_json::object();
    for (const auto &[name, value] : job.snapshot.truth)
      truth[name] = std::isfinite(value) ? ordered_json(value) : ordered_json(nullptr);

    if (settings.endpoint.empty() || !job.has_image || expiring) {
      const char *status = expiring ? kStatusTimeout
                           : job.has_image ? kStatusRecorded
                                           : kStatusSkipped;
      if (expiring)
        record["error"] = "the run ended before the snapshot was sent";
      else if (!job.has_image)
        record["error"] = "the worker was behind; the snapshot was dropped";
      finish(job.sequence, std::move(record), status, std::move(truth));
      return;
    }
    held.push_back({job.sequence, std::move(record), std::move(truth), std::move(png)});
  }

  // Sends what is held once the server is known to answer; errors when it does not. A dead
  // server costs one `info` probe (probe_ms), tried again at most every reprobe_ms, not a
  // deadline per snapshot; snapshots beyond max_in_flight are skipped, not queued.
  void dispatch(bool expiring)
  {
    if (held.empty() && !probe) return;
    const auto now = Clock::now();
    if (probe && probe->wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      const bridge::Reply reply = probe->get();
      probe.reset();
      if (reply.ok()) {
        server = Server::Up;
        std::lock_guard<std::mutex> lock(mutex);
        model = reply.body.value("model", std::string());
      } else {
        server = Server::Down;
        server_problem = "no model server at " + settings.endpoint + ": " + reply.error_message +
                         " (tried again at most every " +
                         std::to_string(settings.reprobe_ms / 1000) + " s)";
      }
    }
    if (!probe && server != Server::Up && !held.empty() &&
        (server == Server::Unknown || ms_between(last_probe, now) >= settings.reprobe_ms)) {
      last_probe = now;
      bridge::Request info;
      info.type = bridge::RequestType::Info;
      info.deadline_ms = settings.probe_ms;
      probe = client->submit(std::move(info));    // a slot is kept free for it
    }
    // encoded snapshots are small: hold a good number while the probe is out, so that a dead
    // server is reported as such rather than as a busy one
    const std::size_t hold_limit = std::max<std::size_t>(64, 2 * settings.max_in_flight);
    while (!held.empty()) {
      Held &h = held.front();
      const char *status = nullptr;
      if (expiring) {
        status = kStatusTimeout;
        h.record["error"] = "the run ended before the server answered";
      } else if (probe) {
        if (held.size() <= hold_limit) break;    // wait for the probe
        status = kStatusSkipped;
        h.record["error"] = "the server has not answered yet and " + std::to_string(hold_limit) +
                            " snapshots wait for it";
      } else if (server != Server::Up) {
        status = kStatusError;
        h.record["error"] = server_problem;
      } else if (pending.size() >= settings.max_in_flight) {
        status = kStatusSkipped;
        h.record["error"] = std::to_string(settings.max_in_flight) +
                            " requests were already waiting for answers (inflight)";
      } else if (!send(h)) {
        status = kStatusSkipped;
        h.record["error"] = "the client had no free slot";
      }
      if (status) finish(h.sequence, std::move(h.record), status, std::move(h.truth));
      held.pop_front();
    }
  }

  bool send(Held &h)
  {
    bridge::Request request;
    request.type = bridge::RequestType::Describe;
    request.deadline_ms = settings.deadline_ms;
    request.prompt = settings.prompt;
    request.system = settings.system;
    request.images.push_back(std::move(h.png));
    request.params.max_new_tokens = settings.max_new_tokens;
    request.params.temperature = settings.temperature;
    request.params.top_k = settings.top_k;
    request.params.top_p = settings.top_p;
    request.params.seed = settings.seed;
    request.params.json_fields = settings.json_format;
    request.params.median_numbers = settings.median_numbers;
    auto future = client->submit(std::move(request));
    if (!future) return false;
    h.record["truth"] = std::move(h.truth);
    pending.push_back({h.sequence, std::move(h.record), Clock::now(), std::move(*future)});
    std::lock_guard<std::mutex> lock(mutex);
    ++pending_count;
    counters.sent += 1;
    counters.in_flight = static_cast<double>(pending_count);
    return true;
  }

  void collect(bool expiring)
  {
    for (auto it = pending.begin(); it != pending.end();) {
      const bool ready = it->reply.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
      if (!ready && !expiring) {
        ++it;
        continue;
      }
      ordered_json record = std::move(it->record);
      ordered_json truth = std::move(record["truth"]);
      record.erase("truth");
      const char *status = kStatusTimeout;
      std::vector<double> values;
      if (!ready) {
        record["error"] = "no answer before the end of the run";
      } else {
        const bridge::Reply reply = it->reply.get();
        record["latency_ms"] = ms_between(it->sent, Clock::now());
        if (reply.ok()) {
          status = kStatusOk;
          const std::string text = reply.text();
          record["text"] = text;
          bool found = false;
          values = parse_answer_values(text, settings.field_names, settings.value_count, &found);
          if (found) {
            ordered_json list = ordered_json::array();
            for (double v : values) list.push_back(std::isfinite(v) ? ordered_json(v) : nullptr);
            record["values"] = std::move(list);
          } else {
            values.clear();
          }
          record["model"] = reply.body.value("model", model);
          if (reply.body.contains("timing")) record["server_timing"] = reply.body["timing"];
        } else {
          status = reply.error_code == "deadline" ? kStatusTimeout : kStatusError;
          record["error"] = reply.error_code + ": " + reply.error_message;
          if (reply.error_code == "unreachable") {
            // the server went away: fail fast until it answers a probe again
            server = Server::Down;
            last_probe = Clock::now();
            server_problem = "no model server at " + settings.endpoint + " (" +
                             reply.error_message + ")";
          }
        }
      }
      const double latency = record.value("latency_ms", 0.0);
      const std::uint64_t sequence = it->sequence;
      const std::int64_t step = record["step"].get<std::int64_t>();
      it = pending.erase(it);
      {
        std::lock_guard<std::mutex> lock(mutex);
        --pending_count;
        counters.in_flight = static_cast<double>(pending_count);
        if (status == kStatusOk && step >= counters.last_step) {
          counters.last_step = static_cast<double>(step);
          counters.last_latency_ms = latency;
          if (!values.empty()) counters.values = values;
        }
      }
      finish(sequence, std::move(record), status, std::move(truth));
    }
  }

  void finish(std::uint64_t sequence, ordered_json record, const char *status, ordered_json truth)
  {
    record["status"] = status;
    if (!record.contains("model") && !settings.endpoint.empty()) {
      std::lock_guard<std::mutex> lock(mutex);
      if (!model.empty()) record["model"] = model;
    }
    if (!truth.empty()) record["truth"] = std::move(truth);
    std::string line = record.dump(-1, ' ', false, ordered_json::error_handler_t::replace);

    std::vector<std::string> lines;
    {
      std::lock_guard<std::mutex> lock(mutex);
      const std::string s = status;
      if (s == kStatusOk) counters.ok += 1;
      else if (s == kStatusError) counters.errors += 1;
      else if (s == kStatusSkipped) counters.skipped += 1;
      else if (s == kStatusTimeout) counters.timeouts += 1;
      finished.emplace(sequence, std::move(line));
      for (auto it = finished.find(next_write); it != finished.end();
           it = finished.find(next_write)) {
        lines.push_back(std::move(it->second));
        finished.erase(it);
        ++next_write;
      }
    }
    for (const std::string &l : lines) output << l << '\n';
    output.flush();
    recorded.notify_all();
  }
};

VlmSession::VlmSession(VlmSettings settings) : impl_(std::make_unique<Impl>(std::move(settings)))
{
}

VlmSession::~VlmSession()
{
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stop = true;
    impl_->expire = true;
  }
  impl_->wake.notify_all();
  impl_->worker.join();
}

std::uint64_t VlmSession::submit(Snapshot snapshot)
{
  Impl &s = *impl_;
  std::uint64_t sequence = 0;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    sequence = s.next_sequence++;
    s.counters.snapshots += 1;
    Impl::Job job;
    job.sequence = sequence;
    // the worker draws faster than any model answers; if it is this far behind, the
    // simulation outruns it and the pixels are dropped rather than piled up
    const std::size_t draw_limit = std::max<std::size_t>(8, 2 * s.settings.max_in_flight);
    job.has_image = s.jobs.size() < draw_limit;
    if (!job.has_image) snapshot.image = Framebuffer();
    job.snapshot = std::move(snapshot);
    s.jobs.push_back(std::move(job));
  }
  s.wake.notify_one();
  return sequence;
}

bool VlmSession::wait(std::uint64_t sequence, double seconds)
{
  Impl &s = *impl_;
  std::unique_lock<std::mutex> lock(s.mutex);
  return s.recorded.wait_for(lock, std::chrono::duration<double>(std::max(seconds, 0.0)),
                             [&] { return s.is_recorded(sequence); });
}

std::size_t VlmSession::drain(double seconds)
{
  Impl &s = *impl_;
  std::unique_lock<std::mutex> lock(s.mutex);
  auto all_recorded = [&] { return s.next_write == s.next_sequence; };
  if (s.recorded.wait_for(lock, std::chrono::duration<double>(std::max(seconds, 0.0)),
                          all_recorded))
    return 0;
  const double before = s.counters.timeouts;
  s.expire = true;
  s.wake.notify_all();
  s.recorded.wait(lock, all_recorded);
  s.expire = false;
  return static_cast<std::size_t>(s.counters.timeouts - before);
}

VlmCounters VlmSession::counters() const
{
  VlmCounters c;
  read_counters(c);
  return c;
}

void VlmSession::read_counters(VlmCounters &into) const
{
  std::lock_guard<std::mutex> lock(impl_->mutex);
  into = impl_->counters;    // copy-assignment keeps into.values' storage
}

std::string VlmSession::model_name() const
{
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->model;
}

}    // namespace cephalo::plugin
