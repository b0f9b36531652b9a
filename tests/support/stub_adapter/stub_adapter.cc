#include "tests/support/stub_adapter/stub_adapter.h"

#include "pool/errc.h"
#include "sidecar/config_section.h"

namespace brokerside::testing_support {
namespace {

// The stub's own settings of a target.
struct stub_options final : sidecar::adapter_options {
  bool refuse_connects = false;  // every connect fails (an unreachable broker)
};

std::shared_ptr<const sidecar::adapter_options> read_options(const sidecar::config_section& s,
                                                             const sidecar::target_settings&) {
  auto o = std::make_shared<stub_options>();
  s.read("refuse_connects", o->refuse_connects);
  return o;
}

class echo_operations final : public sidecar::operation_adapter {
 public:
  grpc::Status check(const v1::SendRequest& request, bool leased) const override {
    if (!request.has_command()) return {grpc::StatusCode::INVALID_ARGUMENT, "echo: commands only"};
    if (request.command().args(0) == "BLOCK" && !leased) {
      return {grpc::StatusCode::FAILED_PRECONDITION, "echo: BLOCK needs a lease"};
    }
    return grpc::Status::OK;
  }

  bool idempotent(const v1::SendRequest&) const override { return true; }

  void attempt(const v1::SendRequest& request, pool::connection&, boost::asio::cancellation_slot,
               outcome_handler done) const override {
    sidecar::attempt_outcome out;
    if (request.command().args(0) == "FAIL") {
      out.result = {make_error_code(pool::errc::broker_refused), pool::failure_kind::operation,
                    true, "echo: refused"};
      return done(std::move(out));
    }
    std::string text;
    for (const auto& arg : request.command().args()) text += (text.empty() ? "" : " ") + arg;
    out.response.mutable_reply()->set_text(text);
    done(std::move(out));
  }
};

sidecar::adapter_binding make_binding(const sidecar::target_settings& target,
                                      boost::asio::any_io_executor) {
  stub_world().refuse = target.options_as<stub_options>().refuse_connects;
  return {std::make_shared<fake_factory>(stub_world(), 8), std::make_shared<echo_operations>()};
}

}  // namespace

fake_world& stub_world() {
  static fake_world world;
  return world;
}

const sidecar::adapter_descriptor& stub_adapter() {
  static const sidecar::adapter_descriptor descriptor{
      .name = "stub",
      .schemes = {{.scheme = "stub", .default_port = 1}},
      .read_options = read_options,
      .make = make_binding,
  };
  return descriptor;
}

const sidecar::adapter_descriptor& unbuilt_adapter() {
  static const sidecar::adapter_descriptor descriptor{
      .name = "unbuilt",
      .schemes = {{.scheme = "unbuilt", .default_port = 1}},
  };
  return descriptor;
}

const sidecar::adapter_registry& test_adapters() {
  static const sidecar::adapter_registry registry([] {
    auto all = sidecar::builtin_adapters().all();
    all.push_back(&stub_adapter());
    all.push_back(&unbuilt_adapter());
    return all;
  }());
  return registry;
}

}  // namespace brokerside::testing_support
