// Per-test temporary folders (see scratch_dir.h).
#include "scratch_dir.h"

#include <boost/test/results_collector.hpp>
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <stdexcept>

namespace cephalo::test {

ScratchDir::ScratchDir()
{
  std::string pattern = (std::filesystem::temp_directory_path() / "cephalo-test-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed for " + pattern);
  path_ = pattern;
}

ScratchDir::~ScratchDir()
{
  const auto &results = boost::unit_test::results_collector.results(
      boost::unit_test::framework::current_test_case().p_id);
  if (!results.passed() || std::getenv("CEPHALO_KEEP_TEST_FILES")) {
    BOOST_TEST_MESSAGE("test files kept in " << path_);
    return;
  }
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

}    // namespace cephalo::test
