#include "protocol/redis/session.h"

#include <utility>

#include "protocol/errc.h"

namespace brokerside::protocol::redis {

void session::reset(handshake_options options, const decoder_limits& limits,
                    std::function<void()> ready) {
  options_ = std::move(options);
  limits_ = limits;
  scanner_ = reply_scanner(limits_);
  ready_ = std::move(ready);
  shake_.reset();
  error_text_.clear();
}

void session::on_open(output& out) {
  shake_.emplace(options_);
  (void)apply(shake_->start(out.bytes), out);
}

std::error_code session::apply(handshake::action a, output& out) {
  if (a.error) {
    error_text_ = std::move(a.text);
    return a.error;
  }
  // The handshake's commands end where the output ends now, together.
  for (std::size_t i = 0; i < a.sent; ++i) pending_.push_back({nullptr, out.end()});
  if (a.done && ready_) ready_();
  return {};
}

void session::execute(std::span<const std::string_view> args, reply_handler&& handler,
                      output& out) {
  encode_command(args, out.bytes);
  pending_.push_back({std::move(handler), out.end()});
}

void session::send_without_reply(std::span<const std::string_view> args, output& out) {
  subscriber_ = true;
  encode_command(args, out.bytes);
}

std::size_t session::consume(std::string_view in, output& out, std::error_code& ec) {
  // Scan first (resumable), decode once the whole reply is in.
  const auto length = scanner_.scan(in, ec);
  if (ec || length == 0) return 0;
  value v;
  const auto used = decode(in.substr(0, length), v, ec, limits_);
  if (ec || used != length) {
    if (!ec) ec = errc::malformed_frame;
    return 0;
  }
  // Push messages (invalidation, pub/sub) are not replies; neither is an
  // array a RESP2 subscriber gets with no command waiting.
  if (v.type == resp_type::push ||
      (subscriber_ && pending_.empty() && v.type == resp_type::array)) {
    if (push_) push_(std::move(v));
    return used;
  }
  if (pending_.empty()) {
    ec = errc::malformed_frame;
    return 0;
  }
  auto p = std::move(pending_.front());
  pending_.pop_front();
  if (!p.handler) {
    ec = apply(shake_ ? shake_->resume(v, out.bytes) : handshake::action{}, out);
    return ec ? 0 : used;
  }
  p.handler({}, std::move(v), true);
  return used;
}

void session::on_abort(std::error_code ec, std::uint64_t handed_over) {
  auto failing = std::exchange(pending_, {});
  for (auto& p : failing) {
    if (p.handler) p.handler(ec, {}, p.end <= handed_over);
  }
}

}  // namespace brokerside::protocol::redis
