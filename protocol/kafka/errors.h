// librdkafka's error codes as a caller acts on them: a small classification,
// so the layers above never include librdkafka's headers.
#pragma once

#include <string>

namespace brokerside::protocol::kafka {

// A Kafka error: librdkafka's code (rd_kafka_resp_err_t, negative for its
// own, positive for the broker's) and its words.
struct error {
  int code = 0;
  std::string text;
  explicit operator bool() const noexcept { return code != 0; }
};

enum class error_kind {
  none,
  not_found,      // unknown topic or partition
  too_large,      // the record is above a size limit
  invalid,        // a bad request (topic name, partitions, configuration)
  exists,         // the topic exists already
  unavailable,    // no broker answered: transport, all brokers down, timed out
  authorization,  // authentication or authorization failed
  tls,            // the TLS handshake failed (e.g. the certificate was not verified)
  aborted,        // purged or destroyed before it was done, or acked without an offset
  refused,        // any other refusal by the broker
};

error_kind classify(int code) noexcept;

// What an operation gets when its producer or consumer was closed first.
error closed_error();

// Whether this librdkafka logs in with SCRAM to Kafka 4.0 and newer: before
// 2.6.1 it sends a nonce those brokers refuse (confluentinc/librdkafka#4895).
bool scram_works_with_kafka_4() noexcept;

}  // namespace brokerside::protocol::kafka
