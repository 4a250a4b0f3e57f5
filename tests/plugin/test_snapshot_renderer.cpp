// The snapshot renderer on 1 and 3 MPI ranks: the PNG must not depend on how atoms are split.
#define BOOST_TEST_MODULE plugin_renderer
#include <boost/test/unit_test.hpp>

#include "core/snapshot_renderer.h"

#include "mpi_session.h"

#include <mpi.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>

using namespace cephalo::plugin;
using cephalo::test::MpiSession;
using cephalo::test::rank;
using cephalo::test::ranks;

namespace {

void add(Atoms &atoms, std::array<double, 3> x, std::int64_t id, double value)
{
  atoms.x.push_back(x);
  atoms.id.push_back(id);
  atoms.value.push_back(value);
}

// Each rank keeps an uneven share of the same global atoms.
Atoms my_share(const Atoms &all)
{
  Atoms mine;
  for (std::size_t i = 0; i < all.x.size(); ++i)
    if (static_cast<int>((i * i + 7 * i) % ranks()) == rank())
      add(mine, all.x[i], all.id[i], all.value[i]);
  return mine;
}

// Random atoms in the box, with NaN values and pairs at one position (depth ties) mixed in.
Atoms random_atoms(const Box &box, std::size_t n, unsigned seed)
{
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  Atoms atoms;
  for (std::size_t i = 0; i < n; ++i) {
    const double f[3] = {unit(rng), unit(rng), unit(rng)};
    std::array<double, 3> x;
    x[0] = box.lo[0] + f[0] * (box.hi[0] - box.lo[0]) + f[1] * box.xy + f[2] * box.xz;
    x[1] = box.lo[1] + f[1] * (box.hi[1] - box.lo[1]) + f[2] * box.yz;
    x[2] = box.lo[2] + f[2] * (box.hi[2] - box.lo[2]);
    const double value =
        i % 17 == 0 ? std::numeric_limits<double>::quiet_NaN() : -3.0 + 8.0 * unit(rng);
    add(atoms, x, static_cast<std::int64_t>(1000 + 3 * i), value);
    if (i % 11 == 0) add(atoms, x, static_cast<std::int64_t>(999 - i), value + 1.0);
  }
  return atoms;
}

Box cube(double side)
{
  Box box;
  box.hi = {side, side, side};
  return box;
}

// A lone render, composited over the world; the image is meaningful on rank 0.
Framebuffer render_world(const Box &box, const Atoms &local, const RenderSettings &settings)
{
  const RenderSettings resolved = resolve_settings(settings, box, local, MPI_COMM_WORLD);
  Framebuffer fb = render_local(box, local, resolved);
  composite_to_root(fb, MPI_COMM_WORLD);
  return fb;
}

bool close_to(const std::array<std::uint8_t, 3> &got, const std::array<std::uint8_t, 3> &want,
              int tolerance = 2)
{
  for (int c = 0; c < 3; ++c)
    if (std::abs(int(got[c]) - int(want[c])) > tolerance) return false;
  return true;
}

std::string rgb_text(const std::array<std::uint8_t, 3> &c)
{
  return std::to_string(c[0]) + "," + std::to_string(c[1]) + "," + std::to_string(c[2]);
}

// IHDR's width and height, big-endian at bytes 16..23 after the signature and chunk header.
std::pair<int, int> png_size(const std::vector<std::uint8_t> &png)
{
  auto be32 = [&](std::size_t at) {
    return int(png[at]) << 24 | int(png[at + 1]) << 16 | int(png[at + 2]) << 8 | int(png[at + 3]);
  };
  return {be32(16), be32(20)};
}

RenderSettings plain(int width, int height)
{
  RenderSettings s;
  s.width = width;
  s.height = height;
  s.color_bar = false;
  s.auto_range = false;
  s.vmin = 0.0;
  s.vmax = 1.0;
  s.radius = 1.0;
  return s;
}

template <class F> bool throws_naming(F f, const std::string &field)
{
  try {
    f();
  } catch (const std::invalid_argument &e) {
    return std::string(e.what()).find(field) != std::string::npos;
  }
  return false;
}

}    // namespace

BOOST_TEST_GLOBAL_FIXTURE(MpiSession);

BOOST_AUTO_TEST_CASE(png_bytes_do_not_depend_on_the_rank_count)
{
  Box triclinic;
  triclinic.lo = {-2.0, 0.0, 1.0};
  triclinic.hi = {8.0, 7.0, 6.0};
  triclinic.xy = 3.0;
  triclinic.xz = -1.5;
  triclinic.yz = 2.0;
  const std::pair<Box, View> scenes[] = {{cube(10.0), axis_view("+z")},
                                         {cube(10.0), axis_view("-x")},
                                         {triclinic, angle_view(60.0, 30.0)},
                                         {triclinic, axis_view("+y")}};
  for (const auto &[box, view] : scenes) {
    const Atoms all = random_atoms(box, 600, 7);
    RenderSettings s;
    s.width = 240;
    s.height = 180;
    s.view = view;
    s.label = "step 1200";
    const auto png = render_snapshot(box, my_share(all), s, MPI_COMM_WORLD);
    if (rank() != 0) {
      BOOST_TEST(png.empty());
      continue;
    }
    const auto alone = render_snapshot(box, all, s, MPI_COMM_SELF);
    BOOST_TEST((png_size(png) == std::make_pair(240, 180)));
    BOOST_TEST((png == alone), "PNG over " << ranks() << " ranks differs from one rank's");
  }
}

BOOST_AUTO_TEST_CASE(encoding_is_deterministic_and_files_hold_the_bytes)
{
  if (rank() != 0) return;
  const Box box = cube(4.0);
  Atoms atoms;
  add(atoms, {2.0, 2.0, 2.0}, 1, 0.5);
  RenderSettings s = plain(64, 48);
  s.radius = 1.0;
  Framebuffer fb = render_local(box, atoms, s);
  decorate(fb, box, s);
  const auto png = encode_png(fb);
  BOOST_TEST((png == encode_png(fb)));
  BOOST_TEST((png_size(png) == std::make_pair(64, 48)));

  const auto path = std::filesystem::temp_directory_path() /
                    ("cephalo_renderer_" + std::to_string(::getpid()) + ".png");
  write_png_file(path.string(), fb);
  std::ifstream file(path, std::ios::binary);
  const std::vector<std::uint8_t> read((std::istreambuf_iterator<char>(file)), {});
  std::filesystem::remove(path);
  BOOST_TEST((read == png));
  BOOST_CHECK_THROW(write_png_file((path / "no" / "x.png").string(), fb), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(an_atom_at_the_box_centre_lands_at_the_image_centre_in_its_colour)
{
  const Box box = cube(10.0);
  Atoms atoms;
  if (rank() == ranks() - 1) add(atoms, {5.0, 5.0, 5.0}, 7, 0.25);
  RenderSettings s = plain(200, 150);
  s.radius = 1.0;
  const Framebuffer fb = render_world(box, atoms, s);
  if (rank() != 0) return;
  const auto centre = fb.pixel(100, 75);
  BOOST_TEST(close_to(centre, map_color(ColorMap::viridis, 0.25)), rgb_text(centre));
  BOOST_TEST(fb.id[75 * 200 + 100] == 7);
  // symmetric about the centre: the disk covers the same pixels left and right
  int left = 0, right = 0;
  for (int x = 0; x < 200; ++x)
    if (fb.id[75 * 200 + x] == 7) (x < 100 ? left : right)++;
  BOOST_TEST(left == right);
  BOOST_TEST(left > 3);
  BOOST_TEST(rgb_text(fb.pixel(100, 5)) == "255,255,255");
  // darker at the rim than at the centre
  BOOST_TEST(int(fb.pixel(100 - left + 1, 75)[1]) < int(centre[1]));
}

BOOST_AUTO_TEST_CASE(nearer_atoms_hide_farther_ones_in_every_axis_view)
{
  const Box box = cube(10.0);
  for (const std::string axis : {"+x", "-x", "+y", "-y", "+z", "-z"}) {
    const View view = axis_view(axis);
    Atoms atoms;
    const std::array<double, 3> d = view.toward_camera;
    // the near atom has the larger id, so only depth can make it win
    if (rank() == ranks() - 1)
      add(atoms, {5.0 + 2.0 * d[0], 5.0 + 2.0 * d[1], 5.0 + 2.0 * d[2]}, 20, 0.0);
    if (rank() == 0) add(atoms, {5.0 - 2.0 * d[0], 5.0 - 2.0 * d[1], 5.0 - 2.0 * d[2]}, 10, 1.0);
    RenderSettings s = plain(120, 120);
    s.radius = 1.5;
    s.view = view;
    const Framebuffer fb = render_world(box, atoms, s);
    if (rank() != 0) continue;
    BOOST_TEST(fb.id[60 * 120 + 60] == 20, "view " << axis);
    BOOST_TEST(close_to(fb.pixel(60, 60), map_color(ColorMap::viridis, 0.0)), "view " << axis);
  }
}

BOOST_AUTO_TEST_CASE(equal_depth_goes_to_the_smaller_id)
{
  const Box box = cube(10.0);
  Atoms atoms;
  if (rank() == 0) add(atoms, {5.0, 5.0, 5.0}, 9, 1.0);
  if (rank() == ranks() - 1) add(atoms, {5.0, 5.0, 5.0}, 5, 0.0);
  RenderSettings s = plain(80, 80);
  s.radius = 1.0;
  const Framebuffer fb = render_world(box, atoms, s);
  if (rank() == 0) BOOST_TEST(fb.id[40 * 80 + 40] == 5);
}

BOOST_AUTO_TEST_CASE(a_triclinic_box_fits_inside_the_image)
{
  Box box;
  box.hi = {10.0, 8.0, 6.0};
  box.xy = 4.0;
  box.xz = -3.0;
  box.yz = 2.0;
  const std::array<double, 3> a{10.0, 0.0, 0.0}, b{4.0, 8.0, 0.0}, c{-3.0, 2.0, 6.0};
  Atoms corners;
  for (int k = 0; k < 8; ++k) {
    std::array<double, 3> x{};
    for (int d = 0; d < 3; ++d)
      x[d] = box.lo[d] + ((k & 1) ? a[d] : 0.0) + ((k & 2) ? b[d] : 0.0) + ((k & 4) ? c[d] : 0.0);
    add(corners, x, k + 1, k / 7.0);
  }
  for (const View &view : {axis_view("+z"), angle_view(70.0, 40.0), angle_view(120.0, -75.0)}) {
    RenderSettings s = plain(160, 100);
    s.radius = 0.3;
    s.view = view;
    s.color_bar = true;
    s.label = "tri";
    Framebuffer fb = render_world(box, my_share(corners), s);
    if (rank() != 0) continue;
    std::array<bool, 9> seen{};
    for (int y = 0; y < fb.height; ++y)
      for (int x = 0; x < fb.width; ++x) {
        const std::int64_t id = fb.id[static_cast<std::size_t>(y) * fb.width + x];
        if (id < 1 || id > 8) continue;
        seen[id] = true;
        // inside the margin and left of the colour bar
        BOOST_TEST((x > 0 && y > 0 && x < color_bar_rect(s).x0 && y < fb.height - 1));
      }
    for (int k = 1; k <= 8; ++k) BOOST_TEST(seen[k], "corner " << k);
    // the outline is drawn in grey somewhere on the image
    decorate(fb, box, s);
    int outline = 0;
    for (int i = 0; i < fb.width * fb.height; ++i)
      if (fb.rgb[3 * i] == 96 && fb.rgb[3 * i + 1] == 96 && fb.rgb[3 * i + 2] == 96) ++outline;
    BOOST_TEST(outline > 50);
  }
}

BOOST_AUTO_TEST_CASE(nan_values_are_grey)
{
  const Box box = cube(10.0);
  Atoms atoms;
  if (rank() == 0) add(atoms, {5.0, 5.0, 5.0}, 1, std::numeric_limits<double>::quiet_NaN());
  RenderSettings s = plain(100, 100);
  s.radius = 1.0;
  s.map = ColorMap::coolwarm;
  const Framebuffer fb = render_world(box, atoms, s);
  if (rank() == 0)
    BOOST_TEST(close_to(fb.pixel(50, 50), {128, 128, 128}), rgb_text(fb.pixel(50, 50)));
}

BOOST_AUTO_TEST_CASE(auto_range_is_global)
{
  std::vector<double> values{0.25, 0.5, std::numeric_limits<double>::quiet_NaN()};
  if (rank() == ranks() - 1) values.push_back(42.0);
  if (rank() == 0) values.push_back(-1.0);
  const auto range = global_range(values, MPI_COMM_WORLD);
  BOOST_TEST(range.first == -1.0);
  BOOST_TEST(range.second == 42.0);

  const auto single = global_range(
      rank() == ranks() - 1 ? std::vector<double>{5.0} : std::vector<double>{}, MPI_COMM_WORLD);
  BOOST_TEST(single.first == 4.95);
  BOOST_TEST(single.second == 5.05);
  BOOST_TEST((global_range({0.0}, MPI_COMM_WORLD) == std::make_pair(-0.5, 0.5)));
  BOOST_TEST((global_range({std::numeric_limits<double>::quiet_NaN()}, MPI_COMM_WORLD) ==
              std::make_pair(0.0, 1.0)));

  Atoms atoms;
  add(atoms, {1.0, 1.0, 1.0}, rank() + 1, rank() == ranks() - 1 ? 42.0 : 0.5);
  const RenderSettings resolved =
      resolve_settings(RenderSettings{}, cube(2.0), atoms, MPI_COMM_WORLD);
  BOOST_TEST(!resolved.auto_range);
  BOOST_TEST(resolved.vmax == (ranks() == 1 ? 42.42 : 42.0), boost::test_tools::tolerance(1e-12));
  BOOST_TEST(resolved.vmin == (ranks() == 1 ? 41.58 : 0.5), boost::test_tools::tolerance(1e-12));
  // auto radius: half the mean spacing of all atoms
  BOOST_TEST(resolved.radius == 0.5 * std::cbrt(8.0 / ranks()),
             boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(the_colour_bar_is_drawn_only_when_enabled)
{
  if (rank() != 0) return;
  const Box box = cube(10.0);
  for (bool enabled : {true, false}) {
    RenderSettings s = plain(400, 300);
    s.color_bar = enabled;
    s.vmin = -2.5;
    s.vmax = 1200.0;
    Framebuffer fb = render_local(box, Atoms{}, s);
    decorate(fb, box, s);
    const ColorBarRect bar = color_bar_rect(plain(400, 300));
    BOOST_TEST(bar.x0 > 300);
    BOOST_TEST(bar.x1 < 400);
    const int mid = (bar.x0 + bar.x1) / 2;
    const auto top = fb.pixel(mid, bar.y0), bottom = fb.pixel(mid, bar.y1);
    const auto centre = fb.pixel(mid, (bar.y0 + bar.y1) / 2);
    if (enabled) {
      BOOST_TEST(close_to(top, map_color(ColorMap::viridis, 1.0)), rgb_text(top));
      BOOST_TEST(close_to(bottom, map_color(ColorMap::viridis, 0.0)), rgb_text(bottom));
      BOOST_TEST(close_to(centre, map_color(ColorMap::viridis, 0.5)), rgb_text(centre));
    } else {
      BOOST_TEST(rgb_text(top) == "255,255,255");
      BOOST_TEST(rgb_text(bottom) == "255,255,255");
    }
    // tick labels: black text right of the bar
    int ink = 0;
    for (int y = 0; y < fb.height; ++y)
      for (int x = bar.x1 + 2; x < fb.width; ++x)
        if (rgb_text(fb.pixel(x, y)) == "0,0,0") ++ink;
    BOOST_TEST((enabled ? ink > 40 : ink == 0), "ink " << ink);
  }
}

BOOST_AUTO_TEST_CASE(viridis_ends_match_the_published_colours)
{
  BOOST_TEST(close_to(map_color(ColorMap::viridis, 0.0), {0x44, 0x01, 0x54}));
  BOOST_TEST(close_to(map_color(ColorMap::viridis, 1.0), {0xfd, 0xe7, 0x25}));
  BOOST_TEST(close_to(map_color(ColorMap::viridis, -3.0), {0x44, 0x01, 0x54}));
  BOOST_TEST(close_to(map_color(ColorMap::gray, 0.5), {128, 128, 128}));
  BOOST_TEST(close_to(map_color(ColorMap::coolwarm, 0.0), {59, 76, 192}));
  BOOST_TEST(close_to(map_color(ColorMap::coolwarm, 1.0), {180, 4, 38}));
  BOOST_TEST((parse_color_map("coolwarm") == ColorMap::coolwarm));
}

BOOST_AUTO_TEST_CASE(bad_settings_name_the_field)
{
  const Box box = cube(1.0);
  RenderSettings s;
  s.width = 0;
  BOOST_TEST(throws_naming([&] { validate(s, box); }, "width"));
  s = RenderSettings{};
  s.height = -3;
  BOOST_TEST(throws_naming([&] { validate(s, box); }, "height"));
  s = RenderSettings{};
  s.auto_range = false;
  s.vmin = 2.0;
  s.vmax = 2.0;
  BOOST_TEST(throws_naming([&] { validate(s, box); }, "vmin"));
  s.auto_range = true;    // the range is then not the caller's
  BOOST_CHECK_NO_THROW(validate(s, box));
  s.zoom = 0.0;
  BOOST_TEST(throws_naming([&] { validate(s, box); }, "zoom"));
  BOOST_TEST(throws_naming([] { axis_view("+w"); }, "view"));
  BOOST_TEST(throws_naming([] { axis_view("z"); }, "view"));
  BOOST_TEST(throws_naming([] { parse_color_map("jet"); }, "map"));
  s = RenderSettings{};
  s.view.up = s.view.toward_camera;
  BOOST_TEST(throws_naming([&] { validate(s, box); }, "view"));
  Box flat = box;
  flat.hi[2] = flat.lo[2];
  BOOST_TEST(throws_naming([&] { validate(RenderSettings{}, flat); }, "box"));
  // render_local needs the automatic parts resolved, and consistent arrays
  BOOST_TEST(throws_naming([&] { render_local(box, Atoms{}, RenderSettings{}); }, "resolve"));
  Atoms ragged;
  ragged.x.push_back({0.5, 0.5, 0.5});
  BOOST_TEST(throws_naming([&] { render_local(box, ragged, plain(50, 50)); }, "ids"));
}

BOOST_AUTO_TEST_CASE(a_large_image_with_many_atoms_renders)
{
  Box box = cube(60.0);
  box.xy = 10.0;
  const Atoms all = random_atoms(box, 100000, 11);
  RenderSettings s;
  s.width = 1000;
  s.height = 800;
  s.view = angle_view(55.0, 20.0);
  s.label = "step 1200";
  const auto png = render_snapshot(box, my_share(all), s, MPI_COMM_WORLD);
  if (rank() != 0) return;
  BOOST_TEST((png_size(png) == std::make_pair(1000, 800)));
  BOOST_TEST(png.size() > 10000u);
  // 1000 x 800 composites in four bands of rows: the seams must not show
  BOOST_TEST((png == render_snapshot(box, all, s, MPI_COMM_SELF)));
}

// An atom that cannot be drawn on one rank makes every rank throw instead of leaving the others
// waiting in the composite.
BOOST_AUTO_TEST_CASE(a_bad_atom_on_one_rank_fails_every_rank_without_a_hang)
{
  const int me = rank(), size = ranks();
  Box box;
  box.hi = {10, 10, 10};
  Atoms local;
  local.x = {{5.0, 5.0, 5.0}};
  local.id = {me + 1};
  local.value = {0.5};
  if (me == size - 1) local.x[0][1] = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_THROW(render_snapshot(box, local, plain(64, 48), MPI_COMM_WORLD),
                    std::invalid_argument);
  // and the communicator is still usable afterwards
  int one = 1, total = 0;
  MPI_Allreduce(&one, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  BOOST_TEST(total == size);
}
