#include "sidecar/health_service.h"

#include <optional>

namespace brokerside::sidecar {

namespace health = grpc::health::v1;

// One Watch stream: writes the status whenever it changes (only the latest
// one if several changes come during a write), ends when told to or when
// the client goes away.
class health_service::watcher final : public write_reactor<health::HealthCheckResponse> {
 public:
  watcher(health_service& service, std::string name) : service_(service), name_(std::move(name)) {}

  void update(serving_status status) {
    std::lock_guard lock(mutex_);
    pending_ = status;
    pump_locked();
  }

  void end() {
    std::lock_guard lock(mutex_);
    ending_ = true;
    pump_locked();
  }

  const std::string& name() const { return name_; }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    writing_ = false;
    if (!ok) ending_ = true;
    pump_locked();
  }

  void OnCancel() override { end(); }

  void OnDone() override {
    service_.forget(this);
    delete this;
  }

 private:
  // Starts the next write, or finishes once nothing is left to write.
  void pump_locked() {
    if (writing_ || finished_) return;
    if (pending_ && pending_ != sent_) {
      response_.set_status(*pending_);
      sent_ = pending_;
      pending_.reset();
      writing_ = true;
      StartWrite(&response_);
      return;
    }
    if (ending_) {
      finished_ = true;
      Finish(grpc::Status::OK);
    }
  }

  health_service& service_;                // removes this watcher in OnDone
  const std::string name_;                 // the watched service
  std::mutex mutex_;                       // guards everything below
  health::HealthCheckResponse response_;   // the write in progress
  std::optional<serving_status> pending_;  // latest status not yet written
  std::optional<serving_status> sent_;     // last status written
  bool writing_ = false;                   // a StartWrite is outstanding
  bool ending_ = false;                    // finish once the writes are done
  bool finished_ = false;                  // Finish() was called
};

void health_service::Check(grpc::ServerContext*, const health::HealthCheckRequest* request,
                           health::HealthCheckResponse* response, unary_reactor* reactor) {
  std::unique_lock lock(mutex_);
  const auto status = status_locked(request->service());
  lock.unlock();
  if (status == health::HealthCheckResponse::SERVICE_UNKNOWN) {
    reactor->Finish({grpc::StatusCode::NOT_FOUND, "unknown service '" + request->service() + "'"});
  } else {
    response->set_status(status);
    reactor->Finish(grpc::Status::OK);
  }
}

write_reactor<health::HealthCheckResponse>* health_service::Watch(
    grpc::ServerContext*, const health::HealthCheckRequest* request) {
  auto* w = new watcher(*this, request->service());
  std::lock_guard lock(mutex_);
  w->update(status_locked(request->service()));
  if (shut_down_) {
    w->end();
  } else {
    watchers_.insert(w);
  }
  return w;
}

void health_service::set(const std::string& service, bool serving) {
  const auto status =
      serving ? health::HealthCheckResponse::SERVING : health::HealthCheckResponse::NOT_SERVING;
  std::lock_guard lock(mutex_);
  if (shut_down_) return;
  statuses_[service] = status;
  for (auto* w : watchers_) {
    if (w->name() == service) w->update(status);
  }
}

bool health_service::known(const std::string& service) const {
  std::lock_guard lock(mutex_);
  return statuses_.count(service) != 0;
}

bool health_service::serving(const std::string& service) const {
  std::lock_guard lock(mutex_);
  return status_locked(service) == health::HealthCheckResponse::SERVING;
}

void health_service::shutdown() {
  std::lock_guard lock(mutex_);
  shut_down_ = true;
  for (auto& [name, status] : statuses_) status = health::HealthCheckResponse::NOT_SERVING;
  for (auto* w : watchers_) {
    w->update(status_locked(w->name()));
    w->end();
  }
}

health_service::serving_status health_service::status_locked(const std::string& service) const {
  const auto it = statuses_.find(service);
  return it == statuses_.end() ? health::HealthCheckResponse::SERVICE_UNKNOWN : it->second;
}

void health_service::forget(watcher* w) {
  std::lock_guard lock(mutex_);
  watchers_.erase(w);
}

}  // namespace brokerside::sidecar
