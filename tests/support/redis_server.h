// A redis-server of the test's own, for what the shared one from
// scripts/brokers.sh must not suffer: kill -9 and restart, TLS with a
// certificate made here, a server without HELLO. It listens on loopback
// ports picked at construction (kept across restarts), lives in its own
// temporary directory, and is killed by PID when the object goes away.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace brokerside::testing_support {

// Whether nothing is bound to 127.0.0.1:`port` right now.
inline bool port_bindable(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return bound;
}

// A loopback TCP port that nothing listens on right now, picked at random
// below the kernel's ephemeral range (which starts at 32768), where no
// outgoing connection of a test running beside this one can take it before
// the server binds it (tests/support/free_port.py, the same rule for Python).
inline std::uint16_t free_port() {
  static std::mt19937 random{std::random_device{}()};
  std::uniform_int_distribution<int> pick(10000, 32767);
  for (int tries = 0; tries < 1000; ++tries) {
    const auto port = static_cast<std::uint16_t>(pick(random));
    if (port_bindable(port)) return port;
  }
  throw std::runtime_error("free_port: no free port in 10000-32767");
}

// Runs a shell command; throws if it fails.
inline void run(const std::string& command) {
  if (std::system(command.c_str()) != 0) throw std::runtime_error("failed: " + command);
}

class redis_server {
 public:
  struct options {
    bool tls = false;                     // also a TLS port, with a CA and a server certificate
    std::vector<std::string> extra_args;  // e.g. {"--rename-command", "HELLO", ""}
  };

  explicit redis_server(options o) : options_(std::move(o)) {
    char pattern[] = "/tmp/brokerside-redis-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    port_ = free_port();
    if (options_.tls) {
      tls_port_ = free_port();
      make_certificates();
    }
    start();
  }

  ~redis_server() {
    kill9();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  std::uint16_t port() const { return port_; }
  std::uint16_t tls_port() const { return tls_port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  std::string dir() const { return dir_; }
  std::string ca_file() const { return dir_ + "/ca.pem"; }
  pid_t pid() const { return pid_; }

  // Starts it (again) on the same ports and data directory; returns once it
  // answers PING (bounded: 10 s).
  void start() {
    std::vector<std::string> args = {"redis-server",
                                     "--bind",
                                     "127.0.0.1",
                                     "--port",
                                     std::to_string(port_),
                                     "--dir",
                                     dir_,
                                     "--appendonly",
                                     "yes",
                                     "--appendfsync",
                                     "always",
                                     "--save",
                                     "",
                                     "--logfile",
                                     dir_ + "/redis.log",
                                     "--enable-debug-command",
                                     "local"};
    if (options_.tls) {
      args.insert(args.end(), {"--tls-port", std::to_string(tls_port_), "--tls-cert-file",
                               dir_ + "/server.pem", "--tls-key-file", dir_ + "/server.key",
                               "--tls-ca-cert-file", ca_file(), "--tls-auth-clients", "no"});
    }
    args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (::posix_spawnp(&pid_, "redis-server", nullptr, nullptr, argv.data(), environ) != 0) {
      throw std::runtime_error("cannot start redis-server");
    }
    for (int i = 0; i < 100; ++i) {
      if (answers_ping()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    throw std::runtime_error("redis-server did not start; see " + dir_ + "/redis.log");
  }

  // kill -9, and reap it.
  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  // redis-cli against the plain port, e.g. cli("PUBLISH ch hello").
  void cli(const std::string& arguments) const {
    run("redis-cli -p " + std::to_string(port_) + " " + arguments + " >/dev/null");
  }

 private:
  bool answers_ping() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port_);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
              ::send(fd, "PING\r\n", 6, MSG_NOSIGNAL) == 6;
    char reply[16] = {};
    ok = ok && ::recv(fd, reply, sizeof reply - 1, 0) > 0 && std::string(reply).find("PONG") == 1;
    ::close(fd);
    return ok;
  }

  // A throwaway CA and a server certificate for 127.0.0.1 and localhost.
  void make_certificates() const {
    const std::string d = dir_;
    const std::string key = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    run("cd " + d + " && openssl req -x509" + key +
        " -keyout ca.key -out ca.pem -days 1 -subj /CN=brokerside-test-ca 2>/dev/null && "
        "openssl req" +
        key +
        " -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null && "
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1' > san.ext && "
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
        "-extfile san.ext -out server.pem 2>/dev/null");
  }

  options options_;
  std::string dir_;         // data, log, certificates
  std::uint16_t port_ = 0;  // plain
  std::uint16_t tls_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace brokerside::testing_support
