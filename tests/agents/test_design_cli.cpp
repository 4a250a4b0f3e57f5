// `cephalo design` end to end, through the cephalo entry point: the files it writes read back,
// and its exit status says what happened.
#define BOOST_TEST_MODULE agents_cli
#include <boost/test/unit_test.hpp>

#include "cephalo/meshing/check.h"
#include "cephalo/meshing/design_spec.h"
#include "cephalo/meshing/stl.h"
#ifdef CEPHALO_SERVE
#include "design_test_support.h"
#endif
#include "process.h"
#include "scratch_dir.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <iterator>

namespace fs = std::filesystem;
using namespace cephalo;
using cephalo::test::run_command;
using cephalo::test::ScratchDir;
using cephalo::test::shell_quote;
using nlohmann::json;

namespace {

const std::string kGyroid = "a gyroid scaffold 10 mm cube, 5 mm cells";

std::string design(const std::string &args)
{
  return shell_quote(CEPHALO) + " design " + args;
}

std::string read_text(const fs::path &path)
{
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}    // namespace

BOOST_AUTO_TEST_CASE(a_text_writes_a_watertight_stl_a_spec_a_trace_and_a_preview)
{
  ScratchDir dir;
  const auto r = run_command(dir.path(), design(shell_quote(kGyroid) +
                                                " -o part.stl --3mf --preview --spec-out spec.json "
                                                "--trace trace.json --preview-size 320x240"));
  BOOST_TEST_INFO(r.output);
  BOOST_TEST_REQUIRE(r.exit_code == 0);
  // what it understood, the checks and the files are reported
  BOOST_TEST(r.output.find("spec from the interpreter") != std::string::npos);
  BOOST_TEST(r.output.find("understood") != std::string::npos);
  BOOST_TEST(r.output.find("watertight") != std::string::npos);
  BOOST_TEST(r.output.find("wrote part.stl") != std::string::npos);
  BOOST_TEST(r.output.find("wrote part.3mf") != std::string::npos);

  const auto mesh = meshing::read_stl(dir / "part.stl");
  const auto check = meshing::check_mesh(mesh);
  BOOST_TEST(check.watertight());
  BOOST_TEST(check.bodies == 1u);
  BOOST_TEST(check.bbox_max[0] - check.bbox_min[0] == 10.0, boost::test_tools::tolerance(1e-3));

  const auto spec = meshing::parse_design_spec(read_text(dir / "spec.json"));
  BOOST_TEST(meshing::family_name(spec.pattern().family) == "tpms");
  BOOST_TEST(spec.pattern().tpms.cell_size == 5.0);
  const json trace = json::parse(read_text(dir / "trace.json"));
  BOOST_TEST(trace["ok"] == true);
  BOOST_TEST(trace["steps"][0]["step"] == "interpret");
  const std::string png = read_text(dir / "part.png");
  BOOST_TEST_REQUIRE(png.size() > 24u);
  BOOST_TEST(png.rfind("\x89PNG", 0) == 0u);
  // IHDR: width and height, big-endian, at bytes 16 and 20
  const auto be32 = [&](std::size_t at) {
    unsigned value = 0;
    for (std::size_t i = at; i < at + 4; ++i)
      value = value << 8 | static_cast<unsigned char>(png[i]);
    return value;
  };
  BOOST_TEST(be32(16) == 320u);
  BOOST_TEST(be32(20) == 240u);
  BOOST_TEST(read_text(dir / "part.3mf").rfind("PK", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(json_output_names_the_revision_of_walls_too_thin_to_print)
{
  ScratchDir dir;
  const auto r = run_command(dir.path(), design(shell_quote(kGyroid + ", walls 0.05 mm") +
                                                " -o thin.stl --json 2>/dev/null"));
  BOOST_TEST_INFO(r.output);
  BOOST_TEST_REQUIRE(r.exit_code == 0);
  const json out = json::parse(r.output);
  BOOST_TEST(out["ok"] == true);
  BOOST_TEST(out["spec"]["tpms"]["wall_thickness"] == 0.8);
  BOOST_TEST_REQUIRE(out["revisions"].size() == 1u);
  BOOST_TEST(out["revisions"][0].get<std::string>().find("tpms.wall_thickness 0.05 -> 0.8") == 0u);
  BOOST_TEST(out["files"][0] == "thin.stl");
  BOOST_TEST(meshing::check_mesh(meshing::read_stl(dir / "thin.stl")).watertight());
}

BOOST_AUTO_TEST_CASE(no_valid_part_exits_1_and_writes_no_mesh)
{
  ScratchDir dir;
  const auto r = run_command(dir.path(), design(shell_quote(kGyroid + ", walls 0.05 mm") +
                                                " -o thin.stl --rounds 1 --trace trace.json"));
  BOOST_TEST_INFO(r.output);
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.output.find("no valid part after 1 round(s)") != std::string::npos);
  BOOST_TEST(r.output.find("tpms.wall_thickness") != std::string::npos);
  BOOST_TEST(!fs::exists(dir / "thin.stl"));
  BOOST_TEST(json::parse(read_text(dir / "trace.json"))["ok"] == false);
}

BOOST_AUTO_TEST_CASE(nothing_to_build_and_bad_arguments_exit_2_with_a_message)
{
  ScratchDir dir;
  auto r = run_command(dir.path(), design("'please make something lovely' -o x.stl"));
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.output.find("nothing to build") != std::string::npos, r.output);
  BOOST_TEST(!fs::exists(dir / "x.stl"));

  r = run_command(dir.path(), design("-o x.stl"));
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.output.find("no design given") != std::string::npos, r.output);

  r = run_command(dir.path(), design("--image photo.png -o x.stl"));
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.output.find("--image needs a model") != std::string::npos, r.output);

  r = run_command(dir.path(), design(shell_quote(kGyroid) + " -o x.step"));
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.output.find(".step") != std::string::npos, r.output);

  r = run_command(dir.path(), design(shell_quote(kGyroid) + " --rounds many"));
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.output.find("--rounds needs a whole number") != std::string::npos, r.output);
}

#ifdef CEPHALO_SERVE
BOOST_AUTO_TEST_CASE(an_image_is_described_by_cephalo_serve_and_built)
{
  ScratchDir dir;
  auto r =
      run_command(dir.path(), design(shell_quote(kGyroid) + " -o first.stl --preview photo.png"));
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.output);
  cephalo::test::ServeProcess serve(CEPHALO_SERVE,
                                    {"--echo", "--bind", "tcp://127.0.0.1:0", "--quiet"});
  BOOST_TEST_REQUIRE(!serve.endpoint().empty());
  // the photo described by the server and built, with `options`: the JSON report
  const auto from_photo = [&](const std::string &options) {
    const auto run = run_command(dir.path(), design("--image photo.png " + shell_quote(kGyroid) +
                                                    " --endpoint " + serve.endpoint() + " " +
                                                    options + " --json 2>/dev/null"));
    BOOST_TEST_INFO(run.output);
    BOOST_TEST_REQUIRE(run.exit_code == 0);
    return json::parse(run.output);
  };
  const json out = from_photo("-o second.stl --retries 0");
  // the echo backend's description names what reached it: this image's bytes
  BOOST_TEST(out["description"].get<std::string>().find(
                 std::to_string(fs::file_size(dir / "photo.png")) + " bytes") != std::string::npos);
  BOOST_TEST(out["spec_source"] == "interpreter");
  BOOST_TEST(out["fallback"].get<std::string>().find("no valid spec in 1 answer(s)") !=
             std::string::npos);
  BOOST_TEST(meshing::check_mesh(meshing::read_stl(dir / "second.stl")).watertight());

  // --spec-by interpreter: the model only describes; no spec is asked of it, so no fallback
  const json interpreted = from_photo("-o third.stl --spec-by interpreter");
  BOOST_TEST(interpreted["spec_source"] == "interpreter");
  BOOST_TEST(!interpreted.contains("fallback"));
  BOOST_TEST(!interpreted["description"].get<std::string>().empty());
  BOOST_TEST(meshing::check_mesh(meshing::read_stl(dir / "third.stl")).watertight());
  r = run_command(dir.path(), design("--image photo.png --endpoint " + serve.endpoint() +
                                     " --spec-by nobody"));
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.output.find("--spec-by takes model or interpreter") != std::string::npos, r.output);
}
#endif
