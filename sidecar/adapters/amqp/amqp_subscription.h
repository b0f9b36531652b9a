// A Recv subscription on an AMQP target: consumers of the subscribed queues
// on one channel of a connection shared with other streams (consumer_hub),
// the stream's credit as the channel's prefetch (basic.qos, global),
// deliveries up as v1::Delivery, acks and rejects down, the broker's
// refusals and cancels as the stream's end.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <memory>

#include "brokerside/v1/brokerside.pb.h"
#include "protocol/amqp/connection.h"
#include "sidecar/operation_adapter.h"

namespace brokerside::sidecar {

// Opens a channel on `conn` (used on `executor`, its strand), sets the
// prefetch to `credit` and consumes each of subscribe.sources; events.ready
// once all consume. The handle keeps `conn` alive; stop() closes the
// channel (what was not acked is requeued) before calling back, and leaves
// the connection to the others. A lost connection is left to the hub,
// which starts the consumer again once it is back.
std::shared_ptr<subscription> start_amqp_subscription(
    boost::asio::any_io_executor executor, std::shared_ptr<protocol::amqp::connection> conn,
    const v1::Subscribe& subscribe, std::uint32_t credit, subscription_events events);

}  // namespace brokerside::sidecar
