// Resource names of the API: a channel "stable/cloud" is named
// "channels/stable/cloud" in requests and responses.
#pragma once

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace drover::wire {

inline constexpr absl::string_view kChannelNamePrefix = "channels/";

// "stable/cloud" -> "channels/stable/cloud".
std::string ChannelName(absl::string_view id);
// "channels/stable/cloud" -> "stable/cloud"; nullopt without the prefix. The
// id is not validated.
std::optional<absl::string_view> ChannelIdOfName(absl::string_view name);

}  // namespace drover::wire
