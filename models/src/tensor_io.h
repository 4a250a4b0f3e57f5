// libtorch views of safetensors data (internal: keeps torch out of the public headers).
#pragma once

#include "cephalo/models/safetensors.h"

#include <torch/torch.h>

namespace cephalo::models {

c10::ScalarType scalar_type(DType dtype);

// "[3, 4]": a shape as errors print it.
std::string shape_text(c10::IntArrayRef shape);

// A tensor over the mapped bytes, zero-copy and read-only by contract (the mapping is
// private): the file's mapping lives as long as the tensor. Clone before writing to it.
torch::Tensor tensor_view(const SafetensorsFile &file, const TensorInfo &tensor);

// Loads a named tensor, checks its shape, and converts it to `options` (dtype and device),
// copying. Errors name the tensor and the file.
torch::Tensor load_tensor(const SafetensorsFile &file, std::string_view name,
                          const std::vector<std::int64_t> &expected_shape,
                          const torch::TensorOptions &options);

}    // namespace cephalo::models
