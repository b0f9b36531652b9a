#include "protocol/framed/session.h"

#include <limits>
#include <string>
#include <utility>

#include "protocol/errc.h"

namespace brokerside::protocol::framed {

namespace {
constexpr std::size_t max_abandoned = 4096;  // unanswered requests whose callers gave up
}  // namespace

void session::reset(codec c, std::uint32_t max_frame, const limits& lim,
                    std::function<void()> ready) {
  codec_ = c;
  max_frame_ = max_frame;
  limits_ = lim;
  ready_ = std::move(ready);
}

void session::on_open(output&) {
  if (ready_) ready_();
}

std::error_code session::request(const value& content, reply_handler&& handler, std::int64_t& id,
                                 output& out) {
  id = take_id();
  if (auto ec = append_message(out.bytes, codec_, {message_type::request, id, content}, max_frame_,
                               limits_)) {
    return ec;
  }
  pending_.emplace(id, pending_request{std::move(handler), out.end()});
  return {};
}

std::error_code session::abandon(std::int64_t id) {
  const auto it = pending_.find(id);
  if (it == pending_.end() || !it->second.handler) return {};
  it->second.handler = nullptr;
  // A peer that leaves this many requests unanswered past their callers'
  // deadlines is not coming back to them: start over rather than remember
  // them forever.
  if (++abandoned_ > max_abandoned) {
    return protocol_failure(
        errc::aborted, std::to_string(abandoned_) + " requests unanswered past their deadlines");
  }
  return {};
}

void session::reply(std::int64_t id, message_type answer, const value& content, output& out) {
  if (append_message(out.bytes, codec_, {answer, id, content}, max_frame_, limits_)) {
    // The codec cannot carry the result (e.g. bytes in JSON): the peer still
    // gets an answer, as aiomas does when its own encoder fails.
    const auto ec = append_message(
        out.bytes, codec_,
        {message_type::exception, id, value{std::string("the result cannot be encoded")}});
    (void)ec;
  }
}

std::size_t session::consume(std::string_view in, output& out, std::error_code& ec) {
  message m;
  constexpr auto no_type = std::numeric_limits<std::int64_t>::min();
  std::int64_t bad_type = no_type;
  const auto used = decode_message(in, codec_, m, ec, max_frame_, limits_, &bad_type);
  if (ec) {
    ec = protocol_failure(ec, bad_type != no_type
                                  ? "msg_type " + std::to_string(bad_type) +
                                        ", which the protocol does not have: 0 request, 1 "
                                        "result, 2 exception"
                                  : ec.message());
    return 0;
  }
  if (used == 0) return 0;
  if (m.type == message_type::request) {
    if (on_request_) {
      on_request_(m.id, std::move(m.content));
    } else {
      reply(m.id, message_type::exception, value{std::string("no handler")}, out);
    }
    return used;
  }
  const auto it = pending_.find(m.id);
  if (it == pending_.end()) {
    ec = protocol_failure(errc::malformed_frame,
                          std::string(m.type == message_type::result ? "result" : "exception") +
                              " for unknown msg_id " + std::to_string(m.id));
    return 0;
  }
  auto p = std::move(it->second);
  pending_.erase(it);
  if (!p.handler) {
    --abandoned_;
    return used;
  }
  p.handler({}, m.type, std::move(m.content), true);
  return used;
}

std::error_code session::protocol_failure(std::error_code ec, std::string why) {
  protocol_error_ = std::move(why);
  return ec;
}

void session::on_abort(std::error_code ec, std::uint64_t handed_over) {
  auto failing = std::exchange(pending_, {});
  abandoned_ = 0;
  for (auto& [id, p] : failing) {
    if (p.handler) p.handler(ec, message_type::exception, {}, p.end <= handed_over);
  }
}

}  // namespace brokerside::protocol::framed
