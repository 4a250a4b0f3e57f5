// CurveZMQ keys for cephalo-serve and its clients: Z85 text (40 characters), a secret key file
// NAME.key (readable by its owner only) and a public key file NAME.pub.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace cephalo::bridge {

struct CurveKeyPair {
  std::string public_key, secret_key;    // Z85
};

CurveKeyPair generate_curve_keypair();
std::string curve_public_of(const std::string &secret_key);    // throws on a malformed key

// Writes NAME.key and NAME.pub; returns the pair. Refuses to overwrite an existing key.
CurveKeyPair write_curve_keypair(const std::filesystem::path &name);
// The first key in a file (Z85 text; blank lines and lines starting with '#' are skipped).
std::string read_curve_key(const std::filesystem::path &file);
// Every key in a file, one per line (a list of authorised client public keys).
std::vector<std::string> read_curve_keys(const std::filesystem::path &file);

}    // namespace cephalo::bridge
