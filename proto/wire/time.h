// Times, durations and maintenance windows as the API carries them
// (google.protobuf.Timestamp/Duration, drover.v1.MaintenanceWindow): the one
// conversion the coordinator, drover-updater and droverctl all use.
#pragma once

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>

#include "absl/time/time.h"
#include "common/maintenance_window.h"
#include "drover/v1/types.pb.h"

namespace drover::wire {

// Exact to the nanosecond. An unset Timestamp is the Unix epoch, an unset
// Duration zero; callers that give "unset" a meaning check has_...() first.
absl::Time TimeFromProto(const google::protobuf::Timestamp& t);
absl::Duration DurationFromProto(const google::protobuf::Duration& d);
// `fallback` for a zero duration: the updater's config leaves a duration
// unset by leaving it zero.
absl::Duration DurationFromProtoOr(const google::protobuf::Duration& d, absl::Duration fallback);
// Times before the epoch keep nanos in 0..999999999, as the Timestamp type requires.
void TimeToProto(absl::Time t, google::protobuf::Timestamp* out);
void DurationToProto(absl::Duration d, google::protobuf::Duration* out);

// The window as sent, not validated (MaintenanceWindow::Validate says what
// is wrong with it); an hour too large for an int becomes -1, which Validate
// refuses.
MaintenanceWindow WindowFromProto(const v1::MaintenanceWindow& window);
void WindowToProto(const MaintenanceWindow& window, v1::MaintenanceWindow* out);

}  // namespace drover::wire
