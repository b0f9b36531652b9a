// A Redis Cluster target's shard channels (SSUBSCRIBE): each is subscribed
// on the master serving its slot, over that node's own shared subscriber
// connections (a redis_subscriber_hub per node, made when a channel first
// needs it and closed when none does). When the slot moves the channel
// follows it: the node says "sunsubscribe" when it gives the slot away, and
// a failover shows in the slot map (read again when a node's subscriber
// connections are all down); the channel is then subscribed where the map
// says it lives now. What is published between is lost, as Redis pub/sub
// loses what no connection is subscribed for. Runs on a strand of its own;
// subscribe() and the handles may be used from any thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pool/time.h"
#include "sidecar/adapters/redis/redis_cluster.h"
#include "sidecar/adapters/redis/redis_subscriber_hub.h"
#include "sidecar/operation_adapter.h"

namespace brokerside::sidecar {

class redis_shard_channels final : public std::enable_shared_from_this<redis_shard_channels> {
 public:
  // Each node's hub has at most `connections_per_node` connections from
  // `factory` (the target's: they log in and speak TLS as its pools do).
  redis_shard_channels(std::shared_ptr<redis_cluster> cluster,
                       std::shared_ptr<pool::connection_factory> factory,
                       boost::asio::any_io_executor executor, std::size_t connections_per_node);

  // Starts delivering `subscribe`'s shard channels to `events` (ready once
  // each is subscribed on its node). The handle's stop() ends it.
  std::shared_ptr<subscription> subscribe(const v1::Subscribe& subscribe,
                                          subscription_events events);

  // Subscriber connections open now, over every node. Any thread.
  std::size_t connections() const;

  // Closes every node's connections (from outside the io threads, waiting
  // up to 2 s).
  void stop();

 private:
  using stream_id = std::uint64_t;
  // One channel of a stream, and where it is subscribed now.
  struct channel {
    std::string name;
    std::uint16_t slot = 0;
    std::string node;                         // empty: not subscribed anywhere now
    std::string avoid;                        // the node that dropped it, until the map moves on
    pool::time_point dropped_at{};            // when it did
    std::shared_ptr<subscription> on;         // its subscription on `node`'s hub
    std::shared_ptr<subscription_sink> sink;  // what `on` tells (the hub holds it weakly)
    std::uint64_t generation = 0;             // callbacks of an earlier placement ignore themselves
    bool ready = false;
  };
  struct stream {
    subscription_events events;
    std::vector<channel> channels;
    bool ready_told = false;
  };

  class placement_sink;

  // All on the strand.
  void join(stream_id id, std::vector<std::string> names, subscription_events events);
  void leave(stream_id id);
  // Subscribes `c` on its slot's master as the map says, if it says.
  void place(stream_id id, channel& c);
  void unplace(channel& c);
  void ready(stream_id id, const std::string& name, std::uint64_t generation);
  void dropped(stream_id id, const std::string& name, std::uint64_t generation);
  // Every channel on its slot's master now; the hubs no channel uses closed.
  void reconcile();
  void arm(pool::millis after);
  std::shared_ptr<redis_subscriber_hub> hub(const std::string& address);

  std::shared_ptr<redis_cluster> cluster_;             // the slot map
  std::shared_ptr<pool::connection_factory> factory_;  // the target's
  boost::asio::any_io_executor executor_;              // the hubs run here
  boost::asio::any_io_executor strand_;                // everything below runs here
  pool::timer timer_;                                  // the next reconcile()
  bool armed_ = false;                                 // timer_ is waiting
  std::size_t per_node_;                               // connections per node's hub
  std::map<stream_id, stream> streams_;
  mutable std::mutex hubs_mutex_;  // hubs_ is read by connections() from any thread
  std::map<std::string, std::shared_ptr<redis_subscriber_hub>> hubs_;  // by node address
  bool stopped_ = false;
};

}  // namespace brokerside::sidecar
