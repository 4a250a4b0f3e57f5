/* -*- c++ -*- ----------------------------------------------------------
   Cephalo LAMMPS plugin: compute cephalo/crack.
------------------------------------------------------------------------- */

// Measures a crack from the atoms: tip, length, speed and damage from bonds broken since a
// reference state, plus statistics of a per-atom von Mises stress and energy field. It is the
// ground truth that the VLM's answers are compared with. Doc: plugin/doc/compute_cephalo_crack.rst

#ifndef LMP_COMPUTE_CEPHALO_CRACK_H
#define LMP_COMPUTE_CEPHALO_CRACK_H

#include "compute.h"

#include "core/point_cells.h"

#include <string>
#include <vector>

namespace LAMMPS_NS {

class ComputeCephaloCrack : public Compute {
 public:
  // Indices (0-based) of the global vector; the doc page lists them 1-based.
  enum Entry {
    CRACK_LENGTH,
    TIP_X,
    TIP_Y,
    TIP_Z,
    CRACK_SPEED,
    DAMAGE,
    BROKEN_BONDS,
    REFERENCE_BONDS,
    VM_MEAN,
    VM_MEDIAN,
    VM_STDEV,
    VM_MAX,
    VM_P95,
    PE_MEAN,
    PE_MEDIAN,
    PE_STDEV,
    PE_MAX,
    PE_P95,
    CLUSTERS,
    LONGEST_OPENING,
    NUM_ENTRIES
  };
  // Names of the entries ("crack_length", "tip_x", ...), as records and the doc page call them.
  static const char *const entry_names[NUM_ENTRIES];

  ComputeCephaloCrack(class LAMMPS *, int, char **);
  ~ComputeCephaloCrack() override;
  void init() override;
  void init_list(int, class NeighList *) override;
  void setup() override;
  void compute_vector() override;
  void compute_peratom() override;
  int pack_forward_comm(int, int *, double *, int, int *) override;
  void unpack_forward_comm(int, int, double *) override;
  double memory_usage() override;

 private:
  // A per-atom input: a compute (vector, one column of its array, or the whole array for the
  // stress), an atom-style variable, or (for volume) a constant or the automatic volume.
  struct Source {
    enum Kind { NONE, CONSTANT, AUTO, PERATOM } kind = NONE;
    double constant = 0.0;
    class CephaloPerAtomSource *values = nullptr;    // PERATOM
  };

  double bond_cutoff;
  double break_distance;
  double link_distance;    // crack-face atoms this close belong to one crack or void
  int axis;                // 0, 1, 2 for x, y, z
  double direction;        // +1 or -1: the crack runs towards increasing or decreasing coordinate
  bool origin_first;
  double origin_value;
  int surface_loss;    // lost neighbours that make an atom part of a crack face
  bool heal;           // an atom that regains its lost neighbours leaves the crack faces
  std::string region_id;
  class Region *region;
  Source stress, energy, volume;

  char *id_fix;
  class FixCephaloBonds *bonds;
  class NeighList *list;

  int nmax;
  double **peratom;              // per atom: damage, von Mises, lost neighbours, cluster
  double *cluster_label;         // lowest atom ID of the crack-face cluster (0: none), with ghosts
  std::vector<double> values;    // group values handed to the statistics
  struct Neighbour {
    tagint tag;
    double rsq;
    bool bonded;    // an intact reference bond
  };
  std::vector<Neighbour> near;     // scratch: an atom's current neighbours
  std::vector<int> crack_atoms;    // local atoms on crack faces at the last measurement
  std::vector<int> link_start;     // crack_atoms[c]'s neighbours are links[link_start[c]..]
  std::vector<int> links;
  std::vector<int> slot, parent;    // scratch of the cluster labelling
  cephalo::plugin::PointCells cells;

  bool have_previous;
  double previous_time, previous_length, speed;

  void parse_source(Source &, const char *keyword, const char *value);
  void check_cutoffs(double ghost_cutoff);
  class Region *find_region() const;
  void grow_peratom();
  void measure();
  void take_reference();
  void find_crack_atoms();
  void label_clusters();
  void forward_labels();
  void trace_crack();
  void measure_field_statistics();
  double current_time() const;
};

}    // namespace LAMMPS_NS

#endif
