// The text of a model folder's JSON file (internal).
#pragma once

#include "cephalo/models/config.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace cephalo::models {

// Throws ConfigError naming the file when it cannot be read.
inline std::string read_config_file(const std::filesystem::path &file)
{
  std::ifstream in(file);
  if (!in) throw ConfigError(file.string() + ": cannot read (is this a model folder?)");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}    // namespace cephalo::models
