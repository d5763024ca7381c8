// The maintenance schedule the updater reads from the agent's schedule file
// (Teleport's format: "<start_unix> <end_unix>" lines, "nop", comments), and
// the stored form of a channel's recurring windows (EncodeWindows/
// DecodeWindows, read back from the database). The same bytes go to both.
// Invariants: what parses prints and parses back the same; "in a window"
// and "the next window" agree at every time that matters (boundaries, now).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "agent-updater/triggers/schedule.h"
#include "agent-updater/triggers/schedule_state.h"
#include "common/maintenance_window.h"
#include "tests/fuzz/fuzz_check.h"

namespace drover::fuzz {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1798761600);  // 2027-01-01T00:00:00Z (a Friday)

std::string T(absl::Time t) { return absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone()); }

// InWindow and Next must tell the same story at `t`.
void CheckScheduleAt(const updater::Schedule& s, absl::Time t) {
  const bool in = s.InWindow(t);
  const std::optional<TimeRange> next = s.Next(t);
  FUZZ_CHECK(in == (next.has_value() && next->start <= t),
             absl::StrCat("at ", T(t), ": InWindow ", in, ", Next ", next ? T(next->start) : "none"));
  if (next) FUZZ_CHECK(next->end > t && next->start < next->end, absl::StrCat(T(next->start), " .. ", T(next->end)));
  FUZZ_CHECK(s.HasCurrentOrFutureWindow(t) == next.has_value(), T(t));
  const v1::ScheduleState state = updater::ScheduleStateOf("", s, t);
  const v1::ScheduleState want = s.nop                     ? v1::SCHEDULE_STATE_NOP
                                 : next.has_value()        ? v1::SCHEDULE_STATE_OK
                                                           : v1::SCHEDULE_STATE_ONLY_PAST_WINDOWS;
  FUZZ_CHECK(state == want, absl::StrCat(state));
}

void CheckScheduleFile(absl::string_view text) {
  absl::StatusOr<updater::Schedule> s = updater::ParseTeleportSchedule(std::string(text));
  if (!s.ok()) {
    FUZZ_CHECK(s.status().code() == absl::StatusCode::kInvalidArgument, s.status().ToString());
    return;
  }
  FUZZ_CHECK(s->recurring.empty(), "a schedule file has no recurring windows");
  std::vector<absl::Time> times = {kNow, absl::UnixEpoch(), absl::InfinitePast(), absl::InfiniteFuture()};
  std::vector<std::string> lines;
  if (s->nop) lines.push_back("nop");
  for (const TimeRange& w : s->windows) {
    FUZZ_CHECK(w.start < w.end, absl::StrCat(T(w.start), " .. ", T(w.end)));
    FUZZ_CHECK(s->InWindow(w.start), T(w.start));
    for (absl::Time t : {w.start, w.end, w.start - absl::Seconds(1), w.end - absl::Seconds(1)}) times.push_back(t);
    lines.push_back(absl::StrCat(absl::ToUnixSeconds(w.start), " ", absl::ToUnixSeconds(w.end)));
  }
  // Bound the work per input: the checks are quadratic in windows.
  if (times.size() > 400) times.resize(400);
  for (absl::Time t : times) CheckScheduleAt(*s, t);

  // Written back in the file's format, it reads the same.
  const std::string again = absl::StrJoin(lines, "\n");
  absl::StatusOr<updater::Schedule> s2 = updater::ParseTeleportSchedule(again);
  FUZZ_CHECK(s2.ok(), absl::StrCat(s2.status().ToString(), " for ", Show(again)));
  FUZZ_CHECK(s2->nop == s->nop && s2->windows == s->windows, Show(again));
}

void CheckRecurring(const MaintenanceWindow& w, absl::Time t) {
  const TimeRange r = w.NextOccurrence(t);
  const std::string what = absl::StrCat(w.ToString(), " at ", T(t), ": ", T(r.start), " .. ", T(r.end));
  FUZZ_CHECK(r.end - r.start == w.duration, what);
  FUZZ_CHECK(r.end > t, what);
  FUZZ_CHECK(r.start - t <= absl::Hours(24 * 8), what);
  FUZZ_CHECK(w.Contains(t) == (r.start <= t), what);
  FUZZ_CHECK(w.Contains(r.start), what);
  FUZZ_CHECK(absl::ToInt64Minutes(r.start - absl::UnixEpoch()) % 60 == 0 &&
                 absl::ToInt64Hours(r.start - absl::UnixEpoch()) % 24 == w.utc_start_hour,
             what);
  FUZZ_CHECK(w.weekdays.empty() || std::find(w.weekdays.begin(), w.weekdays.end(), UtcWeekday(r.start)) !=
                                       w.weekdays.end(),
             what);
}

void CheckStoredWindows(absl::string_view text) {
  absl::StatusOr<std::vector<MaintenanceWindow>> windows = DecodeWindows(text);
  if (!windows.ok()) {
    FUZZ_CHECK(windows.status().code() == absl::StatusCode::kDataLoss, windows.status().ToString());
    return;
  }
  for (const MaintenanceWindow& w : *windows) {
    FUZZ_CHECK(w.Validate().ok(), w.ToString());
    FUZZ_CHECK(!w.ToString().empty(), "ToString");
  }
  // Encoded again, the same windows; and the encoding is stable.
  const std::string encoded = EncodeWindows(*windows);
  absl::StatusOr<std::vector<MaintenanceWindow>> again = DecodeWindows(encoded);
  FUZZ_CHECK(again.ok(), absl::StrCat(again.status().ToString(), " for ", Show(encoded)));
  FUZZ_CHECK(*again == *windows, Show(encoded));
  FUZZ_CHECK(EncodeWindows(*again) == encoded, Show(encoded));
  if (windows->size() > 16) return;  // the API's limit (kMaxWindows): keep each run short

  // Occurrences over two weeks from now, and a few times around each.
  const absl::Time until = kNow + absl::Hours(24 * 14);
  const std::vector<TimeRange> upcoming = UpcomingOccurrences(*windows, kNow, until);
  std::vector<absl::Time> times = {kNow, kNow + absl::Hours(37) + absl::Minutes(13), until - absl::Seconds(1)};
  for (size_t i = 0; i < upcoming.size(); ++i) {
    const TimeRange& r = upcoming[i];
    FUZZ_CHECK(r.start < r.end && r.end > kNow && r.start < until, absl::StrCat(T(r.start), " .. ", T(r.end)));
    // Merged: in order, neither overlapping nor touching.
    if (i > 0) FUZZ_CHECK(upcoming[i - 1].end < r.start, absl::StrCat(T(upcoming[i - 1].end), " / ", T(r.start)));
    if (times.size() < 64) {
      for (absl::Time t : {r.start, r.end, r.start - absl::Nanoseconds(1), r.end - absl::Nanoseconds(1)}) {
        times.push_back(t);
      }
    }
  }
  updater::Schedule s;
  s.recurring = *windows;
  for (absl::Time t : times) {
    bool in_upcoming = false;
    for (const TimeRange& r : upcoming) in_upcoming = in_upcoming || (r.start <= t && t < r.end);
    if (t >= kNow && t < until) {
      FUZZ_CHECK(InAnyWindow(*windows, t) == in_upcoming, absl::StrCat(T(t), " ", Show(encoded)));
    }
    for (const MaintenanceWindow& w : *windows) CheckRecurring(w, t);
    if (!windows->empty()) CheckScheduleAt(s, t);
  }
}

}  // namespace
}  // namespace drover::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text = drover::fuzz::AsText(data, size);
  drover::fuzz::CheckScheduleFile(text);
  drover::fuzz::CheckStoredWindows(text);
  return 0;
}
