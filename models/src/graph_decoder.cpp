// CUDA graph capture of the decode step. Without CUDA libtorch the class is compiled too, but
// supported() is false and construction refuses with a clear error, so callers need no #if.
#include "graph_decoder.h"

#if defined(CEPHALO_TORCH_CUDA)
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <stdexcept>

namespace cephalo::models {

#if defined(CEPHALO_TORCH_CUDA)

struct GraphDecoder::Impl {
  const Idefics2Model &model;
  KVCache &cache;
  torch::Tensor inputs;    // [2 * batch + 1] int64 on the device: ids, positions, slot
  torch::Tensor logits;    // output of the captured step
  at::cuda::CUDAGraph graph;

  Impl(const Idefics2Model &m, KVCache &c) : model(m), cache(c) {}

  void run()
  {
    const std::int64_t b = cache.batch();
    const auto hidden = model.decode_step(inputs.narrow(0, 0, b), inputs.narrow(0, b, b),
                                          inputs.narrow(0, 2 * b, 1), cache);
    logits = model.logits(hidden.select(1, 0));
  }
};

bool GraphDecoder::supported(const Idefics2Model &model)
{
  return model.options().device().is_cuda();
}

GraphDecoder::GraphDecoder(const Idefics2Model &model, KVCache &cache) :
    impl_(std::make_unique<Impl>(model, cache))
{
  if (!supported(model)) throw std::invalid_argument("CUDA graphs need the model on a CUDA device");
  const std::int64_t b = cache.batch();
  impl_->inputs = torch::zeros(
      {2 * b + 1}, torch::TensorOptions().dtype(torch::kInt64).device(model.options().device()));
  // Capturing writes garbage keys into the slot it runs on: run it on the last slot, which the
  // real steps overwrite before any query can see it, and keep the slot marked invalid.
  impl_->inputs.narrow(0, 2 * b, 1).fill_(cache.capacity() - 1);
  const auto valid = cache.valid.clone();
  const c10::cuda::CUDAGuard device_guard(model.options().device());
  // the side stream must see the prefill and the inputs written on the current stream
  c10::cuda::getCurrentCUDAStream().synchronize();
  const auto stream = c10::cuda::getStreamFromPool();
  {
    const c10::cuda::CUDAStreamGuard stream_guard(stream);
    impl_->run();    // warm-up: library handles and workspaces are made outside the capture
    stream.synchronize();
    impl_->graph.capture_begin();
    try {
      impl_->run();
    } catch (...) {
      // leave the stream out of capture mode before the error goes on
      try {
        impl_->graph.capture_end();
      } catch (const std::exception &) {
      }
      throw;
    }
    impl_->graph.capture_end();
  }
  stream.synchronize();
  cache.valid.copy_(valid);
}

GraphDecoder::~GraphDecoder() = default;

torch::Tensor GraphDecoder::step(const std::vector<std::int64_t> &ids,
                                 const std::vector<std::int64_t> &positions)
{
  auto &cache = impl_->cache;
  const std::int64_t b = cache.batch();
  if (static_cast<std::int64_t>(ids.size()) != b ||
      static_cast<std::int64_t>(positions.size()) != b)
    throw std::invalid_argument("GraphDecoder::step: one id and one position per row");
  if (cache.length >= cache.capacity()) throw std::length_error("the KV cache is full");
  std::vector<std::int64_t> host(ids);
  host.insert(host.end(), positions.begin(), positions.end());
  host.push_back(cache.length);
  impl_->inputs.copy_(torch::tensor(host, torch::kInt64));
  impl_->graph.replay();
  ++cache.length;
  return impl_->logits;
}

#else

struct GraphDecoder::Impl {};

bool GraphDecoder::supported(const Idefics2Model &)
{
  return false;
}

GraphDecoder::GraphDecoder(const Idefics2Model &, KVCache &)
{
  throw std::invalid_argument("this build's libtorch has no CUDA: CUDA graphs are not available");
}

GraphDecoder::~GraphDecoder() = default;

torch::Tensor GraphDecoder::step(const std::vector<std::int64_t> &,
                                 const std::vector<std::int64_t> &)
{
  throw std::logic_error("unreachable");
}

#endif

}    // namespace cephalo::models
