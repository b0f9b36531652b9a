#include "protocol/amqp/channel.h"

#include <gtest/gtest.h>

#include <limits>

#include "protocol/amqp/frame.h"
#include "protocol/errc.h"

namespace brokerside::protocol::amqp {
namespace {

struct result {
  int calls = 0;
  std::error_code ec;
  broker_reply reply;
  method answer;
  bool written = false;
};

// A channel driven by hand: what it writes is decoded back, the handler
// calls it collects are made by run().
class amqp_channel : public ::testing::Test {
 protected:
  channel_context cx() { return {out_, 0, written_, 131072, 1000, later_}; }

  void run() {
    auto calls = std::exchange(later_, {});
    for (auto& call : calls) call();
  }

  // The methods written since the last look (content frames skipped).
  std::vector<method> sent() {
    std::vector<method> methods;
    std::string_view in(out_);
    while (!in.empty()) {
      frame f;
      std::error_code ec;
      const auto used = decode_frame(in, f, ec, 0);
      EXPECT_GT(used, 0u);
      if (used == 0) break;
      EXPECT_EQ(f.channel, 7);
      if (f.type == frame_type::method) {
        method m;
        EXPECT_FALSE(decode_method(f.payload, m));
        methods.push_back(std::move(m));
      }
      in.remove_prefix(used);
    }
    out_.clear();
    return methods;
  }

  std::unique_ptr<channel> open(bool confirms) {
    auto c = cx();
    auto ch = std::make_unique<channel>(
        7, confirms,
        [](std::error_code ec, channel_id id, broker_reply) {
          EXPECT_FALSE(ec);
          EXPECT_EQ(id, 7);
        },
        c);
    EXPECT_FALSE(ch->on_method(channel_open_ok{}, c));
    if (confirms) {
      EXPECT_FALSE(ch->on_method(confirm_select_ok{}, c));
    }
    run();
    sent();
    EXPECT_EQ(ch->state(), channel::phase::open);
    return ch;
  }

  static method_handler into(result& r) {
    return [&r](std::error_code ec, method answer, broker_reply reply) {
      ++r.calls;
      r.ec = ec;
      r.answer = std::move(answer);
      r.reply = std::move(reply);
    };
  }

  static publish_handler published(result& r) {
    return [&r](std::error_code ec, broker_reply reply, bool written) {
      ++r.calls;
      r.ec = ec;
      r.reply = std::move(reply);
      r.written = written;
    };
  }

  std::error_code content(channel& ch, std::string_view body, std::size_t declared) {
    auto c = cx();
    std::string header;
    EXPECT_FALSE(encode_content_header(declared, {}, header));
    if (auto ec = ch.on_header(header, c)) return ec;
    for (std::size_t at = 0; at < body.size(); at += 4) {
      if (auto ec = ch.on_body(body.substr(at, 4), c)) return ec;
    }
    return {};
  }

  std::string out_;
  std::uint64_t written_ = 0;
  deferred_calls later_;
  using channel_id = amqp::channel_id;
};

TEST_F(amqp_channel, opens_then_selects_confirms) {
  auto c = cx();
  int opened = 0;
  channel ch(
      7, true,
      [&](std::error_code ec, channel_id id, broker_reply) {
        EXPECT_FALSE(ec);
        EXPECT_EQ(id, 7);
        ++opened;
      },
      c);
  auto methods = sent();
  ASSERT_EQ(methods.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<channel_open>(methods[0]));
  EXPECT_FALSE(ch.on_method(channel_open_ok{}, c));
  methods = sent();
  ASSERT_EQ(methods.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<confirm_select>(methods[0]));
  EXPECT_EQ(ch.state(), channel::phase::opening);
  EXPECT_FALSE(ch.on_method(confirm_select_ok{}, c));
  EXPECT_EQ(opened, 0) << "handlers run only when the connection runs them";
  run();
  EXPECT_EQ(opened, 1);
  EXPECT_EQ(ch.state(), channel::phase::open);
}

TEST_F(amqp_channel, replies_complete_calls_in_order) {
  auto ch = open(false);
  auto c = cx();
  result declared, bound, refused_no_wait, refused_publish;
  EXPECT_FALSE(ch->call(queue_declare{"q"}, into(declared), c));
  EXPECT_FALSE(ch->call(queue_bind{"q", "amq.direct", "k", false, {}}, into(bound), c));
  EXPECT_EQ(ch->call(queue_bind{"q", "amq.direct", "k", true, {}}, into(refused_no_wait), c),
            errc::unsupported);
  EXPECT_EQ(ch->call(basic_publish{}, into(refused_publish), c), errc::unsupported);
  EXPECT_EQ(sent().size(), 2u);
  EXPECT_FALSE(ch->on_method(queue_declare_ok{"q", 3, 0}, c));
  run();
  EXPECT_EQ(declared.calls, 1);
  EXPECT_EQ(std::get<queue_declare_ok>(declared.answer).message_count, 3u);
  EXPECT_EQ(bound.calls, 0);
  // A reply out of order, or to nothing asked, is a protocol error.
  EXPECT_EQ(ch->on_method(queue_purge_ok{}, c), errc::malformed_frame);
  EXPECT_FALSE(ch->on_method(queue_bind_ok{}, c));
  run();
  EXPECT_EQ(bound.calls, 1);
  EXPECT_EQ(ch->on_method(queue_bind_ok{}, c), errc::malformed_frame);
}

TEST_F(amqp_channel, acks_nacks_and_returns_settle_publishes_by_sequence_number) {
  auto ch = open(true);
  auto c = cx();
  result r[6];
  for (int i = 1; i <= 5; ++i) {
    EXPECT_FALSE(ch->publish({"x", i == 5 ? "nowhere" : "k", i == 5, false}, {}, "body",
                             published(r[i]), c));
  }
  EXPECT_FALSE(ch->on_method(basic_ack{2, true}, c));
  EXPECT_FALSE(ch->on_method(basic_nack{4, false, false}, c));
  // The return comes with content, then its ack.
  EXPECT_FALSE(ch->on_method(basic_return{312, "NO_ROUTE", "x", "nowhere"}, c));
  EXPECT_FALSE(content(*ch, "body", 4));
  EXPECT_FALSE(ch->on_method(basic_ack{5, false}, c));
  run();
  EXPECT_EQ(r[1].calls, 1);
  EXPECT_FALSE(r[1].ec);
  EXPECT_TRUE(r[1].written);
  EXPECT_EQ(r[2].calls, 1);
  EXPECT_EQ(r[3].calls, 0);
  EXPECT_EQ(r[4].ec, errc::publish_nacked);
  EXPECT_EQ(r[5].ec, errc::publish_returned);
  EXPECT_EQ(r[5].reply.code, 312);
  EXPECT_EQ(r[5].reply.text, "NO_ROUTE");
  // An ack for what is settled is ignored; one on the broker's channel.close
  // fails the rest, written or not as the offsets say.
  EXPECT_FALSE(ch->on_method(basic_ack{1, false}, c));
  EXPECT_FALSE(ch->on_method(channel_close{406, "PRECONDITION_FAILED", 60, 40}, c));
  run();
  EXPECT_EQ(r[3].calls, 1);
  EXPECT_EQ(r[3].ec, errc::channel_closed);
  EXPECT_EQ(r[3].reply.code, 406);
  EXPECT_FALSE(r[3].written) << "written_ is 0: nothing reached the socket";
}

TEST_F(amqp_channel, a_broker_close_fails_everything_and_is_answered) {
  auto ch = open(false);
  auto c = cx();
  result call, consumed, ended;
  basic_consume request;
  request.queue = "q";
  EXPECT_FALSE(ch->consume(
      request, [](delivery) {},
      [&](std::error_code ec, broker_reply reply) {
        ++ended.calls;
        ended.ec = ec;
        ended.reply = reply;
      },
      into(consumed), c));
  EXPECT_FALSE(ch->on_method(basic_consume_ok{"tag"}, c));
  EXPECT_FALSE(ch->call(queue_declare{"missing", true}, into(call), c));
  sent();
  EXPECT_FALSE(ch->on_method(channel_close{404, "NOT_FOUND - no queue", 50, 10}, c));
  run();
  const auto methods = sent();
  ASSERT_EQ(methods.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<channel_close_ok>(methods[0]));
  EXPECT_EQ(call.ec, errc::channel_closed);
  EXPECT_EQ(call.reply.code, 404);
  EXPECT_EQ(call.reply.class_id, 50);
  EXPECT_EQ(ended.ec, errc::channel_closed);
  EXPECT_TRUE(ch->finished());
  ASSERT_TRUE(ch->closed_by_broker());
  EXPECT_EQ(ch->closed_by_broker()->code, 404);
}

TEST_F(amqp_channel, close_fails_pending_at_once_and_drops_what_arrives_until_close_ok) {
  auto ch = open(true);
  auto c = cx();
  result call, publish, closed;
  EXPECT_FALSE(ch->call(queue_purge{"q"}, into(call), c));
  EXPECT_FALSE(ch->publish({"", "q", false, false}, {}, "x", published(publish), c));
  ch->close(
      [&](std::error_code ec, broker_reply) {
        ++closed.calls;
        closed.ec = ec;
      },
      c);
  run();
  EXPECT_EQ(call.ec, errc::aborted);
  EXPECT_EQ(publish.ec, errc::aborted);
  EXPECT_TRUE(publish.written) << "queued ahead of channel.close, the broker acts on it";
  EXPECT_EQ(closed.calls, 0);
  EXPECT_EQ(ch->state(), channel::phase::closing);
  EXPECT_EQ(ch->call(queue_purge{"q"}, into(call), c), errc::channel_closed);
  // The broker still answers what was in flight: dropped.
  EXPECT_FALSE(ch->on_method(queue_purge_ok{}, c));
  EXPECT_FALSE(ch->on_method(basic_ack{1, false}, c));
  EXPECT_FALSE(ch->on_method(channel_close_ok{}, c));
  run();
  EXPECT_EQ(closed.calls, 1);
  EXPECT_FALSE(closed.ec);
  EXPECT_TRUE(ch->finished());
  EXPECT_FALSE(ch->closed_by_broker());
}

TEST_F(amqp_channel, a_crossed_close_keeps_the_id_until_our_close_is_answered) {
  auto ch = open(false);
  auto c = cx();
  result closed;
  ch->close(
      [&](std::error_code ec, broker_reply reply) {
        ++closed.calls;
        closed.ec = ec;
        closed.reply = reply;
      },
      c);
  sent();
  // The broker closed the channel as we did: it gets its close-ok, the caller
  // hears at once, and the channel waits for the answer to our own close.
  EXPECT_FALSE(ch->on_method(channel_close{406, "PRECONDITION_FAILED - x", 50, 10}, c));
  run();
  EXPECT_EQ(closed.calls, 1);
  EXPECT_FALSE(closed.ec);
  EXPECT_EQ(closed.reply.code, 406);
  const auto answers = sent();
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<channel_close_ok>(answers[0]));
  EXPECT_FALSE(ch->finished());
  EXPECT_FALSE(ch->on_method(channel_close_ok{}, c));
  run();
  EXPECT_TRUE(ch->finished());
  EXPECT_EQ(closed.calls, 1);
}

TEST_F(amqp_channel, deliveries_are_reassembled_for_their_consumer) {
  auto ch = open(false);
  auto c = cx();
  std::vector<delivery> got;
  result consumed;
  basic_consume request;
  request.queue = "q";
  EXPECT_FALSE(ch->consume(
      request, [&](delivery d) { got.push_back(std::move(d)); }, {}, into(consumed), c));
  EXPECT_FALSE(ch->on_method(basic_consume_ok{"tag"}, c));
  EXPECT_FALSE(ch->on_method(basic_deliver{"tag", 1, false, "x", "k"}, c));
  EXPECT_FALSE(content(*ch, "hello world", 11));
  EXPECT_FALSE(ch->on_method(basic_deliver{"tag", 2, true, "x", "k"}, c));
  EXPECT_FALSE(content(*ch, "", 0));
  // For a consumer that is gone: dropped.
  EXPECT_FALSE(ch->on_method(basic_deliver{"other", 3, false, "x", "k"}, c));
  EXPECT_FALSE(content(*ch, "lost", 4));
  run();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].body, "hello world");
  EXPECT_EQ(got[0].method.delivery_tag, 1u);
  EXPECT_TRUE(got[1].body.empty());
  EXPECT_TRUE(got[1].method.redelivered);
}

TEST_F(amqp_channel, malformed_content_is_a_protocol_error) {
  auto ch = open(false);
  auto c = cx();
  // A body beyond max_message_bytes (1000 here), refused from its header.
  EXPECT_FALSE(ch->on_method(basic_deliver{"tag", 1, false, "x", "k"}, c));
  EXPECT_EQ(content(*ch, "", 1001), errc::frame_too_large);
  // A method between a deliver and its content.
  auto other = open(false);
  EXPECT_FALSE(other->on_method(basic_deliver{"tag", 1, false, "x", "k"}, c));
  EXPECT_EQ(other->on_method(basic_qos_ok{}, c), errc::malformed_frame);
  // More body than the header announced; a body with no header.
  auto third = open(false);
  EXPECT_FALSE(third->on_method(basic_deliver{"tag", 1, false, "x", "k"}, c));
  EXPECT_EQ(content(*third, "too long", 3), errc::malformed_frame);
  auto fourth = open(false);
  EXPECT_EQ(fourth->on_body("stray", c), errc::malformed_frame);
}

TEST_F(amqp_channel, a_broker_cancel_is_answered_and_ends_the_consumer) {
  auto ch = open(false);
  auto c = cx();
  result consumed, ended;
  basic_consume request;
  request.queue = "q";
  EXPECT_FALSE(ch->consume(
      request, [](delivery) {},
      [&](std::error_code ec, broker_reply reply) {
        ++ended.calls;
        ended.ec = ec;
        ended.reply = reply;
      },
      into(consumed), c));
  EXPECT_FALSE(ch->on_method(basic_consume_ok{"tag"}, c));
  sent();
  EXPECT_FALSE(ch->on_method(basic_cancel{"tag", false}, c));
  run();
  const auto methods = sent();
  ASSERT_EQ(methods.size(), 1u);
  EXPECT_EQ(std::get<basic_cancel_ok>(methods[0]).consumer_tag, "tag");
  EXPECT_EQ(ended.calls, 1);
  EXPECT_EQ(ended.ec, errc::channel_closed);
  EXPECT_EQ(ended.reply.text, "consumer cancelled by the broker");
  // RabbitMQ's own cancel has no_wait set: no answer.
  EXPECT_FALSE(ch->on_method(basic_cancel{"tag", true}, c));
  EXPECT_TRUE(sent().empty());
  EXPECT_EQ(ended.calls, 1);
}

}  // namespace
}  // namespace brokerside::protocol::amqp
