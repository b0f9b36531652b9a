#include "sidecar/adapter_registry.h"

#include <algorithm>
#include <stdexcept>

namespace brokerside::sidecar {

adapter_registry::adapter_registry(std::vector<const adapter_descriptor*> adapters)
    : adapters_(std::move(adapters)) {
  for (const auto* a : adapters_) {
    if (std::count_if(adapters_.begin(), adapters_.end(),
                      [a](const auto* b) { return b->name == a->name; }) > 1) {
      throw std::invalid_argument("adapter registry: two adapters named '" + std::string(a->name) +
                                  "'");
    }
    for (auto s : a->schemes) {
      s.adapter = a->name;
      for (const auto& known : schemes_) {
        if (known.scheme == s.scheme) {
          throw std::invalid_argument("adapter registry: the scheme '" + std::string(s.scheme) +
                                      "' is claimed by " + std::string(known.adapter) + " and " +
                                      std::string(a->name));
        }
      }
      schemes_.push_back(s);
    }
  }
}

const adapter_descriptor* adapter_registry::find(std::string_view name) const noexcept {
  for (const auto* a : adapters_) {
    if (a->name == name) return a;
  }
  return nullptr;
}

std::string adapter_registry::scheme_list() const {
  std::string out;
  for (const auto& s : schemes_) {
    if (!out.empty()) out += ", ";
    out += s.scheme;
  }
  return out;
}

}  // namespace brokerside::sidecar
