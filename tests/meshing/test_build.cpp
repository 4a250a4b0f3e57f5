// Building designs: every family and form passes every check, densities match closed-form
// values, and meshes too coarse for their walls are caught.
#define BOOST_TEST_MODULE build
#include <boost/test/unit_test.hpp>

#include "cephalo/meshing/build.h"

#include <cmath>
#include <stdexcept>

using namespace cephalo::meshing;

namespace {

BuiltPart build(const std::string &json, bool printable = true)
{
  BuildOptions options;
  options.check_printability = printable;
  try {
    return build_part(parse_design_spec(json), options);
  } catch (const BuildError &e) {
    std::string reasons;
    for (const auto &r : e.reasons()) reasons += "\n  " + r;
    throw std::runtime_error(e.what() + reasons);
  }
}

// Every body watertight, manifold, outward, not self-intersecting, in the expected number of
// pieces, with its density where the build expected it.
void expect_sound(const BuiltPart &part, std::size_t bodies = 1)
{
  BOOST_TEST_REQUIRE(part.bodies.size() == bodies);
  for (const auto &b : part.bodies) {
    BOOST_TEST_CONTEXT(part.name << " / " << b.name)
    {
      BOOST_TEST(b.report.watertight());
      for (const auto &p : b.report.problems) BOOST_TEST_MESSAGE(p);
      BOOST_TEST(b.report.manifold);
      BOOST_TEST(b.report.outward);
      BOOST_TEST(!b.report.self_intersecting);
      if (b.expected_pieces > 0)
        BOOST_TEST(b.report.bodies == static_cast<std::size_t>(b.expected_pieces));
      BOOST_TEST(std::abs(b.relative_density - b.reference_density) <= 0.03 * b.reference_density);
      BOOST_TEST(b.report.triangles > 1000u);
      BOOST_TEST(b.report.wall_estimate > 0.0);
    }
  }
}

// Relative density of a sheet of thickness t about a triply periodic minimal surface of cell
// size a: the surface's area per cell a^2 c, plus the curvature term of a parallel shell,
// (t^3 / 12) * 2 pi chi per cell (chi: Euler characteristic per cubic cell).
double sheet_density(double area_per_cell, int euler, double t, double a)
{
  const double x = t / a;
  return area_per_cell * x + M_PI * euler / 6.0 * x * x * x;
}

}    // namespace

BOOST_AUTO_TEST_SUITE(families)

BOOST_AUTO_TEST_CASE(tpms_sheet_and_network)
{
  expect_sound(
      build(R"({"name": "gyroid", "family": "tpms", "tpms": {"cell_size": 5, "wall_thickness": 0.9},
                          "form": {"shape": "box", "size": [10, 10, 10]}})"));
  expect_sound(build(R"({"name": "p_network", "family": "tpms",
                          "tpms": {"surface": "schwarz_p", "kind": "network", "cell_size": 5, "relative_density": 0.35},
                          "form": {"shape": "box", "size": [10, 10, 10]}})"));
}

BOOST_AUTO_TEST_CASE(honeycomb_with_a_face_sheet)
{
  expect_sound(build(R"({"name": "honeycomb", "family": "honeycomb",
                          "honeycomb": {"cell_size": 5, "wall_thickness": 0.9, "face_sheets": {"bottom": 1}},
                          "form": {"shape": "box", "size": [16, 16, 5]}})"));
}

BOOST_AUTO_TEST_CASE(bouligand_rectangular_and_cylindrical_fibres)
{
  expect_sound(
      build(R"({"name": "plies", "family": "bouligand", "bouligand": {"layers": 5, "rotation": 36},
                          "form": {"shape": "box", "size": [12, 12, 5]}})"));
  expect_sound(build(R"({"name": "round_plies", "family": "bouligand",
                          "bouligand": {"layers": 7, "rotation": 30, "rotation_noise": 5, "fibre_shape": "cylindrical",
                                        "fibre_width": 0.9, "fibre_spacing": 1.5},
                          "form": {"shape": "box", "size": [12, 12, 5]}})"));
}

BOOST_AUTO_TEST_CASE(tubular_with_cortical_rings)
{
  expect_sound(build(R"({"name": "osteons", "family": "tubular",
                          "tubular": {"count": 4, "radius": 1.2, "ellipticity": 0.2, "placement": "jittered", "rings": 1,
                                      "ring_spacing": 1.2, "ring_gap": 0.4},
                          "form": {"shape": "box", "size": [14, 14, 6]}})"));
  expect_sound(build(
      R"({"name": "radial", "family": "tubular", "tubular": {"count": 7, "radius": 1.0, "placement": "radial"},
                          "form": {"shape": "cylinder", "size": [16, 16, 6]}})"));
}

BOOST_AUTO_TEST_CASE(each_channel_through_a_block_is_a_handle)
{
  const BuiltPart part =
      build(R"({"name": "channels", "family": "tubular", "tubular": {"count": 4, "radius": 1.2},
                                   "form": {"shape": "box", "size": [10, 10, 6]}})");
  expect_sound(part);
  BOOST_TEST(part.bodies[0].report.genus == 4);
}

BOOST_AUTO_TEST_CASE(cellular_walls_and_struts_with_face_sheets)
{
  expect_sound(build(R"({"name": "foam", "family": "cellular",
                          "cellular": {"cells": 10, "thickness": 0.9, "face_sheets": {"top": 1, "bottom": 1}},
                          "form": {"shape": "box", "size": [12, 12, 8]}})"));
  expect_sound(build(R"({"name": "struts", "family": "cellular",
                          "cellular": {"cells": 8, "kind": "struts", "thickness": 1.2, "smoothing": 0.5},
                          "form": {"shape": "box", "size": [12, 12, 12]}})"));
}

BOOST_AUTO_TEST_CASE(nacre_is_two_bodies)
{
  const BuiltPart part = build(R"({"name": "nacre", "family": "nacre",
                                   "nacre": {"tablet_length": 5, "tablet_thickness": 1.2, "gap": 0.8},
                                   "form": {"shape": "box", "size": [12, 12, 5]}})");
  expect_sound(part, 2);
  BOOST_TEST(part.bodies[0].name == "tablets");
  BOOST_TEST(part.bodies[0].report.bodies > 10u);    // separate tablets
  BOOST_TEST(part.bodies[1].name == "matrix");
  BOOST_TEST(part.bodies[1].report.bodies == 1u);    // one matrix around them
  BOOST_TEST(part.bodies[1].report.cavities == part.bodies[0].report.bodies);
}

BOOST_AUTO_TEST_CASE(spider_web)
{
  expect_sound(build(R"({"name": "web", "family": "spider_web",
                          "spider_web": {"radials": 8, "spiral_turns": 4, "thread_thickness": 0.9, "hub_radius": 3},
                          "form": {"shape": "cylinder", "size": [30, 30, 0.8]}})"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(forms_and_composition)

BOOST_AUTO_TEST_CASE(every_outer_form)
{
  for (const char *form : {R"({"shape": "cylinder", "size": [12, 12, 10]})",
                           R"({"shape": "sphere", "size": [12, 12, 12]})",
                           R"({"shape": "cone", "size": [14, 14, 12]})",
                           R"({"shape": "prism", "sides": 5, "size": [14, 14, 8]})"}) {
    BOOST_TEST_CONTEXT(form)
    {
      expect_sound(build(
          std::string(
              R"({"name": "formed", "family": "tpms", "tpms": {"cell_size": 4, "wall_thickness": 0.9},
                                         "form": )") +
          form + "}"));
    }
  }
}

BOOST_AUTO_TEST_CASE(two_families_stacked)
{
  // helical plies between cellular face sheets
  expect_sound(build(R"({"name": "sandwich", "form": {"shape": "box", "size": [14, 14, 10]},
                          "layers": [
                            {"family": "cellular", "thickness": 3, "cellular": {"cells": 6, "thickness": 0.9,
                                                                               "face_sheets": {"bottom": 0.9}}},
                            {"family": "bouligand", "thickness": 4, "bouligand": {"layers": 4, "rotation": 45}},
                            {"family": "cellular", "thickness": 3, "cellular": {"cells": 6, "thickness": 0.9,
                                                                               "face_sheets": {"top": 0.9}}}]})"));
}

BOOST_AUTO_TEST_CASE(arrays_and_transforms)
{
  const BuiltPart part =
      build(R"({"name": "row", "family": "tpms", "tpms": {"cell_size": 4, "wall_thickness": 0.9},
                                   "form": {"shape": "cylinder", "size": [8, 8, 6]},
                                   "array": {"count": [3, 1, 1], "spacing": [10, 0, 0]},
                                   "transform": {"scale": [1.5, 1.5, 1.5], "rotate": [0, 0, 90], "translate": [0, 0, 5]}})");
  expect_sound(part);
  BOOST_TEST(part.bodies[0].report.bodies == 3u);    // three separate copies
  // rotated by 90 degrees about z: the row now runs along y, scaled 1.5
  BOOST_TEST(part.bbox_max[1] - part.bbox_min[1] == 1.5 * 28.0, boost::test_tools::tolerance(0.01));
  BOOST_TEST(part.bbox_max[0] - part.bbox_min[0] == 1.5 * 8.0, boost::test_tools::tolerance(0.01));
  BOOST_TEST(part.bbox_min[2] == 5.0, boost::test_tools::tolerance(0.01));
}

BOOST_AUTO_TEST_CASE(flat_faces_are_merged_without_moving_the_surface)
{
  const std::string spec =
      R"({"family": "honeycomb", "honeycomb": {"cell_size": 5, "wall_thickness": 0.9},
                               "form": {"shape": "box", "size": [15, 17.320508, 4]}, "quality": {"merge_flat": MERGE}})";
  auto with = [&](const char *merge) {
    std::string text = spec;
    text.replace(text.find("MERGE"), 5, merge);
    return build(text, false);
  };
  const BuiltPart merged = with("true"), full = with("false");
  expect_sound(merged);
  expect_sound(full);
  const auto &a = merged.bodies[0].report, &b = full.bodies[0].report;
  BOOST_TEST(a.triangles * 2 < b.triangles);    // walls and ends are flat: far fewer triangles
  BOOST_TEST(a.volume == b.volume, boost::test_tools::tolerance(1e-6));
  BOOST_TEST(a.area == b.area, boost::test_tools::tolerance(1e-6));
  BOOST_TEST(a.genus == b.genus);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(densities)

// The sheet densities against the minimal surfaces' areas per cell (Schoen; Fogden and Hyde):
// gyroid 3.0919 a^2 (chi = -8), Schwarz P 2.3451 a^2 (chi = -4), diamond 3.8377 a^2 (chi = -16).
// Two whole cells each way, so the box holds whole periods.
BOOST_AUTO_TEST_CASE(tpms_sheets_match_their_minimal_surfaces)
{
  struct Case {
    const char *surface;
    double area;
    int euler;
  };
  for (const Case c :
       {Case{"gyroid", 3.0919, -8}, Case{"schwarz_p", 2.3451, -4}, Case{"diamond", 3.8377, -16}}) {
    BOOST_TEST_CONTEXT(c.surface)
    {
      const BuiltPart part = build(
          std::string(R"({"family": "tpms", "tpms": {"surface": ")") + c.surface +
          R"(", "cell_size": 8, "wall_thickness": 0.8}, "form": {"shape": "box", "size": [16, 16, 16]}})");
      const double expected = sheet_density(c.area, c.euler, 0.8, 8.0);
      BOOST_TEST(part.bodies[0].report.watertight());
      BOOST_TEST(std::abs(part.bodies[0].relative_density / expected - 1.0) < 0.03,
                 "density " << part.bodies[0].relative_density << ", expected " << expected);
    }
  }
}

BOOST_AUTO_TEST_CASE(honeycomb_matches_one_minus_the_open_fraction)
{
  // three cells by two double rows: whole periods of the hexagonal lattice
  const double d = 5.0, t = 0.9;
  const BuiltPart part =
      build(R"({"family": "honeycomb", "honeycomb": {"cell_size": 5, "wall_thickness": 0.9},
                                   "form": {"shape": "box", "size": [15, 17.320508, 4]}})",
            false);
  const double expected = 1.0 - (1.0 - t / d) * (1.0 - t / d);
  BOOST_TEST(part.bodies[0].report.watertight());
  BOOST_TEST(std::abs(part.bodies[0].relative_density / expected - 1.0) < 0.03,
             "density " << part.bodies[0].relative_density << ", expected " << expected);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(resolution)

// Walls thinner than the grid fall between its points and the part breaks into a few pieces of
// the wrong volume (the blobs a too coarse Mesh_3 facet size gives): caught, then refined.
const char *kCoarse =
    R"({"family": "honeycomb", "honeycomb": {"cell_size": 5, "wall_thickness": 0.8},
                          "form": {"shape": "box", "size": [15, 17.320508, 5]},
                          "quality": {"edge_length": 1.0, "refine": REFINE}})";

std::string coarse(bool refine)
{
  std::string text = kCoarse;
  text.replace(text.find("REFINE"), 6, refine ? "true" : "false");
  return text;
}

BOOST_AUTO_TEST_CASE(a_grid_too_coarse_for_the_walls_is_refused)
{
  BuildOptions options;
  options.check_printability = false;
  try {
    build_part(parse_design_spec(coarse(false)), options);
    BOOST_FAIL("a 1 mm grid kept 0.8 mm walls");
  } catch (const BuildError &e) {
    std::string reasons;
    for (const auto &r : e.reasons()) reasons += r + "\n";
    BOOST_TEST(reasons.find("separate pieces, expected 1") != std::string::npos, reasons);
    BOOST_TEST(reasons.find("relative density") != std::string::npos, reasons);
  }
}

BOOST_AUTO_TEST_CASE(and_refined_when_refinement_is_on)
{
  const BuiltPart part = build(coarse(true), false);
  expect_sound(part);
  BOOST_TEST(part.attempts > 1);
  BOOST_TEST(part.edge_length < 1.0);
  BOOST_TEST(part.notes.front().find("refining") != std::string::npos, part.notes.front());
}

BOOST_AUTO_TEST_SUITE_END()
