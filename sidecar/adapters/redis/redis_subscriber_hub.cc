#include "sidecar/adapters/redis/redis_subscriber_hub.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <future>

#include "sidecar/adapters/redis/redis_pooled_connection.h"
#include "sidecar/adapters/redis/redis_pubsub_handle.h"

namespace brokerside::sidecar {

namespace asio = boost::asio;
namespace redis = protocol::redis;

redis_subscriber_hub::redis_subscriber_hub(std::shared_ptr<const target_settings> target,
                                           std::shared_ptr<pool::connection_factory> factory,
                                           asio::any_io_executor executor,
                                           std::size_t max_connections)
    : name_(target->name),
      strand_(asio::make_strand(std::move(executor))),
      table_(max_connections),
      links_(*target, std::move(factory), strand_, max_connections,
             {.up = [this](std::size_t index, std::uint64_t generation,
                           pool::connection& conn) { up(index, generation, conn); },
              .down = [this](std::size_t index) { table_.lost(index); }}) {}

std::shared_ptr<subscription> redis_subscriber_hub::subscribe(const v1::Subscribe& subscribe,
                                                              subscription_events events,
                                                              std::function<void()> dropped) {
  const auto what = subscribe.kind() == v1::SOURCE_KIND_PATTERN ? kind::pattern
                    : subscribe.kind() == v1::SOURCE_KIND_SHARD ? kind::shard
                                                                : kind::channel;
  std::vector<std::string> names(subscribe.sources().begin(), subscribe.sources().end());
  // The id is taken here (any thread) only to name the handle; the hub
  // learns of it on its strand, where everything else happens.
  static std::atomic<listener_id> ids{0};
  const auto id = ++ids;
  asio::post(strand_, [self = shared_from_this(), id, what, names = std::move(names),
                       l = listener{std::move(events.sink), std::move(dropped)}]() mutable {
    self->join(id, what, std::move(names), std::move(l));
  });
  return std::make_shared<redis_pubsub_handle<redis_subscriber_hub, &redis_subscriber_hub::leave>>(
      weak_from_this(), strand_, id);
}

void redis_subscriber_hub::join(listener_id id, kind what, std::vector<std::string> names,
                                listener l) {
  if (stopped_) return;
  bool ready = false;
  const auto commands = table_.add(id, what, names, ready);
  auto& stored = listeners_[id] = std::move(l);
  send(commands);
  if (ready) stored.ready();
}

void redis_subscriber_hub::leave(listener_id id) {
  if (listeners_.erase(id) == 0) return;
  send(table_.remove(id));
}

void redis_subscriber_hub::send(const std::vector<redis::subscriber_table::command>& commands) {
  for (const auto& c : commands) {
    auto* conn = links_.up(c.link);
    if (conn == nullptr) {
      // Written once it is connected (subscriber_table::restored), or
      // nothing to take back on a connection that never was.
      links_.want(c.link);
      continue;
    }
    std::vector<std::string> args{redis::subscribe_command(c.what, c.subscribe)};
    args.insert(args.end(), c.names.begin(), c.names.end());
    static_cast<redis_pooled_connection&>(*conn).redis().send_without_reply(std::move(args));
  }
}

void redis_subscriber_hub::up(std::size_t index, std::uint64_t generation, pool::connection& conn) {
  auto& redis = static_cast<redis_pooled_connection&>(conn).redis();
  redis.on_push([weak = weak_from_this(), index, generation](redis::value v) {
    auto self = weak.lock();
    if (self && self->links_.generation(index) == generation) self->pushed(index, std::move(v));
  });
  send(table_.restored(index));
}

void redis_subscriber_hub::pushed(std::size_t index, redis::value v) {
  if (v.elements.size() < 3) return;
  kind what;
  if (redis::is_confirmation_kind(v.elements[0].text, what)) {
    for (const auto id : table_.confirmed(index, what, v.elements[1].text)) {
      if (const auto it = listeners_.find(id); it != listeners_.end()) it->second.ready();
    }
    return;
  }
  if (redis::is_unsubscription_kind(v.elements[0].text, what)) {
    for (const auto id : table_.dropped(index, what, v.elements[1].text)) {
      const auto it = listeners_.find(id);
      if (it == listeners_.end()) continue;
      if (it->second.dropped) {
        it->second.dropped();
      } else {
        spdlog::warn("target '{}': the server ended the subscription to '{}' by itself", name_,
                     v.elements[1].text);
      }
    }
    return;
  }
  if (!redis::is_message_kind(v.elements[0].text, what)) return;
  v1::Delivery d;
  std::string_view source = v.elements[1].text;
  if (what == kind::pattern) {
    if (v.elements.size() != 4) return;
    d.set_pattern(v.elements[1].text);
    d.set_source(std::move(v.elements[2].text));
    d.mutable_message()->set_body(std::move(v.elements[3].text));
    source = d.pattern();
  } else {
    if (v.elements.size() != 3) return;
    d.set_source(std::move(v.elements[1].text));
    d.mutable_message()->set_body(std::move(v.elements[2].text));
    source = d.source();
  }
  const auto* ids = table_.listeners(what, source);
  if (ids == nullptr) return;  // unsubscribed meanwhile
  // The last listener takes the message itself; the others a copy each.
  for (std::size_t i = 0; i < ids->size(); ++i) {
    const auto it = listeners_.find((*ids)[i]);
    if (it == listeners_.end()) continue;
    if (i + 1 == ids->size()) {
      it->second.deliver(std::move(d));
    } else {
      it->second.deliver(d);
    }
  }
}

void redis_subscriber_hub::stop() {
  auto done = std::make_shared<std::promise<void>>();
  asio::post(strand_, [self = shared_from_this(), done] {
    self->closed();
    done->set_value();
  });
  done->get_future().wait_for(std::chrono::seconds(2));
}

void redis_subscriber_hub::close() {
  asio::post(strand_, [self = shared_from_this()] { self->closed(); });
}

void redis_subscriber_hub::closed() {
  stopped_ = true;
  links_.close();
  listeners_.clear();
}

}  // namespace brokerside::sidecar
