// The design loop: the interpreter path, revisions by rule, the model path against a scripted
// model on a real ZeroMQ socket (retries with feedback, critique and revision), and a dead
// endpoint that hands over to the interpreter within the deadline.
#define BOOST_TEST_MODULE agents_design
#include <boost/test/unit_test.hpp>

#include "cephalo/agents/design_agent.h"
#include "cephalo/meshing/design_spec.h"
#include "design_test_support.h"
#include "scratch_dir.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <iterator>

namespace fs = std::filesystem;
using namespace cephalo;
using agents::DesignAgent;
using agents::DesignOptions;
using cephalo::test::ScratchDir;
using cephalo::test::ScriptedModel;
using nlohmann::json;

namespace {

const std::string kGyroid = "a gyroid scaffold 10 mm cube, 5 mm cells";

std::vector<json> steps_named(const json &trace, const std::string &name)
{
  std::vector<json> out;
  for (const auto &s : trace["steps"])
    if (s["step"] == name) out.push_back(s);
  return out;
}

std::vector<std::string> step_names(const json &trace)
{
  std::vector<std::string> names;
  for (const auto &s : trace["steps"]) names.push_back(s["step"].get<std::string>());
  return names;
}

std::string read_bytes(const fs::path &path)
{
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

DesignOptions options_in(const ScratchDir &dir)
{
  DesignOptions o;
  o.work_dir = dir / "work";
  return o;
}

// A honeycomb panel: nothing like what the interpreter makes of the texts above.
const std::string kHoneycombSpec =
    R"({"name": "panel", "family": "honeycomb", "honeycomb": {"cell_size": 4, "wall_thickness": 0.8},
        "form": {"shape": "box", "size": [12, 12, 4]}})";

}    // namespace

BOOST_AUTO_TEST_CASE(a_text_gives_a_valid_part_and_a_trace)
{
  ScratchDir dir;
  DesignAgent agent(options_in(dir));
  const auto result = agent.design(kGyroid);
  BOOST_TEST_REQUIRE(result.ok());
  BOOST_TEST(result.spec_source == "interpreter");
  BOOST_TEST(result.fallback.empty());
  BOOST_TEST(result.rounds == 1);
  BOOST_TEST(result.spec.pattern().family == meshing::Family::Tpms);
  BOOST_TEST(result.spec.form.size[0] == 10.0);
  BOOST_TEST(result.spec.pattern().tpms.cell_size == 5.0);
  for (const auto &body : result.part->bodies) {
    BOOST_TEST(body.report.watertight());
    BOOST_TEST(body.report.volume > 0.0);
  }
  BOOST_TEST(!result.understood.empty());
  // the preview is a PNG in the work folder
  BOOST_TEST_REQUIRE(fs::exists(result.preview));
  BOOST_TEST(result.preview.parent_path() == dir / "work");
  BOOST_TEST(read_bytes(result.preview).rfind("\x89PNG", 0) == 0);

  const json &trace = *result.trace;
  const std::vector<std::string> expected{"interpret", "check_spec", "build", "preview"};
  BOOST_TEST(step_names(trace) == expected, boost::test_tools::per_element());
  const auto interpret = steps_named(trace, "interpret").at(0);
  BOOST_TEST(interpret["inputs"]["text"] == kGyroid);
  BOOST_TEST(interpret["outputs"]["understood"].size() == result.understood.size());
  BOOST_TEST(interpret["outputs"].contains("assumed"));
  BOOST_TEST(interpret["outputs"].contains("unused"));
  const auto build = steps_named(trace, "build").at(0);
  BOOST_TEST(build["outputs"]["triangles"] == result.part->triangles());
  for (const auto &s : trace["steps"]) BOOST_TEST(s["ms"].get<double>() >= 0.0);
  BOOST_TEST(trace["ok"] == true);
  BOOST_TEST(trace["spec_source"] == "interpreter");
  BOOST_TEST(agent.last_trace() == result.trace);
}

BOOST_AUTO_TEST_CASE(walls_too_thin_to_print_are_thickened_and_the_change_is_traced)
{
  ScratchDir dir;
  DesignAgent agent(options_in(dir));
  const auto result = agent.design(kGyroid + ", walls 0.05 mm");
  BOOST_TEST_REQUIRE(result.ok());
  const double min_wall = result.spec.printer.min_wall();
  BOOST_TEST(result.spec.pattern().tpms.wall_thickness == min_wall);
  BOOST_TEST(result.rounds == 2);
  BOOST_TEST_REQUIRE(result.revisions.size() == 1u);
  BOOST_TEST(result.revisions[0].find("tpms.wall_thickness 0.05 -> 0.8 mm") != std::string::npos);
  // the measured walls of the part print
  BOOST_TEST(result.part->bodies.at(0).report.wall_median >= 0.95 * min_wall);

  const json &trace = *result.trace;
  const auto check = steps_named(trace, "check_spec");
  BOOST_TEST_REQUIRE(check.size() == 2u);
  BOOST_TEST(check[0]["outputs"]["field"] == "tpms.wall_thickness");
  BOOST_TEST(check[0]["error"].get<std::string>().find("0.05") != std::string::npos);
  BOOST_TEST(!check[1].contains("error"));
  const auto revise = steps_named(trace, "revise");
  BOOST_TEST_REQUIRE(revise.size() == 1u);
  BOOST_TEST(revise[0]["round"] == 1);
  BOOST_TEST(revise[0]["outputs"]["field"] == "tpms.wall_thickness");
  BOOST_TEST(revise[0]["outputs"]["spec"]["tpms"]["wall_thickness"] == min_wall);
  BOOST_TEST(trace["revisions"].size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_part_that_cannot_be_revised_in_the_rounds_given_is_reported)
{
  ScratchDir dir;
  auto options = options_in(dir);
  options.rounds = 1;
  DesignAgent agent(options);
  const auto result = agent.design(kGyroid + ", walls 0.05 mm");
  BOOST_TEST(!result.ok());
  BOOST_TEST_REQUIRE(!result.problems.empty());
  BOOST_TEST(result.problems[0].find("tpms.wall_thickness") != std::string::npos);
  BOOST_TEST(result.problems[0].find("0.05") != std::string::npos);
  const auto revise = steps_named(*result.trace, "revise");
  BOOST_TEST_REQUIRE(revise.size() == 1u);
  BOOST_TEST(revise[0]["error"] == "no round is left to build the revision");
  BOOST_TEST((*result.trace)["ok"] == false);
  BOOST_TEST(steps_named(*result.trace, "build").empty());
}

BOOST_AUTO_TEST_CASE(a_spec_larger_than_the_build_volume_is_shrunk_into_it)
{
  ScratchDir dir;
  DesignAgent agent(options_in(dir));
  auto spec = meshing::parse_design_spec(
      R"({"family": "tpms", "tpms": {"cell_size": 10}, "form": {"size": [30, 30, 30]},
          "printer": {"build_volume": [20, 25, 25]}})");
  const auto result = agent.design_spec(spec);
  BOOST_TEST_REQUIRE(result.ok());
  BOOST_TEST(result.spec_source == "request");
  BOOST_TEST(result.spec.form.size[0] <= 20.0);
  BOOST_TEST(result.spec.form.size[0] > 19.0);    // shrunk to fit, not further
  BOOST_TEST(result.part->bbox_max[0] - result.part->bbox_min[0] <= 20.0 + 1e-6);
  BOOST_TEST_REQUIRE(result.revisions.size() == 1u);
  BOOST_TEST(result.revisions[0].find("form.size [30, 30, 30]") == 0u);
}

BOOST_AUTO_TEST_CASE(the_model_is_re_asked_with_each_refusal_and_its_valid_spec_is_used)
{
  ScratchDir dir;
  const std::string prose = "A honeycomb would suit this part well.";
  const std::string bad_range =
      R"({"family": "honeycomb", "honeycomb": {"cell_size": -3}, "form": {"size": [12, 12, 4]}})";
  ScriptedModel model({prose, bad_range, kHoneycombSpec});
  auto options = options_in(dir);
  options.endpoint = model.endpoint();
  options.spec_retries = 2;
  DesignAgent agent(options);
  const auto result = agent.design(kGyroid);
  BOOST_TEST_REQUIRE(result.ok());
  BOOST_TEST(result.spec_source == "model");
  BOOST_TEST(result.fallback.empty());
  // the model's spec, not the interpreter's gyroid
  BOOST_TEST(result.spec.name == "panel");
  BOOST_TEST(result.spec.pattern().family == meshing::Family::Honeycomb);
  BOOST_TEST(result.spec.form.size[2] == 4.0);
  BOOST_TEST(result.understood.empty());

  const auto received = model.received();
  BOOST_TEST_REQUIRE(received.size() == 3u);
  for (const auto &r : received) {
    BOOST_TEST(r.type == bridge::RequestType::Generate);
    BOOST_TEST(r.params.json_fields);
    // the schema, generated from the parser, and the example are in the system message
    BOOST_TEST(r.system.find("tpms.cell_size: number 0.5..100 mm") != std::string::npos);
    BOOST_TEST(r.system.find("honeycomb.wall_thickness") != std::string::npos);
    BOOST_TEST(r.system.find("Example: {") != std::string::npos);
    BOOST_TEST(r.prompt.find(kGyroid) != std::string::npos);
  }
  BOOST_TEST(received[0].prompt.find("refused") == std::string::npos);
  // each re-ask carries the refused answer and the refusal
  BOOST_TEST(received[1].prompt.find(prose) != std::string::npos);
  BOOST_TEST(received[1].prompt.find("holds no JSON object") != std::string::npos);
  BOOST_TEST(received[2].prompt.find("\"cell_size\": -3") != std::string::npos);
  BOOST_TEST(received[2].prompt.find("honeycomb.cell_size") != std::string::npos);

  const auto attempts = steps_named(*result.trace, "model_spec");
  BOOST_TEST_REQUIRE(attempts.size() == 3u);
  BOOST_TEST(attempts[0]["outputs"]["answer"] == prose);
  BOOST_TEST(attempts[1]["outputs"]["answer"] == bad_range);
  BOOST_TEST(attempts[1]["error"].get<std::string>().find("honeycomb.cell_size") == 0u);
  BOOST_TEST(!attempts[2].contains("error"));
  BOOST_TEST(attempts[2]["outputs"]["spec"]["name"] == "panel");
  BOOST_TEST(steps_named(*result.trace, "interpret").empty());
  BOOST_TEST((*result.trace)["spec_source"] == "model");
}

BOOST_AUTO_TEST_CASE(a_model_that_never_gives_a_valid_spec_hands_over_to_the_interpreter)
{
  ScratchDir dir;
  // printable only after the feedback a model would need to take: walls below the minimum
  const std::string thin =
      R"({"family": "tpms", "tpms": {"wall_thickness": 0.1}, "form": {"size": [10, 10, 10]}})";
  ScriptedModel model({thin, thin});
  auto options = options_in(dir);
  options.endpoint = model.endpoint();
  options.spec_retries = 1;
  DesignAgent agent(options);
  const auto result = agent.design(kGyroid);
  BOOST_TEST_REQUIRE(result.ok());
  BOOST_TEST(result.spec_source == "interpreter");
  BOOST_TEST(result.fallback.find("no valid spec in 2 answer(s)") != std::string::npos);
  BOOST_TEST(result.fallback.find("tpms.wall_thickness") != std::string::npos);
  BOOST_TEST(model.received().size() == 2u);
  const auto names = step_names(*result.trace);
  const std::vector<std::string> head{"probe", "model_spec", "model_spec", "fallback", "interpret"};
  BOOST_TEST_REQUIRE(names.size() >= head.size());
  BOOST_TEST(std::vector<std::string>(names.begin(), names.begin() + 5) == head,
             boost::test_tools::per_element());
  BOOST_TEST((*result.trace)["fallback"] == result.fallback);
}

BOOST_AUTO_TEST_CASE(a_dead_endpoint_falls_back_to_the_interpreter_within_the_deadline)
{
  ScratchDir dir;
  auto options = options_in(dir);
  options.endpoint = cephalo::test::dead_endpoint();
  options.model_timeout_ms = 1500;
  DesignAgent agent(options);
  const auto result = agent.design(kGyroid);
  BOOST_TEST_REQUIRE(result.ok());
  BOOST_TEST(result.spec_source == "interpreter");
  BOOST_TEST(result.fallback.find("unreachable") != std::string::npos);
  BOOST_TEST(result.fallback.find(options.endpoint) != std::string::npos);
  // the interpreter started within the deadline of the one probe
  const auto interpret = steps_named(*result.trace, "interpret").at(0);
  BOOST_TEST(interpret["at_ms"].get<double>() >= 1400.0);
  BOOST_TEST(interpret["at_ms"].get<double>() < 1500.0 + 1000.0);
  BOOST_TEST(steps_named(*result.trace, "model_spec").empty());
}

BOOST_AUTO_TEST_CASE(a_critique_that_disapproves_gets_a_revised_spec_and_the_best_part_is_kept)
{
  ScratchDir dir;
  const std::string first =
      R"({"name": "first", "family": "tpms", "tpms": {"cell_size": 5}, "form": {"size": [10, 10, 10]}})";
  const std::string disapprove =
      R"({"score": 3, "approve": false, "problems": ["cells too small"], "suggestion": "cells of 10 mm"})";
  const std::string second =
      R"({"name": "second", "family": "tpms", "tpms": {"cell_size": 10}, "form": {"size": [10, 10, 10]}})";
  const std::string approve = R"({"score": 8, "approve": true, "problems": []})";
  ScriptedModel model({first, disapprove, second, approve});
  auto options = options_in(dir);
  options.endpoint = model.endpoint();
  options.critique = true;
  options.rounds = 3;
  DesignAgent agent(options);
  const auto result = agent.design("a gyroid cube with large cells");
  BOOST_TEST_REQUIRE(result.ok());
  BOOST_TEST(result.spec_source == "model");
  BOOST_TEST(result.rounds == 2);
  BOOST_TEST(result.spec.name == "second");
  BOOST_TEST(result.spec.pattern().tpms.cell_size == 10.0);
  BOOST_TEST(model.answers_left() == 0u);

  const auto received = model.received();
  BOOST_TEST_REQUIRE(received.size() == 4u);
  // the critiques carry the rendered preview of the round's part
  for (const std::size_t i : {1u, 3u}) {
    BOOST_TEST(received[i].type == bridge::RequestType::Describe);
    BOOST_TEST_REQUIRE(received[i].images.size() == 1u);
    BOOST_TEST(received[i].images[0].rfind("\x89PNG", 0) == 0);
  }
  BOOST_TEST(received[1].prompt.find("\"name\":\"first\"") != std::string::npos);
  BOOST_TEST(received[3].prompt.find("\"name\":\"second\"") != std::string::npos);
  // the revision request holds the critique
  BOOST_TEST(received[2].type == bridge::RequestType::Generate);
  BOOST_TEST(received[2].prompt.find("cells of 10 mm") != std::string::npos);

  const auto critiques = steps_named(*result.trace, "critique");
  BOOST_TEST_REQUIRE(critiques.size() == 2u);
  BOOST_TEST(critiques[0]["outputs"]["verdict"]["score"] == 3.0);
  BOOST_TEST(critiques[1]["outputs"]["verdict"]["approve"] == true);
  BOOST_TEST(steps_named(*result.trace, "model_revision").size() == 1u);
  BOOST_TEST(steps_named(*result.trace, "build").size() == 2u);
  BOOST_TEST_REQUIRE(result.revisions.size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_described_image_flows_into_the_spec_request)
{
  ScratchDir dir;
  // a real PNG: the preview of a part built first
  DesignAgent builder(options_in(dir));
  const auto built = builder.design(kGyroid);
  BOOST_TEST_REQUIRE(!built.preview.empty());
  const fs::path png = dir / "photo.png";
  fs::copy_file(built.preview, png);

  const std::string description =
      "A honeycomb panel with hexagonal cells of about 4 mm and thin walls, 12 mm across.";
  ScriptedModel model({description, kHoneycombSpec});
  auto options = options_in(dir);
  options.endpoint = model.endpoint();
  DesignAgent agent(options);
  const auto result = agent.design_from_image(png);
  BOOST_TEST_REQUIRE(result.ok());
  BOOST_TEST(result.description == description);
  BOOST_TEST(result.spec.pattern().family == meshing::Family::Honeycomb);
  const auto received = model.received();
  BOOST_TEST_REQUIRE(received.size() == 2u);
  BOOST_TEST(received[0].type == bridge::RequestType::Describe);
  BOOST_TEST(received[0].images.at(0) == read_bytes(png));
  BOOST_TEST(received[1].prompt.find(description) != std::string::npos);
  const auto describe = steps_named(*result.trace, "describe_image").at(0);
  BOOST_TEST(describe["outputs"]["description"] == description);
  BOOST_TEST((*result.trace)["description"] == description);
}

BOOST_AUTO_TEST_CASE(an_image_without_a_model_and_a_text_with_nothing_to_build_are_refused)
{
  ScratchDir dir;
  DesignAgent agent(options_in(dir));
  BOOST_CHECK_THROW(agent.design_from_image(dir / "none.png"), std::runtime_error);
  BOOST_CHECK_THROW(agent.design("please make something lovely"), agents::InterpretError);
  BOOST_TEST((*agent.last_trace())["ok"] == false);
  BOOST_TEST((*agent.last_trace())["error"].get<std::string>().size() > 0u);
}
