// The design loop against cephalo-serve as a process (its echo backend answers, in text that is
// not a spec), and `design` requests over ZeroMQ: a part and its preview come back as attachments,
// malformed requests are refused by field and the server goes on answering.
#define BOOST_TEST_MODULE agents_design_serve
#include <boost/test/unit_test.hpp>

#include "cephalo/agents/design_agent.h"
#include "cephalo/bridge/client.h"
#include "cephalo/meshing/check.h"
#include "cephalo/meshing/stl.h"
#include "design_test_support.h"
#include "scratch_dir.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <iterator>

namespace fs = std::filesystem;
using namespace cephalo;
using cephalo::test::ScratchDir;
using cephalo::test::ServeProcess;
using nlohmann::json;

namespace {

const std::string kGyroid = "a gyroid scaffold 10 mm cube, 5 mm cells";

std::vector<json> steps_named(const json &trace, const std::string &name)
{
  std::vector<json> out;
  for (const auto &s : trace["steps"])
    if (s["step"] == name) out.push_back(s);
  return out;
}

std::string read_bytes(const fs::path &path)
{
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const fs::path &path, const std::string &bytes)
{
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

ServeProcess echo_server()
{
  return ServeProcess(CEPHALO_SERVE, {"--echo", "--bind", "tcp://127.0.0.1:0", "--quiet"});
}

// A PNG of a real part: the preview the interpreter's gyroid renders to.
std::string preview_png(const ScratchDir &dir)
{
  agents::DesignOptions o;
  o.work_dir = dir / "png";
  agents::DesignAgent agent(o);
  return read_bytes(agent.design(kGyroid).preview);
}

bridge::Request design_request(const std::string &text)
{
  bridge::Request r;
  r.type = bridge::RequestType::Design;
  r.design.text = text;
  r.deadline_ms = 120000;
  return r;
}

// A raw request, for bodies the typed Request cannot express.
bridge::Reply send_raw(const std::string &endpoint, const json &body,
                       const std::vector<std::string> &attachments = {}, int deadline_ms = 60000)
{
  zmq::context_t context;
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  socket.connect(endpoint);
  bridge::Envelope e;
  const std::string id = bridge::new_request_id();
  e.header = {{"id", id}, {"type", "design"}, {"deadline_ms", deadline_ms}};
  e.body = body;
  e.attachments = attachments;
  bridge::send_frames(socket, bridge::encode(e));
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, std::chrono::milliseconds(deadline_ms + 5000));
  BOOST_REQUIRE(item.revents & ZMQ_POLLIN);
  const auto frames = bridge::receive_frames(socket);
  BOOST_REQUIRE(frames);
  const bridge::Reply reply = bridge::parse_reply(bridge::decode(*frames));
  BOOST_TEST(reply.id == id);
  return reply;
}

bool healthy(const std::string &endpoint)
{
  bridge::ClientOptions o;
  o.endpoint = endpoint;
  bridge::Client client(o);
  bridge::Request r;
  r.type = bridge::RequestType::Health;
  r.deadline_ms = 5000;
  const auto reply = client.call(r);
  return reply.ok() && reply.body["state"] == "serving";
}

}    // namespace

// ---- agents.design.* with cephalo-serve

BOOST_AUTO_TEST_CASE(echo_answers_are_refused_as_specs_and_the_interpreter_takes_over)
{
  ScratchDir dir;
  const auto serve = echo_server();
  BOOST_TEST_REQUIRE(serve.endpoint().rfind("tcp://127.0.0.1:", 0) == 0u);
  agents::DesignOptions o;
  o.work_dir = dir / "work";
  o.endpoint = serve.endpoint();
  o.spec_retries = 2;
  agents::DesignAgent agent(o);
  const auto result = agent.design(kGyroid);
  BOOST_TEST_REQUIRE(result.ok());
  BOOST_TEST(result.spec_source == "interpreter");
  BOOST_TEST(result.fallback.find("no valid spec in 3 answer(s)") != std::string::npos);
  const json &trace = *result.trace;
  const auto probe = steps_named(trace, "probe");
  BOOST_TEST_REQUIRE(probe.size() == 1u);
  BOOST_TEST(probe[0]["outputs"]["backend"] == "echo");
  const auto attempts = steps_named(trace, "model_spec");
  BOOST_TEST_REQUIRE(attempts.size() == 3u);
  std::size_t previous = 0;
  for (const auto &a : attempts) {
    // the echo backend counts the prompt: each re-ask is longer, since it holds the refusal
    const std::string answer = a["outputs"]["answer"];
    BOOST_TEST(answer.rfind("echo: ", 0) == 0u);
    BOOST_TEST(a["error"] == "the answer holds no JSON object");
    const std::size_t chars = std::stoul(answer.substr(6));
    BOOST_TEST(chars > previous);
    previous = chars;
  }
  BOOST_TEST(steps_named(trace, "fallback").size() == 1u);
  BOOST_TEST(steps_named(trace, "interpret").size() == 1u);
}

BOOST_AUTO_TEST_CASE(an_image_described_by_cephalo_serve_ends_in_a_part)
{
  ScratchDir dir;
  const auto serve = echo_server();
  const fs::path png = dir / "photo.png";
  write_bytes(png, preview_png(dir));
  agents::DesignOptions o;
  o.work_dir = dir / "work";
  o.endpoint = serve.endpoint();
  o.spec_retries = 0;
  agents::DesignAgent agent(o);
  // the echo backend's description says what reached it: the image's bytes, so the trace shows
  // that this image was described; the hint says what to build
  const auto result = agent.design_from_image(png, kGyroid);
  BOOST_TEST_REQUIRE(result.ok());
  const std::string bytes = std::to_string(fs::file_size(png)) + " bytes";
  BOOST_TEST(result.description.rfind("echo: ", 0) == 0u);
  BOOST_TEST(result.description.find("1 image(s), " + bytes) != std::string::npos);
  const json &trace = *result.trace;
  const auto describe = steps_named(trace, "describe_image");
  BOOST_TEST_REQUIRE(describe.size() == 1u);
  BOOST_TEST(describe[0]["inputs"]["bytes"] == fs::file_size(png));
  BOOST_TEST(describe[0]["outputs"]["description"] == result.description);
  // the description (and the hint after it) is the text the design was made from
  const std::string used = steps_named(trace, "interpret").at(0)["inputs"]["text"];
  BOOST_TEST(used == result.description + ".\n" + kGyroid);
  BOOST_TEST(steps_named(trace, "model_spec")
                 .at(0)["inputs"]["prompt"]
                 .get<std::string>()
                 .find(result.description) != std::string::npos);
  BOOST_TEST(result.spec.pattern().family == meshing::Family::Tpms);
}

// ---- bridge.design.*

BOOST_AUTO_TEST_CASE(a_design_request_returns_the_part_and_its_preview)
{
  ScratchDir dir;
  const auto serve = echo_server();
  bridge::ClientOptions o;
  o.endpoint = serve.endpoint();
  bridge::Client client(o);
  const auto reply = client.call(design_request(kGyroid));
  BOOST_TEST_INFO(reply.error_code << " " << reply.error_message);
  BOOST_TEST_REQUIRE(reply.ok());
  const json &body = reply.body;
  BOOST_TEST(body["spec"]["family"] == "tpms");
  BOOST_TEST(body["spec"]["form"]["size"][0] == 10.0);
  BOOST_TEST(body["spec_source"] == "interpreter");    // the echo backend writes no spec
  BOOST_TEST(body.contains("fallback"));
  BOOST_TEST(body["report"]["ok"] == true);
  BOOST_TEST(!body["trace"]["steps"].empty());
  BOOST_TEST(body["timing"]["total_ms"].get<double>() > 0.0);

  BOOST_TEST_REQUIRE(body["files"].size() == 1u);
  const json &file = body["files"][0];
  BOOST_TEST(file["format"] == "stl");
  const std::size_t index = file["attachment"];
  BOOST_TEST_REQUIRE(index < reply.attachments.size());
  BOOST_TEST(reply.attachments[index].size() == file["bytes"].get<std::size_t>());
  const fs::path stl = dir / "part.stl";
  write_bytes(stl, reply.attachments[index]);
  const auto mesh = meshing::read_stl(stl);
  const auto check = meshing::check_mesh(mesh);
  BOOST_TEST(check.watertight());
  BOOST_TEST(mesh.triangles.size() == body["report"]["triangles"].get<std::size_t>());
  BOOST_TEST(check.volume > 0.0);

  const std::size_t preview = body["preview"]["attachment"];
  BOOST_TEST_REQUIRE(preview < reply.attachments.size());
  BOOST_TEST(reply.attachments[preview].rfind("\x89PNG", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(a_spec_is_built_as_given_and_an_image_is_described_first)
{
  ScratchDir dir;
  const auto serve = echo_server();
  bridge::ClientOptions o;
  o.endpoint = serve.endpoint();
  bridge::Client client(o);

  bridge::Request r = design_request("");
  r.design.spec = json::parse(R"({"name": "panel", "family": "honeycomb",
      "honeycomb": {"cell_size": 4, "wall_thickness": 0.8}, "form": {"size": [12, 12, 4]}})");
  r.design.format = "3mf";
  r.design.preview = false;
  const auto reply = client.call(r);
  BOOST_TEST_INFO(reply.error_code << " " << reply.error_message);
  BOOST_TEST_REQUIRE(reply.ok());
  BOOST_TEST(reply.body["spec_source"] == "request");
  BOOST_TEST(reply.body["spec"]["name"] == "panel");
  BOOST_TEST(!reply.body.contains("preview"));
  BOOST_TEST_REQUIRE(reply.attachments.size() == 1u);
  BOOST_TEST(reply.body["files"][0]["name"] == "panel.3mf");
  BOOST_TEST(reply.attachments[0].rfind("PK", 0) == 0u);    // a 3MF is a zip package

  // an image attachment is described by the server's own model first; the text is a hint
  const std::string png = preview_png(dir);
  bridge::Request with_image = design_request(kGyroid);
  with_image.images = {png};
  const auto described = client.call(with_image);
  BOOST_TEST_INFO(described.error_code << " " << described.error_message);
  BOOST_TEST_REQUIRE(described.ok());
  BOOST_TEST(described.body["description"].get<std::string>().find(std::to_string(png.size()) +
                                                                   " bytes") != std::string::npos);
  BOOST_TEST(steps_named(described.body["trace"], "describe_image").size() == 1u);
}

BOOST_AUTO_TEST_CASE(malformed_design_requests_are_refused_and_the_server_keeps_answering)
{
  const auto serve = echo_server();
  const std::string &endpoint = serve.endpoint();
  struct Case {
    json body;
    std::vector<std::string> attachments;
    std::string code, says;
  };
  const std::vector<Case> cases{
      {json::object(), {}, "bad_request", "body.text: a design needs text, a spec or an image"},
      {{{"text", 42}}, {}, "bad_request", "body.text: must be a string"},
      {{{"text", ""}}, {}, "bad_request", "body.text: a design needs"},
      {{{"spec", "tpms"}}, {}, "bad_request", "body.spec: must be a DesignSpec object"},
      {{{"spec", {{"family", "tpms"}, {"tpms", {{"cell_size", -3}}}}}},
       {},
       "bad_request",
       "body.spec.tpms.cell_size"},
      {{{"spec", {{"family", "coral"}}}}, {}, "bad_request", "body.spec.family"},
      {{{"text", kGyroid}, {"rounds", "three"}},
       {},
       "bad_request",
       "body.rounds: must be an integer"},
      {{{"text", kGyroid}, {"rounds", 0}}, {}, "bad_request", "body.rounds: must be from 1 to 10"},
      {{{"text", kGyroid}, {"format", "obj"}}, {}, "bad_request", "body.format"},
      {{{"text", kGyroid}, {"critique", "yes"}}, {}, "bad_request", "body.critique"},
      {{{"text", kGyroid}, {"spec", {{"family", "tpms"}}}},
       {},
       "bad_request",
       "body.spec: a spec is built as it is"},
      {{{"text", kGyroid}},
       {"a", "b"},
       "bad_request",
       "attachments: a design takes at most one image"},
      {{{"text", kGyroid}}, {"not an image"}, "bad_image", "not a PNG or JPEG"},
      {{{"text", "please make something lovely"}}, {}, "bad_request", "body.text: "},
  };
  for (const auto &c : cases) {
    BOOST_TEST_CONTEXT(c.body.dump())
    {
      const auto reply = send_raw(endpoint, c.body, c.attachments);
      BOOST_TEST(reply.status == "error");
      BOOST_TEST(reply.error_code == c.code);
      BOOST_TEST(reply.error_message.find(c.says) != std::string::npos, reply.error_message);
    }
  }
  BOOST_TEST(serve.running());
  BOOST_TEST(healthy(endpoint));
  // and it still designs
  const auto reply = send_raw(endpoint, {{"text", kGyroid}, {"preview", false}});
  BOOST_TEST(reply.ok());
  BOOST_TEST(reply.attachments.size() == 1u);
}
