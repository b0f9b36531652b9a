// A test-only adapter, registered in test_adapters() and never in the
// binary: stub:// targets run over fake connections (no sockets) whose
// "broker" echoes a command's arguments joined by spaces ("FAIL" is refused,
// "BLOCK" needs a lease). Its own option, `refuse_connects`, makes every
// connect fail. unbuilt:// names an adapter whose descriptor has no factory,
// as an adapter not in the build. The README's "Adding an adapter" walks
// through this folder.
#pragma once

#include "sidecar/adapter_registry.h"
#include "tests/support/fake_connection.h"

namespace brokerside::testing_support {

// What the stub's fake connections did, over every stub target of the
// process (tests reset it before they start their targets).
fake_world& stub_world();

const sidecar::adapter_descriptor& stub_adapter();
const sidecar::adapter_descriptor& unbuilt_adapter();

// The built-in adapters, then stub and unbuilt.
const sidecar::adapter_registry& test_adapters();

}  // namespace brokerside::testing_support
