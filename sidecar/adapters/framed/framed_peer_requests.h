// The requests a framed target's peers initiate — on the channels the pool
// opened to them, or on channels their own clients opened to the target's
// listen address — delivered to the app on the target's Recv streams and
// answered by delivery id. Each request goes to one subscriber, round robin
// among those with credit left (credit: the most requests a subscriber has
// unanswered); a request that finds no subscriber is answered with an
// exception "no handler: ..." at once, one unanswered within the target's
// reply_timeout with "timeout: ...", one whose subscriber's stream ends
// first with "handler gone: ...". The peer always gets an answer.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "protocol/framed/connection.h"
#include "protocol/io_strand.h"
#include "sidecar/operation_adapter.h"

namespace brokerside::sidecar {

class framed_peer_requests : public std::enable_shared_from_this<framed_peer_requests> {
 public:
  // Requests that wait for a subscriber with credit, at most; beyond, the
  // peer is answered "busy: ...".
  static constexpr std::size_t max_waiting = 4096;

  static std::shared_ptr<framed_peer_requests> create(boost::asio::any_io_executor executor,
                                                      std::string target,
                                                      std::chrono::milliseconds reply_timeout);

  // Takes the peer's requests on `conn` from now on. Call before the
  // connection reads (connect() or start()), on its executor.
  void attach(protocol::framed::connection& conn);

  // A Recv stream's subscription: deliveries come through `events` (ready
  // is called at once); the handle takes the stream's replies and credit.
  std::shared_ptr<subscription> subscribe(std::uint32_t credit, subscription_events events);

  // The sidecar is stopping: every request waiting or delivered, and every
  // one that comes from now on, is answered "shutting down: ...". Waits
  // (up to 2 s) until those answers are queued on their channels. Call from
  // outside the io threads.
  void stop();

 private:
  struct subscriber;
  struct request;
  class handle;

  framed_peer_requests(boost::asio::any_io_executor executor, std::string target,
                       std::chrono::milliseconds reply_timeout);

  // All below run on strand_.
  void arrived(std::weak_ptr<protocol::framed::connection> conn, std::int64_t id,
               protocol::framed::value content);
  void pump();
  void unsubscribe(const std::shared_ptr<subscriber>& gone);
  void answer(std::uint64_t tag, protocol::framed::message_type type,
              protocol::framed::value content);
  void refuse(std::uint64_t tag, const std::string& why);
  std::shared_ptr<subscriber> next_with_credit();
  std::string no_handler() const;  // the exception text with nobody subscribed

  protocol::io_strand strand_;
  std::string target_;
  std::chrono::milliseconds reply_timeout_;
  std::unordered_map<std::uint64_t, request> requests_;  // by tag: waiting or delivered
  std::deque<std::uint64_t> waiting_;                    // tags not yet delivered, oldest first
  std::vector<std::shared_ptr<subscriber>> subscribers_;
  std::size_t next_subscriber_ = 0;  // round robin
  std::uint64_t next_tag_ = 0;
  bool stopped_ = false;
};

}  // namespace brokerside::sidecar
