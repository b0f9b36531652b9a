// The adapters a build offers, as Envoy registers its extensions: each
// adapter describes itself once (name, URL schemes, its own configuration
// keys, the factory of its binding) and one list names them all
// (sidecar/adapters/builtin.cc). Scheme lookup, the scheme list in errors
// and --help, Stats' adapter names and whether one is implemented all come
// from here; nothing else in the code switches over adapters.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pool/broker_url.h"
#include "sidecar/operation_adapter.h"
#include "sidecar/target_settings.h"

namespace brokerside::sidecar {

class config_section;

struct adapter_descriptor {
  // The adapter's name in configuration, Stats and error messages.
  std::string_view name;
  // The URL schemes that select it (the registry sets their `adapter`).
  std::vector<pool::url_scheme> schemes;
  // Reads the adapter's own keys of `targets.<name>` from `section`
  // (declaring them; config_error names a bad one) into options for its
  // factory; null when it has none. `target` holds the settings read so far.
  std::shared_ptr<const adapter_options> (*read_options)(const config_section& section,
                                                         const target_settings& target) = nullptr;
  // The connections and operations of one target; null: not implemented in
  // this build (its operations answer UNIMPLEMENTED naming it).
  adapter_binding (*make)(const target_settings& target,
                          boost::asio::any_io_executor executor) = nullptr;
  // The classes its commands fall into, for rules' "+@class" / "-@class"
  // (bit i of a mask = command_class_names[i]); empty: it has none.
  std::span<const std::string_view> command_class_names;
  // The classes of command `name` (its subcommand `sub`), nullopt if the
  // adapter does not know it; null when it has no classes.
  std::optional<std::uint64_t> (*command_classes)(std::string_view name,
                                                  std::string_view sub) = nullptr;
  // The destination a command publishes to, if it has one (Redis PUBLISH's
  // channel), for rules' destinations; null: its commands name none.
  std::optional<std::string_view> (*command_destination)(const v1::Command& command) = nullptr;

  bool implemented() const noexcept { return make != nullptr; }
};

class adapter_registry {
 public:
  // `adapters` must outlive the registry (they are static descriptors).
  // Two adapters of one name, or a scheme claimed twice, is a programming
  // error: std::invalid_argument.
  explicit adapter_registry(std::vector<const adapter_descriptor*> adapters);

  // The adapter named `name`, or null.
  const adapter_descriptor* find(std::string_view name) const noexcept;
  // Every scheme of every adapter, in registration order.
  std::span<const pool::url_scheme> schemes() const noexcept { return schemes_; }
  // "redis, rediss, ..." for help and error texts.
  std::string scheme_list() const;
  const std::vector<const adapter_descriptor*>& all() const noexcept { return adapters_; }

 private:
  std::vector<const adapter_descriptor*> adapters_;  // registration order
  std::vector<pool::url_scheme> schemes_;            // all of theirs, flattened
};

// The adapters compiled into this build (sidecar/adapters/builtin.cc).
const adapter_registry& builtin_adapters();

}  // namespace brokerside::sidecar
