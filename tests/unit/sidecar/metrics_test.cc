#include "sidecar/metrics.h"

#include <gtest/gtest.h>

namespace brokerside::sidecar {
namespace {

TEST(metrics, renders_counted_calls_in_prometheus_text) {
  metrics m;
  m.count_call(rpc_method::send, grpc::StatusCode::OK);
  m.count_call(rpc_method::send, grpc::StatusCode::OK);
  m.count_call(rpc_method::stats, grpc::StatusCode::NOT_FOUND);
  m.count_stream_operation(grpc::StatusCode::UNIMPLEMENTED);
  const auto text = m.render();
  EXPECT_NE(text.find("brokerside_grpc_calls_total{method=\"Send\",code=\"OK\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("brokerside_grpc_calls_total{method=\"Stats\",code=\"NOT_FOUND\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("brokerside_stream_operations_total{code=\"UNIMPLEMENTED\"} 1\n"),
            std::string::npos);
  EXPECT_EQ(text.find("method=\"Recv\""), std::string::npos);
  EXPECT_NE(text.find("# TYPE brokerside_grpc_calls_total counter\n"), std::string::npos);
}

TEST(metrics, names_and_label_escaping) {
  EXPECT_STREQ(status_code_name(grpc::StatusCode::RESOURCE_EXHAUSTED), "RESOURCE_EXHAUSTED");
  EXPECT_STREQ(status_code_name(grpc::StatusCode::UNAUTHENTICATED), "UNAUTHENTICATED");
  EXPECT_EQ(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

}  // namespace
}  // namespace brokerside::sidecar
