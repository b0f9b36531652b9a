// What the cluster knows: metadata and watermarks (librdkafka blocks for
// those, so they run on the producer's blocking thread), a group's
// committed offsets and a topic's configuration (admin results on the
// producer's queue, like CreateTopics).
#include <boost/asio/post.hpp>

#include "protocol/kafka/producer_impl.h"

namespace brokerside::protocol::kafka {

namespace asio = boost::asio;

namespace {

cluster_info copy_of(const rd_kafka_metadata_t& m) {
  cluster_info c;
  for (int b = 0; b < m.broker_cnt; ++b) {
    c.brokers.push_back({m.brokers[b].id, m.brokers[b].host, m.brokers[b].port});
  }
  for (int t = 0; t < m.topic_cnt; ++t) {
    const auto& topic = m.topics[t];
    topic_info info;
    info.name = topic.topic;
    if (topic.err != RD_KAFKA_RESP_ERR_NO_ERROR) info.failure = error_of(topic.err, nullptr);
    for (int p = 0; p < topic.partition_cnt; ++p) {
      const auto& part = topic.partitions[p];
      partition_info pi;
      pi.id = part.id;
      pi.leader = part.leader;
      pi.replicas.assign(part.replicas, part.replicas + part.replica_cnt);
      pi.in_sync.assign(part.isrs, part.isrs + part.isr_cnt);
      if (part.err != RD_KAFKA_RESP_ERR_NO_ERROR) pi.failure = error_of(part.err, nullptr);
      info.partitions.push_back(std::move(pi));
    }
    c.topics.push_back(std::move(info));
  }
  return c;
}

// Metadata, blocking: of every topic, or of `topic` only. (Asked for all
// and filtered: asking for one topic by name makes it on a broker that
// creates topics on first use.)
error fetch_metadata(rd_kafka_t* rk, const std::string& topic, std::chrono::milliseconds timeout,
                     cluster_info& out) {
  const rd_kafka_metadata_t* m = nullptr;
  const auto err = rd_kafka_metadata(rk, 1, nullptr, &m, static_cast<int>(timeout.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return error_of(err, nullptr);
  out = copy_of(*m);
  rd_kafka_metadata_destroy(m);
  if (topic.empty()) return {};
  std::erase_if(out.topics, [&](const topic_info& t) { return t.name != topic; });
  if (out.topics.empty()) {
    return {static_cast<int>(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART),
            "Broker: Unknown topic or partition"};
  }
  return out.topics.front().failure;
}

}  // namespace

void producer::post_blocking(std::function<void()> work) {
  auto& i = *impl_;
  if (!i.blocking) i.blocking = std::make_shared<asio::thread_pool>(1);
  asio::post(*i.blocking, std::move(work));
}

void producer::metadata(const std::string& topic, std::chrono::milliseconds timeout,
                        std::function<void(error, cluster_info)> done) {
  auto& i = *impl_;
  auto executor = i.wakeups.executor();
  if (i.closed) return asio::post(executor, [done] { done(closed_error(), {}); });
  post_blocking([rk = i.rk, topic, timeout, executor, done = std::move(done)] {
    cluster_info c;
    auto e = fetch_metadata(rk, topic, timeout, c);
    asio::post(executor, [done, e = std::move(e), c = std::move(c)] { done(e, c); });
  });
}

void producer::watermarks_of(const std::string& topic, std::chrono::milliseconds timeout,
                             std::function<void(error, std::vector<watermarks>)> done) {
  auto& i = *impl_;
  auto executor = i.wakeups.executor();
  if (i.closed) return asio::post(executor, [done] { done(closed_error(), {}); });
  post_blocking([rk = i.rk, topic, timeout, executor, done = std::move(done)] {
    cluster_info c;
    std::vector<watermarks> marks;
    auto e = fetch_metadata(rk, topic, timeout, c);
    if (!e) {
      for (const auto& p : c.topics.front().partitions) {
        watermarks w;
        w.partition = p.id;
        const auto err = rd_kafka_query_watermark_offsets(rk, topic.c_str(), p.id, &w.low, &w.high,
                                                          static_cast<int>(timeout.count()));
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) w.failure = error_of(err, nullptr);
        marks.push_back(std::move(w));
      }
    }
    asio::post(executor, [done, e = std::move(e), marks = std::move(marks)] { done(e, marks); });
  });
}

void producer::committed(const std::string& group, std::chrono::milliseconds timeout,
                         std::function<void(error, std::vector<committed_offset>)> done) {
  auto& i = *impl_;
  if (i.closed) return asio::post(i.wakeups.executor(), [done] { done(closed_error(), {}); });
  rd_kafka_ListConsumerGroupOffsets_t* request =
      rd_kafka_ListConsumerGroupOffsets_new(group.c_str(), nullptr);
  rd_kafka_AdminOptions_t* options = i.admin_options(
      RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, timeout,
      [done = std::move(done)](rd_kafka_event_t* ev, error e) {
        std::vector<committed_offset> offsets;
        if (e || ev == nullptr) return done(std::move(e), {});
        std::size_t n = 0;
        const auto** groups = rd_kafka_ListConsumerGroupOffsets_result_groups(
            rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
        if (n == 0) return done({}, {});
        if (const rd_kafka_error_t* ge = rd_kafka_group_result_error(groups[0])) {
          return done(error_of(rd_kafka_error_code(ge), rd_kafka_error_string(ge)), {});
        }
        const auto* parts = rd_kafka_group_result_partitions(groups[0]);
        for (int p = 0; parts != nullptr && p < parts->cnt; ++p) {
          const auto& tp = parts->elems[p];
          if (tp.err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
          offsets.push_back({tp.topic, tp.partition, tp.offset});
        }
        done({}, std::move(offsets));
      });
  rd_kafka_ListConsumerGroupOffsets(i.rk, &request, 1, options, i.queue);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_ListConsumerGroupOffsets_destroy(request);
}

void producer::topic_configs(
    const std::string& topic, std::chrono::milliseconds timeout,
    std::function<void(error, std::vector<std::pair<std::string, std::string>>)> done) {
  auto& i = *impl_;
  if (i.closed) return asio::post(i.wakeups.executor(), [done] { done(closed_error(), {}); });
  rd_kafka_ConfigResource_t* resource =
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
  rd_kafka_AdminOptions_t* options = i.admin_options(
      RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout,
      [done = std::move(done)](rd_kafka_event_t* ev, error e) {
        std::vector<std::pair<std::string, std::string>> configs;
        if (e || ev == nullptr) return done(std::move(e), {});
        std::size_t n = 0;
        const auto** resources = rd_kafka_DescribeConfigs_result_resources(
            rd_kafka_event_DescribeConfigs_result(ev), &n);
        if (n == 0) return done({}, {});
        if (const auto err = rd_kafka_ConfigResource_error(resources[0]);
            err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          return done(error_of(err, rd_kafka_ConfigResource_error_string(resources[0])), {});
        }
        std::size_t entries = 0;
        const auto** entry = rd_kafka_ConfigResource_configs(resources[0], &entries);
        for (std::size_t k = 0; k < entries; ++k) {
          if (rd_kafka_ConfigEntry_is_default(entry[k]) != 0) continue;
          const char* value = rd_kafka_ConfigEntry_value(entry[k]);
          configs.emplace_back(rd_kafka_ConfigEntry_name(entry[k]), value ? value : "");
        }
        done({}, std::move(configs));
      });
  rd_kafka_DescribeConfigs(i.rk, &resource, 1, options, i.queue);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_ConfigResource_destroy(resource);
}

}  // namespace brokerside::protocol::kafka
