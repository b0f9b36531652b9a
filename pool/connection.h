// What the pool needs from a protocol adapter's connection, and how it makes
// them. The pool never sees a wire format: it opens, health-checks and closes
// connections, and hands them to the caller's attempt function, which talks
// the protocol and reports how the attempt went (pool/ensure.h).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "pool/broker_url.h"
#include "pool/time.h"

namespace brokerside::pool {

class connection {
 public:
  using completion = std::function<void(std::error_code)>;

  virtual ~connection() = default;

  // Connects and completes the protocol's handshake with `url` within
  // `timeout`. Completes once, on the connection's executor. A login the
  // broker refused (credentials, permissions on a vhost) completes with
  // errc::access_refused: the pool fails its waiters at once with it, as
  // waiting and retrying would not change the answer.
  virtual void connect(const broker_url& url, millis timeout, completion done) = 0;

  // A cheap round trip (Redis PING, AMQP heartbeat) on an idle connection.
  virtual void health_check(completion done) = 0;

  // Closes at once; operations in flight complete with a connection error.
  virtual void close() = 0;

  // Called (once) when the connection breaks on its own after connect.
  virtual void on_lost(completion lost) = 0;

  // Called with true when the connection's unwritten output passes its
  // high-water mark, and with false once it drains below the low one: the
  // pool gives a paused connection no new operations meanwhile.
  virtual void on_write_paused(std::function<void(bool)> paused) { (void)paused; }
  // Whether the connection is paused already as it opens (an AMQP broker
  // under a resource alarm says connection.blocked right after the
  // handshake): asked once, when connect succeeds.
  virtual bool write_paused_now() const { return false; }

  // The broker wants this connection gone soon (NATS lame-duck mode): the
  // pool gives it no new work, closes it once free and connects elsewhere.
  // Called on the connection's executor, at most once.
  virtual void on_retire(std::function<void()> retire) { (void)retire; }
  // Other servers of the broker's cluster that it told of ("host:port",
  // "[v6]:port"), to fail over to: asked once, when connect succeeds.
  virtual std::vector<std::string> peers() const { return {}; }

  // Whether the connection may serve other callers after a lease ends; a
  // connection whose lease changed it for good (a Kafka transactional
  // producer) answers false and is closed at Release, whatever discard says.
  virtual bool reusable_after_lease() const { return true; }

  // Records the client library holds that the broker has not acknowledged
  // yet (Kafka: librdkafka's queue), for Stats; 0 where there is none.
  virtual std::uint64_t queued() const { return 0; }

  // The broker's own words for the last failed connect, if it gave any
  // (e.g. "WRONGPASS invalid username-password pair"); never a secret.
  virtual std::string error_text() const { return {}; }
};

class connection_factory {
 public:
  virtual ~connection_factory() = default;

  // A new, unconnected connection running on `executor`.
  virtual std::unique_ptr<connection> make(boost::asio::any_io_executor executor) = 0;

  // How many operations one connection carries at once: 1 for protocols
  // without multiplexing, more for pipelined or correlated ones.
  virtual std::uint32_t per_connection_cap() const = 0;
};

}  // namespace brokerside::pool
