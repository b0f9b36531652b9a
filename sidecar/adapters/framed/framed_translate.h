// Between the v1 API and the framed channel's value tree (the codec-neutral
// form of MsgPack and JSON content): request content in, results and the
// peer's own requests out, and the app's answers to those. Pure: no
// connection, no I/O.
#pragma once

#include <grpcpp/support/status.h>

#include "brokerside/v1/brokerside.pb.h"
#include "protocol/framed/value.h"

namespace brokerside::sidecar::framed_translate {

// A v1::Value as the channel's value: bytes as msgpack bin, a set as an
// array. INVALID_ARGUMENT for an error or big_number value (no channel type).
grpc::Status to_framed(const v1::Value& in, protocol::framed::value& out);

// The channel's value as a v1::Value: an integer above INT64_MAX becomes a
// big_number; a msgpack ext, its bytes. Moves from `in`.
void to_v1(protocol::framed::value&& in, v1::Value& out);

// The content a message carries to the peer: a Value as it is, `json` text
// parsed (so the peer gets the object, not a string), `body` as bin.
// INVALID_ARGUMENT when the json is not JSON the channel can carry.
grpc::Status content_of(const v1::Message& message, protocol::framed::value& out);

// A result, in the form its request used: `json` text when the request was
// json (and the result has no bytes), `body` when the request was body and
// the result is bin, else a Value.
void result_to(v1::Message::ContentCase form, protocol::framed::value&& result, v1::Message& out);

// A request the peer initiated, as the app gets it: `json` text when the
// content is JSON (no bytes inside), `body` for bin content, else a Value.
void peer_request_to(protocol::framed::value&& content, v1::Message& out);

}  // namespace brokerside::sidecar::framed_translate
