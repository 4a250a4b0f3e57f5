// The `design` request handler (design_service.h): the design loop in a temporary folder, its
// files read back into attachments.
#include "cephalo/agents/design_service.h"

#include "cephalo/agents/design_agent.h"
#include "cephalo/meshing/export.h"

#include <nlohmann/json.hpp>

#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>

namespace cephalo::agents {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A folder for one request, removed when the answer is made.
class RequestDir {
 public:
  RequestDir()
  {
    std::string pattern = (fs::temp_directory_path() / "cephalo-design-request-XXXXXX").string();
    if (!mkdtemp(pattern.data()))
      throw std::runtime_error("cannot make a temporary folder in " +
                               fs::temp_directory_path().string());
    path_ = pattern;
  }
  ~RequestDir()
  {
    std::error_code ignored;    // a folder that cannot be removed is left, not an error
    fs::remove_all(path_, ignored);
  }
  const fs::path &path() const { return path_; }

 private:
  fs::path path_;
};

std::string read_bytes(const fs::path &path)
{
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The part's name as a file name: letters, digits, '-' and '_' only.
std::string file_stem(const std::string &name)
{
  std::string stem;
  for (const char c : name)
    stem += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  return stem.empty() ? "part" : stem.substr(0, 64);
}

json readings(const std::vector<Reading> &list)
{
  json out = json::array();
  for (const auto &r : list)
    out.push_back({{"field", r.field}, {"value", r.value}, {"source", r.source}, {"note", r.note}});
  return out;
}

// What every answer carries, a failed one too: where the spec came from and the trace.
json result_body(const DesignResult &result)
{
  json body = {{"spec_source", result.spec_source},   {"rounds", result.rounds},
               {"revisions", result.revisions},       {"understood", readings(result.understood)},
               {"assumed", readings(result.assumed)}, {"unused", result.unused}};
  if (!result.fallback.empty()) body["fallback"] = result.fallback;
  if (!result.description.empty()) body["description"] = result.description;
  if (!result.spec.layers.empty())
    body["spec"] = json::parse(meshing::design_spec_to_json(result.spec));
  if (result.trace) body["trace"] = *result.trace;
  return body;
}

}    // namespace

bridge::Reply answer_design_request(const bridge::Request &request,
                                    const bridge::DesignContext &context)
{
  const bridge::DesignParams &d = request.design;
  RequestDir dir;
  DesignOptions options;
  options.endpoint = context.model.endpoint;
  options.curve_server_key = context.model.curve_server_key;
  options.curve_public_key = context.model.curve_public_key;
  options.curve_secret_key = context.model.curve_secret_key;
  options.model_timeout_ms = std::min(options.model_timeout_ms, request.deadline_ms);
  options.rounds = d.rounds;
  options.critique = d.critique;
  options.work_dir = dir.path() / "work";
  options.should_stop = context.should_stop;
  DesignAgent agent(options);

  DesignResult result;
  auto refused = [&](const std::string &code, const std::string &message) {
    bridge::Reply reply = bridge::error_reply(request.id, code, message);
    if (const auto trace = agent.last_trace()) reply.body["trace"] = *trace;
    return reply;
  };
  try {
    if (!d.spec.is_null()) {
      meshing::DesignSpec spec;
      try {
        spec = meshing::parse_design_spec(d.spec.dump());
      } catch (const meshing::SpecError &e) {
        return refused("bad_request", std::string("body.spec.") + e.what());
      }
      result = agent.design_spec(spec);
    } else if (!request.images.empty()) {
      const std::string &image = request.images.front();
      const bool png = image.rfind("\x89PNG", 0) == 0;
      const fs::path path = dir.path() / (png ? "image.png" : "image.jpg");
      std::ofstream(path, std::ios::binary)
          .write(image.data(), static_cast<std::streamsize>(image.size()));
      result = agent.design_from_image(path, d.text);
    } else {
      result = agent.design(d.text);
    }
  } catch (const InterpretError &e) {
    return refused("bad_request", std::string("body.text: ") + e.what());
  } catch (const std::exception &e) {
    return refused("backend_error", e.what());
  }

  if (!result.ok()) {
    std::string message = "no valid part";
    if (!result.problems.empty()) message += ": " + result.problems.front();
    bridge::Reply reply = bridge::error_reply(request.id, "no_part", message);
    reply.body = result_body(result);
    reply.body["problems"] = result.problems;
    return reply;
  }

  bridge::Reply reply;
  reply.id = request.id;
  reply.body = result_body(result);
  reply.body["report"] = json::parse(meshing::build_report_json(result.spec, *result.part));
  reply.body["report"].erase("spec");
  const fs::path target = dir.path() / (file_stem(result.spec.name) + "." + d.format);
  const auto files = meshing::export_part(*result.part, target);
  const auto problems = meshing::verify_export(*result.part, files);
  if (!problems.empty())
    return refused("backend_error",
                   "the written mesh does not match the built part: " + problems.front());
  reply.body["files"] = json::array();
  for (const auto &file : files) {
    reply.attachments.push_back(read_bytes(file.path));
    reply.body["files"].push_back({{"name", file.path.filename().string()},
                                   {"format", d.format},
                                   {"bodies", file.bodies},
                                   {"attachment", reply.attachments.size() - 1},
                                   {"bytes", reply.attachments.back().size()}});
  }
  if (d.preview && !result.preview.empty()) {
    reply.attachments.push_back(read_bytes(result.preview));
    reply.body["preview"] = {{"name", "preview.png"},
                             {"attachment", reply.attachments.size() - 1},
                             {"bytes", reply.attachments.back().size()}};
  }
  return reply;
}

}    // namespace cephalo::agents
