// The listener's TLS files as gRPC reads them: private copies (memfd,
// "/proc/self/fd/N") of the configured certificate chain, key and client CA,
// refreshed from the files every reload_interval only when the new texts
// pass check_server_tls_pem. gRPC's own file watcher takes whatever the
// files hold, so a half-written Secret (a garbage certificate, a key of
// another) broke every new handshake; now the last good pair stays until
// the files are whole again, and a rotation (Kubernetes updates mounted
// Secrets in place) still reaches new connections without a restart.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "sidecar/server_tls.h"

namespace grpc {
class ServerCredentials;
}

namespace brokerside::sidecar {

class server_tls_files {
 public:
  // Copies the files (checked with the configuration); throws
  // startup_error if they cannot be read now.
  explicit server_tls_files(const server_tls_settings& tls);
  ~server_tls_files();
  server_tls_files(const server_tls_files&) = delete;
  server_tls_files& operator=(const server_tls_files&) = delete;

  // gRPC's credentials over the copies (a file watcher on them).
  std::shared_ptr<grpc::ServerCredentials> credentials() const;

  // Reads the files again now: the copies change if the texts changed and
  // pass the checks; a failing text is logged (once per text) and left.
  // Whether the copies changed. Runs on the refresh thread; public for tests.
  bool refresh();

 private:
  // One private copy: an anonymous in-memory file at a fixed descriptor.
  struct copy {
    int fd = -1;
    std::string text;  // what it holds
    std::string path() const { return "/proc/self/fd/" + std::to_string(fd); }
  };
  // Makes `into` hold `text`: a new memfd swapped in with dup2, so a reader
  // opening the path gets the old text or the new, never a mix.
  static void replace(copy& into, const std::string& text);

  server_tls_settings tls_;  // the configured files
  copy identity_;            // the chain then the key, one file: swapped at once
  copy ca_;                  // the client CA (unused without one)
  std::string refused_;      // the texts last refused, so each is logged once
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;  // refresh() every reload_interval
};

}  // namespace brokerside::sidecar
