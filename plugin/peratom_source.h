/* -*- c++ -*- ----------------------------------------------------------
   Cephalo LAMMPS plugin: per-atom values named in a style's arguments.
------------------------------------------------------------------------- */

// A per-atom input named as c_ID (a compute's per-atom vector), c_ID[k] (column k of its
// per-atom array) or v_name (an atom-style variable): parsed in the constructor of a style,
// checked in its init(), evaluated when the style needs the values.

#ifndef LMP_CEPHALO_PERATOM_SOURCE_H
#define LMP_CEPHALO_PERATOM_SOURCE_H

#include "pointers.h"

#include <string>

namespace LAMMPS_NS {

class CephaloPerAtomSource : protected Pointers {
 public:
  // `owner` ("fix cephalo/vlm") and `keyword` ("color") name the argument in error messages.
  CephaloPerAtomSource(class LAMMPS *, std::string owner, std::string keyword);
  ~CephaloPerAtomSource() override;

  // c_ID, c_ID[k] or v_name; anything else is an error that says what was expected.
  void parse(const char *value);
  bool is_set() const { return kind != NONE; }
  const std::string &text() const { return written; }

  // init(): the compute or variable exists and gives per-atom values of the right shape. With
  // `array_columns` > 0 the source must be c_ID of a compute whose per-atom array has at least
  // that many columns (`what` describes them for the error message), read with array().
  void resolve(int array_columns = 0, const std::string &what = {});

  // The values of the local atoms now (computes are invoked if they have not been this step;
  // variables are evaluated for the atoms of `igroup`, others get 0).
  const double *values(int igroup);
  // The whole per-atom array of the compute (resolved with array_columns), invoked if needed.
  double **array();

 private:
  class Compute *invoked();

  enum Kind { NONE, COMPUTE, VARIABLE } kind;
  std::string owner, keyword, written, id;
  int column;    // 0: the per-atom vector
  int index;     // of the compute or variable, from resolve()
  int nmax;
  double *buffer;
};

}    // namespace LAMMPS_NS

#endif
