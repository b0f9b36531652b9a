// An AMQP target's own settings (targets.<name>.exchange_check_interval,
// subscriber_connections, channels_per_connection), read by the AMQP
// adapter's descriptor.
#pragma once

#include <chrono>
#include <cstdint>

#include "sidecar/target_settings.h"

namespace brokerside::sidecar {

struct amqp_options final : adapter_options {
  // How long an exchange seen to exist is trusted before a publish to it
  // checks again (protocol::amqp::client); 0: never checked.
  std::chrono::milliseconds exchange_check_interval{30'000};
  // Recv streams are consumers, each on a channel of its own, on at most
  // this many connections outside the pool (sidecar/consumer_hub.h)...
  std::uint32_t subscriber_connections = 4;
  // ... each carrying at most this many (the broker's channel_max bounds
  // it too; RabbitMQ's default is 2047).
  std::uint32_t channels_per_connection = 512;
};

}  // namespace brokerside::sidecar
