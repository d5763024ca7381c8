// Maintenance schedules as the updater sees them: the channel's recurring
// windows (from the coordinator), or a schedule file the agent exports in
// Teleport's format ("# comment", then "<start_unix> <end_unix>" lines, or the
// single word "nop": this updater must do nothing).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/maintenance_window.h"

namespace drover::updater {

struct Schedule {
  // "nop": never update, whatever else holds.
  bool nop = false;
  // Explicit windows (schedule file). Used when `recurring` is empty.
  std::vector<TimeRange> windows;
  // Recurring windows (from the channel).
  std::vector<MaintenanceWindow> recurring;

  bool InWindow(absl::Time now) const;
  // True when some window contains `now` or starts after it. Without one the
  // agent is treated as unhealthy and updated as soon as possible.
  bool HasCurrentOrFutureWindow(absl::Time now) const;
  // Start of the window containing or following `now`, if any.
  std::optional<TimeRange> Next(absl::Time now) const;
};

// InvalidArgument naming the line for malformed content.
absl::StatusOr<Schedule> ParseTeleportSchedule(const std::string& text);

}  // namespace drover::updater
