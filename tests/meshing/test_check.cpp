// Mesh checks on shapes with known answers, and STL export read back.
#define BOOST_TEST_MODULE meshing
#include <boost/test/unit_test.hpp>

#include "cephalo/meshing/build.h"
#include "cephalo/meshing/check.h"
#include "cephalo/meshing/stl.h"
#include "cgal_wrap.h"    // internal: the last-resort repair
#include "scratch_dir.h"

#include <fstream>
#include <random>

namespace fs = std::filesystem;
using namespace cephalo::meshing;
using cephalo::test::ScratchDir;

namespace {

// An axis-aligned box with outward (counter-clockwise from outside) triangles.
TriangleMesh box(std::array<double, 3> lo, std::array<double, 3> hi)
{
  TriangleMesh mesh;
  for (int i = 0; i < 8; ++i)
    mesh.vertices.push_back({i & 1 ? hi[0] : lo[0], i & 2 ? hi[1] : lo[1], i & 4 ? hi[2] : lo[2]});
  const std::uint32_t quads[6][4] = {{0, 2, 3, 1}, {4, 5, 7, 6}, {0, 1, 5, 4},
                                     {2, 6, 7, 3}, {0, 4, 6, 2}, {1, 3, 7, 5}};
  for (const auto &q : quads) {
    mesh.triangles.push_back({q[0], q[1], q[2]});
    mesh.triangles.push_back({q[0], q[2], q[3]});
  }
  return mesh;
}

TriangleMesh join(const TriangleMesh &a, const TriangleMesh &b)
{
  TriangleMesh mesh = a;
  const auto offset = static_cast<std::uint32_t>(a.vertices.size());
  mesh.vertices.insert(mesh.vertices.end(), b.vertices.begin(), b.vertices.end());
  for (auto t : b.triangles)
    mesh.triangles.push_back({t[0] + offset, t[1] + offset, t[2] + offset});
  return mesh;
}

TriangleMesh inverted(TriangleMesh mesh)
{
  for (auto &t : mesh.triangles) std::swap(t[1], t[2]);
  return mesh;
}

// A small gyroid sheet from the mesher: a realistic surface of many small triangles.
const TriangleMesh &gyroid()
{
  static const TriangleMesh mesh = [] {
    const DesignSpec spec =
        parse_design_spec(R"({"family": "tpms", "tpms": {"cell_size": 4, "wall_thickness": 0.8},
                                                 "form": {"shape": "box", "size": [8, 8, 8]}})");
    return build_part(spec).bodies.front().mesh;
  }();
  return mesh;
}

}    // namespace

BOOST_AUTO_TEST_CASE(a_box_is_a_watertight_outward_solid_with_known_volume)
{
  const auto report = check_mesh(box({0, 0, 0}, {2, 3, 4}));
  BOOST_TEST(report.watertight());
  BOOST_TEST(report.closed);
  BOOST_TEST(report.manifold);
  BOOST_TEST(report.outward);
  BOOST_TEST(!report.self_intersecting);
  BOOST_TEST(report.components == 1u);
  BOOST_TEST(report.genus == 0);
  BOOST_TEST(report.volume == 24.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(report.area == 52.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(report.bbox_max[2] == 4.0);
}

BOOST_AUTO_TEST_CASE(a_hole_is_reported_as_boundary_edges)
{
  TriangleMesh open = box({0, 0, 0}, {1, 1, 1});
  open.triangles.resize(10);    // drop the last face
  const auto report = check_mesh(open);
  BOOST_TEST(!report.closed);
  BOOST_TEST(report.boundary_edges == 4u);
  BOOST_TEST(report.volume == 0.0);
  BOOST_REQUIRE(!report.problems.empty());
  BOOST_TEST(report.problems.front() == "4 boundary edges: the surface has holes");
}

BOOST_AUTO_TEST_CASE(an_inside_out_box_is_refused)
{
  TriangleMesh inverted = box({0, 0, 0}, {1, 1, 1});
  for (auto &t : inverted.triangles) std::swap(t[1], t[2]);
  const auto report = check_mesh(inverted);
  BOOST_TEST(report.closed);
  BOOST_TEST(!report.outward);
  BOOST_TEST(report.volume == -1.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(!report.watertight());
}

BOOST_AUTO_TEST_CASE(one_flipped_triangle_is_a_misoriented_surface)
{
  TriangleMesh mesh = box({0, 0, 0}, {1, 1, 1});
  std::swap(mesh.triangles[0][1], mesh.triangles[0][2]);
  const auto report = check_mesh(mesh);
  BOOST_TEST(report.misoriented_edges == 3u);
  BOOST_TEST(!report.manifold);
  BOOST_TEST(!report.watertight());
}

BOOST_AUTO_TEST_CASE(separate_and_overlapping_bodies)
{
  const auto apart = check_mesh(join(box({0, 0, 0}, {1, 1, 1}), box({3, 0, 0}, {4, 2, 1})));
  BOOST_TEST(apart.watertight());
  BOOST_TEST(apart.components == 2u);
  BOOST_TEST(apart.volume == 3.0, boost::test_tools::tolerance(1e-12));

  const auto overlapping = check_mesh(join(box({0, 0, 0}, {2, 2, 2}), box({1, 1, 1}, {3, 3, 3})));
  BOOST_TEST(overlapping.self_intersecting);
  BOOST_TEST(!overlapping.watertight());
}

BOOST_AUTO_TEST_CASE(stl_export_reads_back_welded_and_still_watertight)
{
  ScratchDir dir;
  const TriangleMesh mesh = box({-1.5, 0.25, 10}, {2.5, 1.25, 12});
  write_stl(dir.path() / "box.stl", mesh, "box");
  BOOST_TEST(fs::file_size(dir.path() / "box.stl") == 84u + 50u * 12u);

  const TriangleMesh back = read_stl(dir.path() / "box.stl");
  BOOST_TEST(back.vertices.size() == 8u);    // corners welded again
  BOOST_TEST(back.triangles.size() == 12u);
  const auto report = check_mesh(back);
  BOOST_TEST(report.watertight());
  BOOST_TEST(report.volume == 8.0, boost::test_tools::tolerance(1e-6));

  std::ofstream(dir.path() / "ascii.stl")
      << "solid t\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\n"
         "vertex 1 0 0\nvertex 0 1 0\nendloop\nendfacet\nendsolid t\n";
  BOOST_TEST(read_stl(dir.path() / "ascii.stl").triangles.size() == 1u);

  std::ofstream(dir.path() / "junk.stl") << "not a mesh";
  BOOST_CHECK_THROW(read_stl(dir.path() / "junk.stl"), StlError);
  std::ofstream(dir.path() / "short.stl")
      << "solid t\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nendloop\nendfacet\n";
  BOOST_CHECK_THROW(read_stl(dir.path() / "short.stl"), StlError);
}

BOOST_AUTO_TEST_CASE(a_cavity_is_a_shell_facing_in_and_must_be_nested)
{
  // a hollow cube: outer shell out, inner shell in
  const auto hollow =
      check_mesh(join(box({0, 0, 0}, {4, 4, 4}), inverted(box({1, 1, 1}, {3, 3, 3}))));
  BOOST_TEST(hollow.watertight());
  BOOST_TEST(hollow.bodies == 1u);
  BOOST_TEST(hollow.cavities == 1u);
  BOOST_TEST(hollow.volume == 56.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(hollow.genus == 0);

  // the same inner shell facing out: a body inside a body, not a cavity
  const auto nested = check_mesh(join(box({0, 0, 0}, {4, 4, 4}), box({1, 1, 1}, {3, 3, 3})));
  BOOST_TEST(!nested.outward);
  BOOST_TEST(!nested.watertight());

  // an inward shell outside everything is not a cavity either
  const auto stray =
      check_mesh(join(box({0, 0, 0}, {4, 4, 4}), inverted(box({6, 0, 0}, {7, 1, 1}))));
  BOOST_TEST(!stray.outward);
  BOOST_TEST(!stray.watertight());
}

BOOST_AUTO_TEST_CASE(two_solids_meeting_at_one_vertex_are_pinched)
{
  // two cubes sharing corner (1,1,1) by index: a manifold edge set but a non-manifold vertex
  TriangleMesh mesh = join(box({0, 0, 0}, {1, 1, 1}), box({1, 1, 1}, {2, 2, 2}));
  for (auto &t : mesh.triangles)
    for (auto &v : t)
      if (v == 8) v = 7;    // the second cube's low corner is the first's high corner
  const auto report = check_mesh(mesh);
  BOOST_TEST(report.closed);
  BOOST_TEST(!report.manifold);
  BOOST_TEST(report.problems.front() == "1 vertices join surfaces that touch only there");
}

BOOST_AUTO_TEST_CASE(solids_touching_without_shared_vertices_intersect)
{
  // a small cube resting on a face of a larger one: the faces overlap
  const auto report = check_mesh(join(box({0, 0, 0}, {4, 4, 1}), box({1, 1, 1}, {2, 2, 2})));
  BOOST_TEST(report.manifold);
  BOOST_TEST(report.self_intersecting);
  BOOST_TEST(report.intersecting_pairs > 0u);
}

BOOST_AUTO_TEST_CASE(wall_thickness_of_a_slab_is_its_thickness)
{
  const auto report = check_mesh(box({0, 0, 0}, {20, 20, 1.5}));
  BOOST_TEST(report.wall_estimate == 1.5, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(report.wall_median == 1.5, boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(the_grid_self_intersection_test_agrees_with_cgal)
{
  const TriangleMesh &clean = gyroid();
  CheckOptions options;
  options.cgal_cross_check = true;
  options.thickness_samples = 0;
  const auto report = check_mesh(clean, options);
  BOOST_TEST_REQUIRE(report.watertight());
  BOOST_TEST(report.triangles > 20000u);

  // Push a few vertices across the sheet (a few tenths of a mm along a random direction): some
  // pushes cross the opposite surface, some do not; both tests must say the same every time.
  std::mt19937 random(7);
  std::uniform_int_distribution<std::size_t> pick(0, clean.vertices.size() - 1);
  std::normal_distribution<double> push(0.0, 0.5);
  int intersecting = 0;
  for (int trial = 0; trial < 12; ++trial) {
    TriangleMesh mesh = clean;
    for (int k = 0; k < 1 + trial % 3; ++k) {
      auto &v = mesh.vertices[pick(random)];
      for (double &x : v) x += push(random);
    }
    const auto perturbed = check_mesh(mesh, options);
    for (const auto &p : perturbed.problems) BOOST_TEST(p.find("disagree") == std::string::npos, p);
    intersecting += perturbed.self_intersecting;
  }
  BOOST_TEST(intersecting > 0);
  BOOST_TEST(intersecting < 12);
}

BOOST_AUTO_TEST_CASE(alpha_wrapping_repairs_overlapping_solids)
{
  // two overlapping cubes: closed and manifold each, intersecting each other
  const TriangleMesh overlapping = join(box({0, 0, 0}, {2, 2, 2}), box({1, 1, 1}, {3, 3, 3}));
  BOOST_TEST_REQUIRE(check_mesh(overlapping).self_intersecting);
  const TriangleMesh wrapped = detail::alpha_wrap(overlapping, 0.2, 0.01);
  const auto report = check_mesh(wrapped);
  for (const auto &p : report.problems) BOOST_TEST_MESSAGE(p);
  BOOST_TEST(report.watertight());
  BOOST_TEST(report.bodies == 1u);
  // the union (15 mm^3), grown by the offset over its 42 mm^2 of surface, give or take
  BOOST_TEST(report.volume > 15.0);
  BOOST_TEST(report.volume < 15.0 + 42.0 * 0.01 * 1.5);
}
