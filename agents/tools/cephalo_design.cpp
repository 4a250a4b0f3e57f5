// cephalo-design (run as `cephalo design`): a design in words, or a picture the model describes,
// to a checked, printable part.
//
//   cephalo design "a gyroid scaffold 20 mm cube, 5 mm cells, 30% dense" -o part.stl [--3mf]
//                  [--preview [PART.png]] [--preview-size WxH] [--spec-out SPEC.json]
//                  [--trace TRACE.json]
//                  [--endpoint tcp://127.0.0.1:5555] [--rounds N] [--critique] [--json] [--quiet]
//   cephalo design --image photo.png ["hint"] --endpoint tcp://... -o part.stl ...
//
// Exit status: 0 the part was written, 1 no valid part (or the model could not describe the
// image), 2 bad arguments or a text with nothing to build.
#include "cephalo/agents/design_agent.h"
#include "cephalo/meshing/export.h"
#include "cephalo/meshing/preview.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

using namespace cephalo;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char *kUsage =
    "usage: cephalo design \"TEXT\" [-o PART.stl|PART.3mf] [--3mf] [--preview [PART.png]]\n"
    "                      [--preview-size WxH]\n"
    "                      [--spec-out SPEC.json] [--trace TRACE.json] [--endpoint ENDPOINT]\n"
    "                      [--rounds N] [--retries N] [--critique] [--timeout-ms N] [--json]\n"
    "                      [--spec-by model|interpreter]\n"
    "                      [--quiet]\n"
    "       cephalo design --image PHOTO.png [\"HINT\"] --endpoint ENDPOINT [options]\n"
    "\n"
    "  -o FILE           the part (.stl: one file per body, .3mf: one file); default NAME.stl\n"
    "  --3mf             also a 3MF beside it\n"
    "  --preview [FILE]  a preview picture (default: beside the part, .png)\n"
    "  --preview-size S  its size, WIDTHxHEIGHT or one number for a square (default 800x600);\n"
    "                    the size the model reads with --critique too\n"
    "  --endpoint E      a cephalo-serve (tcp://host:port): the model writes the spec, the\n"
    "                    interpreter takes over when it cannot; without it, the interpreter\n"
    "  --rounds N        build rounds at most (default 3); --retries N: re-asks per spec (2)\n"
    "  --spec-by W       who writes the spec with --endpoint: model (default; the interpreter\n"
    "                    when it cannot) or interpreter (the model only describes the image)\n"
    "  --critique        the model critiques each preview and revises the spec\n"
    "  --json            one JSON object on stdout instead of the text report\n";

int usage_error(const std::string &message)
{
  std::cerr << "cephalo design: " << message << "\n" << kUsage;
  return 2;
}

void write_file(const fs::path &path, const std::string &text)
{
  std::ofstream out(path);
  if (!(out << text)) throw std::runtime_error("cannot write " + path.string());
}

bool ends_with(const std::string &text, const std::string &end)
{
  return text.size() >= end.size() && text.compare(text.size() - end.size(), end.size(), end) == 0;
}

json readings(const std::vector<agents::Reading> &list)
{
  json out = json::array();
  for (const auto &r : list)
    out.push_back({{"field", r.field}, {"value", r.value}, {"source", r.source}, {"note", r.note}});
  return out;
}

void print_readings(const char *title, const std::vector<agents::Reading> &list)
{
  for (const auto &r : list) {
    std::printf("  %-10s %s = %s", title, r.field.c_str(), r.value.c_str());
    if (!r.source.empty()) std::printf("  (\"%s\")", r.source.c_str());
    if (!r.note.empty()) std::printf("  %s", r.note.c_str());
    std::printf("\n");
  }
}

}    // namespace

int main(int argc, char **argv)
{
  std::string text, image, output, spec_out, trace_out, preview;
  bool want_preview = false, also_3mf = false, as_json = false, quiet = false;
  agents::DesignOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    auto whole = [&](int min, int max) {
      const std::string v = value();
      try {
        std::size_t used = 0;
        const int n = std::stoi(v, &used);
        if (used == v.size() && n >= min && n <= max) return n;
      } catch (const std::exception &) {
      }
      throw std::invalid_argument(arg + " needs a whole number from " + std::to_string(min) +
                                  " to " + std::to_string(max) + ", not '" + v + "'");
    };
    try {
      if (arg == "-h" || arg == "--help") {
        std::cout << kUsage;
        return 0;
      } else if (arg == "-o" || arg == "--output") {
        output = value();
      } else if (arg == "--3mf") {
        also_3mf = true;
      } else if (arg == "--preview") {
        want_preview = true;
        if (i + 1 < argc && ends_with(argv[i + 1], ".png")) preview = argv[++i];
      } else if (arg == "--preview-size") {
        meshing::parse_preview_size(value(), options.preview);
      } else if (arg == "--spec-out") {
        spec_out = value();
      } else if (arg == "--trace") {
        trace_out = value();
      } else if (arg == "--endpoint") {
        options.endpoint = value();
      } else if (arg == "--image") {
        image = value();
      } else if (arg == "--rounds") {
        options.rounds = whole(1, 20);
      } else if (arg == "--retries") {
        options.spec_retries = whole(0, 10);
      } else if (arg == "--timeout-ms") {
        options.model_timeout_ms = whole(1, 3600000);
      } else if (arg == "--critique") {
        options.critique = true;
      } else if (arg == "--spec-by") {
        const std::string by = value();
        if (by != "model" && by != "interpreter")
          return usage_error("--spec-by takes model or interpreter, not '" + by + "'");
        options.model_spec = by == "model";
      } else if (arg == "--json") {
        as_json = true;
      } else if (arg == "--quiet" || arg == "-q") {
        quiet = true;
      } else if (arg.size() > 1 && arg[0] == '-') {
        return usage_error("unknown option " + arg);
      } else if (text.empty()) {
        text = arg;
      } else {
        return usage_error("give the design as one argument (in quotes), not also '" + arg + "'");
      }
    } catch (const std::invalid_argument &e) {
      return usage_error(e.what());
    }
  }
  if (image.empty() && text.find_first_not_of(" \t\n") == std::string::npos)
    return usage_error("no design given: describe the part in words, or give --image");
  if (!image.empty() && options.endpoint.empty())
    return usage_error("--image needs a model to describe it: give --endpoint");
  if (!image.empty() && !fs::is_regular_file(image))
    return usage_error("cannot read the image " + image);
  if (!output.empty()) {
    try {
      meshing::mesh_format(output);
    } catch (const std::invalid_argument &e) {
      return usage_error(e.what());
    }
  }
  if (options.critique && options.endpoint.empty())
    return usage_error("--critique needs a model: give --endpoint");
  if (!quiet && !as_json)
    options.progress = [](const std::string &step, const std::string &detail) {
      std::cerr << "cephalo design: " << step << (detail.empty() ? "" : " (" + detail + ")")
                << "\n";
    };

  agents::DesignAgent agent(options);
  auto write_trace = [&] {
    if (trace_out.empty() || !agent.last_trace()) return;
    write_file(trace_out, agent.last_trace()->dump(2) + "\n");
  };
  agents::DesignResult result;
  try {
    result = image.empty() ? agent.design(text) : agent.design_from_image(image, text);
  } catch (const agents::InterpretError &e) {
    std::cerr << "cephalo design: nothing to build: " << e.what() << "\n";
    write_trace();
    return 2;
  } catch (const std::exception &e) {
    std::cerr << "cephalo design: " << e.what() << "\n";
    write_trace();
    return 1;
  }

  json out = {{"ok", false},
              {"spec_source", result.spec_source},
              {"understood", readings(result.understood)},
              {"assumed", readings(result.assumed)},
              {"unused", result.unused},
              {"revisions", result.revisions},
              {"rounds", result.rounds},
              {"files", json::array()}};
  if (!result.fallback.empty()) out["fallback"] = result.fallback;
  if (!result.description.empty()) out["description"] = result.description;
  try {
    if (!spec_out.empty()) write_file(spec_out, meshing::design_spec_to_json(result.spec) + "\n");
    if (!result.ok()) {
      out["problems"] = result.problems;
      write_trace();
      if (as_json) std::cout << out.dump(2) << "\n";
      std::cerr << "cephalo design: no valid part after " << result.rounds << " round(s):\n";
      for (const auto &p : result.problems) std::cerr << "  - " << p << "\n";
      return 1;
    }
    const meshing::BuiltPart &part = *result.part;
    if (output.empty()) output = (result.spec.name.empty() ? "part" : result.spec.name) + ".stl";
    std::vector<fs::path> targets{output};
    if (also_3mf && fs::path(output).extension() != ".3mf")
      targets.push_back(fs::path(output).replace_extension(".3mf"));
    std::vector<meshing::ExportedFile> files;
    for (const auto &t : targets) {
      const auto written = meshing::export_part(part, t);
      files.insert(files.end(), written.begin(), written.end());
    }
    const auto problems = meshing::verify_export(part, files);
    if (!problems.empty()) {
      std::cerr << "cephalo design: the written files do not match the built part:\n";
      for (const auto &p : problems) std::cerr << "  - " << p << "\n";
      return 1;
    }
    for (const auto &f : files) out["files"].push_back(f.path.string());
    if (want_preview) {
      if (preview.empty()) preview = fs::path(output).replace_extension(".png").string();
      if (!result.preview.empty())
        fs::copy_file(result.preview, preview, fs::copy_options::overwrite_existing);
      else
        meshing::render_preview(part, preview, options.preview);
      out["preview"] = preview;
    }
    write_trace();
    out["ok"] = true;
    out["spec"] = json::parse(meshing::design_spec_to_json(result.spec));
    out["report"] = json::parse(meshing::build_report_json(result.spec, part));
    out["report"].erase("spec");
    if (as_json) {
      std::cout << out.dump(2) << "\n";
      return 0;
    }
  } catch (const std::exception &e) {
    std::cerr << "cephalo design: " << e.what() << "\n";
    return 1;
  }

  const meshing::BuiltPart &part = *result.part;
  std::printf("spec from the %s", result.spec_source.c_str());
  if (!result.fallback.empty())
    std::printf(" (the model's was not used: %s)", result.fallback.c_str());
  std::printf("\n");
  if (!result.description.empty()) std::printf("  described: %s\n", result.description.c_str());
  print_readings("understood", result.understood);
  print_readings("assumed", result.assumed);
  for (const auto &u : result.unused) std::printf("  not used   %s\n", u.c_str());
  for (const auto &r : result.revisions) std::printf("  revised    %s\n", r.c_str());
  std::printf("'%s' built in round %d: edge %.3g mm, %zu triangles (mesh %.2f s, checks %.2f s)\n",
              part.name.c_str(), result.rounds, part.edge_length, part.triangles(),
              part.build_seconds, part.check_seconds);
  for (const auto &b : part.bodies)
    std::printf("  %-10s watertight, %zu piece(s), volume %.1f mm^3, density %.4f (expected "
                "%.4f), walls %.2f mm (5th percentile)\n",
                b.name.c_str(), b.report.bodies, b.report.volume, b.relative_density,
                b.reference_density, b.report.wall_estimate);
  for (const auto &f : out["files"]) std::printf("  wrote %s\n", f.get<std::string>().c_str());
  if (out.contains("preview"))
    std::printf("  wrote %s\n", out["preview"].get<std::string>().c_str());
  if (!spec_out.empty()) std::printf("  wrote %s\n", spec_out.c_str());
  if (!trace_out.empty()) std::printf("  wrote %s\n", trace_out.c_str());
  return 0;
}
