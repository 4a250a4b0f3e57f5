// Revisions by rule: a spec the printer refuses, or a part whose build fails, changed in the field
// the error names to a value that prints. No model is involved; every change says what and why.
#pragma once

#include "cephalo/meshing/design_spec.h"

#include <optional>
#include <string>
#include <vector>

namespace cephalo::agents::detail {

struct Revision {
  meshing::DesignSpec spec;    // the revised spec (parses and passes the printer check)
  std::string field;           // the field changed ("tpms.wall_thickness", "form.size")
  std::string change;          // "tpms.wall_thickness 0.05 -> 0.8 mm: ..." for people
};

// After a SpecError (check_printable_spec, or a family that cannot be laid out).
std::optional<Revision> revise_for_spec_error(const meshing::DesignSpec &spec,
                                              const std::string &field, const std::string &message);

// After a BuildError: its message and reasons.
std::optional<Revision> revise_for_build_error(const meshing::DesignSpec &spec,
                                               const std::string &message,
                                               const std::vector<std::string> &reasons);

}    // namespace cephalo::agents::detail
