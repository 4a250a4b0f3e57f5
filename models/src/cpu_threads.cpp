// CPU thread pools of libtorch and OpenBLAS.
#include "cpu_threads.h"

#include <torch/torch.h>

#include <dlfcn.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

namespace cephalo::models {

namespace {

// glibc serves blocks above a threshold that adapts upwards (from 128 KiB) with fresh mmaps and
// returns free memory at the top of the heap to the system, so a training step's tensors (up
// to a few MiB each, allocated and freed every step) come back as new pages that the kernel
// zeroes on first touch: 700,000 page faults in 120 steps of cephalo-tiny's first stage, and
// in a virtual machine a fault is dear. Blocks up to 32 MiB (glibc's largest threshold) from
// the heap and a heap that keeps up to 1 GiB free: 190,000 faults, and 1.12x (first stage) to
// 1.23x (every weight) the samples per second on 2 cores. A GLIBC_TUNABLES that sets malloc's
// own is kept.
void keep_freed_memory()
{
#if defined(__GLIBC__)
  static std::once_flag once;
  std::call_once(once, [] {
    const char *tunables = std::getenv("GLIBC_TUNABLES");
    if (tunables && std::strstr(tunables, "glibc.malloc.")) return;
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
  });
#endif
}

}    // namespace

std::string configure_cpu_threads(int threads)
{
  keep_freed_memory();
  const int n =
      threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  using SetThreads = void (*)(int);
  using GetParallel = int (*)();
  // looked up at run time: which BLAS libtorch uses is decided when it is installed
  const auto set_blas =
      reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  const auto parallel = reinterpret_cast<GetParallel>(dlsym(RTLD_DEFAULT, "openblas_get_parallel"));
  // OpenBLAS built for OpenMP (libopenblas0-openmp) runs in libtorch's own OpenMP pool: one pool,
  // which gets the threads. Its own pthreads pool (libopenblas0-pthread) gets them instead.
  if (set_blas && !(parallel && parallel() == 2)) {
    set_blas(n);
    at::set_num_threads(1);
    return std::to_string(n) + " OpenBLAS threads";
  }
  at::set_num_threads(n);
  return std::to_string(n) + (set_blas ? " threads, OpenBLAS in them" : " threads");
}

}    // namespace cephalo::models
