// Meshing benchmark: every family at its default size (build time, triangles, check time), then
// a 20 mm gyroid cube (5 mm cells, 0.3 mm walls) to a validated mesh, next to manifold-3d's
// LevelSet on the same sheet at comparable edge lengths, its meshes put through the same checks.
//
//   bench_meshing [--families-only] [--edges E1,E2,...]
//
// manifold-3d runs under node from tests/bench/manifold (npm ci there first); without it the
// comparison rows say so.
#include "cephalo/meshing/build.h"
#include "cephalo/meshing/stl.h"

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

using namespace cephalo::meshing;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start)
{
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string run(const std::string &command)
{
  std::unique_ptr<FILE, int (*)(FILE *)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) return {};
  std::string out;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe.get())) out += buffer;
  return out;
}

// The fraction of the 20 mm cube within 0.15 mm of the gyroid by f / |grad f|, the sheet
// manifold-3d is given, from a fine jittered-free midpoint grid.
double first_order_sheet_fraction()
{
  const int n = 400;
  const double a = 5.0, k = 2.0 * M_PI / a, h = 20.0 / n;
  long inside = 0;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      for (int l = 0; l < n; ++l) {
        const double x = k * (i + 0.5) * h, y = k * (j + 0.5) * h, z = k * (l + 0.5) * h;
        const double sx = std::sin(x), sy = std::sin(y), sz = std::sin(z), cx = std::cos(x),
                     cy = std::cos(y), cz = std::cos(z);
        const double f = sx * cy + sy * cz + sz * cx;
        const double g = std::hypot(cx * cy - sz * sx, cy * cz - sx * sy, cz * cx - sy * sz);
        inside += std::abs(f / std::max(g, 1e-6) / k) <= 0.15;
      }
  return static_cast<double>(inside) / (static_cast<double>(n) * n * n);
}

void families()
{
  std::printf("Every family at its default size (one spec field: the family), %u threads\n\n",
              std::max(1u, std::thread::hardware_concurrency()));
  std::printf("| family | form (mm) | edge (mm) | triangles | mesh (s) | checks (s) | total (s) | "
              "density / expected | "
              "pieces | walls p05 (mm) |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|---|---:|---:|\n");
  for (const char *family :
       {"tpms", "honeycomb", "bouligand", "tubular", "cellular", "nacre", "spider_web"}) {
    const DesignSpec spec = parse_design_spec(std::string(R"({"family": ")") + family + "\"}");
    const auto start = Clock::now();
    try {
      const BuiltPart part = build_part(spec);
      const double total = seconds_since(start);
      std::string density, pieces, walls;
      for (const auto &b : part.bodies) {
        char cell[96];
        std::snprintf(cell, sizeof cell, "%s%.3f / %.3f", density.empty() ? "" : ", ",
                      b.relative_density, b.reference_density);
        density += cell;
        pieces += (pieces.empty() ? "" : ", ") + std::to_string(b.report.bodies);
        std::snprintf(cell, sizeof cell, "%s%.2f", walls.empty() ? "" : ", ",
                      b.report.wall_estimate);
        walls += cell;
      }
      std::printf("| %s | %gx%gx%g %s | %.3g | %zu | %.2f | %.2f | %.2f | %s | %s | %s |\n", family,
                  spec.form.size[0], spec.form.size[1], spec.form.size[2],
                  spec.form.shape == Shape::Box ? "box" : "cylinder", part.edge_length,
                  part.triangles(), part.build_seconds, part.check_seconds, total, density.c_str(),
                  pieces.c_str(), walls.c_str());
    } catch (const std::exception &e) {
      std::printf("| %s | | | | | | | failed: %s | | |\n", family, e.what());
    }
    std::fflush(stdout);
  }
}

void gyroid(const std::vector<double> &edges)
{
  std::printf(
      "\n20 mm gyroid cube, 5 mm cells, 0.3 mm walls: time to a mesh that passes every check\n\n");
  std::printf("| mesher | edge (mm) | mesh (s) | checks (s) | total (s) | triangles | genus | "
              "volume (mm^3) | "
              "vs its sheet | passes the checks |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
  const std::string spec_text = R"({"name": "gyroid_cube", "family": "tpms",
                                    "tpms": {"surface": "gyroid", "cell_size": 5, "wall_thickness": 0.3},
                                    "form": {"shape": "box", "size": [20, 20, 20]}, "printer": {"nozzle": 0.15}})";
  for (double edge : edges) {
    DesignSpec spec = parse_design_spec(spec_text);
    if (edge > 0.0) spec.quality.edge_length = edge;
    const auto start = Clock::now();
    try {
      const BuiltPart part = build_part(spec);
      const double total = seconds_since(start);
      const auto &b = part.bodies.front();
      std::printf("| Cephalo (%s) | %.4g | %.2f | %.2f | %.2f | %zu | %ld | %.1f | %+.2f%% | yes "
                  "(walls %.3f / %.3f mm) |\n",
                  edge > 0.0 ? "edge given" : "default edge", part.edge_length, part.build_seconds,
                  part.check_seconds, total, part.triangles(), b.report.genus, b.report.volume,
                  100.0 * (b.relative_density / b.reference_density - 1.0), b.report.wall_estimate,
                  b.report.wall_median);
    } catch (const std::exception &e) {
      std::printf("| Cephalo | %.4g | | | %.2f | | | | | no: %s |\n", edge, seconds_since(start),
                  e.what());
    }
    std::fflush(stdout);
  }

  const fs::path script = fs::path(CEPHALO_SOURCE_DIR) / "tests/bench/manifold/levelset.mjs";
  if (!fs::exists(script.parent_path() / "node_modules/manifold-3d") ||
      run("command -v node").empty()) {
    std::printf("| manifold-3d LevelSet | | | | | | | | | not installed: npm ci --prefix "
                "tests/bench/manifold |\n");
    return;
  }
  const fs::path dir = fs::temp_directory_path() / ("cephalo-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const double reference = first_order_sheet_fraction() * 8000.0;
  std::ostringstream command;
  command << "node '" << script.string() << "' '" << dir.string() << "'";
  for (double edge : {0.3125, 0.25, 0.2}) command << ' ' << edge;
  std::istringstream lines(run(command.str()));
  for (std::string line; std::getline(lines, line);) {
    const auto result = nlohmann::json::parse(line, nullptr, false);
    if (result.is_discarded()) continue;
    const auto start = Clock::now();
    const TriangleMesh mesh = read_stl(result["stl"].get<std::string>());
    const MeshReport report = check_mesh(mesh);
    const double checks = seconds_since(start);
    const double error = report.volume / reference - 1.0;
    std::string verdict = report.watertight() ? "yes" : "no: " + report.problems.front();
    if (report.watertight() && std::abs(error) > 0.03) verdict = "no: walls lost (volume)";
    const double seconds = result["seconds"].get<double>();
    char volume[64] = "(not closed)", deviation[32] = "";
    if (report.closed) {
      std::snprintf(volume, sizeof volume, "%.1f", report.volume);
      std::snprintf(deviation, sizeof deviation, "%+.2f%%", 100.0 * error);
    }
    std::printf("| manifold-3d LevelSet (node, 1 thread) | %.4g | %.2f | %.2f | %.2f | %zu | %ld | "
                "%s | %s | %s |\n",
                result["edge"].get<double>(), seconds, checks, seconds + checks, report.triangles,
                result["genus"].get<long>(), volume, deviation, verdict.c_str());
    std::fflush(stdout);
  }
  std::error_code ignored;
  fs::remove_all(dir, ignored);
  std::printf(
      "\n(manifold-3d is given the sheet |f/|grad f|| <= 0.15 mm, %.1f mm^3 at 1/50 mm resolution; "
      "Cephalo's "
      "sheet is within 0.15 mm of the surface by distance, so the two volumes differ by design.)\n",
      reference);
}

}    // namespace

int main(int argc, char **argv)
{
  bool only_families = false;
  std::vector<double> edges{0.0, 0.25, 0.2};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--families-only") {
      only_families = true;
    } else if (arg == "--edges" && i + 1 < argc) {
      edges.clear();
      std::istringstream list(argv[++i]);
      for (std::string item; std::getline(list, item, ',');) edges.push_back(std::stod(item));
    } else {
      std::fprintf(
          stderr,
          "usage: bench_meshing [--families-only] [--edges E1,E2,...] (0: the default edge)\n");
      return 2;
    }
  }
  families();
  if (!only_families) gyroid(edges);
  return 0;
}
