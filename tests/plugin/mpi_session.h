// MPI for the plugin's unit tests, which run on 1 and 3 ranks: one session per test program
// (BOOST_TEST_GLOBAL_FIXTURE(MpiSession)) and this rank's place in MPI_COMM_WORLD.
#pragma once

#include <mpi.h>

namespace cephalo::test {

struct MpiSession {
  MpiSession() { MPI_Init(nullptr, nullptr); }
  ~MpiSession() { MPI_Finalize(); }
};

inline int rank()
{
  int me = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  return me;
}

inline int ranks()
{
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

}    // namespace cephalo::test
