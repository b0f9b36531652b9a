#include "protocol/adapter_kind.h"

#include <array>

namespace brokerside::protocol {
namespace {

struct scheme_entry {
  std::string_view scheme;
  adapter_kind kind;
  bool tls;
  bool unix_socket;
};

constexpr std::array schemes{
    scheme_entry{"redis", adapter_kind::redis, false, false},
    scheme_entry{"rediss", adapter_kind::redis, true, false},
    scheme_entry{"redis+unix", adapter_kind::redis, false, true},
    scheme_entry{"unix", adapter_kind::redis, false, true},
    scheme_entry{"amqp", adapter_kind::amqp, false, false},
    scheme_entry{"amqps", adapter_kind::amqp, true, false},
    scheme_entry{"nats", adapter_kind::nats, false, false},
    scheme_entry{"tls", adapter_kind::nats, true, false},
    scheme_entry{"kafka", adapter_kind::kafka, false, false},
    scheme_entry{"framed", adapter_kind::framed, false, false},
    scheme_entry{"framed+unix", adapter_kind::framed, false, true},
};

const scheme_entry* find(std::string_view scheme) noexcept {
  for (const auto& entry : schemes) {
    if (entry.scheme == scheme) return &entry;
  }
  return nullptr;
}

}  // namespace

std::string_view name(adapter_kind kind) noexcept {
  switch (kind) {
    case adapter_kind::redis:
      return "redis";
    case adapter_kind::amqp:
      return "amqp";
    case adapter_kind::nats:
      return "nats";
    case adapter_kind::kafka:
      return "kafka";
    case adapter_kind::framed:
      return "framed";
  }
  return "unknown";
}

std::optional<adapter_kind> adapter_for_scheme(std::string_view scheme) noexcept {
  const auto* entry = find(scheme);
  if (entry == nullptr) return std::nullopt;
  return entry->kind;
}

std::string_view known_schemes() noexcept {
  return "redis, rediss, redis+unix, unix, amqp, amqps, nats, tls, kafka, framed, framed+unix";
}

bool implemented(adapter_kind kind) noexcept {
  // Keep in step with the README's status table.
  switch (kind) {
    case adapter_kind::redis:
    case adapter_kind::amqp:
    case adapter_kind::framed:
      return true;
    case adapter_kind::nats:
    case adapter_kind::kafka:
      return false;
  }
  return false;
}

bool scheme_uses_tls(std::string_view scheme) noexcept {
  const auto* entry = find(scheme);
  return entry != nullptr && entry->tls;
}

bool scheme_uses_unix_socket(std::string_view scheme) noexcept {
  const auto* entry = find(scheme);
  return entry != nullptr && entry->unix_socket;
}

}  // namespace brokerside::protocol
