#include "sidecar/adapters/framed/framed_translate.h"

#include <cstdint>
#include <string>
#include <type_traits>
#include <variant>

#include "pool/errc.h"
#include "protocol/framed/json.h"
#include "sidecar/status.h"

namespace brokerside::sidecar::framed_translate {

namespace framed = protocol::framed;

namespace {

grpc::Status invalid(std::string text) {
  return to_status(pool::errc::invalid_operation, "framed: " + std::move(text));
}

}  // namespace

grpc::Status to_framed(const v1::Value& in, framed::value& out) {
  switch (in.kind_case()) {
    case v1::Value::kNull:
      out = std::monostate{};
      break;
    case v1::Value::kInteger:
      out = static_cast<std::int64_t>(in.integer());
      break;
    case v1::Value::kBytes:
      out = framed::bin{in.bytes()};
      break;
    case v1::Value::kText:
      out = in.text();
      break;
    case v1::Value::kDouble:
      out = in.double_();
      break;
    case v1::Value::kBoolean:
      out = in.boolean();
      break;
    case v1::Value::kArray:
    case v1::Value::kSet: {
      framed::array array;
      for (const auto& v : (in.has_array() ? in.array() : in.set()).values()) {
        array.emplace_back();
        if (auto status = to_framed(v, array.back()); !status.ok()) return status;
      }
      out = std::move(array);
      break;
    }
    case v1::Value::kMap: {
      framed::map map;
      for (const auto& entry : in.map().entries()) {
        map.emplace_back();
        if (auto status = to_framed(entry.key(), map.back().key); !status.ok()) return status;
        if (auto status = to_framed(entry.value(), map.back().val); !status.ok()) return status;
      }
      out = std::move(map);
      break;
    }
    default:
      return invalid("an error or big_number value cannot be sent to a framed peer");
  }
  return grpc::Status::OK;
}

void to_v1(framed::value&& in, v1::Value& out) {
  std::visit(
      [&](auto& v) {
        using t = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<t, std::monostate>) {
          out.set_null(true);
        } else if constexpr (std::is_same_v<t, bool>) {
          out.set_boolean(v);
        } else if constexpr (std::is_same_v<t, std::int64_t>) {
          out.set_integer(v);
        } else if constexpr (std::is_same_v<t, std::uint64_t>) {
          out.set_big_number(std::to_string(v));
        } else if constexpr (std::is_same_v<t, double> || std::is_same_v<t, float>) {
          out.set_double_(v);
        } else if constexpr (std::is_same_v<t, std::string>) {
          out.set_text(std::move(v));
        } else if constexpr (std::is_same_v<t, framed::bin>) {
          out.set_bytes(std::move(v.bytes));
        } else if constexpr (std::is_same_v<t, framed::ext>) {
          out.set_bytes(std::move(v.data));
        } else if constexpr (std::is_same_v<t, framed::array>) {
          auto& array = *out.mutable_array();
          for (auto& e : v) to_v1(std::move(e), *array.add_values());
        } else {
          auto& map = *out.mutable_map();
          for (auto& e : v) {
            auto& entry = *map.add_entries();
            to_v1(std::move(e.key), *entry.mutable_key());
            to_v1(std::move(e.val), *entry.mutable_value());
          }
        }
      },
      static_cast<framed::value_variant&>(in));
}

grpc::Status content_of(const v1::Message& message, framed::value& out) {
  switch (message.content_case()) {
    case v1::Message::kValue:
      return to_framed(message.value(), out);
    case v1::Message::kJson:
      if (framed::decode_json(message.json(), out)) {
        return invalid("message.json: not JSON the channel can carry");
      }
      return grpc::Status::OK;
    default:
      out = framed::bin{message.body()};
      return grpc::Status::OK;
  }
}

void result_to(v1::Message::ContentCase form, framed::value&& result, v1::Message& out) {
  if (form == v1::Message::kJson) {
    std::string json;
    if (!framed::encode_json(result, json)) return out.set_json(std::move(json));
  } else if (form != v1::Message::kValue) {
    if (auto* b = std::get_if<framed::bin>(&result)) return out.set_body(std::move(b->bytes));
  }
  to_v1(std::move(result), *out.mutable_value());
}

void peer_request_to(framed::value&& content, v1::Message& out) {
  if (auto* b = std::get_if<framed::bin>(&content)) return out.set_body(std::move(b->bytes));
  std::string json;
  if (!framed::encode_json(content, json)) return out.set_json(std::move(json));
  to_v1(std::move(content), *out.mutable_value());
}

}  // namespace brokerside::sidecar::framed_translate
