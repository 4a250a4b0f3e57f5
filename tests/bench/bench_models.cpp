// bench_models: speed of the Idefics2 runtime on random weights of a given configuration —
// prefill tokens/s, time to first token, decode tokens/s and peak memory, next to the
// memory-bandwidth floor of decoding (weight bytes read per step over the measured copy
// bandwidth). Prints a table. With --parity DIR it instead compares the runtime on this device
// with the reference fixture written by tests/models/fixtures/make_reference.py.
//
//   bench_models --config models/configs/idefics2-8b.json --device cuda --batch 1,8
//   bench_models --tiny                          (CPU, the small configuration)
#include "cephalo/models/config.h"
#include "cephalo/models/image.h"
#include "cephalo/models/runtime.h"
#include "cephalo/models/safetensors.h"
#include "cpu_threads.h"
#include "device_memory.h"
#include "graph_decoder.h"
#include "idefics2_model.h"
#include "tensor_io.h"
#include "weights.h"

#include <torch/cuda.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace cephalo::models;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string config;    // empty: the tiny configuration
  std::string device = "cpu";
  std::string dtype = "auto";
  std::vector<int> batches{1};
  int prompt = 128;    // text tokens besides the image tokens
  int image = 378;     // side of the square image (pixels), 0: no image
  int steps = 64;      // decode steps timed
  int threads = 0;
  bool graph = true;    // CUDA graphs for decode steps where the build and device allow
  std::string parity;
};

[[noreturn]] void usage()
{
  std::fprintf(stderr, "usage: bench_models [--config FILE | --tiny] [--device cpu|cuda] [--dtype "
                       "auto|float32|bfloat16]\n"
                       "                    [--batch 1,8] [--prompt N] [--image PIXELS] [--steps "
                       "N] [--threads N] [--no-graph]\n"
                       "       bench_models --parity FIXTURE_DIR [--device cuda]\n");
  std::exit(2);
}

Options parse(int argc, char **argv)
{
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "--config")
      o.config = value();
    else if (a == "--tiny")
      o.config.clear();
    else if (a == "--device")
      o.device = value();
    else if (a == "--dtype")
      o.dtype = value();
    else if (a == "--prompt")
      o.prompt = std::stoi(value());
    else if (a == "--image")
      o.image = std::stoi(value());
    else if (a == "--steps")
      o.steps = std::stoi(value());
    else if (a == "--threads")
      o.threads = std::stoi(value());
    else if (a == "--parity")
      o.parity = value();
    else if (a == "--no-graph")
      o.graph = false;
    else if (a == "--batch") {
      o.batches.clear();
      std::stringstream list(value());
      for (std::string b; std::getline(list, b, ',');) o.batches.push_back(std::stoi(b));
    } else
      usage();
  }
  return o;
}

Idefics2Config tiny_config()
{
  Idefics2Config c;
  c.vision = {192, 768, 4, 4, 3, 384, 16, "gelu_pytorch_tanh", 1e-6};
  c.perceiver = {"silu", 32, 2, 4, 48, 2, 1e-5};
  c.text.vocab_size = 8192;
  c.text.hidden_size = 384;
  c.text.intermediate_size = 1024;
  c.text.num_hidden_layers = 6;
  c.text.num_attention_heads = 6;
  c.text.num_key_value_heads = 2;
  c.text.head_dim = 64;
  c.image_token_id = 8191;
  return c;
}

void synchronize(const torch::Device &device)
{
  if (device.is_cuda()) torch::cuda::synchronize();
}

double seconds(Clock::time_point start)
{
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Copy bandwidth (bytes read plus bytes written per second) of a buffer far larger than caches.
double copy_bandwidth(const torch::Device &device)
{
  const std::int64_t bytes = device.is_cuda() ? (2LL << 30) : (256LL << 20);
  const auto a =
      torch::empty({bytes / 2}, torch::TensorOptions().dtype(torch::kBFloat16).device(device))
          .fill_(1);
  auto b = torch::empty_like(a);
  b.copy_(a);
  synchronize(device);
  const int repeats = device.is_cuda() ? 20 : 5;
  const auto start = Clock::now();
  for (int i = 0; i < repeats; ++i) b.copy_(a);
  synchronize(device);
  return 2.0 * static_cast<double>(bytes) * repeats / seconds(start);
}

int run_parity(const Options &o)
{
  const torch::Device device(o.device);
  const std::filesystem::path dir = o.parity;
  const auto config = Idefics2Config::load(dir / "config.json");
  const auto reference = SafetensorsFile::open(dir / "reference.safetensors");
  const auto get = [&](const char *name) {
    return tensor_view(reference, reference.at(name)).clone();
  };
  const auto ids = get("input_ids");
  const auto expected = get("logits").to(torch::kFloat32);
  const auto greedy = get("greedy_tokens");
  std::printf("| device | dtype | attention | max rel. logit error | greedy tokens equal | with "
              "CUDA graphs |\n"
              "|---|---|---|---|---|---|\n");
  int failures = 0;
  for (const auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    auto weights = WeightStore::open(dir);
    Idefics2Model model(config, weights, torch::TensorOptions().dtype(dtype).device(device));
    for (const auto kernel : {AttentionKernel::Fused, AttentionKernel::Plain}) {
      model.attention = kernel;
      const auto logits =
          model.forward(ids, get("pixel_values"), get("pixel_attention_mask")).to(torch::kCPU);
      const double rel = ((logits - expected).abs().max() / expected.abs().max()).item<double>();
      // greedy with the cache, 32 steps
      const auto features = model.encode_images(get("pixel_values"), get("pixel_attention_mask"));
      const std::int64_t t = ids.size(1), steps = greedy.numel();
      auto cache = model.new_cache(1, t + steps);
      const auto valid =
          torch::ones({1, t}, torch::TensorOptions().dtype(torch::kBool).device(device));
      auto hidden =
          model.decode(model.embed(ids, features), torch::arange(t).unsqueeze(0), valid, cache);
      std::int64_t same = 0;
      for (std::int64_t s = 0; s < steps; ++s) {
        const auto next =
            model.logits(hidden.select(1, hidden.size(1) - 1))[0].argmax().item<std::int64_t>();
        same += next == greedy[s].item<std::int64_t>();
        hidden = model.decode(model.embed(torch::tensor({next}).unsqueeze(0), {}),
                              torch::tensor({t + s}).unsqueeze(0), valid.narrow(1, 0, 1), cache);
      }
      // the same with decode steps replayed from a CUDA graph
      std::string graph_same = "-";
      if (GraphDecoder::supported(model)) {
        auto graph_cache = model.new_cache(1, t + steps);
        auto last = model.decode(model.embed(ids, features), torch::arange(t).unsqueeze(0), valid,
                                 graph_cache);
        auto logits = model.logits(last.select(1, t - 1));
        GraphDecoder graph(model, graph_cache);
        std::int64_t equal = 0;
        for (std::int64_t s = 0; s < steps; ++s) {
          const auto next = logits[0].argmax().item<std::int64_t>();
          equal += next == greedy[s].item<std::int64_t>();
          logits = graph.step({next}, {t + s});
        }
        graph_same = std::to_string(equal) + "/" + std::to_string(steps);
        if (dtype == torch::kFloat32 && equal != steps) ++failures;
      }
      const bool f32 = dtype == torch::kFloat32;
      std::printf("| %s | %s | %s | %.2e | %lld/%lld | %s |\n", device.str().c_str(),
                  f32 ? "float32" : "bfloat16",
                  kernel == AttentionKernel::Fused ? "fused" : "plain", rel,
                  static_cast<long long>(same), static_cast<long long>(steps), graph_same.c_str());
      if (f32 && (rel >= 1e-4 || same != steps)) ++failures;
    }
  }
  // the whole runtime: PNG files, our image processor, generate() (CUDA graphs where available)
  RuntimeOptions options;
  options.device = o.device;
  options.dtype = "float32";
  auto vlm = VisionLanguageModel::load(dir, options);
  GenerationRequest request;
  request.prompt_tokens.assign(ids.data_ptr<std::int64_t>(),
                               ids.data_ptr<std::int64_t>() + ids.numel());
  request.images = {read_image(dir / "img0.png"), read_image(dir / "img1.png")};
  request.sampling.max_new_tokens = static_cast<int>(greedy.numel());
  vlm.generate({request});    // a first call captures the decode graph; the second reuses it
  const auto result = vlm.generate({request});
  std::int64_t equal = 0;
  for (std::size_t s = 0;
       s < result[0].tokens.size() && s < static_cast<std::size_t>(greedy.numel()); ++s)
    equal += result[0].tokens[s] == greedy[static_cast<std::int64_t>(s)].item<std::int64_t>();
  std::printf(
      "\ngenerate() on %s from the PNG files (second call): %lld/%lld greedy tokens equal (%s)\n",
      o.device.c_str(), static_cast<long long>(equal), static_cast<long long>(greedy.numel()),
      vlm.describe().c_str());
  if (equal != greedy.numel()) ++failures;
  return failures == 0 ? 0 : 1;
}

}    // namespace

int main(int argc, char **argv)
{
  const Options o = parse(argc, argv);
  try {
    c10::InferenceMode guard;
    if (!o.parity.empty()) return run_parity(o);
    const torch::Device device(o.device);
    const std::string threads =
        device.is_cpu() ? ", " + configure_cpu_threads(o.threads) : std::string();
    const torch::Dtype dtype =
        o.dtype == "auto"
            ? (device.is_cuda() ? torch::kBFloat16 : torch::kFloat32)
            : (o.dtype == "bfloat16" ? torch::kBFloat16
                                     : (o.dtype == "float16" ? torch::kFloat16 : torch::kFloat32));
    const Idefics2Config config = o.config.empty() ? tiny_config() : Idefics2Config::load(o.config);
    const auto options = torch::TensorOptions().dtype(dtype).device(device);

    const double bandwidth = copy_bandwidth(device);
    auto start = Clock::now();
    const auto model = Idefics2Model::random(config, options, 1);
    synchronize(device);
    const double build = seconds(start);
    const double weight_bytes = static_cast<double>(model.decoder_bytes_per_token());
    std::printf("# %s, %.2fB parameters (%s), %s on %s%s; random weights made in %.1f s\n",
                o.config.empty() ? "tiny configuration" : o.config.c_str(),
                model.parameter_count() / 1e9, c10::toString(dtype), device.str().c_str(),
                TORCH_VERSION, threads.c_str(), build);
    std::printf("# decode reads %.2f GB of weights per step; copy bandwidth %.0f GB/s -> floor "
                "%.1f steps/s\n",
                weight_bytes / 1e9, bandwidth / 1e9, bandwidth / weight_bytes);
    std::printf(
        "| batch | prompt tokens | image | prefill tok/s | TTFT ms | decode tok/s | decode steps/s "
        "| %% of floor | peak GiB | decode |\n|---|---|---|---|---|---|---|---|---|---|\n");

    for (const int batch : o.batches) {
      const int n_lat = config.perceiver.resampler_n_latents;
      std::vector<std::int64_t> row{config.text.bos_token_id};
      if (o.image > 0) {
        row.push_back(3);
        for (int k = 0; k < n_lat; ++k) row.push_back(config.image_token_id);
        row.push_back(3);
      }
      for (int k = 0; k < o.prompt; ++k) row.push_back(10 + (k * 31) % 1000);
      const auto t = static_cast<std::int64_t>(row.size());
      const auto ids = torch::tensor(row).unsqueeze(0).expand({batch, t}).contiguous();
      torch::Tensor pixels, mask;
      if (o.image > 0) {
        pixels = torch::rand({batch, 3, o.image, o.image}) * 2 - 1;
        mask = torch::ones({batch, o.image, o.image}, torch::kUInt8);
      }
      const auto valid =
          torch::ones({batch, t}, torch::TensorOptions().dtype(torch::kBool).device(device));
      const auto positions = torch::arange(t).unsqueeze(0).expand({batch, t});
      const auto step_valid = valid.narrow(1, 0, 1);

      const bool graphs = o.graph && GraphDecoder::supported(model);
      double capture = 0;
      const auto run = [&](int steps, double &ttft, double &decode) {
        synchronize(device);
        auto begin = Clock::now();
        const auto features = o.image > 0 ? model.encode_images(pixels, mask) : torch::Tensor();
        auto cache = model.new_cache(batch, t + steps + 1);
        auto hidden = model.decode(model.embed(ids, features), positions, valid, cache);
        auto next = model.logits(hidden.select(1, t - 1)).argmax(-1).to(torch::kCPU);
        ttft = seconds(begin);
        if (graphs) {
          begin = Clock::now();
          GraphDecoder graph(model, cache);
          capture = seconds(begin);
          begin = Clock::now();
          std::vector<std::int64_t> host_ids(static_cast<std::size_t>(batch)),
              host_positions(host_ids.size());
          for (int s = 0; s < steps; ++s) {
            for (std::int64_t r = 0; r < batch; ++r) {
              host_ids[static_cast<std::size_t>(r)] = next[r].item<std::int64_t>();
              host_positions[static_cast<std::size_t>(r)] = t + s;
            }
            next = graph.step(host_ids, host_positions).argmax(-1).to(torch::kCPU);
          }
          decode = seconds(begin);
          return;
        }
        begin = Clock::now();
        for (int s = 0; s < steps; ++s) {
          hidden = model.decode(model.embed(next.unsqueeze(1), {}),
                                torch::full({batch, 1}, t + s, torch::kInt64), step_valid, cache);
          next =
              model.logits(hidden.select(1, 0)).argmax(-1).to(torch::kCPU);    // as generation does
        }
        decode = seconds(begin);
      };
      double ttft = 0, decode = 0;
      run(4, ttft, decode);    // warm-up: kernels chosen, allocator filled
      reset_peak_memory(device);
      run(o.steps, ttft, decode);
      const double steps_per_s = o.steps / decode;
      const std::string how =
          graphs ? "CUDA graph (capture " + std::to_string(static_cast<int>(capture * 1e3)) + " ms)"
                 : "eager";
      std::printf("| %d | %lld | %s | %.0f | %.1f | %.1f | %.1f | %.0f%% | %.2f | %s |\n", batch,
                  static_cast<long long>(t),
                  o.image > 0 ? (std::to_string(o.image) + "px").c_str() : "none",
                  batch * static_cast<double>(t) / ttft, ttft * 1e3, batch * steps_per_s,
                  steps_per_s, 100.0 * steps_per_s / (bandwidth / weight_bytes),
                  peak_memory_gib(device), how.c_str());
      std::fflush(stdout);
    }
  } catch (const std::exception &e) {
    std::fprintf(stderr, "bench_models: %s\n", e.what());
    return 1;
  }
  return 0;
}
