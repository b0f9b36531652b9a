#include "protocol/amqp/field_table.h"

#include <bit>
#include <limits>

#include "protocol/amqp/wire.h"
#include "protocol/errc.h"

namespace brokerside::protocol::amqp {
namespace {

// Indexed like field_value::variant.
constexpr char letters[] = "VtbBsuIilfdDSATFx";
static_assert(sizeof letters - 1 == std::variant_size_v<field_variant>);

template <class... F>
struct overloaded : F... {
  using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;  // clang 14 has no aggregate deduction

bool read_array(reader& r, field_array& out);

bool read_value(reader& r, field_value& out) {
  std::uint8_t letter = 0;
  if (!r.u8(letter)) return false;
  auto& v = out;
  std::uint8_t u8 = 0;
  std::uint16_t u16 = 0;
  std::uint32_t u32 = 0;
  std::uint64_t u64 = 0;
  switch (letter) {
    case 'V':
      v.emplace<std::monostate>();
      return true;
    case 't':
      if (!r.u8(u8)) return false;
      v.emplace<bool>(u8 != 0);  // RabbitMQ reads any non-zero octet as true
      return true;
    case 'b':
      if (!r.u8(u8)) return false;
      v.emplace<std::int8_t>(static_cast<std::int8_t>(u8));
      return true;
    case 'B':
      if (!r.u8(u8)) return false;
      v.emplace<std::uint8_t>(u8);
      return true;
    case 's':
      if (!r.u16(u16)) return false;
      v.emplace<std::int16_t>(static_cast<std::int16_t>(u16));
      return true;
    case 'u':
      if (!r.u16(u16)) return false;
      v.emplace<std::uint16_t>(u16);
      return true;
    case 'I':
      if (!r.u32(u32)) return false;
      v.emplace<std::int32_t>(static_cast<std::int32_t>(u32));
      return true;
    case 'i':
      if (!r.u32(u32)) return false;
      v.emplace<std::uint32_t>(u32);
      return true;
    case 'l':
    case 'L':  // the 0-9-1 XML's unsigned 64; RabbitMQ reads both as signed
      if (!r.u64(u64)) return false;
      v.emplace<std::int64_t>(static_cast<std::int64_t>(u64));
      return true;
    case 'f':
      if (!r.u32(u32)) return false;
      v.emplace<float>(std::bit_cast<float>(u32));
      return true;
    case 'd':
      if (!r.u64(u64)) return false;
      v.emplace<double>(std::bit_cast<double>(u64));
      return true;
    case 'D': {
      decimal d;
      if (!r.u8(d.scale) || !r.u32(d.value)) return false;
      v.emplace<decimal>(d);
      return true;
    }
    case 'S':
      return r.longstr(v.emplace<std::string>());
    case 'A':
      return read_array(r, v.emplace<field_array>());
    case 'T':
      if (!r.u64(u64)) return false;
      v.emplace<timestamp>(timestamp{u64});
      return true;
    case 'F':
      return r.table(v.emplace<field_table>());
    case 'x':
      return r.longstr(v.emplace<byte_array>().bytes);
    default:
      // Without its size, nothing after an unknown type can be read.
      return r.fail(errc::malformed_frame);
  }
}

// Tables and arrays share the frame: a u32 byte count, then entries that
// must use exactly that many bytes.
bool nested(reader& r, std::string_view& body) {
  if (r.depth() + 1 > max_nesting) return r.fail(errc::nesting_too_deep);
  std::uint32_t size = 0;
  return r.u32(size) && r.bytes(size, body);
}

bool read_array(reader& r, field_array& out) {
  std::string_view body;
  if (!nested(r, body)) return false;
  reader in(body, r.depth() + 1);
  out.clear();
  while (!in.at_end()) {
    if (!read_value(in, out.emplace_back())) return r.fail(in.error());
  }
  return true;
}

bool write_value(writer& w, const field_value& v);

// Writes a u32 byte count, then what `body` writes, then fills in the count.
template <class Body>
bool write_nested(writer& w, Body body) {
  if (w.depth() + 1 > max_nesting) return w.fail(errc::nesting_too_deep);
  auto& out = w.out();
  const auto start = out.size();
  w.u32(0);
  writer in(out, w.depth() + 1);
  if (!body(in)) return w.fail(in.error());
  const auto size = out.size() - start - 4;
  if (size > std::numeric_limits<std::uint32_t>::max()) return w.fail(errc::field_too_long);
  patch_u32(out, start, static_cast<std::uint32_t>(size));
  return true;
}

bool write_value(writer& w, const field_value& v) {
  w.u8(static_cast<std::uint8_t>(type_letter(v)));
  return std::visit(overloaded{
                        [](std::monostate) { return true; },
                        [&](bool b) { return w.u8(b ? 1 : 0); },
                        [&](std::int8_t i) { return w.u8(static_cast<std::uint8_t>(i)); },
                        [&](std::uint8_t i) { return w.u8(i); },
                        [&](std::int16_t i) { return w.u16(static_cast<std::uint16_t>(i)); },
                        [&](std::uint16_t i) { return w.u16(i); },
                        [&](std::int32_t i) { return w.u32(static_cast<std::uint32_t>(i)); },
                        [&](std::uint32_t i) { return w.u32(i); },
                        [&](std::int64_t i) { return w.u64(static_cast<std::uint64_t>(i)); },
                        [&](float f) { return w.u32(std::bit_cast<std::uint32_t>(f)); },
                        [&](double d) { return w.u64(std::bit_cast<std::uint64_t>(d)); },
                        [&](const decimal& d) { return w.u8(d.scale) && w.u32(d.value); },
                        [&](const std::string& s) { return w.longstr(s); },
                        [&](const field_array& a) {
                          return write_nested(w, [&](writer& in) {
                            for (const auto& e : a) {
                              if (!write_value(in, e)) return false;
                            }
                            return true;
                          });
                        },
                        [&](timestamp t) { return w.u64(t.seconds); },
                        [&](const field_table& t) { return w.table(t); },
                        [&](const byte_array& x) { return w.longstr(x.bytes); },
                    },
                    static_cast<const field_variant&>(v));
}

}  // namespace

bool field_value::operator==(const field_value& other) const {
  return static_cast<const field_variant&>(*this) == static_cast<const field_variant&>(other);
}

bool field::operator==(const field& other) const {
  return name == other.name && value == other.value;
}

char type_letter(const field_value& v) noexcept { return letters[v.index()]; }

bool reader::table(field_table& out) {
  std::string_view body;
  if (!nested(*this, body)) return false;
  reader in(body, depth_ + 1);
  out.clear();
  while (!in.at_end()) {
    auto& [name, value] = out.emplace_back();
    if (!in.shortstr(name) || !read_value(in, value)) return fail(in.error());
  }
  return true;
}

bool writer::table(const field_table& t) {
  return write_nested(*this, [&](writer& in) {
    for (const auto& [name, value] : t) {
      if (!in.shortstr(name) || !write_value(in, value)) return false;
    }
    return true;
  });
}

std::error_code encode_table(const field_table& table, std::string& out) {
  const auto size = out.size();
  writer w(out);
  if (!w.table(table)) {
    out.resize(size);
    return w.error();
  }
  return {};
}

std::error_code decode_table(std::string_view in, field_table& out) noexcept {
  reader r(in);
  field_table t;
  if (!r.table(t)) return r.error();
  if (!r.at_end()) return make_error_code(errc::malformed_frame);
  out = std::move(t);
  return {};
}

}  // namespace brokerside::protocol::amqp
