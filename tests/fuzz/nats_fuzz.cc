// libFuzzer target: the NATS decoder on arbitrary bytes, pipelined as a
// read loop feeds it; wanted() must agree with decode_server_op() on where
// a message ends, header blocks that decode must survive a re-encode, and
// a message's reply subject read as a JetStream ack subject and the message
// as a pull's status must not crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/nats/codec.h"
#include "protocol/nats/jetstream.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace brokerside::protocol::nats;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  decoder_limits limits{.max_control_line = 512, .max_payload = 1 << 16};
  while (!input.empty()) {
    server_op op;
    std::error_code ec;
    const auto used = decode_server_op(input, op, ec, limits);
    const auto need = wanted(input);
    if (used > input.size()) __builtin_trap();
    // An incomplete message whose size is known needs more than is here; a
    // whole one ends exactly where wanted() said.
    if (!ec && used == 0 && need != 0 && need <= input.size()) __builtin_trap();
    if (used > 0 && std::holds_alternative<msg>(op) && need != used) __builtin_trap();
    if (ec || used == 0) break;
    if (const auto* m = std::get_if<msg>(&op)) {
      ack_subject a;
      if (parse_ack_subject(m->reply, a) && (a.stream.empty() || a.consumer.empty())) {
        __builtin_trap();
      }
      (void)classify_pull_reply(*m);
    }
    if (const auto* m = std::get_if<msg>(&op); m && !m->headers.empty()) {
      header_block h;
      if (!decode_headers(m->headers, h)) {
        std::string again;
        header_block back;
        if (!encode_headers(h, again)) {
          if (decode_headers(again, back) || back.fields != h.fields || back.status != h.status) {
            __builtin_trap();
          }
        }
      }
    }
    input.remove_prefix(used);
  }
  return 0;
}
