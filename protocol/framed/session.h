// An aiomas channel's protocol, without I/O: requests from this side
// matched to their answers by id (any order; many at once), requests from
// the peer handed up and answered by id, and frames in and out in one
// codec. protocol::driver feeds it bytes; the tests feed it by hand.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>

#include "protocol/framed/frame.h"
#include "protocol/session.h"

namespace brokerside::protocol::framed {

class session final : public protocol::session {
 public:
  // The outcome of a request: a transport or protocol error (with `written`:
  // whether it may have reached the peer), or the peer's answer.
  using reply_handler =
      std::function<void(std::error_code, message_type answer, value content, bool written)>;

  // Settings for the connection about to start; `ready` is called when it
  // opens (a channel has no handshake).
  void reset(codec c, std::uint32_t max_frame, const limits& lim, std::function<void()> ready);

  // The next request id, used up (for a request refused before encoding).
  std::int64_t take_id() noexcept { return next_id_++; }

  // Appends a request and sets `id`; its answer comes to `handler` once.
  // Content the codec cannot carry is the codec's error, nothing appended.
  std::error_code request(const value& content, reply_handler&& handler, std::int64_t& id,
                          output& out);

  // The caller gave up on request `id`: its answer is dropped. Returns
  // errc::aborted when too many are unanswered to go on (protocol_error()
  // says so): the connection is to be closed.
  std::error_code abandon(std::int64_t id);

  void on_request(std::function<void(std::int64_t, value)> request) {
    on_request_ = std::move(request);
  }

  // Appends the answer to the peer's request `id`.
  void reply(std::int64_t id, message_type answer, const value& content, output& out);

  const std::string& protocol_error() const noexcept { return protocol_error_; }
  std::size_t in_flight() const noexcept { return pending_.size(); }

  // protocol::session
  void on_open(output& out) override;
  std::size_t consume(std::string_view in, output& out, std::error_code& ec) override;
  void on_abort(std::error_code ec, std::uint64_t handed_over) override;

 private:
  struct pending_request {
    reply_handler handler;  // empty once abandoned
    std::uint64_t end = 0;  // output offset after the request's last byte
  };

  std::error_code protocol_failure(std::error_code ec, std::string why);

  codec codec_ = codec::json;
  std::uint32_t max_frame_ = 0;
  limits limits_;
  std::function<void()> ready_;                                // the channel opened
  std::unordered_map<std::int64_t, pending_request> pending_;  // our requests awaiting answers
  std::int64_t next_id_ = 0;                                   // aiomas numbers from 0 too
  std::function<void(std::int64_t, value)> on_request_;        // the peer's requests
  std::string protocol_error_;  // why a protocol error closed the channel, in words
  std::size_t abandoned_ = 0;   // entries in pending_ whose caller gave up
};

}  // namespace brokerside::protocol::framed
