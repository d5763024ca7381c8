// Parsing of droverctl's argument values (window SPECs, durations, counts),
// done locally so a typo is a usage error before any RPC. Errors are
// InvalidArgument, quote the value and show the expected form.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "drover/v1/types.pb.h"

namespace drover::cli {

// Maintenance window SPECs, "<days> <HH:00> <duration>": days is "daily" or a
// comma list of weekday names and ranges ("mon,thu", "mon-fri", "sat,sun"),
// the start a whole UTC hour, the duration whole minutes from 1m to 24h
// ("1h", "90m", "1h30m"). Each argument may hold one SPEC, or several SPECs
// may be spread over arguments (as when the shell split them), three words each.
absl::StatusOr<std::vector<v1::MaintenanceWindow>> ParseWindowSpecs(const std::vector<std::string>& args);

// The SPEC form of a window, so what droverctl prints can be typed back:
// "daily 02:00 1h", "mon,thu 22:00 1h30m".
std::string FormatWindowSpec(const v1::MaintenanceWindow& window);

// A Go-style duration ("60s", "1m30s", "500ms") within [min, max].
absl::StatusOr<absl::Duration> ParseDurationValue(const std::string& flag, const std::string& value,
                                                  absl::Duration min, absl::Duration max);

// A channel's poll interval: within [kMinPollInterval, kMaxPollInterval]
// (common/api_limits.h) and whole milliseconds, as the coordinator requires;
// errors name `label` and `value` (label like "--poll-interval=").
absl::StatusOr<absl::Duration> ParsePollInterval(absl::string_view label, const std::string& value);

// A whole number within [min, max].
absl::StatusOr<int64_t> ParseCount(const std::string& flag, const std::string& value, int64_t min, int64_t max);

}  // namespace drover::cli
