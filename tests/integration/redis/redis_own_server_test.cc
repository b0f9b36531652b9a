// The Redis adapter against redis-servers of the test's own
// (tests/support/redis_server.h): TLS with a certificate made here, a server
// without HELLO (RESP2 and the older handshake), AUTH from a secret file,
// every RESP3 reply type, and a server killed -9 and restarted under load.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <future>
#include <thread>

#include "tests/support/in_process_sidecar.h"
#include "tests/support/redis_server.h"

namespace brokerside {
namespace {

using grpc::StatusCode;
using testing_support::in_process_sidecar;
using testing_support::redis_server;

// An ACL user with a password, for AUTH through the URL or a file.
const std::vector<std::string> app_user = {"--user", "app", "on", ">s3cret", "~*", "&*", "+@all"};

std::string write_password_file(const redis_server& server, const std::string& password) {
  const auto path = server.dir() + "/password";
  std::ofstream(path) << password << "\n";
  return path;
}

std::string status_text(const grpc::Status& status) {
  return std::to_string(status.error_code()) + ": " + status.error_message();
}

TEST(redis_own_server, tls_with_a_generated_certificate_and_auth_from_a_file) {
  redis_server server({.tls = true, .extra_args = app_user});
  const auto port = std::to_string(server.tls_port());
  const auto password = write_password_file(server, "s3cret");
  const auto ca = "tls: {ca_file: '" + server.ca_file() + "'}";
  const auto once = ", retry: {max_retries: 0}";
  in_process_sidecar sidecar(
      "  secure: {url: 'rediss://app@127.0.0.1:" + port + "', password_file: '" + password + "', " +
      ca + "}\n" +                                                                        //
      "  by_name: {url: 'rediss://localhost:" + port + "', " + ca + "}\n" +               //
      "  wrong_name: {url: 'rediss://127.0.0.1:" + port + "', tls: {ca_file: '" +         //
      server.ca_file() + "', server_name: other.example}" + once + "}\n" +                //
      "  untrusted: {url: 'rediss://127.0.0.1:" + port + "'" + once + "}\n" +             //
      "  unverified: {url: 'rediss://127.0.0.1:" + port + "', tls: {verify: false}}\n" +  //
      "  wrong_password: {url: 'rediss://app:nope@127.0.0.1:" + port + "', " + ca + once + "}\n");

  EXPECT_EQ(sidecar.ok(sidecar.command("secure", {"SET", "tls:k", "over TLS"})).text(), "OK");
  EXPECT_EQ(sidecar.ok(sidecar.command("secure", {"GET", "tls:k"})).bytes(), "over TLS");
  // The connection is authenticated as `app`, which the password file opened.
  const auto lease = sidecar.acquire("secure");
  const auto info = sidecar.ok(sidecar.command("secure", {"CLIENT", "INFO"}, lease));
  EXPECT_NE(info.text().find(" user=app "), std::string::npos) << info.DebugString();  // verbatim
  sidecar.release(lease);
  EXPECT_EQ(sidecar.ok(sidecar.command("by_name", {"GET", "tls:k"})).bytes(), "over TLS");
  EXPECT_EQ(sidecar.ok(sidecar.command("unverified", {"GET", "tls:k"})).bytes(), "over TLS");

  for (const std::string target : {"wrong_name", "untrusted"}) {
    v1::SendResponse response;
    const auto status = sidecar.send(sidecar.command(target, {"PING"}), response);
    EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE) << target;
    EXPECT_NE(status.error_message().find("certificate verify failed"), std::string::npos)
        << target << ": " << status.error_message();
  }
  v1::SendResponse response;
  const auto status = sidecar.send(sidecar.command("wrong_password", {"PING"}), response);
  EXPECT_EQ(status.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("WRONGPASS"), std::string::npos) << status_text(status);
  EXPECT_EQ(status.error_message().find("nope"), std::string::npos) << "the password leaked";
}

TEST(redis_own_server, a_server_without_hello_gets_resp2_and_the_older_handshake) {
  auto args = app_user;
  args.insert(args.end(), {"--rename-command", "HELLO", ""});
  redis_server server({.extra_args = args});
  const auto password = write_password_file(server, "s3cret");
  in_process_sidecar sidecar(
      "  legacy: {url: 'redis://app@127.0.0.1:" + std::to_string(server.port()) +
      "/3?client_name=legacy-app', password_file: '" + password + "'}\n");
  sidecar.ok(sidecar.command("legacy", {"HSET", "h", "a", "1", "b", "2"}));
  // RESP2 has no maps: HGETALL is a flat array.
  const auto all = sidecar.ok(sidecar.command("legacy", {"HGETALL", "h"}));
  EXPECT_EQ(all.array().values_size(), 4) << all.DebugString();
  const auto lease = sidecar.acquire("legacy");
  const auto info = sidecar.ok(sidecar.command("legacy", {"CLIENT", "INFO"}, lease)).bytes();
  EXPECT_NE(info.find(" db=3 "), std::string::npos) << info;
  EXPECT_NE(info.find(" name=legacy-app "), std::string::npos) << info;
  EXPECT_NE(info.find(" user=app "), std::string::npos) << info;
  EXPECT_NE(info.find(" resp=2"), std::string::npos) << info;
  sidecar.release(lease);
}

TEST(redis_own_server, every_resp3_reply_type_becomes_a_value) {
  redis_server server({});
  in_process_sidecar sidecar("  r: {url: '" + server.url() + "'}\n");
  const auto debug = [&](const std::string& type) {
    return sidecar.ok(sidecar.command("r", {"DEBUG", "PROTOCOL", type}));
  };
  EXPECT_DOUBLE_EQ(debug("double").double_(), 3.141);
  EXPECT_EQ(debug("bignum").big_number(), "1234567999999999999999999999999999999");
  EXPECT_TRUE(debug("true").boolean());
  EXPECT_FALSE(debug("false").boolean());
  EXPECT_TRUE(debug("null").null());
  EXPECT_EQ(debug("verbatim").text(), "This is a verbatim\nstring");
  EXPECT_EQ(debug("set").set().values_size(), 3);
  const auto map = debug("map");
  ASSERT_EQ(map.map().entries_size(), 3) << map.DebugString();
  EXPECT_EQ(map.map().entries(1).key().integer(), 1);
  EXPECT_TRUE(map.map().entries(1).value().boolean());
  // An attribute before a reply is skipped; the reply is what comes back.
  EXPECT_EQ(debug("attrib").bytes(), "Some real reply following the attribute");
  EXPECT_EQ(sidecar.ok(sidecar.command("r", {"INCRBY", "n", "-7"})).integer(), -7);
  EXPECT_EQ(sidecar.ok(sidecar.command("r", {"PING"})).text(), "PONG");
  EXPECT_EQ(sidecar.ok(sidecar.command("r", {"NOSUCHCOMMAND"})).error().rfind("ERR", 0), 0u);
}

TEST(redis_own_server, a_server_killed_and_restarted_retries_reads_and_aborts_written_writes) {
  redis_server server({});
  // One connection, so everything below is pipelined behind the DEBUG SLEEP.
  // (The breaker is off: under a loaded test run the restart can outlast
  // five failed connects, and an open breaker would fail the GET fast.)
  in_process_sidecar sidecar("  victim: {url: '" + server.url() +
                             "', pool: {max_connections: 1}, retry: {max_retries: 10},"
                             " breaker: {failure_threshold: 0}}\n");
  sidecar.ok(sidecar.command("victim", {"SET", "counter", "0"}));
  sidecar.ok(sidecar.command("victim", {"SET", "key", "kept"}));

  const auto send_async = [&](std::vector<std::string> args) {
    return std::async(std::launch::async, [&sidecar, args = std::move(args)] {
      v1::SendResponse response;
      const auto started = std::chrono::steady_clock::now();
      auto status =
          sidecar.send(sidecar.command("victim", args), response, std::chrono::seconds(5));
      const auto took = std::chrono::steady_clock::now() - started;
      return std::make_tuple(status, response, took);
    });
  };
  // The server sleeps on the first command; the next two are written behind
  // it and never answered: the server dies first.
  auto sleeping = send_async({"DEBUG", "SLEEP", "2"});
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto incr = send_async({"INCR", "counter"});
  auto get = send_async({"GET", "key"});
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  server.kill9();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  server.start();

  // Written and not idempotent: ABORTED (it may or may not have run).
  for (auto* call : {&sleeping, &incr}) {
    const auto [status, response, took] = call->get();
    EXPECT_EQ(status.error_code(), StatusCode::ABORTED) << status_text(status);
    EXPECT_LT(took, std::chrono::seconds(5));
  }
  // Read-only: retried on a new connection once the server is back.
  const auto [status, response, took] = get.get();
  ASSERT_TRUE(status.ok()) << status_text(status);
  EXPECT_EQ(response.reply().bytes(), "kept") << response.DebugString();
  // The INCR never ran (the server was asleep when it died), and the data
  // written before survived the restart (appendfsync always).
  EXPECT_EQ(sidecar.ok(sidecar.command("victim", {"GET", "counter"})).bytes(), "0");
  const auto stats = sidecar.stats("victim");
  EXPECT_GE(stats.counters().disconnects(), 1u);
  EXPECT_EQ(stats.pool().in_flight(), 0u);
  EXPECT_LE(stats.connections_size(), 1);
}

TEST(redis_own_server, output_above_the_high_water_mark_pauses_the_connection_until_it_drains) {
  redis_server server({});
  in_process_sidecar sidecar("  slow: {url: '" + server.url() +
                             "', pool: {max_connections: 1}, write_high_water: 64KiB,"
                             " write_low_water: 16KiB}\n");
  sidecar.ok(sidecar.command("slow", {"PING"}));
  // The server stops reading for a second; 400 x 64 KiB pipelined behind
  // that fill the socket buffers, then the connection's output passes the
  // mark, and the rest wait in the pool until Redis reads again.
  auto sleeping = std::async(std::launch::async, [&] {
    return sidecar.ok(sidecar.command("slow", {"DEBUG", "SLEEP", "1"})).text();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto ctx = in_process_sidecar::context(std::chrono::seconds(30));
  auto stream = sidecar.stub().SendStream(ctx.get());
  constexpr int count = 400;
  const std::string value(64 * 1024, 'v');
  for (int i = 0; i < count; ++i) {
    v1::SendStreamRequest request;
    request.set_id(static_cast<std::uint64_t>(i));
    *request.mutable_send() = sidecar.command("slow", {"SET", "big:" + std::to_string(i), value});
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  int ok_count = 0;
  v1::SendStreamResponse response;
  while (stream->Read(&response)) {
    EXPECT_EQ(response.status().code(), 0) << response.status().message();
    ok_count += response.result().reply().text() == "OK";
  }
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(ok_count, count);
  EXPECT_EQ(sleeping.get(), "OK");
  const auto stats = sidecar.stats("slow");
  EXPECT_GE(stats.counters().write_pauses(), 1u);
  EXPECT_EQ(stats.pool().waiters(), 0u);
  EXPECT_EQ(stats.pool().in_flight(), 0u);
}

}  // namespace
}  // namespace brokerside
