// CurveZMQ key files (see curve.h).
#include "cephalo/bridge/curve.h"

#include <zmq.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fstream>
#include <stdexcept>

namespace cephalo::bridge {
namespace {

bool is_z85_key(const std::string &key)
{
  if (key.size() != 40) return false;
  unsigned char binary[32];
  return zmq_z85_decode(binary, key.c_str()) != nullptr;
}

}    // namespace

CurveKeyPair generate_curve_keypair()
{
  if (!zmq_has("curve")) throw std::runtime_error("this libzmq has no CURVE support");
  char public_key[41], secret_key[41];
  if (zmq_curve_keypair(public_key, secret_key) != 0)
    throw std::runtime_error("zmq_curve_keypair failed");
  return {public_key, secret_key};
}

std::string curve_public_of(const std::string &secret_key)
{
  if (!is_z85_key(secret_key))
    throw std::invalid_argument("a CURVE key is 40 characters of Z85 text");
  char public_key[41];
  if (zmq_curve_public(public_key, secret_key.c_str()) != 0)
    throw std::runtime_error("zmq_curve_public failed");
  return public_key;
}

CurveKeyPair write_curve_keypair(const std::filesystem::path &name)
{
  const auto secret_file = std::filesystem::path(name.string() + ".key");
  const auto public_file = std::filesystem::path(name.string() + ".pub");
  if (std::filesystem::exists(secret_file))
    throw std::runtime_error(secret_file.string() + " exists; remove it first to make a new key");
  const auto keys = generate_curve_keypair();
  {
    // created readable by its owner only, and never over an existing file
    const int fd = ::open(secret_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
      throw std::runtime_error("cannot create " + secret_file.string() + ": " +
                               std::strerror(errno));
    const std::string text = "# CURVE secret key: keep it private\n" + keys.secret_key + "\n";
    const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    if (!written) throw std::runtime_error("cannot write " + secret_file.string());
  }
  std::ofstream out(public_file);
  out << keys.public_key << "\n";
  if (!out.flush()) throw std::runtime_error("cannot write " + public_file.string());
  return keys;
}

std::vector<std::string> read_curve_keys(const std::filesystem::path &file)
{
  std::ifstream in(file);
  if (!in) throw std::runtime_error(file.string() + ": cannot read");
  std::vector<std::string> keys;
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    if (!is_z85_key(line))
      throw std::runtime_error(file.string() + ":" + std::to_string(number) +
                               ": not a CURVE key (40 characters of Z85 text)");
    keys.push_back(line);
  }
  return keys;
}

std::string read_curve_key(const std::filesystem::path &file)
{
  const auto keys = read_curve_keys(file);
  if (keys.empty()) throw std::runtime_error(file.string() + ": no key in the file");
  return keys.front();
}

}    // namespace cephalo::bridge
