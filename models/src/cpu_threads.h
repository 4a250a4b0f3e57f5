// CPU threads for libtorch and its BLAS.
#pragma once

#include <string>

namespace cephalo::models {

// Gives the CPU `threads` workers (0: every core). Where libtorch's BLAS is OpenBLAS with its own
// thread pool (Debian's libtorch on libopenblas0-pthread), the matrix products get the threads
// and libtorch's OpenMP pool one: two pools on the same cores otherwise spin against each other
// (measured on 2 cores: time to first token 335 ms against 51 ms, batch-4 decoding 34 against
// 221 steps/s, tests/bench/bench_models --tiny). Elsewhere libtorch's pool gets them, OpenBLAS
// built for OpenMP (libopenblas0-openmp) included: it runs in that pool, and given the threads
// of its own as above it ran on one (training cephalo-tiny on 2 cores: 9.5 samples/s; 23.7-28
// with the pool's 2 threads, against 22-23.6 with libopenblas0-pthread). With glibc, freed
// tensors' memory is also kept for reuse instead of going back to the system (cpu_threads.cpp).
// Returns a description for logs.
std::string configure_cpu_threads(int threads);

}    // namespace cephalo::models
