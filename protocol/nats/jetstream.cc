#include "protocol/nats/jetstream.h"

#include <array>

namespace brokerside::protocol::nats {
namespace {

bool parse_number(std::string_view text, std::uint64_t& out) noexcept {
  if (text.empty() || text.size() > 19) return false;
  out = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return true;
}

bool contains(std::string_view text, std::string_view word) noexcept {
  return text.find(word) != std::string_view::npos;
}

}  // namespace

bool parse_ack_subject(std::string_view reply, ack_subject& out) noexcept {
  constexpr std::size_t most = 12;
  std::array<std::string_view, most> tokens;
  std::size_t n = 0;
  while (n < most) {
    const auto dot = reply.find('.');
    tokens[n++] = reply.substr(0, dot);
    if (dot == std::string_view::npos) break;
    reply.remove_prefix(dot + 1);
    if (n == most) return false;  // more tokens than any form has
  }
  if (n < 9 || tokens[0] != "$JS" || tokens[1] != "ACK") return false;
  // 9 tokens: the original form. 11 or 12: $JS.ACK.<domain>.<account hash>.
  // <stream>... with an optional random token at the end.
  std::size_t at = 2;
  if (n == 11 || n == 12) {
    at = 4;
  } else if (n != 9) {
    return false;
  }
  std::uint64_t timestamp = 0;
  out.stream = tokens[at];
  out.consumer = tokens[at + 1];
  return !out.stream.empty() && !out.consumer.empty() &&
         parse_number(tokens[at + 2], out.delivered) &&
         parse_number(tokens[at + 3], out.stream_sequence) &&
         parse_number(tokens[at + 4], out.consumer_sequence) &&
         parse_number(tokens[at + 5], timestamp) && parse_number(tokens[at + 6], out.pending);
}

std::string pull_request(std::uint32_t batch, std::chrono::milliseconds expires) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(expires).count();
  return "{\"batch\":" + std::to_string(batch) + ",\"expires\":" + std::to_string(ns) + "}";
}

std::string delayed_nak_body(std::chrono::nanoseconds delay) {
  if (delay.count() <= 0) return std::string(nak_body);
  return std::string(nak_body) + " {\"delay\":" + std::to_string(delay.count()) + "}";
}

pull_reply classify_pull_reply(const msg& m) noexcept {
  if (m.headers.empty()) return pull_reply::message;
  header_block h;
  if (decode_headers(m.headers, h) != std::error_code{}) return pull_reply::unexpected;
  switch (h.status) {
    case 0:
      return pull_reply::message;  // a message of the stream with headers of its own
    case 100:
      return pull_reply::heartbeat;
    case 404:
    case 408:
      return pull_reply::ended;
    case 409:
      return contains(h.description, "Consumer Deleted") ||
                     contains(h.description, "Consumer is push based")
                 ? pull_reply::gone
                 : pull_reply::ended;
    default:
      return pull_reply::unexpected;
  }
}

void pull_window::delivered() noexcept {
  ++outstanding_;
  if (requested_ > 0) --requested_;
}

void pull_window::settled() noexcept {
  if (outstanding_ > 0) --outstanding_;
}

std::uint32_t pull_window::next_pull() noexcept {
  if (requested_ > 0 || outstanding_ >= credit_) return 0;
  const auto free = credit_ - outstanding_;
  const auto enough = credit_ / 2 > 0 ? credit_ / 2 : 1;
  if (free < enough && outstanding_ > 0) return 0;
  requested_ = free;
  return free;
}

}  // namespace brokerside::protocol::nats
