// What the coordinator's API accepts, shared by the coordinator (which
// refuses anything outside these bounds) and the updater (which must only
// send what will be accepted: a refused report would otherwise be lost).
#pragma once

#include <cstddef>

#include "absl/time/time.h"

namespace drover {

// Identifiers: the updater refuses a config outside these, the coordinator
// a request.
inline constexpr size_t kMaxHostIdLength = 128;
inline constexpr size_t kMaxChannelIdLength = 100;
inline constexpr size_t kMaxGroupLength = 64;
// What a group name is made of: letters, digits and "-._". The one rule for
// the group an updater reports and the groups of a channel's rollout policy.
inline constexpr bool IsGroupNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_';
}
inline constexpr size_t kMaxUpdaterVersionLength = 64;
// ReportStatusRequest.instance_id (updaters send 32 hex digits).
inline constexpr size_t kMaxInstanceIdLength = 64;
// UpdateOutcome.error, in bytes.
inline constexpr size_t kMaxErrorLength = 2048;
inline constexpr int kMaxOutcomesPerReport = 32;
// What an updater puts in one ReportStatusRequest, in serialized bytes
// (ByteSizeLong). Kept well under the coordinator's default
// --max_message_bytes (64 KiB), which is larger: 32 outcomes with
// 2048-byte errors alone come to ~67 KB, and a report over the limit is
// refused as RESOURCE_EXHAUSTED.
inline constexpr size_t kMaxReportBytes = 48 * 1024;
// Outcome times must lie in [kEarliestReportTime, coordinator now + kMaxClockSkew].
inline constexpr absl::Time kEarliestReportTime = absl::FromUnixSeconds(946684800);  // 2000-01-01T00:00:00Z
inline constexpr absl::Duration kMaxClockSkew = absl::Minutes(5);
// A channel's poll interval.
inline constexpr absl::Duration kMinPollInterval = absl::Seconds(1);
inline constexpr absl::Duration kMaxPollInterval = absl::Hours(24);
// The longest a watch poll is held before 204 (--watch_hold, plus its 10 %
// jitter); an updater drops a watch connection silent for longer.
inline constexpr absl::Duration kMaxWatchHold = absl::Minutes(5);
// Used when neither the channel nor the updater's config sets one.
inline constexpr absl::Duration kDefaultPollInterval = absl::Seconds(60);
// List RPCs: a page_size of 0 asks for kDefaultPageSize entries; at most
// kMaxPageSize (droverctl pages through with that).
inline constexpr int kDefaultPageSize = 100;
inline constexpr int kMaxPageSize = 1000;
// Agents silent for this many poll intervals are stale (coordinator and
// droverctl's help both say so).
inline constexpr int kStaleAfterPollIntervals = 3;

}  // namespace drover
