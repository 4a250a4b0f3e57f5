// Base64 (RFC 4648, the standard alphabet): images in OpenAI-style data URIs and MCP results.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cephalo::bridge {

std::string base64_encode(std::string_view bytes);

// The bytes, or nothing when `text` is not base64 (padding optional; whitespace skipped).
std::optional<std::string> base64_decode(std::string_view text);

}    // namespace cephalo::bridge
