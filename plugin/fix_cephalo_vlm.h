/* -*- c++ -*- ----------------------------------------------------------
   Cephalo LAMMPS plugin: fix cephalo/vlm.
------------------------------------------------------------------------- */

// Every N steps renders the group coloured by a per-atom value (MPI composite to rank 0) and,
// from a rank-0 worker thread, asks a Cephalo model server about the picture; one JSONL record
// per snapshot, and a global vector of counters and the latest parsed answer for thermo,
// variables and fix halt. Doc: plugin/doc/fix_cephalo_vlm.rst

#ifndef LMP_FIX_CEPHALO_VLM_H
#define LMP_FIX_CEPHALO_VLM_H

#include "fix.h"

#include <memory>
#include <string>
#include <vector>

namespace cephalo::plugin {
class VlmSession;
struct VlmSettings;
struct VlmCounters;
struct RenderSettings;
struct Box;
}    // namespace cephalo::plugin

namespace LAMMPS_NS {

class FixCephaloVlm : public Fix {
 public:
  // Indices (0-based) of the global vector before the parsed values; the doc page lists them
  // 1-based.
  enum Entry {
    SNAPSHOTS,
    SENT,
    ANSWERED,
    ERRORS,
    SKIPPED,
    TIMEOUTS,
    IN_FLIGHT,
    LAST_STEP,
    LAST_LATENCY,
    NUM_COUNTERS
  };

  FixCephaloVlm(class LAMMPS *, int, char **);
  ~FixCephaloVlm() override;
  int setmask() override;
  void init() override;
  void setup(int) override;
  void end_of_step() override;
  void post_run() override;
  double compute_vector(int) override;
  double memory_usage() override;

 private:
  int every;                 // snapshot period in steps
  bool sync;                 // wait for each answer
  bool show_label;           // the step and time in the image
  std::string color_label;   // what the colours show, for the label
  double drain_seconds;      // end of run: how long answers still out are waited for
  std::string color_kind;    // "type", "source", "crack" (a column of the crack compute)
  int crack_column;          // with color_kind "crack": 1-based column of its per-atom array
  std::string crack_id;      // compute cephalo/crack for the measured values; empty: none
  int icrack;
  class CephaloPerAtomSource *source;
  std::unique_ptr<cephalo::plugin::RenderSettings> render;
  std::unique_ptr<cephalo::plugin::VlmSettings> settings;
  std::unique_ptr<cephalo::plugin::VlmCounters> counters;    // read every step, storage kept
  std::unique_ptr<cephalo::plugin::VlmSession> session;      // rank 0 only
  bigint next_snapshot;
  bigint last_snapshot;    // a second run from the same step does not repeat it
  std::vector<double> values;    // the global vector, the same on every rank

  void snapshot();
  void share_counters();
  bigint next_multiple(bigint step) const;
  double current_time() const;
  cephalo::plugin::Box current_box() const;
};

}    // namespace LAMMPS_NS

#endif
