#include "sidecar/adapters/amqp/amqp_translate.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <initializer_list>
#include <limits>
#include <string>

#include "pool/errc.h"
#include "sidecar/status.h"

namespace brokerside::sidecar::amqp_translate {
namespace {

namespace amqp = protocol::amqp;

grpc::Status invalid(std::string text) {
  return to_status(pool::errc::invalid_operation, "amqp: " + std::move(text));
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c < 0x80           ? 1
                          : (c >> 5) == 0x6  ? 2
                          : (c >> 4) == 0xE  ? 3
                          : (c >> 3) == 0x1E ? 4
                                             : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    }
    i += n;
  }
  return true;
}

grpc::Status to_table(const google::protobuf::Map<std::string, v1::Value>& in,
                      amqp::field_table& out) {
  // A protobuf map has no order; sort, so the same headers encode the same.
  std::vector<std::string> names;
  for (const auto& [name, value] : in) names.push_back(name);
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    amqp::field_value value;
    if (auto status = to_field(in.at(name), value); !status.ok()) {
      return invalid("header '" + name + "': " + status.error_message().substr(6));
    }
    out.push_back({name, std::move(value)});
  }
  return grpc::Status::OK;
}

// The command's argument `i` as text, or "" past the end.
std::string arg(const v1::Command& command, int i) {
  return i < command.args_size() ? command.args(i) : std::string();
}

// One Send{command} method: its name, usage, arguments and options.
struct command_spec {
  std::string_view name;
  std::string_view usage;                   // the arguments after the name
  int required, optional;                   // positional arguments
  std::array<std::string_view, 6> options;  // unused ones empty

  bool takes(std::string_view option) const {
    return !option.empty() && std::find(options.begin(), options.end(), option) != options.end();
  }
};

constexpr std::array<command_spec, 9> commands{{
    {"queue.declare",
     "[queue]",
     0,
     1,
     {"passive", "durable", "exclusive", "auto_delete", "arguments"}},
    {"queue.bind", "queue exchange [routing_key]", 2, 1, {"arguments"}},
    {"queue.unbind", "queue exchange [routing_key]", 2, 1, {"arguments"}},
    {"queue.purge", "queue", 1, 0, {}},
    {"queue.delete", "queue", 1, 0, {"if_unused", "if_empty"}},
    {"exchange.declare",
     "exchange [type]",
     1,
     1,
     {"type", "passive", "durable", "auto_delete", "internal", "arguments"}},
    {"exchange.delete", "exchange", 1, 0, {"if_unused"}},
    {"exchange.bind", "destination source [routing_key]", 2, 1, {"arguments"}},
    {"exchange.unbind", "destination source [routing_key]", 2, 1, {"arguments"}},
}};

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Reads the command's options against `spec`.
class options_reader {
 public:
  options_reader(const v1::Command& command, const command_spec& spec)
      : command_(command), spec_(spec) {}

  grpc::Status check() const {
    for (const auto& [name, value] : command_.options()) {
      if (spec_.takes(name)) continue;
      std::string known;
      for (const auto o : spec_.options) {
        if (!o.empty()) known += (known.empty() ? "" : ", ") + std::string(o);
      }
      return invalid("option '" + name + "' is not one of " + std::string(spec_.name) + "'s (" +
                     (known.empty() ? "it takes none" : known) + ")");
    }
    return grpc::Status::OK;
  }

  grpc::Status flag(const std::string& name, bool& out) const {
    const auto it = command_.options().find(name);
    if (it == command_.options().end()) return grpc::Status::OK;
    if (it->second.kind_case() != v1::Value::kBoolean) {
      return invalid("option '" + name + "' must be a boolean");
    }
    out = it->second.boolean();
    return grpc::Status::OK;
  }

  grpc::Status arguments(amqp::field_table& out) const {
    const auto it = command_.options().find("arguments");
    if (it == command_.options().end()) return grpc::Status::OK;
    if (it->second.kind_case() != v1::Value::kMap) {
      return invalid("option 'arguments' must be a map");
    }
    amqp::field_value table;
    if (auto status = to_field(it->second, table); !status.ok()) return status;
    out = std::get<amqp::field_table>(table);
    return grpc::Status::OK;
  }

 private:
  const v1::Command& command_;
  const command_spec& spec_;
};

template <typename Binding>
grpc::Status binding(const v1::Command& command, const options_reader& options, Binding& out) {
  if constexpr (requires { out.queue; }) {
    out.queue = arg(command, 1);
    out.exchange = arg(command, 2);
  } else {
    out.destination = arg(command, 1);
    out.source = arg(command, 2);
  }
  out.routing_key = arg(command, 3);
  return options.arguments(out.arguments);
}

grpc::Status build(const command_spec& spec, const v1::Command& command, const options_reader& o,
                   amqp::method& out) {
  const auto name = spec.name;
  grpc::Status status;
  const auto flags = [&](std::initializer_list<std::pair<const char*, bool*>> list) {
    for (const auto& [flag_name, target] : list) {
      if (status = o.flag(flag_name, *target); !status.ok()) return;
    }
  };
  if (name == "queue.declare") {
    amqp::queue_declare m;
    m.queue = arg(command, 1);
    flags({{"passive", &m.passive},
           {"durable", &m.durable},
           {"exclusive", &m.exclusive},
           {"auto_delete", &m.auto_delete}});
    if (status.ok()) status = o.arguments(m.arguments);
    out = std::move(m);
  } else if (name == "queue.bind") {
    amqp::queue_bind m;
    status = binding(command, o, m);
    out = std::move(m);
  } else if (name == "queue.unbind") {
    amqp::queue_unbind m;
    status = binding(command, o, m);
    out = std::move(m);
  } else if (name == "queue.purge") {
    out = amqp::queue_purge{.queue = arg(command, 1)};
  } else if (name == "queue.delete") {
    amqp::queue_delete m;
    m.queue = arg(command, 1);
    flags({{"if_unused", &m.if_unused}, {"if_empty", &m.if_empty}});
    out = std::move(m);
  } else if (name == "exchange.declare") {
    amqp::exchange_declare m;
    m.exchange = arg(command, 1);
    if (command.args_size() > 2) m.type = arg(command, 2);
    if (const auto it = command.options().find("type"); it != command.options().end()) {
      if (it->second.kind_case() != v1::Value::kText) return invalid("option 'type' must be text");
      m.type = it->second.text();
    }
    flags({{"passive", &m.passive},
           {"durable", &m.durable},
           {"auto_delete", &m.auto_delete},
           {"internal", &m.internal}});
    if (status.ok()) status = o.arguments(m.arguments);
    out = std::move(m);
  } else if (name == "exchange.delete") {
    amqp::exchange_delete m;
    m.exchange = arg(command, 1);
    flags({{"if_unused", &m.if_unused}});
    out = std::move(m);
  } else if (name == "exchange.bind") {
    amqp::exchange_bind m;
    status = binding(command, o, m);
    out = std::move(m);
  } else {
    amqp::exchange_unbind m;
    status = binding(command, o, m);
    out = std::move(m);
  }
  return status;
}

void set_integer(v1::Map& map, const char* key, std::int64_t value) {
  auto& entry = *map.add_entries();
  entry.mutable_key()->set_text(key);
  entry.mutable_value()->set_integer(value);
}

}  // namespace

grpc::Status to_field(const v1::Value& value, amqp::field_value& out) {
  switch (value.kind_case()) {
    case v1::Value::kNull:
      out = std::monostate{};
      break;
    case v1::Value::kInteger:
      out = static_cast<std::int64_t>(value.integer());
      break;
    case v1::Value::kBytes:
      out = value.bytes();
      break;
    case v1::Value::kText:
      out = value.text();
      break;
    case v1::Value::kDouble:
      out = value.double_();
      break;
    case v1::Value::kBoolean:
      out = value.boolean();
      break;
    case v1::Value::kArray:
    case v1::Value::kSet: {
      amqp::field_array array;
      const auto& values = value.has_array() ? value.array() : value.set();
      for (const auto& v : values.values()) {
        array.emplace_back();
        if (auto status = to_field(v, array.back()); !status.ok()) return status;
      }
      out = std::move(array);
      break;
    }
    case v1::Value::kMap: {
      amqp::field_table table;
      for (const auto& entry : value.map().entries()) {
        const auto& key = entry.key();
        if (key.kind_case() != v1::Value::kText && key.kind_case() != v1::Value::kBytes) {
          return invalid("table keys must be text");
        }
        amqp::field_value v;
        if (auto status = to_field(entry.value(), v); !status.ok()) return status;
        table.push_back({key.has_text() ? key.text() : key.bytes(), std::move(v)});
      }
      out = std::move(table);
      break;
    }
    default:
      return invalid("an error or big_number value has no AMQP field type");
  }
  return grpc::Status::OK;
}

void to_v1(const amqp::field_value& value, v1::Value& out) {
  std::visit(
      [&](const auto& v) {
        using t = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<t, std::monostate>) {
          out.set_null(true);
        } else if constexpr (std::is_same_v<t, bool>) {
          out.set_boolean(v);
        } else if constexpr (std::is_integral_v<t>) {
          out.set_integer(static_cast<std::int64_t>(v));
        } else if constexpr (std::is_floating_point_v<t>) {
          out.set_double_(v);
        } else if constexpr (std::is_same_v<t, amqp::decimal>) {
          double d = v.value;
          for (int i = 0; i < v.scale; ++i) d /= 10;
          out.set_double_(d);
        } else if constexpr (std::is_same_v<t, std::string>) {
          if (valid_utf8(v)) {
            out.set_text(v);
          } else {
            out.set_bytes(v);
          }
        } else if constexpr (std::is_same_v<t, amqp::timestamp>) {
          out.set_integer(static_cast<std::int64_t>(v.seconds));
        } else if constexpr (std::is_same_v<t, amqp::byte_array>) {
          out.set_bytes(v.bytes);
        } else if constexpr (std::is_same_v<t, amqp::field_array>) {
          auto& array = *out.mutable_array();
          for (const auto& e : v) to_v1(e, *array.add_values());
        } else {
          auto& map = *out.mutable_map();
          for (const auto& f : v) {
            auto& entry = *map.add_entries();
            entry.mutable_key()->set_text(f.name);
            to_v1(f.value, *entry.mutable_value());
          }
        }
      },
      static_cast<const amqp::field_variant&>(value));
}

grpc::Status properties_of(const v1::Message& m, amqp::basic_properties& out) {
  if (m.has_value()) {
    return invalid("message.value: AMQP bodies are bytes; give body or json");
  }
  if (m.priority() > 255) return invalid("message.priority: 0-255 (RabbitMQ uses 0-9)");
  const auto set = [](std::optional<std::string>& field, const std::string& value) {
    if (!value.empty()) field = value;
  };
  set(out.content_type, m.content_type());
  if (!out.content_type && m.has_json()) out.content_type = "application/json";
  set(out.content_encoding, m.content_encoding());
  set(out.correlation_id, m.correlation_id());
  set(out.reply_to, m.reply_to());
  set(out.expiration, m.expiration());
  set(out.message_id, m.message_id());
  set(out.type, m.type());
  set(out.user_id, m.user_id());
  set(out.app_id, m.app_id());
  if (m.delivery_mode() != v1::DELIVERY_MODE_UNSPECIFIED) {
    out.delivery_mode = m.delivery_mode() == v1::DELIVERY_MODE_PERSISTENT ? 2 : 1;
  }
  if (m.priority() != 0) out.priority = static_cast<std::uint8_t>(m.priority());
  if (m.has_timestamp()) out.timestamp = static_cast<std::uint64_t>(m.timestamp().seconds());
  if (!m.headers().empty()) {
    out.headers.emplace();
    if (auto status = to_table(m.headers(), *out.headers); !status.ok()) return status;
  }
  return grpc::Status::OK;
}

std::string_view body_of(const v1::Message& message) {
  return message.has_json() ? std::string_view(message.json()) : std::string_view(message.body());
}

void to_v1(amqp::basic_properties&& p, std::string&& body, v1::Message& out) {
  out.set_body(std::move(body));
  const auto take = [](std::optional<std::string>& from, auto setter) {
    if (from) setter(std::move(*from));
  };
  take(p.content_type, [&](std::string s) { out.set_content_type(std::move(s)); });
  take(p.content_encoding, [&](std::string s) { out.set_content_encoding(std::move(s)); });
  take(p.correlation_id, [&](std::string s) { out.set_correlation_id(std::move(s)); });
  take(p.reply_to, [&](std::string s) { out.set_reply_to(std::move(s)); });
  take(p.expiration, [&](std::string s) { out.set_expiration(std::move(s)); });
  take(p.message_id, [&](std::string s) { out.set_message_id(std::move(s)); });
  take(p.type, [&](std::string s) { out.set_type(std::move(s)); });
  take(p.user_id, [&](std::string s) { out.set_user_id(std::move(s)); });
  take(p.app_id, [&](std::string s) { out.set_app_id(std::move(s)); });
  if (p.delivery_mode) {
    out.set_delivery_mode(*p.delivery_mode == 2 ? v1::DELIVERY_MODE_PERSISTENT
                                                : v1::DELIVERY_MODE_TRANSIENT);
  }
  if (p.priority) out.set_priority(*p.priority);
  if (p.timestamp) {
    out.mutable_timestamp()->set_seconds(static_cast<std::int64_t>(
        std::min<std::uint64_t>(*p.timestamp, std::numeric_limits<std::int64_t>::max())));
  }
  if (p.headers) {
    auto& headers = *out.mutable_headers();
    for (const auto& f : *p.headers) to_v1(f.value, headers[f.name]);
  }
}

grpc::Status to_method(const v1::Command& command, amqp::method& out) {
  const auto name = lower(arg(command, 0));
  const auto spec = std::find_if(commands.begin(), commands.end(),
                                 [&](const command_spec& c) { return c.name == name; });
  if (spec == commands.end()) {
    std::string known;
    for (const auto& c : commands) known += (known.empty() ? "" : ", ") + std::string(c.name);
    return invalid("unknown command '" + arg(command, 0) + "' (known: " + known + ")");
  }
  const int given = command.args_size() - 1;
  if (given < spec->required || given > spec->required + spec->optional) {
    return invalid(std::string(spec->name) + " takes " + std::string(spec->usage));
  }
  const options_reader options(command, *spec);
  if (auto status = options.check(); !status.ok()) return status;
  return build(*spec, command, options, out);
}

bool idempotent(const v1::Command& command) { return lower(arg(command, 0)) != "queue.purge"; }

void to_v1(const amqp::method& reply, v1::Value& out) {
  auto& map = *out.mutable_map();
  if (const auto* declared = std::get_if<amqp::queue_declare_ok>(&reply)) {
    auto& entry = *map.add_entries();
    entry.mutable_key()->set_text("queue");
    entry.mutable_value()->set_text(declared->queue);
    set_integer(map, "message_count", declared->message_count);
    set_integer(map, "consumer_count", declared->consumer_count);
  } else if (const auto* purged = std::get_if<amqp::queue_purge_ok>(&reply)) {
    set_integer(map, "message_count", purged->message_count);
  } else if (const auto* deleted = std::get_if<amqp::queue_delete_ok>(&reply)) {
    set_integer(map, "message_count", deleted->message_count);
  }
}

std::error_code error_for_reply_code(std::uint16_t code) {
  switch (code) {
    case 404:  // NOT_FOUND
    case 312:  // NO_ROUTE
      return pool::errc::not_found_at_broker;
    case 403:  // ACCESS_REFUSED
      return pool::errc::access_refused;
    case 405:  // RESOURCE_LOCKED
    case 406:  // PRECONDITION_FAILED
      return pool::errc::broker_refused;
    default:
      return pool::errc::unavailable;
  }
}

std::string describe(const amqp::broker_reply& reply, std::error_code ec) {
  if (reply.code == 0) return "amqp: " + (reply.text.empty() ? ec.message() : reply.text);
  return "amqp: " + std::to_string(reply.code) + " " + reply.text;
}

}  // namespace brokerside::sidecar::amqp_translate
