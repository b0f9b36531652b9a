#include "sidecar/framed_adapter.h"

#include <spdlog/spdlog.h>

#include <limits>

#include "pool/errc.h"
#include "protocol/errc.h"
#include "protocol/framed/connection.h"
#include "protocol/framed/json.h"
#include "sidecar/pooled_factory.h"
#include "sidecar/status.h"

namespace brokerside::sidecar {
namespace {

namespace framed = protocol::framed;

grpc::Status invalid(std::string text) {
  return to_status(pool::errc::invalid_operation, "framed: " + std::move(text));
}

// v1::Value -> the channel's value tree.
grpc::Status to_framed(const v1::Value& in, framed::value& out) {
  switch (in.kind_case()) {
    case v1::Value::kNull:
      out = std::monostate{};
      break;
    case v1::Value::kInteger:
      out = static_cast<std::int64_t>(in.integer());
      break;
    case v1::Value::kBytes:
      out = framed::bin{in.bytes()};
      break;
    case v1::Value::kText:
      out = in.text();
      break;
    case v1::Value::kDouble:
      out = in.double_();
      break;
    case v1::Value::kBoolean:
      out = in.boolean();
      break;
    case v1::Value::kArray:
    case v1::Value::kSet: {
      framed::array array;
      for (const auto& v : (in.has_array() ? in.array() : in.set()).values()) {
        array.emplace_back();
        if (auto status = to_framed(v, array.back()); !status.ok()) return status;
      }
      out = std::move(array);
      break;
    }
    case v1::Value::kMap: {
      framed::map map;
      for (const auto& entry : in.map().entries()) {
        map.emplace_back();
        if (auto status = to_framed(entry.key(), map.back().key); !status.ok()) return status;
        if (auto status = to_framed(entry.value(), map.back().val); !status.ok()) return status;
      }
      out = std::move(map);
      break;
    }
    default:
      return invalid("an error or big_number value cannot be sent to a framed peer");
  }
  return grpc::Status::OK;
}

// The channel's value tree -> v1::Value. An integer above INT64_MAX becomes
// a big_number; a msgpack ext, its bytes.
void to_v1(framed::value&& in, v1::Value& out) {
  std::visit(
      [&](auto& v) {
        using t = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<t, std::monostate>) {
          out.set_null(true);
        } else if constexpr (std::is_same_v<t, bool>) {
          out.set_boolean(v);
        } else if constexpr (std::is_same_v<t, std::int64_t>) {
          out.set_integer(v);
        } else if constexpr (std::is_same_v<t, std::uint64_t>) {
          out.set_big_number(std::to_string(v));
        } else if constexpr (std::is_same_v<t, double> || std::is_same_v<t, float>) {
          out.set_double_(v);
        } else if constexpr (std::is_same_v<t, std::string>) {
          out.set_text(std::move(v));
        } else if constexpr (std::is_same_v<t, framed::bin>) {
          out.set_bytes(std::move(v.bytes));
        } else if constexpr (std::is_same_v<t, framed::ext>) {
          out.set_bytes(std::move(v.data));
        } else if constexpr (std::is_same_v<t, framed::array>) {
          auto& array = *out.mutable_array();
          for (auto& e : v) to_v1(std::move(e), *array.add_values());
        } else {
          auto& map = *out.mutable_map();
          for (auto& e : v) {
            auto& entry = *map.add_entries();
            to_v1(std::move(e.key), *entry.mutable_key());
            to_v1(std::move(e.val), *entry.mutable_value());
          }
        }
      },
      static_cast<framed::value_variant&>(in));
}

// The request's content: a Value as it is, JSON text parsed (so the peer
// gets the object, not a string), body bytes as bin.
grpc::Status content_of(const v1::Message& message, framed::value& out) {
  switch (message.content_case()) {
    case v1::Message::kValue:
      return to_framed(message.value(), out);
    case v1::Message::kJson:
      if (framed::decode_json(message.json(), out)) {
        return invalid("message.json: not JSON the channel can carry");
      }
      return grpc::Status::OK;
    default:
      out = framed::bin{message.body()};
      return grpc::Status::OK;
  }
}

// The result, in the form its request used.
void result_to(v1::Message::ContentCase form, framed::value&& result, v1::Message& out) {
  if (form == v1::Message::kJson) {
    std::string json;
    if (!framed::encode_json(result, json)) return out.set_json(std::move(json));
  } else if (form != v1::Message::kValue) {
    if (auto* b = std::get_if<framed::bin>(&result)) return out.set_body(std::move(b->bytes));
  }
  to_v1(std::move(result), *out.mutable_value());
}

class pooled_connection final : public pool::connection {
 public:
  pooled_connection(boost::asio::any_io_executor executor,
                    std::shared_ptr<const pool::target_config> target)
      : executor_(executor),
        conn_(framed::connection::create(std::move(executor))),
        target_(std::move(target)) {}
  ~pooled_connection() override { conn_->close(); }

  boost::asio::any_io_executor executor() const { return executor_; }

  void connect(const pool::broker_url& url, pool::millis timeout, completion done) override {
    framed::connect_options o;
    o.to = endpoint_for(url, *target_, 0);  // no default port: the URL must give one
    o.codec = url.option("codec").value_or("json") == "msgpack" ? framed::codec::msgpack
                                                                : framed::codec::json;
    o.timeout = timeout;
    o.max_frame = static_cast<std::uint32_t>(std::min<std::uint64_t>(
        target_->max_frame_bytes, std::numeric_limits<std::uint32_t>::max()));
    o.limits.max_bytes = o.max_frame;
    conn_->connect(std::move(o), std::move(done));
  }

  // No ping in the channel protocol: an idle connection is as healthy as its socket.
  void health_check(completion done) override { done({}); }

  void close() override { conn_->close(); }

  void on_lost(completion lost) override {
    conn_->on_lost([conn = std::weak_ptr<framed::connection>(conn_), name = target_->name,
                    lost = std::move(lost)](std::error_code ec) {
      // A peer that breaks the protocol: this one connection is closed and
      // said so; the others serve on.
      if (auto c = conn.lock(); c && !c->protocol_error().empty()) {
        spdlog::warn("target {}: closed a connection for a protocol error: {}", name,
                     c->protocol_error());
      }
      lost(ec);
    });
  }

  framed::connection& channel() { return *conn_; }

 private:
  boost::asio::any_io_executor executor_;
  std::shared_ptr<framed::connection> conn_;
  std::shared_ptr<const pool::target_config> target_;
};

class operations final : public operation_adapter {
 public:
  grpc::Status check(const v1::SendRequest& request, bool /*leased*/) const override {
    if (!request.has_request()) {
      return invalid("a framed peer takes requests (Send.request); no command or publish");
    }
    framed::value ignored;
    return content_of(request.request().message(), ignored);
  }

  bool idempotent(const v1::SendRequest&) const override { return false; }

  void attempt(const v1::SendRequest& request, pool::connection& conn, v1::SendResponse& response,
               std::string& error_text, pool::time_point deadline,
               pool::target_pool::attempt_done done) const override {
    auto& pooled = static_cast<pooled_connection&>(conn);
    auto& channel = pooled.channel();
    framed::value content;
    (void)content_of(request.request().message(), content);  // checked by check()
    const auto form = request.request().message().content_case();
    // Past the caller's deadline the answer is no longer wanted: the request
    // is abandoned, so its answer is dropped when it comes.
    auto timer = std::make_shared<boost::asio::steady_timer>(pooled.executor(), deadline);
    std::int64_t id = 0;
    auto answered = [&response, &error_text, form, timer, done](
                        std::error_code ec, framed::message_type answer, framed::value result,
                        bool written) {
      timer->cancel();
      if (ec) {
        error_text = "framed: " + ec.message();
        return done({ec, pool::failure_kind::connection, written});
      }
      if (answer == framed::message_type::exception) {
        const auto* text = std::get_if<std::string>(&result);
        error_text = "framed: remote exception: " + (text ? *text : std::string("(no text)"));
        return done(
            {make_error_code(pool::errc::remote_exception), pool::failure_kind::operation, true});
      }
      result_to(form, std::move(result), *response.mutable_response());
      done({});
    };
    if (auto ec = channel.request(content, std::move(answered), id)) {
      error_text = "framed: the request's content cannot be encoded by the target's codec (" +
                   ec.message() + "); JSON carries no bytes";
      return done(
          {make_error_code(pool::errc::invalid_operation), pool::failure_kind::operation, false});
    }
    timer->async_wait([weak = std::weak_ptr<framed::connection>(channel.shared_from_this()),
                       id](boost::system::error_code ec) {
      if (auto c = weak.lock(); !ec && c) c->abandon(id);
    });
  }
};

}  // namespace

// Answers are matched by id, in any order: many requests share a channel.
constexpr std::uint32_t connection_cap = 1024;

adapter_binding make_framed_adapter(const pool::target_config& target) {
  return {std::make_shared<pooled_factory<pooled_connection>>(target, connection_cap),
          std::make_shared<operations>(),
          {}};
}

}  // namespace brokerside::sidecar
