#include "protocol/redis/resp.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <utility>

#include "protocol/errc.h"

namespace brokerside::protocol::redis {
namespace {

constexpr std::string_view crlf = "\r\n";

bool parse_integer(std::string_view text, std::int64_t& out) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

// A recursive-descent parse of one reply. Each step returns false when it
// cannot go on: either the input ends early (need_more) or ec is set.
class parser {
 public:
  parser(std::string_view in, const decoder_limits& limits, std::error_code& ec)
      : in_(in), limits_(limits), ec_(ec) {}

  std::size_t position() const { return pos_; }

  bool parse(value& v, std::size_t depth) {
    if (depth > limits_.max_depth) return fail(errc::nesting_too_deep);
    if (pos_ >= in_.size()) return false;
    const char type = in_[pos_++];
    std::string_view head;
    if (!line(head)) return false;
    switch (type) {
      case '+':
        v.type = resp_type::simple_string;
        v.text = head;
        return true;
      case '-':
        v.type = resp_type::error;
        v.text = head;
        return true;
      case ':':
        v.type = resp_type::integer;
        return integer(head, v.integer) || fail(errc::malformed_frame);
      case '$':
      case '!':
      case '=':
        return blob(type, head, v);
      case '*':
      case '~':
      case '>':
      case '%':
        return aggregate(type, head, v, depth);
      case '_':
        v.type = resp_type::null;
        return head.empty() || fail(errc::malformed_frame);
      case ',':
        v.type = resp_type::double_value;
        return floating(head, v.number) || fail(errc::malformed_frame);
      case '#':
        v.type = resp_type::boolean;
        if (head != "t" && head != "f") return fail(errc::malformed_frame);
        v.boolean = head == "t";
        return true;
      case '(':
        v.type = resp_type::big_number;
        if (!big_number(head)) return fail(errc::malformed_frame);
        v.text = head;
        return true;
      case '|':
        return attribute(head, v, depth);
      default:
        return fail(errc::malformed_frame);
    }
  }

 private:
  bool fail(errc e) {
    ec_ = make_error_code(e);
    return false;
  }

  // The text up to the next CRLF.
  bool line(std::string_view& out) {
    const auto end = in_.find(crlf, pos_);
    if (end == std::string_view::npos) {
      // A header line is short; a long run without CRLF is not RESP.
      if (in_.size() - pos_ > 64 * 1024) return fail(errc::malformed_frame);
      return false;
    }
    out = in_.substr(pos_, end - pos_);
    pos_ = end + crlf.size();
    return true;
  }

  static bool integer(std::string_view text, std::int64_t& out) { return parse_integer(text, out); }

  static bool floating(std::string_view text, double& out) {
    if (text == "inf" || text == "+inf") {
      out = std::numeric_limits<double>::infinity();
      return true;
    }
    if (text == "-inf") {
      out = -std::numeric_limits<double>::infinity();
      return true;
    }
    if (text == "nan" || text == "-nan") {
      out = std::numeric_limits<double>::quiet_NaN();
      return true;
    }
    if (text.empty()) return false;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && end == text.data() + text.size();
  }

  static bool big_number(std::string_view text) {
    if (!text.empty() && text[0] == '-') text.remove_prefix(1);
    return !text.empty() &&
           std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  }

  bool blob(char type, std::string_view head, value& v) {
    std::int64_t length = 0;
    if (!integer(head, length)) return fail(errc::malformed_frame);
    if (type == '$' && length == -1) {
      v.type = resp_type::null;
      return true;
    }
    if (length < 0) return fail(errc::malformed_frame);
    if (static_cast<std::uint64_t>(length) > limits_.max_reply_bytes) {
      return fail(errc::frame_too_large);
    }
    const auto size = static_cast<std::size_t>(length);
    if (in_.size() - pos_ < size + crlf.size()) return false;
    if (in_.substr(pos_ + size, crlf.size()) != crlf) return fail(errc::malformed_frame);
    auto data = in_.substr(pos_, size);
    pos_ += size + crlf.size();
    switch (type) {
      case '$':
        v.type = resp_type::bulk_string;
        break;
      case '!':
        v.type = resp_type::error;
        break;
      default:  // '=': "txt:" or "mkd:" then the text
        if (data.size() < 4 || data[3] != ':') return fail(errc::malformed_frame);
        v.type = resp_type::verbatim;
        data.remove_prefix(4);
        break;
    }
    v.text = data;
    return true;
  }

  bool aggregate(char type, std::string_view head, value& v, std::size_t depth) {
    std::int64_t count = 0;
    if (!integer(head, count)) return fail(errc::malformed_frame);
    if (type == '*' && count == -1) {
      v.type = resp_type::null;
      return true;
    }
    if (count < 0) return fail(errc::malformed_frame);
    // Every element takes at least 3 bytes ("_\r\n"): a count beyond what
    // the limit can hold is refused before anything is allocated.
    const auto elements = static_cast<std::uint64_t>(count) * (type == '%' ? 2 : 1);
    if (elements > limits_.max_reply_bytes / 3) return fail(errc::frame_too_large);
    v.type = type == '*'   ? resp_type::array
             : type == '~' ? resp_type::set
             : type == '>' ? resp_type::push
                           : resp_type::map;
    v.elements.clear();
    v.elements.reserve(std::min<std::uint64_t>(elements, 1024));
    for (std::uint64_t i = 0; i < elements; ++i) {
      v.elements.emplace_back();
      if (!parse(v.elements.back(), depth + 1)) return false;
    }
    return true;
  }

  bool attribute(std::string_view head, value& v, std::size_t depth) {
    std::int64_t count = 0;
    if (!integer(head, count) || count < 0) return fail(errc::malformed_frame);
    if (static_cast<std::uint64_t>(count) * 2 > limits_.max_reply_bytes / 3) {
      return fail(errc::frame_too_large);
    }
    for (std::int64_t i = 0; i < count * 2; ++i) {
      value ignored;
      if (!parse(ignored, depth + 1)) return false;
    }
    return parse(v, depth);
  }

  std::string_view in_;
  const decoder_limits& limits_;
  std::error_code& ec_;
  std::size_t pos_ = 0;
};

void append_decimal(std::size_t n, std::string& out) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  out.append(digits, end);
}

}  // namespace

void encode_command(std::span<const std::string_view> args, std::string& out) {
  out.push_back('*');
  append_decimal(args.size(), out);
  out.append(crlf);
  for (const auto arg : args) {
    out.push_back('$');
    append_decimal(arg.size(), out);
    out.append(crlf);
    out.append(arg);
    out.append(crlf);
  }
}

std::size_t decode(std::string_view input, value& out, std::error_code& ec,
                   const decoder_limits& limits) noexcept {
  ec.clear();
  parser p(input, limits, ec);
  value v;
  if (!p.parse(v, 0)) {
    // Incomplete: refuse to buffer more than one reply may hold.
    if (!ec && input.size() > limits.max_reply_bytes) ec = make_error_code(errc::frame_too_large);
    return 0;
  }
  if (p.position() > limits.max_reply_bytes) {
    ec = make_error_code(errc::frame_too_large);
    return 0;
  }
  out = std::move(v);
  return p.position();
}

std::size_t reply_scanner::scan(std::string_view in, std::error_code& ec) noexcept {
  ec.clear();
  const auto fail = [&](errc e) {
    ec = make_error_code(e);
    return std::size_t{0};
  };
  while (true) {
    if (open_.size() > limits_.max_depth) return fail(errc::nesting_too_deep);
    const auto end = pos_ < in.size() ? in.find(crlf, pos_ + 1) : std::string_view::npos;
    if (end == std::string_view::npos) {
      if (in.size() - std::min(pos_, in.size()) > 64 * 1024) return fail(errc::malformed_frame);
      return in.size() > limits_.max_reply_bytes ? fail(errc::frame_too_large) : 0;
    }
    const char type = in[pos_];
    std::int64_t n = 0;
    const auto head = in.substr(pos_ + 1, end - pos_ - 1);
    std::size_t next = end + crlf.size();  // where this element ends, once known
    switch (type) {
      case '+':
      case '-':
      case ':':
      case '_':
      case ',':
      case '#':
      case '(':  // clang-format off
        break;  // clang-format on
      case '$':
      case '!':
      case '=':
        if (!parse_integer(head, n) || n < -1 || (n == -1 && type != '$')) {
          return fail(errc::malformed_frame);
        }
        if (n > 0 && static_cast<std::uint64_t>(n) > limits_.max_reply_bytes) {
          return fail(errc::frame_too_large);
        }
        if (n >= 0) next += static_cast<std::size_t>(n) + crlf.size();
        if (next > in.size()) {
          return in.size() > limits_.max_reply_bytes ? fail(errc::frame_too_large) : 0;
        }
        break;
      case '*':
      case '~':
      case '>':
      case '%':
      case '|': {
        if (!parse_integer(head, n) || n < -1 || (n == -1 && type != '*')) {
          return fail(errc::malformed_frame);
        }
        const auto elements = static_cast<std::uint64_t>(std::max<std::int64_t>(n, 0)) *
                              (type == '%' || type == '|' ? 2 : 1);
        if (elements > limits_.max_reply_bytes / 3) return fail(errc::frame_too_large);
        pos_ = next;
        if (elements > 0) {
          open_.push_back({elements, type == '|'});
          continue;
        }
        if (type == '|') continue;  // an empty attribute: the next element counts
        break;
      }
      default:
        return fail(errc::malformed_frame);
    }
    // An element ended at `next`: count it against the aggregates it closes.
    pos_ = next;
    bool finished = true;
    while (!open_.empty()) {
      if (--open_.back().left > 0) {
        finished = false;
        break;
      }
      const bool attribute = open_.back().attribute;
      open_.pop_back();
      if (attribute) {  // what follows the attribute is the element
        finished = false;
        break;
      }
    }
    if (!finished) continue;
    const auto length = std::exchange(pos_, 0);
    return length > limits_.max_reply_bytes ? fail(errc::frame_too_large) : length;
  }
}

}  // namespace brokerside::protocol::redis
