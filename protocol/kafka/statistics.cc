#include "protocol/kafka/statistics.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <tuple>

namespace brokerside::protocol::kafka {
namespace {

std::int64_t integer(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<std::int64_t>() : -1;
}

// librdkafka writes offsets it does not have as -1001 (RD_KAFKA_OFFSET_INVALID).
std::int64_t offset(const nlohmann::json& object, const char* key) {
  const auto v = integer(object, key);
  return v < 0 ? -1 : v;
}

}  // namespace

statistics parse_statistics(std::string_view json) noexcept {
  statistics s;
  const auto doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return s;
  const auto queued = integer(doc, "msg_cnt");
  s.queued = queued > 0 ? static_cast<std::uint64_t>(queued) : 0;
  s.valid = true;
  const auto topics = doc.find("topics");
  if (topics == doc.end() || !topics->is_object()) return s;
  for (const auto& [topic, t] : topics->items()) {
    const auto partitions = t.find("partitions");
    if (!t.is_object() || partitions == t.end() || !partitions->is_object()) continue;
    for (const auto& [key, p] : partitions->items()) {
      if (!p.is_object()) continue;
      std::int32_t number = -1;
      std::from_chars(key.data(), key.data() + key.size(), number);
      // (-1 is the producer's queue for records not yet partitioned.)
      if (number < 0) continue;
      // A consumer reports the partitions it fetches as "active" (or in
      // an offset lookup); a producer's show "none", and only matter as
      // queued records, counted above.
      const auto state = p.find("fetch_state");
      if (state == p.end() || !state->is_string() || *state == "none" || *state == "stopped") {
        continue;
      }
      partition_statistics ps;
      ps.topic = topic;
      ps.partition = number;
      ps.position = offset(p, "app_offset");
      ps.committed = offset(p, "committed_offset");
      ps.high_watermark = offset(p, "hi_offset");
      ps.lag = integer(p, "consumer_lag");
      if (ps.lag < 0) ps.lag = -1;
      s.partitions.push_back(std::move(ps));
    }
  }
  // (JSON objects iterate "10" before "2".)
  std::sort(s.partitions.begin(), s.partitions.end(), [](const auto& a, const auto& b) {
    return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition);
  });
  return s;
}

}  // namespace brokerside::protocol::kafka
