// Requests run on a VisionLanguageModel: images decoded, one generate() call per batch.
#include "cephalo/bridge/model_backend.h"

#include "cephalo/models/image.h"
#include "cephalo/models/runtime.h"

#include <chrono>

namespace cephalo::bridge {
namespace {

using Clock = std::chrono::steady_clock;

class ModelBackend : public Backend {
 public:
  ModelBackend(const std::filesystem::path &dir, const ModelBackendOptions &o) :
      name_(dir.filename().string()),
      model_(models::VisionLanguageModel::load(dir, {o.device, o.dtype, o.threads, true}))
  {
    if (!model_.has_tokenizer())
      throw std::invalid_argument(dir.string() +
                                  ": no tokenizer.model; the server takes text prompts");
  }
  std::string model_name() const override { return name_; }
  std::string kind() const override { return "libtorch"; }

  void run(std::vector<Job> &jobs, const std::function<bool(std::size_t)> &stop) override
  {
    std::vector<models::GenerationRequest> requests;
    std::vector<std::size_t> owner;    // job of each request
    for (std::size_t j = 0; j < jobs.size(); ++j) {
      const Request &r = *jobs[j].request;
      const auto start = Clock::now();
      models::GenerationRequest g;
      try {
        for (std::size_t i = 0; i < r.images.size(); ++i)
          g.images.push_back(
              models::decode_image(reinterpret_cast<const std::uint8_t *>(r.images[i].data()),
                                   r.images[i].size(), "image " + std::to_string(i)));
      } catch (const models::ImageError &e) {
        jobs[j].error_code = "bad_image";
        jobs[j].error_message = e.what();
        continue;
      }
      jobs[j].timing.encode_ms =
          std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      if (!r.system.empty()) g.messages.push_back({"system", r.system, 0});
      g.messages.push_back({"user", r.prompt, static_cast<int>(g.images.size())});
      g.sampling.max_new_tokens = r.params.max_new_tokens;
      g.sampling.temperature = r.params.temperature;
      g.sampling.top_k = r.params.top_k;
      g.sampling.top_p = r.params.top_p;
      g.sampling.seed = r.params.seed;
      g.sampling.stop = r.params.stop;
      g.sampling.numbers =
          r.params.median_numbers ? models::NumberDecoding::median : models::NumberDecoding::mode;
      requests.push_back(std::move(g));
      owner.push_back(j);
    }
    if (requests.empty()) return;
    try {
      generate(requests, owner, jobs, stop);
    } catch (const std::invalid_argument &e) {
      if (requests.size() == 1) {
        jobs[owner[0]].error_code = "bad_request";
        jobs[owner[0]].error_message = e.what();
        return;
      }
      // one request the model refuses (too long for its context, say) must not fail the
      // others: run them one by one, so that only that one is answered with the error
      for (std::size_t i = 0; i < requests.size(); ++i) {
        try {
          generate({requests[i]}, {owner[i]}, jobs, stop);
        } catch (const std::invalid_argument &one) {
          jobs[owner[i]].error_code = "bad_request";
          jobs[owner[i]].error_message = one.what();
        }
      }
    }
  }

 private:
  void generate(const std::vector<models::GenerationRequest> &requests,
                const std::vector<std::size_t> &owner, std::vector<Job> &jobs,
                const std::function<bool(std::size_t)> &stop)
  {
    const auto results = model_.generate(
        requests, [&](std::size_t i, int, std::string_view) { return !stop(owner[i]); });
    for (std::size_t i = 0; i < results.size(); ++i) {
      Job &job = jobs[owner[i]];
      job.text = results[i].text;
      job.tokens = static_cast<int>(results[i].tokens.size());
      job.finish_reason = results[i].finish_reason == "length" ? "length" : "stop";
      job.stopped = results[i].finish_reason == "cancelled";    // stop() ended it
      job.timing.prefill_ms = results[i].prefill_seconds * 1e3;
      job.timing.decode_ms = results[i].decode_seconds * 1e3;
    }
  }

  std::string name_;
  models::VisionLanguageModel model_;
};

}    // namespace

std::unique_ptr<Backend> make_model_backend(const std::filesystem::path &model_dir,
                                            const ModelBackendOptions &options)
{
  return std::make_unique<ModelBackend>(model_dir, options);
}

}    // namespace cephalo::bridge
