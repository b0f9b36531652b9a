// What the sidecar observes of one target's calls, beside what its pool
// counts: how long calls take as the app sees them (by operation kind), how
// many bytes go to the broker and come back, and how long Recv clients take
// to settle a delivery. Lock-free; written and read from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "pool/latency_histogram.h"

namespace brokerside::sidecar {

struct target_observations {
  // The operation kinds of Send and SendStream, as /metrics labels them.
  enum class kind { command, publish, request, count_ };
  static constexpr std::array<const char*, 3> kind_names = {"command", "publish", "request"};

  // From the call's arrival to its outcome, every attempt and wait included.
  std::array<pool::latency_histogram, static_cast<std::size_t>(kind::count_)> calls;
  // From handing a Recv delivery to the client until its ack or nack.
  pool::latency_histogram settle;
  // The operations' encoded size (Command, Publish, Request) and that of
  // their outcomes and Recv deliveries: the app's bytes, not the broker
  // protocol's framing.
  std::atomic<std::uint64_t> bytes_to_broker{0};
  std::atomic<std::uint64_t> bytes_from_broker{0};

  pool::latency_histogram& call(kind k) noexcept { return calls[static_cast<std::size_t>(k)]; }
};

}  // namespace brokerside::sidecar
