#include "agent-updater/triggers/schedule_state.h"

#include <sys/stat.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/atomic_file.h"

namespace drover::updater {

v1::ScheduleState ScheduleStateOf(const std::string& schedule_file, const std::optional<Schedule>& loaded,
                                  absl::Time now) {
  if (loaded.has_value()) {
    if (loaded->nop) return v1::SCHEDULE_STATE_NOP;
    return loaded->HasCurrentOrFutureWindow(now) ? v1::SCHEDULE_STATE_OK : v1::SCHEDULE_STATE_ONLY_PAST_WINDOWS;
  }
  if (schedule_file.empty()) return v1::SCHEDULE_STATE_NONE;
  struct stat st;
  if (stat(schedule_file.c_str(), &st) != 0 && errno == ENOENT) return v1::SCHEDULE_STATE_MISSING;
  return v1::SCHEDULE_STATE_UNREADABLE;
}

std::optional<std::string> ScheduleFileWarning(const std::string& schedule_file, absl::Time now) {
  if (schedule_file.empty()) return std::nullopt;
  constexpr absl::string_view kEffect = "; updates would apply as soon as they are seen, outside any window";
  absl::StatusOr<std::string> text = ReadFile(schedule_file);
  if (!text.ok()) {
    return absl::StrCat("schedule file ", schedule_file,
                        absl::IsNotFound(text.status()) ? " does not exist" : " cannot be read", ": ",
                        text.status().message(), kEffect);
  }
  absl::StatusOr<Schedule> s = ParseTeleportSchedule(*text);
  if (!s.ok()) return absl::StrCat("schedule file ", schedule_file, " is malformed: ", s.status().message(), kEffect);
  if (!s->nop && !s->HasCurrentOrFutureWindow(now)) {
    return absl::StrCat("schedule file ", schedule_file, " holds no current or future window", kEffect);
  }
  return std::nullopt;
}

}  // namespace drover::updater
