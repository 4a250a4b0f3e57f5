// What cephalo-serve runs requests on: the libtorch model of models/, an OpenAI-compatible
// upstream, or the echo instrument that measures the transport alone.
#pragma once

#include "cephalo/bridge/protocol.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace cephalo::bridge {

// One request handed to a backend, and the place for its answer.
struct Job {
  const Request *request = nullptr;
  // set by the backend
  std::string text, finish_reason = "stop", error_code, error_message;
  int tokens = 0;
  Timing timing;
  // the backend ended the job early because stop() said so (deadline or cancel); a job that
  // completed is answered with its text even if its deadline passed meanwhile
  bool stopped = false;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string model_name() const = 0;
  virtual std::string kind() const = 0;    // "libtorch", "upstream", "echo"
  // Runs the jobs as one batch. `stop(job_index)` is polled between tokens: true means the
  // job's deadline passed or it was cancelled, and the backend should end it early. A job that
  // fails sets error_code/error_message (bad_image, backend_error) and leaves the others be.
  virtual void run(std::vector<Job> &jobs, const std::function<bool(std::size_t)> &stop) = 0;
};

// The transport instrument: answers at once with the prompt's length and the image bytes it
// was given ("echo: 12 characters, 1 image(s), 1024 bytes"). Not a model.
std::unique_ptr<Backend> make_echo_backend();

}    // namespace cephalo::bridge
