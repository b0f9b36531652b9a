#include "sidecar/server_tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
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

std::optional<std::string> read_pem_file(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(text).str();
}

std::string check_server_tls_pem(const std::string& chain, const std::string& key,
                                 const std::string& ca) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()),
                                                        &SSL_CTX_free);
  auto bio_of = [](const std::string& text) {
    return std::unique_ptr<BIO, decltype(&BIO_free)>(
        BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), &BIO_free);
  };
  ERR_clear_error();
  auto chain_bio = bio_of(chain);
  std::unique_ptr<X509, decltype(&X509_free)> leaf(
      PEM_read_bio_X509_AUX(chain_bio.get(), nullptr, nullptr, nullptr), &X509_free);
  if (!leaf || SSL_CTX_use_certificate(ctx.get(), leaf.get()) != 1) {
    return "cert_file: " + openssl_error();
  }
  auto key_bio = bio_of(key);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> private_key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  if (!private_key) return "key_file: " + openssl_error();
  ERR_clear_error();
  if (SSL_CTX_use_PrivateKey(ctx.get(), private_key.get()) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    ERR_clear_error();
    return "key_file: not the key of the certificate";
  }
  if (!ca.empty()) {
    auto ca_bio = bio_of(ca);
    std::unique_ptr<X509, decltype(&X509_free)> first(
        PEM_read_bio_X509(ca_bio.get(), nullptr, nullptr, nullptr), &X509_free);
    if (!first) return "client_ca_file: " + openssl_error();
  }
  ERR_clear_error();
  return {};
}

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
  std::string texts[3];
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& [key, file] = files[i];
    if (file->empty()) continue;
    auto text = read_pem_file(*file);
    if (!text) return path + key + ": cannot use " + *file + ": " + std::strerror(errno);
    texts[i] = std::move(*text);
  }
  const auto why = check_server_tls_pem(texts[0], texts[1], texts[2]);
  if (why.empty()) return {};
  if (why.starts_with("key_file: not the key")) {
    return path + ".key_file: " + tls.key_file + " is not the key of " + tls.cert_file;
  }
  const auto colon = why.find(": ");
  const auto& file = why.starts_with("cert_file")  ? tls.cert_file
                     : why.starts_with("key_file") ? tls.key_file
                                                   : tls.client_ca_file;
  return path + "." + why.substr(0, colon) + ": cannot use " + file + ": " + why.substr(colon + 2);
}

}  // namespace brokerside::sidecar
