/* -*- c++ -*- ----------------------------------------------------------
   Cephalo LAMMPS plugin: per-atom reference bonds of compute cephalo/crack.
------------------------------------------------------------------------- */

// Internal fix (style CEPHALO_BONDS) created by compute cephalo/crack. It holds the IDs of each
// atom's bond partners at the reference state and whether the atom has been on a crack face, so
// that they travel with the atom between ranks and through restart files, and the compute's
// global reference state.

#ifndef LMP_FIX_CEPHALO_BONDS_H
#define LMP_FIX_CEPHALO_BONDS_H

#include "fix.h"

namespace LAMMPS_NS {

class FixCephaloBonds : public Fix {
 public:
  FixCephaloBonds(class LAMMPS *, int, char **);
  ~FixCephaloBonds() override;
  int setmask() override;
  double memory_usage() override;

  void grow_arrays(int) override;
  void copy_arrays(int, int, int) override;
  void set_arrays(int) override;
  int pack_exchange(int, double *) override;
  int unpack_exchange(int, double *) override;

  void write_restart(FILE *) override;
  void restart(char *) override;
  int pack_restart(int, double *) override;
  void unpack_restart(int, int) override;
  int size_restart(int) override;
  int maxsize_restart() override;

  // Resizes the partner table to `columns` bonds per atom, keeping existing entries.
  // Every rank must call it with the same value.
  void set_capacity(int columns);

  // Global reference state of the owning compute (written to restart files).
  struct Reference {
    int taken = 0;                   // 1 once the reference bonds have been recorded
    int origin_set = 0;              // 1 once the crack origin is known
    double bonds = 0.0;              // number of reference bonds in the group
    double volume_per_atom = 0.0;    // box volume (area in 2d) per atom at the reference
    double origin = 0.0;             // crack origin along the signed propagation axis
    double anchor = 0.0;             // label (lowest atom ID) of the crack's cluster, 0: none
    double tip_anchor = 0.0;         // atom ID of the crack tip at the last measurement
  };
  Reference reference;

  int maxbond;         // columns of partner
  int *nbond;          // reference bonds of each atom
  tagint **partner;    // partner atom IDs; negated once that bond has broken
  int *face;           // 1 once the atom has been on a crack face since the reference
};

}    // namespace LAMMPS_NS

#endif
