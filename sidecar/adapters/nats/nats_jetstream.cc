#include "sidecar/adapters/nats/nats_jetstream.h"

#include <string>

#include "pool/errc.h"

namespace brokerside::sidecar::nats_jetstream {

using json = nlohmann::json;

// JetStream err_codes that are preconditions, not bad requests.
constexpr int stream_name_in_use = 10058;
constexpr int wrong_last_msg_id = 10070;
constexpr int wrong_last_sequence = 10071;

attempt_outcome error_outcome(const json& error) {
  const auto code = error.value("code", 0);
  const auto err_code = error.value("err_code", 0);
  const auto description = error.value("description", std::string("(no description)"));
  auto e = pool::errc::broker_refused;
  if (code == 404) {
    e = pool::errc::not_found_at_broker;
  } else if (code == 503) {
    e = pool::errc::unavailable;
  } else if (code == 403) {
    e = pool::errc::access_refused;
  } else if (code == 400 && err_code != stream_name_in_use && err_code != wrong_last_msg_id &&
             err_code != wrong_last_sequence) {
    e = pool::errc::invalid_operation;
  }
  return attempt_outcome::failed({make_error_code(e), pool::failure_kind::operation, true,
                                  "nats: JetStream " + std::to_string(code) + " (err_code " +
                                      std::to_string(err_code) + "): " + description});
}

std::optional<attempt_outcome> parse(std::string_view payload, json& out) {
  out = json::parse(payload, nullptr, false);
  if (!out.is_object()) {
    return attempt_outcome::failed(
        {make_error_code(pool::errc::broker_refused), pool::failure_kind::operation, true,
         "nats: JetStream answered with something that is not a JSON object"});
  }
  if (const auto e = out.find("error"); e != out.end() && e->is_object()) {
    return error_outcome(*e);
  }
  return std::nullopt;
}

void to_v1(const json& in, v1::Value& out) {
  switch (in.type()) {
    case json::value_t::null:
    case json::value_t::discarded:
      out.set_null(true);
      break;
    case json::value_t::boolean:
      out.set_boolean(in.get<bool>());
      break;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      out.set_integer(in.get<std::int64_t>());
      break;
    case json::value_t::number_float:
      out.set_double_(in.get<double>());
      break;
    case json::value_t::string:
      out.set_text(in.get<std::string>());
      break;
    case json::value_t::array:
    case json::value_t::binary:
      for (const auto& e : in) to_v1(e, *out.mutable_array()->add_values());
      break;
    case json::value_t::object:
      for (const auto& [key, value] : in.items()) {
        auto& entry = *out.mutable_map()->add_entries();
        entry.mutable_key()->set_text(key);
        to_v1(value, *entry.mutable_value());
      }
      break;
  }
}

}  // namespace brokerside::sidecar::nats_jetstream
