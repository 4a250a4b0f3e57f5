// fix cephalo/vlm inside a real lmp (plugin load) talking to real servers on 127.0.0.1:
// cephalo-serve with a tiny random model as a process, and bridge servers in this process with
// backends that answer in a known way (a fixed structured answer, slowly) so that counters,
// parsed values, skipping, timeouts and fix halt can be checked exactly.
#define BOOST_TEST_MODULE vlm_fix
#include <boost/test/unit_test.hpp>

#include "cephalo/bridge/backend.h"
#include "cephalo/bridge/server.h"
#include "lammps_runner.h"
#include "process.h"
#include "serve_process.h"
#include "tiny_model.h"

#include <nlohmann/json.hpp>

#include <csignal>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using cephalo::test::dead_endpoint;
using cephalo::test::LammpsRun;
using cephalo::test::read_text;
using cephalo::test::run_lammps;
using cephalo::test::ScratchDir;
using cephalo::test::tagged_values;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

namespace {

const std::string kExample = std::string(CEPHALO_EXAMPLES) + "/crack/in.crack";
const std::string kPrompt = std::string(CEPHALO_EXAMPLES) + "/crack/stress_prompt.txt";

void require_success(const LammpsRun &run)
{
  BOOST_TEST_INFO("lmp output:\n" << run.output);
  BOOST_REQUIRE_EQUAL(run.exit_code, 0);
}

std::vector<json> read_records(const fs::path &path)
{
  std::vector<json> records;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) records.push_back(json::parse(line));
  return records;
}

std::string read_bytes(const fs::path &path)
{
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Answers every request with Cephalo's structured form after `delay`, counting the images.
class StructuredBackend : public cephalo::bridge::Backend {
 public:
  StructuredBackend(std::string answer, std::chrono::milliseconds delay) :
      answer_(std::move(answer)), delay_(delay)
  {
  }
  std::string model_name() const override { return "structured-test"; }
  std::string kind() const override { return "test"; }
  void run(std::vector<cephalo::bridge::Job> &jobs,
           const std::function<bool(std::size_t)> & /*stop*/) override
  {
    std::this_thread::sleep_for(delay_);
    for (auto &job : jobs) {
      images_ += job.request->images.size();
      job.text = answer_;
    }
  }
  std::size_t images() const { return images_; }

 private:
  std::string answer_;
  std::chrono::milliseconds delay_;
  std::atomic<std::size_t> images_{0};
};

struct InProcessServer {
  cephalo::bridge::Server server;
  std::thread thread;
  explicit InProcessServer(std::unique_ptr<cephalo::bridge::Backend> backend) :
      server(options(), std::move(backend)), thread([this] { server.run(); })
  {
  }
  ~InProcessServer()
  {
    server.stop();
    thread.join();
  }
  static cephalo::bridge::ServerOptions options()
  {
    cephalo::bridge::ServerOptions o;
    o.bind = "tcp://127.0.0.1:0";
    o.log_requests = false;
    return o;
  }
};

// The crack example cut down to `steps` with the fix every `every` steps.
std::map<std::string, std::string> example_variables(const std::string &endpoint, int steps,
                                                     int every, const std::string &mode = "async")
{
  return {{"vlm", "yes"},
          {"vlm_endpoint", endpoint},
          {"steps", std::to_string(steps)},
          {"vlm_every", std::to_string(every)},
          {"vlm_prompt", kPrompt},
          {"vlm_mode", mode},
          {"vlm_tokens", "24"}};
}

// A small input of our own: a 2d LJ solid, ready for a fix line and a run.
const char *kSmallSystem = R"(
plugin load ${plugin}
dimension 2
boundary p s p
atom_style atomic
lattice hex 0.93
region box block 0 30 0 12 -0.25 0.25
create_box 1 box
create_atoms 1 box
mass * 1.0
pair_style lj/cut 2.5
pair_coeff * * 1.0 1.0 2.5
velocity all create 0.05 4928459 loop geom
compute pe all pe/atom
compute stress all stress/atom NULL
compute crack all cephalo/crack bond 1.5 axis x stress c_stress energy c_pe
fix nve all nve
timestep 0.003
)";

}    // namespace

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(answers)

// The example on 2 ranks with cephalo-serve running a tiny random Idefics2: one record per
// snapshot with the model's text and name, the compute's truth beside it, the PNG files, and
// the counters in thermo output.
BOOST_AUTO_TEST_CASE(crack_example_with_cephalo_serve_records_every_snapshot)
{
  ScratchDir dir;
  const fs::path model = cephalo::test::write_tiny_chat_model(dir.path() / "model",
                                                              cephalo::test::tiny_config(), 4);
  cephalo::test::ServeProcess serve(CEPHALO_SERVE,
                                    {"--model", model.string(), "--bind", "tcp://127.0.0.1:0",
                                     "--quiet", "--max-new-tokens", "24"});
  BOOST_REQUIRE(!serve.endpoint().empty());

  const LammpsRun run = run_lammps(dir.path(), read_text(kExample), 2,
                                   example_variables(serve.endpoint(), 1000, 250));
  require_success(run);
  const auto records = read_records(dir.path() / "vlm.jsonl");
  BOOST_REQUIRE_EQUAL(records.size(), 5u);    // steps 0, 250, ..., 1000
  for (std::size_t i = 0; i < records.size(); ++i) {
    const json &r = records[i];
    BOOST_TEST_INFO("record " << r.dump());
    BOOST_TEST(r["step"].get<long>() == static_cast<long>(250 * i));
    BOOST_TEST(r["time"].get<double>() == 250 * i * 0.003, boost::test_tools::tolerance(1e-9));
    BOOST_TEST(r["status"].get<std::string>() == "ok");
    BOOST_TEST(!r["text"].get<std::string>().empty());
    BOOST_TEST(r["model"].get<std::string>() == "model");    // the folder's name
    BOOST_TEST(r["prompt"].get<std::string>().find("CalculateVonMisesStressStatistics") == 0u);
    BOOST_TEST(r["latency_ms"].get<double>() > 0.0);
    BOOST_TEST(r["truth"]["reference_bonds"].get<double>() > 20000.0);
    BOOST_TEST(r["truth"].contains("vm_mean"));
    const std::string image = r["image"].get<std::string>();
    BOOST_TEST(image == "snap." + std::to_string(250 * i) + ".png");
    const std::string png = read_bytes(dir.path() / image);
    BOOST_TEST(png.substr(1, 3) == "PNG");
  }
  // thermo columns f_vlm[3] (answers) and f_vlm[4] (errors): the last row after the run has
  // counted at least the answers that came back while it ran
  BOOST_TEST(run.output.find("f_vlm[3]") != std::string::npos);
  BOOST_TEST(serve.stop(SIGTERM) == 0);
}

// A structured answer "[0.25, 0.75, 0.5]" lands in f_vlm[10..12]; an equal-style variable of
// it stops the run with fix halt, as soon as the first answer has arrived.
BOOST_AUTO_TEST_CASE(parsed_answer_feeds_variables_and_fix_halt)
{
  ScratchDir dir;
  InProcessServer server(
      std::make_unique<StructuredBackend>("[0.25, 0.75, 0.5]", std::chrono::milliseconds(0)));
  std::string input = kSmallSystem;
  input += "fix vlm all cephalo/vlm 20 color vonmises crack c_crack endpoint " +
           server.server.endpoint() + " output vlm.jsonl mode sync\n";
  input += "variable mean equal f_vlm[11]\n";
  input += "variable answered equal f_vlm[3]\n";
  input += "fix stop all halt 10 v_mean > 0.7 error continue\n";
  input += "thermo_style custom step f_vlm[1] f_vlm[3] f_vlm[10] f_vlm[11] f_vlm[12]\n";
  input += "thermo 10\nrun 1000\n";
  input += "print \"VLM step=$(step) answered=${answered} mean=${mean} stdev=$(f_vlm[10]) median=$(f_vlm[12]) last=$(f_vlm[8])\"\n";
  const LammpsRun run = run_lammps(dir.path(), input, 2);
  require_success(run);
  const auto values = tagged_values(run.output, "VLM");
  // sync mode: the answer to step 0 is in before step 1, so halt fires at its first check
  BOOST_TEST(values.at("step") == 10.0);
  BOOST_TEST(values.at("answered") == 1.0);
  BOOST_TEST(values.at("stdev") == 0.25);
  BOOST_TEST(values.at("mean") == 0.75);
  BOOST_TEST(values.at("median") == 0.5);
  BOOST_TEST(values.at("last") == 0.0);
  // thermo output prints the vector: the row of step 10 under its header
  std::istringstream lines(run.output);
  bool under_header = false, row_found = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.find("Step") != std::string::npos && line.find("f_vlm[11]") != std::string::npos) {
      under_header = true;
      continue;
    }
    std::istringstream row(line);
    double step = -1, snapshots = 0, answered = 0, stdev = 0, mean = 0, median = 0;
    if (under_header && row >> step >> snapshots >> answered >> stdev >> mean >> median &&
        step == 10.0) {
      row_found = true;
      BOOST_TEST(snapshots == 1.0);
      BOOST_TEST(answered == 1.0);
      BOOST_TEST(stdev == 0.25);
      BOOST_TEST(mean == 0.75);
      BOOST_TEST(median == 0.5);
    }
  }
  BOOST_TEST(row_found);
  const auto records = read_records(dir.path() / "vlm.jsonl");
  BOOST_REQUIRE_EQUAL(records.size(), 1u);
  BOOST_TEST(records[0]["values"] == json::parse("[0.25, 0.75, 0.5]"));
}

// A slow server and one request in flight: snapshots taken while it is busy are recorded as
// skipped (not queued); answers still out at the end of the run wait `drain` seconds and are
// then recorded as timeouts; the run itself does not wait for the model.
BOOST_AUTO_TEST_CASE(busy_server_skips_and_end_of_run_times_out)
{
  ScratchDir dir;
  InProcessServer server(
      std::make_unique<StructuredBackend>("[1, 2, 3]", std::chrono::milliseconds(1500)));
  std::string input = kSmallSystem;
  input += "fix vlm all cephalo/vlm 10 endpoint " + server.server.endpoint() +
           " output vlm.jsonl inflight 1 drain 0.2\n";
  input += "run 0\nrun 100\n";    // run 0 takes the snapshot of step 0; run 100 does not repeat it
  input += "print \"VLM snapshots=$(f_vlm[1]) sent=$(f_vlm[2]) ok=$(f_vlm[3]) skipped=$(f_vlm[5]) timeouts=$(f_vlm[6])\"\n";
  const auto start = Clock::now();
  const LammpsRun run = run_lammps(dir.path(), input, 1);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  require_success(run);
  const auto values = tagged_values(run.output, "VLM");
  BOOST_TEST(values.at("snapshots") == 11.0);
  BOOST_TEST(values.at("sent") >= 1.0);
  BOOST_TEST(values.at("skipped") >= 8.0);
  BOOST_TEST(values.at("sent") + values.at("skipped") == 11.0);
  BOOST_TEST(values.at("timeouts") == values.at("sent") - values.at("ok"));
  BOOST_TEST(seconds < 6.0);
  const auto records = read_records(dir.path() / "vlm.jsonl");
  BOOST_REQUIRE_EQUAL(records.size(), 11u);
  std::map<std::string, int> statuses;
  for (std::size_t i = 0; i < records.size(); ++i) {
    BOOST_TEST(records[i]["step"].get<long>() == static_cast<long>(10 * i));    // in step order
    ++statuses[records[i]["status"].get<std::string>()];
  }
  BOOST_TEST(statuses["skipped"] == values.at("skipped"));
  BOOST_TEST(statuses["timeout"] >= 1);
  BOOST_TEST(records[0]["status"].get<std::string>() == "timeout");
}

// With CURVE keys from `cephalo serve keygen`, the fix's key files get answers; without them the
// server refuses the handshake and the snapshots are errors, not a hang.
BOOST_AUTO_TEST_CASE(curve_keys_from_files_are_admitted_and_their_absence_is_an_error)
{
  ScratchDir dir;
  for (const char *name : {"server", "client"}) {
    const auto made = cephalo::test::run_command(
        dir.path(), cephalo::test::shell_quote(CEPHALO_SERVE) + " keygen " + name);
    BOOST_REQUIRE_MESSAGE(made.exit_code == 0, made.output);
  }
  std::filesystem::copy_file(dir.path() / "client.pub", dir.path() / "clients.txt");
  cephalo::test::ServeProcess serve(
      CEPHALO_SERVE, {"--echo", "--bind", "tcp://127.0.0.1:0", "--quiet", "--curve-key",
                      (dir.path() / "server.key").string(), "--curve-clients",
                      (dir.path() / "clients.txt").string()});
  BOOST_REQUIRE(!serve.endpoint().empty());
  const std::string base = std::string(kSmallSystem) + "fix vlm all cephalo/vlm 10 endpoint " +
                           serve.endpoint() + " probe 1 drain 5 ";
  require_success(run_lammps(dir.path(), base + "curve server.pub client.key output with.jsonl\nrun 20\n", 1));
  const auto admitted = read_records(dir.path() / "with.jsonl");
  BOOST_TEST(admitted.size() == 3u);    // steps 0, 10, 20
  for (const auto &r : admitted) {
    BOOST_TEST_INFO(r.dump());
    BOOST_TEST(r["status"].get<std::string>() == "ok");
    BOOST_TEST(r["text"].get<std::string>().rfind("echo:", 0) == 0u);
  }
  require_success(run_lammps(dir.path(), base + "output without.jsonl\nrun 20\n", 1));
  const auto refused = read_records(dir.path() / "without.jsonl");
  BOOST_TEST(refused.size() == 3u);
  for (const auto &r : refused) BOOST_TEST(r["status"].get<std::string>() == "error");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(dead_server)

// With nothing listening, the run takes about as long as without the fix asking anyone, and
// every snapshot is recorded as an error that names the endpoint.
BOOST_AUTO_TEST_CASE(run_finishes_in_normal_time_with_error_records)
{
  ScratchDir dir;
  const std::string input = read_text(kExample);

  const auto start_none = Clock::now();
  require_success(run_lammps(dir.path(), input, 2, example_variables("none", 1500, 100)));
  const double none_seconds = std::chrono::duration<double>(Clock::now() - start_none).count();
  const auto recorded = read_records(dir.path() / "vlm.jsonl");
  BOOST_REQUIRE_EQUAL(recorded.size(), 16u);
  for (const auto &r : recorded) BOOST_TEST(r["status"].get<std::string>() == "recorded");

  const std::string endpoint = dead_endpoint();
  const auto start = Clock::now();
  const LammpsRun run = run_lammps(dir.path(), input, 2, example_variables(endpoint, 1500, 100));
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  require_success(run);
  BOOST_TEST_MESSAGE("record only " << none_seconds << " s, dead server " << seconds << " s");
  // one probe of 2 s (the default) is the only wait
  BOOST_TEST(seconds < none_seconds + 4.0);
  const auto records = read_records(dir.path() / "vlm.jsonl");
  BOOST_REQUIRE_EQUAL(records.size(), 16u);
  for (const auto &r : records) {
    BOOST_TEST(r["status"].get<std::string>() == "error");
    BOOST_TEST(r["error"].get<std::string>().find(endpoint) != std::string::npos);
    BOOST_TEST(r.contains("truth"));
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(ranks)

// The same snapshots, byte for byte, from 1 and from 2 ranks: the 2d crack example, and a 3d
// triclinic crystal seen from an angle.
BOOST_AUTO_TEST_CASE(one_and_two_ranks_write_identical_png_files)
{
  ScratchDir one, two;
  const std::string input = read_text(kExample);
  for (auto *dir : {&one, &two})
    require_success(run_lammps(dir->path(), input, dir == &one ? 1 : 2,
                               example_variables("none", 600, 200)));
  for (int step : {0, 200, 400, 600}) {
    const std::string name = "snap." + std::to_string(step) + ".png";
    const std::string a = read_bytes(one.path() / name), b = read_bytes(two.path() / name);
    BOOST_TEST_INFO(name);
    BOOST_TEST(a.size() > 1000u);
    BOOST_TEST((a == b));
  }

  const std::string crystal = R"(
plugin load ${plugin}
units lj
atom_style atomic
lattice fcc 0.8442
region box prism 0 6 0 5 0 4 1.0 0.5 0.0
create_box 2 box
create_atoms 1 box
set type 1 type/fraction 2 0.3 12345
mass * 1.0
pair_style lj/cut 2.5
pair_coeff * * 1.0 1.0 2.5
velocity all create 1.0 87287 loop geom
compute pe all pe/atom
fix nve all nve
fix vlm all cephalo/vlm 25 color c_pe map coolwarm view 60 30 size 320 240 endpoint none file tri.*.png output tri.jsonl
run 50
)";
  ScratchDir one3, two3;
  require_success(run_lammps(one3.path(), crystal, 1));
  require_success(run_lammps(two3.path(), crystal, 2));
  for (int step : {0, 25, 50}) {
    const std::string name = "tri." + std::to_string(step) + ".png";
    BOOST_TEST_INFO(name);
    BOOST_TEST((read_bytes(one3.path() / name) == read_bytes(two3.path() / name)));
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(errors)

// Each bad fix command is a LAMMPS ERROR line that names the keyword and what it expected.
BOOST_AUTO_TEST_CASE(bad_arguments_are_clean_lammps_errors)
{
  ScratchDir dir;
  {
    std::ofstream(dir.path() / "atom_var.in") << "";
  }
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"fix v all cephalo/vlm", "Illegal fix cephalo/vlm command"},
      {"fix v all cephalo/vlm 0", "needs N > 0"},
      {"fix v all cephalo/vlm 10 colour type", "Unknown fix cephalo/vlm keyword: colour"},
      {"fix v all cephalo/vlm 10 color c_pe[", "keyword color"},
      {"fix v all cephalo/vlm 10 color vonmises", "keyword color vonmises needs keyword crack"},
      {"fix v all cephalo/vlm 10 map jet", "keyword map"},
      {"fix v all cephalo/vlm 10 range 2 1", "keyword range needs MIN < MAX"},
      {"fix v all cephalo/vlm 10 range 2", "keyword range needs auto or two numbers"},
      {"fix v all cephalo/vlm 10 view +w", "keyword view"},
      {"fix v all cephalo/vlm 10 size 8 100", "keyword size needs a width in pixels in 16..8192"},
      {"fix v all cephalo/vlm 10 file snap.png", "keyword file needs a * for the step"},
      {"fix v all cephalo/vlm 10 endpoint localhost:5555", "keyword endpoint needs tcp://"},
      {"fix v all cephalo/vlm 10 mode later", "keyword mode needs async or sync"},
      {"fix v all cephalo/vlm 10 format yaml", "keyword format needs text or json"},
      {"fix v all cephalo/vlm 10 numbers mean", "keyword numbers needs mode or median"},
      {"fix v all cephalo/vlm 10 top_p 1.5", "keyword top_p needs a value in (0, 1]"},
      {"fix v all cephalo/vlm 10 inflight 0", "keyword inflight needs a count in 1..1024"},
      {"fix v all cephalo/vlm 10 prompt/file missing.txt", "cannot read a prompt from missing.txt"},
      {"fix v all cephalo/vlm 10 curve server.pub",
       "keyword curve needs the server's public key file"},
      {"fix v all cephalo/vlm 10 curve server.pub client.key", "keyword curve"},
      {"fix v all cephalo/vlm 10 output no/such/dir/v.jsonl",
       "keyword output: cannot open no/such/dir/v.jsonl"},
      {"fix v all cephalo/vlm 10 colorbar maybe", "keyword colorbar needs yes or no"},
      {"fix v all cephalo/vlm 10 timeout", "keyword timeout needs seconds"},
      // checked in init(), at the run
      {"fix v all cephalo/vlm 10 color c_nope endpoint none\nrun 0",
       "Compute ID nope for fix cephalo/vlm keyword color does not exist"},
      {"fix v all cephalo/vlm 10 color c_stress endpoint none\nrun 0",
       "is a per-atom array: name a column"},
      {"variable e equal 1.0\nfix v all cephalo/vlm 10 color v_e endpoint none\nrun 0",
       "Variable e for fix cephalo/vlm keyword color is not an atom-style variable"},
      {"fix v all cephalo/vlm 10 crack c_pe endpoint none\nrun 0",
       "has style pe/atom, not cephalo/crack"},
      {"fix v all cephalo/vlm 10 size 64 64 endpoint none\nrun 0",
       "leaves no room for the atoms beside the colour bar (86 px at this size): make the picture "
       "at least 102 px wide"},
  };
  for (const auto &[command, expected] : cases) {
    const LammpsRun run = run_lammps(dir.path(), std::string(kSmallSystem) + command + "\n", 1);
    BOOST_TEST_INFO(command << "\n" << run.output);
    BOOST_TEST(run.exit_code != 0);
    const auto error = run.output.find("ERROR");
    BOOST_TEST(error != std::string::npos);
    BOOST_TEST(run.output.find(expected, error == std::string::npos ? 0 : error) != std::string::npos);
  }
}

BOOST_AUTO_TEST_SUITE_END()
