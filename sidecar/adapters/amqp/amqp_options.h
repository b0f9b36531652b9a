// An AMQP target's own settings (targets.<name>.exchange_check_interval),
// read by the AMQP adapter's descriptor.
#pragma once

#include <chrono>

#include "sidecar/target_settings.h"

namespace brokerside::sidecar {

struct amqp_options final : adapter_options {
  // How long an exchange seen to exist is trusted before a publish to it
  // checks again (protocol::amqp::client); 0: never checked.
  std::chrono::milliseconds exchange_check_interval{30'000};
};

}  // namespace brokerside::sidecar
