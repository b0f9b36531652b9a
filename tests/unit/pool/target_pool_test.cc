// target_pool on a real io_context with fake connections: no sockets, no
// broker. Deadlines, TTLs and health-check intervals pass by moving the
// pool's clock (advance()), not by sleeping; nothing asserts how fast
// anything ran.
#include "pool/target_pool.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "pool/errc.h"
#include "tests/support/fake_connection.h"

namespace brokerside::pool {
namespace {

const url_scheme schemes[] = {{"redis", "redis"}};

namespace asio = boost::asio;

using testing_support::fake_connection;
using testing_support::fake_factory;
using testing_support::fake_world;

const std::error_code reset = std::make_error_code(std::errc::connection_reset);

class target_pool_test : public ::testing::Test {
 protected:
  std::shared_ptr<target_pool> make(std::function<void(target_config&)> adjust = {}) {
    std::string error;
    target_config t;
    t.name = "t";
    t.urls = {*parse_broker_url("redis://first:1", schemes, error),
              *parse_broker_url("redis://second:1", schemes, error)};
    t.pool.max_connections = 2;
    t.pool.min_idle = 0;
    t.retry.initial_interval = millis(1);
    t.retry.max_interval = millis(5);
    t.breaker.failure_threshold = 3;
    t.breaker.open_timeout = millis(60'000);
    if (adjust) adjust(t);
    auto pool =
        target_pool::create(io_.get_executor(), t, std::make_shared<fake_factory>(world_, 4));
    pool->start([this](bool healthy) { health_.push_back(healthy); });
    return pool;
  }

  void TearDown() override {
    // Let stop() and what it started run before the pools go.
    io_.restart();
    io_.run_for(std::chrono::milliseconds(20));
  }

  // Runs the io_context until `done` or 5 s pass.
  void run_until(const std::function<bool()>& done) {
    const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done() && std::chrono::steady_clock::now() < limit) {
      io_.run_for(std::chrono::milliseconds(5));
      io_.restart();
    }
    ASSERT_TRUE(done());
  }

  std::error_code execute(target_pool& pool, target_pool::attempt_fn attempt,
                          bool idempotent = false, millis timeout = millis(2000)) {
    std::optional<std::error_code> result;
    pool.execute(std::move(attempt), idempotent, clock::now() + timeout,
                 [&](std::error_code ec, std::string d) {
                   result = ec;
                   detail = std::move(d);
                 });
    run_until([&] { return result.has_value(); });
    return result.value_or(make_error_code(errc::deadline_exceeded));
  }

  // Starts an execute() whose outcome lands in `out` as the io_context runs.
  void start_execute(target_pool& pool, target_pool::attempt_fn attempt, millis timeout,
                     std::optional<std::error_code>& out) {
    pool.execute(std::move(attempt), true, clock::now() + timeout,
                 [&out](std::error_code ec, std::string) { out = ec; });
  }

  // Moves the pool's clock `d` ahead and runs what fell due. (Asio's
  // reactor waits on a timerfd set from the clock when its earliest timer
  // was scheduled: a timer earlier than all makes it look again.)
  void advance(clock::duration d) {
    clock::advance(d);
    timer poke(io_, clock::time_point{});
    poke.async_wait([](boost::system::error_code) {});
    for (int i = 0; i < 3; ++i) {
      io_.restart();
      io_.poll();
    }
    io_.restart();
  }

  target_stats stats_of(target_pool& pool) {
    std::optional<target_stats> s;
    pool.stats([&](target_stats x) { s = std::move(x); });
    run_until([&] { return s.has_value(); });
    return *s;
  }

  asio::io_context io_;
  fake_world world_;
  std::string detail;  // the last execute()'s
  std::vector<bool> health_;
};

auto succeed() {
  return [](connection&, asio::cancellation_slot, target_pool::attempt_done done) { done({}); };
}

TEST_F(target_pool_test, executes_on_a_pooled_connection_and_reports_health) {
  auto pool = make();
  int attempts = 0;
  EXPECT_FALSE(
      execute(*pool, [&](connection& c, asio::cancellation_slot, target_pool::attempt_done done) {
        ++attempts;
        EXPECT_GT(dynamic_cast<fake_connection&>(c).id(), 0);
        done({});
      }));
  EXPECT_EQ(attempts, 1);
  EXPECT_EQ(world_.opened, 1);
  EXPECT_EQ(world_.hosts, std::vector<std::string>{"first"});
  EXPECT_EQ(health_, std::vector<bool>{true});
  const auto s = stats_of(*pool);
  EXPECT_EQ(s.operations, 1u);
  EXPECT_EQ(s.operation_errors, 0u);
  EXPECT_EQ(s.pool.idle, 1u);
  EXPECT_EQ(s.pool.in_flight, 0u);
  pool->stop();
  run_until([&] { return world_.closed == 1; });
}

TEST_F(target_pool_test, connection_error_before_writing_is_retried) {
  auto pool = make();
  int attempts = 0;
  EXPECT_FALSE(
      execute(*pool, [&](connection&, asio::cancellation_slot, target_pool::attempt_done done) {
        done(++attempts == 1 ? attempt_result{reset, failure_kind::connection, false}
                             : attempt_result{});
      }));
  EXPECT_EQ(attempts, 2);
  const auto s = stats_of(*pool);
  EXPECT_EQ(s.retries, 1u);
  // The broken connection was discarded and a new one opened.
  EXPECT_EQ(world_.opened, 2);
  EXPECT_EQ(world_.closed, 1);
  pool->stop();
}

TEST_F(target_pool_test, written_non_idempotent_operation_is_aborted) {
  auto pool = make();
  int attempts = 0;
  const auto ec =
      execute(*pool, [&](connection&, asio::cancellation_slot, target_pool::attempt_done done) {
        ++attempts;
        done({reset, failure_kind::connection, true});
      });
  EXPECT_EQ(ec, make_error_code(errc::outcome_unknown));
  EXPECT_EQ(attempts, 1);
  pool->stop();
}

TEST_F(target_pool_test, operation_errors_are_returned_as_they_are) {
  auto pool = make();
  const auto refused_by_broker = make_error_code(errc::broker_refused);
  EXPECT_EQ(execute(*pool,
                    [&](connection&, asio::cancellation_slot, target_pool::attempt_done done) {
                      done({refused_by_broker, failure_kind::operation, true});
                    }),
            refused_by_broker);
  EXPECT_EQ(world_.closed, 0);  // the connection is kept
  pool->stop();
}

TEST_F(target_pool_test, unreachable_broker_fails_over_then_opens_the_breaker) {
  world_.refuse = true;
  auto pool = make([](target_config& t) { t.retry.max_retries = 1; });
  EXPECT_EQ(execute(*pool, succeed()), make_error_code(errc::unavailable));
  EXPECT_EQ(world_.hosts, (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(execute(*pool, succeed()), make_error_code(errc::circuit_open));
  EXPECT_EQ(stats_of(*pool).breaker, breaker_state::open);
  // Open: fails fast without connecting.
  const auto before = world_.hosts.size();
  EXPECT_EQ(execute(*pool, succeed()), make_error_code(errc::circuit_open));
  EXPECT_EQ(world_.hosts.size(), before);
  EXPECT_TRUE(health_.empty());  // never reachable
  pool->stop();
}

TEST_F(target_pool_test, leases_acquire_use_renew_release) {
  auto pool = make();
  std::optional<target_pool::lease_grant> grant;
  pool->acquire_lease(millis(0), "ipv4:127.0.0.1:1", clock::now() + millis(2000),
                      [&](std::error_code ec, target_pool::lease_grant g) {
                        EXPECT_FALSE(ec);
                        grant = g;
                      });
  run_until([&] { return grant.has_value(); });
  EXPECT_EQ(grant->ttl, millis(30'000));
  EXPECT_EQ(grant->id.size(), 34u);
  auto s = stats_of(*pool);
  EXPECT_EQ(s.pool.leased, 1u);
  ASSERT_EQ(s.leases.size(), 1u);
  EXPECT_EQ(s.leases[0].holder, "ipv4:127.0.0.1:1");

  std::optional<std::error_code> used;
  pool->execute_leased(grant->id, succeed(), clock::now() + millis(2000),
                       [&](std::error_code ec, std::string) { used = ec; });
  run_until([&] { return used.has_value(); });
  EXPECT_FALSE(*used);

  std::optional<std::error_code> renewed;
  pool->renew(grant->id, millis(10'000'000), [&](std::error_code ec, millis) { renewed = ec; });
  run_until([&] { return renewed.has_value(); });
  EXPECT_EQ(*renewed, make_error_code(errc::invalid_operation));  // above max_ttl

  std::optional<std::error_code> released;
  pool->release(grant->id, false, [&](std::error_code ec) { released = ec; });
  run_until([&] { return released.has_value(); });
  EXPECT_FALSE(*released);
  s = stats_of(*pool);
  EXPECT_EQ(s.pool.leased, 0u);
  EXPECT_EQ(s.pool.idle, 1u);
  released.reset();
  pool->release(grant->id, false, [&](std::error_code ec) { released = ec; });
  run_until([&] { return released.has_value(); });
  EXPECT_EQ(*released, make_error_code(errc::unknown_lease));
  pool->stop();
}

// A leased BLPOP past its deadline, then a release without discard: the
// connection still blocked in it must not serve the next caller.
class owed_answer : public target_pool_test {
 protected:
  // Leases the pool's one connection and abandons an attempt on it.
  std::string lease_with_an_abandoned_attempt(target_pool& pool) {
    std::optional<target_pool::lease_grant> grant;
    pool.acquire_lease(millis(0), "ipv4:127.0.0.1:3", clock::now() + millis(2000),
                       [&](std::error_code, target_pool::lease_grant g) { grant = g; });
    run_until([&] { return grant.has_value(); });
    std::optional<std::error_code> used;
    pool.execute_leased(
        grant->id,
        [this](connection&, asio::cancellation_slot, target_pool::attempt_done done) {
          late = std::move(done);
        },
        clock::now() + millis(500), [&](std::error_code ec, std::string) { used = ec; });
    run_until([&] { return static_cast<bool>(late); });
    advance(millis(501));
    EXPECT_EQ(used, make_error_code(errc::deadline_exceeded));
    return grant->id;
  }

  void release(target_pool& pool, const std::string& id) {
    std::optional<std::error_code> released;
    pool.release(id, /*discard=*/false, [&](std::error_code ec) { released = ec; });
    run_until([&] { return released.has_value(); });
    EXPECT_FALSE(*released);
  }

  target_pool::attempt_done late;  // the abandoned attempt's answer, if it comes
};

TEST_F(owed_answer, a_released_lease_whose_connection_owes_an_answer_is_discarded) {
  auto pool = make([](target_config& t) { t.pool.max_connections = 1; });
  release(*pool, lease_with_an_abandoned_attempt(*pool));
  EXPECT_EQ(world_.closed, 1);
  // The next caller gets a fresh connection, not the one still blocked.
  EXPECT_FALSE(execute(*pool, succeed()));
  EXPECT_EQ(world_.opened, 2);
  pool->stop();
}

TEST_F(owed_answer, a_lease_released_before_its_attempts_deadline_is_discarded_too) {
  // The caller's own gRPC deadline can fire, and its Release arrive, before
  // the pool's timer for the same deadline: the attempt is still running.
  auto pool = make([](target_config& t) { t.pool.max_connections = 1; });
  std::optional<target_pool::lease_grant> grant;
  pool->acquire_lease(millis(0), "ipv4:127.0.0.1:3", clock::now() + millis(2000),
                      [&](std::error_code, target_pool::lease_grant g) { grant = g; });
  run_until([&] { return grant.has_value(); });
  std::optional<std::error_code> used;
  pool->execute_leased(
      grant->id,
      [this](connection&, asio::cancellation_slot, target_pool::attempt_done done) {
        late = std::move(done);
      },
      clock::now() + millis(500), [&](std::error_code ec, std::string) { used = ec; });
  run_until([&] { return static_cast<bool>(late); });
  release(*pool, grant->id);
  EXPECT_EQ(world_.closed, 1);
  EXPECT_FALSE(execute(*pool, succeed()));
  EXPECT_EQ(world_.opened, 2);
  // Still unanswered when the pool stops: it ends then, not at its deadline.
  bool stopped = false;
  pool->stop([&] { stopped = true; });
  run_until([&] { return stopped; });
  EXPECT_EQ(used, make_error_code(errc::shutting_down));
}

TEST_F(owed_answer, once_the_owed_answer_has_come_the_connection_goes_back_to_the_pool) {
  auto pool = make([](target_config& t) { t.pool.max_connections = 1; });
  const auto id = lease_with_an_abandoned_attempt(*pool);
  late({});  // the BLPOP's answer, after its caller gave up: dropped
  io_.poll();
  io_.restart();
  release(*pool, id);
  EXPECT_EQ(world_.closed, 0);
  EXPECT_FALSE(execute(*pool, succeed()));
  EXPECT_EQ(world_.opened, 1);
  pool->stop();
}

TEST_F(target_pool_test, expired_lease_is_reclaimed_and_its_connection_discarded) {
  auto pool = make([](target_config& t) { t.lease.default_ttl = millis(30'000); });
  std::optional<target_pool::lease_grant> grant;
  pool->acquire_lease(millis(0), "ipv4:127.0.0.1:2", clock::now() + millis(2000),
                      [&](std::error_code, target_pool::lease_grant g) { grant = g; });
  run_until([&] { return grant.has_value(); });
  advance(millis(29'000));
  EXPECT_EQ(stats_of(*pool).leases_reclaimed, 0u);
  advance(millis(1'001));
  EXPECT_EQ(stats_of(*pool).leases_reclaimed, 1u);
  EXPECT_EQ(world_.closed, 1);
  std::optional<std::error_code> used;
  pool->execute_leased(grant->id, succeed(), clock::now() + millis(2000),
                       [&](std::error_code ec, std::string) { used = ec; });
  run_until([&] { return used.has_value(); });
  EXPECT_EQ(*used, make_error_code(errc::lease_expired));
  const auto s = stats_of(*pool);
  EXPECT_EQ(s.pool.leased, 0u);
  EXPECT_TRUE(s.leases.empty());
  pool->stop();
}

TEST_F(target_pool_test, an_attempt_past_its_deadline_is_abandoned_and_the_connection_kept) {
  auto pool = make();
  target_pool::attempt_done late;  // the "reply" that comes too late
  std::optional<std::error_code> result;
  start_execute(
      *pool,
      [&](connection&, asio::cancellation_slot, target_pool::attempt_done done) {
        late = std::move(done);
      },
      millis(10'000), result);
  run_until([&] { return static_cast<bool>(late); });
  EXPECT_FALSE(result.has_value());
  advance(millis(10'001));
  EXPECT_EQ(result, make_error_code(errc::deadline_exceeded));
  late({});  // dropped
  io_.poll();
  io_.restart();
  EXPECT_FALSE(execute(*pool, succeed()));
  const auto s = stats_of(*pool);
  EXPECT_EQ(s.abandoned, 1u);
  EXPECT_EQ(world_.closed, 0);
  EXPECT_EQ(world_.opened, 1);
  pool->stop();
}

TEST_F(target_pool_test, the_deadline_cancels_the_attempt_in_flight) {
  auto pool = make();
  std::optional<asio::cancellation_type> cancelled;
  target_pool::attempt_done forgotten;
  std::optional<std::error_code> result;
  start_execute(
      *pool,
      [&](connection&, asio::cancellation_slot cancel, target_pool::attempt_done done) {
        forgotten = std::move(done);
        cancel.assign([&](asio::cancellation_type type) { cancelled = type; });
      },
      millis(10'000), result);
  run_until([&] { return static_cast<bool>(forgotten); });
  EXPECT_FALSE(cancelled.has_value());
  advance(millis(10'001));
  EXPECT_EQ(result, make_error_code(errc::deadline_exceeded));
  ASSERT_TRUE(cancelled.has_value());
  EXPECT_EQ(*cancelled, asio::cancellation_type::terminal);
  pool->stop();
}

TEST_F(target_pool_test, the_last_attempts_words_come_with_its_failure) {
  auto pool = make();
  const auto refuse = [](connection&, asio::cancellation_slot, target_pool::attempt_done done) {
    done({make_error_code(errc::broker_refused), failure_kind::operation, true, "NOPE said so"});
  };
  EXPECT_EQ(execute(*pool, refuse), make_error_code(errc::broker_refused));
  EXPECT_EQ(detail, "NOPE said so");
  pool->stop();
}

TEST_F(target_pool_test, a_connection_that_never_answers_an_abandoned_attempt_is_replaced) {
  auto pool = make([](target_config& t) { t.pool.health_check_interval = millis(30'000); });
  std::vector<target_pool::attempt_done> never;  // replies that never come
  std::optional<std::error_code> result;
  start_execute(
      *pool,
      [&](connection&, asio::cancellation_slot, target_pool::attempt_done done) {
        never.push_back(std::move(done));
      },
      millis(10'000), result);
  run_until([&] { return !never.empty(); });
  advance(millis(10'001));
  EXPECT_EQ(result, make_error_code(errc::deadline_exceeded));
  // Silent for the interval after the deadline: closed, and the next call
  // gets a new connection.
  advance(millis(29'000));
  EXPECT_EQ(world_.closed, 0);
  advance(millis(1'000));
  EXPECT_EQ(world_.closed, 1);
  EXPECT_FALSE(execute(*pool, succeed()));
  EXPECT_EQ(world_.opened, 2);
  EXPECT_EQ(stats_of(*pool).pool.counters.stalled, 1u);
  pool->stop();
}

TEST_F(target_pool_test, stop_fails_waiters_and_later_calls) {
  auto pool = make([](target_config& t) { t.pool.max_connections = 1; });
  std::optional<target_pool::lease_grant> grant;
  pool->acquire_lease(millis(0), "h", clock::now() + millis(2000),
                      [&](std::error_code, target_pool::lease_grant g) { grant = g; });
  run_until([&] { return grant.has_value(); });
  std::optional<std::error_code> waiting;
  pool->execute(succeed(), true, clock::now() + millis(5000),
                [&](std::error_code ec, std::string) { waiting = ec; });
  io_.poll();
  io_.restart();
  pool->stop();
  run_until([&] { return waiting.has_value(); });
  EXPECT_EQ(*waiting, make_error_code(errc::shutting_down));
  EXPECT_EQ(execute(*pool, succeed()), make_error_code(errc::shutting_down));
}

// Operations of a caller that went away (a cancelled SendStream), held in a
// pool whose one connection is leased.
class gone_caller : public target_pool_test {
 protected:
  void SetUp() override {
    pool_ = make([](target_config& t) { t.pool.max_connections = 1; });
    pool_->acquire_lease(millis(0), "h", clock::now() + millis(2000),
                         [&](std::error_code, target_pool::lease_grant g) { lease_ = g.id; });
    run_until([&] { return !lease_.empty(); });
  }

  // Queues an operation of `caller` that counts its attempts in `ran`.
  void queue(const std::shared_ptr<caller_gone>& caller, std::optional<std::error_code>& out) {
    pool_->execute(
        [this](connection&, asio::cancellation_slot, target_pool::attempt_done done) {
          ++ran_;
          done({});
        },
        true, clock::now() + millis(5000), [&out](std::error_code ec, std::string) { out = ec; },
        caller);
  }

  void release() {
    pool_->release(lease_, false, [](std::error_code) {});
  }

  std::shared_ptr<target_pool> pool_;
  std::string lease_;
  int ran_ = 0;
};

TEST_F(gone_caller, its_waiting_operations_end_unrun_and_the_others_keep_their_turn) {
  auto gone = std::make_shared<caller_gone>(), staying = std::make_shared<caller_gone>();
  std::optional<std::error_code> a, b, c, d;
  queue(gone, a);
  queue(staying, b);
  queue(gone, c);
  queue(nullptr, d);
  io_.poll();
  io_.restart();
  EXPECT_EQ(stats_of(*pool_).pool.waiters, 4u);
  gone->set();
  run_until([&] { return a.has_value() && c.has_value(); });
  EXPECT_EQ(*a, make_error_code(errc::caller_gone));
  EXPECT_EQ(*c, make_error_code(errc::caller_gone));
  auto s = stats_of(*pool_);
  EXPECT_EQ(s.pool.waiters, 2u);
  EXPECT_EQ(s.cancelled, 2u);
  EXPECT_FALSE(b.has_value());
  release();
  run_until([&] { return b.has_value() && d.has_value(); });
  EXPECT_FALSE(*b);
  EXPECT_FALSE(*d);
  EXPECT_EQ(ran_, 2);
  // Later operations of the gone caller end at once.
  std::optional<std::error_code> late;
  queue(gone, late);
  run_until([&] { return late.has_value(); });
  EXPECT_EQ(*late, make_error_code(errc::caller_gone));
  EXPECT_EQ(ran_, 2);
  pool_->stop();
}

TEST_F(gone_caller, one_granted_before_the_pool_heard_gives_the_connection_back) {
  auto gone = std::make_shared<caller_gone>();
  std::optional<std::error_code> a, b;
  queue(gone, a);
  queue(nullptr, b);
  io_.poll();
  io_.restart();
  // The release's handler runs before the one set() posts: the connection
  // is granted to the gone caller's operation first.
  release();
  gone->set();
  run_until([&] { return a.has_value() && b.has_value(); });
  EXPECT_EQ(*a, make_error_code(errc::caller_gone));
  EXPECT_FALSE(*b);
  EXPECT_EQ(ran_, 1);
  EXPECT_EQ(stats_of(*pool_).pool.leased, 0u);
  pool_->stop();
}

TEST_F(gone_caller, a_freed_connection_passes_over_every_gone_waiter_to_the_live_one) {
  auto gone = std::make_shared<caller_gone>();
  std::vector<std::optional<std::error_code>> dropped(300);
  std::optional<std::error_code> live;
  for (auto& d : dropped) queue(gone, d);
  queue(nullptr, live);
  io_.poll();
  io_.restart();
  release();  // before the pool hears: each gone waiter is granted in turn
  gone->set();
  run_until([&] { return live.has_value(); });
  EXPECT_FALSE(*live);
  EXPECT_EQ(ran_, 1);
  for (const auto& d : dropped) EXPECT_EQ(d, make_error_code(errc::caller_gone));
  const auto s = stats_of(*pool_);
  EXPECT_EQ(s.cancelled, 300u);
  EXPECT_EQ(s.pool.waiters, 0u);
  EXPECT_EQ(s.pool.in_flight, 0u);
  pool_->stop();
}

TEST_F(target_pool_test, a_gone_callers_operation_is_not_retried) {
  auto pool = make();
  auto gone = std::make_shared<caller_gone>();
  int attempts = 0;
  std::optional<std::error_code> result;
  pool->execute(
      [&](connection&, asio::cancellation_slot, target_pool::attempt_done done) {
        ++attempts;
        gone->set();  // the client goes while the first attempt fails
        done({reset, failure_kind::connection, false});
      },
      true, clock::now() + millis(2000), [&](std::error_code ec, std::string) { result = ec; },
      gone);
  run_until([&] { return result.has_value(); });
  EXPECT_EQ(*result, make_error_code(errc::caller_gone));
  EXPECT_EQ(attempts, 1);
  EXPECT_EQ(stats_of(*pool).retries, 0u);
  pool->stop();
}

}  // namespace
}  // namespace brokerside::pool
