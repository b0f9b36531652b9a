#include "sidecar/unix_listener.h"

#include <fcntl.h>
#include <grpcpp/server.h>
#include <grpcpp/server_posix.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "sidecar/config.h"
#include "sidecar/startup_error.h"

namespace brokerside::sidecar {
namespace {

std::string error_text() { return std::strerror(errno); }

sockaddr_un address_of(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);  // length checked by the config
  return address;
}

// A stale socket file from an earlier run is replaced; a live one is not.
void prepare(const std::string& path) {
  std::error_code fs_ec;
  if (!std::filesystem::exists(path, fs_ec)) return;
  if (!std::filesystem::is_socket(path, fs_ec)) {
    throw startup_error("listen.unix_socket: " + path + " exists and is not a socket");
  }
  const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const auto address = address_of(path);
  const bool live = probe >= 0 && ::connect(probe, reinterpret_cast<const sockaddr*>(&address),
                                            sizeof address) == 0;
  if (probe >= 0) ::close(probe);
  if (live) throw startup_error("listen.unix_socket: " + path + " is in use by a running server");
  std::filesystem::remove(path, fs_ec);
}

}  // namespace

void unix_listener::bind(const listen_settings& listen) {
  const auto& path = listen.unix_socket;
  prepare(path);
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw startup_error("listen.unix_socket: cannot make a socket: " + error_text());
  const auto address = address_of(path);
  // Owner-only while it is made; opened up below.
  const mode_t umask_before = ::umask(0177);
  const int bound = ::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  const auto bind_error = error_text();
  ::umask(umask_before);
  if (bound != 0)
    throw startup_error("listen.unix_socket: cannot bind " + path + ": " + bind_error);
  path_ = path;
  if (::listen(fd_, SOMAXCONN) != 0) {
    throw startup_error("listen.unix_socket: cannot listen on " + path + ": " + error_text());
  }
  if (::chmod(path.c_str(), listen.unix_socket_mode) != 0) {
    throw startup_error("listen.unix_socket_mode: cannot chmod " + path + ": " + error_text());
  }
  if (listen.unix_socket_group &&
      ::chown(path.c_str(), static_cast<uid_t>(-1), *listen.unix_socket_group) != 0) {
    throw startup_error("listen.unix_socket_group: cannot give " + path + " to group " +
                        std::to_string(*listen.unix_socket_group) + ": " + error_text() +
                        " (the process must be in that group)");
  }
}

void unix_listener::start(grpc::Server& server) {
  thread_ = std::thread([this, &server] { accept_loop(server); });
}

void unix_listener::accept_loop(grpc::Server& server) {
  while (!stopping_.load()) {
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (stopping_.load()) return;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      // Out of descriptors or memory: say so, wait, go on (as gRPC's own
      // acceptor does) rather than stop serving the socket.
      spdlog::warn("listen.unix_socket: accept failed: {}", error_text());
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    ucred credentials{};
    socklen_t size = sizeof credentials;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &size) != 0) {
      spdlog::warn("listen.unix_socket: no peer credentials: {}; connection closed", error_text());
      ::close(fd);
      continue;
    }
    peers_.record(fd, {credentials.pid, credentials.uid, credentials.gid});
    grpc::AddInsecureChannelFromFd(&server, fd);
  }
}

void unix_listener::stop() {
  if (fd_ < 0) return;
  stopping_ = true;
  // Wakes the blocked accept() (Linux: EINVAL).
  ::shutdown(fd_, SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
  ::close(fd_);
  fd_ = -1;
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove(path_, ec);
}

}  // namespace brokerside::sidecar
