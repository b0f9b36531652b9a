#include "protocol/amqp/channel.h"

#include <type_traits>
#include <utility>

#include "protocol/amqp/frame.h"
#include "protocol/errc.h"

namespace brokerside::protocol::amqp {
namespace {

struct method_ids {
  std::uint16_t class_id = 0, method_id = 0;
};

template <class M, class... Ts>
constexpr bool one_of = (std::is_same_v<M, Ts> || ...);

// The reply call() waits for, or nothing for a method call() does not send:
// one that gets no reply (publish, ack, ...), one with its own function
// (consume, channel.open / close, confirm.select), a connection method, a
// reply, or a request with no_wait set.
std::optional<method_ids> sync_reply(const method& m) {
  return std::visit(
      [](const auto& request) -> std::optional<method_ids> {
        using M = std::decay_t<decltype(request)>;
        if constexpr (requires { request.no_wait; }) {
          if (request.no_wait) return std::nullopt;
        }
        if constexpr (std::is_same_v<M, exchange_unbind>) {
          return method_ids{exchange_unbind_ok::class_id, exchange_unbind_ok::method_id};
        } else if constexpr (one_of<M, exchange_declare, exchange_delete, exchange_bind,
                                    queue_declare, queue_bind, queue_purge, queue_delete,
                                    queue_unbind, basic_qos, basic_cancel, basic_recover,
                                    channel_flow>) {
          return method_ids{M::class_id, static_cast<std::uint16_t>(M::method_id + 1)};
        } else {
          return std::nullopt;
        }
      },
      m);
}

broker_reply reply_of(const channel_close& close) {
  return {close.reply_code, close.reply_text, close.failing_class_id, close.failing_method_id};
}

}  // namespace

channel::channel(id_type id, bool confirms, channel_handler opened, channel_context& cx)
    : id_(id), confirms_(confirms), opened_(std::move(opened)) {
  // channel.open has no arguments: it always encodes.
  (void)send(channel_open{}, cx);
  pending_.push_back({.what = pending::kind::open,
                      .class_id = channel_open_ok::class_id,
                      .method_id = channel_open_ok::method_id});
}

std::error_code channel::send(const method& m, channel_context& cx) {
  return append_method_frame(cx.out, id_, m, cx.frame_max);
}

std::error_code channel::call(method request, method_handler&& done, channel_context& cx) {
  if (phase_ == phase::closing) return errc::channel_closed;
  const auto reply = sync_reply(request);
  if (!reply) return errc::unsupported;
  if (auto ec = send(request, cx)) return ec;
  pending p{.what = pending::kind::call,
            .class_id = reply->class_id,
            .method_id = reply->method_id,
            .done = std::move(done)};
  if (const auto* cancel = std::get_if<basic_cancel>(&request)) {
    p.what = pending::kind::cancel;
    p.consumer_tag = cancel->consumer_tag;
  }
  pending_.push_back(std::move(p));
  return {};
}

std::error_code channel::publish(const basic_publish& m, const basic_properties& properties,
                                 std::string_view body, publish_handler&& done,
                                 channel_context& cx) {
  if (phase_ != phase::open) return errc::channel_closed;
  // Without confirms nothing would ever say how the publish went.
  if (!confirms_) return errc::unsupported;
  if (auto ec = append_publish(cx.out, id_, m, properties, body, cx.frame_max)) return ec;
  unconfirmed_.emplace(next_seq_++, unconfirmed{std::move(done),
                                                m.exchange,
                                                m.routing_key,
                                                m.mandatory,
                                                cx.out_base + cx.out.size(),
                                                {}});
  return {};
}

std::error_code channel::consume(basic_consume request, deliver_handler&& deliver,
                                 cancelled_handler&& cancelled, method_handler&& done,
                                 channel_context& cx) {
  if (phase_ == phase::closing) return errc::channel_closed;
  // consume-ok brings the tag deliveries are matched by.
  if (request.no_wait) return errc::unsupported;
  if (auto ec = send(request, cx)) return ec;
  pending_.push_back({.what = pending::kind::consume,
                      .class_id = basic_consume_ok::class_id,
                      .method_id = basic_consume_ok::method_id,
                      .done = std::move(done),
                      .subscriber = std::make_shared<consumer>(
                          consumer{std::move(deliver), std::move(cancelled)})});
  return {};
}

void channel::acknowledge(const method& m, channel_context& cx) {
  // After a close the broker requeues what was unacked; an ack now would be
  // a channel error.
  if (phase_ != phase::open) return;
  (void)send(m, cx);  // fixed-size arguments: always encodes
}

void channel::close(done_handler done, channel_context& cx) {
  // What is queued goes out ahead of channel.close and the broker acts on
  // it: a publish among it counts as written (its outcome is unknown).
  cx.written = cx.out_base + cx.out.size();
  (void)send(channel_close{200, "closed by the client", 0, 0}, cx);  // always encodes
  fail_all(errc::aborted, {}, cx);
  phase_ = phase::closing;
  closing_ = std::move(done);
}

std::error_code channel::on_method(method m, channel_context& cx) {
  if (phase_ == phase::closing) {
    // Until close-ok only a close from the broker (the two crossed) counts.
    // Crossed, the caller is told at once, but the id stays taken until our
    // close is answered too (RabbitMQ answers it even after its own close):
    // freed earlier, that close-ok could land on a channel reopened with
    // the same id.
    const auto* close = std::get_if<channel_close>(&m);
    if (close == nullptr && !std::holds_alternative<channel_close_ok>(m)) return {};
    std::error_code ec;
    broker_reply reply;
    if (close != nullptr) {
      ec = send(channel_close_ok{}, cx);
      reply = reply_of(*close);
    } else {
      finished_ = true;
    }
    if (auto done = std::exchange(closing_, nullptr)) {
      cx.later.push_back([done, reply] { done({}, reply); });
    }
    return ec;
  }
  // Content frames must follow their method without anything in between.
  if (receiving_) return errc::malformed_frame;
  if (const auto* close = std::get_if<channel_close>(&m)) {
    const auto reply = reply_of(*close);
    auto ec = send(channel_close_ok{}, cx);
    if (phase_ == phase::open) closed_by_broker_ = reply;
    fail_all(errc::channel_closed, reply, cx);
    finished_ = true;
    return ec;
  }
  if (const auto* flow = std::get_if<channel_flow>(&m))
    return send(channel_flow_ok{flow->active}, cx);
  if (auto* deliver = std::get_if<basic_deliver>(&m)) {
    begin_incoming().deliver = std::move(*deliver);
    return {};
  }
  if (auto* returned = std::get_if<basic_return>(&m)) {
    begin_incoming().returned = std::move(*returned);
    return {};
  }
  if (const auto* ack = std::get_if<basic_ack>(&m)) {
    if (next_seq_ == 0) return errc::malformed_frame;  // not in confirm mode
    on_confirm(ack->delivery_tag, ack->multiple, true, cx);
    return {};
  }
  if (const auto* nack = std::get_if<basic_nack>(&m)) {
    if (next_seq_ == 0) return errc::malformed_frame;
    on_confirm(nack->delivery_tag, nack->multiple, false, cx);
    return {};
  }
  if (const auto* cancel = std::get_if<basic_cancel>(&m)) return on_broker_cancel(*cancel, cx);
  return on_reply(std::move(m), cx);
}

std::error_code channel::on_reply(method m, channel_context& cx) {
  if (pending_.empty() || class_id_of(m) != pending_.front().class_id ||
      method_id_of(m) != pending_.front().method_id) {
    return errc::malformed_frame;  // a reply to nothing asked, or out of order
  }
  auto p = std::move(pending_.front());
  pending_.pop_front();
  switch (p.what) {
    case pending::kind::open:
      if (confirms_) {
        if (auto ec = send(confirm_select{}, cx)) return ec;
        pending_.push_back({.what = pending::kind::select,
                            .class_id = confirm_select_ok::class_id,
                            .method_id = confirm_select_ok::method_id});
        return {};
      }
      [[fallthrough]];
    case pending::kind::select:
      phase_ = phase::open;
      if (confirms_) next_seq_ = 1;
      if (auto done = std::exchange(opened_, nullptr)) {
        cx.later.push_back([done, id = id_] { done({}, id, {}); });
      }
      return {};
    case pending::kind::consume:
      consumers_[std::get<basic_consume_ok>(m).consumer_tag] = std::move(p.subscriber);
      break;
    case pending::kind::cancel:
      consumers_.erase(p.consumer_tag);
      break;
    case pending::kind::call:
      break;
  }
  if (p.done) {
    cx.later.push_back(
        [done = std::move(p.done), m = std::move(m)]() mutable { done({}, std::move(m), {}); });
  }
  return {};
}

void channel::on_confirm(std::uint64_t tag, bool multiple, bool ack, channel_context& cx) {
  auto first = unconfirmed_.begin();
  // multiple with tag 0: everything outstanding (spec 1.8.3.13).
  auto last = tag == 0 ? unconfirmed_.end() : unconfirmed_.upper_bound(tag);
  if (!multiple) {
    first = unconfirmed_.find(tag);
    if (first == unconfirmed_.end()) return;  // already settled
    last = std::next(first);
  }
  for (auto it = first; it != last; ++it) {
    auto& u = it->second;
    if (!u.done) continue;
    std::error_code ec;
    broker_reply reply;
    if (u.returned) {
      ec = errc::publish_returned;
      reply = std::move(*u.returned);
    } else if (!ack) {
      ec = errc::publish_nacked;
    }
    cx.later.push_back([done = std::move(u.done), ec, reply = std::move(reply)]() mutable {
      done(ec, std::move(reply), true);
    });
  }
  unconfirmed_.erase(first, last);
}

std::error_code channel::on_broker_cancel(const basic_cancel& cancel, channel_context& cx) {
  std::error_code ec;
  if (!cancel.no_wait) ec = send(basic_cancel_ok{cancel.consumer_tag}, cx);
  const auto it = consumers_.find(cancel.consumer_tag);
  if (it == consumers_.end()) return ec;
  auto c = std::move(it->second);
  consumers_.erase(it);
  if (c->cancelled) {
    cx.later.push_back([c] {
      c->cancelled(errc::channel_closed, broker_reply{0, "consumer cancelled by the broker", 0, 0});
    });
  }
  return ec;
}

std::error_code channel::on_header(std::string_view payload, channel_context& cx) {
  if (phase_ == phase::closing) return {};
  if (!receiving_ || incoming_->header_seen) return errc::malformed_frame;
  content_header header;
  if (auto ec = decode_content_header(payload, header)) return ec;
  if (header.body_size > cx.max_message_bytes) return errc::frame_too_large;
  incoming_->header_seen = true;
  incoming_->body_size = header.body_size;
  incoming_->properties = std::move(header.properties);
  incoming_->body.reserve(header.body_size);
  if (header.body_size == 0) content_done(cx);
  return {};
}

std::error_code channel::on_body(std::string_view payload, channel_context& cx) {
  if (phase_ == phase::closing) return {};
  if (!receiving_ || !incoming_->header_seen ||
      payload.size() > incoming_->body_size - incoming_->body.size()) {
    return errc::malformed_frame;
  }
  incoming_->body.append(payload);
  if (incoming_->body.size() == incoming_->body_size) content_done(cx);
  return {};
}

channel::incoming& channel::begin_incoming() {
  if (incoming_) {
    *incoming_ = incoming{};
  } else {
    incoming_ = std::make_unique<incoming>();
  }
  receiving_ = true;
  return *incoming_;
}

void channel::content_done(channel_context& cx) {
  auto in = std::move(*incoming_);
  receiving_ = false;
  if (in.deliver) {
    // A consumer cancelled by us may still get what was in flight: dropped,
    // the broker requeues it unacked when the channel closes.
    const auto it = consumers_.find(in.deliver->consumer_tag);
    if (it == consumers_.end() || !it->second->deliver) return;
    cx.later.push_back(
        [c = it->second, d = delivery{std::move(*in.deliver), std::move(in.properties),
                                      std::move(in.body)}]() mutable { c->deliver(std::move(d)); });
    return;
  }
  // Returns arrive in publish order and before their publish's ack: the
  // oldest unconfirmed mandatory publish to the same place is the one.
  const auto& r = *in.returned;
  for (auto& [seq, u] : unconfirmed_) {
    if (u.mandatory && !u.returned && u.exchange == r.exchange && u.routing_key == r.routing_key) {
      u.returned = broker_reply{r.reply_code, r.reply_text, basic_publish::class_id,
                                basic_publish::method_id};
      return;
    }
  }
}

void channel::fail_all(std::error_code ec, const broker_reply& reply, channel_context& cx) {
  for (auto& p : pending_.take()) {
    if (p.what == pending::kind::open || p.what == pending::kind::select) {
      if (auto done = std::exchange(opened_, nullptr)) {
        cx.later.push_back([done, id = id_, ec, reply] { done(ec, id, reply); });
      }
    } else if (p.done) {
      cx.later.push_back([done = std::move(p.done), ec, reply] { done(ec, {}, reply); });
    }
  }
  for (auto& [tag, c] : std::exchange(consumers_, {})) {
    if (c->cancelled) cx.later.push_back([c = c, ec, reply] { c->cancelled(ec, reply); });
  }
  for (auto& [seq, u] : std::exchange(unconfirmed_, {})) {
    if (!u.done) continue;
    cx.later.push_back([done = std::move(u.done), ec, reply, written = u.end <= cx.written] {
      done(ec, reply, written);
    });
  }
  if (auto done = std::exchange(closing_, nullptr)) {
    cx.later.push_back([done, ec, reply] { done(ec, reply); });
  }
  receiving_ = false;
}

}  // namespace brokerside::protocol::amqp
