// The model side of fix cephalo/vlm without LAMMPS: answers parsed into numbers, and a session
// against a real bridge server on 127.0.0.1 writing its records in step order.
#define BOOST_TEST_MODULE vlm_session
#include <boost/test/unit_test.hpp>

#include "cephalo/bridge/backend.h"
#include "cephalo/bridge/server.h"
#include "core/vlm_session.h"
#include "scratch_dir.h"

#include <mpi.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <thread>

using cephalo::plugin::parse_answer_values;
using cephalo::test::ScratchDir;

namespace {

struct MpiSession {
  MpiSession() { MPI_Init(nullptr, nullptr); }
  ~MpiSession() { MPI_Finalize(); }
};
BOOST_TEST_GLOBAL_FIXTURE(MpiSession);

std::vector<nlohmann::json> read_records(const std::filesystem::path &path)
{
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

cephalo::plugin::Snapshot small_snapshot(std::int64_t step)
{
  cephalo::plugin::Snapshot s;
  s.step = step;
  s.time = 0.5 * static_cast<double>(step);
  s.resolved.width = 32;
  s.resolved.height = 24;
  s.resolved.auto_range = false;
  s.resolved.radius = 0.1;
  s.image = cephalo::plugin::Framebuffer(32, 24, {255, 255, 255});
  s.truth = {{"crack_length", 2.5 * static_cast<double>(step)}};
  return s;
}

}    // namespace

BOOST_AUTO_TEST_CASE(cephalo_answer_forms_give_numbers_and_prose_gives_none)
{
  bool found = false;
  auto v = parse_answer_values("The statistics are [0.28, 0.83, 0.84].", {}, 3, &found);
  BOOST_TEST(found);
  BOOST_TEST(v == std::vector<double>({0.28, 0.83, 0.84}), boost::test_tools::per_element());

  // an object: its fields in the order written, true as 1
  v = parse_answer_values("{\"tip_x\": 41.5, \"initiated\": true, \"note\": \"x\"}", {}, 3, &found);
  BOOST_TEST(v[0] == 41.5);
  BOOST_TEST(v[1] == 1.0);
  BOOST_TEST(std::isnan(v[2]));

  // named fields, missing ones NaN, a count shorter than the names
  v = parse_answer_values("answer: {\"b\": 2, \"a\": 1}", {"a", "c", "b"}, 3, &found);
  BOOST_TEST(v[0] == 1.0);
  BOOST_TEST(std::isnan(v[1]));
  BOOST_TEST(v[2] == 2.0);

  // prose with numbers, broken brackets: nothing
  v = parse_answer_values("At step 250 the crack is 12.5 long [see figure", {}, 2, &found);
  BOOST_TEST(!found);
  BOOST_TEST((std::isnan(v[0]) && std::isnan(v[1])));
  // a bracket that is not an array of numbers is passed over for the next one
  v = parse_answer_values("[note] then [1, 2]", {}, 2, &found);
  BOOST_TEST(found);
  BOOST_TEST(v[1] == 2.0);
}

BOOST_AUTO_TEST_CASE(record_only_session_writes_every_snapshot_in_order_with_its_image)
{
  ScratchDir dir;
  cephalo::plugin::VlmSettings settings;
  settings.output = (dir / "records.jsonl").string();
  settings.image_pattern = (dir / "s.*.png").string();
  {
    cephalo::plugin::VlmSession session(settings);
    for (int step = 0; step < 5; ++step) session.submit(small_snapshot(10 * step));
    BOOST_TEST(session.drain(10.0) == 0u);
    BOOST_TEST(session.counters().snapshots == 5.0);
  }
  const auto records = read_records(dir / "records.jsonl");
  BOOST_REQUIRE_EQUAL(records.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    BOOST_TEST(records[i]["step"] == 10 * i);
    BOOST_TEST(records[i]["status"] == "recorded");
    BOOST_TEST(records[i]["truth"]["crack_length"] == 25.0 * i);
    BOOST_TEST(std::filesystem::file_size(records[i]["image"].get<std::string>()) > 50u);
  }
}

BOOST_AUTO_TEST_CASE(unwritable_records_file_is_a_clear_error)
{
  cephalo::plugin::VlmSettings settings;
  settings.output = "/no/such/folder/records.jsonl";
  BOOST_CHECK_EXCEPTION(cephalo::plugin::VlmSession session(settings), std::runtime_error,
                        [](const std::runtime_error &e) {
                          return std::string(e.what()).find("/no/such/folder/records.jsonl") !=
                                 std::string::npos;
                        });
}

// Deleting the session while an answer is out records it as a timeout instead of losing it.
BOOST_AUTO_TEST_CASE(session_deleted_with_answers_out_records_them)
{
  struct Slow : cephalo::bridge::Backend {
    std::string model_name() const override { return "slow"; }
    std::string kind() const override { return "test"; }
    void run(std::vector<cephalo::bridge::Job> &jobs,
             const std::function<bool(std::size_t)> &) override
    {
      std::this_thread::sleep_for(std::chrono::milliseconds(800));
      for (auto &job : jobs) job.text = "[1]";
    }
  };
  cephalo::bridge::ServerOptions options;
  options.bind = "tcp://127.0.0.1:0";
  options.log_requests = false;
  cephalo::bridge::Server server(options, std::make_unique<Slow>());
  std::thread serving([&] { server.run(); });

  ScratchDir dir;
  cephalo::plugin::VlmSettings settings;
  settings.endpoint = server.endpoint();
  settings.output = (dir / "records.jsonl").string();
  {
    cephalo::plugin::VlmSession session(settings);
    const auto first = session.submit(small_snapshot(0));
    BOOST_TEST(session.wait(first, 5.0));    // answered within the wait
    session.submit(small_snapshot(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  server.stop();
  serving.join();
  const auto records = read_records(dir / "records.jsonl");
  BOOST_REQUIRE_EQUAL(records.size(), 2u);
  BOOST_TEST(records[0]["status"] == "ok");
  BOOST_TEST(records[0]["values"][0] == 1.0);
  BOOST_TEST(records[0]["model"] == "slow");
  BOOST_TEST(records[1]["status"] == "timeout");
}
