// Moving multipart messages between ZeroMQ sockets and frame lists.
#pragma once

#include <zmq.hpp>

#include <optional>
#include <string>
#include <vector>

namespace cephalo::bridge {

// Sends all frames as one multipart message (blocking per the socket's send timeout).
void send_frames(zmq::socket_t &socket, const std::vector<std::string> &frames);

// Receives one whole multipart message, or nothing when the socket's receive timeout expires.
std::optional<std::vector<std::string>> receive_frames(zmq::socket_t &socket);

}    // namespace cephalo::bridge
