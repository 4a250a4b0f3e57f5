// Image sizes read from PNG and JPEG headers, so that limits are enforced before any decoding.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace cephalo::bridge {

// {width, height} of a PNG or JPEG file's bytes; nothing when they are neither (or damaged).
std::optional<std::pair<int, int>> image_size(const std::string &bytes);

}    // namespace cephalo::bridge
