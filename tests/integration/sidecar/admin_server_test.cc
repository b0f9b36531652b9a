// The admin HTTP listener over a real loopback socket.
#include "sidecar/admin_server.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>

#include "sidecar/startup_error.h"

namespace brokerside::sidecar {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct reply {
  unsigned status;
  std::string body;
  std::string content_type;
};

reply request(int port, http::verb verb, const std::string& target) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                                         static_cast<unsigned short>(port)));
  http::request<http::empty_body> req(verb, target, 11);
  req.set(http::field::host, "localhost");
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  if (verb == http::verb::head) parser.skip(true);
  http::read(stream, buffer, parser);
  const auto& res = parser.get();
  return {res.result_int(), res.body(), std::string(res[http::field::content_type])};
}

class admin : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.start("127.0.0.1:0");
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    server_.stop();
    work_.reset();
    io_.stop();
    thread_.join();
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::atomic<bool> ready_{true};
  admin_server server_{
      io_,
      {[this](std::string& reason) {
         if (!ready_) reason = "required target 'cache' is not healthy";
         return ready_.load();
       },
       [](std::function<void(std::string)> reply) { reply("brokerside_build_info 1\n"); }}};
  std::thread thread_;
};

TEST_F(admin, healthz_readyz_metrics) {
  auto r = request(server_.port(), http::verb::get, "/healthz");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "ok\n");
  r = request(server_.port(), http::verb::get, "/readyz");
  EXPECT_EQ(r.status, 200u);
  ready_ = false;
  r = request(server_.port(), http::verb::get, "/readyz?verbose=1");
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(r.body, "not ready: required target 'cache' is not healthy\n");
  r = request(server_.port(), http::verb::get, "/metrics");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "brokerside_build_info 1\n");
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
}

TEST_F(admin, unknown_paths_and_methods) {
  EXPECT_EQ(request(server_.port(), http::verb::get, "/nope").status, 404u);
  EXPECT_EQ(request(server_.port(), http::verb::post, "/healthz").status, 405u);
  EXPECT_EQ(request(server_.port(), http::verb::head, "/healthz").status, 200u);
}

TEST_F(admin, port_in_use_is_one_line_naming_the_setting) {
  admin_server second(io_, {[](std::string&) { return true; },
                            [](std::function<void(std::string)> reply) { reply(""); }});
  const auto address = "127.0.0.1:" + std::to_string(server_.port());
  try {
    second.start(address);
    FAIL() << "bound a port in use";
  } catch (const startup_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "listen.admin: cannot listen on " + address + ": Address already in use");
  }
}

}  // namespace
}  // namespace brokerside::sidecar
