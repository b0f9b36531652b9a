#include "sidecar/adapters/redis/redis_adapter.h"

#include <algorithm>
#include <charconv>
#include <tuple>

#include "pool/errc.h"
#include "protocol/errc.h"
#include "protocol/redis/cluster.h"
#include "protocol/redis/command_classes.h"
#include "protocol/redis/command_keys.h"
#include "protocol/redis/commands.h"
#include "protocol/redis/connection.h"
#include "sidecar/adapters/redis/redis_cluster.h"
#include "sidecar/adapters/redis/redis_cluster_spread.h"
#include "sidecar/adapters/redis/redis_options.h"
#include "sidecar/adapters/redis/redis_pooled_connection.h"
#include "sidecar/adapters/redis/redis_sentinel_watch.h"
#include "sidecar/adapters/redis/redis_shard_channels.h"
#include "sidecar/adapters/redis/redis_subscriber_hub.h"
#include "sidecar/config_section.h"
#include "sidecar/status.h"

namespace brokerside::sidecar {
namespace {

namespace redis = protocol::redis;

std::string upper(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

// Moves the reply's strings into the response rather than copying them.
void to_v1(redis::value&& in, v1::Value& out) {
  using t = redis::resp_type;
  switch (in.type) {
    case t::simple_string:
    case t::verbatim:
      out.set_text(std::move(in.text));
      break;
    case t::error:
      out.set_error(std::move(in.text));
      break;
    case t::integer:
      out.set_integer(in.integer);
      break;
    case t::bulk_string:
      out.set_bytes(std::move(in.text));
      break;
    case t::null:
      out.set_null(true);
      break;
    case t::double_value:
      out.set_double_(in.number);
      break;
    case t::boolean:
      out.set_boolean(in.boolean);
      break;
    case t::big_number:
      out.set_big_number(std::move(in.text));
      break;
    case t::array:
    case t::push:
    case t::set: {
      auto& array = in.type == t::set ? *out.mutable_set() : *out.mutable_array();
      for (auto& e : in.elements) to_v1(std::move(e), *array.add_values());
      break;
    }
    case t::map: {
      auto& map = *out.mutable_map();
      for (std::size_t i = 0; i + 1 < in.elements.size(); i += 2) {
        auto& entry = *map.add_entries();
        to_v1(std::move(in.elements[i]), *entry.mutable_key());
        to_v1(std::move(in.elements[i + 1]), *entry.mutable_value());
      }
      break;
    }
  }
}

class operations final : public operation_adapter {
 public:
  operations(std::shared_ptr<redis_subscriber_hub> hub, std::shared_ptr<redis_cluster> cluster,
             std::shared_ptr<redis_shard_channels> shards, bool sentinel)
      : hub_(std::move(hub)),
        cluster_(std::move(cluster)),
        shards_(std::move(shards)),
        sentinel_(sentinel) {}

  // A cluster's command goes to the master of its keys' slot; one without
  // keys (or a PUBLISH, which every node passes on) to the seeds' pool.
  grpc::Status route(const v1::SendRequest& request,
                     std::shared_ptr<pool::target_pool>& pool) const override {
    if (!cluster_ || !request.has_command()) return grpc::Status::OK;
    const auto& given = request.command().args();
    const std::vector<std::string_view> args(given.begin(), given.end());
    const auto slot = redis::slot_of(args);
    using kind = redis::command_slot::kind;
    if (slot.what == kind::crossing) {
      return to_status(pool::errc::invalid_operation,
                       "redis: keys in different slots ('" + std::string(slot.key) + "' in " +
                           std::to_string(slot.slot) + ", '" + std::string(slot.other) + "' in " +
                           std::to_string(slot.other_slot) +
                           "): in a Redis Cluster every key of one command must hash to one "
                           "slot; give them a common {hash tag}");
    }
    if (slot.what != kind::one) return grpc::Status::OK;
    pool = cluster_->reads_from_replicas() && redis::is_read_only(args[0])
               ? cluster_->pool_for_read(slot.slot)
               : cluster_->pool_for(slot.slot);
    return grpc::Status::OK;
  }

  // A cluster's DBSIZE, KEYS, SCAN, FLUSHALL, SCRIPT LOAD, ...: every master's.
  grpc::Status spread(const v1::SendRequest& request,
                      std::optional<spread_operation>& spread) const override {
    if (!cluster_) return grpc::Status::OK;
    return spread_on_cluster(*cluster_, request, spread);
  }

  // A cluster's lease is a connection to the master of its routing key.
  grpc::Status route_acquire(const v1::AcquireRequest& request,
                             std::shared_ptr<pool::target_pool>& pool,
                             std::string& tag) const override {
    if (!cluster_) return grpc::Status::OK;
    if (request.routing_key().empty()) {
      return to_status(pool::errc::invalid_operation,
                       "routing_key: required on a Redis Cluster target: the key whose master "
                       "the lease's connection is on");
    }
    auto node = cluster_->node_for(redis::key_slot(request.routing_key()));
    if (!node) {
      return to_status(pool::errc::unavailable,
                       "redis: the cluster's slot map is not known yet; try again");
    }
    std::tie(pool, tag) = std::move(*node);
    return grpc::Status::OK;
  }

  std::shared_ptr<pool::target_pool> lease_pool(std::string_view tag) const override {
    return cluster_ ? cluster_->pool_of(tag) : nullptr;
  }

  grpc::Status check(const v1::SendRequest& request, bool leased) const override {
    if (request.has_request()) {
      return to_status(pool::errc::invalid_operation,
                       "redis: no request/reply over Redis; use command or publish");
    }
    if (request.has_publish()) {
      const auto& publish = request.publish();
      if (publish.destination().empty()) {
        return to_status(pool::errc::invalid_operation, "publish.destination: the Redis channel");
      }
      if (publish.message().has_value()) {
        return to_status(pool::errc::invalid_operation,
                         "publish.message: Redis messages are bytes: give body or json, not value");
      }
      return grpc::Status::OK;
    }
    const auto& args = request.command().args();
    if (redis::changes_protocol(args[0])) {
      return to_status(pool::errc::needs_lease,
                       "redis: " + upper(args[0]) +
                           " changes the connection's protocol; it cannot "
                           "be sent" +
                           (redis::is_subscribe(args[0]) ? " (use Recv)" : ""));
    }
    if (!leased && redis::needs_own_connection(args)) {
      return to_status(pool::errc::needs_lease,
                       "redis: " + upper(args[0]) +
                           " blocks or changes its connection; Acquire a lease and send it there");
    }
    return grpc::Status::OK;
  }

  grpc::Status check_subscribe(const v1::Subscribe& subscribe) const override {
    if (subscribe.sources().empty()) {
      return to_status(pool::errc::invalid_operation,
                       "subscribe.sources: the channels or patterns");
    }
    return grpc::Status::OK;
  }

  // Redis pub/sub has no acknowledgements: deliveries are at most once, and
  // a slow stream drops (and reports) what does not fit its credit. Every
  // stream's sources go over the target's shared subscriber connections.
  bool subscribes_on_a_connection() const override { return false; }
  std::size_t subscriber_connections() const override {
    return hub_->connections() + (shards_ ? shards_->connections() : 0);
  }

  std::shared_ptr<subscription> start_subscription(const v1::Subscribe& subscribe,
                                                   std::uint32_t /*credit*/,
                                                   pool::connection* /*conn*/,
                                                   subscription_events events) const override {
    // A cluster's shard channels live on their slots' masters; channels
    // and patterns on any node (the seeds').
    if (shards_ && subscribe.kind() == v1::SOURCE_KIND_SHARD) {
      return shards_->subscribe(subscribe, std::move(events));
    }
    return hub_->subscribe(subscribe, std::move(events));
  }

  // PUBLISH is not idempotent: a re-run delivers the message twice.
  bool idempotent(const v1::SendRequest& request) const override {
    return request.has_command() && redis::is_read_only(request.command().args(0));
  }

  // A command written cannot be taken back from the pipeline: at the
  // deadline (`cancel`) its reply is left to come, and the pool drops it.
  void attempt(const v1::SendRequest& request, pool::connection& conn,
               boost::asio::cancellation_slot /*cancel*/, outcome_handler done) const override {
    const bool publish = request.has_publish();
    // Views of the request's own bytes: execute() encodes them straight
    // into the connection's output, the payload's only copy.
    std::vector<std::string_view> args;
    if (publish) {
      const auto& message = request.publish().message();
      args = {"PUBLISH", request.publish().destination(),
              message.has_json() ? message.json() : message.body()};
    } else {
      args.assign(request.command().args().begin(), request.command().args().end());
    }
    static_cast<redis_pooled_connection&>(conn).redis().execute(
        args, [publish, how = how_served(), done = std::move(done)](std::error_code ec,
                                                                    redis::value v, bool written) {
          done(outcome_of(publish, how, ec, std::move(v), written));
        });
  }

 private:
  // What answers mean beyond one server's: redirections, a demoted primary.
  enum class served { alone, cluster, sentinel };
  served how_served() const {
    return cluster_ ? served::cluster : sentinel_ ? served::sentinel : served::alone;
  }

  static attempt_outcome outcome_of(bool publish, served how, std::error_code ec, redis::value v,
                                    bool written) {
    using pool::failure_kind;
    attempt_outcome out;
    auto& r = out.result;
    if (ec == protocol::errc::frame_too_large) {
      // Not retried: the same reply would be as large again.
      r = {make_error_code(pool::errc::message_too_large), failure_kind::operation, true,
           "redis: the reply is larger than the target's max_frame_bytes"};
    } else if (ec) {
      r = {ec, failure_kind::connection, written, "redis: " + ec.message()};
    } else if (v.type == redis::resp_type::error && redis::refused_for_now(v.text)) {
      // The server did not run it and will soon: retried with backoff, on
      // the same connection, whatever the command.
      r = {make_error_code(pool::errc::unavailable), failure_kind::try_again, false,
           "redis: " + v.text};
    } else if (how == served::sentinel && v.type == redis::resp_type::error &&
               v.text.starts_with("READONLY ")) {
      // The primary was demoted under us (a failover): not run; the
      // connection is closed and the next one asks a sentinel again.
      r = {make_error_code(pool::errc::unavailable), failure_kind::connection, false,
           "redis: " + v.text};
    } else if (const auto moved = v.type == redis::resp_type::error && how == served::cluster
                                      ? redis::parse_redirection(v.text)
                                      : std::nullopt) {
      // Not run here: the cluster's router runs it on the node named.
      r = {make_error_code(pool::errc::broker_refused),
           failure_kind::operation,
           false,
           "redis: " + v.text,
           moved->address,
           moved->ask};
    } else if (!publish) {
      to_v1(std::move(v), *out.response.mutable_reply());
    } else if (v.type == redis::resp_type::error) {
      r = {make_error_code(pool::errc::broker_refused), failure_kind::operation, true,
           "redis: " + v.text};
    } else {
      out.response.mutable_published()->set_receivers(v.integer);
    }
    return out;
  }

  std::shared_ptr<redis_subscriber_hub> hub_;     // the target's shared subscriber connections
  std::shared_ptr<redis_cluster> cluster_;        // a cluster's nodes and slot map; else null
  std::shared_ptr<redis_shard_channels> shards_;  // a cluster's shard channels; else null
  bool sentinel_;                                 // a Sentinel-managed primary
};

// What a Redis target runs beside its pool: the subscriber hub, and for a
// cluster its nodes, for a Sentinel target the watch on the sentinels.
class redis_services final : public target_service {
 public:
  redis_services(std::shared_ptr<redis_subscriber_hub> hub, std::shared_ptr<redis_cluster> cluster,
                 std::shared_ptr<redis_shard_channels> shards,
                 std::shared_ptr<redis_sentinel_watch> watch)
      : hub_(std::move(hub)),
        cluster_(std::move(cluster)),
        shards_(std::move(shards)),
        watch_(std::move(watch)) {}
  void attach(std::shared_ptr<pool::target_pool> pool) override {
    if (cluster_) cluster_->attach(pool);
  }
  // A cluster can route nothing before its slot map is read.
  void watch_ready(std::function<void(bool)> changed) override {
    if (cluster_) return cluster_->watch_ready(std::move(changed));
    changed(true);
  }
  void start() override {
    hub_->start();
    if (cluster_) cluster_->start();
    if (watch_) watch_->start();
  }
  void stop() override {
    if (watch_) watch_->stop();
    hub_->stop();
    if (shards_) shards_->stop();
    if (cluster_) cluster_->stop();
  }
  void node_stats(std::function<void(std::vector<pool::target_stats>)> done) const override {
    if (!cluster_) return done({});
    cluster_->node_stats(std::move(done));
  }

 private:
  std::shared_ptr<redis_subscriber_hub> hub_;
  std::shared_ptr<redis_cluster> cluster_;        // or null
  std::shared_ptr<redis_shard_channels> shards_;  // or null
  std::shared_ptr<redis_sentinel_watch> watch_;   // or null
};

adapter_binding make_binding(const target_settings& target, boost::asio::any_io_executor executor) {
  // Replies come back in order, so one connection pipelines many commands.
  constexpr std::uint32_t connection_cap = 1024;
  using route = redis_pooled_connection::route;
  const auto& options = target.options_as<redis_options>();
  auto settings = std::make_shared<const target_settings>(target);
  std::shared_ptr<redis_sentinel_watch> watch;
  if (options.sentinel) {
    watch = std::make_shared<redis_sentinel_watch>(
        settings,
        std::make_shared<redis_connection_factory>(settings, route::to_sentinel, nullptr, 1),
        executor, target.urls.front().path);
  }
  auto factory = std::make_shared<redis_connection_factory>(
      settings, options.sentinel ? route::via_sentinel : route::direct, watch, connection_cap);
  auto hub = std::make_shared<redis_subscriber_hub>(settings, factory, executor,
                                                    options.subscriber_connections);
  std::shared_ptr<redis_cluster> cluster;
  std::shared_ptr<redis_shard_channels> shards;
  if (options.cluster) {
    auto replicas = options.read_from_replicas
                        ? std::make_shared<redis_connection_factory>(settings, route::direct,
                                                                     nullptr, connection_cap, true)
                        : nullptr;
    cluster = std::make_shared<redis_cluster>(settings, factory, std::move(replicas), executor,
                                              options.cluster_refresh_interval);
    shards = std::make_shared<redis_shard_channels>(cluster, factory, std::move(executor),
                                                    options.subscriber_connections);
  }
  return {factory,
          std::make_shared<operations>(hub, cluster, shards, options.sentinel),
          {},
          std::make_shared<redis_services>(hub, cluster, shards, watch)};
}

std::shared_ptr<const adapter_options> read_options(const config_section& s,
                                                    const target_settings& target) {
  auto o = std::make_shared<redis_options>();
  s.read("subscriber_connections", o->subscriber_connections, 1, 1024);
  o->cluster = std::any_of(target.urls.begin(), target.urls.end(),
                           [](const auto& url) { return url.scheme.ends_with("+cluster"); });
  s.read("cluster", o->cluster);
  s.read("cluster_refresh_interval", o->cluster_refresh_interval);
  s.read("read_from_replicas", o->read_from_replicas);
  if (o->read_from_replicas && !o->cluster) {
    config_fail(s.path("read_from_replicas"), "only for a Redis Cluster target");
  }
  o->sentinel = std::any_of(target.urls.begin(), target.urls.end(),
                            [](const auto& url) { return url.scheme.ends_with("+sentinel"); });
  if (o->sentinel) {
    for (const auto& url : target.urls) {
      if (!url.scheme.ends_with("+sentinel")) {
        config_fail(s.where(), "mixes sentinel URLs (redis+sentinel://) with others ('" +
                                   url.redacted + "'): give only sentinels");
      }
      if (url.path.empty() || url.path != target.urls.front().path) {
        config_fail(s.where(),
                    "a sentinel URL names the primary as its path, the same in each "
                    "(redis+sentinel://host:26379/mymaster)");
      }
    }
    if (o->cluster) config_fail(s.where(), "is a Redis Cluster or Sentinel-managed, not both");
    s.read("sentinel_username", o->sentinel_username);
    o->sentinel_password = read_secret(s, "sentinel_password");
  } else {
    for (const auto* key :
         {"sentinel_username", "sentinel_password_file", "sentinel_password_env"}) {
      std::string given;
      s.read(key, given);
      if (!given.empty())
        config_fail(s.path(key), "only for a Sentinel target (redis+sentinel://)");
    }
  }
  if (o->cluster) {
    if (o->cluster_refresh_interval.count() <= 0) {
      config_fail(s.path("cluster_refresh_interval"), "must be above 0");
    }
    for (const auto& url : target.urls) {
      if (!url.unix_path.empty()) {
        config_fail(s.where(), "a Redis Cluster's seed nodes are host:port, not a Unix socket");
      }
    }
  }
  return o;
}

// PUBLISH's and SPUBLISH's channel: a command that reaches a destination.
std::optional<std::string_view> publish_channel(const v1::Command& command) {
  const auto& args = command.args();
  if (args.size() >= 2 &&
      (redis::iequals(args[0], "PUBLISH") || redis::iequals(args[0], "SPUBLISH")))
    return args[1];
  return std::nullopt;
}

}  // namespace

const adapter_descriptor& redis_adapter() {
  static const adapter_descriptor descriptor{
      .name = "redis",
      .schemes = {{.scheme = "redis", .default_port = 6379},
                  {.scheme = "rediss", .tls = true, .default_port = 6379},
                  {.scheme = "redis+unix", .unix_socket = true},
                  {.scheme = "unix", .unix_socket = true},
                  {.scheme = "redis+cluster", .default_port = 6379},
                  {.scheme = "rediss+cluster", .tls = true, .default_port = 6379},
                  {.scheme = "redis+sentinel", .default_port = 26379},
                  {.scheme = "rediss+sentinel", .tls = true, .default_port = 26379}},
      .read_options = read_options,
      .make = make_binding,
      .command_class_names = redis::category_names(),
      .command_classes = redis::command_categories,
      .command_destination = publish_channel,
  };
  return descriptor;
}

}  // namespace brokerside::sidecar
