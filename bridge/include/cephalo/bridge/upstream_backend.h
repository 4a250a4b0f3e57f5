// The upstream backend: runs each job by POSTing an OpenAI chat completion to another server
// (vLLM, mistral.rs, TGI, or a second cephalo-serve's HTTP front), images as data: URIs. Plain
// HTTP/1.1 only, no TLS: reach a TLS endpoint through a local proxy. Boost.Beast stays in the
// .cpp; this header only names what callers need.
#pragma once

#include "cephalo/bridge/backend.h"

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace cephalo::bridge {

// `base_url`: http://host:port, optionally with a path prefix ("http://host:8000/v1" and
// "http://host:8000" both reach /v1/chat/completions). `model` is sent as the request's model
// and reported as this backend's model name. A non-empty `api_key` is sent as a Bearer token.
// Throws std::invalid_argument for a URL that is not http://host[:port][/path].
std::unique_ptr<Backend> make_upstream_backend(const std::string &base_url,
                                               const std::string &model, std::string api_key = "");

// One plain-HTTP/1.1 request and its response: the upstream backend's transport, also used by
// tests and tools to talk to an HTTP front.
struct HttpExchange {
  std::string method = "GET";
  std::string url;    // http://host:port/path
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;    // besides Host, Content-Length
  int timeout_ms = 60000;                                      // the whole exchange
  std::function<bool()> stop;    // polled while waiting; true abandons the exchange
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string header(const std::string &name) const;    // case-insensitive; empty when absent
};

// Throws std::runtime_error naming the URL when the exchange fails (name not resolved, refused,
// timed out, stopped, damaged response); an HTTP error status is a response, not an exception.
HttpResponse http_exchange(const HttpExchange &exchange);

}    // namespace cephalo::bridge
