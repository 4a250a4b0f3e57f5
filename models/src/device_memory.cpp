#include "device_memory.h"

#if defined(CEPHALO_TORCH_CUDA)
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include <sys/resource.h>

namespace cephalo::models {

void reset_peak_memory(const torch::Device &device)
{
#if defined(CEPHALO_TORCH_CUDA)
  if (device.is_cuda())
    c10::cuda::CUDACachingAllocator::resetPeakStats(device.index() < 0 ? 0 : device.index());
#else
  (void)device;
#endif
}

double peak_memory_gib(const torch::Device &device)
{
#if defined(CEPHALO_TORCH_CUDA)
  if (device.is_cuda())
    return static_cast<double>(c10::cuda::CUDACachingAllocator::getDeviceStats(
                                   device.index() < 0 ? 0 : device.index())
                                   .allocated_bytes[0]
                                   .peak) /
           (1ULL << 30);
#endif
  (void)device;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0 / (1ULL << 30);
}

}    // namespace cephalo::models
