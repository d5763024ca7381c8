// Recurring maintenance windows (weekdays + UTC start hour + duration) and the
// questions updaters and the coordinator ask of them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace drover {

struct TimeRange {
  absl::Time start;
  absl::Time end;  // exclusive
  friend bool operator==(const TimeRange&, const TimeRange&) = default;
};

struct MaintenanceWindow {
  // Weekdays 1 (Monday) .. 7 (Sunday), ascending, no repeats; empty: every day.
  std::vector<int> weekdays;
  int utc_start_hour = 0;
  absl::Duration duration = absl::Hours(1);

  // InvalidArgument naming the bad value: weekday out of 1..7 or repeated,
  // hour out of 0..23, duration not whole minutes in [1 minute, 24 hours].
  absl::Status Validate() const;

  // True when `t` falls inside an occurrence of this window.
  bool Contains(absl::Time t) const;

  // The occurrence containing `t`, else the next one starting after `t`.
  TimeRange NextOccurrence(absl::Time t) const;

  // A stable text form for logs and the change history: "Mon,Wed 02:00 UTC +1h".
  std::string ToString() const;

  friend bool operator==(const MaintenanceWindow&, const MaintenanceWindow&) = default;
};

// Weekday of `t` in UTC: 1 = Monday .. 7 = Sunday.
int UtcWeekday(absl::Time t);

bool InAnyWindow(const std::vector<MaintenanceWindow>& windows, absl::Time t);

// Occurrences of any window that overlap [from, until), merged where they
// overlap or touch, in order: what an agent exports to its updater.
std::vector<TimeRange> UpcomingOccurrences(const std::vector<MaintenanceWindow>& windows,
                                           absl::Time from, absl::Time until);

}  // namespace drover

namespace drover {

// Compact storage form: "<weekdays>/<utc_start_hour>/<minutes>" joined by ';',
// weekdays as digits 1..7 or "*" for every day, e.g. "135/2/60;*/22/30".
std::string EncodeWindows(const std::vector<MaintenanceWindow>& windows);
absl::StatusOr<std::vector<MaintenanceWindow>> DecodeWindows(absl::string_view text);

}  // namespace drover
