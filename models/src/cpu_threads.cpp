// CPU thread pools of libtorch and OpenBLAS.
#include "cpu_threads.h"

#include <torch/torch.h>

#include <dlfcn.h>

#include <algorithm>
#include <thread>

namespace cephalo::models {

std::string configure_cpu_threads(int threads)
{
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
