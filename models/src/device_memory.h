// Peak memory of a device, for progress lines and benchmarks.
#pragma once

#include <torch/types.h>

namespace cephalo::models {

// Starts a new peak: on a GPU the allocator's peak of allocated bytes (the CPU's resident peak
// cannot be reset).
void reset_peak_memory(const torch::Device &device);

// GiB at the peak since the start or the last reset: on a GPU what the allocator handed out, on
// the CPU the process's peak resident size.
double peak_memory_gib(const torch::Device &device);

}    // namespace cephalo::models
