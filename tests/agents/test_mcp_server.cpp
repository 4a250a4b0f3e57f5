// The MCP tool server: the lifecycle, every class of protocol error, and every tool with its
// failures, in-process through string streams; then cephalo-mcp as a process on pipes: ping and
// cancellation while a part builds, malformed input survived, exit 0 at the end of input.
#define BOOST_TEST_MODULE agents_mcp
#include <boost/test/unit_test.hpp>

#include "cephalo/agents/mcp_server.h"
#include "cephalo/meshing/stl.h"
#include "running_server.h"
#include "scratch_dir.h"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace cephalo::agents;
using cephalo::test::ScratchDir;
using Clock = std::chrono::steady_clock;

namespace {

const json kInitialize = {{"jsonrpc", "2.0"},
                          {"id", 0},
                          {"method", "initialize"},
                          {"params",
                           {{"protocolVersion", "2025-11-25"},
                            {"capabilities", json::object()},
                            {"clientInfo", {{"name", "test"}, {"version", "1"}}}}}};
const json kInitialized = {{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}};

json request(int id, const std::string &method, json params = json::object())
{
  return {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}};
}

json tool_call(int id, const std::string &name, json arguments)
{
  return request(id, "tools/call", {{"name", name}, {"arguments", std::move(arguments)}});
}

// Everything the server wrote, one parsed message per line (every line must parse).
std::vector<json> serve_lines(McpServer &server, const std::string &input)
{
  std::istringstream in(input);
  std::ostringstream out;
  server.serve(in, out);
  std::vector<json> messages;
  std::istringstream lines(out.str());
  for (std::string line; std::getline(lines, line);) {
    BOOST_REQUIRE_MESSAGE(json::accept(line), "not a JSON line on the output: " + line);
    messages.push_back(json::parse(line));
  }
  return messages;
}

// A fresh server given `messages` (text lines, or JSON), after initialize unless `initialize`
// is false. The replies by id; notifications under "notifications".
struct Exchange {
  std::vector<json> all;
  std::map<std::string, json> by_id;
  const json &operator[](const json &id) const
  {
    const auto it = by_id.find(id.dump());
    BOOST_REQUIRE_MESSAGE(it != by_id.end(), "no reply with id " + id.dump());
    return it->second;
  }
};

Exchange exchange(const std::vector<json> &messages, McpServerOptions options = {},
                  bool initialize = true)
{
  ScratchDir scratch;    // the work folder when the test names none
  if (options.work_dir.empty()) options.work_dir = scratch.path();
  McpServer server(options);
  std::string input;
  if (initialize) input += kInitialize.dump() + "\n" + kInitialized.dump() + "\n";
  for (const auto &m : messages) input += (m.is_string() ? m.get<std::string>() : m.dump()) + "\n";
  Exchange e;
  e.all = serve_lines(server, input);
  for (const auto &m : e.all)
    if (m.is_object() && m.contains("id")) e.by_id[m["id"].dump()] = m;
  return e;
}

// The result of tools/call `id`, which must be a result (not a protocol error).
json tool_result(const Exchange &e, int id)
{
  const json &reply = e[id];
  BOOST_REQUIRE_MESSAGE(reply.contains("result"), "tools/call failed: " + reply.dump());
  return reply["result"];
}

std::string text_of(const json &result)
{
  return result["content"][0]["text"].get<std::string>();
}

int error_code(const json &reply)
{
  BOOST_REQUIRE_MESSAGE(reply.contains("error"), "expected an error: " + reply.dump());
  return reply["error"]["code"].get<int>();
}

// A closed cube of edge `a` with a corner at the origin, outward winding; `drop` triangles left
// out make holes.
cephalo::meshing::TriangleMesh cube(double a, int drop = 0)
{
  cephalo::meshing::TriangleMesh m;
  for (int i = 0; i < 8; ++i)
    m.vertices.push_back({a * (i & 1), a * ((i >> 1) & 1), a * ((i >> 2) & 1)});
  m.triangles = {{0, 2, 1}, {1, 2, 3}, {4, 5, 6}, {5, 7, 6}, {0, 1, 4}, {1, 5, 4},
                 {2, 6, 3}, {3, 6, 7}, {0, 4, 2}, {2, 4, 6}, {1, 3, 5}, {3, 7, 5}};
  m.triangles.resize(m.triangles.size() - static_cast<std::size_t>(drop));
  return m;
}

// A small gyroid that builds in about a second.
const json kSmallGyroid = {
    {"name", "small_gyroid"},
    {"family", "tpms"},
    {"tpms", {{"surface", "gyroid"}, {"kind", "sheet"}, {"cell_size", 5}, {"wall_thickness", 1.0}}},
    {"form", {{"shape", "box"}, {"size", {10, 10, 10}}}}};

}    // namespace

// ---- lifecycle

BOOST_AUTO_TEST_CASE(initialize_answers_the_version_asked_when_supported_else_the_newest)
{
  for (const std::string version : {"2025-11-25", "2025-06-18", "2024-11-05"}) {
    json init = kInitialize;
    init["params"]["protocolVersion"] = version;
    const auto e = exchange({init}, {}, false);
    BOOST_TEST(e[0]["result"]["protocolVersion"] == version);
  }
  json init = kInitialize;
  init["params"]["protocolVersion"] = "1999-01-01";
  const auto e = exchange({init}, {}, false);
  const json &result = e[0]["result"];
  BOOST_TEST(result["protocolVersion"] == McpServer::protocol_versions().front());
  BOOST_TEST(McpServer::protocol_versions().front() == "2025-11-25");
  BOOST_TEST(result["serverInfo"]["name"] == "cephalo-mcp");
  BOOST_TEST(!result["serverInfo"]["version"].get<std::string>().empty());
  BOOST_TEST(result["capabilities"]["tools"].is_object());
  BOOST_TEST(result["instructions"].get<std::string>().find("design_part") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(requests_before_initialize_are_refused_but_ping_is_answered)
{
  const auto e = exchange({request(1, "tools/list"), request(2, "ping"),
                           tool_call(3, "interpret_design", {{"text", "a gyroid"}})},
                          {}, false);
  BOOST_TEST(error_code(e[1]) == -32600);
  BOOST_TEST(e[1]["error"]["message"].get<std::string>().find("initialize") != std::string::npos);
  BOOST_TEST(e[2]["result"] == json::object());
  BOOST_TEST(error_code(e[3]) == -32600);
  // and a second initialize is refused
  json again = kInitialize;
  again["id"] = 9;
  const auto twice = exchange({again});
  BOOST_TEST(error_code(twice[9]) == -32600);
}

BOOST_AUTO_TEST_CASE(notifications_get_no_reply)
{
  const auto e =
      exchange({kInitialized, json{{"jsonrpc", "2.0"}, {"method", "notifications/unknown"}},
                json{{"jsonrpc", "2.0"},
                     {"method", "notifications/cancelled"},
                     {"params", {{"requestId", 77}, {"reason", "nothing runs"}}}},
                request(5, "ping")});
  // initialize and ping: two replies, nothing for the four notifications
  BOOST_TEST(e.all.size() == 2u);
  BOOST_TEST(e[5]["result"] == json::object());
}

// ---- protocol errors

BOOST_AUTO_TEST_CASE(malformed_json_is_a_parse_error_with_a_null_id_and_serving_goes_on)
{
  const auto e = exchange({"{\"jsonrpc\": \"2.0\", \"id\": 4, \"method\": ", "not json at all",
                           "\xff\xfe binary", request(6, "ping")});
  int parse_errors = 0;
  for (const auto &m : e.all)
    if (m.contains("error") && m["error"]["code"] == -32700) {
      ++parse_errors;
      BOOST_TEST(m["id"].is_null());
    }
  BOOST_TEST(parse_errors == 3);
  BOOST_TEST(e[6]["result"] == json::object());
}

BOOST_AUTO_TEST_CASE(invalid_requests_are_refused_with_32600)
{
  const auto e = exchange(
      {json{{"jsonrpc", "1.0"}, {"id", 1}, {"method", "ping"}}, json{{"jsonrpc", "2.0"}, {"id", 2}},
       json{{"jsonrpc", "2.0"}, {"id", 3}, {"method", 42}},
       json{{"jsonrpc", "2.0"}, {"id", 4}, {"method", "ping"}, {"params", "text"}}, "42", "[]"});
  BOOST_TEST(error_code(e[1]) == -32600);
  BOOST_TEST(error_code(e[2]) == -32600);
  BOOST_TEST(error_code(e[3]) == -32600);
  BOOST_TEST(error_code(e[4]) == -32600);
  // a bare number, an id that is neither string nor integer, and a batch (not in 2025-11-25):
  // -32600 with a null id
  const auto f =
      exchange({"42", json{{"jsonrpc", "2.0"}, {"id", json::object()}, {"method", "ping"}},
                json::array({request(7, "ping"), request(8, "ping")})});
  int null_id_errors = 0;
  for (const auto &m : f.all)
    if (m.contains("error") && m["id"].is_null()) {
      BOOST_TEST(m["error"]["code"] == -32600);
      ++null_id_errors;
    }
  BOOST_TEST(null_id_errors == 3);
  BOOST_TEST(f.by_id.count("7") == 0u);
}

BOOST_AUTO_TEST_CASE(unknown_methods_are_32601)
{
  const auto e = exchange({request(1, "resources/list"), request(2, "tools/frobnicate")});
  BOOST_TEST(error_code(e[1]) == -32601);
  BOOST_TEST(e[2]["error"]["message"].get<std::string>().find("tools/frobnicate") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_params_are_32602)
{
  json no_version = kInitialize;
  no_version["params"].erase("protocolVersion");
  BOOST_TEST(error_code(exchange({no_version}, {}, false)[0]) == -32602);
  const auto e = exchange(
      {request(1, "tools/call", {{"arguments", json::object()}}),
       tool_call(2, "make_coffee", json::object()),
       request(3, "tools/call", {{"name", "check_mesh"}, {"arguments", "x.stl"}}),
       request(4, "tools/list", {{"cursor", "page2"}}),
       json{{"jsonrpc", "2.0"}, {"id", 5}, {"method", "tools/list"}, {"params", json::array()}}});
  for (int id = 1; id <= 5; ++id) BOOST_TEST(error_code(e[id]) == -32602, "id " << id);
  BOOST_TEST(e[2]["error"]["message"].get<std::string>().find("make_coffee") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(batches_are_answered_as_one_array_under_2025_03_26_only)
{
  json init = kInitialize;
  init["params"]["protocolVersion"] = "2025-03-26";
  const auto e = exchange(
      {init, json::array({request(1, "ping"), kInitialized, request(2, "tools/list")})}, {}, false);
  BOOST_REQUIRE(e.all.size() == 2u);
  const json &batch = e.all[1];
  BOOST_REQUIRE(batch.is_array());
  BOOST_TEST(batch.size() == 2u);
  std::set<int> ids;
  for (const auto &reply : batch) ids.insert(reply["id"].get<int>());
  BOOST_TEST((ids == std::set<int>{1, 2}));
}

// ---- tools/list

BOOST_AUTO_TEST_CASE(tools_list_has_four_tools_with_input_and_output_schemas)
{
  const auto e = exchange({request(1, "tools/list")});
  const json &tools = e[1]["result"]["tools"];
  std::set<std::string> names;
  for (const auto &tool : tools) {
    names.insert(tool["name"].get<std::string>());
    BOOST_TEST(tool["inputSchema"]["type"] == "object");
    BOOST_TEST(tool["outputSchema"]["type"] == "object");
    BOOST_TEST(!tool["description"].get<std::string>().empty());
    BOOST_TEST(tool["outputSchema"].contains("required"));
  }
  BOOST_TEST((names == std::set<std::string>{"design_part", "describe_image", "check_mesh",
                                             "interpret_design"}));
  // both tools that return a mesh report describe it, and every field it requires is defined
  for (const auto &tool : tools) {
    if (tool["name"] != "check_mesh" && tool["name"] != "design_part") continue;
    const json &report = tool["outputSchema"]["definitions"]["mesh_report"];
    BOOST_TEST(report["type"] == "object");
    BOOST_TEST(report["required"].size() >= 5u);
    for (const auto &name : report["required"])
      BOOST_TEST(report["properties"].contains(name.get<std::string>()), name);
  }
}

// ---- tool argument errors: results with isError, so the calling model can correct them

BOOST_AUTO_TEST_CASE(arguments_that_break_the_input_schema_are_tool_errors)
{
  const auto e =
      exchange({tool_call(1, "check_mesh", json::object()),
                tool_call(2, "design_part", {{"text", "a gyroid"}, {"colour", "red"}}),
                tool_call(3, "design_part", {{"text", "a gyroid"}, {"rounds", 0}}),
                tool_call(4, "design_part", {{"text", "a gyroid"}, {"format", "ply"}}),
                tool_call(5, "interpret_design", {{"text", 12}}),
                tool_call(6, "design_part", {{"text", "a gyroid"}, {"spec", kSmallGyroid}}),
                tool_call(7, "design_part", json::object()),
                tool_call(8, "design_part", {{"text", "a gyroid"}, {"preview_size", {384}}}),
                tool_call(9, "design_part", {{"text", "a gyroid"}, {"preview_size", {384, 8}}}),
                tool_call(10, "design_part", {{"text", "a gyroid"}, {"preview_size", "384"}})});
  const std::map<int, std::string> expected{{1, "'path'"},
                                            {2, "unknown argument 'colour'"},
                                            {3, "'rounds' must be at least 1"},
                                            {4, "'format' must be one of"},
                                            {5, "'text' must be a string"},
                                            {6, "exactly one of"},
                                            {7, "none was given"},
                                            {8, "'preview_size' must have at least 2 items"},
                                            {9, "'preview_size'[1] must be at least 16"},
                                            {10, "'preview_size' must be an array"}};
  for (const auto &[id, words] : expected) {
    const json result = tool_result(e, id);
    BOOST_TEST(result["isError"] == true, "id " << id);
    BOOST_TEST(text_of(result).find(words) != std::string::npos,
               "id " << id << ": " << text_of(result));
  }
}

// ---- check_mesh

BOOST_AUTO_TEST_CASE(check_mesh_reports_a_closed_cube_and_a_cube_with_a_hole)
{
  ScratchDir dir;
  cephalo::meshing::write_stl(dir / "cube.stl", cube(2.0));
  cephalo::meshing::write_stl(dir / "open.stl", cube(2.0, 1));
  {
    std::ofstream junk(dir / "junk.stl");
    junk << "this is not an STL file";
  }
  McpServerOptions options;
  options.work_dir = dir.path();
  const auto e =
      exchange({tool_call(1, "check_mesh", {{"path", (dir / "cube.stl").string()}}),
                tool_call(2, "check_mesh", {{"path", "open.stl"}}),    // relative: work dir
                tool_call(3, "check_mesh", {{"path", "missing.stl"}}),
                tool_call(4, "check_mesh", {{"path", "junk.stl"}}),
                tool_call(5, "check_mesh", {{"path", "cube.obj"}}),
                request(6, "tools/list")},
               options);
  const json closed = tool_result(e, 1);
  BOOST_TEST(closed["isError"] == false);
  const json &r = closed["structuredContent"]["report"];
  BOOST_TEST(r["watertight"] == true);
  BOOST_TEST(r["manifold"] == true);
  BOOST_TEST(r["self_intersecting"] == false);
  BOOST_TEST(r["triangles"] == 12);
  BOOST_TEST(r["volume"].get<double>() == 8.0, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(r["bbox"]["max"][2].get<double>() == 2.0, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(r["problems"].empty());
  // the report has exactly the fields its output schema defines
  bool compared = false;
  for (const auto &tool : e[6]["result"]["tools"])
    if (tool["name"] == "check_mesh") {
      std::set<std::string> defined, given;
      for (const auto &item : tool["outputSchema"]["definitions"]["mesh_report"]["properties"].items())
        defined.insert(item.key());
      for (const auto &item : r.items()) given.insert(item.key());
      BOOST_TEST((defined == given));
      compared = true;
    }
  BOOST_TEST(compared);
  BOOST_TEST(text_of(closed).find("watertight") != std::string::npos);
  // the text block carries the structured content too
  BOOST_TEST(text_of(closed).find("\"volume\"") != std::string::npos);

  const json open = tool_result(e, 2);
  BOOST_TEST(open["isError"] == false);    // the check ran; the mesh is what failed
  BOOST_TEST(open["structuredContent"]["report"]["watertight"] == false);
  BOOST_TEST(open["structuredContent"]["report"]["boundary_edges"] == 3);
  BOOST_TEST(!open["structuredContent"]["report"]["problems"].empty());

  BOOST_TEST(tool_result(e, 3)["isError"] == true);
  BOOST_TEST(text_of(tool_result(e, 3)).find("not found") != std::string::npos);
  BOOST_TEST(tool_result(e, 4)["isError"] == true);
  BOOST_TEST(text_of(tool_result(e, 4)).find("junk.stl") != std::string::npos);
  BOOST_TEST(tool_result(e, 5)["isError"] == true);
}

// ---- interpret_design

BOOST_AUTO_TEST_CASE(interpret_design_reads_words_into_a_spec_or_says_there_is_nothing)
{
  const auto e =
      exchange({tool_call(1, "interpret_design", {{"text", "a 20 mm gyroid cube with 5 mm cells"}}),
                tool_call(2, "interpret_design", {{"text", "a pleasant afternoon with tea"}})});
  const json good = tool_result(e, 1);
  BOOST_TEST(good["isError"] == false);
  const json &s = good["structuredContent"];
  BOOST_TEST(s["spec"].dump().find("gyroid") != std::string::npos);
  BOOST_TEST(!s["understood"].empty());
  BOOST_TEST(s["assumed"].is_array());
  BOOST_TEST(s["unused"].is_array());
  const json bad = tool_result(e, 2);
  BOOST_TEST(bad["isError"] == true);
  BOOST_TEST(text_of(bad).find("nothing to build") != std::string::npos);
}

// ---- design_part

BOOST_AUTO_TEST_CASE(design_part_builds_a_spec_into_stl_and_3mf_with_a_preview_image)
{
  ScratchDir dir;
  McpServerOptions options;
  options.work_dir = dir.path();
  const auto e =
      exchange({tool_call(1, "design_part",
                          {{"spec", kSmallGyroid},
                           {"output", "out/gyroid.stl"},
                           {"preview", true},
                           {"preview_size", {96, 64}}}),
                tool_call(2, "design_part", {{"spec", kSmallGyroid}, {"format", "3mf"}})},
               options);
  const json stl = tool_result(e, 1);
  BOOST_REQUIRE_MESSAGE(stl["isError"] == false, text_of(stl));
  const json &s = stl["structuredContent"];
  BOOST_TEST(s["files"].size() == 1u);
  const fs::path written = s["files"][0]["path"].get<std::string>();
  BOOST_TEST(written == dir / "out" / "gyroid.stl");
  BOOST_TEST(fs::file_size(written) > 10000u);
  BOOST_TEST(s["checks"]["printable"] == true);
  BOOST_TEST(s["spec_source"] == "spec");
  BOOST_TEST(s["spec"]["name"] == "small_gyroid");
  BOOST_TEST(fs::exists(s["report"].get<std::string>()));
  BOOST_TEST(fs::exists(s["trace"].get<std::string>()));
  // the file on disk is what the checks describe: read back, still watertight, same count
  const auto mesh = cephalo::meshing::read_stl(written);
  BOOST_TEST(mesh.triangles.size() == s["checks"]["triangles"].get<std::size_t>());
  // the preview came back as a base64 PNG block
  const json &blocks = stl["content"];
  BOOST_REQUIRE(blocks.size() == 2u);
  BOOST_TEST(blocks[1]["type"] == "image");
  BOOST_TEST(blocks[1]["mimeType"] == "image/png");
  BOOST_TEST(blocks[1]["data"].get<std::string>().rfind("iVBORw0KGgo", 0) == 0u);    // \x89PNG
  // of the size asked for: IHDR's big-endian width and height at bytes 16 and 20
  {
    std::ifstream png(s["preview"].get<std::string>(), std::ios::binary);
    unsigned char header[24] = {};
    png.read(reinterpret_cast<char *>(header), sizeof header);
    const auto be32 = [&](int at) {
      return (header[at] << 24) | (header[at + 1] << 16) | (header[at + 2] << 8) | header[at + 3];
    };
    BOOST_TEST(be32(16) == 96);
    BOOST_TEST(be32(20) == 64);
  }

  const json three = tool_result(e, 2);
  BOOST_REQUIRE_MESSAGE(three["isError"] == false, text_of(three));
  const fs::path threemf = three["structuredContent"]["files"][0]["path"].get<std::string>();
  BOOST_TEST(threemf == dir / "small_gyroid.3mf");
  BOOST_TEST(fs::file_size(threemf) > 1000u);
  BOOST_TEST(three["content"].size() == 1u);    // no preview asked
}

BOOST_AUTO_TEST_CASE(design_part_from_words_reports_what_it_understood)
{
  ScratchDir dir;
  McpServerOptions options;
  options.work_dir = dir.path();
  const auto e =
      exchange({tool_call(1, "design_part",
                          {{"text", "a 10 mm gyroid cube with 5 mm cells"}, {"output", "cube"}})},
               options);
  const json r = tool_result(e, 1);
  BOOST_REQUIRE_MESSAGE(r["isError"] == false, text_of(r));
  const json &s = r["structuredContent"];
  BOOST_TEST(s["spec_source"] == "interpreter");
  BOOST_TEST(!s["understood"].empty());
  BOOST_TEST(fs::exists(dir / "cube.stl"));
  BOOST_TEST(s["checks"]["bodies"][0]["report"]["watertight"] == true);
  const json trace = json::parse(std::ifstream(s["trace"].get<std::string>()));
  BOOST_TEST(trace["ok"] == true);
  BOOST_TEST(!trace["steps"].empty());
}

BOOST_AUTO_TEST_CASE(design_part_failures_are_tool_errors)
{
  ScratchDir dir;
  McpServerOptions options;
  options.work_dir = dir.path();
  json thin = kSmallGyroid;
  thin["tpms"]["wall_thickness"] = 0.1;    // below the printer's thinnest wall
  json huge = kSmallGyroid;
  huge["form"]["size"] = {400, 400, 400};    // larger than the build volume
  json unknown = kSmallGyroid;
  unknown["tpms"]["surface"] = "klein_bottle";
  const auto e = exchange(
      {tool_call(1, "design_part", {{"text", "a pleasant afternoon with tea"}}),
       tool_call(2, "design_part", {{"spec", thin}}), tool_call(3, "design_part", {{"spec", huge}}),
       tool_call(4, "design_part", {{"spec", unknown}}),
       tool_call(5, "design_part", {{"image", "photo.png"}}),
       tool_call(6, "design_part", {{"spec", kSmallGyroid}, {"output", "x.ply"}})},
      options);
  for (int id = 1; id <= 6; ++id) BOOST_TEST(tool_result(e, id)["isError"] == true, "id " << id);
  BOOST_TEST(text_of(tool_result(e, 1)).find("nothing to build") != std::string::npos);
  BOOST_TEST(text_of(tool_result(e, 2)).find("wall") != std::string::npos,
             text_of(tool_result(e, 2)));
  BOOST_TEST(text_of(tool_result(e, 3)).find("no printable part") != std::string::npos,
             text_of(tool_result(e, 3)));
  BOOST_TEST(text_of(tool_result(e, 4)).find("tpms.surface") != std::string::npos,
             text_of(tool_result(e, 4)));
  BOOST_TEST(text_of(tool_result(e, 5)).find("--endpoint") != std::string::npos);
  BOOST_TEST(text_of(tool_result(e, 6)).find(".stl or .3mf") != std::string::npos);
  BOOST_TEST(!fs::exists(dir / "small_gyroid.stl"));
}

// ---- describe_image

BOOST_AUTO_TEST_CASE(describe_image_asks_the_model_behind_the_endpoint)
{
  ScratchDir dir;
  {
    std::ofstream png(dir / "crack.png", std::ios::binary);
    png << cephalo::test::kPng;
  }
  cephalo::test::RunningServer serve(cephalo::bridge::make_echo_backend());
  McpServerOptions options;
  options.work_dir = dir.path();
  options.endpoint = serve.server.endpoint();
  const std::string prompt = "Where is the crack tip?";
  const auto e =
      exchange({tool_call(1, "describe_image", {{"image", "crack.png"}, {"prompt", prompt}}),
                tool_call(2, "describe_image", {{"image", "missing.png"}})},
               options);
  const json r = tool_result(e, 1);
  BOOST_REQUIRE_MESSAGE(r["isError"] == false, text_of(r));
  const std::string expected = "echo: " + std::to_string(prompt.size()) +
                               " characters, 1 image(s), " +
                               std::to_string(cephalo::test::kPng.size()) + " bytes";
  BOOST_TEST(r["structuredContent"]["text"] == expected);
  BOOST_TEST(r["structuredContent"]["model"] == "echo");
  BOOST_TEST(r["structuredContent"]["endpoint"] == options.endpoint);
  BOOST_TEST(tool_result(e, 2)["isError"] == true);
  BOOST_TEST(text_of(tool_result(e, 2)).find("not found") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(describe_image_without_a_model_or_with_a_dead_one_is_a_tool_error)
{
  ScratchDir dir;
  {
    std::ofstream png(dir / "crack.png", std::ios::binary);
    png << cephalo::test::kPng;
  }
  McpServerOptions options;
  options.work_dir = dir.path();
  const auto none = exchange({tool_call(1, "describe_image", {{"image", "crack.png"}})}, options);
  BOOST_TEST(tool_result(none, 1)["isError"] == true);
  BOOST_TEST(text_of(tool_result(none, 1)).find("--endpoint") != std::string::npos);

  options.endpoint = "tcp://127.0.0.1:1";    // nothing listens there
  const auto start = Clock::now();
  const auto dead = exchange(
      {tool_call(1, "describe_image", {{"image", "crack.png"}, {"deadline_ms", 400}})}, options);
  BOOST_TEST(tool_result(dead, 1)["isError"] == true);
  BOOST_TEST(text_of(tool_result(dead, 1)).find("did not answer") != std::string::npos,
             text_of(tool_result(dead, 1)));
  BOOST_TEST(std::chrono::duration<double>(Clock::now() - start).count() < 5.0);
}

// ---- cephalo-mcp as a process

namespace {

// cephalo-mcp on pipes: lines in, lines out; stderr to a file.
class McpProcess {
 public:
  McpProcess(const std::vector<std::string> &args, const fs::path &log)
  {
    int in[2], out[2];
    BOOST_REQUIRE(pipe(in) == 0 && pipe(out) == 0);
    pid_ = fork();
    BOOST_REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      dup2(in[0], STDIN_FILENO);
      dup2(out[1], STDOUT_FILENO);
      const int err = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(err, STDERR_FILENO);
      for (int fd : {in[0], in[1], out[0], out[1], err}) close(fd);
      std::vector<char *> argv{const_cast<char *>(CEPHALO_MCP)};
      for (const auto &a : args) argv.push_back(const_cast<char *>(a.c_str()));
      argv.push_back(nullptr);
      execv(CEPHALO_MCP, argv.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_ = in[1];
    from_ = out[0];
  }
  ~McpProcess()
  {
    if (to_ >= 0) close(to_);
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(from_);
  }
  void send(const std::string &line)
  {
    const std::string data = line + "\n";
    BOOST_REQUIRE(write(to_, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  }
  void send(const json &message) { send(message.dump()); }
  // The next line within `timeout_ms`, parsed; null when none came.
  json next(int timeout_ms)
  {
    const auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      const auto newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        const std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        BOOST_REQUIRE_MESSAGE(json::accept(line),
                              "cephalo-mcp wrote a line that is not JSON: " + line);
        return json::parse(line);
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      if (left <= 0) return nullptr;
      pollfd p{from_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char chunk[65536];
      const ssize_t n = read(from_, chunk, sizeof chunk);
      if (n <= 0) return nullptr;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  // Messages until the reply with `id` (included), at most `timeout_ms`.
  std::vector<json> until_reply(int id, int timeout_ms)
  {
    std::vector<json> seen;
    const auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < until) {
      json m = next(static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count()));
      if (m.is_null()) break;
      seen.push_back(m);
      if (m.contains("id") && m["id"] == id) return seen;
    }
    BOOST_FAIL("no reply with id " << id << " within " << timeout_ms << " ms");
    return seen;
  }
  // Closes stdin and returns the exit status (-1: still running after timeout_ms).
  int finish(int timeout_ms)
  {
    close(to_);
    to_ = -1;
    const auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < until) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  std::string buffer_;
};

std::string read_text(const fs::path &path)
{
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A gyroid that keeps cephalo-mcp busy for about 45 s on two cores (a density reference, then
// the mesher reporting its progress slab by slab, then checks that refuse its triangle count).
json slow_spec()
{
  json spec = kSmallGyroid;
  spec["name"] = "slow_gyroid";
  spec["tpms"]["cell_size"] = 2.0;
  spec["tpms"]["wall_thickness"] = 0.8;
  spec["form"]["size"] = {24, 24, 24};
  return spec;
}

}    // namespace

BOOST_AUTO_TEST_CASE(the_program_serves_a_pipe_survives_bad_input_and_exits_0_at_the_end)
{
  ScratchDir dir;
  McpProcess mcp({"--work-dir", dir.path().string()}, dir / "stderr.txt");
  mcp.send(kInitialize);
  const auto init = mcp.until_reply(0, 10000);
  BOOST_TEST(init.back()["result"]["serverInfo"]["name"] == "cephalo-mcp");
  mcp.send(kInitialized);
  mcp.send(std::string("{oops"));
  const json parse_error = mcp.next(5000);
  BOOST_TEST(parse_error["error"]["code"] == -32700);
  mcp.send(tool_call(1, "interpret_design", {{"text", "a honeycomb panel 40 mm wide"}}));
  const auto reply = mcp.until_reply(1, 10000);
  BOOST_TEST(reply.back()["result"]["isError"] == false);
  BOOST_TEST(mcp.finish(10000) == 0);
  // the log went to stderr, never to stdout
  BOOST_TEST(read_text(dir / "stderr.txt").find("initialized by test") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(ping_and_other_calls_are_answered_while_a_part_builds_and_cancel_stops_it)
{
  ScratchDir dir;
  McpProcess mcp({"--work-dir", dir.path().string()}, dir / "stderr.txt");
  mcp.send(kInitialize);
  mcp.until_reply(0, 10000);
  mcp.send(kInitialized);
  json slow = tool_call(1, "design_part", {{"spec", slow_spec()}});
  slow["params"]["_meta"] = {{"progressToken", "build-1"}};
  const auto sent = Clock::now();
  mcp.send(slow);
  // progress notifications come while it builds; wait until the mesher is extracting the surface
  // (past 0%), to cancel in the middle of the build
  json progress;
  const auto meshing = [](const json &m) {
    const std::string text = m["params"].value("message", "");
    return text.rfind("building: meshing", 0) == 0 && text.find(" 0%") == std::string::npos;
  };
  long last_progress = 0;
  while (progress.is_null() || !meshing(progress)) {
    progress = mcp.next(60000);
    BOOST_REQUIRE_MESSAGE(!progress.is_null(), "no progress from the mesher within 60 s");
    BOOST_REQUIRE_MESSAGE(progress.value("method", "") == "notifications/progress",
                          "expected progress, got " + progress.dump());
    BOOST_TEST(progress["params"]["progressToken"] == "build-1");
    BOOST_TEST(progress["params"]["progress"].get<long>() > last_progress);    // increasing
    last_progress = progress["params"]["progress"].get<long>();
  }
  // ping and another tool call are answered at once while the build runs
  const auto asked = Clock::now();
  mcp.send(request(2, "ping"));
  mcp.send(tool_call(3, "interpret_design", {{"text", "a gyroid cube"}}));
  auto meanwhile = mcp.until_reply(2, 5000);
  const auto more = mcp.until_reply(3, 5000);
  meanwhile.insert(meanwhile.end(), more.begin(), more.end());
  BOOST_TEST(std::chrono::duration<double>(Clock::now() - asked).count() < 3.0);
  BOOST_TEST(meanwhile.back()["result"]["isError"] == false);
  for (const auto &m : meanwhile) BOOST_TEST(m.value("id", json()) != 1);    // still building

  // cancelled, the build stops at the mesher's next slab, and the call gets no reply
  mcp.send(json{{"jsonrpc", "2.0"},
                {"method", "notifications/cancelled"},
                {"params", {{"requestId", 1}, {"reason", "test"}}}});
  const auto cancelled = Clock::now();
  while (read_text(dir / "stderr.txt").find("(id 1): cancelled") == std::string::npos &&
         Clock::now() - cancelled < std::chrono::seconds(20))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const double stop = std::chrono::duration<double>(Clock::now() - cancelled).count();
  BOOST_TEST(stop < 10.0, "the build stopped " << stop << " s after the cancel");
  mcp.send(request(4, "ping"));
  for (const auto &m : mcp.until_reply(4, 5000)) BOOST_TEST(m.value("id", json()) != 1);
  BOOST_TEST(!fs::exists(dir / "slow_gyroid.stl"));
  BOOST_TEST(mcp.finish(10000) == 0);
  BOOST_TEST_MESSAGE("cancel to stop: "
                     << stop << " s; whole test "
                     << std::chrono::duration<double>(Clock::now() - sent).count() << " s");
}
