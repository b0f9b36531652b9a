// A Redis connection's protocol, without I/O: the handshake, commands
// pipelined and matched to replies in order (FIFO), and push frames (RESP3
// >, or the arrays a RESP2 subscriber gets that answer no command). Replies
// are scanned resumably, so one that arrives over many reads is parsed
// once. protocol::driver feeds it bytes; the tests feed it by hand.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "protocol/redis/handshake.h"
#include "protocol/redis/resp.h"
#include "protocol/session.h"

namespace brokerside::protocol::redis {

class session final : public protocol::session {
 public:
  // The outcome of one command: a transport error, or the reply (a Redis
  // error reply is a reply, of type error). `written` says whether the
  // command may have reached the server before a transport error.
  using reply_handler = std::function<void(std::error_code, value, bool written)>;

  // Starts over for a connection with these settings: on_open() then sends
  // the handshake, and `ready` is called once it succeeds.
  void reset(handshake_options options, const decoder_limits& limits, std::function<void()> ready);

  // Appends a command; its reply (or failure) comes to `handler` once.
  void execute(std::span<const std::string_view> args, reply_handler&& handler, output& out);

  // Appends a command that gets no reply of its own (SUBSCRIBE and the
  // like); from then on arrays that answer no command are push frames.
  void send_without_reply(std::span<const std::string_view> args, output& out);

  void on_push(std::function<void(value)> push) { push_ = std::move(push); }

  // 3 after a successful HELLO 3, else 2.
  int protocol() const noexcept { return shake_ ? shake_->protocol() : 2; }
  // Whether send_without_reply() made it a subscriber.
  bool subscriber() const noexcept { return subscriber_; }
  // The server's error reply that failed the handshake; empty otherwise.
  const std::string& error_text() const noexcept { return error_text_; }
  // Commands awaiting replies (the handshake's included).
  std::size_t pending() const noexcept { return pending_.size(); }

  // protocol::session
  void on_open(output& out) override;
  std::size_t consume(std::string_view in, output& out, std::error_code& ec) override;
  void on_abort(std::error_code ec, std::uint64_t handed_over) override;

 private:
  struct pending_reply {
    reply_handler handler;  // empty for the handshake's own commands
    std::uint64_t end = 0;  // output offset after the command's last byte
  };

  // Queues the handshake's commands of `a`; an error to abort with.
  std::error_code apply(handshake::action a, output& out);

  handshake_options options_;
  decoder_limits limits_;
  std::optional<handshake> shake_;     // from on_open(); tells the protocol after
  std::function<void()> ready_;        // the handshake succeeded
  std::deque<pending_reply> pending_;  // awaiting replies, oldest first
  reply_scanner scanner_;              // how far the next reply has arrived
  std::function<void(value)> push_;    // push frames; none: dropped
  std::string error_text_;             // the handshake's refusal
  bool subscriber_ = false;            // send_without_reply() was used
};

}  // namespace brokerside::protocol::redis
