#include "sidecar/admin_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "sidecar/startup_error.h"
#include "sidecar/units.h"

namespace brokerside::sidecar {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr auto session_timeout = std::chrono::seconds(30);

// One HTTP/1.1 connection: read a request, answer it, repeat while kept alive.
class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket socket, std::shared_ptr<const admin_server::handlers> h)
      : stream_(std::move(socket)), handlers_(std::move(h)) {}

  void start() { read(); }

 private:
  void read() {
    request_ = {};
    stream_.expires_after(session_timeout);
    http::async_read(stream_, buffer_, request_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec) return self->close();
                       self->respond();
                     });
  }

  void respond() {
    response_ = {};
    response_.version(request_.version());
    response_.keep_alive(request_.keep_alive());
    response_.set(http::field::server, "brokerside");
    response_.set(http::field::content_type, "text/plain; charset=utf-8");
    const auto target = std::string(request_.target().substr(0, request_.target().find('?')));
    if (request_.method() != http::verb::get && request_.method() != http::verb::head) {
      reply(http::status::method_not_allowed, "only GET and HEAD\n");
      response_.set(http::field::allow, "GET, HEAD");
    } else if (target == "/healthz") {
      reply(http::status::ok, "ok\n");
    } else if (target == "/readyz") {
      std::string reason;
      if (handlers_->ready(reason)) {
        reply(http::status::ok, "ready\n");
      } else {
        reply(http::status::service_unavailable, "not ready: " + reason + "\n");
      }
    } else if (target == "/metrics") {
      response_.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      handlers_->metrics([self = shared_from_this()](std::string body) {
        asio::dispatch(self->stream_.get_executor(), [self, body = std::move(body)]() mutable {
          self->reply(http::status::ok, std::move(body));
          self->send();
        });
      });
      return;
    } else {
      reply(http::status::not_found, "not found; try /healthz, /readyz or /metrics\n");
    }
    send();
  }

  void send() {
    if (request_.method() == http::verb::head) {
      response_.content_length(response_.body().size());
      response_.body().clear();
    } else {
      response_.prepare_payload();
    }
    write();
  }

  void reply(http::status status, std::string body) {
    response_.result(status);
    response_.body() = std::move(body);
  }

  void write() {
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec || !self->response_.keep_alive()) return self->close();
                        self->read();
                      });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
  std::shared_ptr<const admin_server::handlers> handlers_;
};

}  // namespace

admin_server::admin_server(asio::io_context& io, handlers h)
    : io_(io), handlers_(std::make_shared<const handlers>(std::move(h))), acceptor_(io) {}

void admin_server::start(const std::string& address) {
  const auto [host, port] = *parse_host_port(address);  // validated with the configuration
  boost::system::error_code ec;
  tcp::resolver resolver(io_);
  const auto endpoints = resolver.resolve(host, port, ec);
  if (ec || endpoints.empty()) {
    throw startup_error("listen.admin: cannot resolve '" + host + "': " + ec.message());
  }
  const auto endpoint = endpoints.begin()->endpoint();
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw startup_error("listen.admin: cannot listen on " + address + ": " + ec.message());
  accept();
}

int admin_server::port() const {
  boost::system::error_code ec;
  return acceptor_.local_endpoint(ec).port();
}

void admin_server::stop() {
  asio::post(io_, [this] {
    boost::system::error_code ec;
    acceptor_.close(ec);
  });
}

void admin_server::accept() {
  acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      std::make_shared<session>(std::move(socket), handlers_)->start();
    } else {
      spdlog::warn("admin listener: accept failed: {}", ec.message());
    }
    if (acceptor_.is_open()) accept();
  });
}

}  // namespace brokerside::sidecar
