// Renders atoms coloured by a per-atom value to a PNG, each rank drawing its own atoms.
#pragma once

#include <mpi.h>

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cephalo::plugin {

enum class ColorMap { viridis, coolwarm, gray };

// Parses "viridis", "coolwarm" or "gray"; throws std::invalid_argument naming `map`.
ColorMap parse_color_map(const std::string &name);

// The colour of t in [0, 1] (clamped) on the map; viridis ends at #440154 and #fde725.
std::array<std::uint8_t, 3> map_color(ColorMap map, double t);

// An orthographic camera: `toward_camera` points from the scene to the viewer, `up` is the
// screen's up direction (only its part perpendicular to toward_camera counts).
struct View {
  std::array<double, 3> toward_camera{0.0, 0.0, 1.0};
  std::array<double, 3> up{0.0, 1.0, 0.0};
};

// "+x" .. "-z": the camera sits on that side of the box and looks down the axis ("+z" is the
// top view, +x to the right). Up is +y for the z views and +z otherwise. Throws
// std::invalid_argument naming `view` for anything else.
View axis_view(const std::string &axis);

// The camera in the direction of spherical angles in degrees: theta from +z, phi from +x in the
// xy plane. Up is +z projected onto the screen, or +y when looking along z.
View angle_view(double theta_deg, double phi_deg);

struct RenderSettings {
  int width = 800, height = 600;
  ColorMap map = ColorMap::viridis;
  bool auto_range = true;    // vmin/vmax from the global finite values (resolve_settings)
  double vmin = 0.0, vmax = 1.0;
  View view;
  double radius = 0.0;    // atom radius in distance units; 0: half the mean atom spacing
  std::array<std::uint8_t, 3> background{255, 255, 255};
  bool color_bar = true;
  std::string label;    // e.g. "step 1200", written top left
  double zoom = 1.0;    // > 1 magnifies about the box centre
};

// A LAMMPS simulation box: edge vectors a = (xhi-xlo, 0, 0), b = (xy, yhi-ylo, 0),
// c = (xz, yz, zhi-zlo) from the corner lo.
struct Box {
  std::array<double, 3> lo{0.0, 0.0, 0.0};
  std::array<double, 3> hi{1.0, 1.0, 1.0};
  double xy = 0.0, xz = 0.0, yz = 0.0;
};

// One rank's atoms; the three arrays have equal length. Ids must be unique over all ranks:
// they break depth ties, which makes the image independent of the rank count.
struct Atoms {
  std::vector<std::array<double, 3>> x;
  std::vector<std::int64_t> id;
  std::vector<double> value;
};

// One image: per pixel the depth of the nearest surface (+inf where empty; smaller is nearer),
// the id of the atom drawn there and its RGB colour. Rows run top to bottom.
struct Framebuffer {
  int width = 0, height = 0;
  std::vector<float> depth;
  std::vector<std::int64_t> id;
  std::vector<std::uint8_t> rgb;    // 3 per pixel

  Framebuffer() = default;
  Framebuffer(int width, int height, std::array<std::uint8_t, 3> background);
  std::array<std::uint8_t, 3> pixel(int x, int y) const;
};

// Where the colour bar's gradient sits, in pixels (inclusive bounds; vmax at y0, vmin at y1).
struct ColorBarRect {
  int x0, x1, y0, y1;
};

// Throws std::invalid_argument naming the field (width, height, vmin/vmax, zoom, radius, view)
// when the settings cannot give an image, or the box (lo/hi) is empty or not finite.
void validate(const RenderSettings &settings, const Box &box);

// Collective. Min and max of the finite values on all ranks; a single value is widened by 1% of
// its size (or 0.5 around zero) and no values at all give [0, 1], so a colour bar always has a
// range.
std::pair<double, double> global_range(const std::vector<double> &local_values, MPI_Comm comm);

// Collective. Validates, then fixes what is automatic on all ranks alike: vmin/vmax when
// auto_range (after which auto_range is false) and radius when 0.
RenderSettings resolve_settings(const RenderSettings &settings, const Box &box, const Atoms &local,
                                MPI_Comm comm);

// Draws this rank's atoms with resolved settings as sphere-shaded disks; a pixel keeps the
// nearest atom, the smaller id on equal depth. NaN values are grey. Throws
// std::invalid_argument for unresolved settings, arrays of unequal length or a non-finite
// position.
Framebuffer render_local(const Box &box, const Atoms &local, const RenderSettings &resolved);

// Collective. Merges every rank's framebuffer into root's by (depth, id) per pixel, in bands of
// whole rows (about 4 MiB of samples, at least 64 rows) reduced with MPI_Reduce and a commutative
// MPI_Op: memory beyond the image stays at one band, and the result does not depend on the rank
// count. Other ranks' buffers are unchanged.
void composite_to_root(Framebuffer &fb, MPI_Comm comm, int root = 0);

// Where the colour bar's gradient is, or would be were color_bar on.
ColorBarRect color_bar_rect(const RenderSettings &settings);

// On the composited image: the box outline (hidden where atoms are in front), the colour bar
// with its vmax, middle and vmin values, and the label.
void decorate(Framebuffer &fb, const Box &box, const RenderSettings &resolved);

// PNG bytes (8-bit RGB, no time stamp): the same image always gives the same bytes.
std::vector<std::uint8_t> encode_png(const Framebuffer &fb);

// Throws std::runtime_error naming the path when it cannot be written.
void write_png_file(const std::string &path, const Framebuffer &fb);

// Collective: resolve, render and composite, failing on every rank (std::invalid_argument) when
// one cannot draw. The undecorated image on root (empty elsewhere); `resolved` receives the
// resolved settings on every rank.
Framebuffer render_composite(const Box &box, const Atoms &local, const RenderSettings &settings,
                             MPI_Comm comm, RenderSettings *resolved = nullptr, int root = 0);

// Collective: resolve, render, composite and decorate. The PNG bytes on root, empty elsewhere.
std::vector<std::uint8_t> render_snapshot(const Box &box, const Atoms &local,
                                          const RenderSettings &settings, MPI_Comm comm,
                                          int root = 0);

}    // namespace cephalo::plugin
