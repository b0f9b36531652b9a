#include "sidecar/server_tls_files.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "sidecar/startup_error.h"

namespace brokerside::sidecar {
namespace {

struct pem_texts {
  std::string chain, key, ca;  // ca empty without a client CA
};

std::optional<pem_texts> read_texts(const server_tls_settings& tls) {
  pem_texts out;
  for (const auto& [file, into] :
       {std::pair{&tls.cert_file, &out.chain}, std::pair{&tls.key_file, &out.key},
        std::pair{&tls.client_ca_file, &out.ca}}) {
    if (file->empty()) continue;
    auto text = read_pem_file(*file);
    if (!text) return std::nullopt;
    *into = std::move(*text);
  }
  return out;
}

}  // namespace

void server_tls_files::replace(copy& into, const std::string& text) {
  const int fd = ::memfd_create("brokerside-tls", MFD_CLOEXEC);
  if (fd < 0) throw startup_error(std::string("listen.tls: memfd_create: ") + std::strerror(errno));
  std::size_t written = 0;
  while (written < text.size()) {
    const auto n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      throw startup_error(std::string("listen.tls: writing a copy: ") + std::strerror(errno));
    }
    written += static_cast<std::size_t>(n);
  }
  if (into.fd < 0) {
    into.fd = fd;
  } else {
    ::dup2(fd, into.fd);  // atomic: the path now names the new file
    ::close(fd);
  }
  into.text = text;
}

server_tls_files::server_tls_files(const server_tls_settings& tls) : tls_(tls) {
  const auto texts = read_texts(tls);
  if (!texts) throw startup_error("listen.tls: cannot read the certificate files");
  replace(identity_, texts->chain + "\n" + texts->key);
  replace(ca_, texts->ca);
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, tls_.reload_interval, [this] { return stopping_; })) {
      lock.unlock();
      refresh();
      lock.lock();
    }
  });
}

server_tls_files::~server_tls_files() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  // The server that reads the copies is gone by now (grpc_server destroys
  // it first).
  for (const auto* c : {&identity_, &ca_}) {
    if (c->fd >= 0) ::close(c->fd);
  }
}

bool server_tls_files::refresh() {
  const auto texts = read_texts(tls_);
  if (!texts) {
    if (refused_ != "unreadable") {
      refused_ = "unreadable";
      spdlog::warn("listen.tls: the certificate files cannot be read; keeping those read before");
    }
    return false;
  }
  const auto identity = texts->chain + "\n" + texts->key;
  if (identity == identity_.text && texts->ca == ca_.text) return false;
  if (auto why = check_server_tls_pem(texts->chain, texts->key, texts->ca); !why.empty()) {
    if (refused_ != identity + texts->ca) {
      refused_ = identity + texts->ca;
      spdlog::warn("listen.tls.{}; keeping the certificate read before until the files are whole",
                   why);
    }
    return false;
  }
  refused_.clear();
  replace(identity_, identity);
  replace(ca_, texts->ca);
  spdlog::info("listen.tls: certificate files read again: new connections get them");
  return true;
}

std::shared_ptr<grpc::ServerCredentials> server_tls_files::credentials() const {
  namespace x = grpc::experimental;
  const auto seconds = static_cast<unsigned>(std::max<std::int64_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(tls_.reload_interval).count()));
  // The chain and the key come from one copy, so gRPC never reads a new
  // certificate with an old key. (Each PEM reader skips the other's block.)
  auto provider = tls_.client_ca_file.empty()
                      ? std::make_shared<x::FileWatcherCertificateProvider>(
                            identity_.path(), identity_.path(), seconds)
                      : std::make_shared<x::FileWatcherCertificateProvider>(
                            identity_.path(), identity_.path(), ca_.path(), seconds);
  x::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (!tls_.client_ca_file.empty()) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return x::TlsServerCredentials(options);
}

}  // namespace brokerside::sidecar
