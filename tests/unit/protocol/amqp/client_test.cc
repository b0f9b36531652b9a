// protocol::amqp::client over a real amqp::connection on an in-memory
// transport, the test playing the broker: the publish channel opened at
// connect, commands on reused channels, exchanges checked before their
// first publish, request/reply over direct reply-to (correlation ids,
// cancellation, failures while waiting). No sockets.
#include "protocol/amqp/client.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <optional>

#include "protocol/amqp/content.h"
#include "protocol/amqp/frame.h"
#include "protocol/errc.h"
#include "tests/unit/protocol/memory_transport.h"

namespace brokerside::protocol::amqp {
namespace {

// A frame the client sent: a method, or a content header with its body.
struct sent_frame {
  channel_id channel = 0;
  std::optional<method> m;
  std::optional<content_header> header;
};

class amqp_client_test : public ::testing::Test {
 protected:
  ~amqp_client_test() override { wire_->drop(); }

  amqp_client_test()
      : client_(client::create(connection::create(
            io_.get_executor(),
            std::make_unique<test::memory_transport>(io_.get_executor(), wire_)))) {}

  // Connects and answers the handshake and the publish channel's opening.
  void connect() {
    connect_options o;
    o.heartbeat = std::chrono::seconds(0);
    std::optional<std::error_code> connected;
    client_->connect(o, [&](std::error_code ec, broker_reply) { connected = ec; });
    client_->on_lost([this](std::error_code ec, broker_reply) { lost_ = ec; });
    io_.poll();
    wire_->finish_connect();
    send(0, connection_start{});
    send(0, connection_tune{2047, 131072, 0});
    sent();  // start-ok, tune-ok, open
    send(0, connection_open_ok{});
    expect_open(1, true);
    ASSERT_TRUE(connected.has_value());
    EXPECT_FALSE(*connected);
    EXPECT_TRUE(sent().empty());
  }

  // Runs what is ready, completing each write.
  void pump() {
    for (;;) {
      io_.restart();
      io_.poll();
      if (!wire_->writing()) break;
      wire_->finish_write();
    }
  }

  // pump(), then the frames written since the last look.
  std::vector<sent_frame> sent() {
    pump();
    std::vector<sent_frame> frames;
    for (; seen_ < wire_->writes.size(); ++seen_) {
      std::string_view in(wire_->writes[seen_]);
      if (in.starts_with("AMQP")) in.remove_prefix(protocol_header.size());
      while (!in.empty()) {
        frame f;
        std::error_code ec;
        const auto used = decode_frame(in, f, ec, 0);
        EXPECT_GT(used, 0u) << ec.message();
        if (used == 0) break;
        in.remove_prefix(used);
        if (f.type == frame_type::method) {
          method m;
          EXPECT_FALSE(decode_method(f.payload, m));
          frames.push_back({f.channel, std::move(m), {}});
        } else if (f.type == frame_type::header) {
          content_header h;
          EXPECT_FALSE(decode_content_header(f.payload, h));
          frames.push_back({f.channel, {}, std::move(h)});
        }
      }
    }
    return frames;
  }

  // The broker sends `m` on `channel`.
  void send(channel_id channel, const method& m) {
    pump();
    std::string bytes;
    ASSERT_FALSE(append_method_frame(bytes, channel, m, 0));
    wire_->deliver(bytes);
    pump();
  }

  // The broker delivers a message to the consumer on `channel`.
  void deliver(channel_id channel, std::string correlation_id, std::string body) {
    pump();
    basic_properties p;
    p.correlation_id = std::move(correlation_id);
    std::string bytes, header;
    ASSERT_FALSE(append_method_frame(bytes, channel, basic_deliver{"ctag", 1, false, "", "q"}, 0));
    ASSERT_FALSE(encode_content_header(body.size(), p, header));
    append_frame(bytes, frame_type::header, channel, header);
    append_frame(bytes, frame_type::body, channel, body);
    wire_->deliver(bytes);
    pump();
  }

  // The client opens `channel` (with confirms): the broker agrees.
  void expect_open(channel_id channel, bool confirms) {
    auto frames = sent();
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].channel, channel);
    EXPECT_TRUE(std::holds_alternative<channel_open>(*frames[0].m));
    send(channel, channel_open_ok{});
    if (!confirms) return;
    frames = sent();
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_TRUE(std::holds_alternative<confirm_select>(*frames[0].m));
    send(channel, confirm_select_ok{});
  }

  // The client checks `exchange` (a passive declare on plain channel
  // `channel`, opened for it): the broker finds it, or closes the channel
  // with a 404.
  void expect_exchange_check(channel_id channel, const std::string& exchange, bool exists) {
    expect_open(channel, false);
    const auto frames = sent();
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].channel, channel);
    const auto* check = std::get_if<exchange_declare>(&*frames[0].m);
    ASSERT_NE(check, nullptr);
    EXPECT_EQ(check->exchange, exchange);
    EXPECT_TRUE(check->passive);
    if (exists) return send(channel, exchange_declare_ok{});
    send(channel,
         channel_close{404, "NOT_FOUND - no exchange '" + exchange + "' in vhost '/'", 40, 10});
  }

  // Publishes to `exchange`; the confirm (or failure) lands in `into`.
  void publish(const std::string& exchange, std::optional<std::error_code>& into,
               broker_reply* reply = nullptr, bool* written = nullptr) {
    client_->publish(basic_publish{exchange, "k", false, false}, {}, "body",
                     [&into, reply, written](std::error_code ec, broker_reply r, bool w) {
                       into = ec;
                       if (reply) *reply = std::move(r);
                       if (written) *written = w;
                     });
  }

  // Starts a request; its outcome lands in `into`.
  void request(std::optional<std::string> correlation_id, std::optional<request_outcome>& into,
               boost::asio::cancellation_slot cancel = {}) {
    basic_properties p;
    p.correlation_id = std::move(correlation_id);
    client_->request(basic_publish{"", "server", false, false}, p, "question", cancel,
                     [&into](request_outcome o) { into = std::move(o); });
  }

  // The client opens the reply channel 2 and consumes direct reply-to.
  void expect_reply_channel() {
    expect_open(2, true);
    const auto frames = sent();
    ASSERT_EQ(frames.size(), 1u);
    const auto* consume = std::get_if<basic_consume>(&*frames[0].m);
    ASSERT_NE(consume, nullptr);
    EXPECT_EQ(consume->queue, client::reply_queue);
    EXPECT_TRUE(consume->no_ack);
    send(2, basic_consume_ok{"ctag"});
  }

  // The publish of request `n` on the reply channel: our correlation id.
  void expect_request_published(int n) {
    const auto frames = sent();
    ASSERT_EQ(frames.size(), 2u);
    const auto* publish = std::get_if<basic_publish>(&*frames[0].m);
    ASSERT_NE(publish, nullptr);
    EXPECT_TRUE(publish->mandatory);
    EXPECT_EQ(frames[1].channel, 2);
    EXPECT_EQ(frames[1].header->properties.correlation_id, "bs." + std::to_string(n));
    EXPECT_EQ(frames[1].header->properties.reply_to, std::string(client::reply_queue));
  }

  boost::asio::io_context io_;
  std::shared_ptr<test::wire> wire_ = std::make_shared<test::wire>();
  std::shared_ptr<client> client_;
  std::size_t seen_ = 0;                 // writes parsed by sent()
  std::optional<std::error_code> lost_;  // what on_lost said
};

TEST_F(amqp_client_test, publishes_go_straight_out_on_the_confirm_channel_opened_at_connect) {
  connect();
  std::optional<std::error_code> confirmed;
  publish("", confirmed);  // the default exchange: never checked
  const auto frames = sent();
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].channel, 1);
  EXPECT_TRUE(std::holds_alternative<basic_publish>(*frames[0].m));
  send(1, basic_ack{1, false});
  ASSERT_TRUE(confirmed.has_value());
  EXPECT_FALSE(*confirmed);
}

TEST_F(amqp_client_test, a_publish_after_the_broker_closed_the_channel_reopens_it) {
  connect();
  send(1, channel_close{404, "NOT_FOUND - no exchange 'x' in vhost '/'", 60, 40});
  sent();  // close-ok
  std::optional<std::error_code> confirmed;
  publish("", confirmed);
  expect_open(1, true);
  EXPECT_EQ(sent().size(), 2u);  // the publish, kept until the channel opened
  send(1, basic_ack{1, false});
  ASSERT_TRUE(confirmed.has_value());
  EXPECT_FALSE(*confirmed);
}

TEST_F(amqp_client_test, an_exchange_is_checked_once_before_its_first_publishes) {
  connect();
  std::optional<std::error_code> a, b, c;
  publish("x", a);
  publish("x", b);  // waits for the same check
  expect_exchange_check(2, "x", true);
  auto frames = sent();
  ASSERT_EQ(frames.size(), 4u);  // two publishes (method + header each) on the confirm channel
  EXPECT_EQ(frames[0].channel, 1);
  EXPECT_EQ(frames[2].channel, 1);
  publish("x", c);  // known now: straight out
  frames = sent();
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<basic_publish>(*frames[0].m));
  send(1, basic_ack{3, true});
  for (auto* confirmed : {&a, &b, &c}) {
    ASSERT_TRUE(confirmed->has_value());
    EXPECT_FALSE(**confirmed);
  }
}

TEST_F(amqp_client_test, a_missing_exchange_fails_its_publishes_and_nobody_elses) {
  connect();
  std::optional<std::error_code> good, bad1, bad2;
  broker_reply reply;
  bool written = true;
  publish("gone", bad1, &reply, &written);
  publish("gone", bad2);
  publish("", good);
  auto frames = sent();  // the check's channel.open, and the good publish
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_TRUE(std::holds_alternative<channel_open>(*frames[0].m));
  EXPECT_EQ(frames[1].channel, 1);
  EXPECT_TRUE(std::holds_alternative<basic_publish>(*frames[1].m));
  send(2, channel_open_ok{});
  frames = sent();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_TRUE(std::get<exchange_declare>(*frames[0].m).passive);
  send(2, channel_close{404, "NOT_FOUND - no exchange 'gone' in vhost '/'", 40, 10});
  for (auto* refused : {&bad1, &bad2}) {
    ASSERT_TRUE(refused->has_value());
    EXPECT_EQ(**refused, errc::channel_closed);
  }
  EXPECT_EQ(reply.code, 404);
  EXPECT_TRUE(names_exchange(reply, "gone"));
  EXPECT_FALSE(written);
  // Only the check's own channel closed: the good publish is confirmed on
  // the confirm channel it went out on.
  send(1, basic_ack{1, false});
  ASSERT_TRUE(good.has_value());
  EXPECT_FALSE(*good);
  // A missing exchange is not remembered: the next publish checks again.
  sent();  // close-ok for channel 2
  std::optional<std::error_code> again;
  publish("gone", again);
  expect_exchange_check(2, "gone", false);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, errc::channel_closed);
}

TEST_F(amqp_client_test, a_publish_channel_closed_by_the_broker_has_every_exchange_checked_again) {
  connect();
  std::optional<std::error_code> first, second;
  publish("x", first);
  expect_exchange_check(2, "x", true);
  EXPECT_EQ(sent().size(), 2u);
  // Deleted since its check: the publish closes the shared channel.
  send(1, channel_close{404, "NOT_FOUND - no exchange 'x' in vhost '/'", 60, 40});
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, errc::channel_closed);
  sent();  // close-ok
  publish("x", second);
  // The idle command channel 2 serves the new check; then the confirm
  // channel reopens for the publish.
  auto frames = sent();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].channel, 2);
  EXPECT_TRUE(std::get<exchange_declare>(*frames[0].m).passive);
  send(2, exchange_declare_ok{});
  expect_open(1, true);
  EXPECT_EQ(sent().size(), 2u);
  send(1, basic_ack{1, false});
  ASSERT_TRUE(second.has_value());
  EXPECT_FALSE(*second);
}

TEST_F(amqp_client_test, with_checks_off_a_publish_goes_straight_out_to_any_exchange) {
  client_->set_exchange_check_interval(std::chrono::milliseconds(0));
  connect();
  std::optional<std::error_code> confirmed;
  publish("x", confirmed);
  const auto frames = sent();
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].channel, 1);
  EXPECT_TRUE(std::holds_alternative<basic_publish>(*frames[0].m));
}

TEST_F(amqp_client_test, a_request_to_a_missing_exchange_fails_without_the_reply_channel) {
  connect();
  std::optional<request_outcome> out;
  client_->request(basic_publish{"gone", "k", false, false}, {}, "question", {},
                   [&out](request_outcome o) { out = std::move(o); });
  expect_exchange_check(2, "gone", false);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->ec, errc::channel_closed);
  EXPECT_EQ(out->broker.code, 404);
  EXPECT_FALSE(out->written);
  EXPECT_FALSE(out->awaiting_reply);
  EXPECT_EQ(client_->pending_requests(), 0u);
  sent();  // close-ok; no reply channel was ever opened
  EXPECT_TRUE(sent().empty());
}

TEST_F(amqp_client_test, names_exchange_tells_a_publishs_own_refusal_from_another_one) {
  const broker_reply reply{404, "NOT_FOUND - no exchange 'x' in vhost '/'", 60, 40};
  EXPECT_TRUE(names_exchange(reply, "x"));
  EXPECT_FALSE(names_exchange(reply, "y"));
  EXPECT_FALSE(names_exchange(reply, ""));
}

TEST_F(amqp_client_test, commands_reuse_idle_channels_and_close_the_surplus) {
  connect();
  std::vector<std::error_code> answers;
  const auto command = [&] {
    client_->command(queue_declare{},
                     [&](std::error_code ec, method m, broker_reply, bool written) {
                       EXPECT_TRUE(written);
                       EXPECT_TRUE(ec || std::holds_alternative<queue_declare_ok>(m));
                       answers.push_back(ec);
                     });
  };
  for (int i = 0; i < 5; ++i) command();
  // Five channels at once (2..6): none idle yet.
  auto frames = sent();
  ASSERT_EQ(frames.size(), 5u);
  for (channel_id id = 2; id <= 6; ++id) send(id, channel_open_ok{});
  EXPECT_EQ(sent().size(), 5u);  // the declares, each once its channel opened
  for (channel_id id = 2; id <= 6; ++id) send(id, queue_declare_ok{"q", 0, 0});
  ASSERT_EQ(answers.size(), 5u);
  // Four stay idle; the fifth is closed.
  frames = sent();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].channel, 6);
  EXPECT_TRUE(std::holds_alternative<channel_close>(*frames[0].m));
  command();
  frames = sent();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<queue_declare>(*frames[0].m));
  EXPECT_EQ(frames[0].channel, 5);
  // The pool's connection ends: the command still waiting fails, and lets
  // go of the client it holds.
  client_->shut_down();
  pump();
  ASSERT_EQ(answers.size(), 6u);
  EXPECT_TRUE(answers.back());
}

TEST_F(amqp_client_test, a_reply_comes_back_with_the_callers_own_correlation_id) {
  connect();
  std::optional<request_outcome> mine, none;
  request("mine", mine);
  expect_reply_channel();
  expect_request_published(1);
  request(std::nullopt, none);
  expect_request_published(2);
  send(2, basic_ack{2, true});
  EXPECT_FALSE(mine.has_value());
  EXPECT_EQ(client_->pending_requests(), 2u);
  deliver(2, "bs.2", "second");
  deliver(2, "bs.1", "first");
  ASSERT_TRUE(mine.has_value());
  EXPECT_FALSE(mine->ec);
  EXPECT_EQ(mine->reply.body, "first");
  EXPECT_EQ(mine->reply.properties.correlation_id, "mine");
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->reply.body, "second");
  EXPECT_EQ(none->reply.properties.correlation_id, std::nullopt);
  EXPECT_EQ(client_->pending_requests(), 0u);
}

TEST_F(amqp_client_test, a_cancelled_requests_late_reply_is_dropped) {
  connect();
  boost::asio::cancellation_signal cancel;
  std::optional<request_outcome> out;
  request("mine", out, cancel.slot());
  expect_reply_channel();
  expect_request_published(1);
  send(2, basic_ack{1, false});
  cancel.emit(boost::asio::cancellation_type::terminal);
  EXPECT_EQ(client_->pending_requests(), 0u);
  deliver(2, "bs.1", "late");
  EXPECT_FALSE(out.has_value());
}

TEST_F(amqp_client_test, a_request_cancelled_while_its_channel_opens_is_never_published) {
  connect();
  boost::asio::cancellation_signal cancel;
  std::optional<request_outcome> out;
  request("mine", out, cancel.slot());
  cancel.emit(boost::asio::cancellation_type::terminal);
  expect_reply_channel();
  EXPECT_TRUE(sent().empty());
  EXPECT_FALSE(out.has_value());
}

TEST_F(amqp_client_test, a_request_not_yet_published_when_the_connection_drops_was_not_written) {
  connect();
  std::optional<request_outcome> out;
  request("mine", out);
  EXPECT_EQ(sent().size(), 1u);  // channel.open
  wire_->fail_read(make_error_code(errc::connection_closed));
  pump();
  ASSERT_TRUE(out.has_value());
  EXPECT_TRUE(out->ec);
  EXPECT_FALSE(out->written);
  EXPECT_FALSE(out->awaiting_reply);
  EXPECT_TRUE(lost_.has_value());
}

TEST_F(amqp_client_test, a_request_awaiting_its_reply_fails_when_the_connection_drops) {
  connect();
  std::optional<request_outcome> out;
  request("mine", out);
  expect_reply_channel();
  expect_request_published(1);
  send(2, basic_ack{1, false});
  wire_->fail_read(make_error_code(errc::connection_closed));
  pump();
  ASSERT_TRUE(out.has_value());
  EXPECT_TRUE(out->ec);
  EXPECT_NE(out->ec, errc::channel_closed);
  EXPECT_TRUE(out->written);
  EXPECT_TRUE(out->awaiting_reply);
  EXPECT_TRUE(client_->lost());
}

TEST_F(amqp_client_test, requests_awaiting_replies_fail_when_the_reply_channel_closes) {
  connect();
  std::optional<request_outcome> a, b;
  request("a", a);
  expect_reply_channel();
  expect_request_published(1);
  request("b", b);
  expect_request_published(2);
  send(2, basic_ack{2, true});
  send(2, channel_close{406, "PRECONDITION_FAILED - fast reply consumer does not exist", 60, 40});
  for (auto* out : {&a, &b}) {
    ASSERT_TRUE(out->has_value());
    EXPECT_EQ((*out)->ec, errc::channel_closed);
    EXPECT_EQ((*out)->broker.code, 406);
    EXPECT_TRUE((*out)->written);
    EXPECT_TRUE((*out)->awaiting_reply);
  }
  sent();  // close-ok
  // The next request opens the reply channel anew.
  std::optional<request_outcome> c;
  request("c", c);
  expect_reply_channel();
  expect_request_published(3);
}

TEST_F(amqp_client_test, shutting_down_fails_what_awaits_a_reply_with_aborted) {
  connect();
  std::optional<request_outcome> out;
  request("mine", out);
  expect_reply_channel();
  expect_request_published(1);
  send(2, basic_ack{1, false});
  client_->shut_down();
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->ec, errc::aborted);
  EXPECT_TRUE(out->awaiting_reply);
  EXPECT_FALSE(lost_.has_value());
}

}  // namespace
}  // namespace brokerside::protocol::amqp
