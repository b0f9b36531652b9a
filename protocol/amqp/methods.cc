#include "protocol/amqp/methods.h"

#include <concepts>
#include <limits>
#include <type_traits>
#include <utility>

#include "protocol/amqp/frame.h"
#include "protocol/amqp/wire.h"
#include "protocol/errc.h"

namespace brokerside::protocol::amqp {
namespace {

// Each method's arguments in wire order, as one function that the reader
// runs to decode and the writer to encode (M is const then), so the two
// directions cannot drift apart.
template <class M, class T>
concept is = std::same_as<std::remove_const_t<M>, T>;

// --- connection ---
template <class F, is<connection_start> M>
bool fields(F& f, M& m) {
  return f.u8(m.version_major) && f.u8(m.version_minor) && f.table(m.server_properties) &&
         f.longstr(m.mechanisms) && f.longstr(m.locales);
}
template <class F, is<connection_start_ok> M>
bool fields(F& f, M& m) {
  return f.table(m.client_properties) && f.shortstr(m.mechanism) && f.longstr(m.response) &&
         f.shortstr(m.locale);
}
template <class F, is<connection_secure> M>
bool fields(F& f, M& m) {
  return f.longstr(m.challenge);
}
template <class F, is<connection_secure_ok> M>
bool fields(F& f, M& m) {
  return f.longstr(m.response);
}
template <class F, class M>
requires is<M, connection_tune> || is<M, connection_tune_ok>
bool fields(F& f, M& m) { return f.u16(m.channel_max) && f.u32(m.frame_max) && f.u16(m.heartbeat); }
template <class F, is<connection_open> M>
bool fields(F& f, M& m) {  // reserved: capabilities shortstr, insist bit
  return f.shortstr(m.virtual_host) && f.reserved_shortstr() && f.reserved_bit();
}
template <class F, is<connection_open_ok> M>
bool fields(F& f, M&) {  // reserved: known-hosts shortstr
  return f.reserved_shortstr();
}
template <class F, class M>
requires is<M, connection_close> || is<M, channel_close>
bool fields(F& f, M& m) {
  return f.u16(m.reply_code) && f.shortstr(m.reply_text) && f.u16(m.failing_class_id) &&
         f.u16(m.failing_method_id);
}
template <class F, is<connection_blocked> M>
bool fields(F& f, M& m) {
  return f.shortstr(m.reason);
}

// --- channel ---
template <class F, is<channel_open> M>
bool fields(F& f, M&) {  // reserved: out-of-band shortstr
  return f.reserved_shortstr();
}
template <class F, is<channel_open_ok> M>
bool fields(F& f, M&) {  // reserved: channel-id longstr
  return f.reserved_longstr();
}
template <class F, class M>
requires is<M, channel_flow> || is<M, channel_flow_ok>
bool fields(F& f, M& m) { return f.bit(m.active); }

// --- exchange ---
template <class F, is<exchange_declare> M>
bool fields(F& f, M& m) {
  return f.reserved_u16() && f.shortstr(m.exchange) && f.shortstr(m.type) && f.bit(m.passive) &&
         f.bit(m.durable) && f.bit(m.auto_delete) && f.bit(m.internal) && f.bit(m.no_wait) &&
         f.table(m.arguments);
}
template <class F, is<exchange_delete> M>
bool fields(F& f, M& m) {
  return f.reserved_u16() && f.shortstr(m.exchange) && f.bit(m.if_unused) && f.bit(m.no_wait);
}
template <class F, class M>
requires is<M, exchange_bind> || is<M, exchange_unbind>
bool fields(F& f, M& m) {
  return f.reserved_u16() && f.shortstr(m.destination) && f.shortstr(m.source) &&
         f.shortstr(m.routing_key) && f.bit(m.no_wait) && f.table(m.arguments);
}

// --- queue ---
template <class F, is<queue_declare> M>
bool fields(F& f, M& m) {
  return f.reserved_u16() && f.shortstr(m.queue) && f.bit(m.passive) && f.bit(m.durable) &&
         f.bit(m.exclusive) && f.bit(m.auto_delete) && f.bit(m.no_wait) && f.table(m.arguments);
}
template <class F, is<queue_declare_ok> M>
bool fields(F& f, M& m) {
  return f.shortstr(m.queue) && f.u32(m.message_count) && f.u32(m.consumer_count);
}
template <class F, is<queue_bind> M>
bool fields(F& f, M& m) {
  return f.reserved_u16() && f.shortstr(m.queue) && f.shortstr(m.exchange) &&
         f.shortstr(m.routing_key) && f.bit(m.no_wait) && f.table(m.arguments);
}
template <class F, is<queue_purge> M>
bool fields(F& f, M& m) {
  return f.reserved_u16() && f.shortstr(m.queue) && f.bit(m.no_wait);
}
template <class F, class M>
requires is<M, queue_purge_ok> || is<M, queue_delete_ok>
bool fields(F& f, M& m) { return f.u32(m.message_count); }
template <class F, is<queue_delete> M>
bool fields(F& f, M& m) {
  return f.reserved_u16() && f.shortstr(m.queue) && f.bit(m.if_unused) && f.bit(m.if_empty) &&
         f.bit(m.no_wait);
}
template <class F, is<queue_unbind> M>
bool fields(F& f, M& m) {
  return f.reserved_u16() && f.shortstr(m.queue) && f.shortstr(m.exchange) &&
         f.shortstr(m.routing_key) && f.table(m.arguments);
}

// --- basic ---
template <class F, is<basic_qos> M>
bool fields(F& f, M& m) {
  return f.u32(m.prefetch_size) && f.u16(m.prefetch_count) && f.bit(m.global);
}
template <class F, is<basic_consume> M>
bool fields(F& f, M& m) {
  return f.reserved_u16() && f.shortstr(m.queue) && f.shortstr(m.consumer_tag) &&
         f.bit(m.no_local) && f.bit(m.no_ack) && f.bit(m.exclusive) && f.bit(m.no_wait) &&
         f.table(m.arguments);
}
template <class F, class M>
requires is<M, basic_consume_ok> || is<M, basic_cancel_ok>
bool fields(F& f, M& m) { return f.shortstr(m.consumer_tag); }
template <class F, is<basic_cancel> M>
bool fields(F& f, M& m) {
  return f.shortstr(m.consumer_tag) && f.bit(m.no_wait);
}
template <class F, is<basic_publish> M>
bool fields(F& f, M& m) {
  return f.reserved_u16() && f.shortstr(m.exchange) && f.shortstr(m.routing_key) &&
         f.bit(m.mandatory) && f.bit(m.immediate);
}
template <class F, is<basic_return> M>
bool fields(F& f, M& m) {
  return f.u16(m.reply_code) && f.shortstr(m.reply_text) && f.shortstr(m.exchange) &&
         f.shortstr(m.routing_key);
}
template <class F, is<basic_deliver> M>
bool fields(F& f, M& m) {
  return f.shortstr(m.consumer_tag) && f.u64(m.delivery_tag) && f.bit(m.redelivered) &&
         f.shortstr(m.exchange) && f.shortstr(m.routing_key);
}
template <class F, is<basic_ack> M>
bool fields(F& f, M& m) {
  return f.u64(m.delivery_tag) && f.bit(m.multiple);
}
template <class F, is<basic_reject> M>
bool fields(F& f, M& m) {
  return f.u64(m.delivery_tag) && f.bit(m.requeue);
}
template <class F, is<basic_recover> M>
bool fields(F& f, M& m) {
  return f.bit(m.requeue);
}
template <class F, is<basic_nack> M>
bool fields(F& f, M& m) {
  return f.u64(m.delivery_tag) && f.bit(m.multiple) && f.bit(m.requeue);
}

// --- confirm ---
template <class F, is<confirm_select> M>
bool fields(F& f, M& m) {
  return f.bit(m.no_wait);
}

// Methods without arguments.
template <class F, class M>
requires is<M, connection_close_ok> || is<M, connection_unblocked> || is<M, channel_close_ok> ||
    is<M, exchange_declare_ok> || is<M, exchange_delete_ok> || is<M, exchange_bind_ok> ||
    is<M, exchange_unbind_ok> || is<M, queue_bind_ok> || is<M, queue_unbind_ok> ||
    is<M, basic_qos_ok> || is<M, basic_recover_ok> || is<M, confirm_select_ok>
bool fields(F&, M&) { return true; }

template <class M>
std::error_code decode_as(reader& r, method& out) {
  M m;
  if (!fields(r, m)) return r.error();
  // RabbitMQ refuses trailing bytes too: its decoders match the whole payload.
  if (!r.at_end()) return make_error_code(errc::malformed_frame);
  out.emplace<M>(std::move(m));
  return {};
}

// A linear search over the ids; a deliver is found after some 45
// comparisons, which is nothing next to the allocations of decoding it.
template <std::size_t... I>
std::error_code decode_args(std::uint16_t class_id, std::uint16_t method_id, reader& r, method& out,
                            std::index_sequence<I...>) {
  std::error_code ec = make_error_code(errc::unsupported);
  (void)((std::variant_alternative_t<I, method>::class_id == class_id &&
          std::variant_alternative_t<I, method>::method_id == method_id &&
          (ec = decode_as<std::variant_alternative_t<I, method>>(r, out), true)) ||
         ...);
  return ec;
}

}  // namespace

std::error_code encode_method(const method& m, std::string& out) {
  const auto size = out.size();
  writer w(out);
  const bool ok = std::visit(
      [&](const auto& args) {
        using M = std::decay_t<decltype(args)>;
        return w.u16(M::class_id) && w.u16(M::method_id) && fields(w, args);
      },
      m);
  if (ok) return {};
  out.resize(size);
  return w.error();
}

std::error_code append_method_frame(std::string& out, std::uint16_t channel, const method& m,
                                    std::uint32_t frame_max) {
  const auto start = begin_frame(out, frame_type::method, channel);
  if (auto ec = encode_method(m, out)) {
    out.resize(start);
    return ec;
  }
  const auto payload = out.size() - start - frame_header_size;
  if ((frame_max != 0 && payload + frame_overhead > frame_max) ||
      payload > std::numeric_limits<std::uint32_t>::max()) {
    out.resize(start);
    return make_error_code(errc::frame_too_large);
  }
  end_frame(out, start);
  return {};
}

std::error_code decode_method(std::string_view payload, method& out) noexcept {
  reader r(payload);
  std::uint16_t class_id = 0;
  std::uint16_t method_id = 0;
  if (!r.u16(class_id) || !r.u16(method_id)) return r.error();
  return decode_args(class_id, method_id, r, out,
                     std::make_index_sequence<std::variant_size_v<method>>{});
}

std::uint16_t class_id_of(const method& m) noexcept {
  return std::visit([](const auto& args) { return std::decay_t<decltype(args)>::class_id; }, m);
}

std::uint16_t method_id_of(const method& m) noexcept {
  return std::visit([](const auto& args) { return std::decay_t<decltype(args)>::method_id; }, m);
}

}  // namespace brokerside::protocol::amqp
