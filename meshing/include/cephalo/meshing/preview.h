// A preview picture of a part, drawn in software: no display or GPU is needed.
#pragma once

#include "cephalo/meshing/build.h"

#include <filesystem>
#include <string>

namespace cephalo::meshing {

struct PreviewOptions {
  int width = 800;
  int height = 600;
  double azimuth = 35.0;      // degrees about z, from the +x axis
  double elevation = 28.0;    // degrees above the xy plane
  bool cutaway = true;        // parts of several bodies: cut away the octant facing the viewer
};

// Sets width and height from "WIDTHxHEIGHT" or "SIZE" (a square), 16..8192 pixels each: how the
// command-line tools take a preview size (a model reads pictures of the size it was trained on).
// Throws std::invalid_argument naming the text.
void parse_preview_size(const std::string &text, PreviewOptions &options);

// An orthographic, shaded view of every body (one colour each), written as PNG.
void render_preview(const BuiltPart &part, const std::filesystem::path &png,
                    const PreviewOptions &options = {});

}    // namespace cephalo::meshing
