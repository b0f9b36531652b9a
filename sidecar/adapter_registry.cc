#include "sidecar/adapter_registry.h"

namespace brokerside::sidecar {

adapter_registry::adapter_registry(std::vector<const adapter_descriptor*> adapters)
    : adapters_(std::move(adapters)) {
  for (const auto* a : adapters_) {
    for (auto s : a->schemes) {
      s.adapter = a->name;
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
