// Scalar measures of a per-atom stress tensor.
#pragma once

#include <cmath>

namespace cephalo::plugin {

// Von Mises equivalent stress of a symmetric tensor given in compute stress/atom order
// (xx yy zz xy xz yz). In 2d (zz = xz = yz = 0) this is the plane-stress form
// sqrt(sxx^2 - sxx syy + syy^2 + 3 sxy^2).
inline double von_mises(const double *s)
{
  const double dxy = s[0] - s[1], dyz = s[1] - s[2], dzx = s[2] - s[0];
  return std::sqrt(0.5 * (dxy * dxy + dyz * dyz + dzx * dzx) +
                   3.0 * (s[3] * s[3] + s[4] * s[4] + s[5] * s[5]));
}

}    // namespace cephalo::plugin
