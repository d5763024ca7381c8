// proto3 string fields must hold UTF-8: protobuf refuses to parse a message
// whose string field does not, and says which field only in its own log.
// FindInvalidUtf8 finds that field in the encoded message, so whoever refuses
// it can name the field and show the bytes.
#pragma once

#include <optional>
#include <string>

#include <google/protobuf/descriptor.h>

#include "absl/strings/string_view.h"

namespace drover::wire {

// The first string field of `wire` (an encoded message of type `type`, nested
// messages included) that is not valid UTF-8, as
// `path "escaped bytes": not valid UTF-8`, e.g.
// `outcomes[0].error "boom\xff": not valid UTF-8`. nullopt when every string
// field is valid, or when the encoding is damaged before one is found.
std::optional<std::string> FindInvalidUtf8(const google::protobuf::Descriptor* type, absl::string_view wire);

// Routes protobuf's own log lines to drover's log, minus its per-message
// complaints about UTF-8: whoever refuses such a message says so by name
// (with FindInvalidUtf8), and a client sending many must not flood the log.
void RouteProtobufLogs();

}  // namespace drover::wire
