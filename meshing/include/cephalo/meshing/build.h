// Building a DesignSpec into meshes that have passed every check: closed, manifold, free of
// self-intersections, outward, the expected number of pieces, the expected density, printable.
#pragma once

#include "cephalo/meshing/check.h"
#include "cephalo/meshing/design_spec.h"
#include "cephalo/meshing/mesh.h"

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace cephalo::meshing {

struct BuiltBody {
  std::string name;
  TriangleMesh mesh;
  MeshReport report;
  double relative_density = 0.0;     // mesh volume / form volume
  double reference_density = 0.0;    // what the design says it should be
  std::string reference_source;      // how the reference was obtained
  double sampled_density = 0.0;      // jittered-sampling estimate from the design's own functions
  int expected_pieces = 0;           // 0: not known in advance; -1: many by design (tablets)
};

struct BuiltPart {
  std::string name;
  std::vector<BuiltBody> bodies;
  double edge_length = 0.0;          // mesher grid spacing that passed
  int attempts = 0;                  // meshing passes (more than one when refined)
  double build_seconds = 0.0;        // meshing
  double check_seconds = 0.0;        // checks
  std::vector<std::string> notes;    // refinements and other decisions worth knowing
  Vec3 bbox_min{}, bbox_max{};       // of all bodies, after the transform
  std::size_t triangles() const;
};

// The part failed a check or the printer profile: reasons says which and by how much.
class BuildError : public std::runtime_error {
 public:
  BuildError(const std::string &message, std::vector<std::string> reasons);
  const std::vector<std::string> &reasons() const { return reasons_; }

 private:
  std::vector<std::string> reasons_;
};

struct BuildOptions {
  bool check_printability = true;            // refuse parts the printer profile cannot print
  std::size_t max_grid_points = 80000000;    // per mesher pass
  std::size_t density_samples = 300000;      // jittered sample points for the density reference
  double density_tolerance = 0.03;           // relative (at least 0.001 of the form's volume)
  // progress(stage, fraction of that stage)
  std::function<void(const std::string &, double)> progress;
};

// Throws SpecError for specs the printer cannot print, BuildError for parts that fail checks.
BuiltPart build_part(const DesignSpec &spec, const BuildOptions &options = {});

// The build and check results as JSON (for reports and agents).
std::string build_report_json(const DesignSpec &spec, const BuiltPart &part);

}    // namespace cephalo::meshing
