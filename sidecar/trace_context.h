// W3C Trace Context (traceparent / tracestate) as brokerside carries it: read
// from a call's metadata, checked, made up when `tracing.generate` asks for
// it, put into a published message's headers so that a trace crosses the
// broker, and read back from a delivered message's headers. brokerside
// records no spans of its own: it forwards the context unchanged, as W3C
// asks of a participant that does not trace.
#pragma once

#include <grpcpp/support/string_ref.h>

#include <map>
#include <string>
#include <string_view>

#include "brokerside/v1/brokerside.pb.h"

namespace brokerside::sidecar {

struct trace_context {
  std::string parent;  // "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>"; empty: none
  std::string state;   // vendor entries, forwarded as given

  bool empty() const noexcept { return parent.empty(); }
  // The trace id (32 hex digits), or empty.
  std::string_view trace_id() const noexcept {
    return parent.size() >= 35 ? std::string_view(parent).substr(3, 32) : std::string_view();
  }
};

// Whether `value` is a traceparent this version of the specification
// defines: version 00, lowercase hex, a trace id and a parent id that are
// not all zeros (W3C Trace Context, section 3.2).
bool valid_traceparent(std::string_view value) noexcept;

// A new traceparent: random trace and parent ids, sampled.
std::string new_traceparent();

// The context of a call from its client metadata; an invalid traceparent
// counts as none (and takes its tracestate with it). With `generate`, a call
// without one gets a new one.
trace_context trace_from_metadata(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                                  bool generate);

// Adds the context to `message`'s headers as "traceparent" and
// "tracestate" text headers, unless it carries a traceparent already (the
// app's own, which wins).
void add_trace_headers(const trace_context& trace, v1::Message& message);

// The context a delivered message carries in its headers (text or bytes),
// if valid.
trace_context trace_from_headers(const v1::Message& message);

}  // namespace brokerside::sidecar
