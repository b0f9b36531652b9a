// protocol::nats::session without I/O: the test plays the server, feeding
// bytes to consume() and reading what the session appends.
#include "protocol/nats/session.h"

#include <gtest/gtest.h>

#include <optional>

#include "protocol/errc.h"

namespace brokerside::protocol::nats {
namespace {

constexpr std::string_view inbox = "_INBOX.test.";

class nats_session_test : public ::testing::Test {
 protected:
  void SetUp() override { reset({}); }

  void reset(handshake_options o) {
    s_.reset(
        std::move(o), {}, std::string(inbox), [this] { ++upgrades_; },
        [this](std::error_code ec, const std::string& text) {
          done_ = ec;
          text_ = text;
        });
  }

  // The server sends `bytes`; all of it must be taken.
  std::error_code feed(std::string_view bytes) {
    std::error_code ec;
    while (!bytes.empty()) {
      auto o = out();
      const auto used = s_.consume(bytes, o, ec);
      if (ec || used == 0) break;
      bytes.remove_prefix(used);
    }
    return ec;
  }

  output out() { return {written_, base_}; }

  // What the session wrote since the last look.
  std::string last() {
    auto s = written_.substr(seen_);
    seen_ = written_.size();
    return s;
  }

  void handshake() {
    ASSERT_FALSE(feed("INFO {\"server_id\":\"S\",\"max_payload\":64,\"headers\":true}\r\n"));
    EXPECT_EQ(last(),
              "CONNECT {\"echo\":true,\"headers\":true,\"lang\":\"cpp\",\"name\":\"brokerside\","
              "\"no_responders\":true,\"pedantic\":false,\"protocol\":1,\"tls_required\":false,"
              "\"verbose\":false,\"version\":\"brokerside\"}\r\n"
              "SUB _INBOX.test.* 1\r\nPING\r\n");
    EXPECT_FALSE(done_.has_value());
    ASSERT_FALSE(feed("PONG\r\n"));
    ASSERT_TRUE(done_.has_value());
    EXPECT_FALSE(*done_);
    EXPECT_TRUE(s_.ready());
  }

  session s_;
  std::string written_;
  std::uint64_t base_ = 0;
  std::size_t seen_ = 0;
  int upgrades_ = 0;
  std::optional<std::error_code> done_;
  std::string text_;
};

TEST_F(nats_session_test, the_handshake_sends_connect_with_credentials_and_waits_for_pong) {
  reset({.user = "app", .password = "secret", .name = "n"});
  ASSERT_FALSE(feed("INFO {\"headers\":true}\r\n"));
  const auto connect = last();
  EXPECT_NE(connect.find("\"user\":\"app\""), std::string::npos) << connect;
  EXPECT_NE(connect.find("\"pass\":\"secret\""), std::string::npos) << connect;
  EXPECT_NE(connect.find("\"name\":\"n\""), std::string::npos) << connect;
  EXPECT_EQ(upgrades_, 0);
  ASSERT_FALSE(feed("PONG\r\n"));
  EXPECT_TRUE(s_.ready());
}

TEST_F(nats_session_test, info_values_are_kept_and_the_golden_path_works) {
  handshake();
  EXPECT_EQ(s_.info().server_id, "S");
  EXPECT_EQ(s_.info().max_payload, 64u);
  // A later INFO (lame duck, cluster news) updates what we know, sends nothing.
  ASSERT_FALSE(
      feed("INFO {\"ldm\":true,\"connect_urls\":[\"10.0.0.2:4222\"],\"headers\":true}\r\n"));
  EXPECT_TRUE(s_.info().lame_duck);
  EXPECT_EQ(s_.info().connect_urls, std::vector<std::string>{"10.0.0.2:4222"});
  EXPECT_EQ(last(), "");
}

TEST_F(nats_session_test, a_refused_login_fails_the_handshake_with_the_servers_words) {
  ASSERT_FALSE(feed("INFO {}\r\n"));
  EXPECT_EQ(feed("-ERR 'Authorization Violation'\r\n"), errc::access_refused);
  EXPECT_EQ(s_.last_error(), "Authorization Violation");
  s_.on_abort(errc::access_refused, 0);
  ASSERT_TRUE(done_.has_value());
  EXPECT_EQ(*done_, errc::access_refused);
  EXPECT_EQ(text_, "Authorization Violation");
}

TEST_F(nats_session_test, a_server_that_requires_tls_is_refused_without_it_and_upgraded_with_it) {
  EXPECT_EQ(feed("INFO {\"tls_required\":true}\r\n"), errc::handshake_failed);
  EXPECT_NE(s_.last_error().find("requires TLS"), std::string::npos);
  reset({.tls = true});
  ASSERT_FALSE(feed("INFO {\"tls_required\":true}\r\n"));
  EXPECT_EQ(upgrades_, 1);
  EXPECT_NE(last().find("CONNECT"), std::string::npos);  // queued: goes out encrypted
}

TEST_F(nats_session_test, a_publish_is_confirmed_by_the_pong_after_it) {
  handshake();
  std::vector<std::error_code> confirmed;
  auto o = out();
  ASSERT_FALSE(s_.publish(
      "a.b", "", "hi",
      [&](std::error_code ec, bool, const std::string&) { confirmed.push_back(ec); }, o));
  EXPECT_EQ(last(), "PUB a.b 2\r\nhi\r\nPING\r\n");
  EXPECT_TRUE(confirmed.empty());
  ASSERT_FALSE(feed("PING\r\n"));  // the server's own: answered
  EXPECT_EQ(last(), "PONG\r\n");
  ASSERT_FALSE(feed("PONG\r\n"));
  EXPECT_EQ(confirmed, std::vector<std::error_code>{std::error_code()});
  EXPECT_EQ(s_.pending(), 0u);
}

TEST_F(nats_session_test, publishes_queued_together_are_confirmed_by_one_pong) {
  handshake();
  std::vector<int> confirmed;
  auto o = out();
  for (int i = 0; i < 3; ++i) {
    ASSERT_FALSE(s_.publish(
        "a", "", std::to_string(i),
        [&, i](std::error_code ec, bool, const std::string&) {
          EXPECT_FALSE(ec);
          confirmed.push_back(i);
        },
        o));
  }
  EXPECT_EQ(last(), "PUB a 1\r\n0\r\nPUB a 1\r\n1\r\nPUB a 1\r\n2\r\nPING\r\n");
  EXPECT_EQ(s_.pending(), 3u);
  ASSERT_FALSE(feed("PONG\r\n"));
  EXPECT_EQ(confirmed, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(s_.pending(), 0u);
  // A health check's PING right after joins them too.
  bool pinged = false;
  ASSERT_FALSE(s_.publish(
      "a", "", "3", [](std::error_code, bool, const std::string&) {}, o));
  s_.ping([&](std::error_code ec, bool, const std::string&) { pinged = !ec; }, o);
  EXPECT_EQ(last(), "PUB a 1\r\n3\r\nPING\r\n");
  ASSERT_FALSE(feed("PONG\r\n"));
  EXPECT_TRUE(pinged);
  EXPECT_EQ(s_.pending(), 0u);
}

TEST_F(nats_session_test, a_ping_already_written_or_followed_by_other_bytes_stays) {
  handshake();
  std::vector<int> confirmed;
  auto record = [&](int i) {
    return [&, i](std::error_code, bool, const std::string&) { confirmed.push_back(i); };
  };
  auto o = out();
  ASSERT_FALSE(s_.publish("a", "", "0", record(0), o));
  // Handed to the transport: what follows is a new write.
  base_ += written_.size();
  written_.clear();
  seen_ = 0;
  ASSERT_FALSE(s_.publish("a", "", "1", record(1), o));
  EXPECT_EQ(last(), "PUB a 1\r\n1\r\nPING\r\n");
  // A request's bytes after the PING: it stays where it is.
  std::uint64_t token = 0;
  ASSERT_FALSE(s_.request(
      "svc", "", "q", [](std::error_code, msg, bool) {}, o, token));
  ASSERT_FALSE(s_.publish("a", "", "2", record(2), o));
  EXPECT_EQ(last(), "PUB svc _INBOX.test.1 1\r\nq\r\nPUB a 1\r\n2\r\nPING\r\n");
  ASSERT_FALSE(feed("PONG\r\n"));
  EXPECT_EQ(confirmed, (std::vector<int>{0}));
  ASSERT_FALSE(feed("PONG\r\n"));
  EXPECT_EQ(confirmed, (std::vector<int>{0, 1}));
  ASSERT_FALSE(feed("PONG\r\n"));
  EXPECT_EQ(confirmed, (std::vector<int>{0, 1, 2}));
}

TEST_F(nats_session_test, publishes_sharing_a_ping_say_apart_what_was_written) {
  handshake();
  std::vector<bool> written;
  auto record = [&](std::error_code ec, bool w, const std::string&) {
    EXPECT_EQ(ec, errc::connection_closed);
    written.push_back(w);
  };
  auto o = out();
  ASSERT_FALSE(s_.publish("a", "", "1", record, o));
  const auto first_pub_end = base_ + written_.size() - std::string_view("PING\r\n").size();
  ASSERT_FALSE(s_.publish("a", "", "2", record, o));
  ASSERT_EQ(last(), "PUB a 1\r\n1\r\nPUB a 1\r\n2\r\nPING\r\n");
  s_.on_abort(errc::connection_closed, first_pub_end);
  EXPECT_EQ(written, (std::vector<bool>{true, false}));
}

TEST_F(nats_session_test, a_send_goes_out_with_its_reply_subject_and_waits_for_nothing) {
  handshake();
  auto o = out();
  ASSERT_FALSE(s_.send("$JS.API.CONSUMER.MSG.NEXT.S.c", "_INBOX.pull.0", "{}", o));
  ASSERT_FALSE(s_.send("$JS.ACK.S.c.1.2.2.0.0", "", "+ACK", o));
  EXPECT_EQ(last(),
            "PUB $JS.API.CONSUMER.MSG.NEXT.S.c _INBOX.pull.0 2\r\n{}\r\n"
            "PUB $JS.ACK.S.c.1.2.2.0.0 4\r\n+ACK\r\n");
  EXPECT_EQ(s_.pending(), 0u);
  EXPECT_EQ(s_.send("a", "", std::string(65, 'x'), o), errc::frame_too_large);
  EXPECT_EQ(last(), "");
}

TEST_F(nats_session_test, max_payload_and_headers_are_checked_before_anything_is_written) {
  handshake();
  auto o = out();
  const auto never = [](std::error_code, bool, const std::string&) { FAIL(); };
  EXPECT_EQ(s_.publish("a", "", std::string(65, 'x'), never, o), errc::frame_too_large);
  EXPECT_EQ(s_.publish("a", "NATS/1.0\r\n\r\n", std::string(60, 'x'), never, o),
            errc::frame_too_large);
  EXPECT_EQ(last(), "");
}

TEST_F(nats_session_test, a_permissions_error_refuses_the_publish_it_names_only) {
  handshake();
  std::vector<std::pair<std::error_code, std::string>> outcomes;
  auto record = [&](std::error_code ec, bool, const std::string& text) {
    outcomes.emplace_back(ec, text);
  };
  auto o = out();
  ASSERT_FALSE(s_.publish("ok.one", "", "1", record, o));
  ASSERT_FALSE(s_.publish("secret", "", "2", record, o));
  ASSERT_FALSE(feed("-ERR 'Permissions Violation for Publish to \"secret\"'\r\n"));
  ASSERT_FALSE(feed("PONG\r\n"));  // one PING confirms both (below)
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_FALSE(outcomes[0].first);
  EXPECT_EQ(outcomes[1].first, errc::refused);
  EXPECT_EQ(outcomes[1].second, "Permissions Violation for Publish to \"secret\"");
}

TEST_F(nats_session_test, replies_find_their_requests_by_token_in_any_order) {
  handshake();
  std::vector<std::string> got;
  auto o = out();
  std::uint64_t first = 0, second = 0;
  auto record = [&](std::error_code ec, msg m, bool) { got.push_back(ec ? "error" : m.payload); };
  ASSERT_FALSE(s_.request("svc", "", "q1", record, o, first));
  ASSERT_FALSE(s_.request("svc", "", "q2", record, o, second));
  EXPECT_EQ(last(), "PUB svc _INBOX.test.1 2\r\nq1\r\nPUB svc _INBOX.test.2 2\r\nq2\r\n");
  ASSERT_FALSE(feed("MSG _INBOX.test.2 1 2\r\na2\r\nMSG _INBOX.test.1 1 2\r\na1\r\n"));
  EXPECT_EQ(got, (std::vector<std::string>{"a2", "a1"}));
  // A forgotten request's late reply is dropped; an unknown token too.
  std::uint64_t third = 0;
  ASSERT_FALSE(s_.request("svc", "", "q3", record, o, third));
  s_.forget(third);
  ASSERT_FALSE(feed("MSG _INBOX.test.3 1 1\r\nx\r\nMSG _INBOX.test.99 1 1\r\ny\r\n"));
  EXPECT_EQ(got.size(), 2u);
}

TEST_F(nats_session_test, no_responders_is_a_503_status_reply) {
  handshake();
  std::optional<std::error_code> outcome;
  auto o = out();
  std::uint64_t token = 0;
  ASSERT_FALSE(s_.request(
      "nobody", "", "?", [&](std::error_code ec, msg, bool) { outcome = ec; }, o, token));
  const std::string headers = "NATS/1.0 503\r\n\r\n";
  ASSERT_FALSE(feed("HMSG _INBOX.test.1 1 " + std::to_string(headers.size()) + " " +
                    std::to_string(headers.size()) + "\r\n" + headers + "\r\n"));
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(*outcome, errc::refused);
}

TEST_F(nats_session_test, an_abort_fails_everything_once_and_says_what_was_written) {
  handshake();
  std::vector<bool> written;
  auto o = out();
  ASSERT_FALSE(s_.publish(
      "a", "", "1",
      [&](std::error_code ec, bool w, const std::string&) {
        EXPECT_EQ(ec, errc::connection_closed);
        written.push_back(w);
      },
      o));
  const auto handed = base_ + written_.size();  // the first went out
  std::uint64_t token = 0;
  ASSERT_FALSE(s_.request(
      "b", "", "2",
      [&](std::error_code ec, msg, bool w) {
        EXPECT_EQ(ec, errc::connection_closed);
        written.push_back(w);
      },
      o, token));
  s_.on_abort(errc::connection_closed, handed);
  EXPECT_EQ(written, (std::vector<bool>{true, false}));
  EXPECT_EQ(s_.pending(), 0u);
}

TEST_F(nats_session_test, subscriptions_get_their_messages_and_refusals_apart_from_replies) {
  handshake();
  // Two subscribers on one connection, each with its own handlers.
  std::vector<msg> orders, jobs;
  std::vector<std::string> refused_orders, refused_jobs;
  auto to = [](std::vector<msg>& got, std::vector<std::string>& refused) {
    return std::make_shared<const session::subscription_handlers>(session::subscription_handlers{
        [&got](msg m) { got.push_back(std::move(m)); },
        [&refused](const std::string& text) { refused.push_back(text); }});
  };
  auto o = out();
  EXPECT_EQ(s_.subscribe("orders.*", "", to(orders, refused_orders), o), 2u);
  EXPECT_EQ(s_.subscribe("jobs", "workers", to(jobs, refused_jobs), o), 3u);
  EXPECT_EQ(last(), "SUB orders.* 2\r\nSUB jobs workers 3\r\n");
  ASSERT_FALSE(feed(
      "MSG orders.eu 2 reply.to 2\r\nhi\r\nMSG _INBOX.test.9 1 1\r\nx\r\nMSG jobs 3 1\r\nj\r\n"));
  ASSERT_EQ(orders.size(), 1u);  // the inbox's message is no delivery
  EXPECT_EQ(orders[0].subject, "orders.eu");
  EXPECT_EQ(orders[0].reply, "reply.to");
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].payload, "j");
  // A refusal names a subject: only its subscription hears of it, and is gone.
  ASSERT_FALSE(feed("-ERR 'Permissions Violation for Subscription to \"jobs\"'\r\n"));
  EXPECT_EQ(refused_jobs,
            std::vector<std::string>{"Permissions Violation for Subscription to \"jobs\""});
  EXPECT_TRUE(refused_orders.empty());
  EXPECT_EQ(s_.subscriptions(), 1u);
  EXPECT_TRUE(s_.last_error().empty());
  // After UNSUB, what was still on its way is dropped.
  s_.unsubscribe(2, o);
  ASSERT_FALSE(feed("MSG orders.us 2 2\r\nho\r\n"));
  EXPECT_EQ(orders.size(), 1u);
  EXPECT_EQ(s_.subscriptions(), 0u);
}

TEST_F(nats_session_test, a_later_info_brings_cluster_news_and_lame_duck_mode_once) {
  handshake();
  int lame = 0;
  s_.on_lame_duck([&] { ++lame; });
  ASSERT_FALSE(
      feed("INFO {\"server_id\":\"S\",\"connect_urls\":[\"10.0.0.2:4222\","
           "\"[::1]:4223\"]}\r\n"));
  EXPECT_EQ(s_.info().connect_urls, (std::vector<std::string>{"10.0.0.2:4222", "[::1]:4223"}));
  EXPECT_EQ(lame, 0);
  EXPECT_EQ(last(), "");  // no second CONNECT
  ASSERT_FALSE(feed("INFO {\"server_id\":\"S\",\"ldm\":true}\r\n"));
  ASSERT_FALSE(feed("INFO {\"server_id\":\"S\",\"ldm\":true}\r\n"));
  EXPECT_EQ(lame, 1);
  EXPECT_TRUE(s_.info().lame_duck);
  EXPECT_TRUE(s_.ready());
}

TEST_F(nats_session_test, anything_before_info_is_not_the_protocol) {
  EXPECT_EQ(feed("PING\r\n"), errc::malformed_frame);
}

}  // namespace
}  // namespace brokerside::protocol::nats
