#include "pool/lease_table.h"

#include "pool/errc.h"

namespace brokerside::pool {

const lease& lease_table::add(lease l) {
  auto id = l.id;
  return leases_.insert_or_assign(std::move(id), std::move(l)).first->second;
}

std::error_code lease_table::find(const std::string& id, time_point now, const lease*& out) const {
  const auto it = leases_.find(id);
  if (it == leases_.end()) {
    return expired_.count(id) != 0 ? errc::lease_expired : errc::unknown_lease;
  }
  if (now >= it->second.expires) return errc::lease_expired;
  out = &it->second;
  return {};
}

std::error_code lease_table::renew(const std::string& id, millis ttl, time_point now) {
  const lease* found = nullptr;
  if (auto ec = find(id, now, found)) return ec;
  auto& l = leases_.at(id);
  l.ttl = ttl;
  l.expires = now + ttl;
  return {};
}

std::error_code lease_table::release(const std::string& id, time_point now, lease& out) {
  const lease* found = nullptr;
  if (auto ec = find(id, now, found)) return ec;
  auto node = leases_.extract(id);
  out = std::move(node.mapped());
  return {};
}

std::vector<lease> lease_table::expire(time_point now) {
  std::vector<lease> gone;
  for (auto it = leases_.begin(); it != leases_.end();) {
    if (now < it->second.expires) {
      ++it;
      continue;
    }
    remember(it->first);
    gone.push_back(std::move(it->second));
    it = leases_.erase(it);
  }
  return gone;
}

std::optional<time_point> lease_table::next_expiry() const {
  std::optional<time_point> first;
  for (const auto& [id, l] : leases_) {
    if (!first || l.expires < *first) first = l.expires;
  }
  return first;
}

void lease_table::remember(const std::string& id) {
  if (remember_ == 0) return;
  if (expired_.insert(id).second) expired_order_.push_back(id);
  while (expired_order_.size() > remember_) {
    expired_.erase(expired_order_.front());
    expired_order_.pop_front();
  }
}

}  // namespace brokerside::pool
