#include "protocol/stream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <vector>

#include "protocol/errc.h"

namespace brokerside::protocol {

namespace asio = boost::asio;
using socket_type = asio::generic::stream_protocol::socket;
using generic_endpoint = asio::generic::stream_protocol::endpoint;

class tls_context {
 public:
  tls_context() : ctx_(asio::ssl::context::tls_client) {}
  asio::ssl::context& get() const { return ctx_; }
  bool verify = true;

 private:
  // SSL_new() takes the SSL_CTX non-const; it is not changed after setup.
  mutable asio::ssl::context ctx_;
};

bool is_ip_address(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::size_t max_unix_path() noexcept { return sizeof(sockaddr_un::sun_path) - 1; }

namespace {

// A Unix socket path longer than sockaddr_un holds is an error, not an
// exception out of Asio.
std::optional<generic_endpoint> unix_endpoint(const std::string& path) {
  if (path.size() > max_unix_path()) return std::nullopt;
  return generic_endpoint(asio::local::stream_protocol::endpoint(path));
}

// A regular file we may open (not a FIFO or /dev/zero, which would never end).
bool readable(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) && std::ifstream(path).good();
}

}  // namespace

std::shared_ptr<const tls_context> make_tls_context(const tls_options& options,
                                                    std::string& error) {
  auto context = std::make_shared<tls_context>();
  auto& ctx = context->get();
  boost::system::error_code ec;
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                      asio::ssl::context::no_tlsv1_1,
                  ec);
  const auto use = [&](const std::string& what, const std::string& file, auto&& load) {
    if (!error.empty() || file.empty()) return;
    if (!readable(file)) {
      error = what + " '" + file + "' cannot be read";
    } else if (load(file), ec) {
      error = what + " '" + file + "' is not usable: " + ec.message();
    }
  };
  if (options.ca_file.empty()) {
    ctx.set_default_verify_paths(ec);
  } else {
    use("ca_file", options.ca_file, [&](const std::string& f) { ctx.load_verify_file(f, ec); });
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    error = options.cert_file.empty() ? "key_file needs cert_file" : "cert_file needs key_file";
  }
  use("cert_file", options.cert_file,
      [&](const std::string& f) { ctx.use_certificate_chain_file(f, ec); });
  use("key_file", options.key_file,
      [&](const std::string& f) { ctx.use_private_key_file(f, asio::ssl::context::pem, ec); });
  if (!error.empty()) return nullptr;
  context->verify = options.verify;
  return context;
}

struct stream::impl {
  explicit impl(asio::any_io_executor executor) : executor(executor), socket(executor) {}

  asio::any_io_executor executor;
  socket_type socket;                                  // TCP or Unix
  std::optional<asio::ssl::stream<socket_type&>> tls;  // over `socket` when TLS
  bool closed = false;                                 // close() was called

  void handshake(const endpoint& to, const completion& done) {
    if (!to.tls) return done({});
    start_tls(*to.tls, to.server_name.empty() ? to.host : to.server_name, done);
  }

  // TLS over the connected `socket`, verifying `name` when the context says so.
  void start_tls(const tls_context& context, const std::string& name, const completion& done) {
    tls.emplace(socket, context.get());
    SSL* ssl = tls->native_handle();
    if (context.verify) {
      tls->set_verify_mode(asio::ssl::verify_peer);
      // OpenSSL checks the name during the handshake: an IP address against
      // the certificate's IP SANs, a host name against its DNS SANs / CN.
      auto* param = SSL_get0_param(ssl);
      if (is_ip_address(name)) {
        X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
      } else if (!name.empty()) {
        X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
      }
    } else {
      tls->set_verify_mode(asio::ssl::verify_none);
    }
    if (!name.empty() && !is_ip_address(name)) SSL_set_tlsext_host_name(ssl, name.c_str());
    tls->async_handshake(asio::ssl::stream_base::client,
                         [this, done](boost::system::error_code ec) {
                           if (closed) return done(errc::aborted);
                           done(ec);
                         });
  }
};

stream::stream(asio::any_io_executor executor) : impl_(std::make_unique<impl>(executor)) {}

stream::~stream() = default;

bool stream::uses_tls() const noexcept { return impl_->tls.has_value(); }

void stream::connect(const endpoint& to, completion done) {
  auto* s = impl_.get();
  auto connected = [s, to, done](boost::system::error_code ec) {
    if (s->closed) return done(errc::aborted);
    if (ec) return done(ec);
    boost::system::error_code ignored;
    if (to.unix_path.empty()) s->socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    s->socket.set_option(asio::socket_base::keep_alive(true), ignored);
    s->handshake(to, done);
  };
  if (!to.unix_path.empty()) {
    const auto endpoint = unix_endpoint(to.unix_path);
    if (!endpoint) {
      return asio::post(s->executor,
                        [done] { done(std::make_error_code(std::errc::filename_too_long)); });
    }
    s->socket.async_connect(*endpoint, std::move(connected));
    return;
  }
  auto resolver = std::make_shared<asio::ip::tcp::resolver>(s->executor);
  resolver->async_resolve(
      to.host, std::to_string(to.port),
      [s, resolver, done, connected = std::move(connected)](
          boost::system::error_code ec, asio::ip::tcp::resolver::results_type results) mutable {
        // close() during the resolve must not let a connect start after it.
        if (s->closed) return done(errc::aborted);
        if (ec) return done(ec);
        std::vector<generic_endpoint> endpoints;
        for (const auto& entry : results) endpoints.emplace_back(entry.endpoint());
        asio::async_connect(
            s->socket, endpoints,
            [connected = std::move(connected)](boost::system::error_code ec,
                                               const generic_endpoint&) mutable { connected(ec); });
      });
}

void stream::start_tls(std::shared_ptr<const tls_context> context, std::string server_name,
                       completion done) {
  auto* s = impl_.get();
  if (s->closed || !s->socket.is_open() || s->tls) {
    const std::error_code ec = s->tls ? std::make_error_code(std::errc::already_connected)
                                      : make_error_code(errc::aborted);
    return asio::post(s->executor, [done = std::move(done), ec] { done(ec); });
  }
  // The context lives in the completion until the handshake is over; the
  // target keeps it for the connection's life.
  s->start_tls(*context, server_name,
               [context, done = std::move(done)](std::error_code ec) { done(ec); });
}

void stream::read_some(asio::mutable_buffer into, io_completion done) {
  auto handler = [done = std::move(done)](boost::system::error_code ec, std::size_t n) {
    // A TLS peer that closes without close_notify is, for brokers, an EOF.
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
      return done(errc::connection_closed, n);
    }
    done(ec, n);
  };
  if (impl_->tls) return impl_->tls->async_read_some(into, std::move(handler));
  impl_->socket.async_read_some(into, std::move(handler));
}

void stream::write(asio::const_buffer bytes, io_completion done) {
  auto handler = [done = std::move(done)](boost::system::error_code ec, std::size_t n) {
    done(ec, n);
  };
  if (impl_->tls) return asio::async_write(*impl_->tls, bytes, std::move(handler));
  asio::async_write(impl_->socket, bytes, std::move(handler));
}

void stream::close() {
  impl_->closed = true;
  boost::system::error_code ignored;
  impl_->socket.close(ignored);
}

struct listener::impl {
  explicit impl(asio::any_io_executor executor) : acceptor(executor) {}

  asio::basic_socket_acceptor<asio::generic::stream_protocol> acceptor;
  std::string unix_path;  // removed on close, if it is still ours
  std::uint16_t port = 0;
  dev_t device = 0;  // the socket file we bound
  ino_t inode = 0;
};

namespace {

// Whether something accepts connections on the socket file `path`.
bool someone_listens(asio::any_io_executor executor, const generic_endpoint& at) {
  socket_type probe(executor);
  boost::system::error_code ec;
  probe.connect(at, ec);
  return !ec;
}

}  // namespace

listener::listener(asio::any_io_executor executor) : impl_(std::make_unique<impl>(executor)) {}

listener::~listener() { close(); }

std::error_code listener::listen(const endpoint& at) {
  boost::system::error_code ec;
  generic_endpoint local;
  if (!at.unix_path.empty()) {
    const auto endpoint = unix_endpoint(at.unix_path);
    if (!endpoint) return std::make_error_code(std::errc::filename_too_long);
    local = *endpoint;
    // A socket file outlives the process that bound it: one left behind
    // would make bind fail with "address in use", so it is replaced; one
    // that another process still listens on is not.
    std::error_code ignored;
    if (std::filesystem::is_socket(at.unix_path, ignored)) {
      if (someone_listens(impl_->acceptor.get_executor(), local)) {
        return std::make_error_code(std::errc::address_in_use);
      }
      std::filesystem::remove(at.unix_path, ignored);
    }
  } else {
    const auto address = asio::ip::make_address(at.host, ec);
    if (ec) return ec;
    local = generic_endpoint(asio::ip::tcp::endpoint(address, at.port));
  }
  auto& a = impl_->acceptor;
  a.open(local.protocol(), ec);
  if (!ec && at.unix_path.empty()) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(local, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    a.close(ignored);
    return ec;
  }
  impl_->unix_path = at.unix_path;
  if (struct stat st{}; !at.unix_path.empty() && ::stat(at.unix_path.c_str(), &st) == 0) {
    impl_->device = st.st_dev;
    impl_->inode = st.st_ino;
  }
  if (at.unix_path.empty()) {
    // sin_port and sin6_port share their offset: either family reads the same.
    const auto bound = a.local_endpoint(ec);
    impl_->port = ntohs(reinterpret_cast<const sockaddr_in*>(bound.data())->sin_port);
  }
  return {};
}

std::uint16_t listener::port() const { return impl_->port; }

void listener::accept(stream& into, stream::completion done) {
  const bool tcp = impl_->unix_path.empty();
  auto* s = into.impl_.get();
  impl_->acceptor.async_accept(s->socket,
                               [s, tcp, done = std::move(done)](boost::system::error_code ec) {
                                 if (ec) return done(ec);
                                 boost::system::error_code ignored;
                                 if (tcp)
                                   s->socket.set_option(asio::ip::tcp::no_delay(true), ignored);
                                 s->socket.set_option(asio::socket_base::keep_alive(true), ignored);
                                 done({});
                               });
}

void listener::close() {
  boost::system::error_code ignored;
  if (!impl_->acceptor.is_open()) return;
  impl_->acceptor.close(ignored);
  // The file is removed only if it is still the one we bound: a successor
  // (a rolling restart) may have replaced it already.
  struct stat st {};
  if (!impl_->unix_path.empty() && ::stat(impl_->unix_path.c_str(), &st) == 0 &&
      st.st_dev == impl_->device && st.st_ino == impl_->inode) {
    std::error_code also_ignored;
    std::filesystem::remove(impl_->unix_path, also_ignored);
  }
}

}  // namespace brokerside::protocol
