#include "protocol/amqp/client.h"

#include <utility>

#include "protocol/errc.h"

namespace brokerside::protocol::amqp {

bool names_exchange(const broker_reply& reply, std::string_view exchange) {
  std::string quoted;
  quoted.reserve(exchange.size() + 2);
  quoted.append(1, '\'').append(exchange).append(1, '\'');
  return reply.text.find(quoted) != std::string::npos;
}

std::shared_ptr<client> client::create(std::shared_ptr<connection> conn) {
  return std::shared_ptr<client>(new client(std::move(conn)));
}

void client::connect(connect_options options, done_handler done) {
  // Whatever used a channel the broker closed opens a new one next time.
  conn_->on_channel_closed([weak = weak_from_this()](channel_id id, broker_reply reply) {
    if (auto self = weak.lock()) self->channel_closed(id, reply);
  });
  conn_->connect(std::move(options), [self = shared_from_this(), done = std::move(done)](
                                         std::error_code ec, broker_reply reply) {
    if (ec) return done(ec, std::move(reply));
    // The publish channel now, so the first publish does not wait for it.
    self->with_channel(
        self->publish_, true,
        [done](std::error_code ec, channel_id, broker_reply reply) { done(ec, std::move(reply)); });
  });
}

void client::on_lost(std::function<void(std::error_code, broker_reply)> lost) {
  conn_->on_lost(
      [weak = weak_from_this(), lost = std::move(lost)](std::error_code ec, broker_reply reply) {
        if (auto self = weak.lock()) {
          self->lost_ = true;
          self->fail_requests(ec);
        }
        lost(ec, std::move(reply));
      });
}

void client::close() { conn_->close(); }

void client::shut_down() {
  fail_requests(make_error_code(errc::aborted));
  conn_->close();
}

bool client::exchange_known(const std::string& exchange) const {
  // The default exchange always exists (and cannot be declared).
  if (exchange.empty() || exchange_check_interval_.count() == 0) return true;
  const auto it = exchanges_.find(exchange);
  return it != exchanges_.end() && steady::now() < it->second;
}

void client::with_exchange(const std::string& exchange, exchange_use use) {
  auto& waiting = checking_[exchange];
  waiting.push_back(std::move(use));
  if (waiting.size() > 1) return;  // a check is out already
  exchange_declare check;
  check.exchange = exchange;
  check.passive = true;
  // On a plain channel of its own: a 404 closes that one, not the channel
  // that every publish shares.
  command(std::move(check), [self = shared_from_this(), exchange](std::error_code ec, method,
                                                                  broker_reply reply, bool) {
    if (!ec) self->exchanges_[exchange] = steady::now() + self->exchange_check_interval_;
    const auto it = self->checking_.find(exchange);
    if (it == self->checking_.end()) return;
    auto waiting = std::move(it->second);
    self->checking_.erase(it);
    for (auto& use : waiting) use(ec, reply);
  });
}

void client::publish(const basic_publish& method, const basic_properties& properties,
                     std::string_view body, publish_handler done) {
  if (exchange_known(method.exchange))
    return publish_now(method, properties, body, std::move(done));
  with_exchange(method.exchange,
                [self = shared_from_this(), method, properties, body = std::string(body),
                 done = std::move(done)](std::error_code ec, broker_reply reply) mutable {
                  if (ec) return done(ec, std::move(reply), false);
                  self->publish_now(method, properties, body, std::move(done));
                });
}

void client::publish_now(const basic_publish& method, const basic_properties& properties,
                         std::string_view body, publish_handler done) {
  if (publish_.id != 0)
    return conn_->publish(publish_.id, method, properties, body, std::move(done));
  // The channel is (re)opening: keep a copy until it is.
  with_channel(
      publish_, true,
      [self = shared_from_this(), method, properties, body = std::string(body),
       done = std::move(done)](std::error_code ec, channel_id id, broker_reply reply) mutable {
        if (ec) return done(ec, std::move(reply), false);
        self->conn_->publish(id, method, properties, body, std::move(done));
      });
}

void client::command(method request, command_handler done) {
  if (!idle_commands_.empty()) {
    const auto id = idle_commands_.back();
    idle_commands_.pop_back();
    return command_on(id, std::move(request), std::move(done));
  }
  conn_->open_channel(
      false, [self = shared_from_this(), request = std::move(request), done = std::move(done)](
                 std::error_code ec, channel_id id, broker_reply reply) mutable {
        if (ec) return done(ec, method{}, std::move(reply), false);
        self->command_on(id, std::move(request), std::move(done));
      });
}

void client::command_on(channel_id id, method request, command_handler done) {
  conn_->call(id, std::move(request),
              [self = shared_from_this(), id, done = std::move(done)](
                  std::error_code ec, method answer, broker_reply reply) {
                // A method the codec refused was never sent: the channel is fine.
                if (ec == errc::field_too_long || ec == errc::nesting_too_deep) {
                  self->idle_commands_.push_back(id);
                }
                if (ec) return done(ec, std::move(answer), std::move(reply), true);
                if (self->idle_commands_.size() < idle_command_channels) {
                  self->idle_commands_.push_back(id);
                } else {
                  self->conn_->close_channel(id, [](std::error_code, broker_reply) {});
                }
                done(ec, std::move(answer), std::move(reply), true);
              });
}

void client::request(basic_publish method, basic_properties properties, std::string_view body,
                     boost::asio::cancellation_slot cancel, request_handler done) {
  method.mandatory = true;  // no queue to take the request: returned, not a wait
  auto correlation = "bs." + std::to_string(++next_correlation_);
  pending_request pending{std::move(properties.correlation_id), std::move(done), false};
  properties.correlation_id = correlation;
  properties.reply_to = std::string(reply_queue);
  // Nobody waits for the reply any more: forget the request, so a late
  // reply is dropped.
  if (cancel.is_connected()) {
    cancel.assign([weak = weak_from_this(), correlation](boost::asio::cancellation_type) {
      if (auto self = weak.lock()) self->requests_.erase(correlation);
    });
  }
  requests_.emplace(correlation, std::move(pending));
  if (!exchange_known(method.exchange)) {
    const auto exchange = method.exchange;
    return with_exchange(exchange, [self = shared_from_this(), method = std::move(method),
                                    properties = std::move(properties), body = std::string(body),
                                    correlation](std::error_code ec, broker_reply reply) mutable {
      if (ec) return self->fail_request(correlation, {ec, std::move(reply), false});
      if (self->requests_.count(correlation) == 0) return;  // its caller gave up meanwhile
      self->publish_request(std::move(method), std::move(properties), body, correlation);
    });
  }
  publish_request(std::move(method), std::move(properties), body, correlation);
}

void client::publish_request(basic_publish method, basic_properties properties,
                             std::string_view body, const std::string& correlation) {
  with_channel(replies_, true,
               [self = shared_from_this(), method = std::move(method),
                properties = std::move(properties), body = std::string(body),
                correlation](std::error_code ec, channel_id id, broker_reply reply) mutable {
                 if (ec) return self->fail_request(correlation, {ec, std::move(reply), false});
                 const auto it = self->requests_.find(correlation);
                 if (it == self->requests_.end()) return;  // its caller gave up meanwhile
                 it->second.written = true;
                 self->conn_->publish(
                     id, method, properties, body,
                     [weak = std::weak_ptr<client>(self), correlation](
                         std::error_code ec, broker_reply reply, bool written) {
                       auto self = weak.lock();
                       // Confirmed: now the reply is awaited.
                       if (ec && self) {
                         self->fail_request(correlation, {ec, std::move(reply), written});
                       }
                     });
               });
}

void client::with_channel(channel_slot& slot, bool confirms, channel_use use) {
  if (slot.id != 0) return use({}, slot.id, {});
  slot.waiting.push_back(std::move(use));
  if (slot.opening) return;
  slot.opening = true;
  conn_->open_channel(confirms, [self = shared_from_this(), &slot, replies = &slot == &replies_](
                                    std::error_code ec, channel_id id, broker_reply reply) {
    // The reply channel consumes before any request goes out on it.
    if (!ec && replies) return self->consume_replies(id);
    self->opened(slot, ec, id, std::move(reply));
  });
}

void client::opened(channel_slot& slot, std::error_code ec, channel_id id, broker_reply reply) {
  slot.opening = false;
  if (!ec) slot.id = id;
  auto waiting = std::exchange(slot.waiting, {});
  for (auto& use : waiting) use(ec, id, reply);
}

void client::consume_replies(channel_id id) {
  basic_consume consume;
  consume.queue = reply_queue;
  consume.no_ack = true;
  conn_->consume(
      id, consume,
      [weak = weak_from_this()](delivery d) {
        if (auto self = weak.lock()) self->reply_arrived(std::move(d));
      },
      [](std::error_code, broker_reply) {},
      [self = shared_from_this(), id](std::error_code ec, method, broker_reply reply) {
        self->opened(self->replies_, ec, id, std::move(reply));
      });
}

void client::reply_arrived(delivery d) {
  const auto it = requests_.find(d.properties.correlation_id.value_or(""));
  if (it == requests_.end()) return;  // late: its caller gave up
  auto pending = std::move(it->second);
  requests_.erase(it);
  d.properties.correlation_id = std::move(pending.correlation_id);
  request_outcome out;
  out.reply = std::move(d);
  pending.done(std::move(out));
}

void client::fail_request(const std::string& correlation, request_outcome outcome) {
  const auto it = requests_.find(correlation);
  if (it == requests_.end()) return;
  auto pending = std::move(it->second);
  requests_.erase(it);
  pending.done(std::move(outcome));
}

// The connection is gone: requests awaiting replies fail now, not when
// their callers give up.
void client::fail_requests(std::error_code ec) {
  auto failing = std::exchange(requests_, {});
  for (auto& [correlation, pending] : failing) {
    pending.done({ec, {}, pending.written, true});
  }
}

void client::channel_closed(channel_id id, const broker_reply& reply) {
  // A publish failed there despite its check (the exchange deleted since,
  // or another refusal): check every exchange again.
  if (publish_.id == id || replies_.id == id) exchanges_.clear();
  if (publish_.id == id) publish_.id = 0;
  std::erase(idle_commands_, id);
  if (replies_.id != id) return;
  replies_.id = 0;
  // Requests awaiting replies on it cannot get them now; they were not
  // refused themselves.
  auto failing = std::exchange(requests_, {});
  for (auto& [correlation, pending] : failing) {
    pending.done({make_error_code(errc::channel_closed), reply, true, true});
  }
}

}  // namespace brokerside::protocol::amqp
