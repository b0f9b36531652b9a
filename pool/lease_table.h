// The leases of one target: which dedicated connection each lease id holds,
// for whom, until when. Sans-io: the driver sweeps expire(now) when
// next_expiry() comes, then resets or discards the connections it returns.
// Ids of leases that expired are remembered (a bounded number) so that later
// use of them is FAILED_PRECONDITION ("lease expired"), not NOT_FOUND.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <unordered_set>
#include <vector>

#include "pool/time.h"

namespace brokerside::pool {

struct lease {
  std::string id;               // opaque, unguessable (made by the driver)
  std::string holder;           // the client's peer address, for leak warnings
  std::uint64_t connection_id;  // the dedicated connection
  millis ttl;                   // as last granted
  time_point acquired;
  time_point expires;
};

class lease_table {
 public:
  explicit lease_table(std::size_t remembered_expired = 4096) : remember_(remembered_expired) {}

  const lease& add(lease l);

  // The live lease `id`, or unknown_lease / lease_expired. A lease whose TTL
  // has passed is expired even before expire() sweeps it.
  std::error_code find(const std::string& id, time_point now, const lease*& out) const;

  // Extends the lease to now + ttl.
  std::error_code renew(const std::string& id, millis ttl, time_point now);

  // Ends the lease and returns it, so the driver can return its connection.
  std::error_code release(const std::string& id, time_point now, lease& out);

  // Removes and returns every lease whose TTL has passed.
  std::vector<lease> expire(time_point now);

  // When the next lease expires, if any.
  std::optional<time_point> next_expiry() const;

  std::size_t size() const noexcept { return leases_.size(); }
  const std::map<std::string, lease>& all() const noexcept { return leases_; }

 private:
  void remember(const std::string& id);

  std::size_t remember_;                     // how many expired ids to keep
  std::map<std::string, lease> leases_;      // live leases by id
  std::deque<std::string> expired_order_;    // oldest remembered id first
  std::unordered_set<std::string> expired_;  // remembered expired ids
};

}  // namespace brokerside::pool
