// What the design agent asks the model: the DesignSpec schema in a compact form a prompt can hold,
// and the prompts for a spec, a re-ask after a refusal, an image description and a critique.
#pragma once

#include <cstddef>
#include <string>

namespace cephalo::agents::detail {

// One line per field of the DesignSpec schema ("tpms.cell_size: number 0.5..100 mm, default 5;
// edge of the cubic unit cell"), generated from meshing::design_spec_schema(), at most
// `max_chars` long (the meshing-quality fields go first when it must be cut).
std::string compact_spec_schema(std::size_t max_chars);

// A small spec that parses, shown to the model as an example.
const std::string &example_spec_json();

// The system message for every spec request: the task, the compact schema, the example.
std::string spec_system_prompt(std::size_t max_chars);

std::string spec_prompt(const std::string &design_text);
// A re-ask: the request again, the refused answer and the refusal.
std::string spec_retry_prompt(const std::string &base_prompt, const std::string &answer,
                              const std::string &error);
// A revision after a critique: the request, the current spec and the critique.
std::string revision_prompt(const std::string &design_text, const std::string &spec_json,
                            const std::string &critique);

std::string describe_image_prompt(const std::string &hint);
std::string critique_prompt(const std::string &design_text, const std::string &spec_json);

}    // namespace cephalo::agents::detail
