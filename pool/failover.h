// Which of a target's URLs to connect to next (kombu's failover): the URL at
// the front is used until a connect to it fails; a failed URL goes to the
// back, so it is tried again only after all the others. `shuffle` starts from
// a random order instead of the configured one.
#pragma once

#include <cstddef>
#include <vector>

#include "pool/settings.h"

namespace brokerside::pool {

class failover {
 public:
  // `draws` gives uniform randoms in [0, 1) for the shuffle (one per URL).
  failover(std::size_t urls, failover_strategy strategy, const std::vector<double>& draws = {});

  // The index of the URL to connect to now.
  std::size_t current() const noexcept { return order_.front(); }

  // A connect to URL `index` failed: try the others first.
  void failed(std::size_t index);
  // URL `index` is new (learned from the broker): tried after the others.
  void add(std::size_t index) { order_.push_back(index); }

  // The order URLs will be tried in (for Stats and tests).
  const std::vector<std::size_t>& order() const noexcept { return order_; }

 private:
  std::vector<std::size_t> order_;  // front: the URL in use
};

}  // namespace brokerside::pool
