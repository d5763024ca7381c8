#include "proto/wire/names.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace drover::wire {

std::string ChannelName(absl::string_view id) { return absl::StrCat(kChannelNamePrefix, id); }

std::optional<absl::string_view> ChannelIdOfName(absl::string_view name) {
  if (!absl::ConsumePrefix(&name, kChannelNamePrefix)) return std::nullopt;
  return name;
}

}  // namespace drover::wire
