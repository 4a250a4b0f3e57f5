// The libtorch backend: a model folder of models/ behind cephalo-serve (only the server links it).
#pragma once

#include "cephalo/bridge/backend.h"

#include <filesystem>
#include <memory>

namespace cephalo::bridge {

struct ModelBackendOptions {
  std::string device = "cpu";
  std::string dtype = "auto";
  int threads = 0;
};

std::unique_ptr<Backend> make_model_backend(const std::filesystem::path &model_dir,
                                            const ModelBackendOptions &options = {});

}    // namespace cephalo::bridge
