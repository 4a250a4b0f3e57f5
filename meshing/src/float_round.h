// Rounding of mesh coordinates to float32, the precision STL and 3MF store.
#pragma once

namespace cephalo::meshing::detail {

// Checks run on the rounded mesh, so they see exactly what a file will hold. The volatile store
// is there on purpose: GCC 12's vectoriser at -O2/-O3 folds a plain double -> float -> double
// round trip inside a braced initialiser away, leaving full-precision coordinates that then
// merge differently when written.
inline double float_rounded(double x)
{
  volatile float f = static_cast<float>(x);
  return f;
}

}    // namespace cephalo::meshing::detail
