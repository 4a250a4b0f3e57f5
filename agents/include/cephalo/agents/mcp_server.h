// The design agent as a Model Context Protocol tool server: JSON-RPC 2.0, one message per line,
// read from an input stream and answered on an output stream (stdin/stdout in cephalo-mcp, string
// streams in tests). Tools: design_part, describe_image, check_mesh, interpret_design.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

namespace cephalo::agents {

struct McpServerOptions {
  // cephalo-serve for describe_image and image designs ("tcp://127.0.0.1:5555"); empty: none
  std::string endpoint;
  std::string curve_server_key, curve_public_key, curve_secret_key;    // Z85, all or none
  int model_timeout_ms = 120000;                                       // per model request
  int rounds = 3;    // design rounds when a call does not say
  // Relative paths in tool arguments, default outputs and the agent's working files;
  // empty: <temporary folder>/cephalo-mcp
  std::filesystem::path work_dir;
  std::size_t max_running_calls = 2;    // tool calls beyond this wait for a free slot
  // One line per event (cephalo-mcp: stderr). Never the output stream: it carries protocol only.
  std::function<void(const std::string &)> log;
};

class McpServer {
 public:
  explicit McpServer(McpServerOptions options = {});
  ~McpServer();
  McpServer(const McpServer &) = delete;
  McpServer &operator=(const McpServer &) = delete;

  // Serves until `in` ends. Requests are answered on `out`, one line each, flushed; tool calls
  // run on threads of their own, so ping, cancellation and other calls are answered while a part
  // builds. At the end of input the calls still running finish and are answered, then serve()
  // returns. Bad input never ends it.
  void serve(std::istream &in, std::ostream &out);

  // The protocol revisions this server speaks, newest first.
  static const std::vector<std::string> &protocol_versions();
  // The tools/list entries: name, title, description, inputSchema, outputSchema, annotations.
  static nlohmann::json tools();
  static const char *name() { return "cephalo-mcp"; }
  static const char *version();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}    // namespace cephalo::agents
