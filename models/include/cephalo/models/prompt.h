// The Idefics2 prompt layout: the chat template of its Hugging Face processor and the expansion
// of each <image> into the image tokens the vision connector fills.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cephalo::models {

inline constexpr std::string_view kImageToken = "<image>";
inline constexpr std::string_view kFakeImageToken = "<fake_token_around_image>";
inline constexpr std::string_view kEndOfUtterance = "<end_of_utterance>";

struct ChatMessage {
  std::string role;    // "user", "assistant" or "system"
  std::string text;
  int images = 0;    // placed before the text, as Idefics2's chat template does
};

// As the Hugging Face Idefics2 chat template: per message the capitalized role, ":" when the
// message starts with an image and ": " otherwise, an <image> per image, the text, then
// "<end_of_utterance>\n"; "Assistant:" at the end with add_generation_prompt. Throws
// std::invalid_argument for an empty role or a negative image count. For example
// {{"user", "Describe the crack.", 1}} gives
// "User:<image>Describe the crack.<end_of_utterance>\nAssistant:".
std::string idefics2_chat(const std::vector<ChatMessage> &messages,
                          bool add_generation_prompt = true);

// As Idefics2Processor: every <image> becomes <fake_token_around_image>, image_seq_len x <image>,
// <fake_token_around_image>, five times over with image_splitting (4 crops and the whole image);
// then each <fake_token_around_image><fake_token_around_image> becomes one (one left-to-right
// pass, as Python's str.replace). Throws std::invalid_argument if image_seq_len < 1.
std::string expand_image_tokens(std::string_view text, int image_seq_len, bool image_splitting);

// The number of <image> tokens in the text.
int count_images(std::string_view text);

}    // namespace cephalo::models
