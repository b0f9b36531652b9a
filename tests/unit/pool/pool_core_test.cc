// The pool state machine over no connections at all: the test plays the
// driver, performing (or failing) the actions the pool asks for, and moves
// time by hand.
#include "pool/pool_core.h"

#include <gtest/gtest.h>

#include "pool/errc.h"

namespace brokerside::pool {
namespace {

const url_scheme schemes[] = {{"redis", "redis"}};

using kind = pool_action::kind;

const time_point t0 = time_point{} + std::chrono::hours(1);
const std::error_code refused = std::make_error_code(std::errc::connection_refused);

class pool_test : public ::testing::Test {
 protected:
  void make(std::uint32_t cap = 1, std::function<void(target_config&)> adjust = {}) {
    std::string error;
    target_.name = std::string("t");  // GCC 12 -O3: a false -Wrestrict on = "t"
    target_.urls = {*parse_broker_url("redis://a:1", schemes, error),
                    *parse_broker_url("redis://b:1", schemes, error),
                    *parse_broker_url("redis://c:1", schemes, error)};
    target_.pool.max_connections = 2;
    target_.pool.min_idle = 0;
    target_.pool.max_pending = 10;
    target_.pool.acquire_timeout = millis(1000);
    target_.pool.idle_timeout = millis(0);
    target_.pool.max_lifetime = millis(0);
    target_.pool.health_check_interval = millis(0);
    target_.breaker.failure_threshold = 3;
    target_.breaker.open_timeout = millis(5000);
    target_.retry.jitter = 0;
    if (adjust) adjust(target_);
    pool_ = std::make_unique<pool_core>(target_, cap, [] { return 0.5; });
  }

  std::vector<pool_action> take() {
    pool_->take_actions(taken_);
    return taken_;
  }

  // The actions of one kind, from a list.
  static std::vector<pool_action> only(const std::vector<pool_action>& all, kind k) {
    std::vector<pool_action> out;
    for (const auto& a : all) {
      if (a.what == k) out.push_back(a);
    }
    return out;
  }

  // Acquire, expecting an immediate grant; returns the node.
  std::uint64_t granted(std::uint64_t waiter, grant_kind k = grant_kind::shared) {
    pool_->acquire(waiter, k, now_ + millis(10'000), now_);
    const auto actions = take();
    const auto grants = only(actions, kind::grant);
    EXPECT_EQ(grants.size(), 1u) << "waiter " << waiter;
    return grants.empty() ? 0 : grants[0].node;
  }

  // Completes every connect in `actions` successfully; returns the actions
  // that produced.
  std::vector<pool_action> connect_all(const std::vector<pool_action>& actions) {
    for (const auto& a : only(actions, kind::connect)) pool_->connected(a.node, {}, now_);
    return take();
  }

  target_config target_;
  std::unique_ptr<pool_core> pool_;
  std::vector<pool_action> taken_;  // take()'s storage, reused as target_pool reuses it
  time_point now_ = t0;
};

TEST_F(pool_test, preloads_min_idle) {
  make(1, [](target_config& t) { t.pool.min_idle = 2; });
  pool_->start(now_);
  const auto actions = take();
  ASSERT_EQ(only(actions, kind::connect).size(), 2u);
  EXPECT_EQ(actions[0].url, 0u);
  connect_all(actions);
  EXPECT_EQ(pool_->snapshot().idle, 2u);
  EXPECT_EQ(pool_->snapshot().counters.connects, 2u);
}

TEST_F(pool_test, opens_lazily_and_reuses) {
  make();
  pool_->start(now_);
  EXPECT_TRUE(take().empty());
  pool_->acquire(1, grant_kind::shared, now_ + millis(5000), now_);
  auto actions = take();
  ASSERT_EQ(only(actions, kind::connect).size(), 1u);
  actions = connect_all(actions);
  ASSERT_EQ(only(actions, kind::grant).size(), 1u);
  const auto node = actions[0].node;
  pool_->done(node, false, now_);
  EXPECT_EQ(granted(2), node);
  pool_->done(node, false, now_);
  EXPECT_EQ(pool_->snapshot().counters.connects, 1u);
}

TEST_F(pool_test, exhaustion_then_fifo_waiters) {
  make();
  pool_->acquire(1, grant_kind::shared, now_ + millis(5000), now_);
  pool_->acquire(2, grant_kind::shared, now_ + millis(5000), now_);
  auto actions = connect_all(take());
  ASSERT_EQ(only(actions, kind::grant).size(), 2u);
  const auto first = actions[0].node;
  // max_connections reached: these wait, in order.
  pool_->acquire(3, grant_kind::shared, now_ + millis(5000), now_);
  pool_->acquire(4, grant_kind::shared, now_ + millis(5000), now_);
  EXPECT_TRUE(take().empty());
  EXPECT_EQ(pool_->snapshot().waiters, 2u);
  pool_->done(first, false, now_);
  actions = take();
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].what, kind::grant);
  EXPECT_EQ(actions[0].waiter, 3u);
  EXPECT_EQ(actions[0].node, first);
}

TEST_F(pool_test, waiter_timeouts) {
  make(1, [](target_config& t) { t.pool.max_connections = 1; });
  pool_->acquire(1, grant_kind::shared, now_ + millis(5000), now_);
  connect_all(take());
  pool_->acquire(2, grant_kind::shared, now_ + millis(300), now_);    // caller's deadline first
  pool_->acquire(3, grant_kind::shared, now_ + millis(60000), now_);  // acquire_timeout first
  EXPECT_EQ(pool_->next_wakeup(), now_ + millis(300));
  pool_->tick(now_ + millis(300));
  auto actions = take();
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].waiter, 2u);
  EXPECT_EQ(actions[0].error, make_error_code(errc::deadline_exceeded));
  pool_->tick(now_ + millis(1000));
  actions = take();
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].waiter, 3u);
  EXPECT_EQ(actions[0].error, make_error_code(errc::pool_exhausted));
  EXPECT_EQ(pool_->snapshot().counters.waiter_timeouts, 2u);
}

TEST_F(pool_test, max_pending_refuses_at_once) {
  make(1, [](target_config& t) {
    t.pool.max_connections = 1;
    t.pool.max_pending = 1;
  });
  pool_->acquire(1, grant_kind::shared, now_ + millis(5000), now_);
  connect_all(take());
  pool_->acquire(2, grant_kind::shared, now_ + millis(5000), now_);
  EXPECT_TRUE(take().empty());
  pool_->acquire(3, grant_kind::shared, now_ + millis(5000), now_);
  const auto actions = take();
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].waiter, 3u);
  EXPECT_EQ(actions[0].error, make_error_code(errc::pool_exhausted));
  EXPECT_EQ(pool_->snapshot().counters.pool_exhausted, 1u);
  EXPECT_EQ(pool_->snapshot().waiters, 1u);
}

TEST_F(pool_test, waiters_whose_callers_went_away_leave_the_queue_and_their_places) {
  make(1, [](target_config& t) {
    t.pool.max_connections = 1;
    t.pool.max_pending = 3;
  });
  pool_->acquire(1, grant_kind::shared, now_ + millis(5000), now_);
  const auto first = only(connect_all(take()), kind::grant);
  ASSERT_EQ(first.size(), 1u);
  for (std::uint64_t w : {2, 3, 4})
    pool_->acquire(w, grant_kind::shared, now_ + millis(5000), now_);
  EXPECT_TRUE(take().empty());
  pool_->cancel({2, 4});
  EXPECT_TRUE(take().empty());  // nothing to do: they are forgotten
  EXPECT_EQ(pool_->snapshot().waiters, 1u);
  // Their places are free again: not refused.
  pool_->acquire(5, grant_kind::shared, now_ + millis(5000), now_);
  EXPECT_TRUE(take().empty());
  // The connection goes to the oldest left, never to a cancelled one.
  pool_->done(first[0].node, false, now_);
  const auto grants = only(take(), kind::grant);
  ASSERT_EQ(grants.size(), 1u);
  EXPECT_EQ(grants[0].waiter, 3u);
  EXPECT_EQ(pool_->snapshot().counters.pool_exhausted, 0u);
}

TEST_F(pool_test, multiplexing_fills_a_connection_to_its_cap_before_opening_another) {
  make(3);
  pool_->acquire(1, grant_kind::shared, now_ + millis(5000), now_);
  auto actions = connect_all(take());
  const auto node = actions[0].node;
  EXPECT_EQ(granted(2), node);
  EXPECT_EQ(granted(3), node);
  EXPECT_EQ(pool_->snapshot().in_flight, 3u);
  pool_->acquire(4, grant_kind::shared, now_ + millis(5000), now_);
  actions = take();
  ASSERT_EQ(only(actions, kind::connect).size(), 1u);
  actions = connect_all(actions);
  ASSERT_EQ(only(actions, kind::grant).size(), 1u);
  EXPECT_NE(actions[0].node, node);
}

TEST_F(pool_test, once_the_peak_is_over_the_oldest_connection_takes_the_work_again) {
  make(2);
  pool_->acquire(1, grant_kind::shared, now_ + millis(5000), now_);
  const auto first = connect_all(take())[0].node;
  EXPECT_EQ(granted(2), first);
  pool_->acquire(3, grant_kind::shared, now_ + millis(5000), now_);  // the peak: a second one
  const auto second = connect_all(take())[0].node;
  ASSERT_NE(second, first);
  // All answered: new work fills the first again before the idle second
  // (spreading would thin every later batch over both, and keep the second
  // from ever idling out).
  pool_->done(first, false, now_);
  pool_->done(first, false, now_);
  pool_->done(second, false, now_);
  EXPECT_EQ(granted(4), first);
  EXPECT_EQ(granted(5), first);
  EXPECT_EQ(granted(6), second);  // the first is full again
}

TEST_F(pool_test, a_write_paused_connection_gets_no_new_work_until_it_drains) {
  make(8, [](target_config& t) { t.pool.max_connections = 1; });
  pool_->acquire(1, grant_kind::shared, now_ + millis(5000), now_);
  const auto node = connect_all(take())[0].node;
  pool_->write_paused(node, true, now_);
  EXPECT_EQ(pool_->snapshot().counters.write_pauses, 1u);
  // Room for 7 more operations, but its output is backed up: the caller waits.
  pool_->acquire(2, grant_kind::shared, now_ + millis(5000), now_);
  EXPECT_TRUE(only(take(), kind::grant).empty());
  EXPECT_EQ(pool_->snapshot().waiters, 1u);
  // Repeated news changes nothing; draining below the low mark serves it.
  pool_->write_paused(node, true, now_);
  EXPECT_EQ(pool_->snapshot().counters.write_pauses, 1u);
  pool_->write_paused(node, false, now_);
  const auto grants = only(take(), kind::grant);
  ASSERT_EQ(grants.size(), 1u);
  EXPECT_EQ(grants[0].waiter, 2u);
  EXPECT_EQ(grants[0].node, node);
}

TEST_F(pool_test, waiters_behind_a_paused_connection_get_another_if_there_is_room) {
  make(8);
  pool_->acquire(1, grant_kind::shared, now_ + millis(5000), now_);
  const auto first = connect_all(take())[0].node;
  pool_->write_paused(first, true, now_);
  pool_->acquire(2, grant_kind::shared, now_ + millis(5000), now_);
  const auto actions = connect_all(take());
  const auto grants = only(actions, kind::grant);
  ASSERT_EQ(grants.size(), 1u);
  EXPECT_NE(grants[0].node, first);
}

TEST_F(pool_test, a_connection_that_opens_paused_takes_no_work_until_it_resumes) {
  make(8, [](target_config& t) { t.pool.max_connections = 1; });
  pool_->acquire(1, grant_kind::shared, now_ + millis(5000), now_);
  const auto connects = only(take(), kind::connect);
  ASSERT_EQ(connects.size(), 1u);
  // Blocked as it opened (the pool learns it before connected()).
  pool_->write_paused(connects[0].node, true, now_);
  pool_->connected(connects[0].node, {}, now_);
  EXPECT_TRUE(only(take(), kind::grant).empty());
  pool_->write_paused(connects[0].node, false, now_);
  const auto grants = only(take(), kind::grant);
  ASSERT_EQ(grants.size(), 1u);
  EXPECT_EQ(grants[0].waiter, 1u);
}

TEST_F(pool_test, exclusive_waits_for_a_free_connection) {
  make(4, [](target_config& t) { t.pool.max_connections = 1; });
  pool_->acquire(1, grant_kind::shared, now_ + millis(5000), now_);
  const auto node = connect_all(take())[0].node;
  pool_->acquire(2, grant_kind::exclusive, now_ + millis(5000), now_);
  EXPECT_TRUE(take().empty());
  pool_->done(node, false, now_);
  const auto actions = take();
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].waiter, 2u);
  EXPECT_EQ(pool_->snapshot().leased, 1u);
  // A leased connection carries nothing else.
  pool_->acquire(3, grant_kind::shared, now_ + millis(5000), now_);
  EXPECT_TRUE(take().empty());
}

TEST_F(pool_test, broken_connections_are_discarded_never_handed_out) {
  make();
  const auto node = [&] {
    pool_->acquire(1, grant_kind::shared, now_ + millis(5000), now_);
    return connect_all(take())[0].node;
  }();
  pool_->done(node, true, now_);
  const auto actions = take();
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].what, kind::close);
  EXPECT_EQ(actions[0].node, node);
  pool_->acquire(2, grant_kind::shared, now_ + millis(5000), now_);
  EXPECT_EQ(only(take(), kind::connect).size(), 1u);  // a new one, not the broken one
  EXPECT_EQ(pool_->snapshot().counters.disconnects, 1u);
}

TEST_F(pool_test, lost_connection_is_replaced_for_min_idle) {
  make(1, [](target_config& t) { t.pool.min_idle = 1; });
  pool_->start(now_);
  const auto node = only(take(), kind::connect)[0].node;
  pool_->connected(node, {}, now_);
  pool_->lost(node, now_);
  const auto actions = take();
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions[0].what, kind::close);
  EXPECT_EQ(actions[1].what, kind::connect);
}

TEST_F(pool_test, idle_and_lifetime_expiry) {
  make(1, [](target_config& t) {
    t.pool.min_idle = 1;
    t.pool.idle_timeout = millis(1000);
    t.pool.max_lifetime = millis(10'000);
    t.pool.lifetime_jitter = 0.2;
  });
  pool_->start(now_);
  const auto keep = only(take(), kind::connect)[0].node;
  pool_->connected(keep, {}, now_);
  // A second connection above min_idle, idle from t0.
  pool_->acquire(1, grant_kind::shared, now_ + millis(5000), now_);
  EXPECT_EQ(only(take(), kind::grant)[0].node, keep);
  pool_->acquire(2, grant_kind::shared, now_ + millis(5000), now_);
  const auto extra = connect_all(take())[0].node;
  pool_->done(extra, false, now_);
  pool_->done(keep, false, now_ + millis(500));
  pool_->tick(now_ + millis(1000));
  auto actions = take();
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].what, kind::close);
  EXPECT_EQ(actions[0].node, extra);
  // min_idle's connection stays idle forever, but not past its lifetime
  // (10 s x (1 + 0.2 x (2 x 0.5 - 1)) = 10 s with this draw): it is replaced.
  pool_->tick(now_ + millis(9'999));
  EXPECT_TRUE(take().empty());
  pool_->tick(now_ + millis(10'000));
  actions = take();
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions[0].what, kind::close);
  EXPECT_EQ(actions[0].node, keep);
  EXPECT_EQ(actions[1].what, kind::connect);
}

TEST_F(pool_test, lifetime_jitter_spreads_expiry) {
  double draw = 0.0;
  make(1, [](target_config& t) {
    t.pool.max_lifetime = millis(10'000);
    t.pool.lifetime_jitter = 0.1;
    t.pool.max_connections = 3;
  });
  pool_ = std::make_unique<pool_core>(target_, 1, [&] { return draw; });
  pool_->acquire(1, grant_kind::shared, now_ + millis(5000), now_);
  pool_->acquire(2, grant_kind::shared, now_ + millis(5000), now_);
  std::vector<std::uint64_t> nodes;
  for (const auto& a : only(take(), kind::connect)) nodes.push_back(a.node);
  ASSERT_EQ(nodes.size(), 2u);
  draw = 0.0;  // the lifetime draw is made when the connection opens
  pool_->connected(nodes[0], {}, now_);
  draw = 0.999;
  pool_->connected(nodes[1], {}, now_);
  (void)take();
  for (const auto n : nodes) pool_->done(n, false, now_);
  pool_->tick(now_ + millis(9'000));  // 10 s x 0.9: the first expires
  auto closes = only(take(), kind::close);
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].node, nodes[0]);
  pool_->tick(now_ + millis(10'999));
  closes = only(take(), kind::close);
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].node, nodes[1]);
}

TEST_F(pool_test, busy_connection_past_its_lifetime_retires_when_free) {
  make(2, [](target_config& t) { t.pool.max_lifetime = millis(1000); });
  pool_->acquire(1, grant_kind::shared, now_ + millis(50'000), now_);
  const auto node = connect_all(take())[0].node;
  pool_->tick(now_ + millis(1000));
  EXPECT_TRUE(take().empty());
  // Retiring: a new operation goes to a new connection.
  pool_->acquire(2, grant_kind::shared, now_ + millis(50'000), now_ + millis(1000));
  EXPECT_EQ(only(take(), kind::connect).size(), 1u);
  pool_->done(node, false, now_ + millis(1001));
  const auto closes = only(take(), kind::close);
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].node, node);
}

TEST_F(pool_test, health_check_of_idle_connections) {
  make(1, [](target_config& t) {
    t.pool.min_idle = 1;
    t.pool.health_check_interval = millis(1000);
  });
  pool_->start(now_);
  const auto node = only(take(), kind::connect)[0].node;
  pool_->connected(node, {}, now_);
  EXPECT_EQ(pool_->next_wakeup(), now_ + millis(1000));
  pool_->tick(now_ + millis(1000));
  auto actions = take();
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].what, kind::health_check);
  EXPECT_EQ(pool_->snapshot().checking, 1u);
  pool_->health_checked(node, true, now_ + millis(1001));
  EXPECT_EQ(pool_->snapshot().idle, 1u);
  pool_->tick(now_ + millis(2001));
  (void)take();
  pool_->health_checked(node, false, now_ + millis(2002));
  actions = take();
  ASSERT_EQ(actions.size(), 2u);  // discarded and replaced
  EXPECT_EQ(actions[0].what, kind::close);
  EXPECT_EQ(actions[1].what, kind::connect);
}

TEST_F(pool_test, a_connection_silent_past_an_abandoned_deadline_is_closed_after_the_interval) {
  make(4, [](target_config& t) { t.pool.health_check_interval = millis(1000); });
  pool_->acquire(1, grant_kind::shared, now_ + millis(100), now_);
  const auto node = only(connect_all(take()), kind::grant)[0].node;
  EXPECT_EQ(granted(2), node);
  // The first operation's deadline passes without a reply; the second is
  // still in flight, so the connection stays busy (no health check).
  pool_->abandoned(node, now_ + millis(100));
  EXPECT_EQ(pool_->snapshot().busy, 1u);
  EXPECT_EQ(pool_->next_wakeup(), now_ + millis(1100));
  pool_->tick(now_ + millis(1099));
  EXPECT_TRUE(only(take(), kind::close).empty());
  pool_->tick(now_ + millis(1100));
  const auto closes = only(take(), kind::close);
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].node, node);
  EXPECT_EQ(pool_->snapshot().counters.stalled, 1u);
}

TEST_F(pool_test, a_connection_heard_from_after_an_abandoned_deadline_is_kept) {
  make(4, [](target_config& t) { t.pool.health_check_interval = millis(1000); });
  pool_->acquire(1, grant_kind::shared, now_ + millis(100), now_);
  const auto node = only(connect_all(take()), kind::grant)[0].node;
  EXPECT_EQ(granted(2), node);
  pool_->abandoned(node, now_ + millis(100));
  pool_->answered(node);  // a late reply, or the other operation's
  pool_->tick(now_ + millis(1100));
  EXPECT_TRUE(only(take(), kind::close).empty());
  EXPECT_EQ(pool_->snapshot().busy, 1u);
  EXPECT_EQ(pool_->snapshot().counters.stalled, 0u);
}

TEST_F(pool_test, a_connection_owing_an_answer_gets_no_lease) {
  make(4, [](target_config& t) { t.pool.health_check_interval = millis(1000); });
  pool_->acquire(1, grant_kind::shared, now_ + millis(100), now_);
  const auto node = only(connect_all(take()), kind::grant)[0].node;
  pool_->abandoned(node, now_ + millis(100));
  EXPECT_EQ(pool_->snapshot().idle, 1u);
  pool_->acquire(2, grant_kind::exclusive, now_ + millis(5000), now_ + millis(200));
  const auto actions = take();
  ASSERT_EQ(actions.size(), 1u);  // a new connection, not the idle one
  EXPECT_EQ(actions[0].what, kind::connect);
  // Shared operations still go to it.
  EXPECT_EQ(granted(3), node);
}

TEST_F(pool_test, a_health_check_unanswered_for_the_interval_closes_the_connection) {
  make(1, [](target_config& t) {
    t.pool.min_idle = 1;
    t.pool.health_check_interval = millis(1000);
  });
  pool_->start(now_);
  const auto node = only(take(), kind::connect)[0].node;
  pool_->connected(node, {}, now_);
  pool_->tick(now_ + millis(1000));
  EXPECT_EQ(only(take(), kind::health_check).size(), 1u);
  EXPECT_EQ(pool_->next_wakeup(), now_ + millis(2000));
  pool_->tick(now_ + millis(1999));
  EXPECT_TRUE(take().empty());
  pool_->tick(now_ + millis(2000));
  const auto actions = take();
  ASSERT_EQ(actions.size(), 2u);  // taken for dead, and replaced
  EXPECT_EQ(actions[0].what, kind::close);
  EXPECT_EQ(actions[0].node, node);
  EXPECT_EQ(actions[1].what, kind::connect);
  EXPECT_EQ(pool_->snapshot().counters.stalled, 1u);
}

TEST_F(pool_test, failover_moves_to_the_next_url_and_failed_ones_go_last) {
  make();
  pool_->acquire(1, grant_kind::shared, now_ + millis(5000), now_);
  auto connect = only(take(), kind::connect)[0];
  EXPECT_EQ(connect.url, 0u);
  pool_->connected(connect.node, refused, now_);
  auto actions = take();
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].what, kind::fail);
  EXPECT_TRUE(actions[0].connection_error);
  EXPECT_EQ(actions[0].error, make_error_code(errc::unavailable));
  pool_->acquire(2, grant_kind::shared, now_ + millis(5000), now_);
  connect = only(take(), kind::connect)[0];
  EXPECT_EQ(connect.url, 1u);
  pool_->connected(connect.node, refused, now_);
  (void)take();
  EXPECT_EQ(pool_->url_order(), (std::vector<std::size_t>{2, 0, 1}));
}

TEST_F(pool_test, a_refused_login_fails_every_waiter_at_once_without_a_retry) {
  make();
  pool_->acquire(1, grant_kind::shared, now_ + millis(5000), now_);
  pool_->acquire(2, grant_kind::shared, now_ + millis(5000), now_);
  const auto connects = only(take(), kind::connect);
  ASSERT_EQ(connects.size(), 2u);
  // The other connect is still under way: waiting for it would only hear
  // the same refusal later.
  pool_->connected(connects[0].node, make_error_code(errc::access_refused), now_);
  const auto fails = only(take(), kind::fail);
  ASSERT_EQ(fails.size(), 2u);
  for (const auto& f : fails) {
    EXPECT_EQ(f.error, make_error_code(errc::access_refused));
    EXPECT_FALSE(f.connection_error);  // not a reason to reconnect and try again
  }
  EXPECT_EQ(pool_->counters().connect_failures, 1u);
}

TEST_F(pool_test, a_retired_connection_takes_no_work_and_its_replacement_goes_elsewhere) {
  make(2, [](target_config& t) { t.pool.min_idle = 1; });
  pool_->start(now_);
  const auto idle = only(take(), kind::connect)[0];
  EXPECT_EQ(idle.url, 0u);
  connect_all({idle});
  // The broker says it is going (lame duck): the idle connection closes and
  // min_idle is refilled from the next URL.
  pool_->retire(idle.node, now_);
  auto actions = take();
  ASSERT_EQ(only(actions, kind::close).size(), 1u);
  ASSERT_EQ(only(actions, kind::connect).size(), 1u);
  EXPECT_EQ(only(actions, kind::connect)[0].url, 1u);
  const auto busy = only(actions, kind::connect)[0].node;
  connect_all(actions);
  // A busy one finishes what it runs; new work goes to a new connection.
  EXPECT_EQ(granted(1), busy);
  pool_->retire(busy, now_);
  actions = take();
  EXPECT_TRUE(only(actions, kind::close).empty());
  pool_->acquire(2, grant_kind::shared, now_ + millis(5000), now_);
  actions = take();
  ASSERT_EQ(only(actions, kind::connect).size(), 1u);
  EXPECT_EQ(only(actions, kind::connect)[0].url, 2u);
  pool_->done(busy, false, now_);
  ASSERT_EQ(only(take(), kind::close).size(), 1u);
}

TEST_F(pool_test, a_url_learned_from_the_broker_is_tried_after_the_known_ones) {
  make();
  pool_->add_url(3);
  EXPECT_EQ(pool_->url_order(), (std::vector<std::size_t>{0, 1, 2, 3}));
}

TEST_F(pool_test, breaker_opens_fails_fast_half_opens_and_closes) {
  make();
  for (std::uint64_t w = 1; w <= 3; ++w) {
    pool_->acquire(w, grant_kind::shared, now_ + millis(50'000), now_);
    pool_->connected(only(take(), kind::connect)[0].node, refused, now_);
    const auto fails = only(take(), kind::fail);
    ASSERT_EQ(fails.size(), 1u);
    EXPECT_EQ(fails[0].error, make_error_code(w < 3 ? errc::unavailable : errc::circuit_open));
  }
  EXPECT_EQ(pool_->breaker(), breaker_state::open);
  // Open: fail fast, no connect attempted.
  pool_->acquire(4, grant_kind::shared, now_ + millis(50'000), now_ + millis(100));
  auto actions = take();
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].error, make_error_code(errc::circuit_open));
  EXPECT_FALSE(actions[0].connection_error);
  // After open_timeout one probe goes out; others wait for it.
  now_ += millis(5000);
  pool_->acquire(5, grant_kind::shared, now_ + millis(50'000), now_);
  pool_->acquire(6, grant_kind::shared, now_ + millis(50'000), now_);
  actions = take();
  ASSERT_EQ(only(actions, kind::connect).size(), 1u);
  EXPECT_EQ(pool_->breaker(), breaker_state::half_open);
  actions = connect_all(actions);
  EXPECT_EQ(pool_->breaker(), breaker_state::closed);
  EXPECT_EQ(only(actions, kind::grant).size(), 1u);    // 5 on the probe ...
  EXPECT_EQ(only(actions, kind::connect).size(), 1u);  // ... 6 on a new one
}

TEST_F(pool_test, min_idle_refill_backs_off_after_failures) {
  make(1, [](target_config& t) {
    t.pool.min_idle = 1;
    t.retry.initial_interval = millis(100);
    t.retry.multiplier = 2;
    t.breaker.failure_threshold = 0;
  });
  pool_->start(now_);
  pool_->connected(only(take(), kind::connect)[0].node, refused, now_);
  EXPECT_TRUE(only(take(), kind::connect).empty());
  EXPECT_EQ(pool_->next_wakeup(), now_ + millis(100));
  pool_->tick(now_ + millis(100));
  pool_->connected(only(take(), kind::connect)[0].node, refused, now_ + millis(100));
  (void)take();
  EXPECT_EQ(pool_->next_wakeup(), now_ + millis(300));
}

TEST_F(pool_test, cancelled_waiter_is_forgotten) {
  make(1, [](target_config& t) { t.pool.max_connections = 1; });
  pool_->acquire(1, grant_kind::shared, now_ + millis(5000), now_);
  const auto node = connect_all(take())[0].node;
  pool_->acquire(2, grant_kind::shared, now_ + millis(5000), now_);
  pool_->cancel({2});
  pool_->done(node, false, now_);
  EXPECT_TRUE(take().empty());
  EXPECT_EQ(pool_->snapshot().waiters, 0u);
}

TEST_F(pool_test, counts_return_to_baseline_after_a_busy_run) {
  make(2, [](target_config& t) { t.pool.max_connections = 3; });
  std::vector<std::pair<std::uint64_t, std::uint64_t>> held;  // waiter, node
  std::uint64_t waiter = 1;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 5; ++i) {
      pool_->acquire(waiter++, i == 4 ? grant_kind::exclusive : grant_kind::shared,
                     now_ + millis(5000), now_);
    }
    for (bool progress = true; progress;) {
      progress = false;
      for (const auto& a : take()) {
        if (a.what == kind::connect) {
          pool_->connected(a.node, round % 7 == 3 ? refused : std::error_code{}, now_);
          progress = true;
        } else if (a.what == kind::grant) {
          held.emplace_back(a.waiter, a.node);
        }
      }
    }
    // Release half, one of them broken.
    for (std::size_t i = 0; i < held.size() / 2; ++i) {
      pool_->done(held[i].second, i == 0, now_);
    }
    held.erase(held.begin(), held.begin() + static_cast<std::ptrdiff_t>(held.size() / 2));
    now_ += millis(10);
    pool_->tick(now_);
  }
  // Drain everything still held and every waiter.
  while (!held.empty() || pool_->snapshot().waiters > 0) {
    for (const auto& [w, n] : held) pool_->done(n, false, now_);
    held.clear();
    for (const auto& a : take()) {
      if (a.what == kind::connect) pool_->connected(a.node, {}, now_);
      if (a.what == kind::grant) held.emplace_back(a.waiter, a.node);
    }
    for (const auto& a : take()) {
      if (a.what == kind::grant) held.emplace_back(a.waiter, a.node);
    }
  }
  const auto s = pool_->snapshot();
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.busy, 0u);
  EXPECT_EQ(s.leased, 0u);
  EXPECT_EQ(s.waiters, 0u);
  EXPECT_LE(s.idle, 3u);
  EXPECT_EQ(s.counters.connects - s.counters.disconnects, s.idle);
}

}  // namespace
}  // namespace brokerside::pool
