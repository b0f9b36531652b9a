// The NATS client protocol's wire format, without I/O: the server's
// operations decoded from the front of a buffer (INFO, MSG, HMSG, PING,
// PONG, +OK, -ERR), the client's encoded (CONNECT, PUB, HPUB, SUB, UNSUB,
// PING, PONG), and the NATS/1.0 header block. Control lines are split on
// runs of spaces and tabs (nats-server 2.9 sends double spaces) and
// operation names are case-insensitive, as the protocol says.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

namespace brokerside::protocol::nats {

struct info {
  std::string json;  // the server's INFO object, as sent
};
// A message to one of our subscriptions (MSG, or HMSG with headers).
struct msg {
  std::string subject;
  std::uint64_t sid = 0;
  std::string reply;    // empty: none
  std::string headers;  // the raw header block (HMSG); empty for MSG
  std::string payload;
};
struct ping {};
struct pong {};
struct ok {};
struct err {
  std::string text;  // without the quotes: "Authorization Violation"
};
using server_op = std::variant<info, msg, ping, pong, ok, err>;

struct decoder_limits {
  std::size_t max_control_line = 4096;    // the server's own default
  std::size_t max_payload = 64ull << 20;  // headers + payload of one message
};

// Decodes the operation at the front of `in`. Returns the bytes used; 0
// while it is incomplete, or with `ec` set (errc::malformed_frame: not the
// protocol; errc::frame_too_large: beyond `limits`).
std::size_t decode_server_op(std::string_view in, server_op& out, std::error_code& ec,
                             const decoder_limits& limits) noexcept;

// How many bytes the incomplete operation at the front of `in` needs in
// all, once its control line has arrived (MSG / HMSG); 0 when unknown.
std::size_t wanted(std::string_view in) noexcept;

// A subject or reply subject the server takes: not empty, no whitespace,
// no empty token ("a..b", ".a", "a.").
bool valid_subject(std::string_view subject) noexcept;

// A header block: an optional status (NATS/1.0 503 No Responders), then
// fields in order (a key may repeat).
struct header_block {
  int status = 0;           // 0: none
  std::string description;  // after the status code
  std::vector<std::pair<std::string, std::string>> fields;
};

// Encodes `h` as NATS/1.0 headers. errc::field_too_long when a key is empty
// or holds ':', whitespace or a control character, or a value holds CR or LF.
std::error_code encode_headers(const header_block& h, std::string& out);
// Decodes a header block (HMSG). errc::malformed_frame when it is not one.
std::error_code decode_headers(std::string_view block, header_block& out) noexcept;

// Client operations, appended to `out`. Subjects are checked by the caller
// (valid_subject); sizes are not limited here (max_payload is the server's).
void append_connect(std::string& out, std::string_view json);
void append_pub(std::string& out, std::string_view subject, std::string_view reply,
                std::string_view payload);
void append_hpub(std::string& out, std::string_view subject, std::string_view reply,
                 std::string_view headers, std::string_view payload);
void append_sub(std::string& out, std::string_view subject, std::string_view queue,
                std::uint64_t sid);
void append_unsub(std::string& out, std::uint64_t sid, std::uint64_t max_msgs = 0);
void append_ping(std::string& out);
void append_pong(std::string& out);

}  // namespace brokerside::protocol::nats
