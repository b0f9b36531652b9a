// A Recv subscription on a JetStream target: for each subscribed subject,
// the stream that takes it, a pull consumer on that stream filtered to the
// subject (durable, named Subscribe.group, or ephemeral), and pulls of at
// most the free credit to an inbox of the subscription's own; acks, naks,
// terms and in-progress notes go to each message's ack subject.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <memory>

#include "brokerside/v1/brokerside.pb.h"
#include "protocol/nats/connection.h"
#include "sidecar/operation_adapter.h"

namespace brokerside::sidecar {

struct nats_pull_settings {
  // How long one pull waits at the server for messages before it ends (and
  // the next one starts); a credit granted meanwhile waits for it.
  std::chrono::milliseconds pull_expires{5000};
  // An ephemeral consumer outlives a subscription lost with its connection
  // by this long (the server deletes it then; a stopped one is deleted at
  // once).
  std::chrono::milliseconds inactive_threshold{60000};
};

// Looks up the streams, creates the consumers and subscribes the inbox on
// `conn` (used on `executor`, its strand); events.ready then, and pulls
// start. The credit is shared among the subjects' consumers (each may have
// credit / subjects outstanding, at least 1). The broker's refusals (no
// stream takes a subject, a durable in use with another filter...) end the
// stream through events.failed; a lost connection is left to the stream.
// stop() deletes ephemeral consumers and waits until the server has read
// every ack sent before it.
std::shared_ptr<subscription> start_nats_pull_subscription(
    boost::asio::any_io_executor executor, std::shared_ptr<protocol::nats::connection> conn,
    const v1::Subscribe& subscribe, std::uint32_t credit, nats_pull_settings settings,
    subscription_events events);

}  // namespace brokerside::sidecar
