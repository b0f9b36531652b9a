// The fault proxy's own test: an echo server behind it, a plain socket in
// front, each fault switched on and off while the connection stays open.
// Waits are bounded by poll() timeouts; the only times asserted are lower
// bounds the proxy's own timers guarantee.
#include "tests/support/fault_proxy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace brokerside {
namespace {

using testing_support::fault_proxy;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

int listen_loopback(std::uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), size) != 0 || ::listen(fd, 16) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &size) != 0) {
    ADD_FAILURE() << "cannot listen: " << std::strerror(errno);
  }
  port = ntohs(addr.sin_port);
  return fd;
}

// Echoes every connection back, one thread per connection; shutdown()
// on the listener ends accept().
class echo_server {
 public:
  echo_server() : listener_(listen_loopback(port_)) {
    acceptor_ = std::thread([this] {
      for (;;) {
        const int fd = ::accept(listener_, nullptr, nullptr);
        if (fd < 0) return;
        connections_.emplace_back([fd] {
          std::vector<char> buffer(64 * 1024);
          for (;;) {
            const auto n = ::recv(fd, buffer.data(), buffer.size(), 0);
            if (n <= 0) break;
            for (ssize_t sent = 0; sent < n;) {
              const auto m = ::send(fd, buffer.data() + sent, n - sent, MSG_NOSIGNAL);
              if (m <= 0) break;
              sent += m;
            }
          }
          ::close(fd);
        });
      }
    });
  }
  ~echo_server() {
    ::shutdown(listener_, SHUT_RDWR);
    acceptor_.join();
    ::close(listener_);
    for (auto& t : connections_) t.join();
  }
  std::uint16_t port() const { return port_; }

 private:
  std::uint16_t port_ = 0;
  int listener_;
  std::thread acceptor_;
  std::vector<std::thread> connections_;  // joined once their client closes
};

// A client socket with bounded waits.
class client {
 public:
  explicit client(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~client() { ::close(fd_); }

  void send(const std::string& bytes) {
    for (std::size_t sent = 0; sent < bytes.size();) {
      const auto n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << std::strerror(errno);
      sent += static_cast<std::size_t>(n);
    }
  }

  // Sends without blocking until the socket takes no more (or `limit`
  // bytes went); how many it took.
  std::size_t send_until_full(std::size_t limit) {
    const std::string block(64 * 1024, 'w');
    std::size_t total = 0;
    while (total < limit) {
      const auto n = ::send(fd_, block.data(), block.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n <= 0) break;
      total += static_cast<std::size_t>(n);
    }
    return total;
  }

  struct received {
    std::string bytes;
    int error = 0;     // errno of the read that ended it; 0: none
    bool eof = false;  // the peer closed
  };
  // Reads until `n` bytes came, the connection ended, or `timeout` passed.
  received receive(std::size_t n, std::chrono::milliseconds timeout) {
    received r;
    const auto until = steady::now() + timeout;
    std::vector<char> buffer(64 * 1024);
    while (r.bytes.size() < n) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(until - steady::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      const auto got = ::recv(fd_, buffer.data(), std::min(buffer.size(), n - r.bytes.size()), 0);
      if (got < 0) {
        r.error = errno;
        break;
      }
      if (got == 0) {
        r.eof = true;
        break;
      }
      r.bytes.append(buffer.data(), static_cast<std::size_t>(got));
    }
    return r;
  }

 private:
  int fd_;
};

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

TEST(fault_proxy, passes_bytes_through_both_ways) {
  echo_server echo;
  fault_proxy proxy("127.0.0.1", echo.port());
  client c(proxy.port());
  const auto data = pattern(1 << 20);
  std::thread writer([&] { c.send(data); });
  const auto r = c.receive(data.size(), 20s);
  writer.join();
  EXPECT_EQ(r.bytes.size(), data.size());
  EXPECT_TRUE(r.bytes == data);
  // The proxy counts a chunk once its write completes, which may be after
  // the client read it.
  auto s = proxy.stats();
  for (int i = 0; i < 500 && s.downstream < data.size(); ++i) {
    std::this_thread::sleep_for(10ms);
    s = proxy.stats();
  }
  EXPECT_EQ(s.accepted, 1u);
  EXPECT_EQ(s.open, 1u);
  EXPECT_EQ(s.upstream, data.size());
  EXPECT_EQ(s.downstream, data.size());
}

TEST(fault_proxy, blackhole_holds_everything_until_it_clears) {
  echo_server echo;
  fault_proxy proxy("127.0.0.1", echo.port());
  client c(proxy.port());
  c.send("before");
  EXPECT_EQ(c.receive(6, 5s).bytes, "before");
  proxy.set(fault_proxy::blackhole());
  c.send("held");
  EXPECT_EQ(c.receive(4, 300ms).bytes, "");
  // A new connection is accepted and gets nothing either.
  client other(proxy.port());
  other.send("new");
  EXPECT_EQ(other.receive(3, 300ms).bytes, "");
  EXPECT_EQ(proxy.stats().accepted, 2u);
  proxy.set(fault_proxy::pass_through());
  // Held, not lost.
  EXPECT_EQ(c.receive(4, 5s).bytes, "held");
  EXPECT_EQ(other.receive(3, 5s).bytes, "new");
}

TEST(fault_proxy, latency_delays_each_direction) {
  echo_server echo;
  fault_proxy proxy("127.0.0.1", echo.port());
  client c(proxy.port());
  proxy.set(fault_proxy::latency(100ms, 150ms));
  const auto started = steady::now();
  c.send("ping");
  EXPECT_EQ(c.receive(4, 5s).bytes, "ping");
  // A lower bound, which the proxy's timers guarantee.
  EXPECT_GE(steady::now() - started, 250ms);
}

TEST(fault_proxy, reset_after_n_downstream_bytes_cuts_the_reply_and_resets) {
  echo_server echo;
  fault_proxy proxy("127.0.0.1", echo.port());
  client c(proxy.port());
  c.send("warm");
  EXPECT_EQ(c.receive(4, 5s).bytes, "warm");
  proxy.set(fault_proxy::reset_after(1000));
  const auto data = pattern(10'000);
  c.send(data);
  const auto r = c.receive(data.size(), 5s);
  EXPECT_EQ(r.bytes, data.substr(0, 1000));
  EXPECT_EQ(r.error, ECONNRESET) << std::strerror(r.error);
  EXPECT_EQ(proxy.stats().resets, 1u);
  // New connections get the same budget.
  client again(proxy.port());
  again.send(data);
  const auto r2 = again.receive(data.size(), 5s);
  EXPECT_EQ(r2.bytes.size(), 1000u);
  EXPECT_EQ(r2.error, ECONNRESET);
  // Cleared: whole echoes again.
  proxy.set(fault_proxy::pass_through());
  client after(proxy.port());
  after.send(data);
  EXPECT_EQ(after.receive(data.size(), 5s).bytes, data);
}

TEST(fault_proxy, half_open_backs_the_clients_writes_up) {
  echo_server echo;
  fault_proxy proxy("127.0.0.1", echo.port());
  client c(proxy.port());
  c.send("warm");
  EXPECT_EQ(c.receive(4, 5s).bytes, "warm");
  proxy.set(fault_proxy::half_open(false));
  const auto upstream_before = proxy.stats().upstream;
  // The kernel's buffers take a few MiB at most; then send() would block.
  constexpr std::size_t limit = 256u << 20;
  std::size_t sent = 0;
  for (int i = 0; i < 20; ++i) {
    sent += c.send_until_full(limit - sent);
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_LT(sent, limit) << "the writes never backed up";
  EXPECT_LE(proxy.stats().upstream - upstream_before, 16u * 1024) << "at most one chunk read";
  proxy.set(fault_proxy::pass_through());
  EXPECT_EQ(c.receive(sent, 30s).bytes.size(), sent);
}

TEST(fault_proxy, bandwidth_cap_spreads_a_transfer_over_time) {
  echo_server echo;
  fault_proxy proxy("127.0.0.1", echo.port());
  client c(proxy.port());
  proxy.set(fault_proxy::bandwidth(0, 100'000));
  const auto data = pattern(50'000);
  const auto started = steady::now();
  c.send(data);
  EXPECT_EQ(c.receive(data.size(), 10s).bytes, data);
  // 50 kB at 100 kB/s: half a second of the proxy's timers at least.
  EXPECT_GE(steady::now() - started, 450ms);
}

TEST(fault_proxy, reset_all_resets_open_connections_and_keeps_accepting) {
  echo_server echo;
  fault_proxy proxy("127.0.0.1", echo.port());
  client c(proxy.port());
  c.send("x");
  EXPECT_EQ(c.receive(1, 5s).bytes, "x");
  proxy.reset_all();
  const auto r = c.receive(1, 5s);
  EXPECT_EQ(r.error, ECONNRESET);
  client again(proxy.port());
  again.send("y");
  EXPECT_EQ(again.receive(1, 5s).bytes, "y");
}

}  // namespace
}  // namespace brokerside
