// safetensors: round trips, zero-copy views, and refusal of damaged files with messages that
// name the tensor and the file.
#define BOOST_TEST_MODULE models
#include <boost/test/unit_test.hpp>

#include "cephalo/models/safetensors.h"
#include "scratch_dir.h"
#include "tensor_io.h"

#include <cstring>
#include <fstream>
#include <random>

namespace fs = std::filesystem;
using namespace cephalo::models;
using cephalo::test::ScratchDir;

namespace {

std::string bytes_of(const fs::path &path)
{
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const fs::path &path, const std::string &bytes)
{
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), bytes.size());
}

// A file with a raw header text and `data_bytes` zero bytes after it.
void write_raw(const fs::path &path, const std::string &header, std::size_t data_bytes)
{
  std::string bytes(8, '\0');
  for (int b = 0; b < 8; ++b) bytes[b] = static_cast<char>((header.size() >> (8 * b)) & 0xFF);
  bytes += header;
  bytes.append(data_bytes, '\0');
  write_bytes(path, bytes);
}

std::string error_of(const fs::path &path)
{
  try {
    SafetensorsFile::open(path);
  } catch (const FormatError &e) {
    return e.what();
  }
  return "";
}

}    // namespace

BOOST_AUTO_TEST_CASE(round_trip_keeps_names_shapes_values_and_metadata)
{
  ScratchDir dir;
  const torch::Tensor weight = torch::arange(12, torch::kFloat32).reshape({3, 4}) / 7.0;
  const torch::Tensor bias = torch::tensor({1.5, -2.25}, torch::kFloat32).to(torch::kBFloat16);
  const torch::Tensor ids = torch::tensor({7, 8, 9}, torch::kInt64);
  write_safetensors(
      dir.path() / "model.safetensors",
      {{"model.text_model.layers.0.mlp.down_proj.weight", DType::F32, {3, 4}, weight.data_ptr()},
       {"lm_head.bias", DType::BF16, {2}, bias.data_ptr()},
       {"ids", DType::I64, {3}, ids.data_ptr()}},
      {{"format", "pt"}});

  const auto file = SafetensorsFile::open(dir.path() / "model.safetensors");
  BOOST_TEST(file.tensors().size() == 3u);
  BOOST_TEST(file.metadata().at("format") == "pt");
  const TensorInfo &info = file.at("model.text_model.layers.0.mlp.down_proj.weight");
  BOOST_TEST((info.dtype == DType::F32));
  BOOST_TEST(info.shape == std::vector<std::int64_t>({3, 4}));
  BOOST_TEST(info.nbytes == 48u);

  BOOST_TEST(torch::equal(tensor_view(file, info), weight));
  BOOST_TEST(torch::equal(tensor_view(file, file.at("lm_head.bias")), bias));
  BOOST_TEST(torch::equal(tensor_view(file, file.at("ids")), ids));
  const auto converted =
      load_tensor(file, "lm_head.bias", {2}, torch::TensorOptions().dtype(torch::kFloat32));
  BOOST_TEST(converted[0].item<float>() == 1.5f);
  BOOST_TEST(converted[1].item<float>() == -2.25f);
}

BOOST_AUTO_TEST_CASE(views_outlive_the_file_object)
{
  ScratchDir dir;
  const torch::Tensor values = torch::linspace(0, 1, 5, torch::kFloat32);
  write_safetensors(dir.path() / "a.safetensors", {{"x", DType::F32, {5}, values.data_ptr()}});
  torch::Tensor view;
  {
    const auto file = SafetensorsFile::open(dir.path() / "a.safetensors");
    view = tensor_view(file, file.at("x"));
  }
  BOOST_TEST(torch::equal(view, values));
}

BOOST_AUTO_TEST_CASE(missing_or_misshaped_tensors_are_named)
{
  ScratchDir dir;
  const float zeros[6] = {};
  write_safetensors(dir.path() / "m.safetensors", {{"w", DType::F32, {2, 3}, zeros}});
  const auto file = SafetensorsFile::open(dir.path() / "m.safetensors");
  BOOST_CHECK_EXCEPTION(file.at("lm_head.weight"), FormatError, [](const FormatError &e) {
    return std::string(e.what()).find("no tensor named 'lm_head.weight'") != std::string::npos;
  });
  BOOST_CHECK_EXCEPTION(load_tensor(file, "w", {3, 2}, torch::TensorOptions()), FormatError,
                        [](const FormatError &e) {
                          return std::string(e.what()).find(
                                     "'w' has shape [2, 3], expected [3, 2]") != std::string::npos;
                        });
}

BOOST_AUTO_TEST_CASE(damaged_files_give_errors_that_name_the_problem)
{
  ScratchDir dir;
  const fs::path path = dir.path() / "bad.safetensors";
  const float values[4] = {1, 2, 3, 4};
  write_safetensors(path, {{"a", DType::F32, {2}, values}, {"b", DType::F32, {2}, values + 2}});
  const std::string good = bytes_of(path);

  write_bytes(path, good.substr(0, good.size() - 3));
  BOOST_TEST(error_of(path).find("tensor 'b'") != std::string::npos, error_of(path));
  BOOST_TEST(error_of(path).find("truncated") != std::string::npos);

  write_bytes(path, good.substr(0, 5));
  BOOST_TEST(error_of(path).find("too short") != std::string::npos);

  std::string huge = good;
  huge[7] = '\x7f';
  write_bytes(path, huge);
  BOOST_TEST(error_of(path).find("header length") != std::string::npos);

  write_raw(path, R"({"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", 8);
  BOOST_TEST(error_of(path).find("tensor 'a': unsupported dtype 'F33'") != std::string::npos);
  write_raw(path, R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8);
  BOOST_TEST(error_of(path).find("has 8 bytes, but dtype F32 and its shape need 12") !=
             std::string::npos);
  write_raw(path, R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8);
  BOOST_TEST(error_of(path).find("not a non-negative integer") != std::string::npos);
  write_raw(
      path,
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
      8);
  BOOST_TEST(error_of(path).find("overlaps") != std::string::npos);
  write_raw(path, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8);
  BOOST_TEST(error_of(path).find("belong to no tensor") != std::string::npos);
  write_raw(path, R"({"a": [)", 0);
  BOOST_TEST(error_of(path).find("not valid JSON") != std::string::npos);
  write_raw(path, R"([1, 2])", 0);
  BOOST_TEST(error_of(path).find("not a JSON object") != std::string::npos);
  BOOST_TEST(error_of(dir.path() / "absent.safetensors").find("cannot open") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(mutated_headers_never_crash_the_parser)
{
  // Deterministic mutation fuzzing of a valid header: every outcome must be a parsed header
  // or a FormatError (run under the asan preset, memory errors surface here too).
  const std::string valid =
      R"({"__metadata__":{"format":"pt"},"w":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},)"
      R"("b":{"dtype":"F32","shape":[3],"data_offsets":[12,24]}})";
  BOOST_REQUIRE_NO_THROW(parse_safetensors_header(valid, 24));
  std::mt19937 random(2024);
  std::string alphabet = "{}[]\",:0123456789-eE.abcdefFIBOL_ \\";
  alphabet += '\0';
  alphabet += '\xff';
  int parsed = 0, refused = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    std::string header = valid;
    const int edits = 1 + static_cast<int>(random() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = random() % (header.size() + 1);
      switch (random() % 3) {
      case 0:
        header.insert(at, 1, alphabet[random() % alphabet.size()]);
        break;
      case 1:
        if (at < header.size()) header.erase(at, 1);
        break;
      default:
        if (at < header.size()) header[at] = alphabet[random() % alphabet.size()];
        break;
      }
    }
    try {
      parse_safetensors_header(header, random() % 2 ? 24 : random() % 64);
      ++parsed;
    } catch (const FormatError &) {
      ++refused;
    }
  }
  BOOST_TEST(parsed + refused == 20000);
  BOOST_TEST(refused > 0);
}
