// A minimal parallel loop for meshing/: chunks of an index range handed to all cores.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace cephalo::meshing::detail {

inline unsigned worker_count()
{
  return std::max(1u, std::min(16u, std::thread::hardware_concurrency()));
}

// Calls body(begin, end, worker) on chunks of [0, count) from worker_count() threads; chunks are
// taken in order, so each worker sees increasing ranges. The first exception is rethrown.
template <class Body> void parallel_chunks(std::size_t count, std::size_t chunk, Body &&body)
{
  const unsigned threads = static_cast<unsigned>(
      std::min<std::size_t>(worker_count(), (count + chunk - 1) / std::max<std::size_t>(chunk, 1)));
  if (threads <= 1) {
    if (count > 0) body(std::size_t{0}, count, 0u);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto run = [&](unsigned worker) {
    try {
      for (;;) {
        const std::size_t begin = next.fetch_add(chunk);
        if (begin >= count) break;
        body(begin, std::min(count, begin + chunk), worker);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      next = count;
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(run, t);
  run(0);
  for (auto &t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}    // namespace cephalo::meshing::detail
