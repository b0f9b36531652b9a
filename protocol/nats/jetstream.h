// JetStream pull consumers on the wire, without I/O: the ack subject a
// pulled message carries (its stream, consumer, sequences and delivery
// count), the pull request's JSON, the status messages that end a pull, the
// acknowledgement bodies, and pull_window: how much to pull so that no more
// than the credit is ever outstanding.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/nats/codec.h"

namespace brokerside::protocol::nats {

// What "$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>
// .<timestamp>.<pending>" says (also the newer form with a domain and an
// account hash after "$JS.ACK.", and a trailing token).
struct ack_subject {
  std::string_view stream, consumer;
  std::uint64_t delivered = 0;  // how often this message was delivered: 1 the first time
  std::uint64_t stream_sequence = 0;
  std::uint64_t consumer_sequence = 0;
  std::uint64_t pending = 0;  // messages left for the consumer after this one
};

// Parses `reply` (views into it); false when it is not an ack subject.
bool parse_ack_subject(std::string_view reply, ack_subject& out) noexcept;

// The body of $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>: up to `batch`
// messages, the request ending after `expires` with a 408 status.
std::string pull_request(std::uint32_t batch, std::chrono::milliseconds expires);

// What a message on a pull's reply subject is.
enum class pull_reply {
  message,     // a message of the stream (it has an ack subject)
  ended,       // 404 No Messages, 408 Request Timeout, 409 (max waiting...): the pull is over
  heartbeat,   // 100 Idle Heartbeat: nothing to do
  gone,        // 409 Consumer Deleted: the consumer is no more
  unexpected,  // any other status: the pull is over
};
pull_reply classify_pull_reply(const msg& m) noexcept;

// Acknowledgement bodies, published to a message's ack subject.
inline constexpr std::string_view ack_body = "+ACK";
inline constexpr std::string_view nak_body = "-NAK";       // redeliver (now)
inline constexpr std::string_view term_body = "+TERM";     // never redeliver
inline constexpr std::string_view progress_body = "+WPI";  // still working: restart ack_wait
// "-NAK {"delay":N}": redeliver no sooner than `delay` (nanoseconds on the
// wire; nats-server 2.7.1 and later). A delay of zero or less is a plain -NAK.
std::string delayed_nak_body(std::chrono::nanoseconds delay);

// How much a pull consumer asks for: at most `credit` messages delivered and
// not yet settled, one pull at a time, and a new pull only once at least
// half the credit is free (or nothing is outstanding), so a busy consumer
// pulls in batches rather than one message per ack.
class pull_window {
 public:
  explicit pull_window(std::uint32_t credit) noexcept : credit_(credit) {}

  void set_credit(std::uint32_t credit) noexcept { credit_ = credit; }
  // A message of the current pull arrived (it is outstanding until settled).
  void delivered() noexcept;
  // An outstanding message was acked, nacked or terminated.
  void settled() noexcept;
  // The current pull ended (a status said so) before it was filled.
  void pull_ended() noexcept { requested_ = 0; }

  // The batch of the pull to send now (it is then the current one), or 0.
  std::uint32_t next_pull() noexcept;

  std::uint32_t outstanding() const noexcept { return outstanding_; }
  std::uint32_t requested() const noexcept { return requested_; }

 private:
  std::uint32_t credit_;
  std::uint32_t outstanding_ = 0;  // delivered, not settled
  std::uint32_t requested_ = 0;    // still to come on the current pull; 0: none running
};

}  // namespace brokerside::protocol::nats
