// cephalo-serve as a process: a tiny random model behind it answers describe requests; SIGTERM
// drains and exits 0; killed in the middle of a request and started again on the same port, the
// waiting client gets its answer from the new process within its deadline.
#define BOOST_TEST_MODULE bridge_serve_process
#include <boost/test/unit_test.hpp>

#include "cephalo/bridge/client.h"
#include "cephalo/models/checkpoint.h"
#include "cephalo/models/image.h"
#include "scratch_dir.h"
#include "serve_process.h"
#include "tiny_model.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

namespace fs = std::filesystem;
using namespace cephalo::bridge;
using cephalo::test::ScratchDir;
using Clock = std::chrono::steady_clock;

namespace {

// A running cephalo-serve; its first line of stdout is the endpoint it bound.
class ServeProcess : public cephalo::test::ServeProcess {
 public:
  explicit ServeProcess(const std::vector<std::string> &args) :
      cephalo::test::ServeProcess(CEPHALO_SERVE, args)
  {
  }
};

// A random tiny Idefics2 with the tokenizer fixture, a little wider than the unit tests' so that
// an answer of a few hundred tokens takes long enough to be interrupted. The seed makes answer
// lengths reproducible.
fs::path write_model(const fs::path &dir)
{
  auto c = cephalo::test::tiny_config();
  c.text.hidden_size = 64;
  c.text.intermediate_size = 128;
  c.text.head_dim = 16;
  c.text.max_position_embeddings = 4096;
  return cephalo::test::write_tiny_chat_model(dir, c, 4);
}

std::string png_bytes(const fs::path &dir)
{
  cephalo::models::Image image;
  image.width = 24;
  image.height = 20;
  for (int i = 0; i < 24 * 20 * 3; ++i) image.rgb.push_back(static_cast<std::uint8_t>(i * 13));
  cephalo::models::write_png(dir / "crack.png", image);
  std::ifstream in(dir / "crack.png", std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

Request describe(const std::string &png, int max_new_tokens, int deadline_ms)
{
  Request r;
  r.type = RequestType::Describe;
  r.prompt = "Describe the crack.";
  r.images = {png};
  r.params.max_new_tokens = max_new_tokens;
  r.deadline_ms = deadline_ms;
  return r;
}

}    // namespace

BOOST_AUTO_TEST_CASE(a_model_answers_and_sigterm_drains_and_exits_0)
{
  ScratchDir dir;
  const auto model = write_model(dir / "model");
  ServeProcess serve({"--model", model.string(), "--bind", "tcp://127.0.0.1:0", "--quiet"});
  BOOST_TEST_REQUIRE(serve.endpoint().rfind("tcp://127.0.0.1:", 0) == 0);
  ClientOptions options;
  options.endpoint = serve.endpoint();
  Client client(options);
  const auto reply = client.call(describe(png_bytes(dir.path()), 12, 60000));
  BOOST_TEST_INFO(reply.error_code << " " << reply.error_message);
  BOOST_TEST_REQUIRE(reply.ok());
  BOOST_TEST(reply.body["tokens"] == 12);
  BOOST_TEST(reply.body["finish_reason"] == "length");
  BOOST_TEST(!reply.text().empty());
  BOOST_TEST(reply.timing().prefill_ms > 0.0);

  // a request in flight when SIGTERM arrives is still answered; then the server exits 0
  AsyncClient async(options);
  auto pending = *async.submit(describe(png_bytes(dir.path()), 300, 60000));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  BOOST_TEST(serve.stop(SIGTERM) == 0);
  BOOST_TEST(pending.get().ok());
}

BOOST_AUTO_TEST_CASE(killed_mid_request_and_restarted_the_client_still_gets_its_answer)
{
  ScratchDir dir;
  const auto model = write_model(dir / "model");
  auto first = std::make_unique<ServeProcess>(std::vector<std::string>{
      "--model", model.string(), "--bind", "tcp://127.0.0.1:0", "--quiet"});
  const std::string endpoint = first->endpoint();
  BOOST_TEST_REQUIRE(!endpoint.empty());
  ClientOptions options;
  options.endpoint = endpoint;
  options.retry_interval_ms = 500;
  const auto png = png_bytes(dir.path());
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    first->stop(SIGKILL);
    first = std::make_unique<ServeProcess>(
        std::vector<std::string>{"--model", model.string(), "--bind", endpoint, "--quiet"});
  });
  const auto start = Clock::now();
  const auto reply = Client(options).call(describe(png, 200, 30000));
  killer.join();
  BOOST_TEST_INFO(reply.error_code << " " << reply.error_message);
  BOOST_TEST(reply.ok());
  BOOST_TEST(std::chrono::duration<double>(Clock::now() - start).count() < 30.0);

  // with the server gone for good: an error within the deadline
  first->stop(SIGKILL);
  const auto gone_start = Clock::now();
  const auto gone = Client(options).call(describe(png, 4, 1500));
  BOOST_TEST(gone.error_code == "unreachable");
  BOOST_TEST(std::chrono::duration<double>(Clock::now() - gone_start).count() < 2.5);
}

BOOST_AUTO_TEST_CASE(a_request_the_model_refuses_fails_alone_in_its_batch)
{
  ScratchDir dir;
  const auto model = write_model(dir / "model");
  ServeProcess serve({"--model", model.string(), "--bind", "tcp://127.0.0.1:0", "--quiet",
                      "--batch-wait-ms", "300"});
  ClientOptions options;
  options.endpoint = serve.endpoint();
  AsyncClient async(options);
  const auto png = png_bytes(dir.path());
  auto good = describe(png, 6, 60000);
  auto too_long = describe(png, 6, 60000);
  too_long.prompt.clear();
  for (int i = 0; i < 3000; ++i) too_long.prompt += "crack tip ";    // past max_position_embeddings
  auto good_reply = *async.submit(good);
  auto long_reply = *async.submit(too_long);
  const auto refused = long_reply.get();
  BOOST_TEST(refused.error_code == "bad_request");
  BOOST_TEST(refused.error_message.find("max_position_embeddings") != std::string::npos);
  BOOST_TEST(good_reply.get().ok());
}
