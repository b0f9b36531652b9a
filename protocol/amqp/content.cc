#include "protocol/amqp/content.h"

#include <algorithm>
#include <limits>

#include "protocol/amqp/frame.h"
#include "protocol/amqp/methods.h"
#include "protocol/amqp/wire.h"
#include "protocol/errc.h"

namespace brokerside::protocol::amqp {
namespace {

// Property flags: the first property is bit 15, the fourteenth bit 2; bit 0
// would announce another flags word.
constexpr std::uint16_t continuation_bit = 1;

// Calls fn(flag, member) for each property in wire order, stopping at the
// first false. P is const when encoding.
template <class P, class Fn>
bool each_property(P& p, Fn fn) {
  std::uint16_t flag = 1u << 15;
  auto next = [&](auto& member) {
    const bool ok = fn(flag, member);
    flag >>= 1;
    return ok;
  };
  return next(p.content_type) && next(p.content_encoding) && next(p.headers) &&
         next(p.delivery_mode) && next(p.priority) && next(p.correlation_id) && next(p.reply_to) &&
         next(p.expiration) && next(p.message_id) && next(p.timestamp) && next(p.type) &&
         next(p.user_id) && next(p.app_id) && next(p.cluster_id);
}

// A property's value through the reader or the writer, by its type.
template <class F, class T>
bool value(F& f, T& v) {
  using plain = std::remove_const_t<T>;
  if constexpr (std::is_same_v<plain, std::string>) {
    return f.shortstr(v);
  } else if constexpr (std::is_same_v<plain, field_table>) {
    return f.table(v);
  } else if constexpr (std::is_same_v<plain, std::uint8_t>) {
    return f.u8(v);
  } else {
    static_assert(std::is_same_v<plain, std::uint64_t>);
    return f.u64(v);
  }
}

}  // namespace

std::error_code encode_content_header(std::uint64_t body_size, const basic_properties& properties,
                                      std::string& out) {
  const auto size = out.size();
  writer w(out);
  std::uint16_t flags = 0;
  each_property(properties, [&](std::uint16_t flag, const auto& member) {
    if (member) flags |= flag;
    return true;
  });
  w.u16(basic_class_id);
  w.u16(0);  // weight: unused, must be zero
  w.u64(body_size);
  w.u16(flags);
  const bool ok = each_property(
      properties, [&](std::uint16_t, const auto& member) { return !member || value(w, *member); });
  if (ok) return {};
  out.resize(size);
  return w.error();
}

std::error_code decode_content_header(std::string_view payload, content_header& out) noexcept {
  reader r(payload);
  std::uint16_t class_id = 0;
  std::uint16_t flags = 0;
  content_header h;
  // The weight is unused; RabbitMQ ignores it too.
  if (!r.u16(class_id) || !r.reserved_u16() || !r.u64(h.body_size) || !r.u16(flags)) {
    return r.error();
  }
  if (class_id != basic_class_id) return make_error_code(errc::unsupported);
  if (flags & continuation_bit) return make_error_code(errc::malformed_frame);
  const bool ok = each_property(h.properties, [&](std::uint16_t flag, auto& member) {
    return !(flags & flag) || value(r, member.emplace());
  });
  if (!ok) return r.error();
  if (!r.at_end()) return make_error_code(errc::malformed_frame);
  out = std::move(h);
  return {};
}

std::error_code append_publish(std::string& out, std::uint16_t channel,
                               const basic_publish& publish, const basic_properties& properties,
                               std::string_view body, std::uint32_t frame_max) {
  const auto start = out.size();
  auto fail = [&](std::error_code ec) {
    out.resize(start);
    return ec;
  };
  if (auto ec = append_method_frame(out, channel, publish, frame_max)) return fail(ec);

  const auto header = begin_frame(out, frame_type::header, channel);
  if (auto ec = encode_content_header(body.size(), properties, out)) return fail(ec);
  const auto header_payload = out.size() - header - frame_header_size;
  if ((frame_max != 0 && header_payload + frame_overhead > frame_max) ||
      header_payload > std::numeric_limits<std::uint32_t>::max()) {
    return fail(make_error_code(errc::frame_too_large));
  }
  end_frame(out, header);

  // The method frame fitted, so frame_max is well above the 8 bytes of
  // overhead and every body frame carries at least one byte.
  const std::size_t max_payload =
      frame_max == 0 ? std::numeric_limits<std::uint32_t>::max() : frame_max - frame_overhead;
  const auto frames = (body.size() + max_payload - 1) / max_payload;
  out.reserve(out.size() + body.size() + frames * frame_overhead);
  while (!body.empty()) {
    const auto n = std::min(body.size(), max_payload);
    append_frame(out, frame_type::body, channel, body.substr(0, n));
    body.remove_prefix(n);
  }
  return {};
}

}  // namespace brokerside::protocol::amqp
