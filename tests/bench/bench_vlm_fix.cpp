// What fix cephalo/vlm costs a simulation. Prints two Markdown tables:
//  1. examples/crack (2 ranks, 5000 steps, a snapshot every 250 steps, async) against a running
//     cephalo-serve: wall time with the fix over wall time without it (median of repeats,
//     alternating), for the whole lmp process and for LAMMPS's own loop time;
//  2. a 3d Lennard-Jones box of about a million atoms on 2 ranks with the fix and LAMMPS's own
//     `dump image` at the same image size and frequency in the same run: per snapshot, the
//     fix's drawing and compositing on the ranks (render_ms of its records) and its PNG encoding
//     on rank 0's worker thread (encode_ms), next to dump image's time (LAMMPS's Output timer
//     over the number of images; it draws and encodes on the simulation's thread).
//
//   bench_vlm_fix --lmp LMP --plugin cephaloplugin.so --serve cephalo-serve [--model DIR]
//                 [--repeats 3] [--steps 5000] [--cells 63] [--steps-3d 20] [--size 512]
//
// Without --model the server runs --echo (the transport alone), which isolates the fix's own
// cost; with a model the model's CPU use on the same cores shows too.
#include "process.h"
#include "serve_process.h"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using cephalo::test::shell_quote;

namespace {

struct Options {
  std::string lmp, plugin, serve, model, mpiexec = "mpirun";
  std::string example = CEPHALO_EXAMPLES "/crack/in.crack";
  std::string prompt = CEPHALO_EXAMPLES "/crack/stress_prompt.txt";
  int repeats = 3, steps = 5000, every = 250, cells = 63, steps_3d = 20, every_3d = 10, size = 512;
};

struct Run {
  double wall = 0, loop = 0, output = 0, modify = 0;
};

double median(std::vector<double> v)
{
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// Runs lmp on 2 ranks in `dir`; returns the process wall time and LAMMPS's timers.
Run run_lmp(const Options &o, const fs::path &dir, const std::string &input,
            const std::vector<std::pair<std::string, std::string>> &vars)
{
  std::ostringstream command;
  command << "cd " << shell_quote(dir.string()) << " && " << o.mpiexec
          << " --allow-run-as-root --oversubscribe -np 2 " << shell_quote(o.lmp) << " -in "
          << shell_quote(input) << " -log log.lammps -screen none -var plugin "
          << shell_quote(o.plugin);
  for (const auto &[k, v] : vars) command << " -var " << k << ' ' << shell_quote(v);
  command << " > screen.txt 2>&1";
  const auto start = std::chrono::steady_clock::now();
  const int status = std::system(command.str().c_str());
  Run run;
  run.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::ifstream log(dir / "log.lammps");
  std::stringstream text;
  text << log.rdbuf();
  const std::string s = text.str();
  if (status != 0) {
    std::fprintf(stderr, "lmp failed in %s:\n%s\n", dir.c_str(), s.substr(s.size() > 3000 ? s.size() - 3000 : 0).c_str());
    std::exit(1);
  }
  // the last run's figures
  const std::regex loop_line(R"(Loop time of ([0-9.eE+-]+))");
  for (auto it = std::sregex_iterator(s.begin(), s.end(), loop_line); it != std::sregex_iterator();
       ++it)
    run.loop = std::stod((*it)[1]);
  auto section = [&](const std::string &name) {
    double value = 0;
    const std::regex row("\\n" + name + R"(\s*\|\s*[0-9.eE+-]+\s*\|\s*([0-9.eE+-]+))");
    for (auto it = std::sregex_iterator(s.begin(), s.end(), row); it != std::sregex_iterator(); ++it)
      value = std::stod((*it)[1]);
    return value;    // the average over ranks
  };
  run.output = section("Output");
  run.modify = section("Modify");
  return run;
}

std::vector<nlohmann::json> records(const fs::path &path)
{
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

void crack_overhead(const Options &o, const fs::path &work)
{
  std::vector<std::string> args = {"--bind", "tcp://127.0.0.1:0", "--quiet"};
  if (o.model.empty()) {
    args.insert(args.begin(), "--echo");
  } else {
    args.insert(args.begin(), {"--model", o.model});
  }
  cephalo::test::ServeProcess serve(o.serve, args);
  if (serve.endpoint().empty()) {
    std::fprintf(stderr, "cephalo-serve did not start\n");
    std::exit(1);
  }
  const std::vector<std::pair<std::string, std::string>> base = {
      {"steps", std::to_string(o.steps)}};
  auto with_fix = base;
  with_fix.insert(with_fix.end(), {{"vlm", "yes"},
                                   {"vlm_endpoint", serve.endpoint()},
                                   {"vlm_every", std::to_string(o.every)},
                                   {"vlm_prompt", o.prompt}});
  std::vector<double> wall0, wall1, loop0, loop1;
  std::size_t answered = 0, snapshots = 0;
  for (int r = 0; r < o.repeats; ++r) {
    const fs::path d0 = work / ("crack-plain-" + std::to_string(r)),
                   d1 = work / ("crack-vlm-" + std::to_string(r));
    fs::create_directories(d0);
    fs::create_directories(d1);
    const Run a = run_lmp(o, d0, o.example, base);
    const Run b = run_lmp(o, d1, o.example, with_fix);
    wall0.push_back(a.wall);
    loop0.push_back(a.loop);
    wall1.push_back(b.wall);
    loop1.push_back(b.loop);
    for (const auto &rec : records(d1 / "vlm.jsonl")) {
      ++snapshots;
      answered += rec["status"] == "ok";
    }
  }
  serve.stop(SIGTERM);
  std::printf("\n### fix cephalo/vlm on examples/crack (2 ranks, %d steps, a snapshot every %d steps, async, cephalo-serve %s)\n\n",
              o.steps, o.every, o.model.empty() ? "--echo" : "--model");
  std::printf("| | without the fix (s) | with the fix (s) | with / without |\n|---|---:|---:|---:|\n");
  std::printf("| lmp process wall time | %.2f | %.2f | %.3f |\n", median(wall0), median(wall1),
              median(wall1) / median(wall0));
  std::printf("| LAMMPS loop time | %.2f | %.2f | %.3f |\n", median(loop0), median(loop1),
              median(loop1) / median(loop0));
  std::printf("\nmedians of %d alternating runs; %zu of %zu snapshots answered\n", o.repeats, answered,
              snapshots);
}

void render_versus_dump_image(const Options &o, const fs::path &work)
{
  const fs::path dir = work / "box3d";
  fs::create_directories(dir);
  const int images = o.steps_3d / o.every_3d + 1;
  std::ofstream(dir / "in.box") << "plugin load ${plugin}\n"
                                   "units lj\natom_style atomic\nlattice fcc 0.8442\n"
                                   "region box block 0 ${cells} 0 ${cells} 0 ${cells}\n"
                                   "create_box 1 box\ncreate_atoms 1 box\nmass 1 1.0\n"
                                   "velocity all create 1.44 87287 loop geom\n"
                                   "pair_style lj/cut 2.5\npair_coeff 1 1 1.0 1.0 2.5\n"
                                   "neighbor 0.3 bin\nneigh_modify delay 0 every 20 check no\n"
                                   "compute pe all pe/atom\n"
                                   "fix nve all nve\nthermo 1000\n"
                                   "fix vlm all cephalo/vlm ${every} color c_pe view 60 30 size ${size} ${size} endpoint none output vlm.jsonl\n"
                                   "dump img all image ${every} img.*.png c_pe type view 60 30 size ${size} ${size}\n"
                                   "dump_modify img amap min max cf 0.0 2 min blue max red\n"
                                   "run ${steps}\n";
  const Run run = run_lmp(o, dir, (dir / "in.box").string(),
                          {{"cells", std::to_string(o.cells)},
                           {"every", std::to_string(o.every_3d)},
                           {"size", std::to_string(o.size)},
                           {"steps", std::to_string(o.steps_3d)}});
  std::vector<double> render, encode;
  for (const auto &rec : records(dir / "vlm.jsonl")) {
    render.push_back(rec.value("render_ms", 0.0));
    encode.push_back(rec.value("encode_ms", 0.0));
  }
  const double atoms = 4.0 * o.cells * o.cells * o.cells;
  const double dump_ms = 1000.0 * run.output / images;
  std::printf("\n### %.0f atoms, 3d, 2 ranks: one %dx%d snapshot every %d steps, %d of each in one run\n\n",
              atoms, o.size, o.size, o.every_3d, images);
  std::printf("| | per snapshot (ms) |\n|---|---:|\n");
  std::printf("| fix cephalo/vlm: draw + composite on the ranks (median render_ms) | %.1f |\n",
              median(render));
  std::printf("| fix cephalo/vlm: colour bar + PNG on rank 0's worker (median encode_ms) | %.1f |\n",
              median(encode));
  std::printf("| dump image: Output timer / images (draw, composite, PNG on the ranks) | %.1f |\n",
              dump_ms);
  std::printf("\nthe fix's simulation-thread cost over dump image's: %.2f; with its worker's encoding: %.2f (loop %.1f s)\n",
              median(render) / dump_ms, (median(render) + median(encode)) / dump_ms, run.loop);
}

}    // namespace

int main(int argc, char **argv)
{
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--lmp") o.lmp = value();
    else if (a == "--plugin") o.plugin = value();
    else if (a == "--serve") o.serve = value();
    else if (a == "--model") o.model = value();
    else if (a == "--mpiexec") o.mpiexec = value();
    else if (a == "--repeats") o.repeats = std::stoi(value());
    else if (a == "--steps") o.steps = std::stoi(value());
    else if (a == "--cells") o.cells = std::stoi(value());
    else if (a == "--steps-3d") o.steps_3d = std::stoi(value());
    else if (a == "--size") o.size = std::stoi(value());
    else {
      std::fprintf(stderr,
                   "usage: bench_vlm_fix --lmp LMP --plugin cephaloplugin.so --serve cephalo-serve "
                   "[--model DIR] [--repeats N] [--steps N] [--cells N] [--steps-3d N] [--size PX]\n");
      return 2;
    }
  }
  if (o.lmp.empty() || o.plugin.empty() || o.serve.empty()) {
    std::fprintf(stderr, "bench_vlm_fix needs --lmp, --plugin and --serve\n");
    return 2;
  }
  // the runs happen in folders of their own
  for (std::string *path : {&o.lmp, &o.plugin, &o.serve, &o.model})
    if (!path->empty()) *path = fs::absolute(*path).string();
  const fs::path work = fs::temp_directory_path() / ("cephalo-bench-vlm-" + std::to_string(::getpid()));
  fs::create_directories(work);
  crack_overhead(o, work);
  if (o.cells > 0) render_versus_dump_image(o, work);
  fs::remove_all(work);
  return 0;
}
