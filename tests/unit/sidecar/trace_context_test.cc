#include "sidecar/trace_context.h"

#include <gtest/gtest.h>

namespace brokerside::sidecar {
namespace {

constexpr const char* example = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(trace_context, a_traceparent_is_version_00_lowercase_hex_and_not_all_zeros) {
  EXPECT_TRUE(valid_traceparent(example));
  EXPECT_TRUE(valid_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
  for (const char* bad : {
           "",
           "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // a version we do not know
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   // uppercase
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   // no trace id
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   // no parent id
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",  // too long
           "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // separator
           "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",   // not hex
       }) {
    EXPECT_FALSE(valid_traceparent(bad)) << bad;
  }
}

TEST(trace_context, a_new_traceparent_is_valid_sampled_and_new_each_time) {
  const auto a = new_traceparent(), b = new_traceparent();
  EXPECT_TRUE(valid_traceparent(a)) << a;
  EXPECT_EQ(a.substr(53), "01");
  EXPECT_NE(a, b);
}

TEST(trace_context, metadata_gives_the_context_and_an_invalid_one_counts_as_none) {
  std::multimap<grpc::string_ref, grpc::string_ref> md;
  md.emplace("traceparent", example);
  md.emplace("tracestate", "congo=t61rcWkgMzE");
  auto t = trace_from_metadata(md, false);
  EXPECT_EQ(t.parent, example);
  EXPECT_EQ(t.state, "congo=t61rcWkgMzE");
  EXPECT_EQ(t.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");

  std::multimap<grpc::string_ref, grpc::string_ref> bad;
  bad.emplace("traceparent", "00-garbage");
  bad.emplace("tracestate", "congo=t61rcWkgMzE");
  EXPECT_TRUE(trace_from_metadata(bad, false).empty());
  t = trace_from_metadata(bad, true);  // tracing.generate: a new one, without the old state
  EXPECT_TRUE(valid_traceparent(t.parent));
  EXPECT_EQ(t.state, "");
  EXPECT_TRUE(trace_from_metadata({}, false).empty());
}

TEST(trace_context, headers_carry_it_unless_the_app_set_its_own) {
  v1::Message m;
  add_trace_headers({example, "a=1"}, m);
  EXPECT_EQ(m.headers().at("traceparent").text(), example);
  EXPECT_EQ(m.headers().at("tracestate").text(), "a=1");
  EXPECT_EQ(trace_from_headers(m).parent, example);
  EXPECT_EQ(trace_from_headers(m).state, "a=1");

  v1::Message own;
  (*own.mutable_headers())["traceparent"].set_bytes(
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  add_trace_headers({example, ""}, own);
  EXPECT_EQ(own.headers().at("traceparent").bytes(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  EXPECT_EQ(trace_from_headers(own).trace_id(), "0af7651916cd43dd8448eb211c80319c");

  v1::Message invalid;
  (*invalid.mutable_headers())["traceparent"].set_text("nonsense");
  EXPECT_TRUE(trace_from_headers(invalid).empty());
  EXPECT_TRUE(trace_from_headers(v1::Message{}).empty());
}

}  // namespace
}  // namespace brokerside::sidecar
