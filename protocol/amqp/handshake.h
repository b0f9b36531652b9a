// The AMQP 0-9-1 connection handshake as a sans-io state machine: the
// connection feeds it the broker's channel-0 methods and sends what it says,
// from connection.start to connection.open-ok (spec 2.2.4).
#pragma once

#include <cstdint>
#include <system_error>
#include <vector>

#include "protocol/amqp/connection_types.h"
#include "protocol/amqp/methods.h"

namespace brokerside::protocol::amqp {

// The values connection.tune-ok settles: for each, the lower of the two
// proposals where both are non-zero, the other where one is zero (no limit),
// zero where both are.
struct tuning {
  std::uint16_t channel_max = 0;  // 0: no limit (65535 ids)
  std::uint32_t frame_max = 0;    // 0: no limit; never below frame_min_size otherwise
  std::uint16_t heartbeat = 0;    // seconds; 0: off
  bool operator==(const tuning&) const = default;
};

tuning negotiate(const connection_tune& broker, const connect_options& client) noexcept;

// The client properties of connection.start-ok: product, version, platform,
// connection_name (when set) and the capabilities brokerside relies on.
field_table client_properties(const connect_options& options);

class handshake {
 public:
  enum class state { awaiting_start, awaiting_tune, awaiting_open_ok, done, failed };

  // What to do after an input. `send` goes out on channel 0 in order.
  struct action {
    std::vector<method> send;
    bool tuned = false;     // tune-ok is in `send`: heartbeats run from here on
    bool done = false;      // open-ok arrived: the connection is ready
    std::error_code error;  // the handshake failed: close the socket
    broker_reply reply;     // with `error`: the broker's words, if any
  };

  // `options` must outlive the handshake (the connection holds both).
  explicit handshake(const connect_options& options) noexcept : options_(options) {}

  // A method the broker sent on channel 0.
  action resume(const method& m);

  // The socket closed or failed (`ec`) before open-ok. A broker that drops
  // the socket after start-ok refused the login without saying so.
  action closed(std::error_code ec);

  state current() const noexcept { return state_; }
  const tuning& tuned() const noexcept { return tuning_; }

 private:
  action fail(std::error_code ec, broker_reply reply = {});

  const connect_options& options_;
  state state_ = state::awaiting_start;
  tuning tuning_;
};

}  // namespace brokerside::protocol::amqp
