#include "sidecar/adapters/nats/nats_message.h"

#include "pool/errc.h"
#include "sidecar/status.h"

namespace brokerside::sidecar::nats_message {

namespace nats = protocol::nats;

grpc::Status headers_of(const v1::Message& message, std::string& out) {
  const auto invalid = [](const std::string& text) {
    return to_status(pool::errc::invalid_operation, "nats: " + text);
  };
  nats::header_block h;
  for (const auto& [key, value] : message.headers()) {
    if (value.has_text()) {
      h.fields.emplace_back(key, value.text());
    } else if (value.has_bytes()) {
      h.fields.emplace_back(key, value.bytes());
    } else {
      return invalid("message.headers['" + key + "']: NATS header values are text or bytes");
    }
  }
  // JetStream deduplicates by it.
  if (!message.message_id().empty()) h.fields.emplace_back("Nats-Msg-Id", message.message_id());
  if (h.fields.empty()) return grpc::Status::OK;
  if (nats::encode_headers(h, out)) {
    return invalid(
        "message.headers: a key must be non-empty without ':', spaces or control characters, "
        "and a value without CR or LF");
  }
  return grpc::Status::OK;
}

const std::string& payload_of(const v1::Message& message) {
  return message.has_json() ? message.json() : message.body();
}

void to_v1(nats::msg&& in, v1::Message& out) {
  out.set_body(std::move(in.payload));
  if (!in.reply.empty()) out.set_reply_to(std::move(in.reply));
  if (in.headers.empty()) return;
  nats::header_block h;
  if (nats::decode_headers(in.headers, h)) return;
  auto& headers = *out.mutable_headers();
  for (auto& [key, value] : h.fields) headers[key].set_text(std::move(value));
  if (h.status != 0) headers["Nats-Status"].set_text(std::to_string(h.status));
}

}  // namespace brokerside::sidecar::nats_message
