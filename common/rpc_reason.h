// Structured reasons the coordinator attaches to some error answers, so that
// callers classify them without searching the message text (which also holds
// addresses and names chosen by operators, e.g. "database-gw.internal").
#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"

namespace drover {

// Trailing gRPC metadata key, and the absl::Status payload URL carrying the
// same value inside a process.
inline constexpr absl::string_view kReasonKey = "drover-reason";
// UNAVAILABLE because the coordinator's database cannot serve.
inline constexpr absl::string_view kReasonDatabaseUnavailable = "database-unavailable";
// RESOURCE_EXHAUSTED because the caller sent more than its rate limit allows:
// the request itself is fine and may be sent again later (unlike a request
// refused for its size).
inline constexpr absl::string_view kReasonRateLimited = "rate-limited";

inline absl::Status WithReason(absl::Status status, absl::string_view reason) {
  status.SetPayload(kReasonKey, absl::Cord(reason));
  return status;
}

inline std::optional<std::string> ReasonOf(const absl::Status& status) {
  const auto reason = status.GetPayload(kReasonKey);  // absl::optional<absl::Cord>
  if (!reason.has_value()) return std::nullopt;
  return std::string(*reason);
}

inline bool IsDatabaseUnavailable(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kUnavailable) return false;
  const auto reason = status.GetPayload(kReasonKey);
  return reason.has_value() && *reason == kReasonDatabaseUnavailable;
}

}  // namespace drover
