// The embedded design interpreter: everyday design language to a DesignSpec, with no model.
// It says what it understood, what it assumed and what it could not use — never a silent guess.
#pragma once

#include "cephalo/meshing/design_spec.h"

#include <nlohmann/json_fwd.hpp>

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace cephalo::agents {

// One decision of the interpreter, tied to the words that caused it.
struct Reading {
  std::string field;     // DesignSpec path it set ("tpms.cell_size", "form.shape"); may be empty
  std::string value;     // the value as written into the spec ("5 mm", "cylinder")
  std::string source;    // the words of the text it came from ("5 mm cells"); empty for assumptions
  std::string note;      // why, in one sentence, when it is not obvious
};

struct Interpretation {
  meshing::DesignSpec spec;           // validated (parse_design_spec accepts its JSON)
  std::vector<Reading> understood;    // taken from the text
  std::vector<Reading> assumed;       // defaults and inferences the text did not state
  std::vector<std::string> unused;    // phrases with a meaning the spec cannot hold
};

// The text names nothing that can be built (no family or structure), or contradicts itself in a
// way no spec can hold. what() is one sentence a person can act on.
class InterpretError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Maps the text onto a DesignSpec. Throws InterpretError when there is nothing to build.
Interpretation interpret_design(std::string_view text);

// The interpreter's vocabulary as Markdown tables: every word it knows, the DesignSpec field it
// sets and the value it gives (the generated part of agents/DESIGN_LANGUAGE.md).
std::string design_language_markdown();

// The interpretation as JSON: {"spec": {...}, "understood": [...], "assumed": [...],
// "unused": [...]} (for traces, the CLI and the MCP tool).
nlohmann::json interpretation_to_json(const Interpretation &interpretation);

}    // namespace cephalo::agents
