// The echo backend: an instrument for the transport, not a model.
#include "cephalo/bridge/backend.h"

namespace cephalo::bridge {
namespace {

class EchoBackend : public Backend {
 public:
  std::string model_name() const override { return "echo"; }
  std::string kind() const override { return "echo"; }
  void run(std::vector<Job> &jobs, const std::function<bool(std::size_t)> &) override
  {
    for (auto &job : jobs) {
      std::size_t bytes = 0;
      for (const auto &image : job.request->images) bytes += image.size();
      job.text = "echo: " + std::to_string(job.request->prompt.size()) + " characters, " +
                 std::to_string(job.request->images.size()) + " image(s), " +
                 std::to_string(bytes) + " bytes";
      job.tokens = 0;
    }
  }
};

}    // namespace

std::unique_ptr<Backend> make_echo_backend()
{
  return std::make_unique<EchoBackend>();
}

}    // namespace cephalo::bridge
