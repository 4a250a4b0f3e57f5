// What the design tests share (besides tests/support's ServeProcess and dead_endpoint): a scripted
// model — a real ZeroMQ ROUTER that speaks the Cephalo protocol through bridge's own envelope and
// protocol functions and answers generate and describe requests with the texts it was given, in
// order, recording every request it received.
#pragma once

#include "cephalo/bridge/envelope.h"
#include "cephalo/bridge/protocol.h"
#include "cephalo/bridge/zmq_io.h"
#include "cephalo/meshing/design_spec.h"
#include "serve_process.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

// for test messages
namespace cephalo::meshing {
inline std::ostream &operator<<(std::ostream &out, Family family)
{
  return out << family_name(family);
}
}    // namespace cephalo::meshing
namespace cephalo::bridge {
inline std::ostream &operator<<(std::ostream &out, RequestType type)
{
  return out << type_name(type);
}
}    // namespace cephalo::bridge

namespace cephalo::test {

class ScriptedModel {
 public:
  // `answers`: the texts of the generate and describe replies, in the order they are asked.
  explicit ScriptedModel(std::vector<std::string> answers) :
      answers_(answers.begin(), answers.end())
  {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind("tcp://127.0.0.1:0");
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedModel()
  {
    stop_ = true;
    thread_.join();
  }
  ScriptedModel(const ScriptedModel &) = delete;
  ScriptedModel &operator=(const ScriptedModel &) = delete;

  const std::string &endpoint() const { return endpoint_; }
  // The generate and describe requests received so far.
  std::vector<bridge::Request> received() const
  {
    const std::lock_guard lock(mutex_);
    return received_;
  }
  std::size_t answers_left() const
  {
    const std::lock_guard lock(mutex_);
    return answers_.size();
  }

 private:
  void serve()
  {
    const bridge::ServerLimits limits;
    while (!stop_) {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(20));
      if (!(item.revents & ZMQ_POLLIN)) continue;
      auto frames = bridge::receive_frames(socket_);
      if (!frames || frames->size() < 2) continue;
      const std::string identity = frames->front();
      frames->erase(frames->begin());
      bridge::Reply reply;
      try {
        const bridge::Request request = bridge::parse_request(bridge::decode(*frames), limits);
        reply.id = request.id;
        if (request.type == bridge::RequestType::Info) {
          reply.body = {{"model", "scripted"},
                        {"backend", "test"},
                        {"version", "0"},
                        {"protocol_versions", {bridge::kProtocolVersion}},
                        {"limits", limits.to_json()}};
        } else {
          std::string text;
          {
            const std::lock_guard lock(mutex_);
            received_.push_back(request);
            if (!answers_.empty()) {
              text = answers_.front();
              answers_.pop_front();
            }
          }
          reply.body = {{"text", text},
                        {"finish_reason", "stop"},
                        {"tokens", static_cast<int>(text.size() / 4)},
                        {"model", "scripted"}};
          if (request.params.json_fields) reply.body["fields"] = bridge::first_json_object(text);
        }
      } catch (const bridge::ProtocolError &e) {
        reply = bridge::error_reply(reply.id, e.code(), e.what());
      }
      auto out = bridge::encode(bridge::make_reply(reply));
      out.insert(out.begin(), identity);
      bridge::send_frames(socket_, out);
    }
  }

  zmq::context_t context_;
  zmq::socket_t socket_{context_, zmq::socket_type::router};
  std::string endpoint_;
  mutable std::mutex mutex_;
  std::deque<std::string> answers_;
  std::vector<bridge::Request> received_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}    // namespace cephalo::test
