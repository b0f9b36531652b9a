#include "protocol/nats/codec.h"

#include <array>
#include <charconv>

#include "protocol/errc.h"

namespace brokerside::protocol::nats {
namespace {

constexpr std::string_view crlf = "\r\n";

bool blank(char c) noexcept { return c == ' ' || c == '\t'; }

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

bool same_word(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// The control line's words, split on runs of blanks; false beyond `max`.
template <std::size_t max>
bool split(std::string_view line, std::array<std::string_view, max>& words,
           std::size_t& count) noexcept {
  count = 0;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && blank(line[i])) ++i;
    if (i == line.size()) break;
    const auto start = i;
    while (i < line.size() && !blank(line[i])) ++i;
    if (count == max) return false;
    words[count++] = line.substr(start, i - start);
  }
  return true;
}

bool number(std::string_view text, std::uint64_t& out) noexcept {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// MSG <subject> <sid> [reply] <size> / HMSG <subject> <sid> [reply] <hsize> <size>
struct msg_line {
  std::string_view subject, reply;
  std::uint64_t sid = 0, header_size = 0, total = 0;
};

bool parse_msg_line(std::string_view line, bool with_headers, msg_line& out) noexcept {
  std::array<std::string_view, 6> w;
  std::size_t n = 0;
  if (!split(line, w, n)) return false;
  const std::size_t sizes = with_headers ? 2 : 1;
  if (n != 3 + sizes && n != 4 + sizes) return false;
  out.subject = w[1];
  if (!number(w[2], out.sid)) return false;
  if (n == 4 + sizes) out.reply = w[3];
  if (with_headers) {
    if (!number(w[n - 2], out.header_size) || !number(w[n - 1], out.total)) return false;
    if (out.header_size > out.total) return false;
  } else if (!number(w[n - 1], out.total)) {
    return false;
  }
  return true;
}

// The control line at the front of `in` (without CRLF) and where what
// follows starts; npos when the line is not complete.
std::size_t line_end(std::string_view in) noexcept { return in.find(crlf); }

std::string_view first_word(std::string_view line) noexcept {
  std::size_t i = 0;
  while (i < line.size() && !blank(line[i])) ++i;
  return line.substr(0, i);
}

void append_number(std::string& out, std::uint64_t n) {
  std::array<char, 24> digits;
  const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), n);
  (void)ec;
  out.append(digits.data(), end);
}

bool header_key_char(char c) noexcept { return c > ' ' && c != ':' && c != 0x7f; }

}  // namespace

std::size_t decode_server_op(std::string_view in, server_op& out, std::error_code& ec,
                             const decoder_limits& limits) noexcept {
  const auto end = line_end(in);
  if (end == std::string_view::npos) {
    if (in.size() > limits.max_control_line) ec = errc::frame_too_large;
    return 0;
  }
  if (end > limits.max_control_line) {
    ec = errc::frame_too_large;
    return 0;
  }
  const auto line = in.substr(0, end);
  const auto op = first_word(line);
  const auto after_line = end + crlf.size();
  if (same_word(op, "MSG") || same_word(op, "HMSG")) {
    const bool with_headers = op.size() == 4;
    msg_line m;
    if (!parse_msg_line(line, with_headers, m)) {
      ec = errc::malformed_frame;
      return 0;
    }
    if (m.total > limits.max_payload) {
      ec = errc::frame_too_large;
      return 0;
    }
    const auto need = after_line + m.total + crlf.size();
    if (in.size() < need) return 0;
    if (in.substr(after_line + m.total, crlf.size()) != crlf) {
      ec = errc::malformed_frame;
      return 0;
    }
    msg decoded;
    decoded.subject = m.subject;
    decoded.sid = m.sid;
    decoded.reply = m.reply;
    decoded.headers = in.substr(after_line, m.header_size);
    decoded.payload = in.substr(after_line + m.header_size, m.total - m.header_size);
    out = std::move(decoded);
    return need;
  }
  if (same_word(op, "PING") && line.size() == op.size()) {
    out = ping{};
  } else if (same_word(op, "PONG") && line.size() == op.size()) {
    out = pong{};
  } else if (op == "+OK" && line.size() == op.size()) {
    out = ok{};
  } else if (op == "-ERR") {
    auto text = line.substr(op.size());
    while (!text.empty() && blank(text.front())) text.remove_prefix(1);
    while (!text.empty() && blank(text.back())) text.remove_suffix(1);
    if (text.size() >= 2 && text.front() == '\'' && text.back() == '\'') {
      text = text.substr(1, text.size() - 2);
    }
    out = err{std::string(text)};
  } else if (same_word(op, "INFO")) {
    auto json = line.substr(op.size());
    while (!json.empty() && blank(json.front())) json.remove_prefix(1);
    if (json.empty() || json.front() != '{') {
      ec = errc::malformed_frame;
      return 0;
    }
    out = info{std::string(json)};
  } else {
    ec = errc::malformed_frame;
    return 0;
  }
  return after_line;
}

std::size_t wanted(std::string_view in) noexcept {
  const auto end = line_end(in);
  if (end == std::string_view::npos) return 0;
  const auto line = in.substr(0, end);
  const auto op = first_word(line);
  if (!same_word(op, "MSG") && !same_word(op, "HMSG")) return 0;
  msg_line m;
  if (!parse_msg_line(line, op.size() == 4, m)) return 0;
  return end + crlf.size() + m.total + crlf.size();
}

bool valid_subject(std::string_view subject) noexcept {
  if (subject.empty() || subject.front() == '.' || subject.back() == '.') return false;
  char previous = 0;
  for (const char c : subject) {
    if (c <= ' ' || c == 0x7f) return false;
    if (c == '.' && previous == '.') return false;
    previous = c;
  }
  return true;
}

std::error_code encode_headers(const header_block& h, std::string& out) {
  for (const auto& [key, value] : h.fields) {
    if (key.empty()) return errc::field_too_long;
    for (const char c : key) {
      if (!header_key_char(c)) return errc::field_too_long;
    }
    if (value.find_first_of("\r\n") != std::string::npos) return errc::field_too_long;
  }
  if (h.description.find_first_of("\r\n") != std::string::npos) return errc::field_too_long;
  out += "NATS/1.0";
  if (h.status != 0) {
    out += ' ';
    append_number(out, static_cast<std::uint64_t>(h.status));
    if (!h.description.empty()) out.append(1, ' ').append(h.description);
  }
  out += crlf;
  for (const auto& [key, value] : h.fields) {
    out.append(key).append(": ").append(value).append(crlf);
  }
  out += crlf;
  return {};
}

std::error_code decode_headers(std::string_view block, header_block& out) noexcept {
  constexpr std::string_view version = "NATS/1.0";
  auto end = block.find(crlf);
  if (end == std::string_view::npos || !block.starts_with(version)) return errc::malformed_frame;
  header_block h;
  auto status = block.substr(version.size(), end - version.size());
  while (!status.empty() && blank(status.front())) status.remove_prefix(1);
  if (!status.empty()) {
    const auto code = first_word(status);
    std::uint64_t n = 0;
    if (!number(code, n) || n > 999) return errc::malformed_frame;
    h.status = static_cast<int>(n);
    auto description = status.substr(code.size());
    while (!description.empty() && blank(description.front())) description.remove_prefix(1);
    h.description = description;
  }
  block.remove_prefix(end + crlf.size());
  while (!block.empty()) {
    end = block.find(crlf);
    if (end == std::string_view::npos) return errc::malformed_frame;
    const auto line = block.substr(0, end);
    block.remove_prefix(end + crlf.size());
    if (line.empty()) break;  // the blank line that ends the block
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return errc::malformed_frame;
    auto value = line.substr(colon + 1);
    while (!value.empty() && blank(value.front())) value.remove_prefix(1);
    while (!value.empty() && blank(value.back())) value.remove_suffix(1);
    h.fields.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  out = std::move(h);
  return {};
}

void append_connect(std::string& out, std::string_view json) {
  out.append("CONNECT ").append(json).append(crlf);
}

void append_pub(std::string& out, std::string_view subject, std::string_view reply,
                std::string_view payload) {
  out.append("PUB ").append(subject).append(1, ' ');
  if (!reply.empty()) out.append(reply).append(1, ' ');
  append_number(out, payload.size());
  out.append(crlf).append(payload).append(crlf);
}

void append_hpub(std::string& out, std::string_view subject, std::string_view reply,
                 std::string_view headers, std::string_view payload) {
  out.append("HPUB ").append(subject).append(1, ' ');
  if (!reply.empty()) out.append(reply).append(1, ' ');
  append_number(out, headers.size());
  out.append(1, ' ');
  append_number(out, headers.size() + payload.size());
  out.append(crlf).append(headers).append(payload).append(crlf);
}

void append_sub(std::string& out, std::string_view subject, std::string_view queue,
                std::uint64_t sid) {
  out.append("SUB ").append(subject).append(1, ' ');
  if (!queue.empty()) out.append(queue).append(1, ' ');
  append_number(out, sid);
  out.append(crlf);
}

void append_unsub(std::string& out, std::uint64_t sid, std::uint64_t max_msgs) {
  out.append("UNSUB ");
  append_number(out, sid);
  if (max_msgs != 0) {
    out.append(1, ' ');
    append_number(out, max_msgs);
  }
  out.append(crlf);
}

void append_ping(std::string& out) { out.append("PING\r\n"); }
void append_pong(std::string& out) { out.append("PONG\r\n"); }

}  // namespace brokerside::protocol::nats
