// Multipart send and receive (see zmq_io.h).
#include "cephalo/bridge/zmq_io.h"

#include <stdexcept>

namespace cephalo::bridge {

void send_frames(zmq::socket_t &socket, const std::vector<std::string> &frames)
{
  if (frames.empty())
    throw std::invalid_argument("send_frames: a message needs at least one frame");
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const auto flags = i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
    if (!socket.send(zmq::buffer(frames[i]), flags))
      throw std::runtime_error("send_frames: the socket would block (send timeout)");
  }
}

std::optional<std::vector<std::string>> receive_frames(zmq::socket_t &socket)
{
  std::vector<std::string> frames;
  do {
    zmq::message_t message;
    if (!socket.recv(message, zmq::recv_flags::none)) {
      // ZeroMQ delivers multipart messages atomically, so a timeout can only hit the first frame
      if (frames.empty()) return std::nullopt;
      throw std::runtime_error("receive_frames: timed out inside a multipart message");
    }
    frames.emplace_back(static_cast<const char *>(message.data()), message.size());
    if (!message.more()) break;
  } while (true);
  return frames;
}

}    // namespace cephalo::bridge
