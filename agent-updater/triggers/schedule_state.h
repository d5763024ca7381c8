// What the updater knows of its maintenance schedule, in one word reported
// to the coordinator: operators then see why a host updated outside a window
// (no schedule found means "update as soon as possible").
#pragma once

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "agent-updater/triggers/schedule.h"
#include "drover/v1/types.pb.h"

namespace drover::updater {

// `loaded`: the schedule the pass uses (nullopt: none usable). When
// `schedule_file` is set it is the schedule: a missing file is MISSING, one
// that cannot be read or parsed UNREADABLE; otherwise the channel's windows
// are (none: NONE).
v1::ScheduleState ScheduleStateOf(const std::string& schedule_file, const std::optional<Schedule>& loaded,
                                  absl::Time now);

// For `drover-updater check`: what is wrong with a configured schedule file
// (missing, unreadable, malformed, no current or future window), or nullopt.
std::optional<std::string> ScheduleFileWarning(const std::string& schedule_file, absl::Time now);

}  // namespace drover::updater
