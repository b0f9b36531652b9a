// A NATS connection's protocol, without I/O: the handshake (the server's
// INFO, our CONNECT, and a PING whose PONG says the server took it), then
// publishes confirmed by a flush (PUB followed by PING: the PONG answers only
// once the server has processed everything before it), request/reply
// through one wildcard inbox subscription per connection (a token per
// request, the reply matched by it), and the server's PINGs answered.
// protocol::driver feeds it bytes; the tests feed it by hand.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "protocol/nats/codec.h"
#include "protocol/nats/nkey.h"
#include "protocol/session.h"

namespace brokerside::protocol::nats {

struct handshake_options {
  std::string user, password;     // empty user: none
  std::string token;              // auth_token; empty: none
  std::optional<nkey_seed> nkey;  // NKEY: CONNECT carries its public key and the nonce signed
  std::string name = "brokerside";
  bool tls = false;  // the target asked for TLS (tls://): upgrade after INFO
};

// What the server said of itself in INFO (the latest one: it sends more
// when the cluster changes or it enters lame-duck mode).
struct server_info {
  std::string server_id, version;
  std::uint64_t max_payload = 1 << 20;
  bool headers = false;                   // HPUB / HMSG understood
  bool tls_required = false;              // TLS before CONNECT
  bool lame_duck = false;                 // shutting down: reconnect elsewhere
  std::vector<std::string> connect_urls;  // the cluster's other servers
};

class session final : public protocol::session {
 public:
  // A publish's or a PING's end: confirmed (no error), refused by the server
  // (errc::refused, with its -ERR text), or failed with the connection;
  // `written`: it may have reached the server.
  using confirm_handler =
      std::function<void(std::error_code, bool written, const std::string& error_text)>;
  // A request's reply (a message on our inbox), or why there is none.
  using reply_handler = std::function<void(std::error_code, msg reply, bool written)>;

  // Starts over for a connection: once INFO has come, `upgrade` is called
  // when TLS is wanted (the connection starts it; what is queued meanwhile
  // goes out encrypted), and `done` once the handshake ends: no error, or
  // why not with the server's words (-ERR 'Authorization Violation').
  void reset(handshake_options options, const decoder_limits& limits, std::string inbox,
             std::function<void()> upgrade,
             std::function<void(std::error_code, const std::string& text)> done);

  // What publish() and request() would refuse at once: errc::frame_too_large
  // beyond the server's max_payload, errc::unsupported for headers on a
  // server without them.
  std::error_code check(std::string_view headers, std::string_view payload) const;

  // Appends PUB / HPUB (`headers` an encoded block, or empty) and a PING.
  // A PING of ours still last in the unwritten output is moved after the
  // PUB instead, so publishes queued together are confirmed by one PONG.
  // Fails at once, appending nothing, with errc::frame_too_large beyond the
  // server's max_payload and errc::unsupported for headers on a server
  // without them.
  std::error_code publish(std::string_view subject, std::string_view headers,
                          std::string_view payload, confirm_handler done, output& out);

  // Publishes with our inbox and a new token as the reply subject; the reply
  // comes to `done` once (a 503 status reply: errc::refused, "no responders").
  // Fails at once as publish(). `token` identifies it for forget().
  std::error_code request(std::string_view subject, std::string_view headers,
                          std::string_view payload, reply_handler done, output& out,
                          std::uint64_t& token);

  // Appends PUB with reply subject `reply` (empty: none), unconfirmed: a
  // JetStream acknowledgement or pull request, whose outcome, if any, comes
  // as a message. Fails at once as publish().
  std::error_code send(std::string_view subject, std::string_view reply, std::string_view payload,
                       output& out);

  // The requester gave up: its reply, if it comes, is dropped.
  void forget(std::uint64_t token) { requests_.erase(token); }

  // A PING; `done` when its PONG comes (a health check; after SUBs, the
  // sign that the server has them).
  void ping(confirm_handler done, output& out);

  // What one subscription's messages and refusal go to. Many
  // subscriptions share a connection, each its own handlers.
  struct subscription_handlers {
    std::function<void(msg)> message;
    // The server refused it (-ERR 'Permissions Violation for Subscription
    // to "x"', matched by subject): its text. The connection stays.
    std::function<void(const std::string&)> refused;
  };

  // Appends SUB for `subject` (wildcards allowed) in queue group `queue`
  // (empty: none); its messages come to `handlers` until unsubscribe().
  // Returns its sid.
  std::uint64_t subscribe(std::string_view subject, std::string_view queue,
                          std::shared_ptr<const subscription_handlers> handlers, output& out);
  // Appends UNSUB for `sid`: the server stops sending its messages (and a
  // JetStream pull waiting on it ends); any still on their way are dropped.
  void unsubscribe(std::uint64_t sid, output& out) {
    routes_.erase(sid);
    append_unsub(out.bytes, sid);
  }
  // Subscriptions in place now (for tests).
  std::size_t subscriptions() const noexcept { return routes_.size(); }

  // A later INFO says the server is in lame-duck mode (it will close its
  // connections soon): called once.
  void on_lame_duck(std::function<void()> lame_duck) { lame_duck_ = std::move(lame_duck); }

  const server_info& info() const noexcept { return info_; }
  // The last -ERR that failed nothing in particular (it usually precedes the
  // server closing the connection): for the loss's report.
  const std::string& last_error() const noexcept { return last_error_; }
  bool ready() const noexcept { return state_ == state::ready; }
  // Publishes and pings awaiting PONGs, requests awaiting replies.
  std::size_t pending() const noexcept { return pongs_.size() + requests_.size(); }

  // protocol::session
  std::size_t consume(std::string_view in, output& out, std::error_code& ec) override;
  std::size_t wanted(std::string_view in) const noexcept override { return nats::wanted(in); }
  void on_abort(std::error_code ec, std::uint64_t handed_over) override;

 private:
  enum class state { awaiting_info, awaiting_pong, ready, failed };
  // The inbox subscription's sid: requests' replies arrive on it.
  static constexpr std::uint64_t inbox_sid = 1;

  struct pong_waiter {
    confirm_handler done;      // empty for the handshake's own PING
    std::string subject;       // a publish's, to match a permissions -ERR
    std::uint64_t end = 0;     // output offset after the PING (a publish: after its PUB)
    std::string refused;       // the -ERR that refused it, if any
    bool shares_next = false;  // its PING was moved behind the next waiter's: one PONG for both
  };
  struct pending_request {
    reply_handler done;
    std::uint64_t end = 0;  // output offset after the PUB
  };

  std::error_code on_info(const nats::info& i, output& out);
  // Appends a PING for `waiter`, whose own bytes (a PUB) begin at offset
  // `from`. When our last PING is unwritten and right before them, it is
  // taken out: the new one is answered for both (one PONG ends the two).
  void append_ping_for(pong_waiter waiter, std::uint64_t from, output& out);
  void on_error(std::string text, std::error_code& ec);
  void on_reply(msg m);

  handshake_options options_;
  decoder_limits limits_;
  std::string inbox_;  // "_INBOX.<unique>." : a request's reply subject is inbox_ + token
  std::function<void()> upgrade_;
  std::function<void(std::error_code, const std::string&)> done_;
  state state_ = state::awaiting_info;
  server_info info_;
  std::deque<pong_waiter> pongs_;    // oldest first
  std::uint64_t last_ping_end_ = 0;  // output offset after our last PING with a waiter (0: none)
  std::unordered_map<std::uint64_t, pending_request> requests_;  // by token
  std::uint64_t next_token_ = 0;
  std::uint64_t next_sid_ = inbox_sid;
  struct route {
    std::string subject;  // to match a refusal, which names no sid
    std::shared_ptr<const subscription_handlers> handlers;
  };
  std::unordered_map<std::uint64_t, route> routes_;  // by sid
  std::function<void()> lame_duck_;
  std::string last_error_;
};

}  // namespace brokerside::protocol::nats
