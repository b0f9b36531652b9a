// libFuzzer target: the YAML configuration loader on arbitrary text. Any
// outcome but a config_error or a valid configuration is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sidecar/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    (void)brokerside::sidecar::load_config(text, {});
  } catch (const brokerside::sidecar::config_error&) {
  }
  return 0;
}
