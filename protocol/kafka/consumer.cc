#include "protocol/kafka/consumer.h"

#include <librdkafka/rdkafka.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <unordered_map>

#include "protocol/kafka/event_pipe.h"
#include "protocol/kafka/offset_tracker.h"
#include "protocol/kafka/statistics.h"

namespace brokerside::protocol::kafka {

namespace asio = boost::asio;

namespace {

error error_of(rd_kafka_resp_err_t code, const char* text) {
  return {static_cast<int>(code), text != nullptr && *text != '\0' ? text : rd_kafka_err2str(code)};
}

consumed copy_of(const rd_kafka_message_t& m) {
  consumed c;
  c.topic = rd_kafka_topic_name(m.rkt);
  c.partition = m.partition;
  c.offset = m.offset;
  if (m.key != nullptr) c.key.emplace(static_cast<const char*>(m.key), m.key_len);
  if (m.payload != nullptr) c.value.assign(static_cast<const char*>(m.payload), m.len);
  rd_kafka_timestamp_type_t type;
  const auto ts = rd_kafka_message_timestamp(&m, &type);
  if (type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE) c.timestamp_ms = ts;
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(&m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    for (std::size_t i = 0;
         rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      c.headers.emplace_back(name, value ? std::string(static_cast<const char*>(value), size) : "");
    }
  }
  return c;
}

}  // namespace

struct consumer::impl {
  event_pipe wakeups;  // librdkafka's queue waking Asio
  rd_kafka_t* rk = nullptr;
  rd_kafka_queue_t* queue = nullptr;  // the consumer queue: records, rebalances, errors, logs
  handlers on;
  std::uint32_t credit = 1;
  std::deque<consumed> waiting;  // polled, not handed out yet (beyond the credit)
  struct out {
    consumed record;  // kept for a requeue
  };
  std::unordered_map<std::uint64_t, out> outstanding;  // handed out, not settled; by tag
  std::uint64_t next_tag = 0;
  offset_tracker offsets;
  statistics_cell stats;  // librdkafka's last statistics report
  bool paused = false;
  bool commit_posted = false;  // commit_soon() is pending
  bool assigned_once = false;
  bool closing = false;       // stopping: committing, then leaving the group
  bool leaving = false;       // rd_kafka_consumer_close_queue called
  int commits_in_flight = 0;  // async commits not answered yet
  bool closed = false;        // left; librdkafka let go
  std::function<void()> then;
  // While leaving the group: librdkafka says it is done through
  // rd_kafka_consumer_closed(), not always with an event, so look again.
  asio::steady_timer closing_check;
  int closing_checks = 0;

  explicit impl(asio::any_io_executor executor) : wakeups(executor), closing_check(executor) {}
};

std::shared_ptr<consumer> consumer::create(asio::any_io_executor executor,
                                           const properties& settings, std::string& why) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char reason[512];
  properties all = settings;
  // Offsets are ours to commit (the acked prefix), never librdkafka's.
  all.emplace_back("enable.auto.commit", "false");
  all.emplace_back("enable.auto.offset.store", "false");
  all.emplace_back("log.queue", "true");
  for (const auto& [key, value] : all) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), reason, sizeof(reason)) !=
        RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      why = key + ": " + reason;
      return nullptr;
    }
  }
  rd_kafka_conf_set_events(conf, RD_KAFKA_EVENT_FETCH | RD_KAFKA_EVENT_REBALANCE |
                                     RD_KAFKA_EVENT_ERROR | RD_KAFKA_EVENT_LOG |
                                     RD_KAFKA_EVENT_OFFSET_COMMIT | RD_KAFKA_EVENT_STATS);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, reason, sizeof(reason));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    why = reason;
    return nullptr;
  }
  rd_kafka_poll_set_consumer(rk);  // one queue for everything
  auto i = std::make_unique<impl>(std::move(executor));
  i->rk = rk;
  i->queue = rd_kafka_queue_get_consumer(rk);
  rd_kafka_set_log_queue(rk, i->queue);
  if (why = i->wakeups.open(i->queue); !why.empty()) {
    rd_kafka_queue_destroy(i->queue);
    rd_kafka_destroy(rk);
    return nullptr;
  }
  return std::shared_ptr<consumer>(new consumer(std::move(i)));
}

consumer::consumer(std::unique_ptr<impl> i) : impl_(std::move(i)) {}

consumer::~consumer() {
  auto& i = *impl_;
  if (i.closed || i.rk == nullptr) return;
  // Dropped without stop(): leave the group on a thread of its own.
  i.wakeups.let_go(i.rk, i.queue, /*leave_group=*/true);
}

void consumer::start(const std::vector<std::string>& topics, std::uint32_t credit, handlers h) {
  auto& i = *impl_;
  i.on = std::move(h);
  i.credit = std::max<std::uint32_t>(credit, 1);
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(topics.size()));
  for (const auto& t : topics) {
    rd_kafka_topic_partition_list_add(list, t.c_str(), RD_KAFKA_PARTITION_UA);
  }
  const auto err = rd_kafka_subscribe(i.rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  wait_for_events();
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    asio::post(i.wakeups.executor(), [self = shared_from_this(), err] {
      if (self->impl_->on.failed) self->impl_->on.failed(error_of(err, nullptr));
    });
  }
}

void consumer::wait_for_events() {
  impl_->wakeups.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (!self || ec || self->impl_->closed) return;
    self->impl_->wakeups.drain();
    self->drain_events();
    if (!self->impl_->closed) self->wait_for_events();
  });
}

void consumer::drain_events() {
  auto& i = *impl_;
  while (!i.closed) {
    rd_kafka_event_t* ev = rd_kafka_queue_poll(i.queue, 0);
    if (ev == nullptr) break;
    switch (rd_kafka_event_type(ev)) {
      case RD_KAFKA_EVENT_FETCH:
        while (const rd_kafka_message_t* m = rd_kafka_event_message_next(ev)) {
          if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
          if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (i.on.log) i.on.log(4, "consume: " + std::string(rd_kafka_err2str(m->err)));
            continue;
          }
          i.waiting.push_back(copy_of(*m));
        }
        break;
      case RD_KAFKA_EVENT_REBALANCE:
        rebalance(ev);
        break;
      case RD_KAFKA_EVENT_STATS:
        if (const char* json = rd_kafka_event_stats(ev)) i.stats.set(parse_statistics(json));
        break;
      case RD_KAFKA_EVENT_OFFSET_COMMIT:
        --i.commits_in_flight;
        // (Nothing committed is one more redelivery, not a loss.)
        if (const auto err = rd_kafka_event_error(ev);
            err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET && i.on.log) {
          i.on.log(4, std::string("commit: ") + rd_kafka_err2str(err));
        }
        break;
      case RD_KAFKA_EVENT_ERROR: {
        const auto e = error_of(rd_kafka_event_error(ev), rd_kafka_event_error_string(ev));
        if (rd_kafka_event_error_is_fatal(ev) != 0 ||
            classify(e.code) == error_kind::authorization) {
          if (i.on.failed) std::exchange(i.on.failed, nullptr)(e);
        } else if (i.on.log) {
          i.on.log(4, e.text);
        }
        break;
      }
      case RD_KAFKA_EVENT_LOG: {
        const char* facility = nullptr;
        const char* text = nullptr;
        int level = 0;
        if (rd_kafka_event_log(ev, &facility, &text, &level) == 0 && i.on.log) {
          i.on.log(level, std::string(facility ? facility : "") + ": " + (text ? text : ""));
        }
        break;
      }
      default:
        break;
    }
    rd_kafka_event_destroy(ev);
  }
  if (i.closing && !i.leaving && i.commits_in_flight <= 0) leave();
  if (i.leaving && !i.closed && rd_kafka_consumer_closed(i.rk) != 0) return finish_close();
  hand_out();
}

void consumer::rebalance(void* event) {
  auto* ev = static_cast<rd_kafka_event_t*>(event);
  auto& i = *impl_;
  const auto* parts = rd_kafka_event_topic_partition_list(ev);
  if (rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    rd_kafka_assign(i.rk, parts);
    if (i.paused)
      rd_kafka_pause_partitions(i.rk, const_cast<rd_kafka_topic_partition_list_t*>(parts));
    if (!i.assigned_once && !i.closing) {
      i.assigned_once = true;
      if (i.on.assigned) i.on.assigned();
    }
    return;
  }
  // Revoked: what was acked is committed while they are still ours; what
  // was not comes again to whoever gets them (acks for it are refused).
  commit();
  for (int n = 0; n < parts->cnt; ++n) {
    const topic_partition tp{parts->elems[n].topic, parts->elems[n].partition};
    i.offsets.revoked(tp);
    std::erase_if(i.waiting, [&](const consumed& c) {
      return c.topic == tp.first && c.partition == tp.second;
    });
    std::erase_if(i.outstanding, [&](const auto& entry) {
      return entry.second.record.topic == tp.first && entry.second.record.partition == tp.second;
    });
  }
  rd_kafka_assign(i.rk, nullptr);
}

// Hands out what waits while the credit allows, then pauses or resumes.
void consumer::hand_out() {
  auto& i = *impl_;
  while (!i.closing && !i.waiting.empty() && i.outstanding.size() < i.credit) {
    auto record = std::move(i.waiting.front());
    i.waiting.pop_front();
    i.offsets.delivered({record.topic, record.partition}, record.offset);
    const auto tag = ++i.next_tag;
    i.outstanding.emplace(tag, impl::out{record});
    if (i.on.message) i.on.message(std::move(record), tag);
  }
  flow();
}

void consumer::flow() {
  auto& i = *impl_;
  const bool full = i.outstanding.size() >= i.credit || !i.waiting.empty();
  if (full == i.paused || i.closing) return;
  rd_kafka_topic_partition_list_t* parts = nullptr;
  if (rd_kafka_assignment(i.rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  if (full) {
    rd_kafka_pause_partitions(i.rk, parts);
  } else {
    rd_kafka_resume_partitions(i.rk, parts);
  }
  rd_kafka_topic_partition_list_destroy(parts);
  i.paused = full;
}

const consumed* consumer::find(std::uint64_t tag) const {
  const auto it = impl_->outstanding.find(tag);
  return it == impl_->outstanding.end() ? nullptr : &it->second.record;
}

void consumer::settle(std::uint64_t tag, settlement how) {
  auto& i = *impl_;
  if (i.closed) return;  // (what was acked is committed)
  const auto it = i.outstanding.find(tag);
  if (it == i.outstanding.end()) {
    // Its partition was revoked meanwhile: another member has it now.
    if (i.on.revoked_acks) i.on.revoked_acks();
    return;
  }
  auto record = std::move(it->second.record);
  i.outstanding.erase(it);
  if (how == settlement::requeue) {
    record.redelivered = true;
    i.waiting.push_front(std::move(record));
  } else if (i.offsets.acked({record.topic, record.partition}, record.offset)) {
    commit_soon();
  }
  hand_out();
}

statistics consumer::last_statistics() const { return impl_->stats.get(); }

void consumer::set_credit(std::uint32_t credit) {
  if (impl_->closed) return;
  impl_->credit = std::max<std::uint32_t>(credit, 1);
  hand_out();
}

// One commit for all the settles of this turn: an Ack of many ids comes as
// many settles, posted one after another before this runs.
void consumer::commit_soon() {
  auto& i = *impl_;
  if (i.commit_posted) return;
  i.commit_posted = true;
  asio::post(i.wakeups.executor(), [weak = weak_from_this()] {
    auto self = weak.lock();
    if (!self) return;
    self->impl_->commit_posted = false;
    self->commit();
  });
}

// Commits (asynchronously) each partition's acked prefix that moved.
void consumer::commit() {
  auto& i = *impl_;
  if (i.rk == nullptr) return;
  rd_kafka_topic_partition_list_t* list = nullptr;
  for (const auto& tp : i.offsets.partitions()) {
    const auto offset = i.offsets.to_commit(tp);
    if (!offset) continue;
    if (list == nullptr) list = rd_kafka_topic_partition_list_new(4);
    rd_kafka_topic_partition_list_add(list, tp.first.c_str(), tp.second)->offset = *offset;
    i.offsets.committed(tp, *offset);
  }
  if (list == nullptr) return;
  // The result comes to our queue as an event (rd_kafka_commit's async
  // results come to none we poll).
  if (rd_kafka_commit_queue(i.rk, list, i.queue, nullptr, nullptr) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++i.commits_in_flight;
  }
  rd_kafka_topic_partition_list_destroy(list);
}

void consumer::stop(std::function<void()> then) {
  auto& i = *impl_;
  if (i.closing) return;
  commit();
  i.closing = true;
  i.then = std::move(then);
  i.waiting.clear();
  // The commits go out before the group is left (leaving does not wait for
  // them, and a commit lost so is a redelivery).
  if (i.commits_in_flight <= 0) leave();
  check_closed();
}

// Leaves the group in the background; its revoke comes as an event, and
// drain_events() finishes once librdkafka says it is closed.
void consumer::leave() {
  auto& i = *impl_;
  i.leaving = true;
  if (rd_kafka_error_t* e = rd_kafka_consumer_close_queue(i.rk, i.queue)) {
    rd_kafka_error_destroy(e);
    finish_close();
  }
}

// Every 50 ms while stopping: commits wait at most 5 s, the whole at most
// 10 s (then librdkafka is let go anyway; rd_kafka_destroy finishes the
// leaving).
void consumer::check_closed() {
  auto& i = *impl_;
  i.closing_check.expires_after(std::chrono::milliseconds(50));
  i.closing_check.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    auto& i = *self->impl_;
    if (ec || i.closed) return;
    self->drain_events();
    if (i.closed) return;
    ++i.closing_checks;
    if (!i.leaving && i.closing_checks >= 100) self->leave();
    if (i.closed) return;
    if (i.closing_checks >= 200) return self->finish_close();
    self->check_closed();
  });
}

void consumer::finish_close() {
  auto& i = *impl_;
  i.closed = true;
  i.closing_check.cancel();
  i.wakeups.let_go(i.rk, i.queue, /*leave_group=*/false, std::exchange(i.then, nullptr));
  i.rk = nullptr;
}

}  // namespace brokerside::protocol::kafka
