// A temporary folder for one test case: removed when the test case passes, kept (and named in
// the test log) when it fails or when CEPHALO_KEEP_TEST_FILES is set.
#pragma once

#include <filesystem>
#include <string>

namespace cephalo::test {

class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir &) = delete;
  ScratchDir &operator=(const ScratchDir &) = delete;

  const std::filesystem::path &path() const { return path_; }
  std::filesystem::path operator/(const std::string &name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}    // namespace cephalo::test
