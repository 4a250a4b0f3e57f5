// DesignSpec: defaults, round trip, the written schema, and errors that name the field.
#define BOOST_TEST_MODULE design_spec
#include <boost/test/unit_test.hpp>

#include "cephalo/meshing/design_spec.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

using namespace cephalo::meshing;
using nlohmann::json;

namespace {

// The field a spec is refused for, and the message (empty when it is accepted).
std::pair<std::string, std::string> refusal(const std::string &text, bool printable = false)
{
  try {
    const DesignSpec spec = parse_design_spec(text);
    if (printable) check_printable_spec(spec);
  } catch (const SpecError &e) {
    return {e.field(), e.what()};
  }
  return {};
}

}    // namespace

BOOST_AUTO_TEST_CASE(a_family_alone_gets_every_default)
{
  const DesignSpec spec = parse_design_spec(R"({"family": "honeycomb"})");
  BOOST_TEST(spec.version == kDesignSpecVersion);
  BOOST_REQUIRE(spec.layers.size() == 1u);
  BOOST_TEST((spec.pattern().family == Family::Honeycomb));
  BOOST_TEST(spec.pattern().honeycomb.cell_size == 4.0);
  BOOST_TEST((spec.form.shape == Shape::Box));
  BOOST_TEST(spec.form.size[0] == 40.0);    // the family's natural size
  BOOST_TEST(spec.printer.nozzle == 0.4);
  BOOST_TEST(spec.quality.refine);
}

BOOST_AUTO_TEST_CASE(the_full_spec_reads_back_equal)
{
  const DesignSpec spec = parse_design_spec(R"({
    "name": "stack", "form": {"shape": "cylinder", "size": [30, 30, 12]},
    "layers": [
      {"family": "cellular", "thickness": 3, "cellular": {"cells": 12, "kind": "struts", "thickness": 1.0}},
      {"family": "bouligand", "thickness": 6, "bouligand": {"layers": 7, "rotation": 30, "fibre_shape": "cylindrical"}},
      {"family": "tpms", "thickness": 3, "tpms": {"surface": "diamond",
                                                  "grading": {"axis": "x", "from": 0.45, "to": 0.6}}}],
    "transform": {"rotate": [0, 0, 30], "translate": [5, 0, 0]},
    "array": {"count": [2, 1, 1], "spacing": [40, 0, 0]},
    "quality": {"edge_length": 0.3, "refine": false}})");
  const std::string text = design_spec_to_json(spec);
  const DesignSpec again = parse_design_spec(text);
  BOOST_TEST(design_spec_to_json(again) == text);
  BOOST_TEST(again.layers.size() == 3u);
  BOOST_TEST((again.layers[2].pattern.tpms.grading->axis == Axis::X));
  BOOST_TEST(*again.quality.edge_length == 0.3);
}

BOOST_AUTO_TEST_CASE(the_written_schema_is_the_generated_one)
{
  std::ifstream in(CEPHALO_SOURCE_DIR "/meshing/schema/design_spec.schema.json");
  BOOST_REQUIRE(in);
  std::stringstream file;
  file << in.rdbuf();
  BOOST_TEST(
      file.str() == design_spec_schema(),
      "meshing/schema/design_spec.schema.json is stale: rebuild the design-spec-schema target");

  // every field has a default and numbers a range
  const json schema = json::parse(design_spec_schema());
  const json &cell = schema["properties"]["tpms"]["properties"]["cell_size"];
  BOOST_TEST(cell["default"] == 5.0);
  BOOST_TEST(cell.contains("minimum"));
  BOOST_TEST(cell.contains("maximum"));
  BOOST_TEST(schema["properties"]["family"]["enum"].size() == 7u);
}

BOOST_AUTO_TEST_CASE(errors_name_the_field)
{
  const std::pair<std::string, std::string> expected[] = {
      {"form.size[0]", "form.size[0]: -1 is outside the range 0.1 to 2000"},
      {"family", "family: must be one of "
                 "[\"tpms\",\"honeycomb\",\"bouligand\",\"tubular\",\"cellular\",\"nacre\","
                 "\"spider_web\"], got \"gyroid\""},
      {"tpms.cel_size", "tpms.cel_size: unknown field; did you mean 'cell_size'?"},
      {"layers[1].honeycomb.cell_size",
       "layers[1].honeycomb.cell_size: -2 is outside the range 0.5 to 100"},
      {"tpms.cell_size", "tpms.cell_size: must be a number, got \"big\""},
      {"version", "version: version 2 is not supported; this build reads version 1"},
  };
  const std::string specs[] = {
      R"({"family": "tpms", "form": {"size": [-1, 10, 10]}})",
      R"({"family": "gyroid"})",
      R"({"family": "tpms", "tpms": {"cel_size": 4}})",
      R"({"layers": [{"family": "tpms", "thickness": 5}, {"family": "honeycomb", "thickness": 5,
                     "honeycomb": {"cell_size": -2}}], "form": {"size": [20, 20, 10]}})",
      R"({"family": "tpms", "tpms": {"cell_size": "big"}})",
      R"({"version": 2, "family": "tpms"})",
  };
  for (std::size_t i = 0; i < std::size(specs); ++i)
    BOOST_TEST((refusal(specs[i]) == expected[i]), specs[i]);

  const auto [field, message] = refusal(R"({"family": "tpms",)");
  BOOST_TEST(field == "(spec)");
  BOOST_TEST(message.find("not valid JSON: line 1, column 19") != std::string::npos, message);
}

BOOST_AUTO_TEST_CASE(walls_the_printer_cannot_make_are_refused_with_the_numbers)
{
  // thinner than the nozzle
  BOOST_TEST(
      refusal(R"({"family": "honeycomb", "honeycomb": {"wall_thickness": 0.3}})", true).second ==
      "honeycomb.wall_thickness: 0.3 mm is below the printable minimum 0.8 mm (printer.nozzle 0.4 "
      "x "
      "printer.min_wall_factor 2)");
  // a finer nozzle prints it
  BOOST_TEST(refusal(R"({"family": "honeycomb", "honeycomb": {"wall_thickness": 0.3},
                         "printer": {"nozzle": 0.15}})",
                     true)
                 .first.empty());
  BOOST_TEST(
      refusal(R"({"family": "spider_web", "spider_web": {"thread_thickness": 0.5}})", true).first ==
      "spider_web.thread_thickness");
  BOOST_TEST(refusal(R"({"family": "bouligand", "bouligand": {"fibre_width": 0.5}})", true).first ==
             "bouligand.fibre_width");
  // a TPMS density sets its walls through the cell size
  const auto [field, message] =
      refusal(R"({"family": "tpms", "tpms": {"surface": "diamond", "cell_size": 6,
                                                                       "grading": {"from": 0.2, "to": 0.5}}})",
              true);
  BOOST_TEST(field == "tpms.grading.from");
  BOOST_TEST(message.find("0.2 gives walls of 0.3") != std::string::npos, message);
  BOOST_TEST(message.find("a density of at least 0.48") != std::string::npos, message);
  // and the build volume
  BOOST_TEST(
      refusal(R"({"family": "tpms", "form": {"size": [300, 20, 20]}})", true).second ==
      "printer.build_volume: the part is 300 mm along x, more than the build volume's 250 mm");
}

BOOST_AUTO_TEST_CASE(inconsistent_geometry_is_refused)
{
  // layers must fill the form's height
  BOOST_TEST(
      !refusal(
           R"({"layers": [{"family": "tpms", "thickness": 5}, {"family": "honeycomb", "thickness": 4}],
                          "form": {"size": [20, 20, 10]}})")
           .first.empty());
  // fibres wider than their spacing would fuse into a plate
  BOOST_TEST(
      !refusal(R"({"family": "bouligand", "bouligand": {"fibre_width": 2, "fibre_spacing": 1.5}})")
           .first.empty());
}
