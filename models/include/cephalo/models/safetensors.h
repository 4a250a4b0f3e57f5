// Reading and writing safetensors, the weight format of Hugging Face checkpoints: an 8-byte
// header length, a JSON header naming every tensor (dtype, shape, byte range), then the bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace cephalo::models {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, Bool };

std::size_t dtype_size(DType dtype);
std::string_view dtype_name(DType dtype);    // as spelled in the header: "F32", "BF16", ...

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::uint64_t offset = 0;    // from the start of the data section
  std::uint64_t nbytes = 0;
};

// A malformed or truncated file. The message names the file and, where one is at fault, the
// tensor.
class FormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;    // sorted by offset
  std::map<std::string, std::string> metadata;
};

// Parses the JSON header and checks it against a data section of `data_size` bytes: known
// dtypes, non-negative shapes, byte ranges equal to dtype size x element count, inside the data,
// covering it without gaps or overlaps. Throws FormatError; never crashes on any input.
SafetensorsHeader parse_safetensors_header(std::string_view json, std::uint64_t data_size);

// A memory-mapped safetensors file. Tensors are addressed by their checkpoint names.
class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::filesystem::path &path);

  SafetensorsFile(SafetensorsFile &&) noexcept;
  SafetensorsFile &operator=(SafetensorsFile &&) noexcept;
  ~SafetensorsFile();

  const std::filesystem::path &path() const;
  const std::vector<TensorInfo> &tensors() const;
  const std::map<std::string, std::string> &metadata() const;
  const TensorInfo *find(std::string_view name) const;
  const TensorInfo &at(std::string_view name) const;    // throws FormatError naming the tensor
  const std::byte *data(const TensorInfo &tensor) const;

  // Keeps the mapping alive for as long as the returned handle lives (for zero-copy views).
  std::shared_ptr<const void> keep_alive() const;

 private:
  struct Impl;
  explicit SafetensorsFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One tensor to write: raw little-endian bytes of `dtype` in row-major order.
struct TensorBytes {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  const void *data = nullptr;
};

// Writes a safetensors file (tensors in the order given, header padded to 8 bytes).
void write_safetensors(const std::filesystem::path &path, const std::vector<TensorBytes> &tensors,
                       const std::map<std::string, std::string> &metadata = {});

}    // namespace cephalo::models
