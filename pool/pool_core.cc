#include "pool/pool_core.h"

#include <algorithm>

#include "pool/errc.h"

namespace brokerside::pool {

pool_core::pool_core(const target_config& target, std::uint32_t per_connection_cap,
                     std::function<double()> random)
    : target_(target),
      cap_(std::max<std::uint32_t>(1, per_connection_cap)),
      random_(std::move(random)),
      breaker_(target.breaker),
      failover_(target.urls.size(), target.failover, [&] {
        std::vector<double> draws(target.urls.size());
        for (auto& d : draws) d = random_();
        return draws;
      }()) {}

void pool_core::start(time_point now) {
  refill_at_ = now;
  open(now);
}

void pool_core::acquire(std::uint64_t id, grant_kind kind, time_point deadline, time_point now) {
  const auto acquire_deadline = now + target_.pool.acquire_timeout;
  waiter w{id, kind, std::min(deadline, acquire_deadline), deadline <= acquire_deadline};
  if (w.deadline <= now) {
    fail(w, errc::deadline_exceeded, false);
    return;
  }
  waiters_.push_back(w);
  serve(now);
  // Still waiting beyond max_pending (0: never wait): refuse at once, like
  // kombu's LimitExceeded.
  if (waiters_.size() > target_.pool.max_pending) {
    const auto it =
        std::find_if(waiters_.begin(), waiters_.end(), [&](const waiter& x) { return x.id == id; });
    if (it != waiters_.end()) {
      ++counters_.pool_exhausted;
      const auto refused = *it;
      waiters_.erase(it);
      fail(refused, errc::pool_exhausted, false);
    }
  }
}

void pool_core::cancel(const std::vector<std::uint64_t>& ids) {
  std::erase_if(waiters_,
                [&](const waiter& w) { return std::binary_search(ids.begin(), ids.end(), w.id); });
}

void pool_core::connected(std::uint64_t id, std::error_code ec, time_point now) {
  const auto it = nodes_.find(id);
  if (it == nodes_.end() || it->second.state != node_state::connecting) return;
  node& n = it->second;
  if (ec) {
    ++counters_.connect_failures;
    breaker_.on_failure(now);
    failover_.failed(n.url);
    nodes_.erase(it);
    ++refill_failures_;
    refill_at_ = now + backoff(target_.retry).delay(refill_failures_, random_());
    // Waiters no open node can serve learn now that the broker is not
    // reachable; their ensure decides whether and when to retry, so a dead
    // broker is not hammered from here.
    serve(now, /*open_for_waiters=*/false);
    if (ec == errc::access_refused) {
      fail_waiters(ec, false);
    } else if (count(node_state::connecting) == 0) {
      fail_waiters(breaker_.failing_fast() ? errc::circuit_open : errc::unavailable,
                   !breaker_.failing_fast());
    }
    open(now);
    return;
  }
  ++counters_.connects;
  breaker_.on_success();
  refill_failures_ = 0;
  n.state = node_state::idle;
  n.since = now;
  n.checked = now;
  if (target_.pool.max_lifetime.count() > 0) {
    const double spread = 1.0 + target_.pool.lifetime_jitter * (2.0 * random_() - 1.0);
    n.expires = now + millis(static_cast<std::int64_t>(
                          static_cast<double>(target_.pool.max_lifetime.count()) * spread));
  } else {
    n.expires = time_point::max();
  }
  serve(now);
}

void pool_core::retire(std::uint64_t id, time_point now) {
  const auto it = nodes_.find(id);
  if (it == nodes_.end()) return;
  node& n = it->second;
  failover_.failed(n.url);
  n.expires = now;
  if (n.state == node_state::idle) {
    close(id);
    serve(now);
  } else {
    n.retiring = true;
  }
}

void pool_core::done(std::uint64_t id, bool broken, time_point now) {
  const auto it = nodes_.find(id);
  if (it == nodes_.end()) return;
  node& n = it->second;
  if (n.state == node_state::leased) {
    if (broken || n.retiring) {
      close(id);
    } else {
      n.state = node_state::idle;
      n.since = n.checked = now;
    }
  } else if (n.state == node_state::busy) {
    if (n.in_flight > 0) --n.in_flight;
    if (broken) {
      close(id);
    } else if (n.in_flight == 0) {
      if (n.retiring) {
        close(id);
      } else {
        n.state = node_state::idle;
        n.since = n.checked = now;
      }
    }
  }
  serve(now);
}

void pool_core::abandoned(std::uint64_t id, time_point now) {
  const auto it = nodes_.find(id);
  if (it == nodes_.end()) return;
  if (it->second.state == node_state::busy && !it->second.owes_since) it->second.owes_since = now;
  done(id, false, now);
}

void pool_core::answered(std::uint64_t id) {
  if (const auto it = nodes_.find(id); it != nodes_.end()) it->second.owes_since.reset();
}

void pool_core::lost(std::uint64_t id, time_point now) {
  if (nodes_.count(id) == 0) return;
  close(id);
  serve(now);
}

void pool_core::write_paused(std::uint64_t id, bool paused, time_point now) {
  const auto it = nodes_.find(id);
  if (it == nodes_.end() || it->second.paused == paused) return;
  it->second.paused = paused;
  if (paused) {
    ++counters_.write_pauses;
  } else {
    serve(now);
  }
}

void pool_core::health_checked(std::uint64_t id, bool ok, time_point now) {
  const auto it = nodes_.find(id);
  if (it == nodes_.end() || it->second.state != node_state::checking) return;
  if (ok) {
    it->second.state = node_state::idle;
    it->second.checked = now;
    it->second.owes_since.reset();
  } else {
    close(id);
  }
  serve(now);
}

void pool_core::tick(time_point now) {
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (it->deadline > now) {
      ++it;
      continue;
    }
    const auto w = *it;
    it = waiters_.erase(it);
    ++counters_.waiter_timeouts;
    fail(w, w.callers ? errc::deadline_exceeded : errc::pool_exhausted, false);
  }
  const auto& settings = target_.pool;
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    const auto id = it->first;
    node& n = it->second;
    ++it;  // close() erases the node
    const bool expired = n.expires <= now;
    // Owed an answer for a whole interval and heard nothing: dead.
    if (n.owes_since && settings.health_check_interval.count() > 0 &&
        now - *n.owes_since >= settings.health_check_interval) {
      ++counters_.stalled;
      close(id);
      continue;
    }
    switch (n.state) {
      case node_state::idle:
        if (expired) {
          close(id);
        } else if (settings.idle_timeout.count() > 0 && now - n.since >= settings.idle_timeout &&
                   open_nodes() > settings.min_idle) {
          close(id);
        } else if (settings.health_check_interval.count() > 0 &&
                   now - n.checked >= settings.health_check_interval) {
          n.state = node_state::checking;
          if (!n.owes_since) n.owes_since = now;
          actions_.push_back({pool_action::kind::health_check, id});
        }
        break;
      case node_state::busy:
      case node_state::leased:
        if (expired) n.retiring = true;
        break;
      case node_state::connecting:
      case node_state::checking:
        break;
    }
  }
  serve(now);
}

void pool_core::take_actions(std::vector<pool_action>& out) {
  out.clear();
  // Nothing new: the larger storage stays here, where actions are made.
  if (actions_.empty() && actions_.capacity() >= out.capacity()) return;
  out.swap(actions_);
}

std::optional<time_point> pool_core::next_wakeup() const {
  std::optional<time_point> next;
  const auto consider = [&](time_point t) {
    if (!next || t < *next) next = t;
  };
  for (const auto& w : waiters_) consider(w.deadline);
  const auto& settings = target_.pool;
  const bool above_min_idle = open_nodes() > settings.min_idle;
  for (const auto& [id, n] : nodes_) {
    if (n.owes_since && settings.health_check_interval.count() > 0) {
      consider(*n.owes_since + settings.health_check_interval);
    }
    if (n.state == node_state::idle) {
      consider(n.expires);
      if (settings.idle_timeout.count() > 0 && above_min_idle) {
        consider(n.since + settings.idle_timeout);
      }
      if (settings.health_check_interval.count() > 0) {
        consider(n.checked + settings.health_check_interval);
      }
    } else if ((n.state == node_state::busy || n.state == node_state::leased) && !n.retiring) {
      consider(n.expires);
    }
  }
  if (nodes_.size() < settings.min_idle) {
    consider(breaker_.state() == breaker_state::open ? std::max(refill_at_, breaker_.retry_at())
                                                     : refill_at_);
  }
  return next;
}

pool_snapshot pool_core::snapshot() const {
  pool_snapshot s;
  for (const auto& [id, n] : nodes_) {
    switch (n.state) {
      case node_state::connecting:
        ++s.connecting;
        break;
      case node_state::idle:
        ++s.idle;
        break;
      case node_state::busy:
        ++s.busy;
        break;
      case node_state::leased:
        ++s.leased;
        break;
      case node_state::checking:
        ++s.checking;
        break;
    }
    s.in_flight += n.in_flight;
  }
  s.waiters = static_cast<std::uint32_t>(waiters_.size());
  s.counters = counters_;
  return s;
}

std::size_t pool_core::url_of(std::uint64_t id) const {
  const auto it = nodes_.find(id);
  return it == nodes_.end() ? 0 : it->second.url;
}

std::vector<node_view> pool_core::nodes() const {
  std::vector<node_view> out;
  for (const auto& [id, n] : nodes_)
    out.push_back({id, n.state, n.url, n.in_flight, n.created, n.since});
  return out;
}

void pool_core::serve(time_point now, bool open_for_waiters) {
  // pick() depends only on the kind: once a kind finds no node, no later
  // waiter of that kind will (with thousands queued, trying each was most of
  // the pool's time under load).
  bool shared_blocked = false, exclusive_blocked = false;
  for (auto it = waiters_.begin();
       it != waiters_.end() && !(shared_blocked && exclusive_blocked);) {
    auto& blocked = it->kind == grant_kind::shared ? shared_blocked : exclusive_blocked;
    if (blocked) {
      ++it;
      continue;
    }
    const auto found = pick(it->kind);
    if (found == nodes_.end()) {
      blocked = true;
      ++it;
      continue;
    }
    node& n = found->second;
    if (it->kind == grant_kind::exclusive) {
      n.state = node_state::leased;
    } else {
      n.state = node_state::busy;
      ++n.in_flight;
    }
    n.checked = now;
    actions_.push_back({pool_action::kind::grant, found->first, n.url, it->id});
    it = waiters_.erase(it);
  }
  if (open_for_waiters) open(now);
}

void pool_core::open(time_point now) {
  std::uint32_t shared = 0;
  std::uint32_t exclusive = 0;
  for (const auto& w : waiters_) (w.kind == grant_kind::shared ? shared : exclusive)++;
  const std::uint32_t connecting = count(node_state::connecting);
  const std::uint32_t demand = (shared + cap_ - 1) / cap_ + exclusive;
  std::uint32_t wanted = demand > connecting ? demand - connecting : 0;
  const auto total = static_cast<std::uint32_t>(nodes_.size());
  if (total < target_.pool.min_idle && now >= refill_at_) {
    wanted = std::max(wanted, target_.pool.min_idle - total);
  }
  const std::uint32_t room =
      target_.pool.max_connections - std::min(total, target_.pool.max_connections);
  wanted = std::min(wanted, room);
  for (std::uint32_t i = 0; i < wanted; ++i) {
    if (!breaker_.allow_connect(now)) break;
    const auto id = next_node_++;
    node n;
    n.url = failover_.current();
    n.created = n.since = now;
    nodes_.emplace(id, n);
    actions_.push_back({pool_action::kind::connect, id, n.url});
  }
  // Fail fast while the breaker is open and nothing is on its way.
  if (!waiters_.empty() && breaker_.failing_fast() && count(node_state::connecting) == 0) {
    fail_waiters(errc::circuit_open, false);
  }
}

void pool_core::close(std::uint64_t id) {
  nodes_.erase(id);
  ++counters_.disconnects;
  actions_.push_back({pool_action::kind::close, id});
}

void pool_core::fail_waiters(std::error_code ec, bool connection_error) {
  // Move the list to a temporary before failing it, so a waiter's retry can
  // queue again (Envoy).
  auto failing = std::exchange(waiters_, {});
  for (const auto& w : failing) fail(w, ec, connection_error);
}

void pool_core::fail(const waiter& w, std::error_code ec, bool connection_error) {
  pool_action a{pool_action::kind::fail, 0, 0, w.id, ec, connection_error};
  actions_.push_back(a);
}

std::map<std::uint64_t, pool_core::node>::iterator pool_core::pick(grant_kind kind) {
  for (auto it = nodes_.begin(); it != nodes_.end(); ++it) {
    const node& n = it->second;
    if (n.retiring) continue;
    if (kind == grant_kind::exclusive) {
      // Not one that owes an answer: a lease needs a live connection.
      if (n.state == node_state::idle && !n.owes_since) return it;
      continue;
    }
    // Shared: the oldest open node with room, as Envoy's HTTP/2 pool fills
    // one connection before the next. Operations that come together then
    // share writes and reads (a batch of 16 on one connection costs a
    // syscall each way; spread over 8 it cost 8), and connections opened
    // for a peak go idle afterwards and are closed at idle_timeout instead
    // of thinning every later batch.
    if ((n.state == node_state::idle || n.state == node_state::busy) && n.in_flight < cap_ &&
        !n.paused) {
      return it;
    }
  }
  return nodes_.end();
}

std::uint32_t pool_core::open_nodes() const {
  return static_cast<std::uint32_t>(nodes_.size()) - count(node_state::connecting);
}

std::uint32_t pool_core::count(node_state s) const {
  return static_cast<std::uint32_t>(std::count_if(
      nodes_.begin(), nodes_.end(), [&](const auto& entry) { return entry.second.state == s; }));
}

}  // namespace brokerside::pool
