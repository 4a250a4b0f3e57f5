// The model side of fix cephalo/vlm, without LAMMPS: on rank 0 a worker thread finishes each
// composited snapshot (colour bar, label, PNG, optional file), asks cephalo-serve about it
// through the bridge's asynchronous client, and writes one JSONL record per snapshot. The
// simulation thread only hands snapshots over and reads counters; it never waits on the
// network unless asked to (sync mode, end of run). The worker makes no MPI calls.
#pragma once

#include "core/snapshot_renderer.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace cephalo::plugin {

struct VlmSettings {
  std::string endpoint;    // empty: record snapshots without asking a model
  std::string prompt, system;
  int max_new_tokens = 256;
  double temperature = 0.0;
  int top_k = 0;
  double top_p = 1.0;
  std::uint64_t seed = 0;
  bool json_format = false;       // ask for a JSON object (format: json)
  bool median_numbers = false;    // greedy decimals at the median (numbers: median)
  int deadline_ms = 60000;     // per request
  int probe_ms = 2000;         // how long an unknown server may take to answer `info`
  int reprobe_ms = 10000;      // how often a server that did not answer is tried again
  std::size_t max_in_flight = 4;
  // CURVE (Z85, all or none): the server's public key and this client's key pair
  std::string curve_server_key, curve_public_key, curve_secret_key;

  std::string output;           // JSONL file, written from the start
  std::string image_pattern;    // PNG file per snapshot, '*' replaced by the step; empty: none
  std::vector<std::string> field_names;    // structured answers: the values to take, in order
  std::size_t value_count = 3;             // parsed values kept for the fix's vector
};

// One snapshot handed over by the simulation thread: the composited image (without colour bar
// and label, which the worker draws) and what the record says about it.
struct Snapshot {
  std::int64_t step = 0;
  double time = 0.0;
  Framebuffer image;
  Box box;
  RenderSettings resolved;    // as returned by resolve_settings, with the label to draw
  // measured values to record beside the model's answer ("crack_length" -> 12.5), in order
  std::vector<std::pair<std::string, double>> truth;
  double render_ms = 0.0;    // drawing and compositing on the simulation's ranks
};

// The counters behind the fix's global vector.
struct VlmCounters {
  double snapshots = 0, sent = 0, ok = 0, errors = 0, skipped = 0, timeouts = 0, in_flight = 0;
  double last_step = -1, last_latency_ms = 0;
  std::vector<double> values;    // of the latest answer that had them; NaN when none yet
};

// Statuses written to the records.
inline constexpr const char *kStatusOk = "ok";
inline constexpr const char *kStatusError = "error";
inline constexpr const char *kStatusSkipped = "skipped";
inline constexpr const char *kStatusTimeout = "timeout";
inline constexpr const char *kStatusRecorded = "recorded";    // no endpoint: image and truth only

class VlmSession {
 public:
  // Opens the output file (throws std::runtime_error naming it) and starts the worker.
  explicit VlmSession(VlmSettings settings);
  // Records whatever is still waiting as a timeout ("the fix was deleted") and stops the worker.
  ~VlmSession();
  VlmSession(const VlmSession &) = delete;
  VlmSession &operator=(const VlmSession &) = delete;

  // Hands a snapshot to the worker and returns at once. The worker draws and writes it, then
  // sends it once the server has answered an `info` probe; when max_in_flight requests already
  // wait for answers it is recorded as skipped instead of queued. When the worker is more than
  // max(8, 2 max_in_flight) snapshots behind, the pixels are dropped too. Returns the snapshot's
  // sequence number.
  std::uint64_t submit(Snapshot snapshot);

  // Waits until snapshot `sequence` is recorded or `seconds` pass; true when it is recorded.
  bool wait(std::uint64_t sequence, double seconds);

  // Waits until every snapshot submitted so far is recorded, at most `seconds`; what still
  // waits then is recorded as a timeout. Returns how many were.
  std::size_t drain(double seconds);

  VlmCounters counters() const;
  // The same into `into`, reusing its storage (the fix reads them every step).
  void read_counters(VlmCounters &into) const;
  std::string model_name() const;    // from the server's `info`, once it answered

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Numbers from a structured answer: with `names`, those fields of the first JSON object in the
// text; without, the first JSON array of numbers in the text ("[12.1, 30.5, 28.0]", Cephalo's
// answer form), else the fields of the first JSON object in the order written. true and false
// read as 1 and 0; missing or non-numeric entries are NaN. The result has exactly `count`
// entries; `found` says whether any value was read. Free text gives no values: numbers in prose
// ("at step 250") are not answers.
std::vector<double> parse_answer_values(const std::string &text,
                                        const std::vector<std::string> &names, std::size_t count,
                                        bool *found = nullptr);

}    // namespace cephalo::plugin
