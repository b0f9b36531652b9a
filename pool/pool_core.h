// The pool of one target as a sans-io state machine (after Boost.MySQL's
// sansio_connection_node and Envoy's conn_pool_base): events come in
// (acquire, connected, done, tick, ...), actions come out (connect, close,
// health_check, grant, fail), time is `now`. The Asio driver performs the
// actions on real connections; tests perform them on nothing at all.
//
// Nodes carry either shared operations (up to `per_connection_cap` at once,
// for multiplexing protocols; the oldest node with room first) or one
// exclusive holder (a lease). Waiters are served FIFO among those that can be
// served.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <system_error>
#include <vector>

#include "pool/backoff.h"
#include "pool/circuit_breaker.h"
#include "pool/failover.h"
#include "pool/settings.h"
#include "pool/time.h"

namespace brokerside::pool {

enum class node_state {
  connecting,  // connect + handshake in progress
  idle,        // open, carrying nothing
  busy,        // carrying shared operations
  leased,      // held by one exclusive holder
  checking,    // idle, health check in progress
};

enum class grant_kind { shared, exclusive };

struct pool_action {
  enum class kind {
    connect,       // open node `node` to URL `url`
    close,         // close node `node` (it has already left the pool)
    health_check,  // ping idle node `node`, then call health_checked()
    grant,         // waiter `waiter` may use node `node`
    fail,          // waiter `waiter` fails with `error` (`connection_error`: retry may help)
  };
  kind what;
  std::uint64_t node = 0;
  std::size_t url = 0;
  std::uint64_t waiter = 0;
  std::error_code error;
  bool connection_error = false;
};

struct pool_counters {
  std::uint64_t connects = 0;          // connections opened
  std::uint64_t connect_failures = 0;  // connects that failed
  std::uint64_t disconnects = 0;       // connections closed, for any reason
  std::uint64_t pool_exhausted = 0;    // acquires refused: max_pending reached
  std::uint64_t waiter_timeouts = 0;   // waiters whose time ran out
  std::uint64_t write_pauses = 0;      // connections that passed their write high-water mark
  std::uint64_t stalled = 0;           // connections closed for owing an answer too long
};

// One connection as Stats shows it.
struct node_view {
  std::uint64_t id;
  node_state state;
  std::size_t url;          // index into the target's URLs
  std::uint32_t in_flight;  // shared operations on it
  time_point created;       // connect started
  time_point since;         // entered its state (idle: last used)
};

struct pool_snapshot {
  std::uint32_t connecting = 0, idle = 0, busy = 0, leased = 0, checking = 0;
  std::uint32_t waiters = 0;
  std::uint32_t in_flight = 0;  // shared operations over all nodes
  pool_counters counters;
};

class pool_core {
 public:
  // `random` returns uniform draws in [0, 1): lifetime jitter, backoff jitter.
  pool_core(const target_config& target, std::uint32_t per_connection_cap,
            std::function<double()> random);

  // Opens the min_idle connections.
  void start(time_point now);

  // A caller wants a node until `deadline` (the caller's, capped by
  // acquire_timeout here). Answered now or later by grant or fail.
  void acquire(std::uint64_t waiter, grant_kind kind, time_point deadline, time_point now);
  // Their callers went away while waiting: forget them, no action.
  // `waiters` is sorted.
  void cancel(const std::vector<std::uint64_t>& waiters);

  // The connect of `node` finished.
  void connected(std::uint64_t node, std::error_code ec, time_point now);
  // A granted use of `node` ended (a shared operation or a lease); `broken`
  // discards the connection instead of reusing it.
  void done(std::uint64_t node, bool broken, time_point now);
  // A shared operation on `node` reached its caller's deadline before its
  // outcome: its use ends as with done(), but the connection still owes the
  // answer. A connection that owes an answer (this, or a health check) and
  // is not heard from for a whole health_check_interval is taken for dead
  // and closed: nothing else would notice a peer that went silent (there is
  // no read timeout, and TCP keepalive takes hours).
  void abandoned(std::uint64_t node, time_point now);
  // The connection of `node` delivered an outcome: it is alive.
  void answered(std::uint64_t node);
  // The connection of `node` broke on its own (read error, peer closed).
  void lost(std::uint64_t node, time_point now);
  // The unwritten output of `node` passed its high-water mark (`paused`) or
  // drained below the low one: a paused node gets no new shared operations.
  void write_paused(std::uint64_t node, bool paused, time_point now);
  // The health check of idle `node` finished.
  void health_checked(std::uint64_t node, bool ok, time_point now);
  // The broker asked `node` to go (NATS lame-duck mode): it takes no new
  // work and is closed once free (at once if idle), and its URL goes to the
  // back of the failover order, so its replacement connects elsewhere.
  void retire(std::uint64_t node, time_point now);
  // URL `index` of the target was learned from the broker (another server
  // of its cluster): tried after the URLs known before it.
  void add_url(std::size_t index) { failover_.add(index); }
  // Timers: waiter deadlines, idle and lifetime expiry, health checks, refill.
  void tick(time_point now);

  // The actions produced since the last call, in order, into `out`
  // (cleared first). Storage goes back and forth between `out` and the
  // core, which keeps the larger: no allocation per operation.
  void take_actions(std::vector<pool_action>& out);
  // When tick() next has work to do.
  std::optional<time_point> next_wakeup() const;

  pool_snapshot snapshot() const;
  const pool_counters& counters() const noexcept { return counters_; }
  // The URL index node `id` connects to (0 if unknown).
  std::size_t url_of(std::uint64_t id) const;
  std::vector<node_view> nodes() const;
  breaker_state breaker() const noexcept { return breaker_.state(); }
  const std::vector<std::size_t>& url_order() const noexcept { return failover_.order(); }

 private:
  struct node {
    node_state state = node_state::connecting;
    std::size_t url = 0;
    std::uint32_t in_flight = 0;  // shared operations
    time_point created{};         // connect started
    time_point since{};           // entered its state (idle: last used)
    time_point expires{};         // max_lifetime with jitter; max() if none
    time_point checked{};         // last health check or use
    bool retiring = false;        // takes no new work; closes when free
    bool paused = false;          // output above the high-water mark: no new shared work
    // Since when it owes an answer it has not given (an operation abandoned
    // at its deadline, a health check); none: nothing owed.
    std::optional<time_point> owes_since;
  };
  struct waiter {
    std::uint64_t id;
    grant_kind kind;
    time_point deadline;   // when it gives up
    bool callers = false;  // the deadline is the caller's (else acquire_timeout)
  };

  // Grants waiters what open nodes can carry, FIFO; then opens connections
  // for the rest (unless told not to) and for min_idle.
  void serve(time_point now, bool open_for_waiters = true);
  void open(time_point now);
  void close(std::uint64_t id);
  void fail_waiters(std::error_code ec, bool connection_error);
  void fail(const waiter& w, std::error_code ec, bool connection_error);
  std::map<std::uint64_t, node>::iterator pick(grant_kind kind);
  std::uint32_t open_nodes() const;  // not connecting
  std::uint32_t count(node_state s) const;

  target_config target_;                 // settings and URLs
  std::uint32_t cap_;                    // shared operations per connection
  std::function<double()> random_;       // jitter source
  circuit_breaker breaker_;              // over connect attempts
  failover failover_;                    // which URL to connect to
  std::map<std::uint64_t, node> nodes_;  // by node id
  std::deque<waiter> waiters_;           // FIFO
  std::vector<pool_action> actions_;     // produced, not yet taken
  std::uint64_t next_node_ = 1;          // node ids
  std::uint32_t refill_failures_ = 0;    // consecutive failures, for refill backoff
  time_point refill_at_{};               // earliest next min_idle refill
  pool_counters counters_;
};

}  // namespace brokerside::pool
