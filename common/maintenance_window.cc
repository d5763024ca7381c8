#include "absl/strings/string_view.h"
#include "common/maintenance_window.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace drover {
namespace {

constexpr const char* kDayNames[] = {"", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};

absl::Time StartOfUtcDay(absl::Time t) {
  absl::CivilDay day = absl::ToCivilDay(t, absl::UTCTimeZone());
  return absl::FromCivil(day, absl::UTCTimeZone());
}

bool RunsOn(const MaintenanceWindow& w, int weekday) {
  return w.weekdays.empty() ||
         std::find(w.weekdays.begin(), w.weekdays.end(), weekday) != w.weekdays.end();
}

}  // namespace

int UtcWeekday(absl::Time t) {
  absl::CivilDay day = absl::ToCivilDay(t, absl::UTCTimeZone());
  switch (absl::GetWeekday(day)) {
    case absl::Weekday::monday: return 1;
    case absl::Weekday::tuesday: return 2;
    case absl::Weekday::wednesday: return 3;
    case absl::Weekday::thursday: return 4;
    case absl::Weekday::friday: return 5;
    case absl::Weekday::saturday: return 6;
    case absl::Weekday::sunday: return 7;
  }
  return 0;
}

absl::Status MaintenanceWindow::Validate() const {
  int previous = 0;
  for (int d : weekdays) {
    if (d < 1 || d > 7) {
      return absl::InvalidArgumentError(
          absl::StrCat("maintenance window weekday ", d, " is not a weekday (1=Monday..7=Sunday)"));
    }
    if (d <= previous) {
      return absl::InvalidArgumentError(absl::StrCat(
          "maintenance window weekday ", kDayNames[d], " is repeated or out of order"));
    }
    previous = d;
  }
  if (utc_start_hour < 0 || utc_start_hour > 23) {
    return absl::InvalidArgumentError(
        absl::StrCat("maintenance window utc_start_hour ", utc_start_hour, " is not in 0..23"));
  }
  if (duration < absl::Minutes(1) || duration > absl::Hours(24) ||
      duration % absl::Minutes(1) != absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "maintenance window duration ", absl::FormatDuration(duration),
        " must be whole minutes from 1m to 24h"));
  }
  return absl::OkStatus();
}

bool MaintenanceWindow::Contains(absl::Time t) const {
  // Durations are at most 24 h, so only today's or yesterday's start can cover t.
  absl::Time today = StartOfUtcDay(t);
  for (absl::Time day : {today - absl::Hours(24), today}) {
    if (!RunsOn(*this, UtcWeekday(day))) continue;
    absl::Time start = day + absl::Hours(utc_start_hour);
    if (start <= t && t < start + duration) return true;
  }
  return false;
}

TimeRange MaintenanceWindow::NextOccurrence(absl::Time t) const {
  absl::Time today = StartOfUtcDay(t);
  for (int offset = -1; offset <= 8; ++offset) {
    absl::Time day = today + absl::Hours(24 * offset);
    if (!RunsOn(*this, UtcWeekday(day))) continue;
    absl::Time start = day + absl::Hours(utc_start_hour);
    if (start + duration > t) return {start, start + duration};
  }
  return {absl::InfiniteFuture(), absl::InfiniteFuture()};  // unreachable for valid windows
}

std::string MaintenanceWindow::ToString() const {
  std::vector<std::string> days;
  for (int d : weekdays) days.push_back(d >= 1 && d <= 7 ? kDayNames[d] : absl::StrCat(d));
  return absl::StrFormat("%s %02d:00 UTC +%s", days.empty() ? "daily" : absl::StrJoin(days, ","),
                         utc_start_hour, absl::FormatDuration(duration));
}

bool InAnyWindow(const std::vector<MaintenanceWindow>& windows, absl::Time t) {
  return std::any_of(windows.begin(), windows.end(),
                     [t](const MaintenanceWindow& w) { return w.Contains(t); });
}

std::vector<TimeRange> UpcomingOccurrences(const std::vector<MaintenanceWindow>& windows,
                                           absl::Time from, absl::Time until) {
  std::vector<TimeRange> all;
  for (const MaintenanceWindow& w : windows) {
    absl::Time cursor = from;
    while (cursor < until) {
      TimeRange r = w.NextOccurrence(cursor);
      if (r.start >= until) break;
      all.push_back(r);
      cursor = r.end;
    }
  }
  std::sort(all.begin(), all.end(), [](const TimeRange& a, const TimeRange& b) {
    return a.start < b.start || (a.start == b.start && a.end < b.end);
  });
  std::vector<TimeRange> merged;
  for (const TimeRange& r : all) {
    if (!merged.empty() && r.start <= merged.back().end) {
      merged.back().end = std::max(merged.back().end, r.end);
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

}  // namespace drover

namespace drover {

std::string EncodeWindows(const std::vector<MaintenanceWindow>& windows) {
  std::string out;
  for (const MaintenanceWindow& w : windows) {
    if (!out.empty()) out += ';';
    if (w.weekdays.empty()) out += '*';
    for (int d : w.weekdays) absl::StrAppend(&out, d);
    absl::StrAppend(&out, "/", w.utc_start_hour, "/", absl::ToInt64Minutes(w.duration));
  }
  return out;
}

absl::StatusOr<std::vector<MaintenanceWindow>> DecodeWindows(absl::string_view text) {
  std::vector<MaintenanceWindow> out;
  if (text.empty()) return out;
  for (absl::string_view item : absl::StrSplit(text, ';')) {
    std::vector<absl::string_view> parts = absl::StrSplit(item, '/');
    int hour = 0, minutes = 0;
    // An empty weekday field must not decode as "every day": that is "*".
    if (parts.size() != 3 || parts[0].empty() || !absl::SimpleAtoi(parts[1], &hour) ||
        !absl::SimpleAtoi(parts[2], &minutes)) {
      return absl::DataLossError(absl::StrCat("stored maintenance window \"", item, "\" is malformed"));
    }
    MaintenanceWindow w;
    if (parts[0] != "*") {
      for (char c : parts[0]) w.weekdays.push_back(c - '0');
    }
    w.utc_start_hour = hour;
    w.duration = absl::Minutes(minutes);
    if (absl::Status s = w.Validate(); !s.ok()) {
      return absl::DataLossError(absl::StrCat("stored maintenance window \"", item, "\": ", s.message()));
    }
    out.push_back(std::move(w));
  }
  return out;
}

}  // namespace drover
