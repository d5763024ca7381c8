#include "proto/wire/time.h"

#include <cstdint>
#include <limits>

namespace drover::wire {

absl::Time TimeFromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

absl::Duration DurationFromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

absl::Duration DurationFromProtoOr(const google::protobuf::Duration& d, absl::Duration fallback) {
  const absl::Duration value = DurationFromProto(d);
  return value == absl::ZeroDuration() ? fallback : value;
}

void TimeToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t nanos = absl::ToUnixNanos(t);
  int64_t seconds = nanos / 1000000000;
  int64_t rem = nanos % 1000000000;
  if (rem < 0) {
    rem += 1000000000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(rem));
}

void DurationToProto(absl::Duration d, google::protobuf::Duration* out) {
  out->set_seconds(absl::IDivDuration(d, absl::Seconds(1), &d));
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
}

MaintenanceWindow WindowFromProto(const v1::MaintenanceWindow& window) {
  MaintenanceWindow w;
  for (int d : window.weekdays()) w.weekdays.push_back(d);
  w.utc_start_hour = window.utc_start_hour() > static_cast<uint32_t>(std::numeric_limits<int>::max())
                         ? -1
                         : static_cast<int>(window.utc_start_hour());
  w.duration = DurationFromProto(window.duration());
  return w;
}

void WindowToProto(const MaintenanceWindow& window, v1::MaintenanceWindow* out) {
  for (int d : window.weekdays) out->add_weekdays(static_cast<v1::Weekday>(d));
  out->set_utc_start_hour(static_cast<uint32_t>(window.utc_start_hour));
  DurationToProto(window.duration, out->mutable_duration());
}

}  // namespace drover::wire
