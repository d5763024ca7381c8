// The maintenance schedule a Teleport agent on Kubernetes exports: key
// `agent-maintenance-schedule` of the Secret `<agent>-shared-state`, holding
// {"windows":[{"start":"<RFC3339>","stop":"<RFC3339>"}]} or the word "nop".
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent-updater/triggers/schedule.h"

namespace drover::updater::kube {

inline constexpr char kScheduleKey[] = "agent-maintenance-schedule";
inline constexpr char kSharedStateSuffix[] = "-shared-state";

// "nop" -> Schedule{nop}; "" or {"windows":[]} -> no window at all (the
// agent blanked it: update as soon as possible); InvalidArgument naming the
// bad window for anything else that is not the format above.
absl::StatusOr<Schedule> ParseKubeSchedule(absl::string_view text);

// The same schedule in the systemd updater's schedule-file format (see
// triggers/schedule.h), so the host updater's pass reads it unchanged.
std::string ToTeleportScheduleFile(const Schedule& schedule, absl::string_view origin);

}  // namespace drover::updater::kube
