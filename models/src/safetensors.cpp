// safetensors reading (memory-mapped, validated) and writing.
#include "cephalo/models/safetensors.h"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>

namespace cephalo::models {
namespace {

// The format's own bound on the header; also keeps a corrupt length from allocating gigabytes.
constexpr std::uint64_t kMaxHeaderBytes = 100ULL << 20;

struct DTypeEntry {
  DType dtype;
  std::string_view name;
  std::size_t size;
};
constexpr DTypeEntry kDTypes[] = {
    {DType::F64, "F64", 8},   {DType::F32, "F32", 4}, {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I64, "I64", 8}, {DType::I32, "I32", 4},
    {DType::I16, "I16", 2},   {DType::I8, "I8", 1},   {DType::U8, "U8", 1},
    {DType::Bool, "BOOL", 1},
};

const DTypeEntry &entry_of(DType dtype)
{
  for (const auto &entry : kDTypes)
    if (entry.dtype == dtype) return entry;
  throw std::invalid_argument("unknown DType");
}

std::string in_quotes(std::string_view name)
{
  return "'" + std::string(name) + "'";
}

TensorInfo parse_tensor(const std::string &name, const nlohmann::json &value,
                        std::uint64_t data_size)
{
  const auto fail = [&](const std::string &what) {
    throw FormatError("tensor " + in_quotes(name) + ": " + what);
  };
  if (!value.is_object()) fail("header entry is not an object");
  TensorInfo info;
  info.name = name;

  const auto dtype = value.find("dtype");
  if (dtype == value.end() || !dtype->is_string()) fail("missing dtype");
  const auto &dtype_text = dtype->get_ref<const std::string &>();
  const auto known = std::find_if(std::begin(kDTypes), std::end(kDTypes),
                                  [&](const DTypeEntry &e) { return e.name == dtype_text; });
  if (known == std::end(kDTypes)) fail("unsupported dtype " + in_quotes(dtype_text));
  info.dtype = known->dtype;

  const auto shape = value.find("shape");
  if (shape == value.end() || !shape->is_array()) fail("missing shape");
  std::uint64_t elements = 1;
  for (const auto &dim : *shape) {
    if (!dim.is_number_unsigned()) fail("shape has a dimension that is not a non-negative integer");
    const auto extent = dim.get<std::uint64_t>();
    if (extent > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
        (extent != 0 && elements > std::numeric_limits<std::uint64_t>::max() / extent))
      fail("shape is too large");
    elements *= extent;
    info.shape.push_back(static_cast<std::int64_t>(extent));
  }
  if (elements > std::numeric_limits<std::uint64_t>::max() / known->size)
    fail("shape is too large");

  const auto offsets = value.find("data_offsets");
  if (offsets == value.end() || !offsets->is_array() || offsets->size() != 2 ||
      !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned())
    fail("data_offsets must be two non-negative integers");
  const auto begin = (*offsets)[0].get<std::uint64_t>();
  const auto end = (*offsets)[1].get<std::uint64_t>();
  if (begin > end) fail("data_offsets end before they begin");
  if (end > data_size)
    fail("data ends at byte " + std::to_string(end) + " but the file has only " +
         std::to_string(data_size) + " data bytes (truncated file?)");
  if (end - begin != elements * known->size)
    fail("has " + std::to_string(end - begin) + " bytes, but dtype " + std::string(known->name) +
         " and its shape need " + std::to_string(elements * known->size));
  info.offset = begin;
  info.nbytes = end - begin;
  return info;
}

struct Mapping {
  const std::byte *bytes = nullptr;
  std::size_t size = 0;
  ~Mapping()
  {
    if (bytes && size > 0) munmap(const_cast<std::byte *>(bytes), size);
  }
};

}    // namespace

std::size_t dtype_size(DType dtype)
{
  return entry_of(dtype).size;
}

std::string_view dtype_name(DType dtype)
{
  return entry_of(dtype).name;
}

SafetensorsHeader parse_safetensors_header(std::string_view json, std::uint64_t data_size)
{
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(json.begin(), json.end());
  } catch (const nlohmann::json::exception &e) {
    throw FormatError(std::string("header is not valid JSON: ") + e.what());
  }
  if (!document.is_object()) throw FormatError("header is not a JSON object");

  SafetensorsHeader header;
  for (const auto &[name, value] : document.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) throw FormatError("__metadata__ is not an object");
      for (const auto &[key, text] : value.items()) {
        if (!text.is_string())
          throw FormatError("__metadata__ entry " + in_quotes(key) + " is not a string");
        header.metadata[key] = text.get<std::string>();
      }
      continue;
    }
    header.tensors.push_back(parse_tensor(name, value, data_size));
  }

  // The data section must be covered exactly: no overlaps (two tensors sharing bytes) and no
  // gaps (bytes no tensor owns usually mean a damaged header).
  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const TensorInfo &a, const TensorInfo &b) {
              return a.offset != b.offset ? a.offset < b.offset : a.nbytes < b.nbytes;
            });
  std::uint64_t expected = 0;
  for (const auto &tensor : header.tensors) {
    if (tensor.offset < expected)
      throw FormatError("tensor " + in_quotes(tensor.name) +
                        " overlaps the bytes of another tensor");
    if (tensor.offset > expected)
      throw FormatError("bytes " + std::to_string(expected) + ".." + std::to_string(tensor.offset) +
                        " before tensor " + in_quotes(tensor.name) + " belong to no tensor");
    expected = tensor.offset + tensor.nbytes;
  }
  if (expected != data_size)
    throw FormatError("the last " + std::to_string(data_size - expected) +
                      " data bytes belong to no tensor");
  return header;
}

struct SafetensorsFile::Impl {
  std::filesystem::path path;
  std::shared_ptr<Mapping> mapping;
  const std::byte *data = nullptr;
  SafetensorsHeader header;
};

SafetensorsFile::SafetensorsFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SafetensorsFile::SafetensorsFile(SafetensorsFile &&) noexcept = default;
SafetensorsFile &SafetensorsFile::operator=(SafetensorsFile &&) noexcept = default;
SafetensorsFile::~SafetensorsFile() = default;

SafetensorsFile SafetensorsFile::open(const std::filesystem::path &path)
{
  const auto fail = [&](const std::string &what) {
    throw FormatError(path.string() + ": " + what);
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    fail(std::string("cannot stat: ") + std::strerror(errno));
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->size = static_cast<std::size_t>(st.st_size);
  if (mapping->size > 0) {
    void *bytes = mmap(nullptr, mapping->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (bytes == MAP_FAILED) {
      ::close(fd);
      fail(std::string("cannot map: ") + std::strerror(errno));
    }
    mapping->bytes = static_cast<const std::byte *>(bytes);
  }
  ::close(fd);

  if (mapping->size < 8)
    fail("too short for a safetensors file (" + std::to_string(mapping->size) + " bytes)");
  std::uint64_t header_size = 0;
  for (int b = 7; b >= 0; --b)
    header_size = (header_size << 8) | static_cast<std::uint8_t>(mapping->bytes[b]);
  if (header_size > kMaxHeaderBytes || header_size > mapping->size - 8)
    fail("header length " + std::to_string(header_size) + " does not fit the file of " +
         std::to_string(mapping->size) + " bytes");

  auto impl = std::make_unique<Impl>();
  impl->path = path;
  const std::string_view json(reinterpret_cast<const char *>(mapping->bytes + 8), header_size);
  try {
    impl->header = parse_safetensors_header(json, mapping->size - 8 - header_size);
  } catch (const FormatError &e) {
    fail(e.what());
  }
  impl->data = mapping->bytes + 8 + header_size;
  impl->mapping = std::move(mapping);
  return SafetensorsFile(std::move(impl));
}

const std::filesystem::path &SafetensorsFile::path() const
{
  return impl_->path;
}

const std::vector<TensorInfo> &SafetensorsFile::tensors() const
{
  return impl_->header.tensors;
}

const std::map<std::string, std::string> &SafetensorsFile::metadata() const
{
  return impl_->header.metadata;
}

const TensorInfo *SafetensorsFile::find(std::string_view name) const
{
  for (const auto &tensor : impl_->header.tensors)
    if (tensor.name == name) return &tensor;
  return nullptr;
}

const TensorInfo &SafetensorsFile::at(std::string_view name) const
{
  if (const TensorInfo *tensor = find(name)) return *tensor;
  throw FormatError(impl_->path.string() + ": no tensor named " + in_quotes(name));
}

const std::byte *SafetensorsFile::data(const TensorInfo &tensor) const
{
  return impl_->data + tensor.offset;
}

std::shared_ptr<const void> SafetensorsFile::keep_alive() const
{
  return impl_->mapping;
}

void write_safetensors(const std::filesystem::path &path, const std::vector<TensorBytes> &tensors,
                       const std::map<std::string, std::string> &metadata)
{
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  std::vector<std::uint64_t> sizes;
  for (const auto &tensor : tensors) {
    std::uint64_t elements = 1;
    for (auto extent : tensor.shape) {
      if (extent < 0)
        throw std::invalid_argument("tensor " + in_quotes(tensor.name) + " has a negative extent");
      elements *= static_cast<std::uint64_t>(extent);
    }
    const std::uint64_t nbytes = elements * dtype_size(tensor.dtype);
    if (header.contains(tensor.name))
      throw std::invalid_argument("tensor " + in_quotes(tensor.name) + " given twice");
    header[tensor.name] = {{"dtype", dtype_name(tensor.dtype)},
                           {"shape", tensor.shape},
                           {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    sizes.push_back(nbytes);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write " + path.string());
  unsigned char length[8];
  for (int b = 0; b < 8; ++b)
    length[b] = static_cast<unsigned char>((text.size() >> (8 * b)) & 0xFF);
  out.write(reinterpret_cast<const char *>(length), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (std::size_t i = 0; i < tensors.size(); ++i)
    out.write(static_cast<const char *>(tensors[i].data), static_cast<std::streamsize>(sizes[i]));
  if (!out.flush()) throw std::runtime_error("cannot write " + path.string());
}

}    // namespace cephalo::models
