// The MCP tool server: JSON-RPC 2.0 framing and the MCP lifecycle on a pair of streams, and the
// four design tools behind tools/call. Protocol faults are JSON-RPC errors; tool failures are
// results with isError, in words the calling model can act on.
#include "cephalo/agents/mcp_server.h"

#include "cephalo/agents/design_agent.h"
#include "cephalo/agents/interpreter.h"
#include "cephalo/bridge/base64.h"
#include "cephalo/bridge/client.h"
#include "cephalo/meshing/build.h"
#include "cephalo/meshing/check.h"
#include "cephalo/meshing/export.h"
#include "cephalo/meshing/preview.h"
#include "cephalo/meshing/stl.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <fstream>
#include <istream>
#include <list>
#include <map>
#include <mutex>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#ifndef CEPHALO_VERSION
#define CEPHALO_VERSION "0.0.0"
#endif

namespace cephalo::agents {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// JSON-RPC 2.0 error codes
constexpr int kParseError = -32700;
constexpr int kInvalidRequest = -32600;
constexpr int kMethodNotFound = -32601;
constexpr int kInvalidParams = -32602;

// A failure of the tool itself (nothing to build, a missing file, no model): answered as a result
// with isError, so the calling model reads it and can correct its call.
class ToolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown from the progress callbacks of a cancelled call to unwind the build. Deliberately not a
// std::exception, so that handlers of ordinary errors inside the design loop let it through.
struct CallCancelled {};

// What a running tool may ask of the server.
struct ToolContext {
  std::function<bool()> cancelled;
  // a step worth telling the client (notifications/progress when it asked for them); `always`:
  // not subject to the rate limit of frequent updates
  std::function<void(const std::string &, bool always)> progress;
  void check() const
  {
    if (cancelled()) throw CallCancelled{};
  }
};

struct ToolOutput {
  json structured;            // structuredContent, conforming to the outputSchema
  std::string summary;        // the first lines of the text content
  std::vector<json> extra;    // further content blocks (the preview image)
};

// ---------------------------------------------------------------------------------------------
// Tool definitions. Schemas are draft-07 (named by $schema, as MCP allows) and use only keywords
// whose meaning is the same in 2020-12, so clients of either dialect read them alike.

const char *kDesignPartTool = R"json({
  "name": "design_part",
  "title": "Design a printable part",
  "description": "Builds a watertight, printable bio-inspired part (gyroid and other TPMS lattices, honeycomb, Bouligand plies, tubules, cellular foams, nacre, spider webs) from a design in words, a DesignSpec JSON object, or an image described by the model first; checks it and writes STL or 3MF with a PNG preview. Give exactly one of text, spec, image. Sizes in millimetres.",
  "inputSchema": {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
      "text": {"type": "string", "minLength": 1, "description": "The design in everyday words, e.g. 'a 20 mm gyroid cube with 5 mm cells and 30% density'."},
      "spec": {"type": "object", "description": "A DesignSpec (version 1) instead of text: the JSON that interpret_design returns as spec, edited as needed."},
      "image": {"type": "string", "minLength": 1, "description": "Path of a PNG or JPEG to be described by the model and designed from (needs the server's model endpoint)."},
      "hint": {"type": "string", "description": "With image: what to take from it."},
      "output": {"type": "string", "minLength": 1, "description": "File to write: absolute, or relative to the server's work folder. Default: <work folder>/<part name>.<format>."},
      "format": {"type": "string", "enum": ["stl", "3mf"], "description": "Default: from the output's extension, else stl. A part of several bodies is one 3MF, or one STL per body."},
      "preview": {"type": "boolean", "default": false, "description": "Also return the preview picture as an image."},
      "preview_size": {"type": "array", "items": {"type": "integer", "minimum": 16, "maximum": 8192}, "minItems": 2, "maxItems": 2, "description": "Width and height in pixels of the preview, and of the previews the model critiques. Default [800, 600]; a model reads best pictures of the size it was trained on (cephalo-tiny: [384, 384])."},
      "rounds": {"type": "integer", "minimum": 1, "maximum": 10, "description": "Design rounds at most: each failed check revises the spec and builds again. Default: 1 for a spec (built as given), the server's setting (3) otherwise."}
    },
    "additionalProperties": false
  },
  "outputSchema": {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
      "name": {"type": "string"},
      "files": {"type": "array", "items": {"type": "object", "properties": {
        "path": {"type": "string"}, "format": {"type": "string", "enum": ["stl", "3mf"]},
        "bodies": {"type": "array", "items": {"type": "string"}}},
        "required": ["path", "format", "bodies"]}},
      "checks": {"type": "object", "properties": {
        "printable": {"type": "boolean", "description": "Every body watertight and the files read back equal to what was built."},
        "bodies": {"type": "array", "items": {"type": "object", "properties": {
          "name": {"type": "string"}, "relative_density": {"type": "number"},
          "report": {"$ref": "#/definitions/mesh_report"}}, "required": ["name", "relative_density", "report"]}},
        "export_problems": {"type": "array", "items": {"type": "string"}},
        "triangles": {"type": "integer", "minimum": 0},
        "bbox": {"$ref": "#/definitions/bbox"},
        "edge_length": {"type": "number"},
        "build_seconds": {"type": "number"},
        "notes": {"type": "array", "items": {"type": "string"}}},
        "required": ["printable", "bodies", "export_problems", "triangles", "bbox"]},
      "spec": {"type": "object", "description": "The DesignSpec built, every default filled in."},
      "spec_source": {"type": "string", "enum": ["spec", "interpreter", "model"], "description": "Where the spec came from: the call's spec, the embedded interpreter, or the model."},
      "understood": {"type": "array", "items": {"$ref": "#/definitions/reading"}},
      "assumed": {"type": "array", "items": {"$ref": "#/definitions/reading"}},
      "unused": {"type": "array", "items": {"type": "string"}},
      "revisions": {"type": "array", "items": {"type": "string"}, "description": "Each change the design loop made to the spec, in order."},
      "rounds": {"type": "integer", "minimum": 0},
      "fallback": {"type": "string", "description": "Why the model's spec was not used, when it was not."},
      "description": {"type": "string", "description": "The model's description of the image (image input)."},
      "trace": {"type": "string", "description": "Path of the design loop's JSON trace: every step, readable."},
      "report": {"type": "string", "description": "Path of the build report (JSON)."},
      "preview": {"type": "string", "description": "Path of the preview PNG."}
    },
    "required": ["name", "files", "checks", "spec", "spec_source", "understood", "assumed", "unused", "revisions", "rounds", "trace", "report", "preview"],
    "definitions": {
      "reading": {"type": "object", "properties": {
        "field": {"type": "string"}, "value": {"type": "string"},
        "source": {"type": "string"}, "note": {"type": "string"}}},
      "bbox": {"type": "object", "properties": {
        "min": {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3},
        "max": {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3}},
        "required": ["min", "max"]},
      "mesh_report": {}
    }
  },
  "annotations": {"readOnlyHint": false, "destructiveHint": false, "idempotentHint": true, "openWorldHint": false}
})json";

const char *kDescribeImageTool = R"json({
  "name": "describe_image",
  "title": "Describe an image with the model",
  "description": "Sends a PNG or JPEG to the Cephalo vision-language model behind the server's cephalo-serve endpoint and returns what the model says about it (cracks, stress fields, micrographs, biological structures).",
  "inputSchema": {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
      "image": {"type": "string", "minLength": 1, "description": "Path of the image: absolute, or relative to the server's work folder."},
      "prompt": {"type": "string", "minLength": 1, "description": "The question. Default: 'Describe this image.'"},
      "max_new_tokens": {"type": "integer", "minimum": 1, "maximum": 4096},
      "deadline_ms": {"type": "integer", "minimum": 100, "maximum": 3600000, "description": "How long to wait for the model. Default: the server's model timeout."}
    },
    "required": ["image"],
    "additionalProperties": false
  },
  "outputSchema": {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
      "text": {"type": "string"},
      "model": {"type": "string"},
      "finish_reason": {"type": "string"},
      "image": {"type": "string"},
      "endpoint": {"type": "string"},
      "total_ms": {"type": "number"}
    },
    "required": ["text", "model", "image", "endpoint"]
  },
  "annotations": {"readOnlyHint": true, "openWorldHint": false}
})json";

const char *kCheckMeshTool = R"json({
  "name": "check_mesh",
  "title": "Check a mesh for printing",
  "description": "Reads an STL file (binary or ASCII) and reports whether it is watertight and printable: closed, manifold, free of self-intersections, outward normals, volume, bounding box, wall thickness, and every problem in one sentence.",
  "inputSchema": {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
      "path": {"type": "string", "minLength": 1, "description": "The mesh file: absolute, or relative to the server's work folder."},
      "self_intersections": {"type": "boolean", "default": true, "description": "Run the self-intersection test (the slowest check)."}
    },
    "required": ["path"],
    "additionalProperties": false
  },
  "outputSchema": {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
      "path": {"type": "string"},
      "format": {"type": "string", "enum": ["stl"]},
      "report": {"$ref": "#/definitions/mesh_report"}
    },
    "required": ["path", "format", "report"],
    "definitions": {"mesh_report": {}}
  },
  "annotations": {"readOnlyHint": true, "openWorldHint": false}
})json";

const char *kInterpretDesignTool = R"json({
  "name": "interpret_design",
  "title": "Read a design without building it",
  "description": "Turns a design in everyday words into a DesignSpec without building anything, saying what it understood (with the words it came from), what it assumed, and which phrases it could not use. Fast: use it to check a wording before design_part, or to get a spec to edit.",
  "inputSchema": {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
      "text": {"type": "string", "minLength": 1, "description": "The design in everyday words."}
    },
    "required": ["text"],
    "additionalProperties": false
  },
  "outputSchema": {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
      "spec": {"type": "object"},
      "understood": {"type": "array", "items": {"$ref": "#/definitions/reading"}},
      "assumed": {"type": "array", "items": {"$ref": "#/definitions/reading"}},
      "unused": {"type": "array", "items": {"type": "string"}}
    },
    "required": ["spec", "understood", "assumed", "unused"],
    "definitions": {"reading": {"type": "object", "properties": {
      "field": {"type": "string"}, "value": {"type": "string"},
      "source": {"type": "string"}, "note": {"type": "string"}}}}
  },
  "annotations": {"readOnlyHint": true, "idempotentHint": true, "openWorldHint": false}
})json";

// The mesh report's schema, shared by check_mesh and design_part.
const char *kMeshReportSchema = R"json({
  "type": "object",
  "properties": {
    "watertight": {"type": "boolean", "description": "No problem found: closed, manifold, no self-intersections, outward."},
    "closed": {"type": "boolean"}, "manifold": {"type": "boolean"},
    "self_intersecting": {"type": "boolean"}, "intersecting_pairs": {"type": "integer", "minimum": 0},
    "outward": {"type": "boolean"},
    "vertices": {"type": "integer", "minimum": 0}, "triangles": {"type": "integer", "minimum": 0},
    "boundary_edges": {"type": "integer", "minimum": 0}, "nonmanifold_edges": {"type": "integer", "minimum": 0},
    "misoriented_edges": {"type": "integer", "minimum": 0}, "degenerate_triangles": {"type": "integer", "minimum": 0},
    "shells": {"type": "integer", "minimum": 0}, "bodies": {"type": "integer", "minimum": 0},
    "cavities": {"type": "integer", "minimum": 0}, "genus": {"type": "integer"},
    "volume": {"type": "number", "description": "mm^3; 0 when not closed"},
    "area": {"type": "number", "description": "mm^2"},
    "wall_thickness_p5": {"type": "number", "description": "mm, 5th percentile over the surface"},
    "wall_thickness_median": {"type": "number", "description": "mm"},
    "bbox": {"type": "object", "properties": {
      "min": {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3},
      "max": {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3}},
      "required": ["min", "max"]},
    "problems": {"type": "array", "items": {"type": "string"}}
  },
  "required": ["watertight", "closed", "manifold", "self_intersecting", "volume", "bbox", "problems"]
})json";

json tool_definitions()
{
  json tools = json::array();
  for (const char *text :
       {kDesignPartTool, kDescribeImageTool, kCheckMeshTool, kInterpretDesignTool})
    tools.push_back(json::parse(text));
  // one mesh report schema, placed where each tool's output refers to it
  const json report = json::parse(kMeshReportSchema);
  for (auto &tool : tools) {
    json &output = tool["outputSchema"];
    if (output.contains("definitions") && output["definitions"].contains("mesh_report"))
      output["definitions"]["mesh_report"] = report;
  }
  return tools;
}

const json &tool_table()
{
  static const json tools = tool_definitions();
  return tools;
}

// ---------------------------------------------------------------------------------------------
// Arguments are checked against the tool's own inputSchema, for the keywords it uses: the schema
// the client sees is the one enforced.

bool has_type(const json &value, const std::string &type)
{
  if (type == "string") return value.is_string();
  if (type == "boolean") return value.is_boolean();
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "number") return value.is_number();
  if (type == "integer")
    return value.is_number_integer() ||
           (value.is_number_float() && std::floor(value.get<double>()) == value.get<double>());
  return false;
}

// The first way `value` breaks `schema`, naming the argument; empty when it conforms.
std::string schema_problem(const json &schema, const json &value, const std::string &where)
{
  if (schema.contains("type")) {
    const std::string type = schema["type"];
    if (!has_type(value, type))
      return where + " must be " +
             (type == "integer" || type == "array" || type == "object" ? "an " : "a ") + type;
  }
  if (schema.contains("enum")) {
    bool found = false;
    for (const auto &option : schema["enum"]) found = found || option == value;
    if (!found) return where + " must be one of " + schema["enum"].dump();
  }
  if (value.is_number()) {
    const double x = value.get<double>();
    if (schema.contains("minimum") && x < schema["minimum"].get<double>())
      return where + " must be at least " + schema["minimum"].dump();
    if (schema.contains("maximum") && x > schema["maximum"].get<double>())
      return where + " must be at most " + schema["maximum"].dump();
  }
  if (value.is_array()) {
    if (schema.contains("minItems") && value.size() < schema["minItems"].get<std::size_t>())
      return where + " must have at least " + schema["minItems"].dump() + " items";
    if (schema.contains("maxItems") && value.size() > schema["maxItems"].get<std::size_t>())
      return where + " must have at most " + schema["maxItems"].dump() + " items";
    if (schema.contains("items"))
      for (std::size_t i = 0; i < value.size(); ++i) {
        std::string problem =
            schema_problem(schema["items"], value[i], where + "[" + std::to_string(i) + "]");
        if (!problem.empty()) return problem;
      }
  }
  if (value.is_string() && schema.contains("minLength") &&
      value.get_ref<const std::string &>().size() < schema["minLength"].get<std::size_t>())
    return where + " must not be empty";
  if (value.is_object() && schema.contains("properties")) {
    const json &properties = schema["properties"];
    if (schema.contains("required"))
      for (const auto &name : schema["required"])
        if (!value.contains(name.get<std::string>()))
          return "missing the required argument '" + name.get<std::string>() + "'";
    for (const auto &[name, item] : value.items()) {
      if (properties.contains(name)) {
        std::string problem = schema_problem(properties[name], item, "'" + name + "'");
        if (!problem.empty()) return problem;
      } else if (schema.value("additionalProperties", true) == false) {
        std::string known;
        for (const auto &p : properties.items()) known += (known.empty() ? "" : ", ") + p.key();
        return "unknown argument '" + name + "' (expected: " + known + ")";
      }
    }
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// The tools.

struct Settings {
  McpServerOptions options;
  fs::path work_dir;
};

fs::path resolve(const Settings &settings, const std::string &path)
{
  fs::path p(path);
  return p.is_absolute() ? p : settings.work_dir / p;
}

std::string read_binary(const fs::path &path, const std::string &what)
{
  std::error_code error;
  if (!fs::exists(path, error)) throw ToolError(what + " not found: " + path.string());
  if (!fs::is_regular_file(path, error)) throw ToolError(what + " is not a file: " + path.string());
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  if (!in || !(bytes << in.rdbuf())) throw ToolError("cannot read " + what + " " + path.string());
  return bytes.str();
}


// JSON cannot hold NaN or infinity; a measurement that did not happen is 0.
double finite(double x)
{
  return std::isfinite(x) ? x : 0.0;
}

json bbox_json(const std::array<double, 3> &lo, const std::array<double, 3> &hi)
{
  return {{"min", {finite(lo[0]), finite(lo[1]), finite(lo[2])}},
          {"max", {finite(hi[0]), finite(hi[1]), finite(hi[2])}}};
}

json mesh_report_json(const meshing::MeshReport &r)
{
  return {{"watertight", r.watertight()},
          {"closed", r.closed},
          {"manifold", r.manifold},
          {"self_intersecting", r.self_intersecting},
          {"intersecting_pairs", r.intersecting_pairs},
          {"outward", r.outward},
          {"vertices", r.vertices},
          {"triangles", r.triangles},
          {"boundary_edges", r.boundary_edges},
          {"nonmanifold_edges", r.nonmanifold_edges},
          {"misoriented_edges", r.misoriented_edges},
          {"degenerate_triangles", r.degenerate_triangles},
          {"shells", r.components},
          {"bodies", r.bodies},
          {"cavities", r.cavities},
          {"genus", r.genus},
          {"volume", finite(r.volume)},
          {"area", finite(r.area)},
          {"wall_thickness_p5", finite(r.wall_estimate)},
          {"wall_thickness_median", finite(r.wall_median)},
          {"bbox", bbox_json(r.bbox_min, r.bbox_max)},
          {"problems", r.problems}};
}

std::string join(const std::vector<std::string> &lines, const std::string &separator)
{
  std::string out;
  for (const auto &line : lines) out += (out.empty() ? "" : separator) + line;
  return out;
}

std::string number_text(double x, int digits = 4)
{
  std::ostringstream text;
  text.precision(digits);
  text << x;
  return text.str();
}

ToolOutput run_interpret_design(const json &args, const ToolContext &, const Settings &)
{
  try {
    const Interpretation interpretation = interpret_design(args["text"].get<std::string>());
    ToolOutput out;
    out.structured = interpretation_to_json(interpretation);
    out.summary = "A " + std::string(meshing::family_name(interpretation.spec.pattern().family)) +
                  " part: " + std::to_string(interpretation.understood.size()) +
                  " things understood, " + std::to_string(interpretation.assumed.size()) +
                  " assumed, " + std::to_string(interpretation.unused.size()) + " phrases unused.";
    return out;
  } catch (const InterpretError &e) {
    throw ToolError(std::string("nothing to build: ") + e.what());
  }
}

ToolOutput run_check_mesh(const json &args, const ToolContext &ctx, const Settings &settings)
{
  const fs::path path = resolve(settings, args["path"].get<std::string>());
  std::error_code error;
  if (!fs::exists(path, error)) throw ToolError("mesh file not found: " + path.string());
  std::string ext = path.extension().string();
  for (auto &c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext != ".stl")
    throw ToolError("check_mesh reads STL files (.stl); '" + path.filename().string() +
                    "' is not one (a 3MF from design_part is checked when it is built)");
  meshing::TriangleMesh mesh;
  try {
    mesh = meshing::read_stl(path);
  } catch (const meshing::StlError &e) {
    throw ToolError(e.what());
  }
  ctx.check();
  meshing::CheckOptions options;
  options.self_intersections = args.value("self_intersections", true);
  const meshing::MeshReport report = meshing::check_mesh(mesh, options);
  ToolOutput out;
  out.structured = {
      {"path", path.string()}, {"format", "stl"}, {"report", mesh_report_json(report)}};
  out.summary = path.filename().string() + ": " +
                (report.watertight() ? "watertight" : "NOT watertight") + ", " +
                std::to_string(report.triangles) + " triangles, " + std::to_string(report.bodies) +
                " bodies, volume " + number_text(report.volume) + " mm^3" +
                (report.problems.empty() ? "." : ". Problems: " + join(report.problems, " "));
  return out;
}

ToolOutput run_describe_image(const json &args, const ToolContext &ctx, const Settings &settings)
{
  const McpServerOptions &o = settings.options;
  if (o.endpoint.empty())
    throw ToolError("describe_image needs a model, and this server has none: start cephalo-mcp "
                    "with --endpoint tcp://HOST:PORT of a running cephalo-serve");
  const fs::path path = resolve(settings, args["image"].get<std::string>());
  bridge::Request request;
  request.type = bridge::RequestType::Describe;
  request.prompt = args.value("prompt", std::string("Describe this image."));
  request.deadline_ms = args.value("deadline_ms", o.model_timeout_ms);
  if (args.contains("max_new_tokens")) request.params.max_new_tokens = args["max_new_tokens"];
  request.images.push_back(read_binary(path, "image"));

  bridge::ClientOptions client_options;
  client_options.endpoint = o.endpoint;
  client_options.curve_server_key = o.curve_server_key;
  client_options.curve_public_key = o.curve_public_key;
  client_options.curve_secret_key = o.curve_secret_key;
  const int deadline_ms = request.deadline_ms;
  bridge::Reply reply;
  {
    // asynchronous, so that a cancelled call stops waiting at once
    bridge::AsyncClient client(client_options, 1);
    auto future = client.submit(std::move(request));
    if (!future) throw ToolError("the model client refused the request");
    while (future->wait_for(std::chrono::milliseconds(50)) != std::future_status::ready)
      ctx.check();
    reply = future->get();
  }
  if (!reply.ok()) {
    if (reply.error_code == "unreachable")
      throw ToolError("cephalo-serve at " + o.endpoint + " did not answer within " +
                      std::to_string(deadline_ms) + " ms: is it running? (" + reply.error_message +
                      ")");
    throw ToolError("cephalo-serve at " + o.endpoint + " could not describe " + path.string() +
                    ": " + reply.error_code + ": " + reply.error_message);
  }
  ToolOutput out;
  out.structured = {{"text", reply.text()},
                    {"model", reply.body.value("model", std::string())},
                    {"finish_reason", reply.body.value("finish_reason", std::string())},
                    {"image", path.string()},
                    {"endpoint", o.endpoint},
                    {"total_ms", finite(reply.timing().total_ms)}};
  out.summary = reply.text();
  return out;
}

// design_part's file name and format from `output` and `format`.
struct OutputTarget {
  fs::path path;
  std::string format;
};

OutputTarget output_target(const json &args, const Settings &settings, const std::string &name)
{
  std::string format = args.value("format", std::string());
  fs::path path;
  if (args.contains("output")) {
    path = resolve(settings, args["output"].get<std::string>());
    std::string ext = path.extension().string();
    for (auto &c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (ext == ".stl" || ext == ".3mf") {
      if (!format.empty() && "." + format != ext)
        throw ToolError("output '" + path.filename().string() + "' and format '" + format +
                        "' disagree: give one or make them match");
      format = ext.substr(1);
    } else if (!ext.empty() && ext.size() <= 5) {
      throw ToolError("output '" + path.filename().string() +
                      "' must end in .stl or .3mf (or give no extension and a format)");
    } else {
      if (format.empty()) format = "stl";
      path += "." + format;
    }
  } else {
    if (format.empty()) format = "stl";
    path = settings.work_dir / (name + "." + format);
  }
  std::error_code error;
  fs::create_directories(path.parent_path(), error);
  if (error)
    throw ToolError("cannot create the folder " + path.parent_path().string() + ": " +
                    error.message());
  return {path, format};
}

fs::path sibling(const fs::path &file, const std::string &suffix)
{
  return file.parent_path() / (file.stem().string() + suffix);
}

void write_text(const fs::path &path, const std::string &text)
{
  std::ofstream out(path);
  if (!(out << text)) throw ToolError("cannot write " + path.string());
}

json readings_json(const std::vector<Reading> &readings)
{
  Interpretation holder;
  holder.understood = readings;
  return interpretation_to_json(holder).value("understood", json::array());
}

ToolOutput run_design_part(const json &args, const ToolContext &ctx, const Settings &settings)
{
  const int given =
      static_cast<int>(args.contains("text")) + args.contains("spec") + args.contains("image");
  if (given != 1)
    throw ToolError("design_part takes exactly one of 'text' (the design in words), 'spec' (a "
                    "DesignSpec object) or 'image' (a picture to design from); " +
                    std::string(given == 0 ? "none was given" : "several were given"));
  if (args.contains("hint") && !args.contains("image"))
    throw ToolError("'hint' goes with 'image'; for text, say it in the text");
  const McpServerOptions &o = settings.options;
  const auto started = Clock::now();

  DesignOptions options;
  options.endpoint = o.endpoint;
  options.curve_server_key = o.curve_server_key;
  options.curve_public_key = o.curve_public_key;
  options.curve_secret_key = o.curve_secret_key;
  options.model_timeout_ms = o.model_timeout_ms;
  if (args.contains("preview_size")) {
    options.preview.width = args["preview_size"][0].get<int>();
    options.preview.height = args["preview_size"][1].get<int>();
  }
  // a spec is built as given unless the caller allows revisions; words get the server's rounds
  options.rounds = args.value("rounds", args.contains("spec") ? 1 : o.rounds);
  options.work_dir = settings.work_dir / ("design-" + bridge::new_request_id());
  options.should_stop = ctx.cancelled;
  options.progress = [&](const std::string &step, const std::string &detail) {
    ctx.check();
    ctx.progress(detail.empty() ? step : step + ": " + detail, true);
  };
  // the mesher's progress, rate-limited; also where a cancelled build stops mid-way (the mesher
  // calls it from one thread at a time)
  std::string stage_seen;
  options.build.progress = [&](const std::string &stage, double fraction) {
    ctx.check();
    const bool fresh = stage != stage_seen;
    stage_seen = stage;
    ctx.progress(
        "building: " + stage + " " + std::to_string(static_cast<int>(fraction * 100)) + "%", fresh);
  };

  DesignAgent agent(options);
  DesignResult result;
  try {
    if (args.contains("spec")) {
      result = agent.design_spec(meshing::parse_design_spec(args["spec"].dump()));
    } else if (args.contains("text")) {
      result = agent.design(args["text"].get<std::string>());
    } else {
      if (o.endpoint.empty())
        throw ToolError("designing from an image needs a model, and this server has none: start "
                        "cephalo-mcp with --endpoint tcp://HOST:PORT of a running cephalo-serve");
      const fs::path image = resolve(settings, args["image"].get<std::string>());
      std::error_code error;
      if (!fs::is_regular_file(image, error)) throw ToolError("image not found: " + image.string());
      result = agent.design_from_image(image, args.value("hint", std::string()));
    }
  } catch (const InterpretError &e) {
    throw ToolError(std::string("nothing to build: ") + e.what());
  } catch (const meshing::SpecError &e) {
    throw ToolError(std::string("the spec cannot be built: ") + e.what());
  }
  ctx.check();

  const meshing::DesignSpec &spec = result.spec;
  const OutputTarget target = output_target(args, settings, spec.name);
  std::string trace_path;
  if (result.trace) {
    trace_path = sibling(target.path, ".trace.json").string();
    write_text(trace_path, result.trace->dump(2));
  }
  if (!result.part)
    throw ToolError(
        "no printable part: " +
        join(result.problems.empty() ? std::vector<std::string>{"no round gave a valid part"}
                                     : result.problems,
             "; ") +
        (trace_path.empty() ? std::string() : " (every step is in " + trace_path + ")"));
  const meshing::BuiltPart &part = *result.part;

  ctx.progress("writing " + target.path.filename().string(), true);
  std::vector<meshing::ExportedFile> files;
  try {
    files = meshing::export_part(part, target.path);
  } catch (const std::exception &e) {
    throw ToolError("cannot write " + target.path.string() + ": " + e.what());
  }
  const std::vector<std::string> export_problems = meshing::verify_export(part, files);
  const fs::path report_path = sibling(target.path, ".report.json");
  write_text(report_path, meshing::build_report_json(spec, part));

  // the preview: the agent's when it drew one, else drawn here
  const fs::path preview_path = sibling(target.path, ".png");
  std::error_code error;
  if (!result.preview.empty() && fs::is_regular_file(result.preview, error))
    fs::copy_file(result.preview, preview_path, fs::copy_options::overwrite_existing, error);
  if (result.preview.empty() || error) meshing::render_preview(part, preview_path, options.preview);

  json bodies = json::array();
  bool printable = export_problems.empty();
  for (const auto &body : part.bodies) {
    printable = printable && body.report.watertight();
    bodies.push_back({{"name", body.name},
                      {"relative_density", finite(body.relative_density)},
                      {"report", mesh_report_json(body.report)}});
  }
  json file_list = json::array();
  for (const auto &file : files)
    file_list.push_back(
        {{"path", file.path.string()}, {"format", target.format}, {"bodies", file.bodies}});

  ToolOutput out;
  out.structured = {{"name", spec.name},
                    {"files", file_list},
                    {"checks",
                     {{"printable", printable},
                      {"bodies", bodies},
                      {"export_problems", export_problems},
                      {"triangles", part.triangles()},
                      {"bbox", bbox_json(part.bbox_min, part.bbox_max)},
                      {"edge_length", finite(part.edge_length)},
                      {"build_seconds", finite(part.build_seconds + part.check_seconds)},
                      {"notes", part.notes}}},
                    {"spec", json::parse(meshing::design_spec_to_json(spec))},
                    {"spec_source", result.spec_source == "request" ? "spec" : result.spec_source},
                    {"understood", readings_json(result.understood)},
                    {"assumed", readings_json(result.assumed)},
                    {"unused", result.unused},
                    {"revisions", result.revisions},
                    {"rounds", result.rounds},
                    {"trace", trace_path},
                    {"report", report_path.string()},
                    {"preview", preview_path.string()}};
  if (!result.fallback.empty()) out.structured["fallback"] = result.fallback;
  if (!result.description.empty()) out.structured["description"] = result.description;

  std::vector<std::string> names;
  for (const auto &file : files) names.push_back(file.path.string());
  const auto &lo = part.bbox_min, &hi = part.bbox_max;
  out.summary =
      "Built '" + spec.name + "' (" + std::string(meshing::family_name(spec.pattern().family)) +
      ", " + std::to_string(part.bodies.size()) + " bod" + (part.bodies.size() == 1 ? "y" : "ies") +
      ", " + std::to_string(part.triangles()) + " triangles, " + number_text(hi[0] - lo[0]) +
      " x " + number_text(hi[1] - lo[1]) + " x " + number_text(hi[2] - lo[2]) + " mm) in " +
      number_text(std::chrono::duration<double>(Clock::now() - started).count(), 3) +
      " s: " + (printable ? "printable" : "NOT printable") + ". Files: " + join(names, ", ") +
      (export_problems.empty() ? "" : ". Export problems: " + join(export_problems, " "));
  if (!result.revisions.empty()) out.summary += "\nRevisions: " + join(result.revisions, "; ");
  if (!result.unused.empty())
    out.summary += "\nNot used from the text: " + join(result.unused, "; ");
  if (args.value("preview", false))
    out.extra.push_back({{"type", "image"},
                         {"data", bridge::base64_encode(read_binary(preview_path, "preview"))},
                         {"mimeType", "image/png"}});
  return out;
}

using ToolFunction = ToolOutput (*)(const json &, const ToolContext &, const Settings &);

ToolFunction find_tool(const std::string &name)
{
  if (name == "design_part") return run_design_part;
  if (name == "describe_image") return run_describe_image;
  if (name == "check_mesh") return run_check_mesh;
  if (name == "interpret_design") return run_interpret_design;
  return nullptr;
}

const json &input_schema(const std::string &name)
{
  for (const auto &tool : tool_table())
    if (tool["name"] == name) return tool["inputSchema"];
  throw std::logic_error("no tool " + name);
}

json error_object(int code, const std::string &message)
{
  return {{"code", code}, {"message", message}};
}

json error_reply(const json &id, int code, const std::string &message)
{
  return {{"jsonrpc", "2.0"}, {"id", id}, {"error", error_object(code, message)}};
}

json result_reply(const json &id, json result)
{
  return {{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

json tool_error_result(const std::string &message)
{
  return {{"content", {{{"type", "text"}, {"text", message}}}}, {"isError", true}};
}

}    // namespace

// ---------------------------------------------------------------------------------------------
// The session.

struct McpServer::Impl {
  Settings settings;

  std::ostream *out = nullptr;
  std::mutex out_mutex;

  // Receives the one answer of each message: a reply, or null for none (notifications,
  // cancelled calls). A batch collects its answers before writing them as one array.
  using Sink = std::function<void(json)>;

  std::mutex state_mutex;
  bool initialized = false;    // initialize answered
  std::string protocol_version;

  struct Call {
    json id;
    std::atomic<bool> cancelled{false};
    std::atomic<bool> finished{false};
    std::thread thread;
  };
  std::map<std::string, std::shared_ptr<Call>> running;    // by id.dump()
  std::list<std::shared_ptr<Call>> threads;                // joined once finished

  // slots for running tools
  std::mutex slot_mutex;
  std::condition_variable slot_freed;
  std::size_t busy = 0;

  void log(const std::string &line) const
  {
    if (settings.options.log) settings.options.log(line);
  }

  void write(const json &message)
  {
    const std::string line = message.dump(-1, ' ', false, json::error_handler_t::replace);
    std::lock_guard<std::mutex> lock(out_mutex);
    *out << line << '\n';
    out->flush();
  }

  void handle_line(const std::string &line)
  {
    json message;
    try {
      message = json::parse(line);
    } catch (const json::parse_error &e) {
      write(error_reply(nullptr, kParseError, std::string("parse error: ") + e.what()));
      return;
    }
    if (message.is_array()) {
      handle_batch(message);
      return;
    }
    handle_message(message, [this](json reply) {
      if (!reply.is_null()) write(reply);
    });
  }

  // JSON-RPC batches belong to MCP 2025-03-26 only (2025-06-18 removed them).
  void handle_batch(const json &batch)
  {
    std::string version;
    {
      std::lock_guard<std::mutex> lock(state_mutex);
      version = protocol_version;
    }
    if (version != "2025-03-26") {
      write(error_reply(nullptr, kInvalidRequest,
                        "JSON-RPC batches are not part of MCP " +
                            (version.empty() ? std::string("before initialize") : version) +
                            ": send one message per line"));
      return;
    }
    if (batch.empty()) {
      write(error_reply(nullptr, kInvalidRequest, "an empty batch"));
      return;
    }
    struct Collector {
      std::mutex mutex;
      std::size_t pending;
      json replies = json::array();
    };
    auto collector = std::make_shared<Collector>();
    collector->pending = batch.size();
    for (const auto &message : batch)
      handle_message(message, [this, collector](json reply) {
        std::lock_guard<std::mutex> lock(collector->mutex);
        if (!reply.is_null()) collector->replies.push_back(std::move(reply));
        if (--collector->pending == 0 && !collector->replies.empty()) write(collector->replies);
      });
  }

  void handle_message(const json &message, const Sink &sink)
  {
    if (!message.is_object()) {
      sink(error_reply(nullptr, kInvalidRequest, "a JSON-RPC message must be an object"));
      return;
    }
    const auto id_it = message.find("id");
    const bool has_id = id_it != message.end();
    const bool id_ok = has_id && (id_it->is_string() || id_it->is_number_integer());
    const json id = id_ok ? *id_it : json(nullptr);
    if (message.value("jsonrpc", json()) != "2.0") {
      sink(error_reply(id, kInvalidRequest, "\"jsonrpc\" must be \"2.0\""));
      return;
    }
    const auto method_it = message.find("method");
    if (method_it == message.end()) {
      if (message.contains("result") || message.contains("error")) {
        // a response, but this server sends no requests
        log("ignored a response to no request of ours (id " + id.dump() + ")");
        sink(nullptr);
      } else {
        sink(error_reply(id, kInvalidRequest, "a request needs a \"method\""));
      }
      return;
    }
    if (!method_it->is_string()) {
      sink(error_reply(id, kInvalidRequest, "\"method\" must be a string"));
      return;
    }
    if (has_id && !id_ok) {
      sink(error_reply(nullptr, kInvalidRequest, "\"id\" must be a string or an integer"));
      return;
    }
    const std::string method = *method_it;
    json params = message.value("params", json::object());
    if (!params.is_object()) {
      if (has_id)
        sink(error_reply(id, params.is_array() ? kInvalidParams : kInvalidRequest,
                         "\"params\" of " + method + " must be an object"));
      else
        sink(nullptr);
      return;
    }
    if (!has_id) {
      handle_notification(method, params);
      sink(nullptr);
      return;
    }
    handle_request(id, method, params, sink);
  }

  void handle_notification(const std::string &method, const json &params)
  {
    if (method == "notifications/initialized") {
      log("client ready");
    } else if (method == "notifications/cancelled") {
      const json request = params.value("requestId", json());
      std::lock_guard<std::mutex> lock(state_mutex);
      const auto it = running.find(request.dump());
      if (it == running.end()) return;    // finished already, or never ours: nothing to do
      it->second->cancelled = true;
      {
        // under the slot lock, so a call waiting for a slot cannot miss the wake-up
        std::lock_guard<std::mutex> slots(slot_mutex);
      }
      slot_freed.notify_all();
      log("cancelled request " + request.dump() +
          (params.contains("reason") ? ": " + params["reason"].dump() : std::string()));
    }
    // other notifications (progress, roots, ...) mean nothing to this server
  }

  void handle_request(const json &id, const std::string &method, const json &params,
                      const Sink &sink)
  {
    if (method == "ping") {
      sink(result_reply(id, json::object()));
      return;
    }
    if (method == "initialize") {
      sink(initialize(id, params));
      return;
    }
    {
      std::lock_guard<std::mutex> lock(state_mutex);
      if (!initialized) {
        sink(error_reply(id, kInvalidRequest,
                         "the session is not initialized: the first request must be initialize"));
        return;
      }
    }
    if (method == "tools/list") {
      if (params.contains("cursor")) {
        // every tool fits one page, so no cursor was ever handed out
        sink(error_reply(id, kInvalidParams, "unknown cursor: tools/list has one page"));
        return;
      }
      sink(result_reply(id, {{"tools", tool_table()}}));
      return;
    }
    if (method == "tools/call") {
      call_tool(id, params, sink);
      return;
    }
    sink(error_reply(id, kMethodNotFound, "unknown method: " + method));
  }

  json initialize(const json &id, const json &params)
  {
    const auto version = params.find("protocolVersion");
    if (version == params.end() || !version->is_string())
      return error_reply(id, kInvalidParams,
                         "initialize needs params.protocolVersion, a string such as \"" +
                             protocol_versions().front() + "\"");
    std::lock_guard<std::mutex> lock(state_mutex);
    if (initialized)
      return error_reply(id, kInvalidRequest, "initialize was already answered in this session");
    const auto &supported = protocol_versions();
    const std::string asked = *version;
    const bool known = std::find(supported.begin(), supported.end(), asked) != supported.end();
    protocol_version = known ? asked : supported.front();
    initialized = true;
    const json client = params.value("clientInfo", json::object());
    log("initialized by " + client.value("name", std::string("a client")) + " " +
        client.value("version", std::string()) + ", protocol " + protocol_version +
        (known ? "" : " (it asked for " + asked + ")"));
    return result_reply(
        id, {{"protocolVersion", protocol_version},
             {"capabilities", {{"tools", {{"listChanged", false}}}}},
             {"serverInfo",
              {{"name", McpServer::name()},
               {"title", "Cephalo design tools"},
               {"version", McpServer::version()}}},
             {"instructions",
              "Cephalo turns designs in words (or images, with a model) into watertight, printable "
              "bio-inspired parts. interpret_design shows how a text is read, fast; design_part "
              "builds and checks the part and writes STL or 3MF with a preview; check_mesh checks "
              "any STL; describe_image asks the vision model about a picture. Relative paths are "
              "in the server's work folder: " +
                  settings.work_dir.string()}});
  }

  void call_tool(const json &id, const json &params, const Sink &sink)
  {
    const auto name_it = params.find("name");
    if (name_it == params.end() || !name_it->is_string()) {
      sink(error_reply(id, kInvalidParams, "tools/call needs params.name, the tool's name"));
      return;
    }
    const std::string name = *name_it;
    const ToolFunction tool = find_tool(name);
    if (!tool) {
      sink(error_reply(id, kInvalidParams,
                       "unknown tool: " + name +
                           " (tools: design_part, describe_image, check_mesh, interpret_design)"));
      return;
    }
    const json args = params.value("arguments", json::object());
    if (!args.is_object()) {
      sink(error_reply(id, kInvalidParams, "params.arguments of tools/call must be an object"));
      return;
    }
    json token;
    if (params.contains("_meta") && params["_meta"].is_object())
      token = params["_meta"].value("progressToken", json());

    auto call = std::make_shared<Call>();
    call->id = id;
    std::lock_guard<std::mutex> lock(state_mutex);
    if (running.count(id.dump())) {
      sink(error_reply(id, kInvalidRequest,
                       "request id " + id.dump() + " is already in use by a running call"));
      return;
    }
    // threads of finished calls are joined here, so they do not pile up in a long session
    for (auto it = threads.begin(); it != threads.end();) {
      if ((*it)->finished) {
        (*it)->thread.join();
        it = threads.erase(it);
      } else {
        ++it;
      }
    }
    running[id.dump()] = call;
    threads.push_back(call);
    call->thread = std::thread([this, call, name, tool, args, token, sink] {
      run_call(*call, name, tool, args, token, sink);
    });
  }

  void run_call(Call &call, const std::string &name, ToolFunction tool, const json &args,
                const json &token, const Sink &sink)
  {
    const auto started = Clock::now();
    bool slot = false;
    {
      std::unique_lock<std::mutex> lock(slot_mutex);
      slot_freed.wait(lock,
                      [&] { return busy < settings.options.max_running_calls || call.cancelled; });
      if (!call.cancelled) {
        ++busy;
        slot = true;
      }
    }
    json result;
    bool answer = slot;
    if (slot) {
      long sent = 0;
      auto last = Clock::now() - std::chrono::seconds(1);
      ToolContext ctx;
      ctx.cancelled = [&call] { return call.cancelled.load(); };
      ctx.progress = [&](const std::string &message, bool always) {
        if (token.is_null()) return;
        const auto now = Clock::now();
        if (!always && now - last < std::chrono::milliseconds(250)) return;
        last = now;
        write({{"jsonrpc", "2.0"},
               {"method", "notifications/progress"},
               {"params", {{"progressToken", token}, {"progress", ++sent}, {"message", message}}}});
      };
      try {
        const std::string problem = schema_problem(input_schema(name), args, "the arguments");
        if (!problem.empty()) throw ToolError(name + ": " + problem);
        ToolOutput output = tool(args, ctx, settings);
        json content = json::array();
        content.push_back(
            {{"type", "text"}, {"text", output.summary + "\n\n" + output.structured.dump(2)}});
        for (auto &block : output.extra) content.push_back(std::move(block));
        result = {{"content", std::move(content)},
                  {"structuredContent", std::move(output.structured)},
                  {"isError", false}};
      } catch (const ToolError &e) {
        result = tool_error_result(e.what());
      } catch (const CallCancelled &) {
        answer = false;
      } catch (const std::exception &e) {
        result = tool_error_result(name + " failed: " + e.what());
      }
      std::lock_guard<std::mutex> lock(slot_mutex);
      --busy;
      slot_freed.notify_all();
    }
    // a cancelled request gets no answer, even when it finished first
    answer = answer && !call.cancelled;
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    log("tools/call " + name + " (id " + call.id.dump() + "): " +
        (!answer                          ? "cancelled"
         : result.value("isError", false) ? "tool error"
                                          : "done") +
        " in " + number_text(seconds, 3) + " s");
    {
      std::lock_guard<std::mutex> lock(state_mutex);
      running.erase(call.id.dump());
    }
    sink(answer ? result_reply(call.id, std::move(result)) : json(nullptr));
    call.finished = true;
  }

  void join_all()
  {
    std::list<std::shared_ptr<Call>> all;
    {
      std::lock_guard<std::mutex> lock(state_mutex);
      all.swap(threads);
    }
    for (auto &call : all) call->thread.join();
  }
};

McpServer::McpServer(McpServerOptions options) : impl_(std::make_unique<Impl>())
{
  impl_->settings.work_dir = options.work_dir.empty() ? fs::temp_directory_path() / "cephalo-mcp"
                                                      : fs::absolute(options.work_dir);
  impl_->settings.options = std::move(options);
  if (impl_->settings.options.max_running_calls == 0) impl_->settings.options.max_running_calls = 1;
  std::error_code error;
  fs::create_directories(impl_->settings.work_dir, error);
  if (error)
    throw std::runtime_error("cannot create the work folder " + impl_->settings.work_dir.string() +
                             ": " + error.message());
}

McpServer::~McpServer() = default;

void McpServer::serve(std::istream &in, std::ostream &out)
{
  impl_->out = &out;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    impl_->handle_line(line);
  }
  impl_->join_all();
}

const std::vector<std::string> &McpServer::protocol_versions()
{
  static const std::vector<std::string> versions{"2025-11-25", "2025-06-18", "2025-03-26",
                                                 "2024-11-05"};
  return versions;
}

json McpServer::tools()
{
  return tool_table();
}

const char *McpServer::version()
{
  return CEPHALO_VERSION;
}

}    // namespace cephalo::agents
