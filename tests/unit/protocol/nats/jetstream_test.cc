// JetStream pull consumers' wire details and pull_window, without sockets.
#include "protocol/nats/jetstream.h"

#include <gtest/gtest.h>

namespace brokerside::protocol::nats {
namespace {

TEST(nats_jetstream, an_ack_subject_says_stream_consumer_sequences_and_delivery_count) {
  ack_subject a;
  // As nats-server 2.9.10 sends it.
  ASSERT_TRUE(parse_ack_subject("$JS.ACK.EXP.dur.3.14.9.1796154753452794129.5", a));
  EXPECT_EQ(a.stream, "EXP");
  EXPECT_EQ(a.consumer, "dur");
  EXPECT_EQ(a.delivered, 3u);
  EXPECT_EQ(a.stream_sequence, 14u);
  EXPECT_EQ(a.consumer_sequence, 9u);
  EXPECT_EQ(a.pending, 5u);
  // The newer form: a domain and an account hash first, a token last.
  ASSERT_TRUE(parse_ack_subject("$JS.ACK.hub.ACCHASH.ORDERS.c1.1.7.7.1700000000.0.xyz", a));
  EXPECT_EQ(a.stream, "ORDERS");
  EXPECT_EQ(a.consumer, "c1");
  EXPECT_EQ(a.delivered, 1u);
  EXPECT_EQ(a.stream_sequence, 7u);
  ASSERT_TRUE(parse_ack_subject("$JS.ACK.hub.ACCHASH.ORDERS.c1.2.8.8.1700000000.0", a));
  EXPECT_EQ(a.delivered, 2u);
}

TEST(nats_jetstream, what_is_not_an_ack_subject_is_refused) {
  ack_subject a;
  for (const auto* reply :
       {"", "reply.here", "$JS.ACK.S.c.1.2.3.4", "$JS.ACK.S.c.1.2.3.4.5.6", "$JS.NAK.S.c.1.2.3.4.5",
        "$JS.ACK.S.c.x.2.3.4.5", "$JS.ACK..c.1.2.3.4.5", "$JS.ACK.S.c.1.2.3.4.99999999999999999999",
        "$JS.ACK.a.b.c.d.e.f.g.h.i.j.k.l.m"}) {
    EXPECT_FALSE(parse_ack_subject(reply, a)) << reply;
  }
}

TEST(nats_jetstream, a_pull_request_asks_for_a_batch_that_expires) {
  EXPECT_EQ(pull_request(25, std::chrono::milliseconds(1500)),
            "{\"batch\":25,\"expires\":1500000000}");
}

TEST(nats_jetstream, a_delayed_nak_carries_its_delay_in_nanoseconds) {
  EXPECT_EQ(delayed_nak_body(std::chrono::milliseconds(1500)), "-NAK {\"delay\":1500000000}");
  EXPECT_EQ(delayed_nak_body(std::chrono::nanoseconds(0)), "-NAK");
}

msg status(std::string headers) {
  msg m;
  m.subject = "_INBOX.pull.0";
  m.headers = std::move(headers);
  return m;
}

TEST(nats_jetstream, status_messages_end_a_pull_or_say_the_consumer_is_gone) {
  EXPECT_EQ(classify_pull_reply(status("")), pull_reply::message);
  EXPECT_EQ(classify_pull_reply(status("NATS/1.0\r\nTrace: x\r\n\r\n")), pull_reply::message);
  EXPECT_EQ(classify_pull_reply(status("NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: "
                                       "4\r\nNats-Pending-Bytes: 0\r\n\r\n")),
            pull_reply::ended);
  EXPECT_EQ(classify_pull_reply(status("NATS/1.0 404 No Messages\r\n\r\n")), pull_reply::ended);
  EXPECT_EQ(classify_pull_reply(status("NATS/1.0 409 Exceeded MaxWaiting\r\n\r\n")),
            pull_reply::ended);
  EXPECT_EQ(classify_pull_reply(status("NATS/1.0 409 Consumer Deleted\r\n\r\n")), pull_reply::gone);
  EXPECT_EQ(classify_pull_reply(status("NATS/1.0 100 Idle Heartbeat\r\n\r\n")),
            pull_reply::heartbeat);
  EXPECT_EQ(classify_pull_reply(status("NATS/1.0 503\r\n\r\n")), pull_reply::unexpected);
  EXPECT_EQ(classify_pull_reply(status("garbage")), pull_reply::unexpected);
}

TEST(nats_jetstream, the_window_never_asks_for_more_than_the_credit_leaves_free) {
  pull_window w(10);
  EXPECT_EQ(w.next_pull(), 10u);
  EXPECT_EQ(w.next_pull(), 0u);  // one pull at a time
  for (int i = 0; i < 10; ++i) w.delivered();
  EXPECT_EQ(w.outstanding(), 10u);
  EXPECT_EQ(w.requested(), 0u);  // filled: the pull is over
  EXPECT_EQ(w.next_pull(), 0u);  // nothing free
  for (int i = 0; i < 4; ++i) w.settled();
  EXPECT_EQ(w.next_pull(), 0u);  // 4 free: less than half, and 6 still out
  w.settled();
  EXPECT_EQ(w.next_pull(), 5u);  // half the credit free
  w.delivered();
  w.pull_ended();  // a 408: the other 4 never came
  EXPECT_EQ(w.outstanding(), 6u);
  EXPECT_EQ(w.next_pull(), 0u);
  for (int i = 0; i < 6; ++i) w.settled();
  EXPECT_EQ(w.next_pull(), 10u);
}

TEST(nats_jetstream, a_small_credit_still_pulls_and_a_grant_widens_the_window) {
  pull_window w(1);
  EXPECT_EQ(w.next_pull(), 1u);
  w.delivered();
  EXPECT_EQ(w.next_pull(), 0u);
  w.settled();
  EXPECT_EQ(w.next_pull(), 1u);
  w.delivered();
  w.set_credit(3);
  EXPECT_EQ(w.next_pull(), 2u);
  w.settled();
  w.settled();  // more settled than outstanding (a delivery from before a reset): no wrap
  EXPECT_EQ(w.outstanding(), 0u);
}

}  // namespace
}  // namespace brokerside::protocol::nats
