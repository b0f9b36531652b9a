// libFuzzer target: the AMQP 0-9-1 codec on arbitrary bytes, read as a
// connection's read loop would (frame after frame, method and content-header
// payloads decoded), and the whole input as one payload too. Whatever
// decodes must encode, and decode again to the same value.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/amqp/content.h"
#include "protocol/amqp/frame.h"
#include "protocol/amqp/methods.h"

namespace {

using namespace brokerside::protocol::amqp;

void check_method(std::string_view payload) {
  method m;
  if (decode_method(payload, m)) return;
  std::string once;
  if (encode_method(m, once)) __builtin_trap();  // decoded values always fit the wire
  method again;
  if (decode_method(once, again)) __builtin_trap();
  // A NaN in a table makes a method unequal to itself; then the bytes decide.
  if (m == m && !(again == m)) __builtin_trap();
  std::string twice;
  if (encode_method(again, twice) || twice != once) __builtin_trap();
}

void check_content_header(std::string_view payload) {
  content_header h;
  if (decode_content_header(payload, h)) return;
  std::string once;
  if (encode_content_header(h.body_size, h.properties, once)) __builtin_trap();
  content_header again;
  if (decode_content_header(once, again)) __builtin_trap();
  if (h == h && !(again == h)) __builtin_trap();
  std::string twice;
  if (encode_content_header(again.body_size, again.properties, twice) || twice != once) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  check_method(input);
  check_content_header(input);
  while (!input.empty()) {
    frame f;
    std::error_code ec;
    const auto used = decode_frame(input, f, ec, 1 << 16);
    if (ec || used == 0) break;
    if (used > input.size() || used != f.payload.size() + frame_overhead) __builtin_trap();
    std::string framed;
    append_frame(framed, f.type, f.channel, f.payload);
    if (framed != input.substr(0, used)) __builtin_trap();
    if (f.type == frame_type::method) check_method(f.payload);
    if (f.type == frame_type::header) check_content_header(f.payload);
    input.remove_prefix(used);
  }
  return 0;
}
