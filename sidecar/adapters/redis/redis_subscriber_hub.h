// A Redis target's shared subscriber connections: every Recv stream's
// channels, patterns and shard channels go over at most
// `subscriber_connections` connections of their own (outside the command
// pool), each source subscribed once however many streams want it and each
// message fanned out to all of them (protocol/redis/subscriber_table.h keeps
// the books). A lost connection is reconnected with backoff and everything
// it carried subscribed again; what is published meanwhile is lost, as Redis
// pub/sub always loses what no connection is subscribed for. Runs on a
// strand of its own; subscribe() and the subscriptions' stop() may be called
// from any thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <memory>
#include <unordered_map>
#include <vector>

#include "pool/connection.h"
#include "pool/link_set.h"
#include "protocol/redis/resp.h"
#include "protocol/redis/subscriber_table.h"
#include "sidecar/operation_adapter.h"
#include "sidecar/target_settings.h"

namespace brokerside::sidecar {

class redis_subscriber_hub : public std::enable_shared_from_this<redis_subscriber_hub>,
                             public target_service {
 public:
  // Connections come from `factory` (the target's, so they log in and
  // speak TLS as its pool's do).
  redis_subscriber_hub(std::shared_ptr<const target_settings> target,
                       std::shared_ptr<pool::connection_factory> factory,
                       boost::asio::any_io_executor executor, std::size_t max_connections);

  // Starts delivering `subscribe`'s sources to `events` (ready once all are
  // subscribed). The handle's stop() ends it. `dropped`, if set, is called
  // (on the hub's strand) when the server ends the subscription by itself
  // (a Redis Cluster shard channel whose slot moved away): nothing more
  // comes to this listener until it subscribes again where it belongs.
  std::shared_ptr<subscription> subscribe(const v1::Subscribe& subscribe,
                                          subscription_events events,
                                          std::function<void()> dropped = {});

  // Subscriber connections open now (for tests and Stats).
  std::size_t connections() const noexcept { return links_.open(); }

  // target_service: nothing to start; stop closes every connection (from
  // outside the io threads, waiting up to 2 s).
  void start() override {}
  void stop() override;
  // Closes every connection and forgets every listener, without waiting
  // (from any thread, the io threads too).
  void close();

 private:
  using kind = protocol::redis::subscriber_table::kind;
  using listener_id = protocol::redis::subscriber_table::listener_id;

  // All on the strand.
  // What the hub keeps of a stream's subscription_events: pub/sub has
  // nothing to settle, count or restart (a stream on a node holds one).
  struct listener {
    std::weak_ptr<subscription_sink> sink;
    std::function<void()> dropped;  // may be empty
    void deliver(v1::Delivery d) const {
      if (auto s = sink.lock()) s->deliver(std::move(d), 0);
    }
    void ready() const {
      if (auto s = sink.lock()) s->ready();
    }
  };
  void join(listener_id id, kind what, std::vector<std::string> names, listener l);
  void leave(listener_id id);
  void send(const std::vector<protocol::redis::subscriber_table::command>& commands);
  void up(std::size_t index, std::uint64_t generation, pool::connection& conn);
  void pushed(std::size_t index, protocol::redis::value v);
  void closed();

  std::string name_;                         // the target's, for logs
  boost::asio::any_io_executor strand_;      // everything below runs here
  protocol::redis::subscriber_table table_;  // who wants what, on which link
  pool::link_set links_;                     // by index, as the table numbers them
  std::unordered_map<listener_id, listener> listeners_;
  listener_id next_id_ = 0;
  bool stopped_ = false;
};

}  // namespace brokerside::sidecar
