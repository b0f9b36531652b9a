// The pool of one target on Boost.Asio: drives pool_core (connections),
// lease_table (leases), ensure_op and retry_budget (retries) with real
// connections and timers. All state lives on one strand; every public
// function may be called from any thread and completes on that strand.
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/strand.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "pool/caller_gone.h"
#include "pool/connection.h"
#include "pool/deadline_queue.h"
#include "pool/ensure.h"
#include "pool/latency_histogram.h"
#include "pool/lease_table.h"
#include "pool/pool_core.h"
#include "pool/retry_budget.h"
#include "protocol/io_strand.h"

namespace brokerside::pool {

// The pool's timers, on pool::clock (tests move it with clock::advance).
using timer = boost::asio::basic_waitable_timer<clock>;

// A point-in-time view of a target's pool, for Stats and /metrics.
struct target_stats {
  pool_snapshot pool;
  breaker_state breaker = breaker_state::closed;
  bool healthy = false;
  std::uint64_t operations = 0, operation_errors = 0, retries = 0, retry_budget_exhausted = 0;
  std::uint64_t leases_acquired = 0, leases_reclaimed = 0;
  std::uint64_t abandoned = 0;           // attempts whose deadline passed before their reply
  std::uint64_t cancelled = 0;           // operations dropped unrun: their caller went away
  std::uint64_t redirects = 0;           // operations handed to another node's pool
  std::uint64_t deliveries_dropped = 0;  // by slow Recv clients
  std::uint64_t dead_lettered = 0;       // Recv nacks sent to a dead-letter destination
  std::uint64_t acks_refused = 0;        // Recv settlements for deliveries taken back
  struct lease_view {
    std::string id, holder;
    millis age, ttl_remaining;
    std::uint64_t connection_id;
  };
  std::vector<lease_view> leases;
  std::vector<node_view> connections;
  std::map<std::uint64_t, std::uint64_t> queued;  // connection::queued() by node id, if not 0
  // Every URL by index (node_view::url), redacted: the configured ones, then
  // those learned from the broker (a NATS cluster's other servers).
  std::vector<std::string> urls;
  // Of a node's own pool (Redis Cluster's masters): its address, and what it
  // serves in the adapter's words ("slots 0-5460").
  std::string node, serves;
  // The target's nodes that have pools of their own, beside this one.
  std::vector<target_stats> nodes;
};

class target_pool : public std::enable_shared_from_this<target_pool> {
 public:
  using attempt_done = std::function<void(attempt_result)>;
  // Runs one attempt of an operation on `conn`: calls done at most once,
  // with the outcome. `cancel` fires when the caller's deadline passes
  // first: the attempt is over for the caller, and the adapter forgets the
  // operation if its protocol lets it (an answer that still comes is
  // dropped, but reported through done if the adapter has it: the pool
  // then knows the connection alive). The pool keeps the slot's signal
  // alive while done may still be called.
  using attempt_fn = std::function<void(connection& conn, boost::asio::cancellation_slot cancel,
                                        attempt_done done)>;
  using done_fn = std::function<void(std::error_code)>;
  // How an operation ended: the error the caller gets (none: success) and
  // the last attempt's detail (the broker's words, if any).
  using outcome_fn = std::function<void(std::error_code, std::string detail)>;

  static std::shared_ptr<target_pool> create(boost::asio::any_io_executor executor,
                                             target_config target,
                                             std::shared_ptr<connection_factory> factory);

  // Where an attempt answers that another node serves the operation
  // (attempt_result::redirect): `redirected(why, attempt, idempotent,
  // deadline, done, caller)` runs it there, `done` its outcome as
  // execute()'s. Set before start(); called on the strand. Without one such
  // an attempt ends with its error.
  using redirect_fn = std::function<void(const attempt_result& why, attempt_fn attempt,
                                         bool idempotent, time_point deadline, outcome_fn done,
                                         std::shared_ptr<caller_gone> caller)>;
  void on_redirect(redirect_fn redirected) { redirector_ = std::move(redirected); }

  // Opens min_idle connections. `health` is told whenever the target's health
  // (reachable with the breaker closed) changes.
  void start(std::function<void(bool healthy)> health = {});

  // Closes everything; waiting and later calls, and attempts still
  // unanswered, fail with shutting_down. `done` runs once that is over.
  void stop(std::function<void()> done = {});

  // Runs `attempt` on a pooled connection, retrying per ensure_op until
  // `deadline`. Completion: done(error, detail), once, at the latest at the
  // deadline (DEADLINE_EXCEEDED; the attempt in flight is cancelled).
  // Cancellation: by `caller` (none: only the deadline bounds it), once it
  // is set: waiting for a connection, the operation ends at once with
  // caller_gone, unrun; after a failed attempt it is not retried. The pool keeps
  // `attempt`, and an attempt in flight keeps what its own callback holds,
  // until they complete.
  void execute(attempt_fn attempt, bool idempotent, time_point deadline, outcome_fn done,
               std::shared_ptr<caller_gone> caller = {});

  struct lease_grant {
    std::string id;
    millis ttl{0};
  };
  // Leases a dedicated connection for `ttl` (0: the default TTL).
  // Completion: done(error, grant).
  void acquire_lease(millis ttl, std::string holder, time_point deadline,
                     std::function<void(std::error_code, lease_grant)> done);
  // Runs one attempt on the lease's connection until `deadline`, cancelled
  // there as execute()'s; never retried (the connection's state belongs to
  // the holder).
  void execute_leased(std::string id, attempt_fn attempt, time_point deadline, outcome_fn done);
  void renew(std::string id, millis ttl, std::function<void(std::error_code, millis)> done);
  // Ends a lease. Its connection goes back to the pool, unless `discard` or
  // it still owes the answer to an attempt abandoned at its deadline (a
  // BLPOP still blocking): such a connection is closed, never handed to
  // another caller.
  void release(std::string id, bool discard, done_fn done);

  // A connection held by one caller for as long as it wants (a subscription
  // stream): granted exclusively, like a lease without a TTL. `lost` is
  // called once if the connection breaks (or the pool stops); end the hold
  // with release_dedicated(), which always discards the connection, since
  // its state (subscribed) is not reusable. Completion: done(error, node,
  // connection) on the pool's strand; the connection is valid until lost
  // or released, and only on that strand.
  void acquire_dedicated(time_point deadline,
                         std::function<void(std::error_code, std::uint64_t, connection*)> done,
                         std::function<void(std::error_code)> lost);
  void release_dedicated(std::uint64_t node);

  // Ends the waits of operations whose caller has gone (caller_gone::set).
  // Safe from any thread.
  void drop_gone_waiters();

  // Counts what happened to Recv deliveries outside any call (for Stats).
  // Safe from any thread.
  enum class recv_event {
    dropped,        // a subscriber's client was slow (no broker flow control)
    dead_lettered,  // nacked without requeue, sent to the dead-letter destination
    acks_refused,   // acked or nacked after the broker took it back (a rebalance)
  };
  void count(recv_event what, std::uint64_t n = 1) {
    recv_counts_[static_cast<std::size_t>(what)].fetch_add(n, std::memory_order_relaxed);
  }

  // How long operations waited for a pooled connection, and how long their
  // attempts took from handing the operation to the connection until its
  // answer (attempts cut short by the deadline are not in it). Safe from
  // any thread.
  const latency_histogram& wait_latency() const noexcept { return wait_latency_; }
  const latency_histogram& round_trip_latency() const noexcept { return round_trip_latency_; }

  // The strand everything runs on, for callers' own timers.
  boost::asio::any_io_executor executor() const { return strand_; }

  void stats(std::function<void(target_stats)> done);

  // (Its URLs grow on the strand as the broker tells of others.)
  const target_config& target() const noexcept { return target_; }

  // Why the last connect failed ("redis://h:6379: connection refused"), or
  // empty after a success. Safe from any thread.
  std::string last_connect_error() const;

 private:
  struct operation;
  struct attempt_run;
  using grant_fn = std::function<void(std::error_code, bool connection_error, std::uint64_t node)>;
  // One who waits for a connection: an operation's next attempt (told by
  // granted()), or anyone else (a lease, a dedicated hold) by its callback.
  struct waiter_entry {
    std::shared_ptr<operation> op;  // an attempt's
    time_point asked;               // when the attempt began to wait
    grant_fn granted;               // anyone else's
  };
  // How an attempt was settled: its outcome, or nullopt when the caller's
  // deadline came first; and when (one clock read serves the settling).
  using settle_fn = std::function<void(std::optional<attempt_result>, time_point now)>;

  target_pool(boost::asio::any_io_executor executor, target_config target,
              std::shared_ptr<connection_factory> factory);

  // On the strand: counts `op` and makes its first attempt.
  void start(std::shared_ptr<operation> op, time_point now);
  void attempt(std::shared_ptr<operation> op, time_point now);
  // Whether `op`'s caller has gone; if so, ends it with caller_gone.
  bool dropped(operation& op);
  // On the strand: drop_gone_waiters().
  void drop_gone();
  // An attempt's wait ended: with a connection (`node`), or with `ec`.
  void granted(std::shared_ptr<operation> op, time_point asked, std::error_code ec,
               bool connection_error, std::uint64_t node);
  // Tells `w` how its wait ended.
  void grant(waiter_entry& w, std::error_code ec, bool connection_error, std::uint64_t node);
  // An attempt is over for its caller: by its outcome, or (nullopt) at the deadline.
  void settle(attempt_run& run, std::optional<attempt_result> result, time_point now);
  // On the strand: starts every operation in the inbox, in one dispatch turn.
  void drain_inbox();
  // The one deadline mechanism: runs `attempt` on `node` and settles it
  // once, by its outcome or at `deadline` (cancelling it; deadlines_ holds
  // it until then, and timer_ wakes for the earliest).
  void run_attempt(const attempt_fn& attempt, std::uint64_t node, time_point deadline,
                   time_point now, std::shared_ptr<attempt_run> run);
  // Settles every attempt whose deadline has come, cancelling it.
  void expire_attempts(time_point now);
  // Ends `run` before its answer: cancelled, then settled with `result`
  // (nullopt: at its deadline).
  void cut_short(attempt_run& run, std::optional<attempt_result> result, time_point now);
  void finish_attempt(std::shared_ptr<operation> op, attempt_result result, time_point now);
  // One answer that a leased `node` owed has come (owing_); no-op otherwise.
  void answered_owed(std::uint64_t node);
  void wait_for(std::uint64_t waiter, grant_kind kind, time_point deadline, time_point now,
                waiter_entry entry);
  void apply();
  void perform(const pool_action& action);
  // Opens connection `node` to URL number `url`; then connect_failed() or
  // watch() (its loss and write pauses), and the core learns the outcome.
  void connect(std::uint64_t node, std::size_t url);
  void connect_failed(std::uint64_t node, std::error_code ec);
  void watch(std::uint64_t node);
  // Adds "host:port" (another server of the broker's cluster, told of on
  // `node`'s connection) as a URL like `node`'s, unless known or too many.
  void learn_url(std::uint64_t node, const std::string& peer);
  void on_timer();
  void arm_timer();
  void update_health();
  double draw();
  std::string new_lease_id();

  protocol::io_strand strand_;  // owns everything below
  target_config target_;        // settings and URLs (learned ones grow it, on the strand)
  std::shared_ptr<connection_factory> factory_;  // the adapter's connections
  std::mt19937_64 rng_;  // jitter, shuffle, lease ids (before core_, which draws from it)
  pool_core core_;       // which connection does what
  lease_table leases_;   // lease ids -> connections
  retry_budget budget_;  // caps retries
  std::map<std::uint64_t, std::unique_ptr<connection>> conns_;  // by node id
  std::map<std::uint64_t, waiter_entry> waiting_;               // by waiter id
  // wait_for() calls under way (nested ones after), whose grants perform()
  // hands over directly; `entry` is null once it has.
  struct asking {
    std::uint64_t waiter;
    waiter_entry* entry;
  };
  std::vector<asking> asking_;
  std::map<std::uint64_t, std::function<void(std::error_code)>> dedicated_;  // lost, by node
  // Leased nodes with attempts still unanswered (running, or abandoned at their
  // deadline), by node: released while owing, a connection is closed, not pooled.
  std::map<std::uint64_t, std::size_t> owing_;
  deadline_queue deadlines_;          // attempts in flight, by their callers' deadlines
  timer timer_;                       // core, lease and attempt deadlines
  std::optional<time_point> armed_;   // when timer_ fires; none: not armed
  std::function<void(bool)> health_;  // health listener
  redirect_fn redirector_;            // runs redirected operations elsewhere, if set
  std::uint64_t next_waiter_ = 1;
  bool reachable_ = false;    // the last connect succeeded and nothing since failed
  bool last_health_ = false;  // what health_ was last told
  bool stopped_ = false;
  std::array<std::atomic<std::uint64_t>, 3> recv_counts_{};  // by recv_event
  latency_histogram wait_latency_;                           // waits for a shared connection
  latency_histogram round_trip_latency_;                     // attempts, handed over to answered
  // Operations handed in from other threads, not yet started: those that
  // come while the strand has not taken the earlier ones join them.
  std::mutex inbox_mutex_;                           // guards the two below
  std::vector<std::shared_ptr<operation>> inbox_;    // in arrival order
  bool inbox_scheduled_ = false;                     // a drain_inbox() is posted
  std::vector<std::shared_ptr<operation>> started_;  // on the strand: the inbox taken, reused
  mutable std::mutex error_mutex_;  // guards last_connect_error_ (read off the strand)
  std::string last_connect_error_;
  std::uint64_t operations_ = 0, operation_errors_ = 0, retries_ = 0, budget_exhausted_ = 0;
  std::uint64_t leases_acquired_ = 0, leases_reclaimed_ = 0, abandoned_ = 0, redirects_ = 0;
  std::uint64_t cancelled_ = 0;
};

}  // namespace brokerside::pool
