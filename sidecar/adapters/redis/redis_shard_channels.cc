#include "sidecar/adapters/redis/redis_shard_channels.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <future>
#include <set>

#include "protocol/io_strand.h"
#include "protocol/redis/cluster.h"
#include "sidecar/adapters/redis/redis_pubsub_handle.h"

namespace brokerside::sidecar {

namespace asio = boost::asio;

namespace {

// How often channels are checked against the map, while there are any.
constexpr pool::millis reconcile_interval(1000);
// How soon after a node dropped a channel it is placed again (the map is
// asked for at once).
constexpr pool::millis after_a_drop(100);
// How long a node that dropped a channel is passed over while the map
// still names it (a seed that has not heard of the move yet).
constexpr auto avoid_for = std::chrono::seconds(5);

}  // namespace

// One placement of a channel on a node: what it delivers (and how it fails)
// goes to the stream; that it is subscribed, to us, which tells the stream
// once all its channels are.
class redis_shard_channels::placement_sink final : public subscription_sink {
 public:
  placement_sink(subscription_events stream, std::weak_ptr<redis_shard_channels> owner,
                 stream_id id, std::string name, std::uint64_t generation)
      : stream_(std::move(stream)),
        owner_(std::move(owner)),
        id_(id),
        name_(std::move(name)),
        generation_(generation) {}

  void deliver(v1::Delivery d, std::uint64_t tag) override { stream_.deliver(std::move(d), tag); }
  void failed(grpc::Status status) override { stream_.failed(std::move(status)); }
  void count(pool::target_pool::recv_event what) override { stream_.count(what); }
  void restarting() override { stream_.restarting(); }
  void ready() override {
    if (auto self = owner_.lock()) {
      asio::post(self->strand_, [self, id = id_, name = name_, generation = generation_] {
        self->ready(id, name, generation);
      });
    }
  }

 private:
  const subscription_events stream_;
  const std::weak_ptr<redis_shard_channels> owner_;
  const stream_id id_;
  const std::string name_;
  const std::uint64_t generation_;
};

redis_shard_channels::redis_shard_channels(std::shared_ptr<redis_cluster> cluster,
                                           std::shared_ptr<pool::connection_factory> factory,
                                           asio::any_io_executor executor,
                                           std::size_t connections_per_node)
    : cluster_(std::move(cluster)),
      factory_(std::move(factory)),
      executor_(executor),
      strand_(protocol::make_io_strand(executor)),
      timer_(strand_),
      per_node_(connections_per_node) {}

std::shared_ptr<subscription> redis_shard_channels::subscribe(const v1::Subscribe& subscribe,
                                                              subscription_events events) {
  std::vector<std::string> names(subscribe.sources().begin(), subscribe.sources().end());
  static std::atomic<stream_id> ids{0};
  const auto id = ++ids;
  asio::post(strand_, [self = shared_from_this(), id, names = std::move(names),
                       events = std::move(events)]() mutable {
    self->join(id, std::move(names), std::move(events));
  });
  return std::make_shared<redis_pubsub_handle<redis_shard_channels, &redis_shard_channels::leave>>(
      weak_from_this(), strand_, id);
}

std::size_t redis_shard_channels::connections() const {
  std::lock_guard lock(hubs_mutex_);
  std::size_t n = 0;
  for (const auto& [address, hub] : hubs_) n += hub->connections();
  return n;
}

void redis_shard_channels::stop() {
  std::map<std::string, std::shared_ptr<redis_subscriber_hub>> hubs;
  {
    std::lock_guard lock(hubs_mutex_);
    hubs.swap(hubs_);
  }
  auto done = std::make_shared<std::promise<void>>();
  asio::post(strand_, [self = shared_from_this(), done] {
    self->stopped_ = true;
    self->timer_.cancel();
    self->streams_.clear();
    done->set_value();
  });
  done->get_future().wait_for(std::chrono::seconds(2));
  for (auto& [address, hub] : hubs) hub->stop();
}

void redis_shard_channels::join(stream_id id, std::vector<std::string> names,
                                subscription_events events) {
  if (stopped_) return;
  auto& s = streams_[id];
  s.events = std::move(events);
  for (auto& name : names) {
    // A channel named twice is subscribed once.
    if (std::any_of(s.channels.begin(), s.channels.end(),
                    [&](const channel& c) { return c.name == name; }))
      continue;
    channel c;
    c.slot = protocol::redis::key_slot(name);
    c.name = std::move(name);
    s.channels.push_back(std::move(c));
  }
  for (auto& c : s.channels) place(id, c);
  // Until the map is known, the channels wait for it.
  if (std::any_of(s.channels.begin(), s.channels.end(),
                  [](const channel& c) { return c.node.empty(); })) {
    cluster_->refresh_soon();
    arm(after_a_drop);
  } else {
    arm(reconcile_interval);
  }
}

void redis_shard_channels::leave(stream_id id) {
  const auto it = streams_.find(id);
  if (it == streams_.end()) return;
  for (auto& c : it->second.channels) unplace(c);
  streams_.erase(it);
  arm(reconcile_interval);  // to close the hubs no one uses now
}

void redis_shard_channels::place(stream_id id, channel& c) {
  const auto master = cluster_->master_of(c.slot);
  if (master.empty()) return;
  if (master == c.avoid && pool::clock::now() - c.dropped_at < avoid_for) {
    cluster_->refresh_soon();
    return;
  }
  c.avoid.clear();
  c.node = master;
  c.ready = false;
  const auto generation = ++c.generation;
  auto& s = streams_.at(id);
  v1::Subscribe one;
  one.set_kind(v1::SOURCE_KIND_SHARD);
  one.add_sources(c.name);
  c.sink = std::make_shared<placement_sink>(s.events, weak_from_this(), id, c.name, generation);
  const subscription_events e{c.sink, s.events.stream_key};
  const auto weak = weak_from_this();
  auto on_drop = [weak, id, name = c.name, generation] {
    if (auto self = weak.lock()) {
      asio::post(self->strand_,
                 [self, id, name, generation] { self->dropped(id, name, generation); });
    }
  };
  c.on = hub(master)->subscribe(one, std::move(e), std::move(on_drop));
}

void redis_shard_channels::unplace(channel& c) {
  if (c.on) c.on->stop([] {});
  c.on.reset();
  c.sink.reset();
  c.node.clear();
  c.ready = false;
  ++c.generation;
}

void redis_shard_channels::ready(stream_id id, const std::string& name, std::uint64_t generation) {
  const auto it = streams_.find(id);
  if (it == streams_.end()) return;
  auto& s = it->second;
  for (auto& c : s.channels) {
    if (c.name == name && c.generation == generation) c.ready = true;
  }
  if (s.ready_told ||
      !std::all_of(s.channels.begin(), s.channels.end(), [](const channel& c) { return c.ready; }))
    return;
  s.ready_told = true;
  s.events.ready();
}

void redis_shard_channels::dropped(stream_id id, const std::string& name,
                                   std::uint64_t generation) {
  const auto it = streams_.find(id);
  if (it == streams_.end()) return;
  for (auto& c : it->second.channels) {
    if (c.name != name || c.generation != generation) continue;
    spdlog::info("target '{}': node {} dropped shard channel '{}' (its slot {} moved)",
                 cluster_->name(), c.node, c.name, c.slot);
    c.avoid = c.node;
    c.dropped_at = pool::clock::now();
    unplace(c);
  }
  cluster_->refresh_soon();
  arm(after_a_drop);
}

void redis_shard_channels::reconcile() {
  if (stopped_) return;
  bool waiting = false;
  std::set<std::string> used;
  for (auto& [id, s] : streams_) {
    for (auto& c : s.channels) {
      const auto master = cluster_->master_of(c.slot);
      if (!c.node.empty() && !master.empty() && master != c.node) unplace(c);  // failed over
      if (c.node.empty()) place(id, c);
      if (c.node.empty()) {
        waiting = true;
      } else {
        used.insert(c.node);
      }
    }
  }
  // A node whose connections are all down may have failed over: ask for
  // the map (its replica's promotion shows there).
  std::vector<std::shared_ptr<redis_subscriber_hub>> unused;
  {
    std::lock_guard lock(hubs_mutex_);
    for (auto it = hubs_.begin(); it != hubs_.end();) {
      if (!used.contains(it->first)) {
        unused.push_back(std::move(it->second));
        it = hubs_.erase(it);
        continue;
      }
      if (it->second->connections() == 0) waiting = true;
      ++it;
    }
  }
  for (auto& h : unused) h->close();
  if (waiting) cluster_->refresh_soon();
  if (!streams_.empty()) arm(waiting ? after_a_drop * 5 : reconcile_interval);
}

void redis_shard_channels::arm(pool::millis after) {
  if (stopped_) return;
  // An earlier wake-up wins; a later one is not needed.
  if (armed_ && timer_.expiry() <= pool::clock::now() + after) return;
  armed_ = true;
  timer_.expires_after(after);
  timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (!self || ec == asio::error::operation_aborted) return;
    self->armed_ = false;
    self->reconcile();
  });
}

std::shared_ptr<redis_subscriber_hub> redis_shard_channels::hub(const std::string& address) {
  std::lock_guard lock(hubs_mutex_);
  if (const auto it = hubs_.find(address); it != hubs_.end()) return it->second;
  auto h = std::make_shared<redis_subscriber_hub>(cluster_->node_settings(address), factory_,
                                                  executor_, per_node_);
  return hubs_.emplace(address, std::move(h)).first->second;
}

}  // namespace brokerside::sidecar
