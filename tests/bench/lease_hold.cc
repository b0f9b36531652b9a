// bench_load --mode lease-hold: acquires `streams` leases per client, one
// after another, on a target whose pool has preloaded at least as many idle
// connections, and reports the server's RSS before and with them held: what
// a lease costs the sidecar beyond its connection (the connection was open
// and idle before). Then releases them all.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <thread>
#include <vector>

#include "brokerside/v1/brokerside.grpc.pb.h"
#include "tests/bench/load_drivers.h"

namespace brokerside::bench {

nlohmann::json run_lease_hold(const load_options& o) {
  auto channel = grpc::CreateChannel(o.address, grpc::InsecureChannelCredentials());
  auto stub = v1::Broker::NewStub(channel);
  const long rss_before = o.rss_pid != 0 ? proc_status_kb(o.rss_pid, "VmRSS") : -1;
  std::vector<std::string> leases;
  std::uint32_t refused = 0;
  std::string first_error;
  const auto n = o.clients * o.streams;
  for (std::uint32_t i = 0; i < n; ++i) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::AcquireRequest request;
    request.set_target(o.target);
    request.mutable_ttl()->set_seconds(120);  // (within the default max_ttl of 5 min)
    v1::AcquireResponse reply;
    const auto status = stub->Acquire(&context, request, &reply);
    if (status.ok()) {
      leases.push_back(reply.lease());
    } else if (refused++ == 0) {
      first_error = status.error_message();
    }
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.hold_s));
  const long rss_held = o.rss_pid != 0 ? proc_status_kb(o.rss_pid, "VmRSS") : -1;
  for (const auto& lease : leases) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::ReleaseRequest request;
    request.set_lease(lease);
    v1::ReleaseResponse reply;
    (void)stub->Release(&context, request, &reply);
  }
  nlohmann::json out;
  out["mode"] = mode_name(o.mode);
  out["label"] = o.label;
  out["leases"] = leases.size();
  out["refused"] = refused;
  out["first_error"] = first_error;
  out["rss_before_kb"] = rss_before;
  out["rss_held_kb"] = rss_held;
  out["rss_per_lease_kb"] =
      !leases.empty() && rss_before >= 0 ? double(rss_held - rss_before) / leases.size() : -1.0;
  return out;
}

}  // namespace brokerside::bench
