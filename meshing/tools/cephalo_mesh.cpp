// cephalo-mesh (run as `cephalo mesh`): builds a DesignSpec into checked meshes and writes them.
//
//   cephalo mesh spec.json|- -o part.stl [--3mf part.3mf] [--ply part.ply] [--obj part.obj]
//                [--preview part.png [--preview-size WxH]] [--report report.json]
//                [--spec-out full.json]
//                [--no-printability] [--quiet]
//   cephalo mesh --schema        print the DesignSpec JSON Schema
//
// Exit status: 0 done, 1 the part failed a check or cannot be printed, 2 bad arguments or spec.
#include "cephalo/meshing/build.h"
#include "cephalo/meshing/export.h"
#include "cephalo/meshing/preview.h"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

using namespace cephalo::meshing;

namespace {

const char *kUsage =
    "usage: cephalo mesh SPEC.json|- -o PART.stl [--3mf PART.3mf] [--ply PART.ply] [--obj "
    "PART.obj]\n"
    "                    [--preview PART.png [--preview-size WxH]] [--report REPORT.json]\n"
    "                    [--spec-out FULL.json]\n"
    "                    [--no-printability] [--quiet]\n"
    "       cephalo mesh --schema\n";

int usage_error(const std::string &message)
{
  std::cerr << "cephalo mesh: " << message << "\n" << kUsage;
  return 2;
}

std::string read_file(const std::string &path)
{
  if (path == "-") {
    std::ostringstream text;
    text << std::cin.rdbuf();
    return text.str();
  }
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const std::string &path, const std::string &text)
{
  std::ofstream out(path);
  if (!(out << text)) throw std::runtime_error("cannot write " + path);
}

// One line per stage; on a terminal the line also counts up.
class Progress {
 public:
  explicit Progress(bool quiet) : quiet_(quiet), tty_(isatty(STDERR_FILENO) != 0) {}
  void operator()(const std::string &stage, double fraction)
  {
    if (quiet_) return;
    const int percent = static_cast<int>(fraction * 100.0);
    if (stage != stage_) {
      if (tty_ && !stage_.empty()) std::cerr << "\n";
      stage_ = stage;
      percent_ = -1;
      if (!tty_) std::cerr << "cephalo mesh: " << stage << "...\n";
    }
    if (tty_ && percent != percent_) {
      percent_ = percent;
      std::cerr << "\rcephalo mesh: " << stage << " " << percent << "%" << std::flush;
    }
  }
  void done()
  {
    if (!quiet_ && tty_ && !stage_.empty()) std::cerr << "\n";
  }

 private:
  bool quiet_, tty_;
  std::string stage_;
  int percent_ = -1;
};

}    // namespace

int main(int argc, char **argv)
{
  std::string spec_path, report_path, spec_out, preview_path;
  PreviewOptions preview_options;
  std::vector<std::string> outputs;
  bool printability = true, quiet = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    try {
      if (arg == "--schema") {
        std::cout << design_spec_schema();
        return 0;
      } else if (arg == "-o" || arg == "--output" || arg == "--3mf" || arg == "--ply" ||
                 arg == "--obj") {
        outputs.push_back(value());
      } else if (arg == "--preview") {
        preview_path = value();
      } else if (arg == "--preview-size") {
        parse_preview_size(value(), preview_options);
      } else if (arg == "--report") {
        report_path = value();
      } else if (arg == "--spec-out") {
        spec_out = value();
      } else if (arg == "--no-printability") {
        printability = false;
      } else if (arg == "--quiet" || arg == "-q") {
        quiet = true;
      } else if (arg == "-h" || arg == "--help") {
        std::cout << kUsage;
        return 0;
      } else if (arg.size() > 1 && arg[0] == '-') {
        return usage_error("unknown option " + arg);
      } else if (spec_path.empty()) {
        spec_path = arg;
      } else {
        return usage_error("more than one spec given: " + arg);
      }
    } catch (const std::invalid_argument &e) {
      return usage_error(e.what());
    }
  }
  if (spec_path.empty()) return usage_error("no spec given");
  for (const auto &o : outputs) {
    try {
      mesh_format(o);
    } catch (const std::invalid_argument &e) {
      return usage_error(e.what());
    }
  }

  // a failure is reported in the report too, for programs that read it rather than stderr
  auto failed = [&](int status, const std::string &kind, const std::string &message,
                    const std::string &field, const std::vector<std::string> &reasons) {
    if (!report_path.empty()) {
      nlohmann::json report = {
          {"ok", false}, {"error", kind}, {"message", message}, {"reasons", reasons}};
      if (!field.empty()) report["field"] = field;
      try {
        write_file(report_path, report.dump(2) + "\n");
      } catch (const std::exception &e) {
        std::cerr << "cephalo mesh: " << e.what() << "\n";
      }
    }
    return status;
  };

  DesignSpec spec;
  try {
    spec = parse_design_spec(read_file(spec_path));
  } catch (const SpecError &e) {
    std::cerr << "cephalo mesh: " << spec_path << ": " << e.what() << "\n";
    return failed(2, "spec", e.what(), e.field(), {});
  } catch (const std::exception &e) {
    std::cerr << "cephalo mesh: " << e.what() << "\n";
    return failed(2, "input", e.what(), "", {});
  }

  Progress progress(quiet);
  BuildOptions options;
  options.check_printability = printability;
  options.progress = [&](const std::string &stage, double f) { progress(stage, f); };
  const auto start = std::chrono::steady_clock::now();
  try {
    const BuiltPart part = build_part(spec, options);
    progress("writing", 0.0);
    std::vector<ExportedFile> files;
    for (const auto &o : outputs) {
      const auto written = export_part(part, o);
      files.insert(files.end(), written.begin(), written.end());
    }
    const auto problems = verify_export(part, files);
    if (!preview_path.empty()) render_preview(part, preview_path, preview_options);
    if (!report_path.empty()) write_file(report_path, build_report_json(spec, part) + "\n");
    if (!spec_out.empty()) write_file(spec_out, design_spec_to_json(spec) + "\n");
    progress.done();
    if (!problems.empty()) {
      std::cerr << "cephalo mesh: the written files do not match the built part:\n";
      for (const auto &p : problems) std::cerr << "  - " << p << "\n";
      return failed(1, "export", "the written files do not match the built part", "", problems);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!quiet) {
      std::fprintf(stderr,
                   "cephalo mesh: '%s' built in %.2f s (mesh %.2f s, checks %.2f s), edge %.3g mm, "
                   "%zu triangles\n",
                   part.name.c_str(), seconds, part.build_seconds, part.check_seconds,
                   part.edge_length, part.triangles());
      for (const auto &b : part.bodies)
        std::fprintf(stderr,
                     "  %-10s watertight, %zu piece(s), volume %.1f mm^3, density %.4f (expected "
                     "%.4f), walls %.2f mm (5th percentile)\n",
                     b.name.c_str(), b.report.bodies, b.report.volume, b.relative_density,
                     b.reference_density, b.report.wall_estimate);
      for (const auto &f : files) std::fprintf(stderr, "  wrote %s\n", f.path.c_str());
      for (const auto &n : part.notes) std::fprintf(stderr, "  note: %s\n", n.c_str());
    }
    return 0;
  } catch (const SpecError &e) {
    progress.done();
    std::cerr << "cephalo mesh: " << spec_path << ": " << e.what() << "\n";
    return failed(2, "spec", e.what(), e.field(), {});
  } catch (const BuildError &e) {
    progress.done();
    std::cerr << "cephalo mesh: " << e.what() << ":\n";
    for (const auto &r : e.reasons()) std::cerr << "  - " << r << "\n";
    return failed(1, "build", e.what(), "", e.reasons());
  } catch (const std::exception &e) {
    progress.done();
    std::cerr << "cephalo mesh: " << e.what() << "\n";
    return failed(1, "io", e.what(), "", {});
  }
}
