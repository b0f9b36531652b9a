// The gRPC side of one protocol adapter: checks a Send for its protocol and
// runs one attempt of it on a pooled connection, translating between the v1
// messages and the adapter's own types. One per adapter; stateless.
#pragma once

#include <grpcpp/support/status.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "brokerside/v1/brokerside.pb.h"
#include "pool/target_pool.h"

namespace brokerside::sidecar {

// Where a running subscription's events go: the Recv stream. Any thread.
class subscription_sink {
 public:
  virtual ~subscription_sink() = default;
  // A message, as a Delivery (delivery_id left for the stream to set), with
  // the adapter's own tag for settling it (AMQP delivery tag; 0 if none).
  virtual void deliver(v1::Delivery delivery, std::uint64_t tag) = 0;
  // Every source is in place.
  virtual void ready() = 0;
  // The subscription cannot go on, for a reason retrying will not fix (no
  // such queue, access refused, the broker cancelled the consumer): the
  // stream ends with this status (the first one it is told).
  virtual void failed(grpc::Status status) = 0;
  // Counts what became of a delivery at the broker outside any call
  // (dead-lettered, a settlement refused), for Stats.
  virtual void count(pool::target_pool::recv_event what) = 0;
  // The subscription's connection was lost and the adapter is starting it
  // again by itself (a consumer on a shared connection): the tags handed
  // out so far are void, and the broker redelivers what was not settled.
  // (Adapters where a lost connection ends the subscription, for the stream
  // to restore, never call it.)
  virtual void restarting() = 0;
};

// What a running subscription tells the Recv stream: the stream, held
// weakly (a subscription outliving its stream tells no one), and its name.
// Two pointers and a short string: hubs and adapters keep a copy per stream.
struct subscription_events {
  std::weak_ptr<subscription_sink> sink;
  // A name for the Recv stream: the same each time it subscribes again
  // after a connection loss, unlike any other stream's (random, 15 letters
  // and digits). An adapter names what it creates at the broker for the
  // stream after it (JetStream's ephemeral consumers), so a re-subscribe
  // finds it again.
  std::string stream_key;

  // subscription_sink's, each a no-op once the stream is gone.
  void deliver(v1::Delivery delivery, std::uint64_t tag) const {
    if (auto s = sink.lock()) s->deliver(std::move(delivery), tag);
  }
  void ready() const {
    if (auto s = sink.lock()) s->ready();
  }
  void failed(grpc::Status status) const {
    if (auto s = sink.lock()) s->failed(std::move(status));
  }
  void count(pool::target_pool::recv_event what) const {
    if (auto s = sink.lock()) s->count(what);
  }
  void restarting() const {
    if (auto s = sink.lock()) s->restarting();
  }
};

// A running subscription, as the Recv stream drives it.
class subscription {
 public:
  virtual ~subscription() = default;
  // Settles the delivery with adapter tag `tag`: ack, or reject (and
  // requeue or drop / dead-letter).
  virtual void settle(std::uint64_t tag, bool ack, bool requeue) = 0;
  // Whether the broker can redeliver a rejected delivery after a delay
  // (JetStream's -NAK with a delay); where it cannot, a Nack with a delay
  // is refused rather than ignored.
  virtual bool delays_redelivery() const { return false; }
  // Rejects the delivery with tag `tag` for redelivery no sooner than
  // `delay`. Called only where delays_redelivery() says so.
  virtual void requeue_after(std::uint64_t tag, std::chrono::nanoseconds /*delay*/) {
    settle(tag, false, true);
  }
  // The most deliveries outstanding is now `credit`.
  virtual void set_credit(std::uint32_t credit) = 0;
  // The client is still working on the delivery with tag `tag`: the broker
  // is to wait longer before it redelivers it (JetStream +WPI). Nothing
  // where the broker redelivers on no timer (AMQP waits for the channel).
  virtual void in_progress(std::uint64_t /*tag*/) {}
  // Answers the delivery with tag `tag`, delivered with expects_reply (a
  // request the remote side initiated), with the reply's result or error.
  virtual void reply(std::uint64_t /*tag*/, const v1::Reply& /*reply*/) {}
  // The stream has ended: settle what was settled before the connection is
  // let go (AMQP: close the channel and wait for the broker's close-ok, so
  // acks still in the output are not lost with it), then call `then`, once.
  virtual void stop(std::function<void()> then) { then(); }
  // Adds what the broker's side knows to the stream's Stats (Kafka: the
  // partitions held and their lag). Any thread, and quick: it reads a
  // snapshot, never asks the broker.
  virtual void fill_stats(v1::SubscriptionStats& /*out*/) const {}
};

// How one attempt of a Send ended: the pool's part (error, kind, written,
// the broker's words) and, on success, the response.
struct attempt_outcome {
  pool::attempt_result result;
  v1::SendResponse response;

  static attempt_outcome failed(pool::attempt_result r) {
    attempt_outcome out;
    out.result = std::move(r);
    return out;
  }
};

class operation_adapter {
 public:
  using outcome_handler = std::function<void(attempt_outcome)>;

  virtual ~operation_adapter() = default;

  // The status a request earns before any connection is used: OK, or
  // INVALID_ARGUMENT (not an operation of this protocol), FAILED_PRECONDITION
  // (needs a lease it does not have), ...
  virtual grpc::Status check(const v1::SendRequest& request, bool leased) const = 0;

  // Where a target's broker spreads its data over nodes that each have a
  // pool of their own (Redis Cluster): sets `pool` to the one that serves
  // `request`, or returns why none can (INVALID_ARGUMENT: keys in different
  // slots). Left as it is (the target's pool) by adapters without nodes.
  // Any thread.
  virtual grpc::Status route(const v1::SendRequest& /*request*/,
                             std::shared_ptr<pool::target_pool>& /*pool*/) const {
    return grpc::Status::OK;
  }

  // An operation that no one node answers (Redis Cluster: DBSIZE is the sum
  // of every master's, KEYS their union, FLUSHALL and SCRIPT LOAD run on
  // each, SCAN one master at a time): its parts, each a node's pool and the
  // request it runs there, and how their responses make the caller's.
  struct spread_operation {
    struct part {
      std::shared_ptr<pool::target_pool> pool;
      v1::SendRequest request;
    };
    std::vector<part> parts;
    // The caller's response from the parts' (in the parts' order), or why
    // they do not make one.
    std::function<grpc::Status(std::vector<v1::SendResponse>&, v1::SendResponse&)> combine;
  };
  // Sets `spread` where `request` (not on a lease) is such an operation,
  // or returns why it cannot run; leaves it empty for the rest, which
  // route() places. Any thread.
  virtual grpc::Status spread(const v1::SendRequest& /*request*/,
                              std::optional<spread_operation>& /*spread*/) const {
    return grpc::Status::OK;
  }

  // Where a lease comes from on a target whose nodes have pools of their
  // own (Redis Cluster: the master of the request's routing_key): sets
  // `pool`, and `tag`, which the lease's id carries so that lease_pool()
  // finds the pool again; or returns why it cannot. Left as they are (the
  // target's pool, no tag) by adapters without nodes. Any thread.
  virtual grpc::Status route_acquire(const v1::AcquireRequest& /*request*/,
                                     std::shared_ptr<pool::target_pool>& /*pool*/,
                                     std::string& /*tag*/) const {
    return grpc::Status::OK;
  }
  // The pool a lease id's `tag` names, or null if none does now.
  virtual std::shared_ptr<pool::target_pool> lease_pool(std::string_view /*tag*/) const {
    return nullptr;
  }

  // Whether re-running the request after a connection loss is harmless even
  // if the client did not say so (e.g. read-only commands).
  virtual bool idempotent(const v1::SendRequest& request) const = 0;

  // One attempt of `request` on `conn`. Completion: done(outcome), at most
  // once, on the connection's executor, with the response or the failure
  // and the broker's words. Cancellation: `cancel` fires when the caller's
  // deadline passes first; forget the operation if the protocol allows
  // (done may then never be called), else let its answer come and be
  // dropped. `request` is the caller's only until this returns: copy what
  // is needed later.
  virtual void attempt(const v1::SendRequest& request, pool::connection& conn,
                       boost::asio::cancellation_slot cancel, outcome_handler done) const = 0;

  // Recv: OK if this adapter can subscribe as asked, else the status.
  virtual grpc::Status check_subscribe(const v1::Subscribe&) const {
    return {grpc::StatusCode::UNIMPLEMENTED, "Recv is not implemented for this adapter yet"};
  }

  // Whether deliveries of `subscribe` are acknowledged to the broker (AMQP,
  // JetStream): the Recv stream then tracks them, and the broker stops at
  // the credit (prefetch), so nothing is ever dropped. Without (Redis
  // pub/sub, core NATS), acks are ignored and a buffer bounded by the credit
  // drops what does not fit.
  virtual bool acknowledges(const v1::Subscribe& /*subscribe*/) const { return false; }

  // Whether a subscription runs on a dedicated connection of its own (a
  // broker's consumer), or takes what arrives on any of the target's
  // connections (a framed target's peer requests).
  virtual bool subscribes_on_a_connection() const { return true; }

  // Connections the target's subscriptions share outside its pool, open
  // now (Redis: its subscriber connections); 0 where each subscription has
  // its own pooled connection. Any thread.
  virtual std::size_t subscriber_connections() const { return 0; }

  // Starts `subscribe` with `credit` as the most deliveries outstanding, on
  // the dedicated connection `conn` (null when subscribes_on_a_connection()
  // is false). Runs, and calls back, on the connection's strand, for as
  // long as the connection lives; the returned handle (may be null where
  // there is nothing to settle) is valid as long as it.
  virtual std::shared_ptr<subscription> start_subscription(const v1::Subscribe& /*subscribe*/,
                                                           std::uint32_t /*credit*/,
                                                           pool::connection* /*conn*/,
                                                           subscription_events /*events*/) const {
    return nullptr;
  }
};

// What an adapter runs beside a target's pool (a framed target's listener).
class target_service {
 public:
  virtual ~target_service() = default;
  // The target's own pool, once made (before start()).
  virtual void attach(std::shared_ptr<pool::target_pool> /*pool*/) {}
  // Before start(): `changed(ready)` is to be called whenever the service
  // can serve the target's operations, or no longer can (Redis Cluster: once
  // the slot map is read); the target is SERVING only while it can and its
  // pool is healthy. Any thread. By default: ready, said at once.
  virtual void watch_ready(std::function<void(bool)> changed) { changed(true); }
  // With the pools, at startup; a startup_error names the setting at fault.
  virtual void start() = 0;
  // With the pools, from outside the io threads.
  virtual void stop() = 0;
  // The pools of the broker's nodes it runs beside the target's (Redis
  // Cluster's masters), for Stats: done(their stats), from any thread.
  virtual void node_stats(std::function<void(std::vector<pool::target_stats>)> done) const {
    done({});
  }
};

// What a build offers for one target: how to connect, how to run operations.
struct adapter_binding {
  std::shared_ptr<pool::connection_factory> connections;
  std::shared_ptr<const operation_adapter> operations;
  std::string missing;  // without connections: why (e.g. "TLS is not implemented yet")
  std::shared_ptr<target_service> service;  // optional
};

}  // namespace brokerside::sidecar
