// The design agent's prompts (model_prompts.h). The schema lines are generated from the parser's
// own schema, so the model is told exactly what parse_design_spec will accept.
#include "model_prompts.h"

#include "cephalo/meshing/design_spec.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <set>
#include <vector>

namespace cephalo::agents::detail {
namespace {

using nlohmann::json;

std::string number_text(const json &value)
{
  if (value.is_number_integer()) return std::to_string(value.get<long long>());
  char text[32];
  std::snprintf(text, sizeof text, "%g", value.get<double>());
  return text;
}

std::string describe_type(const json &field)
{
  std::string type = field.value("type", "");
  if (const auto e = field.find("enum"); e != field.end()) {
    type.clear();
    for (const auto &v : *e) type += (type.empty() ? "" : "|") + v.get<std::string>();
  }
  const json *range = &field;
  if (type == "array" && field.contains("items") && field["items"].is_object()) {
    const auto &items = field["items"];
    type = "array of " + std::to_string(field.value("minItems", 0)) + " " +
           items.value("type", std::string("values"));
    range = &items;
  }
  if (range->contains("minimum") && range->contains("maximum"))
    type += " " + number_text((*range)["minimum"]) + ".." + number_text((*range)["maximum"]);
  if (const auto unit = field.find("unit"); unit != field.end() && unit->is_string())
    type += " " + unit->get<std::string>();
  if (const auto d = field.find("default"); d != field.end()) {
    if (d->is_number())
      type += ", default " + number_text(*d);
    else if (d->is_string() || d->is_boolean())
      type += ", default " + (d->is_string() ? d->get<std::string>() : d->dump());
    else if (d->is_array())
      type += ", default " + d->dump();
  }
  return type;
}

void walk(const json &properties, const std::string &prefix, std::vector<std::string> &lines,
          const std::set<std::string> &skip)
{
  for (const auto &[key, field] : properties.items()) {
    if (skip.count(key)) continue;
    const std::string path = prefix + key;
    if (field.value("type", "") == "object" && field.contains("properties")) {
      lines.push_back(path + ": object; " + field.value("description", ""));
      walk(field["properties"], path + ".", lines, {});
    } else if (field.value("type", "") == "array" && field.contains("items") &&
               field["items"].contains("properties")) {
      // a stack of layers: each item takes the family fields of the top level
      lines.push_back(path + ": array of objects; " + field.value("description", "") +
                      "; each item has family, the family's object as above, and:");
      std::set<std::string> families;
      for (const auto &[k, f] : field["items"]["properties"].items())
        if (k == "family" || (f.value("type", "") == "object")) families.insert(k);
      walk(field["items"]["properties"], path + "[].", lines, families);
    } else {
      lines.push_back(path + ": " + describe_type(field) + "; " + field.value("description", ""));
    }
  }
}

}    // namespace

std::string compact_spec_schema(std::size_t max_chars)
{
  const json schema = json::parse(meshing::design_spec_schema());
  std::vector<std::string> lines;
  // the version and unit are fixed; meshing quality is the mesher's business, listed last
  walk(schema["properties"], "", lines, {"version", "units", "quality"});
  if (schema["properties"].contains("quality"))
    walk(json{{"quality", schema["properties"]["quality"]}}, "", lines, {});
  std::string text;
  for (const auto &line : lines) {
    if (text.size() + line.size() + 1 > max_chars) break;
    text += line + "\n";
  }
  return text;
}

const std::string &example_spec_json()
{
  static const std::string example =
      R"({"name": "bone_scaffold", "family": "tpms", "tpms": {"surface": "gyroid", "kind": "sheet", )"
      R"("cell_size": 5, "relative_density": 0.3}, "form": {"shape": "cylinder", "size": [20, 20, 15]}})";
  return example;
}

std::string spec_system_prompt(std::size_t max_chars)
{
  const std::string head =
      "You design 3D-printable bio-inspired parts for Cephalo. Answer with one JSON object, a "
      "DesignSpec, and nothing else. Lengths are millimetres, angles degrees, densities "
      "fractions (30% is 0.3). Give \"family\" and the object of the same name (or \"layers\"), "
      "and \"form\". Leave out what the request does not say: every field has a default.\n"
      "Fields (path: type range unit, default; meaning):\n";
  const std::string tail = "Example: " + example_spec_json() + "\n";
  const std::size_t room =
      max_chars > head.size() + tail.size() ? max_chars - head.size() - tail.size() : 0;
  return head + compact_spec_schema(room) + tail;
}

std::string spec_prompt(const std::string &design_text)
{
  return "Design request: " + design_text + "\nThe DesignSpec as one JSON object:";
}

std::string spec_retry_prompt(const std::string &base_prompt, const std::string &answer,
                              const std::string &error)
{
  const std::string shown = answer.size() > 4000 ? answer.substr(0, 4000) + "..." : answer;
  return base_prompt + "\n\nYour previous answer was:\n" + shown + "\nIt was refused: " + error +
         "\nAnswer again with one corrected JSON object only, changing what the refusal names.";
}

std::string revision_prompt(const std::string &design_text, const std::string &spec_json,
                            const std::string &critique)
{
  return "Design request: " + design_text + "\nThe current DesignSpec:\n" + spec_json +
         "\nA critique of its rendered preview:\n" + critique +
         "\nAnswer with the revised DesignSpec as one JSON object, changing what the critique "
         "asks for and keeping the rest:";
}

std::string describe_image_prompt(const std::string &hint)
{
  std::string prompt =
      "Describe the structure in this image as a design for a 3D-printable part: which "
      "bio-inspired structure it is (gyroid or other TPMS, honeycomb, Bouligand plies, tubules, "
      "foam, nacre tablets, spider web), its cell or feature size and wall thickness in "
      "millimetres, how dense it is, and the outer form and its size. One short paragraph.";
  if (!hint.empty()) prompt += "\nThe user adds: " + hint;
  return prompt;
}

std::string critique_prompt(const std::string &design_text, const std::string &spec_json)
{
  return "This is a rendered preview of a 3D-printable part designed for the request: \"" +
         design_text + "\".\nIts DesignSpec: " + spec_json +
         "\nDoes the part match the request? Answer with one JSON object: {\"score\": 0 to 10, "
         "\"approve\": true or false, \"problems\": [\"...\"], \"suggestion\": \"what to change\"}";
}

}    // namespace cephalo::agents::detail
