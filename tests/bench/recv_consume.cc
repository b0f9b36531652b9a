// bench_load --mode recv-consume: one Recv stream in a consumer group reads
// `count` deliveries as fast as the sidecar hands them out, with `in_flight`
// as its credit, acking each as it comes (the acks of one read batched in
// one Ack while a write is in flight). Timed from the first delivery to the
// count-th, so the group's join is not in the figure.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "brokerside/v1/brokerside.grpc.pb.h"
#include "tests/bench/load_drivers.h"

namespace brokerside::bench {
namespace {

using steady = std::chrono::steady_clock;

class consumer final : public grpc::ClientBidiReactor<v1::RecvRequest, v1::RecvResponse> {
 public:
  consumer(v1::Broker::Stub& stub, const load_options& o) : count_(o.count) {
    auto& s = *subscribe_.mutable_subscribe();
    s.set_target(o.target);
    s.add_sources(o.destination);
    s.set_group(o.group);
    s.set_credit(o.in_flight);
    stub.async()->Recv(&context_, this);
    writing_ = true;
    StartWrite(&subscribe_);
    StartRead(&incoming_);
    StartCall();
  }

  // Waits until `count` deliveries came (or the stream ended, or `limit`).
  nlohmann::json wait(std::chrono::seconds limit) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, limit, [this] { return received_ >= count_ || done_; });
    const auto seconds = std::chrono::duration<double>(last_ - first_).count();
    nlohmann::json out;
    out["received"] = received_;
    out["redelivered"] = redelivered_;
    out["seconds"] = seconds;
    out["throughput"] = received_ > 1 && seconds > 0 ? double(received_ - 1) / seconds : 0.0;
    out["status"] = done_ ? status_.error_message() : "";
    return out;
  }
  void finish() {
    context_.TryCancel();
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, std::chrono::seconds(10), [this] { return done_; });
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (incoming_.has_delivery()) {
      std::lock_guard lock(mutex_);
      const auto now = steady::now();
      if (received_ == 0) first_ = now;
      if (received_ < count_) last_ = now;
      ++received_;
      redelivered_ += incoming_.delivery().redelivered() ? 1 : 0;
      acks_.push_back(incoming_.delivery().delivery_id());
      if (received_ >= count_) cv_.notify_all();
      write_acks();
    }
    StartRead(&incoming_);
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    writing_ = false;
    if (ok) write_acks();
  }
  void OnDone(const grpc::Status& status) override {
    std::lock_guard lock(mutex_);
    status_ = status;
    done_ = true;
    cv_.notify_all();
  }

 private:
  // Needs mutex_.
  void write_acks() {
    if (writing_ || acks_.empty()) return;
    ack_.Clear();
    for (const auto id : acks_) ack_.mutable_ack()->add_delivery_ids(id);
    acks_.clear();
    writing_ = true;
    StartWrite(&ack_);
  }

  const std::uint64_t count_;
  grpc::ClientContext context_;
  v1::RecvRequest subscribe_, ack_;
  v1::RecvResponse incoming_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::uint64_t> acks_;  // received, not yet written
  bool writing_ = false;
  std::uint64_t received_ = 0, redelivered_ = 0;
  steady::time_point first_, last_;
  bool done_ = false;
  grpc::Status status_;
};

}  // namespace

nlohmann::json run_recv_consume(const load_options& o) {
  if (o.count == 0 || o.destination.empty() || o.group.empty()) {
    throw std::runtime_error("recv-consume needs --count, --destination (the topic) and --group");
  }
  auto stub =
      v1::Broker::NewStub(grpc::CreateChannel(o.address, grpc::InsecureChannelCredentials()));
  consumer c(*stub, o);
  auto out = c.wait(std::chrono::seconds(180));
  c.finish();
  out["mode"] = mode_name(o.mode);
  out["label"] = o.label;
  out["credit"] = o.in_flight;
  out["count"] = o.count;
  return out;
}

}  // namespace brokerside::bench
