#include "sidecar/adapters/framed/framed_adapter.h"

#include <spdlog/spdlog.h>

#include <future>
#include <limits>

#include "pool/errc.h"
#include "protocol/errc.h"
#include "protocol/framed/acceptor.h"
#include "protocol/framed/connection.h"
#include "sidecar/adapters/framed/framed_options.h"
#include "sidecar/adapters/framed/framed_peer_requests.h"
#include "sidecar/adapters/framed/framed_translate.h"
#include "sidecar/config_section.h"
#include "sidecar/pooled_factory.h"
#include "sidecar/startup_error.h"
#include "sidecar/status.h"

namespace brokerside::sidecar {
namespace {

namespace framed = protocol::framed;

// The schemes of framed targets, and of their listen URLs.
const std::vector<pool::url_scheme> schemes{{.scheme = "framed"},
                                            {.scheme = "framed+unix", .unix_socket = true}};

std::shared_ptr<const adapter_options> read_options(const config_section& s,
                                                    const target_settings&) {
  auto o = std::make_shared<framed_options>();
  std::string listen;
  s.read("listen", listen);
  if (!listen.empty()) {
    const auto where = s.path("listen");
    std::string error;
    auto url = pool::parse_broker_url(listen, schemes, error);
    if (!url) config_fail(where, error);
    if (url->unix_path.empty() && url->port == 0) {
      config_fail(where, "'" + url->redacted + "' needs a port (e.g. framed://127.0.0.1:9100)");
    }
    if (url->unix_path.empty() && !protocol::is_ip_address(url->host)) {
      config_fail(where, "'" + url->host +
                             "' is not an IP address (listen on 127.0.0.1, ::1, 0.0.0.0, ...)");
    }
    if (url->unix_path.size() > protocol::max_unix_path()) {
      config_fail(where, "the socket path is longer than " +
                             std::to_string(protocol::max_unix_path()) + " bytes");
    }
    o->listen = std::move(*url);
  }
  s.read("reply_timeout", o->reply_timeout);
  if (o->reply_timeout <= std::chrono::milliseconds(0)) {
    config_fail(s.path("reply_timeout"), "must be positive");
  }
  return o;
}

grpc::Status invalid(std::string text) {
  return to_status(pool::errc::invalid_operation, "framed: " + std::move(text));
}

// How long a channel closing gracefully may take to write what is queued.
constexpr std::chrono::milliseconds flush_limit{1000};

framed::codec codec_of(const pool::broker_url& url) {
  return url.option("codec").value_or("json") == "msgpack" ? framed::codec::msgpack
                                                           : framed::codec::json;
}

// What every channel of the target, ours or a client's, reads with.
framed::connect_options channel_options(const pool::broker_url& url,
                                        const target_settings& target) {
  framed::connect_options o;
  o.codec = codec_of(url);
  o.max_frame = static_cast<std::uint32_t>(
      std::min<std::uint64_t>(target.max_frame_bytes, std::numeric_limits<std::uint32_t>::max()));
  o.limits.max_bytes = o.max_frame;
  return o;
}

// Says why a channel closed for a peer that broke the protocol: that one
// connection is closed and said so; the others serve on.
void log_protocol_error(const framed::connection& conn, const std::string& target,
                        const char* whose) {
  if (conn.protocol_error().empty()) return;
  spdlog::warn("target {}: closed {} for a protocol error: {}", target, whose,
               conn.protocol_error());
}

class pooled_connection final : public pool::connection {
 public:
  pooled_connection(boost::asio::any_io_executor executor,
                    std::shared_ptr<const target_settings> target,
                    framed_peer_requests& peer_requests)
      : conn_(framed::connection::create(std::move(executor))), target_(std::move(target)) {
    peer_requests.attach(*conn_);
  }
  // The pool lets a channel go (idle, too old, stopping): answers to the
  // peer's requests already queued on it still go out.
  ~pooled_connection() override { conn_->close_when_written(flush_limit); }

  void connect(const pool::broker_url& url, pool::millis timeout, completion done) override {
    auto o = channel_options(url, *target_);
    o.to = endpoint_for(url, *target_);  // no default port: the URL must give one
    o.timeout = timeout;
    conn_->connect(std::move(o), std::move(done));
  }

  // No ping in the channel protocol: an idle connection is as healthy as its socket.
  void health_check(completion done) override { done({}); }

  void close() override { conn_->close_when_written(flush_limit); }

  void on_lost(completion lost) override {
    conn_->on_lost([conn = std::weak_ptr<framed::connection>(conn_), name = target_->name,
                    lost = std::move(lost)](std::error_code ec) {
      if (auto c = conn.lock()) log_protocol_error(*c, name, "a connection");
      lost(ec);
    });
  }

  framed::connection& channel() { return *conn_; }

 private:
  std::shared_ptr<framed::connection> conn_;
  std::shared_ptr<const target_settings> target_;
};

// Makes the target's pooled channels, each taking the peer's requests.
class factory final : public pool::connection_factory {
 public:
  factory(const target_settings& target, std::shared_ptr<framed_peer_requests> peer_requests)
      : target_(std::make_shared<const target_settings>(target)),
        peer_requests_(std::move(peer_requests)) {}

  std::unique_ptr<pool::connection> make(boost::asio::any_io_executor executor) override {
    return std::make_unique<pooled_connection>(std::move(executor), target_, *peer_requests_);
  }

  // Answers are matched by id, in any order: many requests share a channel.
  std::uint32_t per_connection_cap() const override { return 1024; }

 private:
  std::shared_ptr<const target_settings> target_;
  std::shared_ptr<framed_peer_requests> peer_requests_;
};

// The channels a framed target's peers open to its listen address (aiomas
// open_connection): their requests go to the target's Recv streams like
// those on our own channels. We send them no requests.
class peer_listener final {
 public:
  peer_listener(boost::asio::any_io_executor executor, const target_settings& target,
                std::shared_ptr<framed_peer_requests> peer_requests)
      : name_(target.name),
        url_(*target.options_as<framed_options>().listen),
        at_(endpoint_for(url_, target)),  // plain: the options refuse TLS here
        acceptor_(framed::acceptor::create(std::move(executor), channel_options(url_, target),
                                           events(target.name, std::move(peer_requests)))) {}

  void start() {
    if (auto ec = acceptor_->listen(at_)) {
      throw startup_error("targets." + name_ + ".listen: cannot listen on " + url_.redacted + ": " +
                          ec.message());
    }
    spdlog::info("target {}: accepting framed clients on {}", name_,
                 url_.unix_path.empty() ? url_.host + ":" + std::to_string(acceptor_->port())
                                        : url_.unix_path);
    acceptor_->start();
  }

  // Stops accepting; each client's channel closes once its answers are out.
  // Call from outside the io threads.
  void stop() {
    auto stopped = std::make_shared<std::promise<void>>();
    acceptor_->stop(flush_limit, [stopped] { stopped->set_value(); });
    stopped->get_future().wait_for(std::chrono::seconds(2));
  }

 private:
  static framed::acceptor::events events(const std::string& name,
                                         std::shared_ptr<framed_peer_requests> peer_requests) {
    framed::acceptor::events ev;
    ev.admitted = [name, peer_requests](const std::shared_ptr<framed::connection>& conn) {
      peer_requests->attach(*conn);
      // The channel keeps itself alive while it reads; lost, it is let go.
      conn->on_lost([weak = std::weak_ptr<framed::connection>(conn), name](std::error_code ec) {
        if (auto c = weak.lock()) log_protocol_error(*c, name, "a framed client's channel");
        spdlog::debug("target {}: a framed client left: {}", name, ec.message());
      });
    };
    ev.refused = [name](std::size_t connected) {
      spdlog::warn("target {}: refused a framed client: {} are connected already", name, connected);
    };
    ev.accept_failed = [name](std::error_code ec) {
      spdlog::warn("target {}: accepting a framed client failed: {}", name, ec.message());
    };
    return ev;
  }

  std::string name_;                            // the target's
  pool::broker_url url_;                        // targets.<name>.listen
  protocol::endpoint at_;                       // where url_ says
  std::shared_ptr<framed::acceptor> acceptor_;  // the accept loop and its clients
};

// What a framed target runs beside its pool: the router of its peers'
// requests, and the listener when it has a listen URL. At shutdown what is
// still unanswered is answered before channels close.
class framed_service final : public target_service {
 public:
  framed_service(std::shared_ptr<framed_peer_requests> peer_requests,
                 std::shared_ptr<peer_listener> listener)
      : peer_requests_(std::move(peer_requests)), listener_(std::move(listener)) {}

  void start() override {
    if (listener_) listener_->start();
  }

  void stop() override {
    peer_requests_->stop();
    if (listener_) listener_->stop();
  }

 private:
  std::shared_ptr<framed_peer_requests> peer_requests_;
  std::shared_ptr<peer_listener> listener_;
};

class operations final : public operation_adapter {
 public:
  explicit operations(std::shared_ptr<framed_peer_requests> peer_requests)
      : peer_requests_(std::move(peer_requests)) {}

  // Recv on a framed target takes the requests its peers initiate: no
  // sources, no connection of its own.
  grpc::Status check_subscribe(const v1::Subscribe& subscribe) const override {
    if (subscribe.sources_size() != 0 || subscribe.kind() != v1::SOURCE_KIND_DEFAULT) {
      return invalid(
          "Recv on a framed target delivers the requests its peers initiate: give no sources "
          "and the default kind");
    }
    return grpc::Status::OK;
  }

  bool subscribes_on_a_connection() const override { return false; }

  std::shared_ptr<subscription> start_subscription(const v1::Subscribe& /*subscribe*/,
                                                   std::uint32_t credit, pool::connection*,
                                                   subscription_events events) const override {
    return peer_requests_->subscribe(credit, std::move(events));
  }

  grpc::Status check(const v1::SendRequest& request, bool /*leased*/) const override {
    if (!request.has_request()) {
      return invalid("a framed peer takes requests (Send.request); no command or publish");
    }
    framed::value ignored;
    return framed_translate::content_of(request.request().message(), ignored);
  }

  bool idempotent(const v1::SendRequest&) const override { return false; }

  // Past the caller's deadline (`cancel`) the answer is no longer wanted:
  // the request is abandoned, so its answer is dropped when it comes.
  void attempt(const v1::SendRequest& request, pool::connection& conn,
               boost::asio::cancellation_slot cancel, outcome_handler done) const override {
    using pool::failure_kind;
    auto& channel = static_cast<pooled_connection&>(conn).channel();
    framed::value content;
    (void)framed_translate::content_of(request.request().message(), content);  // by check()
    const auto form = request.request().message().content_case();
    auto answered =
        [form, done, weak = std::weak_ptr<framed::connection>(channel.shared_from_this())](
            std::error_code ec, framed::message_type answer, framed::value result, bool written) {
          if (ec) {
            // What the peer did, when it broke the protocol (as the log says it).
            const auto c = weak.lock();
            const auto why = c && !c->protocol_error().empty()
                                 ? "the peer broke the protocol (" + c->protocol_error() +
                                       "); its connection was closed"
                                 : ec.message();
            return done(
                attempt_outcome::failed({ec, failure_kind::connection, written, "framed: " + why}));
          }
          if (answer == framed::message_type::exception) {
            const auto* text = std::get_if<std::string>(&result);
            return done(attempt_outcome::failed(
                {make_error_code(pool::errc::remote_exception), failure_kind::operation, true,
                 "framed: remote exception: " + (text ? *text : std::string("(no text)"))}));
          }
          attempt_outcome out;
          framed_translate::result_to(form, std::move(result), *out.response.mutable_response());
          done(std::move(out));
        };
    std::int64_t id = 0;
    if (auto ec = channel.request(content, std::move(answered), id)) {
      return done(attempt_outcome::failed(
          {make_error_code(pool::errc::invalid_operation), failure_kind::operation, false,
           "framed: the request's content cannot be encoded by the target's codec (" +
               ec.message() + "); JSON carries no bytes"}));
    }
    if (cancel.is_connected()) {
      cancel.assign([weak = std::weak_ptr<framed::connection>(channel.shared_from_this()),
                     id](boost::asio::cancellation_type) {
        if (auto c = weak.lock()) c->abandon(id);
      });
    }
  }

 private:
  std::shared_ptr<framed_peer_requests> peer_requests_;
};

adapter_binding make_binding(const target_settings& target, boost::asio::any_io_executor executor) {
  const auto& options = target.options_as<framed_options>();
  auto peer_requests = framed_peer_requests::create(executor, target.name, options.reply_timeout);
  auto listener =
      options.listen ? std::make_shared<peer_listener>(executor, target, peer_requests) : nullptr;
  return {std::make_shared<factory>(target, peer_requests),
          std::make_shared<operations>(peer_requests),
          {},
          std::make_shared<framed_service>(peer_requests, std::move(listener))};
}

}  // namespace

const adapter_descriptor& framed_adapter() {
  static const adapter_descriptor descriptor{
      .name = "framed",
      .schemes = schemes,
      .read_options = read_options,
      .make = make_binding,
  };
  return descriptor;
}

}  // namespace brokerside::sidecar
