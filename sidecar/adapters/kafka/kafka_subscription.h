// A Recv subscription on a Kafka target: one consumer-group member
// (protocol::kafka::consumer) per stream, Subscribe.group its group, the
// sources its topics (SOURCE_KIND_PATTERN: regular expressions); records up
// as v1::Delivery with partition, offset, key, headers and timestamp; acks
// committed as each partition's contiguous acked prefix.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <memory>

#include "brokerside/v1/brokerside.pb.h"
#include "protocol/kafka/producer.h"
#include "sidecar/operation_adapter.h"

namespace brokerside::sidecar {
class dead_letters;
}

namespace brokerside::sidecar {

// Joins the group with `settings` (bootstrap, security) on `executor` (a
// strand of its own); events.ready once it has its first partitions. The
// broker's refusals (authorization, a fatal error) end the stream; librdkafka
// reconnects on its own otherwise. A nack without requeue goes to
// `dead_letter`'s topic (when it has one) before it counts as handled.
// stop() commits what was acked and leaves the group before calling back.
std::shared_ptr<subscription> start_kafka_subscription(boost::asio::any_io_executor executor,
                                                       protocol::kafka::properties settings,
                                                       std::shared_ptr<dead_letters> dead_letter,
                                                       const v1::Subscribe& subscribe,
                                                       std::uint32_t credit,
                                                       subscription_events events);

}  // namespace brokerside::sidecar
