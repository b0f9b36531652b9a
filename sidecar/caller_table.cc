#include "sidecar/caller_table.h"

#include <algorithm>
#include <cstdio>

#include "sidecar/access_rules.h"
#include "sidecar/config.h"

namespace brokerside::sidecar {
namespace {

const quota_settings* quota_for(const config& cfg, std::string_view who) {
  for (const auto& quota : cfg.quotas) {
    for (const auto& pattern : quota.callers) {
      if (glob_matches(pattern, who)) return &quota;
    }
  }
  return nullptr;
}

std::string rate_text(double value, const char* unit) {
  char text[48];
  std::snprintf(text, sizeof text, "%g%s/s", value, unit);
  return text;
}

}  // namespace

void operation_slot::release() noexcept {
  if (state_) {
    state_->in_flight.fetch_sub(1, std::memory_order_relaxed);
    state_.reset();
  }
}

stream_slot& stream_slot::operator=(stream_slot&& other) noexcept {
  if (this != &other) {
    if (state_) state_->streams.fetch_sub(1, std::memory_order_relaxed);
    state_ = std::move(other.state_);
    client_ = std::move(other.client_);
  }
  return *this;
}

stream_slot::~stream_slot() {
  if (state_) state_->streams.fetch_sub(1, std::memory_order_relaxed);
}

caller_table::caller_table(const config& cfg, bool tracked)
    : config_(cfg), tracked_(tracked || !cfg.quotas.empty()) {}

std::shared_ptr<caller_state> caller_table::state_of(const std::string& who) {
  {
    std::shared_lock lock(mutex_);
    if (const auto it = states_.find(who); it != states_.end()) return it->second;
  }
  std::unique_lock lock(mutex_);
  if (const auto it = states_.find(who); it != states_.end()) return it->second;
  // A bound on the table: a CA that signs endless distinct names must not
  // grow it without end.
  const std::string key = states_.size() < max_identities ? who : std::string("other");
  auto& state = states_[key];
  if (!state) {
    state = std::make_shared<caller_state>();
    state->identity = key;
    state->quota = quota_for(config_, key);
    if (state->quota) {
      const auto now = token_bucket::clock::now();
      const double burst = std::chrono::duration<double>(state->quota->burst).count();
      state->operation_rate = {state->quota->operations_per_second,
                               state->quota->operations_per_second * burst, now};
      state->byte_rate = {static_cast<double>(state->quota->bytes_per_second),
                          static_cast<double>(state->quota->bytes_per_second) * burst, now};
    }
  }
  return state;
}

grpc::Status caller_table::throttled(caller_state& state, const char* quota,
                                     const std::string& limit) {
  {
    std::lock_guard lock(state.mutex);
    ++state.throttled[quota];
  }
  return {grpc::StatusCode::RESOURCE_EXHAUSTED,
          "quota exceeded: '" + std::string(caller_label(state.identity)) + "' is limited to " +
              limit + " (" + state.quota->path + "." + quota + ")"};
}

grpc::Status caller_table::admit_operation(const std::string& who, std::uint64_t bytes,
                                           std::shared_ptr<operation_slot>& slot) {
  slot.reset();
  if (!tracked_) return grpc::Status::OK;
  auto state = state_of(who);
  // Counted first and taken back if refused: concurrent calls never pass
  // the limit together.
  const auto held = state->in_flight.fetch_add(1, std::memory_order_relaxed);
  if (const auto* quota = state->quota) {
    const char* over = nullptr;
    std::string limit;
    if (quota->in_flight != 0 && held >= quota->in_flight) {
      over = "in_flight";
      limit = std::to_string(quota->in_flight) + " operations in flight";
    } else if (quota->operations_per_second > 0 || quota->bytes_per_second > 0) {
      const auto now = token_bucket::clock::now();
      std::lock_guard lock(state->mutex);
      if (quota->operations_per_second > 0 && !state->operation_rate.take(1, now, true)) {
        over = "operations_per_second";
        limit = rate_text(quota->operations_per_second, " operations");
      } else if (quota->bytes_per_second > 0 &&
                 !state->byte_rate.take(static_cast<double>(bytes), now, false)) {
        over = "bytes_per_second";
        limit = rate_text(static_cast<double>(quota->bytes_per_second), " bytes");
      }
    }
    if (over != nullptr) {
      state->in_flight.fetch_sub(1, std::memory_order_relaxed);
      return throttled(*state, over, limit);
    }
  }
  state->operations.fetch_add(1, std::memory_order_relaxed);
  slot = std::make_shared<operation_slot>(std::move(state));
  return grpc::Status::OK;
}

grpc::Status caller_table::open_stream(const std::string& who, stream_slot& slot) {
  slot = stream_slot();
  if (!tracked_) return grpc::Status::OK;
  auto state = state_of(who);
  const auto open = state->streams.fetch_add(1, std::memory_order_relaxed);
  if (state->quota && state->quota->streams != 0 && open >= state->quota->streams) {
    state->streams.fetch_sub(1, std::memory_order_relaxed);
    return throttled(*state, "streams", std::to_string(state->quota->streams) + " open streams");
  }
  slot = stream_slot(std::move(state));
  return grpc::Status::OK;
}

void caller_table::count_denied(const std::string& who, std::string_view rule) {
  if (!tracked_) return;
  auto state = state_of(who);
  std::lock_guard lock(state->mutex);
  const auto it = state->denied.find(rule);
  if (it != state->denied.end()) {
    ++it->second;
  } else {
    state->denied.emplace(std::string(rule), 1);
  }
}

std::vector<caller_snapshot> caller_table::snapshot() const {
  std::vector<std::shared_ptr<caller_state>> states;
  {
    std::shared_lock lock(mutex_);
    for (const auto& [name, state] : states_) states.push_back(state);
  }
  std::vector<caller_snapshot> out;
  for (const auto& state : states) {
    caller_snapshot s;
    s.identity = state->identity;
    s.operations = state->operations.load(std::memory_order_relaxed);
    s.in_flight = state->in_flight.load(std::memory_order_relaxed);
    s.streams = state->streams.load(std::memory_order_relaxed);
    {
      std::lock_guard lock(state->mutex);
      s.denied = state->denied;
      s.throttled = state->throttled;
    }
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.identity < b.identity; });
  return out;
}

}  // namespace brokerside::sidecar
