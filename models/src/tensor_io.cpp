// libtorch views of safetensors data.
#include "tensor_io.h"

#include <sstream>

namespace cephalo::models {
std::string shape_text(c10::IntArrayRef shape)
{
  std::ostringstream out;
  out << '[';
  for (std::size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

c10::ScalarType scalar_type(DType dtype)
{
  switch (dtype) {
  case DType::F64:
    return torch::kFloat64;
  case DType::F32:
    return torch::kFloat32;
  case DType::F16:
    return torch::kFloat16;
  case DType::BF16:
    return torch::kBFloat16;
  case DType::I64:
    return torch::kInt64;
  case DType::I32:
    return torch::kInt32;
  case DType::I16:
    return torch::kInt16;
  case DType::I8:
    return torch::kInt8;
  case DType::U8:
    return torch::kUInt8;
  case DType::Bool:
    return torch::kBool;
  }
  throw std::invalid_argument("unknown DType");
}

torch::Tensor tensor_view(const SafetensorsFile &file, const TensorInfo &tensor)
{
  auto owner = file.keep_alive();
  // from_blob wants a mutable pointer; the pages are mapped read-only and copy-on-write.
  void *bytes = const_cast<std::byte *>(file.data(tensor));
  return torch::from_blob(
      bytes, tensor.shape, [owner](void *) mutable { owner.reset(); },
      torch::TensorOptions().dtype(scalar_type(tensor.dtype)));
}

torch::Tensor load_tensor(const SafetensorsFile &file, std::string_view name,
                          const std::vector<std::int64_t> &expected_shape,
                          const torch::TensorOptions &options)
{
  const TensorInfo &info = file.at(name);
  if (info.shape != expected_shape)
    throw FormatError(file.path().string() + ": tensor '" + std::string(name) + "' has shape " +
                      shape_text(info.shape) + ", expected " + shape_text(expected_shape));
  return tensor_view(file, info).to(options, /*non_blocking=*/false, /*copy=*/true);
}

}    // namespace cephalo::models
