// Idefics2 chat template and image-token expansion, written out in C++ (there is no Jinja here).
#include "cephalo/models/prompt.h"

#include <stdexcept>

namespace cephalo::models {
namespace {

// Python's str.replace: non-overlapping matches, left to right, in one pass.
std::string replace_all(std::string_view text, std::string_view from, std::string_view to)
{
  std::string out;
  std::size_t pos = 0;
  for (std::size_t hit = text.find(from); hit != std::string_view::npos;
       hit = text.find(from, pos)) {
    out.append(text.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
  }
  out.append(text.substr(pos));
  return out;
}

// Python's str.capitalize (for the ASCII role names the template sees).
std::string capitalized(std::string_view word)
{
  std::string out(word);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const char c = out[i];
    if (i == 0 && c >= 'a' && c <= 'z') out[i] = static_cast<char>(c - 'a' + 'A');
    if (i > 0 && c >= 'A' && c <= 'Z') out[i] = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}    // namespace

std::string idefics2_chat(const std::vector<ChatMessage> &messages, bool add_generation_prompt)
{
  std::string prompt;
  for (const auto &message : messages) {
    if (message.role.empty()) throw std::invalid_argument("idefics2_chat: a message has no role");
    if (message.images < 0)
      throw std::invalid_argument("idefics2_chat: a " + message.role + " message has " +
                                  std::to_string(message.images) + " images");
    prompt += capitalized(message.role);
    prompt += message.images > 0 ? ":" : ": ";
    for (int i = 0; i < message.images; ++i) prompt += kImageToken;
    prompt += message.text;
    prompt += kEndOfUtterance;
    prompt += '\n';
  }
  if (add_generation_prompt) prompt += "Assistant:";
  return prompt;
}

std::string expand_image_tokens(std::string_view text, int image_seq_len, bool image_splitting)
{
  if (image_seq_len < 1)
    throw std::invalid_argument("expand_image_tokens: image_seq_len is " +
                                std::to_string(image_seq_len) + ", expected at least 1");
  std::string one_image(kFakeImageToken);
  for (int i = 0; i < image_seq_len; ++i) one_image += kImageToken;
  one_image += kFakeImageToken;
  std::string image;
  for (int copy = 0; copy < (image_splitting ? 5 : 1); ++copy) image += one_image;

  const std::string doubled = std::string(kFakeImageToken) + std::string(kFakeImageToken);
  return replace_all(replace_all(text, kImageToken, image), doubled, kFakeImageToken);
}

int count_images(std::string_view text)
{
  int count = 0;
  for (std::size_t hit = text.find(kImageToken); hit != std::string_view::npos;
       hit = text.find(kImageToken, hit + kImageToken.size()))
    ++count;
  return count;
}

}    // namespace cephalo::models
