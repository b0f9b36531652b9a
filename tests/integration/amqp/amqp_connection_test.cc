// protocol::amqp::connection against the real rabbitmq-server that
// scripts/brokers.sh started: the handshake and its refusals, pipelined
// confirmed publishes, consumers with prefetch and manual acks, channel
// exceptions, returns, broker cancels, heartbeats and close(). Everything runs
// on an io_context in the test thread; every wait is bounded.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdio>
#include <set>

#include "protocol/amqp/connection.h"
#include "protocol/errc.h"
#include "tests/support/brokers_env.h"

namespace brokerside::protocol::amqp {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using channel_id = connection::channel_id;

struct outcome {
  bool done = false;
  std::error_code ec;
  broker_reply reply;
  method answer;         // call / consume
  channel_id id = 0;     // open_channel
  bool written = false;  // publish
};

std::string pid() { return std::to_string(::getpid()); }

class amqp_connection : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto env = testing_support::brokers_env();
    port_ = static_cast<std::uint16_t>(std::stoi(env.at("BROKERSIDE_AMQP_PORT")));
  }

  void TearDown() override {
    for (auto& c : connections_) c->close();
    io_.restart();
    io_.run_for(500ms);  // returns as soon as the closed sockets' handlers ran
  }

  connect_options options() const {
    connect_options o;
    o.to.host = "127.0.0.1";
    o.to.port = port_;
    o.connection_name = "brokerside-test-" + pid();
    return o;
  }

  // A name no other test process uses.
  static std::string name(const std::string& what) {
    return "brokerside-test-" + pid() + "-" + what;
  }

  // Runs handlers until `done()` holds or `limit` passed; false on timeout.
  template <class Pred>
  bool run_until(Pred done, steady::duration limit = 10s) {
    const auto deadline = steady::now() + limit;
    while (!done()) {
      const auto left = deadline - steady::now();
      if (left <= 0s) return false;
      io_.restart();
      io_.run_one_for(std::min<steady::duration>(left, 100ms));
    }
    return true;
  }

  void run_for(steady::duration d) {
    io_.restart();
    io_.run_for(d);
  }

  std::shared_ptr<outcome> start_connect(std::shared_ptr<connection>& c, connect_options o) {
    c = connection::create(io_.get_executor());
    connections_.push_back(c);
    auto r = std::make_shared<outcome>();
    c->connect(std::move(o), [r](std::error_code ec, broker_reply reply) {
      EXPECT_FALSE(r->done) << "completed twice";
      *r = {true, ec, std::move(reply)};
    });
    return r;
  }

  outcome connect(std::shared_ptr<connection>& c, connect_options o) {
    auto r = start_connect(c, std::move(o));
    EXPECT_TRUE(run_until([&] { return r->done; })) << "connect did not complete";
    return *r;
  }

  std::shared_ptr<connection> connected(connect_options o) {
    std::shared_ptr<connection> c;
    const auto r = connect(c, std::move(o));
    EXPECT_FALSE(r.ec) << r.ec.message() << ": " << r.reply.text;
    return c;
  }
  std::shared_ptr<connection> connected() { return connected(options()); }

  outcome open_channel(connection& c, bool confirms) {
    auto r = std::make_shared<outcome>();
    c.open_channel(confirms, [r](std::error_code ec, channel_id id, broker_reply reply) {
      r->done = true;
      r->ec = ec;
      r->id = id;
      r->reply = std::move(reply);
    });
    EXPECT_TRUE(run_until([&] { return r->done; })) << "open_channel did not complete";
    EXPECT_FALSE(r->ec) << r->ec.message() << ": " << r->reply.text;
    return *r;
  }

  std::shared_ptr<outcome> start_call(connection& c, channel_id ch, method m) {
    auto r = std::make_shared<outcome>();
    c.call(ch, std::move(m), [r](std::error_code ec, method answer, broker_reply reply) {
      EXPECT_FALSE(r->done) << "completed twice";
      r->done = true;
      r->ec = ec;
      r->answer = std::move(answer);
      r->reply = std::move(reply);
    });
    return r;
  }

  outcome call(connection& c, channel_id ch, method m) {
    auto r = start_call(c, ch, std::move(m));
    EXPECT_TRUE(run_until([&] { return r->done; })) << "call did not complete";
    return *r;
  }

  std::shared_ptr<outcome> start_publish(connection& c, channel_id ch, const basic_publish& m,
                                         std::string_view body, basic_properties p = {}) {
    auto r = std::make_shared<outcome>();
    c.publish(ch, m, p, body, [r](std::error_code ec, broker_reply reply, bool written) {
      EXPECT_FALSE(r->done) << "completed twice";
      r->done = true;
      r->ec = ec;
      r->reply = std::move(reply);
      r->written = written;
    });
    return r;
  }

  outcome publish(connection& c, channel_id ch, const basic_publish& m, std::string_view body) {
    auto r = start_publish(c, ch, m, body);
    EXPECT_TRUE(run_until([&] { return r->done; })) << "publish did not complete";
    return *r;
  }

  // An exclusive, auto-deleted queue bound to amq.direct with its own name.
  std::string declare_bound_queue(connection& c, channel_id ch, const std::string& what) {
    const auto queue = name(what);
    queue_declare declare;
    declare.queue = queue;
    declare.exclusive = true;
    declare.auto_delete = true;
    const auto declared = call(c, ch, declare);
    EXPECT_FALSE(declared.ec) << declared.reply.text;
    const auto bound = call(c, ch, queue_bind{queue, "amq.direct", queue, false, {}});
    EXPECT_FALSE(bound.ec) << bound.reply.text;
    return queue;
  }

  boost::asio::io_context io_;
  std::uint16_t port_ = 0;
  std::vector<std::shared_ptr<connection>> connections_;
};

TEST_F(amqp_connection, handshake_negotiates_the_lower_values) {
  auto c = connected();
  // RabbitMQ's defaults: frame_max 131072, channel_max 2047, heartbeat 60.
  EXPECT_EQ(c->frame_max(), 131072u);
  EXPECT_EQ(c->channel_max(), 2047);
  EXPECT_EQ(c->heartbeat(), 60s);
  EXPECT_FALSE(c->blocked());
  EXPECT_EQ(c->unwritten(), 0u);

  auto o = options();
  o.frame_max = 16384;
  o.channel_max = 8;
  o.heartbeat = 0s;  // zero takes the broker's
  auto small = connected(o);
  EXPECT_EQ(small->frame_max(), 16384u);
  EXPECT_EQ(small->channel_max(), 8);
  EXPECT_EQ(small->heartbeat(), 60s);
  // Ids 1..8, lowest first; the ninth waits for one to close.
  for (channel_id expected = 1; expected <= 8; ++expected) {
    EXPECT_EQ(open_channel(*small, false).id, expected);
  }
  auto ninth = std::make_shared<outcome>();
  small->open_channel(false, [ninth](std::error_code ec, channel_id, broker_reply) {
    ninth->done = true;
    ninth->ec = ec;
  });
  EXPECT_TRUE(run_until([&] { return ninth->done; }));
  EXPECT_TRUE(ninth->ec);
}

TEST_F(amqp_connection, a_wrong_password_is_refused_without_the_password_in_the_error) {
  auto o = options();
  o.password = "hunter2-not-the-password";
  std::shared_ptr<connection> c;
  const auto r = connect(c, o);
  EXPECT_EQ(r.ec, errc::access_refused);
  EXPECT_EQ(r.reply.code, 403);
  EXPECT_NE(r.reply.text.find("ACCESS_REFUSED"), std::string::npos) << r.reply.text;
  EXPECT_EQ(r.reply.text.find("hunter2"), std::string::npos) << "the password leaked";
  EXPECT_EQ(r.ec.message().find("hunter2"), std::string::npos) << "the password leaked";
}

TEST_F(amqp_connection, a_wrong_vhost_is_refused_with_not_allowed) {
  auto o = options();
  o.vhost = name("no-such-vhost");
  std::shared_ptr<connection> c;
  const auto r = connect(c, o);
  EXPECT_EQ(r.ec, errc::access_refused);
  EXPECT_EQ(r.reply.code, 530);
  EXPECT_NE(r.reply.text.find("NOT_ALLOWED"), std::string::npos) << r.reply.text;
  // Refused connections never report on_lost; calls on them fail.
  auto later = std::make_shared<outcome>();
  c->open_channel(false, [later](std::error_code ec, channel_id, broker_reply) {
    later->done = true;
    later->ec = ec;
  });
  EXPECT_TRUE(run_until([&] { return later->done; }));
  EXPECT_EQ(later->ec, errc::aborted);
}

TEST_F(amqp_connection, a_peer_that_never_answers_times_out) {
  // A socket that accepts and stays silent: no broker involved.
  boost::asio::ip::tcp::acceptor silent(io_, {boost::asio::ip::make_address("127.0.0.1"), 0});
  boost::asio::ip::tcp::socket accepted(io_);
  silent.async_accept(accepted, [](boost::system::error_code) {});
  auto o = options();
  o.to.port = silent.local_endpoint().port();
  o.timeout = 300ms;
  std::shared_ptr<connection> c;
  const auto started = steady::now();
  const auto r = connect(c, o);
  EXPECT_EQ(r.ec, errc::connect_timeout);
  EXPECT_LT(steady::now() - started, 5s);
}

TEST_F(amqp_connection, a_refused_socket_and_a_close_during_connect_complete_once) {
  std::uint16_t closed_port = 0;
  {
    boost::asio::ip::tcp::acceptor gone(io_, {boost::asio::ip::make_address("127.0.0.1"), 0});
    closed_port = gone.local_endpoint().port();
  }
  auto o = options();
  o.to.port = closed_port;
  std::shared_ptr<connection> refused;
  const auto r = connect(refused, o);
  EXPECT_TRUE(r.ec);
  EXPECT_NE(r.ec, errc::access_refused);

  // close() cancels a connect in progress: done gets aborted, once.
  std::shared_ptr<connection> c;
  auto cancelled = start_connect(c, options());
  c->close();
  EXPECT_TRUE(cancelled->done);
  EXPECT_EQ(cancelled->ec, errc::aborted);
  run_for(200ms);  // the connect's own completion must not report again
}

TEST_F(amqp_connection, a_thousand_confirmed_publishes_come_back_to_a_consumer) {
  auto c = connected();
  const auto ch = open_channel(*c, true).id;
  const auto queue = declare_bound_queue(*c, ch, "thousand");

  // One body larger than frame_max, so it goes out, and comes back, in 3 frames.
  constexpr int count = 1000;
  constexpr int large = 500;
  const auto body_of = [](int i) {
    if (i != large) return "message " + std::to_string(i);
    std::string body(300000, '\0');
    for (std::size_t k = 0; k < body.size(); ++k) body[k] = static_cast<char>(k % 251);
    return body;
  };
  ASSERT_GT(body_of(large).size(), c->frame_max());

  std::vector<std::shared_ptr<outcome>> published;
  const auto started = steady::now();
  for (int i = 0; i < count; ++i) {
    basic_properties properties;
    properties.message_id = std::to_string(i);
    properties.delivery_mode = 1;
    published.push_back(
        start_publish(*c, ch, {"amq.direct", queue, false, false}, body_of(i), properties));
  }
  // Encoded at once, written while the loop below runs.
  EXPECT_GT(c->unwritten(), 0u);
  const auto all_done = [&] {
    for (const auto& p : published)
      if (!p->done) return false;
    return true;
  };
  ASSERT_TRUE(run_until(all_done, 30s));
  const auto took = steady::now() - started;
  std::printf(
      "[  timing  ] %d confirmed publishes: %lld ms\n", count,
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
  for (int i = 0; i < count; ++i) {
    EXPECT_FALSE(published[i]->ec) << i << ": " << published[i]->ec.message();
    EXPECT_TRUE(published[i]->written) << i;
  }
  EXPECT_EQ(c->unwritten(), 0u);

  // Back through a consumer on another channel, 50 unacked at most.
  const auto consumer_channel = open_channel(*c, false).id;
  EXPECT_FALSE(call(*c, consumer_channel, basic_qos{0, 50, false}).ec);
  std::set<int> seen;
  int deliveries = 0;
  int wrong = 0;
  auto consumed = std::make_shared<outcome>();
  basic_consume request;
  request.queue = queue;
  const auto consume_started = steady::now();
  c->consume(
      consumer_channel, request,
      [&](delivery d) {
        ++deliveries;
        const int i = std::stoi(d.properties.message_id.value_or("-1"));
        if (d.body != body_of(i) || d.method.exchange != "amq.direct" ||
            d.method.routing_key != queue || d.method.redelivered) {
          ++wrong;
        }
        seen.insert(i);
        c->ack(consumer_channel, d.method.delivery_tag, false);
      },
      [](std::error_code ec, broker_reply reply) {
        ADD_FAILURE() << "cancelled: " << ec.message() << " " << reply.text;
      },
      [consumed](std::error_code ec, method answer, broker_reply) {
        *consumed = {true, ec, {}, std::move(answer)};
      });
  ASSERT_TRUE(run_until([&] { return deliveries >= count; }, 30s)) << deliveries;
  std::printf("[  timing  ] %d deliveries (prefetch 50, each acked): %lld ms\n", count,
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         steady::now() - consume_started)
                                         .count()));
  ASSERT_TRUE(consumed->done);
  ASSERT_FALSE(consumed->ec);
  const auto tag = std::get<basic_consume_ok>(consumed->answer).consumer_tag;
  EXPECT_FALSE(tag.empty());
  run_for(200ms);  // nothing more arrives
  EXPECT_EQ(deliveries, count);
  EXPECT_EQ(static_cast<int>(seen.size()), count);
  EXPECT_EQ(wrong, 0);

  // Nothing is left ready; cancelled by us, the consumer gets cancel-ok (and
  // the auto-delete queue goes with its last consumer).
  queue_declare passive;
  passive.queue = queue;
  passive.passive = true;
  const auto left = call(*c, ch, passive);
  ASSERT_FALSE(left.ec) << left.reply.text;
  EXPECT_EQ(std::get<queue_declare_ok>(left.answer).message_count, 0u);
  EXPECT_EQ(std::get<queue_declare_ok>(left.answer).consumer_count, 1u);
  const auto cancelled = call(*c, consumer_channel, basic_cancel{tag, false});
  EXPECT_FALSE(cancelled.ec);
  EXPECT_EQ(std::get<basic_cancel_ok>(cancelled.answer).consumer_tag, tag);
}

TEST_F(amqp_connection, a_channel_exception_fails_the_call_and_the_connection_carries_on) {
  auto c = connected();
  std::vector<std::pair<channel_id, broker_reply>> closed;
  c->on_channel_closed([&](channel_id id, broker_reply reply) { closed.emplace_back(id, reply); });
  const auto ch = open_channel(*c, false).id;
  queue_declare passive;
  passive.queue = name("missing");
  passive.passive = true;
  // Two pending: the second fails with the same reply.
  auto first = start_call(*c, ch, passive);
  auto second = start_call(*c, ch, passive);
  ASSERT_TRUE(run_until([&] { return first->done && second->done; }));
  EXPECT_EQ(first->ec, errc::channel_closed);
  EXPECT_EQ(first->reply.code, 404);
  EXPECT_NE(first->reply.text.find("NOT_FOUND"), std::string::npos) << first->reply.text;
  EXPECT_EQ(first->reply.class_id, queue_declare::class_id);
  EXPECT_EQ(first->reply.method_id, queue_declare::method_id);
  EXPECT_EQ(second->ec, errc::channel_closed);
  EXPECT_EQ(second->reply.code, 404);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].first, ch);
  EXPECT_EQ(closed[0].second.code, 404);

  // The channel is gone; its id is the lowest free one again.
  EXPECT_EQ(call(*c, ch, passive).ec, errc::channel_closed);
  const auto again = open_channel(*c, false).id;
  EXPECT_EQ(again, ch);
  queue_declare ok;
  ok.queue = name("after-404");
  ok.exclusive = true;
  ok.auto_delete = true;
  const auto declared = call(*c, again, ok);
  EXPECT_FALSE(declared.ec) << declared.reply.text;
  EXPECT_EQ(std::get<queue_declare_ok>(declared.answer).queue, ok.queue);
}

TEST_F(amqp_connection, unroutable_mandatory_publishes_are_returned_and_matched) {
  auto c = connected();
  const auto ch = open_channel(*c, true).id;
  const auto routed = declare_bound_queue(*c, ch, "routed");
  const auto nowhere = name("nowhere");
  // Returned, acked, returned: each return goes to its own publish.
  auto a = start_publish(*c, ch, {"amq.direct", nowhere, true, false}, "a");
  auto b = start_publish(*c, ch, {"amq.direct", routed, true, false}, "b");
  auto plain = start_publish(*c, ch, {"amq.direct", nowhere, false, false}, "not mandatory");
  auto d = start_publish(*c, ch, {"amq.direct", nowhere, true, false}, "d");
  ASSERT_TRUE(run_until([&] { return a->done && b->done && plain->done && d->done; }));
  EXPECT_EQ(a->ec, errc::publish_returned);
  EXPECT_EQ(a->reply.code, 312);
  EXPECT_NE(a->reply.text.find("NO_ROUTE"), std::string::npos) << a->reply.text;
  EXPECT_TRUE(a->written);
  EXPECT_FALSE(b->ec) << b->ec.message();
  EXPECT_FALSE(plain->ec) << "unroutable but not mandatory: acked";
  EXPECT_EQ(d->ec, errc::publish_returned);
  EXPECT_EQ(d->reply.code, 312);
  // The channel lives on.
  EXPECT_FALSE(publish(*c, ch, {"amq.direct", routed, true, false}, "e").ec);
}

TEST_F(amqp_connection, a_publish_to_a_missing_exchange_closes_its_channel) {
  auto c = connected();
  const auto ch = open_channel(*c, true).id;
  const auto r = publish(*c, ch, {name("no-such-exchange"), "key", false, false}, "lost");
  EXPECT_EQ(r.ec, errc::channel_closed);
  EXPECT_EQ(r.reply.code, 404);
  EXPECT_NE(r.reply.text.find("NOT_FOUND"), std::string::npos) << r.reply.text;
  EXPECT_TRUE(r.written) << "the frames had reached the socket";
  // Publishing on the closed channel fails at once, unwritten.
  const auto after = publish(*c, ch, {"amq.direct", "key", false, false}, "x");
  EXPECT_EQ(after.ec, errc::channel_closed);
  EXPECT_FALSE(after.written);
  EXPECT_EQ(open_channel(*c, true).id, ch);
}

TEST_F(amqp_connection, a_nack_with_requeue_comes_back_redelivered) {
  auto c = connected();
  const auto ch = open_channel(*c, true).id;
  const auto queue = declare_bound_queue(*c, ch, "requeue");
  ASSERT_FALSE(publish(*c, ch, {"amq.direct", queue, false, false}, "again").ec);
  std::vector<delivery> got;
  basic_consume request;
  request.queue = queue;
  c->consume(
      ch, request,
      [&](delivery d) {
        if (got.empty()) {
          c->nack(ch, d.method.delivery_tag, false, true);
        } else {
          c->ack(ch, d.method.delivery_tag, false);
        }
        got.push_back(std::move(d));
      },
      {}, [](std::error_code ec, method, broker_reply) { EXPECT_FALSE(ec); });
  ASSERT_TRUE(run_until([&] { return got.size() >= 2; }));
  EXPECT_FALSE(got[0].method.redelivered);
  EXPECT_TRUE(got[1].method.redelivered);
  EXPECT_EQ(got[1].body, "again");
  run_for(200ms);
  EXPECT_EQ(got.size(), 2u);
}

TEST_F(amqp_connection, a_queue_deleted_under_its_consumer_cancels_it) {
  auto c = connected();
  const auto ch = open_channel(*c, false).id;
  const auto other = open_channel(*c, false).id;
  queue_declare declare;
  declare.queue = name("deleted");
  declare.auto_delete = false;
  ASSERT_FALSE(call(*c, ch, declare).ec);
  auto cancelled = std::make_shared<outcome>();
  basic_consume request;
  request.queue = declare.queue;
  auto consumed = std::make_shared<outcome>();
  c->consume(
      ch, request, [](delivery) {},
      [cancelled](std::error_code ec, broker_reply reply) {
        EXPECT_FALSE(cancelled->done) << "cancelled twice";
        *cancelled = {true, ec, std::move(reply)};
      },
      [consumed](std::error_code ec, method, broker_reply) {
        consumed->done = true;
        consumed->ec = ec;
      });
  ASSERT_TRUE(run_until([&] { return consumed->done; }));
  ASSERT_FALSE(consumed->ec);
  queue_delete del;
  del.queue = declare.queue;
  ASSERT_FALSE(call(*c, other, del).ec);
  ASSERT_TRUE(run_until([&] { return cancelled->done; }));
  EXPECT_EQ(cancelled->ec, errc::channel_closed);
  EXPECT_EQ(cancelled->reply.text, "consumer cancelled by the broker");
  // The consumer's channel stays open.
  EXPECT_FALSE(call(*c, ch, basic_qos{0, 10, false}).ec);
}

TEST_F(amqp_connection, close_channel_fails_its_pending_and_frees_the_id) {
  auto c = connected();
  const auto ch = open_channel(*c, true).id;
  const auto queue = declare_bound_queue(*c, ch, "close-channel");
  auto pending_call = start_call(*c, ch, queue_purge{queue, false});
  auto pending_publish = start_publish(*c, ch, {"amq.direct", queue, false, false}, "x");
  auto closed = std::make_shared<outcome>();
  c->close_channel(ch, [closed](std::error_code ec, broker_reply reply) {
    *closed = {true, ec, std::move(reply)};
  });
  // At once: the pending ones fail before the broker answers.
  EXPECT_TRUE(pending_call->done);
  EXPECT_EQ(pending_call->ec, errc::aborted);
  EXPECT_TRUE(pending_publish->done);
  EXPECT_EQ(pending_publish->ec, errc::aborted);
  EXPECT_TRUE(pending_publish->written) << "it goes out ahead of channel.close";
  EXPECT_FALSE(closed->done);
  ASSERT_TRUE(run_until([&] { return closed->done; }));
  EXPECT_FALSE(closed->ec) << closed->ec.message();
  EXPECT_EQ(call(*c, ch, queue_purge{queue, false}).ec, errc::channel_closed);
  EXPECT_EQ(open_channel(*c, false).id, ch);
}

TEST_F(amqp_connection, a_close_crossed_with_the_brokers_own_frees_the_id_once_both_are_answered) {
  auto c = connected();
  const auto ch = open_channel(*c, true).id;
  // The publish makes the broker close the channel (404) while our close is
  // on its way: the two cross.
  auto doomed = start_publish(*c, ch, {name("no-such-exchange"), "key", false, false}, "x");
  auto closed = std::make_shared<outcome>();
  c->close_channel(ch, [closed](std::error_code ec, broker_reply reply) {
    *closed = {true, ec, std::move(reply)};
  });
  ASSERT_TRUE(run_until([&] { return closed->done; }));
  EXPECT_FALSE(closed->ec) << closed->ec.message();
  EXPECT_EQ(closed->reply.code, 404) << "the broker's close crossed ours";
  // RabbitMQ answers our close too, and only then is the id free again: a
  // channel opened at once takes the next id (or this one, if the answer
  // is in already), and its close-ok cannot land on it.
  const auto again = open_channel(*c, false);
  EXPECT_FALSE(again.ec) << again.ec.message();
  EXPECT_TRUE(again.id == ch || again.id == ch + 1) << again.id;
  declare_bound_queue(*c, again.id, "after-crossed-close");
  EXPECT_TRUE(doomed->done);
  EXPECT_EQ(open_channel(*c, false).id, again.id == ch ? ch + 1 : ch) << "freed by the close-ok";
}

TEST_F(amqp_connection, close_fails_everything_pending_with_aborted) {
  auto c = connected();
  bool lost = false;
  c->on_lost([&](std::error_code, broker_reply) { lost = true; });
  const auto ch = open_channel(*c, true).id;
  const auto queue = declare_bound_queue(*c, ch, "close");
  auto pending_call = start_call(*c, ch, queue_purge{queue, false});
  auto pending_publish = start_publish(*c, ch, {"amq.direct", queue, false, false}, "x");
  auto consumer_end = std::make_shared<outcome>();
  basic_consume request;
  request.queue = queue;
  auto consumed = std::make_shared<outcome>();
  c->consume(
      ch, request, [](delivery) {},
      [consumer_end](std::error_code ec, broker_reply) {
        consumer_end->done = true;
        consumer_end->ec = ec;
      },
      [consumed](std::error_code ec, method, broker_reply) {
        consumed->done = true;
        consumed->ec = ec;
      });
  c->close();
  EXPECT_TRUE(pending_call->done);
  EXPECT_EQ(pending_call->ec, errc::aborted);
  EXPECT_EQ(pending_publish->ec, errc::aborted);
  EXPECT_FALSE(pending_publish->written) << "it was still in the outbox";
  EXPECT_EQ(consumed->ec, errc::aborted);
  // Never consume-ok'd: its consumer never started, so it has nothing to end.
  EXPECT_FALSE(consumer_end->done);

  // After close everything fails, never from inside the call.
  bool returned = false;
  auto late = std::make_shared<outcome>();
  c->open_channel(false, [&returned, late](std::error_code ec, channel_id, broker_reply) {
    EXPECT_TRUE(returned) << "called from inside open_channel";
    late->done = true;
    late->ec = ec;
  });
  returned = true;
  ASSERT_TRUE(run_until([&] { return late->done; }));
  EXPECT_EQ(late->ec, errc::aborted);
  run_for(100ms);
  EXPECT_FALSE(lost) << "on_lost is not for close()";
}

TEST_F(amqp_connection, close_ends_consumers_that_had_started) {
  auto c = connected();
  const auto ch = open_channel(*c, false).id;
  const auto queue = declare_bound_queue(*c, ch, "close-consumer");
  auto consumer_end = std::make_shared<outcome>();
  auto consumed = std::make_shared<outcome>();
  basic_consume request;
  request.queue = queue;
  c->consume(
      ch, request, [](delivery) {},
      [consumer_end](std::error_code ec, broker_reply) {
        consumer_end->done = true;
        consumer_end->ec = ec;
      },
      [consumed](std::error_code ec, method, broker_reply) {
        consumed->done = true;
        consumed->ec = ec;
      });
  ASSERT_TRUE(run_until([&] { return consumed->done; }));
  c->close();
  EXPECT_TRUE(consumer_end->done);
  EXPECT_EQ(consumer_end->ec, errc::aborted);
}

TEST_F(amqp_connection, a_full_queue_that_rejects_publishes_nacks_them) {
  auto c = connected();
  const auto ch = open_channel(*c, true).id;
  queue_declare declare;
  declare.queue = name("full");
  declare.exclusive = true;
  declare.arguments = {{"x-max-length", std::int32_t{1}},
                       {"x-overflow", std::string("reject-publish")}};
  ASSERT_FALSE(call(*c, ch, declare).ec);
  auto first = start_publish(*c, ch, {"", declare.queue, false, false}, "fits");
  auto second = start_publish(*c, ch, {"", declare.queue, false, false}, "does not");
  ASSERT_TRUE(run_until([&] { return first->done && second->done; }));
  EXPECT_FALSE(first->ec) << first->ec.message();
  EXPECT_EQ(second->ec, errc::publish_nacked);
  EXPECT_TRUE(second->written);
}

TEST_F(amqp_connection, a_connection_exception_fails_everything_and_reports_the_loss) {
  auto c = connected();
  auto lost = std::make_shared<outcome>();
  c->on_lost([lost](std::error_code ec, broker_reply reply) {
    EXPECT_FALSE(lost->done) << "lost twice";
    *lost = {true, ec, std::move(reply)};
  });
  const auto ch = open_channel(*c, true).id;
  const auto queue = declare_bound_queue(*c, ch, "duplicate-tag");
  basic_consume request;
  request.queue = queue;
  request.consumer_tag = "the-same-tag";
  auto first = std::make_shared<outcome>();
  auto ended = std::make_shared<outcome>();
  c->consume(
      ch, request, [](delivery) {},
      [ended](std::error_code ec, broker_reply reply) {
        *ended = {true, ec, std::move(reply)};
      },
      [first](std::error_code ec, method, broker_reply) {
        first->done = true;
        first->ec = ec;
      });
  ASSERT_TRUE(run_until([&] { return first->done; }));
  // Reusing a consumer tag on a channel is a connection exception (530).
  auto second = std::make_shared<outcome>();
  c->consume(
      ch, request, [](delivery) {}, {},
      [second](std::error_code ec, method, broker_reply reply) {
        *second = {true, ec, std::move(reply)};
      });
  ASSERT_TRUE(run_until([&] { return lost->done; }));
  EXPECT_FALSE(first->ec);
  EXPECT_EQ(second->ec, errc::broker_closed);
  EXPECT_EQ(second->reply.code, 530);
  EXPECT_EQ(ended->ec, errc::broker_closed);
  EXPECT_EQ(lost->ec, errc::broker_closed);
  EXPECT_EQ(lost->reply.code, 530);
  EXPECT_NE(lost->reply.text.find("NOT_ALLOWED"), std::string::npos) << lost->reply.text;
  EXPECT_EQ(lost->reply.class_id, basic_consume::class_id);
  EXPECT_EQ(lost->reply.method_id, basic_consume::method_id);
  EXPECT_EQ(call(*c, ch, basic_qos{0, 1, false}).ec, errc::aborted);
}

TEST_F(amqp_connection, a_message_beyond_max_message_bytes_closes_the_connection) {
  auto o = options();
  o.max_message_bytes = 1000;
  auto c = connected(o);
  auto lost = std::make_shared<outcome>();
  c->on_lost([lost](std::error_code ec, broker_reply reply) {
    *lost = {true, ec, std::move(reply)};
  });
  const auto ch = open_channel(*c, true).id;
  const auto queue = declare_bound_queue(*c, ch, "too-large");
  // Outgoing bodies are not limited; the incoming one is.
  ASSERT_FALSE(publish(*c, ch, {"amq.direct", queue, false, false}, std::string(1001, 'x')).ec);
  basic_consume request;
  request.queue = queue;
  request.no_ack = true;
  int deliveries = 0;
  c->consume(
      ch, request, [&](delivery) { ++deliveries; }, {},
      [](std::error_code, method, broker_reply) {});
  ASSERT_TRUE(run_until([&] { return lost->done; }));
  EXPECT_EQ(lost->ec, errc::frame_too_large);
  EXPECT_EQ(deliveries, 0);
}

TEST_F(amqp_connection, heartbeats_keep_an_idle_connection_up) {
  auto o = options();
  o.heartbeat = 2s;
  auto c = connected(o);
  EXPECT_EQ(c->heartbeat(), 2s);
  bool lost = false;
  c->on_lost([&](std::error_code ec, broker_reply reply) {
    lost = true;
    ADD_FAILURE() << "lost: " << ec.message() << " " << reply.text;
  });
  // We give up after two silent intervals (4 s); RabbitMQ 3.10 resets a
  // silent client after about three (6 s, measured). 8 s of idling needs
  // heartbeats both ways.
  run_for(8s);
  EXPECT_FALSE(lost);
  const auto ch = open_channel(*c, false).id;
  EXPECT_FALSE(call(*c, ch, basic_qos{0, 1, false}).ec);
}

}  // namespace
}  // namespace brokerside::protocol::amqp
