#include "sidecar/adapters/redis/redis_sentinel_watch.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <future>

#include "sidecar/adapters/redis/redis_pooled_connection.h"

namespace brokerside::sidecar {

namespace asio = boost::asio;
namespace redis = protocol::redis;

redis_sentinel_watch::redis_sentinel_watch(std::shared_ptr<const target_settings> target,
                                           std::shared_ptr<pool::connection_factory> sentinels,
                                           asio::any_io_executor executor, std::string master)
    : strand_(asio::make_strand(std::move(executor))),
      master_(std::move(master)),
      links_(*target, std::move(sentinels), strand_, 1,
             {.up = [this](std::size_t index, std::uint64_t generation,
                           pool::connection& conn) { up(index, generation, conn); },
              .down = [](std::size_t) {}}) {}

void redis_sentinel_watch::start() {
  asio::post(strand_, [self = shared_from_this()] { self->links_.want(0); });
}

void redis_sentinel_watch::stop() {
  auto done = std::make_shared<std::promise<void>>();
  auto stopped = done->get_future();
  asio::post(strand_, [self = shared_from_this(), done] {
    self->links_.close();
    done->set_value();
  });
  stopped.wait_for(std::chrono::seconds(2));
}

void redis_sentinel_watch::up(std::size_t index, std::uint64_t generation, pool::connection& conn) {
  auto& redis = static_cast<redis_pooled_connection&>(conn).redis();
  // Where the primary is now: a switch while no link was up is caught here.
  redis.execute(
      {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", master_},
      [weak = weak_from_this(), index, generation](std::error_code ec, redis::value v, bool) {
        auto self = weak.lock();
        const auto now = ec ? std::nullopt : redis::parse_master_address(v);
        if (!self || !now) return;
        asio::post(self->strand_, [self, index, generation, now = *now] {
          if (self->links_.generation(index) == generation) self->switched(now);
        });
      });
  redis.on_push([weak = weak_from_this(), index, generation](redis::value v) {
    auto self = weak.lock();
    if (!self) return;
    asio::post(self->strand_, [self, index, generation, v = std::move(v)] {
      if (self->links_.generation(index) == generation) self->pushed(v);
    });
  });
  redis.send_without_reply({"SUBSCRIBE", "+switch-master"});
}

void redis_sentinel_watch::pushed(const redis::value& v) {
  // ["message", "+switch-master", "<name> <old host> <old port> <new host> <new port>"]
  if (v.elements.size() != 3 || v.elements[0].text != "message") return;
  const auto s = redis::parse_switch_master(v.elements[2].text);
  if (!s || s->name != master_) return;
  spdlog::info("sentinel: primary '{}' moved from {} to {}", master_, s->from.text(), s->to.text());
  switched(s->to);
}

void redis_sentinel_watch::switched(const redis::server_address& to) {
  std::vector<std::shared_ptr<member>> retiring;
  {
    std::lock_guard lock(mutex_);
    current_ = to;
    std::erase_if(members_, [&](const std::weak_ptr<member>& weak) {
      auto m = weak.lock();
      if (!m) return true;
      if (m->primary == to) return false;
      retiring.push_back(std::move(m));
      return true;
    });
  }
  for (auto& m : retiring) retire(m);
}

void redis_sentinel_watch::retire(const std::shared_ptr<member>& m) {
  asio::post(m->executor, [m] {
    m->wanted = true;
    m->settle();
  });
}

void redis_sentinel_watch::enroll(const std::shared_ptr<member>& m) {
  {
    std::lock_guard lock(mutex_);
    std::erase_if(members_, [](const std::weak_ptr<member>& weak) { return weak.expired(); });
    // Connected to a primary a switch has since replaced (it asked a
    // sentinel just before): retired at once.
    if (!current_ || m->primary == *current_) {
      members_.push_back(m);
      return;
    }
  }
  retire(m);
}

}  // namespace brokerside::sidecar
