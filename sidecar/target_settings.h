// One configured target as the sidecar holds it: the pool's part
// (pool::target_config, which target_pool copies and reads alone), what every
// adapter's connections share (frame limit, output water marks, TLS), and the
// adapter's own options, read by the adapter (sidecar/adapter_registry.h).
#pragma once

#include <cassert>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pool/settings.h"
#include "protocol/tls.h"
#include "sidecar/access_rules.h"

namespace brokerside::sidecar {

struct adapter_descriptor;

// An adapter's own settings of a target (framed: listen, reply_timeout),
// made by its descriptor's read_options and read back by its factory.
class adapter_options {
 public:
  virtual ~adapter_options() = default;
};

// Derived from the pool's part so that the pool takes it as it is (a copy of
// just that part) and the rest of the sidecar reads one object.
struct target_settings : pool::target_config {
  const adapter_descriptor* adapter = nullptr;  // the URLs' adapter; never null once loaded
  // The largest frame or reply accepted from the broker; a larger one is a
  // protocol error that closes that one connection (RESOURCE_EXHAUSTED).
  std::uint64_t max_frame_bytes = 64 << 20;
  // Flow control on each connection's output (pulsar's pause_writing /
  // resume_writing): above high, the connection takes no new operations
  // until what is unwritten drains below low. 0: off.
  std::uint64_t write_high_water = 4 << 20;
  std::uint64_t write_low_water = 1 << 20;
  // Who may send, recv and acquire (caller identity patterns: exact, or a
  // prefix ending in '*'); unset: every caller the listener admits.
  std::optional<std::vector<std::string>> allow_send, allow_recv, allow_acquire;
  // What each caller may reach (sidecar/access_rules.h); empty: no rules.
  std::vector<access_rule> rules;
  // TLS for TLS schemes (rediss, amqps, ...): the settings, and the context
  // built from them when the configuration is loaded (null for plain targets).
  protocol::tls_options tls;
  std::shared_ptr<const protocol::tls_context> tls_context;
  // The adapter's own options; null when it has none.
  std::shared_ptr<const adapter_options> options;

  // The adapter's options as its own type (the adapter made them; only it
  // asks), or its defaults when it has none.
  template <typename Options>
  const Options& options_as() const {
    static const Options defaults{};
    assert(!options || dynamic_cast<const Options*>(options.get()) != nullptr);
    return options ? static_cast<const Options&>(*options) : defaults;
  }
};

}  // namespace brokerside::sidecar
