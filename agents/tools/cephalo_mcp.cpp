// cephalo-mcp (run as `cephalo mcp`): the design tools as a Model Context Protocol server on
// stdin/stdout, for agent systems (Claude Desktop, IDE agents, the MCP SDKs' clients).
//
//   cephalo-mcp [--endpoint tcp://HOST:PORT] [--work-dir DIR] [--rounds N] ...
//   cephalo-mcp --tools        the tool definitions as JSON, for a look without a client
//
// stdout carries protocol messages only; the log goes to stderr. Exit status: 0 at the end of
// input, 1 the server could not start (work folder, keys), 2 bad arguments.
#include "cephalo/agents/mcp_server.h"
#include "cephalo/bridge/curve.h"

#include <nlohmann/json.hpp>

#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <mutex>
#include <string>

using cephalo::agents::McpServer;
using cephalo::agents::McpServerOptions;

namespace {

const char *kUsage =
    "usage: cephalo mcp [--endpoint tcp://HOST:PORT] [--work-dir DIR] [--rounds N]\n"
    "                   [--timeout-ms MS] [--max-calls N] [--curve-server-key FILE\n"
    "                   --curve-key FILE] [--quiet]\n"
    "       cephalo mcp --tools | --version\n"
    "\n"
    "A Model Context Protocol server on stdin/stdout (JSON-RPC 2.0, one message per line) with\n"
    "the tools design_part, describe_image, check_mesh and interpret_design.\n"
    "\n"
    "  --endpoint E            cephalo-serve for describe_image and image designs (default: none;\n"
    "                          text and spec designs need no model)\n"
    "  --work-dir DIR          relative paths, default outputs and working files (default:\n"
    "                          <temporary folder>/cephalo-mcp)\n"
    "  --rounds N              design rounds at most when a call does not say (default 3)\n"
    "  --timeout-ms MS         per model request (default 120000)\n"
    "  --max-calls N           tool calls running at once; more wait (default 2)\n"
    "  --curve-server-key FILE the server's CURVE public key (NAME.pub of cephalo serve keygen)\n"
    "  --curve-key FILE        this client's CURVE secret key (NAME.key)\n"
    "  --quiet                 no log on stderr\n";

[[noreturn]] void fail_usage(const std::string &what)
{
  std::fprintf(stderr, "cephalo mcp: %s\n\n%s", what.c_str(), kUsage);
  std::exit(2);
}

long long whole(const std::string &flag, const std::string &text, long long min, long long max)
{
  std::size_t used = 0;
  long long value = min - 1;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception &) {
    fail_usage(flag + " needs a whole number, not '" + text + "'");
  }
  if (used != text.size() || value < min || value > max)
    fail_usage(flag + " needs a whole number from " + std::to_string(min) + " to " +
               std::to_string(max) + ", not '" + text + "'");
  return value;
}

}    // namespace

int main(int argc, char **argv)
{
  McpServerOptions options;
  bool quiet = false;
  std::string server_key_file, client_key_file;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail_usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--version") {
      std::printf("%s %s\n", McpServer::name(), McpServer::version());
      return 0;
    } else if (a == "--tools") {
      std::printf("%s\n", McpServer::tools().dump(2).c_str());
      return 0;
    } else if (a == "--endpoint") {
      options.endpoint = value();
    } else if (a == "--work-dir") {
      options.work_dir = value();
    } else if (a == "--rounds") {
      options.rounds = static_cast<int>(whole(a, value(), 1, 10));
    } else if (a == "--timeout-ms") {
      options.model_timeout_ms = static_cast<int>(whole(a, value(), 100, 3600000));
    } else if (a == "--max-calls") {
      options.max_running_calls = static_cast<std::size_t>(whole(a, value(), 1, 64));
    } else if (a == "--curve-server-key") {
      server_key_file = value();
    } else if (a == "--curve-key") {
      client_key_file = value();
    } else if (a == "--quiet") {
      quiet = true;
    } else {
      fail_usage("unknown argument '" + a + "'");
    }
  }
  if (server_key_file.empty() != client_key_file.empty())
    fail_usage("CURVE needs both --curve-server-key and --curve-key");
  if (!server_key_file.empty() && options.endpoint.empty())
    fail_usage("CURVE keys without --endpoint mean nothing");

  // a client that went away must not kill the server in the middle of a write
  signal(SIGPIPE, SIG_IGN);
  std::mutex log_mutex;
  if (!quiet)
    options.log = [&log_mutex](const std::string &line) {
      std::lock_guard<std::mutex> lock(log_mutex);
      std::cerr << "cephalo-mcp: " << line << std::endl;
    };
  try {
    if (!server_key_file.empty()) {
      options.curve_server_key = cephalo::bridge::read_curve_key(server_key_file);
      options.curve_secret_key = cephalo::bridge::read_curve_key(client_key_file);
      options.curve_public_key = cephalo::bridge::curve_public_of(options.curve_secret_key);
    }
    McpServer server(options);
    if (options.log)
      options.log(std::string("serving MCP on stdin/stdout") +
                  (options.endpoint.empty() ? ", no model" : ", model at " + options.endpoint));
    server.serve(std::cin, std::cout);
  } catch (const std::exception &e) {
    std::cerr << "cephalo-mcp: " << e.what() << std::endl;
    return 1;
  }
  if (options.log) options.log("end of input: done");
  return 0;
}
