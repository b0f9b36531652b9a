#include "sidecar/adapters/redis/redis_adapter.h"

#include <algorithm>
#include <charconv>

#include "pool/errc.h"
#include "protocol/errc.h"
#include "protocol/redis/command_classes.h"
#include "protocol/redis/commands.h"
#include "protocol/redis/connection.h"
#include "sidecar/adapters/redis/redis_options.h"
#include "sidecar/adapters/redis/redis_pooled_connection.h"
#include "sidecar/adapters/redis/redis_subscriber_hub.h"
#include "sidecar/config_section.h"
#include "sidecar/pooled_factory.h"
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
  explicit operations(std::shared_ptr<redis_subscriber_hub> hub) : hub_(std::move(hub)) {}

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
  std::size_t subscriber_connections() const override { return hub_->connections(); }

  std::shared_ptr<subscription> start_subscription(const v1::Subscribe& subscribe,
                                                   std::uint32_t /*credit*/,
                                                   pool::connection* /*conn*/,
                                                   subscription_events events) const override {
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
        args, [publish, done = std::move(done)](std::error_code ec, redis::value v, bool written) {
          done(outcome_of(publish, ec, std::move(v), written));
        });
  }

 private:
  static attempt_outcome outcome_of(bool publish, std::error_code ec, redis::value v,
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
      // The server did not run it and will soon: retried like a lost
      // connection, and safe to retry whatever the command.
      r = {make_error_code(pool::errc::unavailable), failure_kind::connection, false,
           "redis: " + v.text};
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

  std::shared_ptr<redis_subscriber_hub> hub_;  // the target's shared subscriber connections
};

adapter_binding make_binding(const target_settings& target, boost::asio::any_io_executor executor) {
  // Replies come back in order, so one connection pipelines many commands.
  constexpr std::uint32_t connection_cap = 1024;
  auto factory = std::make_shared<pooled_factory<redis_pooled_connection>>(target, connection_cap);
  auto hub = std::make_shared<redis_subscriber_hub>(
      std::make_shared<const target_settings>(target), factory, std::move(executor),
      target.options_as<redis_options>().subscriber_connections);
  return {factory, std::make_shared<operations>(hub), {}, hub};
}

std::shared_ptr<const adapter_options> read_options(const config_section& s,
                                                    const target_settings&) {
  auto o = std::make_shared<redis_options>();
  s.read("subscriber_connections", o->subscriber_connections, 1, 1024);
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
                  {.scheme = "unix", .unix_socket = true}},
      .read_options = read_options,
      .make = make_binding,
      .command_class_names = redis::category_names(),
      .command_classes = redis::command_categories,
      .command_destination = publish_channel,
  };
  return descriptor;
}

}  // namespace brokerside::sidecar
