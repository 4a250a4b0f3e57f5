// The design loop: text (or an image described first by the model) -> DesignSpec -> build ->
// check -> preview -> optional model critique -> revise, for a bounded number of rounds, keeping
// the best valid part. Every step goes into a JSON trace a person can read.
//
// Where the spec comes from. With an endpoint (a cephalo-serve), the model writes it: a `generate`
// request (format json) holds a compact form of the DesignSpec schema and an example; the answer's
// first JSON object must pass parse_design_spec and check_printable_spec, and when it does not,
// the error text goes back to the model, at most spec_retries times. A model that never gives a
// valid spec, or a server that does not answer (`unreachable` within model_timeout_ms; an `info`
// request probes it first), hands over to the embedded interpreter, and the result and the trace
// say so (spec_source "interpreter", fallback = why). Without an endpoint the interpreter alone.
//
// The loop, at most `rounds` rounds: check the spec against the printer, build and check the
// meshes, render the preview, and (critique on, with a model) send the preview with a `describe`
// request for a verdict {"score", "approve", "problems", "suggestion"}. A spec the printer refuses
// or a build that fails is revised by rule, without a model: the field the error names is moved
// to what prints (a wall to the printer's minimum, a density to the least that prints, the form
// shrunk into the build volume, a grid too fine for the mesher coarsened) and the change is
// recorded. A part the critique does not approve is revised by the model (the same validation
// and re-asks). The best valid part is kept: the first one without critique, the highest score
// with it. A failure with no revision known ends the loop with the reasons in `problems`.
//
// The trace: {"input", "options", "steps": [{"step", "round", "inputs", "outputs", "error", "ms"}],
// "spec_source", "fallback", "ok"}; steps are interpret (understood/assumed/unused), probe,
// model_spec (each attempt, with the model's raw answer), fallback, describe_image, check_spec,
// build, preview, critique, revise (by rule) and model_revision.
//
// One call at a time per agent. should_stop is polled between steps (a build under way finishes
// unless its BuildOptions::progress callback throws). Previews are written to work_dir; a
// temporary one is removed with the agent, so copy DesignResult::preview before letting it go.
#pragma once

#include "cephalo/agents/interpreter.h"
#include "cephalo/meshing/build.h"
#include "cephalo/meshing/preview.h"

#include <nlohmann/json_fwd.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cephalo::agents {

struct DesignOptions {
  // cephalo-serve endpoint ("tcp://127.0.0.1:5555"); empty: no model, the interpreter alone
  std::string endpoint;
  std::string curve_server_key, curve_public_key, curve_secret_key;    // Z85, all or none
  int model_timeout_ms = 120000;                                       // per model request
  int spec_retries = 2;              // model answers re-asked after a validation error
  int rounds = 3;                    // build rounds at most
  bool critique = false;             // ask the model to critique each preview
  // false: the model only describes images (and critiques); the interpreter reads every text into
  // the spec. For models trained to describe structures in the design language (cephalo-tiny)
  // rather than to write DesignSpec JSON.
  bool model_spec = true;
  std::filesystem::path work_dir;    // previews and intermediate files; empty: a temporary folder
  meshing::BuildOptions build;
  meshing::PreviewOptions preview;    // the previews rendered (and critiqued by the model)
  // progress(step, detail): one line per step for a CLI or a log
  std::function<void(const std::string &, const std::string &)> progress;
  // polled between steps: true ends the loop early (no part unless one was kept already)
  std::function<bool()> should_stop;
};

struct DesignResult {
  meshing::DesignSpec spec;                    // of the part kept
  std::optional<meshing::BuiltPart> part;      // empty when no round gave a valid part
  std::string spec_source;                     // "interpreter", "model" or "request" (design_spec)
  std::string fallback;                        // why the model's spec was not used; empty if it was
  std::string description;                     // the model's description, for image input
  std::vector<Reading> understood, assumed;    // the interpreter's readings (interpreter path)
  std::vector<std::string> unused;
  std::vector<std::string> revisions;             // each change made to the spec, in order
  std::vector<std::string> problems;              // why no part was kept (empty when ok)
  int rounds = 0;                                 // rounds run
  std::filesystem::path preview;                  // of the part kept, when rendered
  std::shared_ptr<const nlohmann::json> trace;    // every step, readable
  bool ok() const { return part.has_value(); }
};

class DesignAgent {
 public:
  explicit DesignAgent(DesignOptions options = {});
  ~DesignAgent();
  DesignAgent(DesignAgent &&) noexcept;
  DesignAgent &operator=(DesignAgent &&) noexcept;

  // Text to part. Throws InterpretError when the text has nothing to build.
  DesignResult design(const std::string &text);
  // Image to text (through the model) to part. Throws std::runtime_error without an endpoint or
  // when the model cannot describe the image.
  DesignResult design_from_image(const std::filesystem::path &image, const std::string &hint = {});
  // A spec as given (spec_source "request"): the same loop of checks and revisions.
  DesignResult design_spec(const meshing::DesignSpec &spec);

  // The trace of the last call, also when it threw.
  std::shared_ptr<const nlohmann::json> last_trace() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}    // namespace cephalo::agents
