#include "protocol/errc.h"

#include <string>

namespace brokerside::protocol {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "brokerside.protocol"; }

  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::malformed_frame:
        return "malformed frame";
      case errc::frame_too_large:
        return "frame too large";
      case errc::nesting_too_deep:
        return "nesting too deep";
      case errc::unsupported:
        return "unsupported by this adapter";
      case errc::connection_closed:
        return "connection closed by the broker";
      case errc::connect_timeout:
        return "connect timed out";
      case errc::handshake_failed:
        return "handshake refused by the broker";
      case errc::access_refused:
        return "login refused by the broker";
      case errc::aborted:
        return "connection closed with the operation pending";
      case errc::field_too_long:
        return "value too long for its protocol field";
      case errc::heartbeat_timeout:
        return "no heartbeat from the broker";
      case errc::broker_closed:
        return "the broker closed the connection";
      case errc::channel_closed:
        return "the broker closed the channel";
      case errc::publish_nacked:
        return "the broker refused the publish (nack)";
      case errc::publish_returned:
        return "the publish could not be routed (returned)";
      case errc::refused:
        return "the broker refused the operation";
    }
    return "unknown protocol error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& protocol_category() noexcept {
  static const category instance;
  return instance;
}

}  // namespace brokerside::protocol
