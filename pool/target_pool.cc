#include "pool/target_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <charconv>
#include <utility>

#include "pool/errc.h"
#include "protocol/dispatch_turn.h"

namespace brokerside::pool {

namespace asio = boost::asio;

// One execute() call across its attempts.
struct target_pool::operation {
  attempt_fn attempt;
  outcome_fn done;
  ensure_op ensure;
  time_point deadline;
  std::optional<pool::timer> backoff;   // between attempts; made by the first retry
  std::string detail;                   // the last attempt's words
  bool idempotent;                      // for a redirection, which starts it over elsewhere
  std::shared_ptr<caller_gone> caller;  // set: drop it unless it runs

  // Its caller has gone (caller_gone::set).
  bool orphaned() const { return caller && caller->gone(); }
};

// One attempt on one connection until it is settled; queued in deadlines_
// at the caller's deadline until then.
struct target_pool::attempt_run : deadline_entry {
  asio::cancellation_signal cancel;  // fired at the deadline
  bool over = false;                 // settled: by the outcome or the deadline
  time_point started;                // handed to the connection
  // Whose attempt: an operation of execute() on pooled `node` (settle()
  // goes on with it), or anyone else's, told by `settled`.
  std::shared_ptr<operation> op;
  std::uint64_t node = 0;
  settle_fn settled;
};

std::shared_ptr<target_pool> target_pool::create(asio::any_io_executor executor,
                                                 target_config target,
                                                 std::shared_ptr<connection_factory> factory) {
  return std::shared_ptr<target_pool>(
      new target_pool(std::move(executor), std::move(target), std::move(factory)));
}

target_pool::target_pool(asio::any_io_executor executor, target_config target,
                         std::shared_ptr<connection_factory> factory)
    : strand_(protocol::make_io_strand(executor)),
      target_(std::move(target)),
      factory_(std::move(factory)),
      rng_(std::random_device{}()),
      core_(target_, std::min(factory_->per_connection_cap(), target_.pool.max_in_flight),
            [this] { return draw(); }),
      budget_(target_.retry),
      timer_(strand_) {}

double target_pool::draw() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

std::string target_pool::new_lease_id() {
  // 128 bits from a CSPRNG-seeded generator would still be guessable from
  // outputs; lease ids come from std::random_device directly.
  std::random_device device;
  static constexpr char hex[] = "0123456789abcdef";
  std::string id = "l-";
  for (int i = 0; i < 8; ++i) {
    auto word = device();
    for (int j = 0; j < 4; ++j, word >>= 4) id.push_back(hex[word & 0xf]);
  }
  return id;
}

void target_pool::start(std::function<void(bool)> health) {
  asio::dispatch(strand_, [self = shared_from_this(), health = std::move(health)]() mutable {
    self->health_ = std::move(health);
    self->core_.start(clock::now());
    self->apply();
  });
}

void target_pool::stop(std::function<void()> done) {
  asio::dispatch(strand_, [self = shared_from_this(), done = std::move(done)] {
    self->stopped_ = true;
    self->timer_.cancel();
    auto waiting = std::exchange(self->waiting_, {});
    for (auto& [id, w] : waiting) self->grant(w, errc::shutting_down, false, 0);
    auto dedicated = std::exchange(self->dedicated_, {});
    for (auto& [node, lost] : dedicated) lost(errc::shutting_down);
    for (auto& [id, conn] : self->conns_) conn->close();
    self->conns_.clear();
    // Attempts still unanswered end now, not at their deadlines.
    for (auto& entry : self->deadlines_.take_all()) {
      self->cut_short(
          static_cast<attempt_run&>(*entry),
          attempt_result{errc::shutting_down, failure_kind::operation, false, {}, {}, false},
          clock::now());
    }
    if (done) done();
  });
}

void target_pool::execute(attempt_fn attempt, bool idempotent, time_point deadline, outcome_fn done,
                          std::shared_ptr<caller_gone> caller) {
  // (target_.retry is never changed: read here, off the strand.)
  auto op = std::make_shared<operation>(operation{std::move(attempt),
                                                  std::move(done),
                                                  ensure_op(target_.retry, idempotent, deadline),
                                                  deadline,
                                                  std::nullopt,
                                                  {},
                                                  idempotent,
                                                  std::move(caller)});
  if (strand_.running_in_this_thread()) return start(std::move(op), clock::now());
  // Operations that come while the strand has not yet taken the earlier
  // ones join them, and one handler starts them all in a dispatch turn:
  // their writes go out as one, their replies come back in one read, and a
  // SendStream answers them in one message. A client sending a batch gets
  // that by construction (the post waits for the end of the reactor's turn);
  // one sending an operation per message gets it whenever the strand's
  // thread lags behind — which is when it matters.
  bool schedule;
  {
    std::lock_guard lock(inbox_mutex_);
    inbox_.push_back(std::move(op));
    schedule = !std::exchange(inbox_scheduled_, true);
  }
  if (schedule) {
    protocol::dispatch_turn::post(strand_, [self = shared_from_this()] { self->drain_inbox(); });
  }
}

void target_pool::drain_inbox() {
  {
    std::lock_guard lock(inbox_mutex_);
    started_.swap(inbox_);
    inbox_scheduled_ = false;
  }
  protocol::dispatch_turn turn;
  const auto now = clock::now();
  for (auto& op : started_) start(std::move(op), now);
  started_.clear();
}

void target_pool::start(std::shared_ptr<operation> op, time_point now) {
  ++operations_;
  budget_.record_operation(now);
  const auto first = op->ensure.start(now);
  if (first.what == ensure_op::next::done) {
    ++operation_errors_;
    op->done(first.result, {});
    return;
  }
  attempt(std::move(op), now);
}

void target_pool::attempt(std::shared_ptr<operation> op, time_point now) {
  if (dropped(*op)) return;
  const auto waiter = next_waiter_++;
  const auto deadline = op->deadline;
  const bool cancellable = op->caller != nullptr;
  wait_for(waiter, grant_kind::shared, deadline, now, {std::move(op), now, {}});
  if (!cancellable) return;
  // Waiting: the caller, if it goes, must tell this pool (unless it has
  // gone meanwhile: then look after this turn).
  const auto it = waiting_.find(waiter);
  if (it != waiting_.end() && it->second.op->caller->watch(shared_from_this())) {
    drop_gone_waiters();
  }
}

bool target_pool::dropped(operation& op) {
  if (!op.orphaned()) return false;
  ++operation_errors_;
  ++cancelled_;
  op.done(errc::caller_gone, std::move(op.detail));
  return true;
}

void target_pool::drop_gone_waiters() {
  asio::post(strand_, [self = shared_from_this()] { self->drop_gone(); });
}

void target_pool::drop_gone() {
  std::vector<std::uint64_t> ids;  // sorted: waiting_'s order
  std::vector<std::shared_ptr<operation>> ops;
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    const auto& op = it->second.op;
    if (op && op->orphaned()) {
      ids.push_back(it->first);
      ops.push_back(std::move(it->second.op));
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
  if (ids.empty()) return;
  core_.cancel(ids);
  for (const auto& op : ops) dropped(*op);
}

void target_pool::granted(std::shared_ptr<operation> op, time_point asked, std::error_code ec,
                          bool connection_error, std::uint64_t node) {
  const auto now = clock::now();
  if (op->orphaned()) {
    // Gone while it waited, its pool not yet told: the connection goes
    // back unused. (A grant comes from perform(), inside apply(), whose loop
    // takes what this produces: applying here would nest a level per gone
    // waiter behind it.)
    if (!ec) core_.done(node, false, now);
    dropped(*op);
    return;
  }
  if (ec) {
    finish_attempt(
        op, {ec, connection_error ? failure_kind::connection : failure_kind::operation, false},
        now);
    return;
  }
  wait_latency_.record(now - asked);
  const auto& attempt = op->attempt;  // op outlives the attempt: run holds it
  const auto deadline = op->deadline;
  auto run = std::make_shared<attempt_run>();
  run->node = node;
  run->op = std::move(op);
  run_attempt(attempt, node, deadline, now, std::move(run));
}

void target_pool::grant(waiter_entry& w, std::error_code ec, bool connection_error,
                        std::uint64_t node) {
  if (w.op) return granted(std::move(w.op), w.asked, ec, connection_error, node);
  w.granted(ec, connection_error, node);
}

void target_pool::settle(attempt_run& run, std::optional<attempt_result> result, time_point now) {
  if (!run.op) {
    // Let go of what it holds once it has run: the run lives on while its
    // connection still owes the answer (a BLPOP on a lease), and may outlive
    // the caller's objects (at shutdown, with the io_context's queue).
    const auto settled = std::move(run.settled);
    return settled(std::move(result), now);
  }
  auto op = std::move(run.op);
  if (!result) {
    // The deadline first. A reply that still comes is dropped and the
    // connection kept (Envoy's cancelled pipelined request) — unless it
    // stays silent for health_check_interval (pool_core::abandoned).
    core_.abandoned(run.node, now);
    apply();
    ++operation_errors_;
    ++abandoned_;
    op->done(errc::deadline_exceeded, {});
    return;
  }
  const bool broken = result->error && result->kind == failure_kind::connection;
  core_.done(run.node, broken, now);
  apply();
  finish_attempt(std::move(op), std::move(*result), now);
}

void target_pool::run_attempt(const attempt_fn& attempt, std::uint64_t node, time_point deadline,
                              time_point now, std::shared_ptr<attempt_run> run) {
  run->started = now;
  run->deadline = deadline;
  deadlines_.push(run);
  if (!armed_ || deadline < *armed_) arm_timer();
  // post, not dispatch: an attempt that completes inline must not re-enter
  // apply() from inside perform().
  attempt(*conns_.at(node), run->cancel.slot(),
          [self = shared_from_this(), run, node](attempt_result result) mutable {
            auto& strand = self->strand_;  // before self moves into the handler
            protocol::dispatch_turn::post(strand, [self = std::move(self), run = std::move(run),
                                                   node, result = std::move(result)]() mutable {
              // An outcome, even one past its deadline, shows the connection alive.
              if (!result.error) self->core_.answered(node);
              self->answered_owed(node);
              if (run->over) {
                self->apply();
                return;
              }
              run->over = true;
              self->deadlines_.erase(*run);
              const auto now = clock::now();
              self->round_trip_latency_.record(now - run->started);
              self->settle(*run, std::move(result), now);
            });
          });
}

void target_pool::expire_attempts(time_point now) {
  while (auto due = deadlines_.pop_due(now)) {
    cut_short(static_cast<attempt_run&>(*due), std::nullopt, now);
  }
}

void target_pool::cut_short(attempt_run& run, std::optional<attempt_result> result,
                            time_point now) {
  run.over = true;
  // Cancel first, while the connection is surely still the attempt's;
  // then settle (which may close the connection or grant it to another).
  run.cancel.emit(asio::cancellation_type::terminal);
  settle(run, std::move(result), now);
}

void target_pool::answered_owed(std::uint64_t node) {
  auto it = owing_.find(node);
  if (it == owing_.end()) return;
  if (--it->second == 0) owing_.erase(it);
}

void target_pool::finish_attempt(std::shared_ptr<operation> op, attempt_result result,
                                 time_point now) {
  if ((result.error || !result.redirect.empty()) && op->orphaned()) {
    // No retry or redirection for nobody, nor retry budget spent on one.
    // (It ran: not counted as cancelled.)
    ++operation_errors_;
    op->done(errc::caller_gone, std::move(result.detail));
    return;
  }
  if (!result.redirect.empty() && redirector_) {
    // Another node's pool takes it from here, with what is left of the deadline.
    ++redirects_;
    redirector_(result, std::move(op->attempt), op->idempotent, op->deadline, std::move(op->done),
                std::move(op->caller));
    return;
  }
  op->detail = std::move(result.detail);
  const auto action = op->ensure.resume(now, result, budget_, draw());
  if (action.what == ensure_op::next::wait) {
    ++retries_;
    if (!op->backoff) op->backoff.emplace(strand_);
    op->backoff->expires_after(action.delay);
    op->backoff->async_wait([self = shared_from_this(), op](boost::system::error_code) {
      if (self->stopped_) {
        op->done(errc::shutting_down, std::move(op->detail));
        return;
      }
      self->attempt(op, clock::now());
    });
    return;
  }
  if (action.result) ++operation_errors_;
  if (action.result == make_error_code(errc::retry_budget_exhausted)) ++budget_exhausted_;
  op->done(action.result, std::move(op->detail));
}

void target_pool::wait_for(std::uint64_t waiter, grant_kind kind, time_point deadline,
                           time_point now, waiter_entry entry) {
  if (stopped_) {
    grant(entry, errc::shutting_down, false, 0);
    return;
  }
  // Granted (or refused) at once, as a shared connection with room is, the
  // waiter never enters waiting_: perform() finds it in asking_.
  asking_.push_back({waiter, &entry});
  core_.acquire(waiter, kind, deadline, now);
  apply();
  // Nested calls have popped theirs: the last one is this call's.
  const bool answered = asking_.back().entry == nullptr;
  asking_.pop_back();
  if (!answered) waiting_.emplace(waiter, std::move(entry));
}

void target_pool::acquire_lease(millis ttl, std::string holder, time_point deadline,
                                std::function<void(std::error_code, lease_grant)> done) {
  asio::dispatch(strand_, [self = shared_from_this(), ttl, holder = std::move(holder), deadline,
                           done = std::move(done)]() mutable {
    if (ttl.count() == 0) ttl = self->target_.lease.default_ttl;
    if (ttl > self->target_.lease.max_ttl) {
      done(errc::invalid_operation, {});
      return;
    }
    const auto waiter = self->next_waiter_++;
    self->wait_for(waiter, grant_kind::exclusive, deadline, clock::now(),
                   {{},
                    {},
                    [weak = self->weak_from_this(), ttl, holder = std::move(holder),
                     done = std::move(done)](std::error_code ec, bool, std::uint64_t node) {
                      auto self = weak.lock();
                      if (!self) return;
                      if (ec) {
                        done(ec, {});
                        return;
                      }
                      const auto now = clock::now();
                      const auto& l = self->leases_.add(
                          {self->new_lease_id(), holder, node, ttl, now, now + ttl});
                      ++self->leases_acquired_;
                      self->arm_timer();
                      done({}, {l.id, ttl});
                    }});
  });
}

void target_pool::execute_leased(std::string id, attempt_fn attempt, time_point deadline,
                                 outcome_fn done) {
  asio::dispatch(
      strand_, [self = shared_from_this(), id = std::move(id), attempt = std::move(attempt),
                deadline, done = std::move(done)]() mutable {
        const lease* l = nullptr;
        if (auto ec = self->leases_.find(id, clock::now(), l)) {
          done(ec, {});
          return;
        }
        if (self->conns_.count(l->connection_id) == 0) {
          done(errc::unavailable, {});  // the lease's connection was lost
          return;
        }
        ++self->operations_;
        // Owed from the write on: a release that comes before the answer (the
        // caller's own deadline fired first) must not pool a connection that
        // will still answer.
        ++self->owing_[l->connection_id];
        auto run = std::make_shared<attempt_run>();
        run->settled = [self, done = std::move(done)](std::optional<attempt_result> result,
                                                      time_point) {
          if (!result) {
            // Its answer may still come (a blocking command):
            // until then the connection stays owed (run_attempt
            // settles the debt when the answer comes).
            ++self->operation_errors_;
            ++self->abandoned_;
            return done(errc::deadline_exceeded, {});
          }
          std::error_code ec = result->error;
          if (ec && result->kind == failure_kind::connection) {
            ec = result->written ? make_error_code(errc::outcome_unknown)
                                 : make_error_code(errc::unavailable);
          }
          if (ec) ++self->operation_errors_;
          done(ec, std::move(result->detail));
        };
        self->run_attempt(attempt, l->connection_id, deadline, clock::now(), std::move(run));
      });
}

void target_pool::renew(std::string id, millis ttl,
                        std::function<void(std::error_code, millis)> done) {
  asio::dispatch(strand_, [self = shared_from_this(), id = std::move(id), ttl,
                           done = std::move(done)]() mutable {
    const auto now = clock::now();
    const lease* l = nullptr;
    if (auto ec = self->leases_.find(id, now, l)) {
      done(ec, {});
      return;
    }
    if (ttl.count() == 0) ttl = l->ttl;
    if (ttl > self->target_.lease.max_ttl) {
      done(errc::invalid_operation, {});
      return;
    }
    done(self->leases_.renew(id, ttl, now), ttl);
    self->arm_timer();
  });
}

void target_pool::release(std::string id, bool discard, done_fn done) {
  asio::dispatch(strand_, [self = shared_from_this(), id = std::move(id), discard,
                           done = std::move(done)]() mutable {
    const auto now = clock::now();
    lease l;
    if (auto ec = self->leases_.release(id, now, l)) {
      done(ec);
      return;
    }
    if (const auto it = self->conns_.find(l.connection_id);
        it != self->conns_.end() && !it->second->reusable_after_lease()) {
      discard = true;
    }
    if (self->owing_.erase(l.connection_id) != 0 && !discard) {
      spdlog::debug(
          "target {}: lease {} released while its connection still owed an answer "
          "(an attempt still running or abandoned at its deadline); discarding the connection",
          self->target_.name, l.id);
      discard = true;
    }
    self->core_.done(l.connection_id, discard, now);
    self->apply();
    done({});
  });
}

void target_pool::acquire_dedicated(
    time_point deadline, std::function<void(std::error_code, std::uint64_t, connection*)> done,
    std::function<void(std::error_code)> lost) {
  asio::dispatch(strand_, [self = shared_from_this(), deadline, done = std::move(done),
                           lost = std::move(lost)]() mutable {
    const auto waiter = self->next_waiter_++;
    self->wait_for(waiter, grant_kind::exclusive, deadline, clock::now(),
                   {{},
                    {},
                    [weak = self->weak_from_this(), done = std::move(done), lost = std::move(lost)](
                        std::error_code ec, bool, std::uint64_t node) mutable {
                      auto self = weak.lock();
                      if (!self) return;
                      if (ec) return done(ec, 0, nullptr);
                      self->dedicated_[node] = std::move(lost);
                      done({}, node, self->conns_.at(node).get());
                    }});
  });
}

void target_pool::release_dedicated(std::uint64_t node) {
  asio::dispatch(strand_, [self = shared_from_this(), node] {
    if (self->dedicated_.erase(node) == 0) return;
    self->core_.done(node, /*broken=*/true, clock::now());
    self->apply();
  });
}

void target_pool::stats(std::function<void(target_stats)> done) {
  asio::dispatch(strand_, [self = shared_from_this(), done = std::move(done)] {
    const auto now = clock::now();
    target_stats s;
    s.pool = self->core_.snapshot();
    s.connections = self->core_.nodes();
    for (const auto& [id, conn] : self->conns_) {
      if (const auto n = conn->queued(); n != 0) s.queued.emplace(id, n);
    }
    for (const auto& url : self->target_.urls) s.urls.push_back(url.redacted);
    s.breaker = self->core_.breaker();
    s.healthy = self->last_health_;
    s.operations = self->operations_;
    s.operation_errors = self->operation_errors_;
    s.retries = self->retries_;
    s.abandoned = self->abandoned_;
    s.cancelled = self->cancelled_;
    s.redirects = self->redirects_;
    const auto recv = [&](recv_event e) {
      return self->recv_counts_[static_cast<std::size_t>(e)].load(std::memory_order_relaxed);
    };
    s.deliveries_dropped = recv(recv_event::dropped);
    s.dead_lettered = recv(recv_event::dead_lettered);
    s.acks_refused = recv(recv_event::acks_refused);
    s.retry_budget_exhausted = self->budget_exhausted_;
    s.leases_acquired = self->leases_acquired_;
    s.leases_reclaimed = self->leases_reclaimed_;
    for (const auto& [id, l] : self->leases_.all()) {
      s.leases.push_back({id, l.holder, std::chrono::duration_cast<millis>(now - l.acquired),
                          std::chrono::duration_cast<millis>(l.expires - now), l.connection_id});
    }
    done(std::move(s));
  });
}

std::string target_pool::last_connect_error() const {
  std::lock_guard lock(error_mutex_);
  return last_connect_error_;
}

void target_pool::apply() {
  // Performing an action may produce more (a grant's attempt fails at once).
  std::vector<pool_action> actions;
  for (core_.take_actions(actions); !actions.empty(); core_.take_actions(actions)) {
    for (const auto& action : actions) perform(action);
  }
  update_health();
  arm_timer();
}

void target_pool::perform(const pool_action& action) {
  switch (action.what) {
    case pool_action::kind::connect:
      connect(action.node, action.url);
      break;
    case pool_action::kind::close: {
      const auto it = conns_.find(action.node);
      if (it != conns_.end()) {
        it->second->close();
        // Destroy after the current handler: the connection may be mid-callback.
        protocol::dispatch_turn::post(
            strand_, [conn = std::shared_ptr<connection>(std::move(it->second))] {});
        conns_.erase(it);
      }
      break;
    }
    case pool_action::kind::health_check:
      conns_.at(action.node)
          ->health_check([weak = weak_from_this(), node = action.node](std::error_code ec) {
            auto self = weak.lock();
            if (!self) return;
            protocol::dispatch_turn::post(self->strand_, [self, node, ec] {
              self->core_.health_checked(node, !ec, clock::now());
              self->apply();
            });
          });
      break;
    case pool_action::kind::grant:
    case pool_action::kind::fail: {
      waiter_entry w;
      if (const auto asked = std::find_if(
              asking_.begin(), asking_.end(),
              [&](const asking& a) { return a.waiter == action.waiter && a.entry != nullptr; });
          asked != asking_.end()) {
        w = std::move(*std::exchange(asked->entry, nullptr));
      } else {
        const auto it = waiting_.find(action.waiter);
        if (it == waiting_.end()) break;
        w = std::move(it->second);
        waiting_.erase(it);
      }
      grant(w, action.error, action.connection_error, action.node);
      break;
    }
  }
}

void target_pool::connect(std::uint64_t node, std::size_t url) {
  auto conn = factory_->make(strand_);
  auto* raw = conn.get();
  conns_[node] = std::move(conn);
  raw->connect(target_.urls[url], target_.pool.connect_timeout,
               [weak = weak_from_this(), node](std::error_code ec) {
                 auto self = weak.lock();
                 if (!self) return;
                 protocol::dispatch_turn::post(self->strand_, [self, node, ec] {
                   if (self->stopped_) return;
                   if (ec) {
                     self->connect_failed(node, ec);
                   } else {
                     self->watch(node);
                   }
                   self->core_.connected(node, ec, clock::now());
                   self->apply();
                 });
               });
}

void target_pool::connect_failed(std::uint64_t node, std::error_code ec) {
  reachable_ = false;
  const auto& url = target_.urls[core_.url_of(node)];
  const auto it = conns_.find(node);
  const auto text = it != conns_.end() ? it->second->error_text() : "";
  {
    std::lock_guard lock(error_mutex_);
    last_connect_error_ = url.redacted + ": " + (text.empty() ? ec.message() : text);
  }
  spdlog::debug("target {}: connect to {} failed: {}", target_.name, url.redacted,
                text.empty() ? ec.message() : text);
  conns_.erase(node);
}

void target_pool::watch(std::uint64_t node) {
  {
    std::lock_guard lock(error_mutex_);
    last_connect_error_.clear();
  }
  reachable_ = true;
  auto& conn = *conns_.at(node);
  // Weak: the connection, which the pool owns, keeps these.
  conn.on_write_paused([weak = weak_from_this(), node](bool paused) {
    auto self = weak.lock();
    if (!self) return;
    protocol::dispatch_turn::post(self->strand_, [self, node, paused] {
      self->core_.write_paused(node, paused, clock::now());
      self->apply();
    });
  });
  conn.on_lost([weak = weak_from_this(), node](std::error_code) {
    auto self = weak.lock();
    if (!self) return;
    protocol::dispatch_turn::post(self->strand_, [self, node] {
      if (self->conns_.erase(node) == 0) return;
      self->owing_.erase(node);
      self->core_.lost(node, clock::now());
      self->apply();
      if (auto it = self->dedicated_.find(node); it != self->dedicated_.end()) {
        auto lost = std::move(it->second);
        self->dedicated_.erase(it);
        lost(make_error_code(errc::unavailable));
      }
    });
  });
  // Lame duck: no new work, closed once free, replaced elsewhere.
  conn.on_retire([weak = weak_from_this(), node] {
    auto self = weak.lock();
    if (!self) return;
    protocol::dispatch_turn::post(self->strand_, [self, node] {
      if (self->conns_.count(node) == 0) return;
      spdlog::info(
          "target {}: {} is going away (the broker said so: lame duck, a failover); its "
          "connection takes no new work",
          self->target_.name, self->target_.urls[self->core_.url_of(node)].redacted);
      self->core_.retire(node, clock::now());
      self->apply();
    });
  });
  for (const auto& peer : conn.peers()) learn_url(node, peer);
  // Paused from the start: no work for it as it joins.
  if (conn.write_paused_now()) core_.write_paused(node, true, clock::now());
}

void target_pool::learn_url(std::uint64_t node, const std::string& peer) {
  constexpr std::size_t most_urls = 32;
  std::string host;
  std::string port_text;
  if (peer.starts_with('[')) {  // [v6]:port
    const auto close = peer.find("]:");
    if (close == std::string::npos) return;
    host = peer.substr(1, close - 1);
    port_text = peer.substr(close + 2);
  } else {
    const auto colon = peer.rfind(':');
    if (colon == std::string::npos || colon == 0) return;
    host = peer.substr(0, colon);
    port_text = peer.substr(colon + 1);
  }
  unsigned port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 ||
      port > 65535) {
    return;
  }
  for (const auto& known : target_.urls) {
    const auto known_port = known.port != 0 ? known.port : known.default_port;
    if (known.host == host && known_port == port) return;
  }
  if (target_.urls.size() >= most_urls) return;
  auto url = target_.urls[core_.url_of(node)];  // its credentials, TLS and options
  url.host = host;
  url.port = static_cast<std::uint16_t>(port);
  const auto shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  url.redacted = url.scheme + "://" + shown + ":" + std::to_string(port) + " (told of by " +
                 target_.urls[core_.url_of(node)].redacted + ")";
  spdlog::info("target {}: the broker told of another server, {}: a failover candidate",
               target_.name, url.redacted);
  target_.urls.push_back(std::move(url));
  core_.add_url(target_.urls.size() - 1);
}

void target_pool::on_timer() {
  const auto now = clock::now();
  expire_attempts(now);
  for (auto& l : leases_.expire(now)) {
    ++leases_reclaimed_;
    spdlog::warn(
        "target {}: lease {} held by {} expired after {} ms without release; "
        "discarding its connection",
        target_.name, l.id, l.holder, std::chrono::duration_cast<millis>(now - l.acquired).count());
    owing_.erase(l.connection_id);
    core_.done(l.connection_id, /*broken=*/true, now);
  }
  const auto stalled = core_.counters().stalled;
  core_.tick(now);
  if (const auto n = core_.counters().stalled - stalled; n > 0) {
    spdlog::warn(
        "target {}: {} connection(s) owed an answer (an operation past its deadline, or a "
        "health check) and said nothing for {} ms; closed as dead",
        target_.name, n, target_.pool.health_check_interval.count());
  }
  apply();
}

void target_pool::arm_timer() {
  if (stopped_) return;
  auto next = core_.next_wakeup();
  const auto consider = [&next](std::optional<time_point> t) {
    if (t && (!next || *t < *next)) next = t;
  };
  consider(leases_.next_expiry());
  consider(deadlines_.next());
  // apply() runs twice per operation, and the earliest deadline moves later
  // whenever the earliest attempt is answered: an armed timer that fires
  // first is left alone (on_timer() arms it for what is then next). Only an
  // earlier wakeup re-arms it.
  if (!next || (armed_ && *armed_ <= *next)) return;
  armed_ = next;
  timer_.expires_at(*next);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->stopped_) return;
    self->armed_.reset();
    self->on_timer();
  });
}

void target_pool::update_health() {
  const bool healthy = reachable_ && core_.breaker() == breaker_state::closed;
  if (healthy == last_health_) return;
  last_health_ = healthy;
  if (health_) health_(healthy);
}

}  // namespace brokerside::pool
