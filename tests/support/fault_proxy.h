// A fault-injecting TCP proxy for tests: it listens on 127.0.0.1 (a free
// port), forwards each connection to one broker address, and breaks the
// traffic on demand — blackhole, added latency, a reset in the middle of a
// frame, a peer that stops reading, a bandwidth cap — switchable while
// connections are open. It runs its own I/O thread; every public function
// may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace brokerside::testing_support {

class fault_proxy {
 public:
  using millis = std::chrono::milliseconds;

  // Direction names: upstream is client -> broker, downstream broker -> client.
  struct faults {
    // Held: nothing is read from that side nor forwarded (what was read is
    // kept, not lost, and flows once released): the sender's writes back up.
    bool hold_upstream = false;
    bool hold_downstream = false;
    // Added before forwarding each chunk read.
    millis latency_upstream{0};
    millis latency_downstream{0};
    // Bytes per second; 0: unlimited.
    std::size_t rate_upstream = 0;
    std::size_t rate_downstream = 0;
    // Forward this many bytes downstream (per connection, counted from when
    // this was set, or from the connection's start), then reset both sides
    // (SO_LINGER 0): the client sees ECONNRESET, usually mid-frame.
    std::optional<std::size_t> reset_after_downstream;
  };

  // No faults.
  static faults pass_through() { return {}; }
  // Connections are accepted and kept, nothing is forwarded either way.
  static faults blackhole() {
    faults f;
    f.hold_upstream = f.hold_downstream = true;
    return f;
  }
  // The broker stops reading: the client's writes back up; with
  // `no_replies`, nothing comes back either.
  static faults half_open(bool no_replies) {
    faults f;
    f.hold_upstream = true;
    f.hold_downstream = no_replies;
    return f;
  }
  static faults reset_after(std::size_t downstream_bytes) {
    faults f;
    f.reset_after_downstream = downstream_bytes;
    return f;
  }
  static faults latency(millis upstream, millis downstream) {
    faults f;
    f.latency_upstream = upstream;
    f.latency_downstream = downstream;
    return f;
  }
  static faults bandwidth(std::size_t upstream, std::size_t downstream) {
    faults f;
    f.rate_upstream = upstream;
    f.rate_downstream = downstream;
    return f;
  }

  struct counters {
    std::uint64_t accepted = 0;    // client connections accepted
    std::uint64_t open = 0;        // client connections open now
    std::uint64_t resets = 0;      // connections reset by reset_after_downstream
    std::uint64_t upstream = 0;    // bytes forwarded client -> broker
    std::uint64_t downstream = 0;  // bytes forwarded broker -> client
  };

  // Listens at once; forwards to broker_host:broker_port (an address).
  fault_proxy(std::string broker_host, std::uint16_t broker_port);
  // Closes every connection and the listener, then joins the I/O thread.
  ~fault_proxy();
  fault_proxy(const fault_proxy&) = delete;
  fault_proxy& operator=(const fault_proxy&) = delete;

  std::uint16_t port() const noexcept { return port_; }

  // Replaces the faults for every open connection and every later one;
  // returns once they are in force.
  void set(const faults& f);

  // Resets (SO_LINGER 0) every open connection now; later ones are accepted.
  void reset_all();

  counters stats() const;

  struct impl;  // fault_proxy.cc's, shared with its connections

 private:
  std::shared_ptr<impl> impl_;
  std::thread thread_;
  std::uint16_t port_ = 0;
};

}  // namespace brokerside::testing_support
