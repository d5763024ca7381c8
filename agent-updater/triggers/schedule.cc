#include "agent-updater/triggers/schedule.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace drover::updater {

bool Schedule::InWindow(absl::Time now) const {
  if (!recurring.empty()) return InAnyWindow(recurring, now);
  for (const TimeRange& w : windows) {
    if (w.start <= now && now < w.end) return true;
  }
  return false;
}

std::optional<TimeRange> Schedule::Next(absl::Time now) const {
  std::optional<TimeRange> best;
  if (!recurring.empty()) {
    for (const MaintenanceWindow& w : recurring) {
      TimeRange r = w.NextOccurrence(now);
      if (!best || r.start < best->start) best = r;
    }
    return best;
  }
  for (const TimeRange& w : windows) {
    if (w.end <= now) continue;
    if (!best || w.start < best->start) best = w;
  }
  return best;
}

bool Schedule::HasCurrentOrFutureWindow(absl::Time now) const { return Next(now).has_value(); }

absl::StatusOr<Schedule> ParseTeleportSchedule(const std::string& text) {
  Schedule s;
  int line_no = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++line_no;
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line[0] == '#') continue;
    if (line == "nop") {
      s.nop = true;
      continue;
    }
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
    int64_t start = 0, end = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &start) || !absl::SimpleAtoi(parts[1], &end) ||
        end <= start) {
      return absl::InvalidArgumentError(absl::StrCat("schedule line ", line_no, " \"", line,
                                                     "\": want \"<start_unix> <end_unix>\" with end after start"));
    }
    s.windows.push_back({absl::FromUnixSeconds(start), absl::FromUnixSeconds(end)});
  }
  return s;
}

}  // namespace drover::updater
