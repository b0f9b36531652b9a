// Recv streams as consumers multiplexed on a target's shared connections
// (AMQP: each stream a channel of its own, with its own prefetch): at most
// `max_connections` connections outside the target's pool, each carrying at
// most `per_connection` streams, a new stream on the least loaded one. When
// a connection is lost, each of its streams is told that what it handed
// out is void (the broker redelivers what was not acked) and is started
// again on the same link once it is back. The adapter says how one
// consumer starts on a connection; the hub does the rest. Runs on a strand
// of its own; subscribe() and the handles may be used from any thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "pool/link_set.h"
#include "sidecar/operation_adapter.h"
#include "sidecar/target_settings.h"

namespace brokerside::sidecar {

class consumer_hub : public std::enable_shared_from_this<consumer_hub>, public target_service {
 public:
  // Starts one stream's consumer on `conn` (running on the hub's strand),
  // as operation_adapter::start_subscription does on a dedicated one; its
  // stop() must leave the connection usable by the others (AMQP: close the
  // channel, not the connection).
  using start_fn = std::function<std::shared_ptr<subscription>(
      pool::connection& conn, const v1::Subscribe& subscribe, std::uint32_t credit,
      subscription_events events)>;

  // Connections come from `factory` (the target's, so they log in and
  // speak TLS as its pool's do). `settings` names the two limits in the
  // error a stream beyond them gets.
  consumer_hub(std::shared_ptr<const target_settings> target,
               std::shared_ptr<pool::connection_factory> factory,
               boost::asio::any_io_executor executor, std::size_t max_connections,
               std::size_t per_connection, std::string settings, start_fn start);

  // Starts `subscribe` on a shared connection; ready once it consumes. A
  // stream beyond max_connections x per_connection fails at once with
  // RESOURCE_EXHAUSTED. The handle's stop() ends it.
  std::shared_ptr<subscription> subscribe(const v1::Subscribe& subscribe, std::uint32_t credit,
                                          subscription_events events);

  // Connections open now. Any thread.
  std::size_t connections() const noexcept { return links_.open(); }

  // target_service: nothing to start; stop closes every connection (from
  // outside the io threads, waiting up to 2 s).
  void start() override {}
  void stop() override;

 private:
  class handle;

  // All on the strand.
  void join(const std::shared_ptr<handle>& h);
  void leave(const handle& h);
  void up(std::size_t index, pool::connection& conn);
  void down(std::size_t index);

  std::shared_ptr<const target_settings> target_;  // its name, for errors
  boost::asio::any_io_executor strand_;            // everything below runs here
  std::size_t per_connection_;                     // streams one connection carries
  std::string settings_;                           // the limits' names, for the error
  start_fn start_;                                 // the adapter's consumer
  pool::link_set links_;                           // the shared connections
  std::vector<std::unordered_map<const handle*, std::weak_ptr<handle>>> carried_;  // by link
  bool stopped_ = false;
};

}  // namespace brokerside::sidecar
