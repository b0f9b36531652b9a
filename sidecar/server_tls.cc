#include "sidecar/server_tls.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <filesystem>
#include <utility>

namespace brokerside::sidecar {
namespace {

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "not PEM";
  char text[256];
  ERR_error_string_n(e, text, sizeof(text));
  return text;
}

}  // namespace

std::string check_server_tls(const server_tls_settings& tls, const std::string& path) {
  if (!tls.enabled()) {
    if (!tls.key_file.empty() || !tls.client_ca_file.empty()) {
      return path + ".cert_file: required with key_file or client_ca_file";
    }
    return {};
  }
  if (tls.key_file.empty()) return path + ".key_file: required with cert_file";
  if (tls.reload_interval < std::chrono::seconds(1)) {
    return path + ".reload_interval: at least 1s";
  }
  const std::pair<const char*, const std::string*> files[] = {
      {".cert_file", &tls.cert_file},
      {".key_file", &tls.key_file},
      {".client_ca_file", &tls.client_ca_file}};
  for (const auto& [key, file] : files) {
    std::error_code ec;
    const auto status = std::filesystem::status(*file, ec);
    if (!file->empty() && !ec && std::filesystem::exists(status) &&
        !std::filesystem::is_regular_file(status)) {
      return path + key + ": '" + *file + "' is not a regular file";
    }
  }
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()),
                                                        &SSL_CTX_free);
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.cert_file.c_str()) != 1) {
    return path + ".cert_file: cannot use " + tls.cert_file + ": " + openssl_error();
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1 &&
      ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
    return path + ".key_file: cannot use " + tls.key_file + ": " + openssl_error();
  }
  if (ERR_peek_last_error() != 0 || SSL_CTX_check_private_key(ctx.get()) != 1) {
    ERR_clear_error();
    return path + ".key_file: " + tls.key_file + " is not the key of " + tls.cert_file;
  }
  if (!tls.client_ca_file.empty() &&
      SSL_CTX_load_verify_locations(ctx.get(), tls.client_ca_file.c_str(), nullptr) != 1) {
    return path + ".client_ca_file: cannot use " + tls.client_ca_file + ": " + openssl_error();
  }
  return {};
}

std::shared_ptr<grpc::ServerCredentials> server_credentials(const server_tls_settings& tls) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  namespace x = grpc::experimental;
  const auto seconds = static_cast<unsigned>(std::max<std::int64_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(tls.reload_interval).count()));
  auto provider = std::make_shared<x::FileWatcherCertificateProvider>(tls.key_file, tls.cert_file,
                                                                      tls.client_ca_file, seconds);
  x::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (!tls.client_ca_file.empty()) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return x::TlsServerCredentials(options);
}

}  // namespace brokerside::sidecar
