// Export to STL, 3MF, PLY and OBJ read back and checked again, the preview picture, and the
// cephalo-mesh command with its exit codes and report.
#define BOOST_TEST_MODULE export
#include <boost/test/unit_test.hpp>

#include "cephalo/meshing/build.h"
#include "cephalo/meshing/export.h"
#include "cephalo/meshing/preview.h"
#include "cephalo/meshing/stl.h"
#include "process.h"
#include "scratch_dir.h"

#include <nlohmann/json.hpp>
#include <png.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using namespace cephalo::meshing;
using cephalo::test::run_command;
using cephalo::test::ScratchDir;
using cephalo::test::shell_quote;
using nlohmann::json;

namespace {

const char *kNacre = R"({"name": "nacre", "family": "nacre",
                         "nacre": {"tablet_length": 5, "tablet_thickness": 1.2, "gap": 0.8},
                         "form": {"shape": "box", "size": [12, 12, 5]}})";
const char *kGyroid =
    R"({"name": "cube", "family": "tpms", "tpms": {"cell_size": 5, "wall_thickness": 0.9},
                          "form": {"shape": "box", "size": [10, 10, 10]}})";

const BuiltPart &nacre()
{
  static const BuiltPart part = build_part(parse_design_spec(kNacre));
  return part;
}

std::string read_text(const fs::path &path)
{
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// width, height and the fraction of pixels that differ from the top-left one (the background)
struct Picture {
  unsigned width = 0, height = 0;
  double covered = 0.0;
};

Picture read_png(const fs::path &path)
{
  Picture picture;
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image, path.c_str())) return picture;
  image.format = PNG_FORMAT_RGB;
  std::vector<unsigned char> pixels(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, pixels.data(), 0, nullptr)) return picture;
  picture.width = image.width;
  picture.height = image.height;
  std::size_t differ = 0;
  for (std::size_t i = 0; i < pixels.size(); i += 3)
    differ += pixels[i] != pixels[0] || pixels[i + 1] != pixels[1] || pixels[i + 2] != pixels[2];
  picture.covered = static_cast<double>(differ) / (image.width * image.height);
  return picture;
}

}    // namespace

BOOST_AUTO_TEST_CASE(every_format_reads_back_as_built)
{
  ScratchDir dir;
  const BuiltPart &part = nacre();
  std::vector<ExportedFile> files;
  for (const char *name : {"part.stl", "part.3mf", "part.ply", "part.obj"}) {
    const auto written = export_part(part, dir / name);
    files.insert(files.end(), written.begin(), written.end());
  }
  // two bodies: one file each in STL, PLY and OBJ, both objects in one 3MF
  BOOST_TEST(files.size() == 7u);
  BOOST_TEST(fs::exists(dir / "part.tablets.stl"));
  BOOST_TEST(fs::exists(dir / "part.matrix.stl"));
  BOOST_TEST(fs::exists(dir / "part.3mf"));
  const auto problems = verify_export(part, files);
  for (const auto &p : problems) BOOST_TEST_MESSAGE(p);
  BOOST_TEST(problems.empty());

  // binary STL: 80-byte header, count, 50 bytes a triangle
  const auto &tablets = part.bodies.front();
  BOOST_TEST(fs::file_size(dir / "part.tablets.stl") == 84u + 50u * tablets.mesh.triangles.size());
}

BOOST_AUTO_TEST_CASE(a_file_changed_after_writing_is_caught)
{
  ScratchDir dir;
  const BuiltPart &part = nacre();
  const auto files = export_part(part, dir / "part.stl");
  // move one corner of one triangle by a millimetre
  {
    std::fstream stl(dir / "part.tablets.stl", std::ios::in | std::ios::out | std::ios::binary);
    stl.seekg(84 + 12);
    float x;
    stl.read(reinterpret_cast<char *>(&x), 4);
    x += 1.0f;
    stl.seekp(84 + 12);
    stl.write(reinterpret_cast<const char *>(&x), 4);
  }
  const auto problems = verify_export(part, files);
  BOOST_REQUIRE(!problems.empty());
  BOOST_TEST(problems.front().find("part.tablets.stl") != std::string::npos, problems.front());
}

BOOST_AUTO_TEST_CASE(the_preview_shows_the_part)
{
  ScratchDir dir;
  render_preview(nacre(), dir / "nacre.png", {320, 240, 35.0, 28.0});
  const Picture picture = read_png(dir / "nacre.png");
  BOOST_TEST(picture.width == 320u);
  BOOST_TEST(picture.height == 240u);
  BOOST_TEST(picture.covered > 0.2);
  BOOST_TEST(picture.covered < 0.95);
}

BOOST_AUTO_TEST_SUITE(command)

const std::string kMesh = shell_quote(CEPHALO_MESH_EXE);

BOOST_AUTO_TEST_CASE(builds_writes_and_reports)
{
  ScratchDir dir;
  std::ofstream(dir / "cube.json") << kGyroid;
  const auto run = run_command(
      dir.path(), kMesh + " cube.json -o cube.stl --3mf cube.3mf --obj cube.obj "
                          "--preview cube.png --report report.json --spec-out full.json");
  BOOST_TEST_REQUIRE(run.exit_code == 0, run.output);
  for (const char *name :
       {"cube.stl", "cube.3mf", "cube.obj", "cube.png", "report.json", "full.json"})
    BOOST_TEST(fs::file_size(dir / name) > 100u, name);
  const json report = json::parse(read_text(dir / "report.json"));
  BOOST_TEST(report["ok"].get<bool>());
  BOOST_TEST(report["bodies"].size() == 1u);
  BOOST_TEST(report["bodies"][0]["watertight"].get<bool>());
  BOOST_TEST(report["bodies"][0]["pieces"].get<int>() == 1);
  // the full spec has every default and builds the same part
  BOOST_TEST(parse_design_spec(read_text(dir / "full.json")).pattern().tpms.cell_size == 5.0);
  // what it wrote is what a reader gets
  BOOST_TEST(check_mesh(read_stl(dir / "cube.stl")).watertight());
}

BOOST_AUTO_TEST_CASE(the_preview_has_the_size_asked_for)
{
  ScratchDir dir;
  std::ofstream(dir / "cube.json") << kGyroid;
  auto run = run_command(dir.path(), kMesh + " cube.json -o cube.stl --quiet --preview square.png "
                                             "--preview-size 384");
  BOOST_TEST_REQUIRE(run.exit_code == 0, run.output);
  Picture picture = read_png(dir / "square.png");
  BOOST_TEST(picture.width == 384u);
  BOOST_TEST(picture.height == 384u);
  run = run_command(dir.path(), kMesh + " cube.json -o cube.stl --quiet --preview wide.png "
                                        "--preview-size 320x200");
  BOOST_TEST_REQUIRE(run.exit_code == 0, run.output);
  picture = read_png(dir / "wide.png");
  BOOST_TEST(picture.width == 320u);
  BOOST_TEST(picture.height == 200u);
  for (const char *bad : {"12", "320x", "x200", "320x200x2", "big", "99999"}) {
    run = run_command(dir.path(),
                      kMesh + " cube.json -o bad.stl --preview bad.png --preview-size " + bad);
    BOOST_TEST(run.exit_code == 2, bad);
    BOOST_TEST(run.output.find("expected WIDTHxHEIGHT or SIZE") != std::string::npos, run.output);
  }
  BOOST_TEST(!fs::exists(dir / "bad.stl"));
}

BOOST_AUTO_TEST_CASE(reads_the_spec_from_standard_input)
{
  ScratchDir dir;
  std::ofstream(dir / "cube.json") << kGyroid;
  const auto run = run_command(dir.path(), "cat cube.json | " + kMesh + " - -o cube.stl --quiet");
  BOOST_TEST(run.exit_code == 0, run.output);
  BOOST_TEST(run.output.empty(), run.output);
  BOOST_TEST(fs::exists(dir / "cube.stl"));
}

BOOST_AUTO_TEST_CASE(a_bad_spec_exits_2_naming_the_field)
{
  ScratchDir dir;
  std::ofstream(dir / "bad.json") << R"({"family": "tpms", "tpms": {"cell_size": -3}})";
  const auto run = run_command(dir.path(), kMesh + " bad.json -o bad.stl --report report.json");
  BOOST_TEST(run.exit_code == 2);
  BOOST_TEST(run.output.find("tpms.cell_size: -3 is outside the range") != std::string::npos,
             run.output);
  BOOST_TEST(!fs::exists(dir / "bad.stl"));
  const json report = json::parse(read_text(dir / "report.json"));
  BOOST_TEST(!report["ok"].get<bool>());
  BOOST_TEST(report["field"] == "tpms.cell_size");

  std::ofstream(dir / "junk.json") << "\x89PNG not json";
  BOOST_TEST(run_command(dir.path(), kMesh + " junk.json -o junk.stl").exit_code == 2);
  BOOST_TEST(run_command(dir.path(), kMesh + " missing.json -o x.stl").exit_code == 2);
  BOOST_TEST(run_command(dir.path(), kMesh + " bad.json --frobnicate").exit_code == 2);
  BOOST_TEST(run_command(dir.path(), kMesh + " bad.json -o part.step").exit_code == 2);
}

BOOST_AUTO_TEST_CASE(a_part_that_fails_its_checks_or_the_printer_exits_1)
{
  ScratchDir dir;
  // walls thinner than the grid, refinement off
  std::ofstream(dir / "coarse.json")
      << R"({"family": "honeycomb", "honeycomb": {"cell_size": 5, "wall_thickness": 0.8},
                                           "form": {"shape": "box", "size": [15, 17.320508, 5]},
                                           "quality": {"edge_length": 1.0, "refine": false}})";
  auto run = run_command(
      dir.path(), kMesh + " coarse.json -o coarse.stl --report report.json --no-printability");
  BOOST_TEST(run.exit_code == 1);
  BOOST_TEST(run.output.find("separate pieces") != std::string::npos, run.output);
  BOOST_TEST(!fs::exists(dir / "coarse.stl"));
  const json report = json::parse(read_text(dir / "report.json"));
  BOOST_TEST(report["error"] == "build");
  BOOST_TEST(report["reasons"].size() >= 1u);

  // larger than the printer
  std::ofstream(dir / "large.json") << R"({"family": "tpms", "form": {"size": [20, 20, 20]},
                                          "transform": {"scale": [15, 1, 1]}})";
  run = run_command(dir.path(), kMesh + " large.json -o large.stl");
  BOOST_TEST(run.exit_code != 0);
  BOOST_TEST(run.output.find("build volume") != std::string::npos, run.output);
}

BOOST_AUTO_TEST_CASE(prints_the_schema)
{
  ScratchDir dir;
  const auto run = run_command(dir.path(), kMesh + " --schema > schema.json");
  BOOST_TEST(run.exit_code == 0);
  BOOST_TEST(read_text(dir / "schema.json") == design_spec_schema());
}

BOOST_AUTO_TEST_SUITE_END()
