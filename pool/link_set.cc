#include "pool/link_set.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <random>

#include "pool/backoff.h"

namespace brokerside::pool {

link_set::link_set(const target_config& target, std::shared_ptr<connection_factory> factory,
                   boost::asio::any_io_executor strand, std::size_t max_links, handlers on)
    : name_(target.name),
      urls_(target.urls),
      connect_timeout_(target.pool.connect_timeout),
      health_interval_(target.pool.health_check_interval),
      factory_(std::move(factory)),
      strand_(std::move(strand)),
      max_(max_links),
      on_(std::move(on)) {}

link_set::~link_set() { close(); }

void link_set::want(std::size_t index) {
  if (index >= max_ || !*alive_) return;
  if (index >= links_.size()) links_.resize(index + 1);
  const auto& l = links_[index];
  if (l.is_up || l.conn || l.retry) return;
  connect(index);
}

connection* link_set::up(std::size_t index) const {
  if (index >= links_.size() || !links_[index].is_up) return nullptr;
  return links_[index].conn.get();
}

std::uint64_t link_set::generation(std::size_t index) const {
  return index < links_.size() ? links_[index].generation : 0;
}

void link_set::connect(std::size_t index) {
  auto& l = links_[index];
  l.retry.reset();
  l.conn = factory_->make(strand_);
  const auto generation = ++l.generation;
  const auto& url = urls_[l.url++ % urls_.size()];
  l.conn->connect(url, connect_timeout_,
                  [this, alive = alive_, index, generation](std::error_code ec) {
                    if (*alive) connected(index, generation, ec);
                  });
}

void link_set::connected(std::size_t index, std::uint64_t generation, std::error_code ec) {
  auto& l = links_[index];
  if (generation != l.generation) return;
  if (ec) {
    spdlog::warn("target {}: shared connection {}: {}", name_, index,
                 l.conn->error_text().empty() ? ec.message() : l.conn->error_text());
    return lost(index, generation);
  }
  l.is_up = true;
  l.failures = 0;
  open_.fetch_add(1, std::memory_order_relaxed);
  l.conn->on_lost([this, alive = alive_, index, generation](std::error_code) {
    if (*alive) lost(index, generation);
  });
  arm_health_checks();
  if (on_.up) on_.up(index, generation, *l.conn);
}

// Once, when a link first comes up: from then on the timer runs for as
// long as the set.
void link_set::arm_health_checks() {
  if (health_interval_.count() == 0 || health_) return;
  health_.emplace(strand_);
  wait_for_health_check();
}

void link_set::wait_for_health_check() {
  health_->expires_after(health_interval_);
  health_->async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (ec || !*alive) return;
    check_health();
  });
}

void link_set::check_health() {
  for (std::size_t i = 0; i < links_.size(); ++i) {
    auto& l = links_[i];
    if (!l.is_up) continue;
    if (l.probing) {
      dead(i, "gave no answer to a health check for a whole health_check_interval");
      continue;
    }
    l.probing = true;
    l.conn->health_check([this, alive = alive_, i, generation = l.generation](std::error_code ec) {
      if (!*alive || generation != links_[i].generation) return;
      links_[i].probing = false;
      if (ec) dead(i, "failed a health check");
    });
  }
  wait_for_health_check();
}

void link_set::dead(std::size_t index, const char* why) {
  auto& l = links_[index];
  spdlog::warn("target {}: shared connection {} {}; closing it", name_, index, why);
  // Its callbacks, which close() may call, must find it stale first. (It
  // lives until a handler lost() posted runs.)
  auto* conn = l.conn.get();
  lost(index, l.generation);
  conn->close();
}

void link_set::lost(std::size_t index, std::uint64_t generation) {
  auto& l = links_[index];
  if (generation != l.generation) return;
  l.probing = false;
  if (l.is_up) {
    l.is_up = false;
    open_.fetch_sub(1, std::memory_order_relaxed);
    spdlog::warn("target {}: shared connection {} lost; connecting again", name_, index);
  }
  ++l.generation;  // callbacks of the old connection no longer count
  // Not destroyed here: this may run inside one of its own callbacks.
  boost::asio::post(strand_, [old = std::shared_ptr<connection>(std::move(l.conn))] {});
  // Jittered backoff, 100 ms doubling to 2 s, as a Recv stream's own.
  retry_settings settings;
  settings.initial_interval = millis(100);
  settings.multiplier = 2;
  settings.max_interval = millis(2000);
  settings.jitter = 0.2;
  thread_local std::mt19937_64 rng(std::random_device{}());
  const auto delay =
      backoff(settings).delay(++l.failures, std::uniform_real_distribution<double>(0, 1)(rng));
  l.retry.emplace(strand_);
  l.retry->expires_after(delay);
  l.retry->async_wait([this, alive = alive_, index](boost::system::error_code ec) {
    if (ec || !*alive) return;
    connect(index);
  });
  if (on_.down) on_.down(index);
}

void link_set::close() {
  if (!*alive_) return;
  *alive_ = false;
  if (health_) health_->cancel();
  for (auto& l : links_) {
    if (l.retry) l.retry->cancel();
    if (l.conn) l.conn->close();
    if (l.is_up) open_.fetch_sub(1, std::memory_order_relaxed);
    l.is_up = false;
    ++l.generation;
  }
}

}  // namespace brokerside::pool
