#include "protocol/framed/json.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <utility>
#include <variant>
#include <vector>

#include "protocol/errc.h"

namespace brokerside::protocol::framed {
namespace {

// Python's repr of a float, which json.dumps writes: the shortest digits
// that read back as the same double, positional when the decimal point
// falls within [-4, 16) of them, else d.ddde+XX; ".0" on whole numbers.
void append_python_float(double d, std::string& out) {
  if (d == 0) {
    out += std::signbit(d) ? "-0.0" : "0.0";
    return;
  }
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific).ptr;
  std::string_view s(buf, static_cast<std::size_t>(end - buf));  // -d.ddde+XX, shortest
  if (s.front() == '-') {
    out += '-';
    s.remove_prefix(1);
  }
  const auto e = s.find('e');
  std::string digits(1, s[0]);
  if (e > 1) digits += s.substr(2, e - 2);
  auto exponent_text = s.substr(e + 1);
  if (exponent_text.front() == '+') exponent_text.remove_prefix(1);
  int exponent = 0;
  std::from_chars(exponent_text.data(), exponent_text.data() + exponent_text.size(), exponent);
  const int point = exponent + 1;  // digits before the decimal point
  const auto n = static_cast<int>(digits.size());
  if (point > -4 && point <= 16) {
    if (point <= 0) {
      out += "0.";
      out.append(static_cast<std::size_t>(-point), '0');
      out += digits;
    } else if (point >= n) {
      out += digits;
      out.append(static_cast<std::size_t>(point - n), '0');
      out += ".0";
    } else {
      out.append(digits, 0, static_cast<std::size_t>(point));
      out += '.';
      out.append(digits, static_cast<std::size_t>(point));
    }
    return;
  }
  out += digits[0];
  if (n > 1) {
    out += '.';
    out.append(digits, 1);
  }
  out += exponent < 0 ? "e-" : "e+";
  const int magnitude = std::abs(exponent);
  if (magnitude < 10) out += '0';
  out += std::to_string(magnitude);
}

void append_u_escape(std::uint32_t unit, std::string& out) {
  constexpr char hex[] = "0123456789abcdef";
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) out += hex[(unit >> shift) & 0xF];
}

// A str as json.dumps writes it with ensure_ascii: printable ASCII as is,
// the short escapes, everything else \uXXXX (a surrogate pair above the
// BMP). `s` is valid UTF-8.
void append_python_string(std::string_view s, std::string& out) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
      std::uint32_t cp = c & (0x3F >> n);
      for (std::size_t k = 1; k <= n; ++k) cp = (cp << 6) | (s[i + k] & 0x3F);
      i += n + 1;
      if (cp >= 0x10000) {
        cp -= 0x10000;
        append_u_escape(0xD800 + (cp >> 10), out);
        append_u_escape(0xDC00 + (cp & 0x3FF), out);
      } else {
        append_u_escape(cp, out);
      }
      continue;
    }
    ++i;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          append_u_escape(c, out);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

class encoder {
 public:
  encoder(std::string& out, const limits& lim) : out_(out), lim_(lim) {}

  std::error_code error;

  bool put(const value& v, std::size_t depth) {
    return std::visit([&](const auto& x) { return put_one(x, depth); },
                      static_cast<const value_variant&>(v));
  }

 private:
  bool fail(errc e) {
    error = make_error_code(e);
    return false;
  }

  bool put_one(std::monostate, std::size_t) { return text("null"); }
  bool put_one(bool b, std::size_t) { return text(b ? "true" : "false"); }
  bool put_one(std::int64_t n, std::size_t) { return decimal(n); }
  bool put_one(std::uint64_t n, std::size_t) { return decimal(n); }
  bool put_one(float f, std::size_t depth) { return put_one(static_cast<double>(f), depth); }
  bool put_one(double d, std::size_t) {
    if (!std::isfinite(d)) return fail(errc::unsupported);
    append_python_float(d, out_);
    return true;
  }
  bool put_one(const std::string& s, std::size_t) {
    if (!valid_utf8(s)) return fail(errc::unsupported);
    append_python_string(s, out_);
    return true;
  }
  bool put_one(const bin&, std::size_t) { return fail(errc::unsupported); }
  bool put_one(const ext&, std::size_t) { return fail(errc::unsupported); }

  bool put_one(const array& a, std::size_t depth) {
    if (depth >= lim_.max_depth) return fail(errc::nesting_too_deep);
    out_ += '[';
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (i > 0) out_ += ", ";
      if (!put(a[i], depth + 1)) return false;
    }
    return text("]");
  }

  bool put_one(const map& m, std::size_t depth) {
    if (depth >= lim_.max_depth) return fail(errc::nesting_too_deep);
    out_ += '{';
    for (std::size_t i = 0; i < m.size(); ++i) {
      if (i > 0) out_ += ", ";
      const auto* key = std::get_if<std::string>(&m[i].key);
      if (key == nullptr) return fail(errc::unsupported);
      if (!put_one(*key, depth + 1)) return false;
      out_ += ": ";
      if (!put(m[i].val, depth + 1)) return false;
    }
    return text("}");
  }

  bool text(std::string_view t) {
    out_ += t;
    return true;
  }

  template <typename Integer>
  bool decimal(Integer n) {
    char digits[24];
    out_.append(digits, std::to_chars(digits, digits + sizeof digits, n).ptr);
    return true;
  }

  std::string& out_;
  const limits& lim_;
};

// Builds the value tree from nlohmann's SAX events, holding the limits;
// records why it stopped, since nlohmann reports only that it did.
class builder final : public nlohmann::json_sax<nlohmann::json> {
 public:
  builder(std::string_view in, const limits& lim) : in_(in), lim_(lim) {}

  value root;
  errc error = errc::malformed_frame;

  bool null() override { return add(std::monostate{}); }
  bool boolean(bool b) override { return add(b); }
  bool number_integer(number_integer_t n) override { return add(std::int64_t{n}); }
  bool number_unsigned(number_unsigned_t n) override {
    if (n <= static_cast<std::uint64_t>(INT64_MAX)) return add(static_cast<std::int64_t>(n));
    return add(std::uint64_t{n});
  }
  bool number_float(number_float_t d, const string_t& text) override {
    // nlohmann reads an integer beyond 64 bits as a double; Python keeps it.
    if (text.find_first_of(".eE") == string_t::npos) return fail(errc::unsupported);
    return add(double{d});
  }
  bool string(string_t& s) override { return add(std::move(s)); }
  bool binary(binary_t&) override { return fail(errc::malformed_frame); }  // not in JSON
  bool start_object(std::size_t) override { return open(map{}); }
  bool key(string_t& k) override {
    if (!count()) return false;
    std::get<map>(*open_.back()).push_back({value{std::move(k)}, value{}});
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(array{}); }
  bool end_array() override { return close(); }

  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& e) override {
    // Python reads numbers beyond double's range (as inf) and NaN,
    // Infinity, -Infinity: valid for the peer, not for the value tree. The
    // lexer stops on their first letter.
    if (e.id == 406 || python_constant_at(position - 1)) return fail(errc::unsupported);
    return fail(errc::malformed_frame);
  }

 private:
  bool fail(errc e) {
    error = e;
    return false;
  }

  bool python_constant_at(std::size_t at) const {
    if (at >= in_.size()) return false;
    auto rest = in_.substr(at);
    for (const std::string_view name : {"NaN", "Infinity"}) {
      if (!rest.starts_with(name)) continue;
      rest.remove_prefix(name.size());
      return rest.empty() || rest.find_first_of(" \t\r\n,]}") == 0;
    }
    return false;
  }

  bool count() { return ++values_ <= lim_.max_elements || fail(errc::frame_too_large); }

  // Where the next value goes: the root, an array's new element, or the
  // value of the entry key() began.
  value& slot() {
    if (open_.empty()) return root;
    if (auto* a = std::get_if<array>(open_.back())) return a->emplace_back();
    return std::get<map>(*open_.back()).back().val;
  }

  template <typename T>
  bool add(T&& x) {
    if (!count()) return false;
    slot() = std::forward<T>(x);
    return true;
  }

  // Containers are filled in place: an open container is the last element
  // of its parent, which grows only after it closes, so the pointers hold.
  template <typename T>
  bool open(T&& empty) {
    if (open_.size() >= lim_.max_depth) return fail(errc::nesting_too_deep);
    if (!count()) return false;
    auto& v = slot();
    v = std::forward<T>(empty);
    open_.push_back(&v);
    return true;
  }

  bool close() {
    open_.pop_back();
    return true;
  }

  std::string_view in_;
  const limits& lim_;
  std::vector<value*> open_;  // arrays and objects begun and not ended, innermost last
  std::size_t values_ = 0;    // values and keys so far
};

}  // namespace

std::error_code encode_json(const value& v, std::string& out, const limits& lim) {
  const auto size = out.size();
  encoder e(out, lim);
  if (!e.put(v, 0)) {
    out.resize(size);
    return e.error;
  }
  return {};
}

std::error_code decode_json(std::string_view in, value& out, const limits& lim) noexcept {
  if (in.size() > lim.max_bytes) return errc::frame_too_large;
  // nlohmann skips a byte order mark; Python's json.loads refuses one.
  if (in.starts_with("\xEF\xBB\xBF")) return errc::malformed_frame;
  try {
    builder b(in, lim);
    if (!nlohmann::json::sax_parse(in.begin(), in.end(), &b, nlohmann::json::input_format_t::json,
                                   /*strict=*/true, /*ignore_comments=*/false)) {
      return b.error;
    }
    out = std::move(b.root);
    return {};
  } catch (const std::bad_alloc&) {
    return errc::frame_too_large;
  } catch (...) {
    return errc::malformed_frame;  // nlohmann reports through parse_error; to be safe
  }
}

}  // namespace brokerside::protocol::framed
