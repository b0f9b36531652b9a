// A few connections of a target outside its pool, each shared by many
// holders for as long as they like (the Recv streams a Redis subscriber
// connection or an AMQP consumer connection carries). Link i is connected
// when first wanted and, after a loss, connected again with jittered
// backoff (100 ms doubling to 2 s) across the target's URLs, for as long
// as it is wanted; whoever uses a link hears when it comes up and when it
// goes down. Every pool.health_check_interval each link up is asked for a
// cheap round trip (Redis PING, AMQP: its heartbeats); one that fails it,
// or has not answered the last one by the next, is taken for dead (a
// blackholed or half-open peer gives no error of its own), closed and
// connected again. Everything runs on the strand given, and is called
// there.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pool/connection.h"
#include "pool/settings.h"
#include "pool/time.h"

namespace brokerside::pool {

class link_set {
 public:
  struct handlers {
    // Link `index` is connected (again); `generation` names this connection
    // of it: callbacks registered on `conn` compare it with generation()
    // to ignore themselves once it is gone.
    std::function<void(std::size_t index, std::uint64_t generation, connection& conn)> up;
    // Link `index` was lost (it is being connected again) or failed to
    // connect; what it carried is gone.
    std::function<void(std::size_t index)> down;
  };

  // Connections come from `factory` (the target's, so they log in and speak
  // TLS as its pool's do), to `target`'s URLs, at most `max_links` of them.
  link_set(const target_config& target, std::shared_ptr<connection_factory> factory,
           boost::asio::any_io_executor strand, std::size_t max_links, handlers on);
  ~link_set();

  std::size_t max_links() const noexcept { return max_; }

  // Connects link `index` (below max_links()) unless it is up or on its
  // way; up() follows.
  void want(std::size_t index);

  // The connection of link `index` if it is up, else null.
  connection* up(std::size_t index) const;

  // The current connection's generation of link `index`.
  std::uint64_t generation(std::size_t index) const;

  // Links connected now. Any thread.
  std::size_t open() const noexcept { return open_.load(std::memory_order_relaxed); }

  // Closes every link; nothing is connected again and no handler runs.
  void close();

 private:
  struct link {
    std::unique_ptr<connection> conn;  // null while none is wanted or between tries
    bool is_up = false;                // connected: usable now
    std::optional<boost::asio::basic_waitable_timer<clock>> retry;
    std::uint32_t failures = 0;    // since the last success, for the backoff
    std::size_t url = 0;           // the next of the target's URLs to try
    std::uint64_t generation = 0;  // bumped per connection
    bool probing = false;          // a health check is unanswered
  };

  void connect(std::size_t index);
  void connected(std::size_t index, std::uint64_t generation, std::error_code ec);
  void lost(std::size_t index, std::uint64_t generation);
  // Closes link `index`'s connection as dead and connects again.
  void dead(std::size_t index, const char* why);
  void arm_health_checks();
  void wait_for_health_check();
  void check_health();

  std::string name_;              // the target's, for logs
  std::vector<broker_url> urls_;  // tried in turn
  millis connect_timeout_;        // per try
  millis health_interval_;        // 0: no health checks
  std::shared_ptr<connection_factory> factory_;
  boost::asio::any_io_executor strand_;
  std::size_t max_;
  handlers on_;
  std::vector<link> links_;                                         // by index, grown as wanted
  std::optional<boost::asio::basic_waitable_timer<clock>> health_;  // armed once a link is up
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);      // callbacks check it
  std::atomic<std::size_t> open_{0};
};

}  // namespace brokerside::pool
