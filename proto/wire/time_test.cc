#include "proto/wire/time.h"

#include <gtest/gtest.h>

namespace drover::wire {
namespace {

TEST(TimeProtoTest, RoundTripsToTheNanosecond) {
  for (absl::Time t : {absl::UnixEpoch(), absl::FromUnixNanos(1764000000123456789),
                       absl::FromUnixSeconds(946684800), absl::FromUnixNanos(-1)}) {
    google::protobuf::Timestamp p;
    TimeToProto(t, &p);
    EXPECT_GE(p.nanos(), 0);
    EXPECT_LE(p.nanos(), 999999999);
    EXPECT_EQ(TimeFromProto(p), t);
  }
}

TEST(TimeToProtoTest, SplitsNegativeTimesIntoNonNegativeNanos) {
  google::protobuf::Timestamp ts;
  TimeToProto(absl::FromUnixNanos(-1), &ts);
  EXPECT_EQ(ts.seconds(), -1);
  EXPECT_EQ(ts.nanos(), 999999999);
  TimeToProto(absl::FromUnixNanos(1500000000), &ts);
  EXPECT_EQ(ts.seconds(), 1);
  EXPECT_EQ(ts.nanos(), 500000000);
}

TEST(DurationToProtoTest, SplitsSecondsAndNanos) {
  google::protobuf::Duration d;
  DurationToProto(absl::Milliseconds(90500), &d);
  EXPECT_EQ(d.seconds(), 90);
  EXPECT_EQ(d.nanos(), 500000000);
}

TEST(TimeProtoTest, AnUnsetTimestampIsTheEpoch) {
  EXPECT_EQ(TimeFromProto(google::protobuf::Timestamp()), absl::UnixEpoch());
}

TEST(DurationProtoTest, RoundTripsToTheNanosecond) {
  for (absl::Duration d : {absl::ZeroDuration(), absl::Milliseconds(1500), absl::Hours(24),
                           absl::Nanoseconds(-1500000001)}) {
    google::protobuf::Duration p;
    DurationToProto(d, &p);
    EXPECT_EQ(DurationFromProto(p), d) << absl::FormatDuration(d);
  }
  google::protobuf::Duration p;
  DurationToProto(absl::Milliseconds(1500), &p);
  EXPECT_EQ(p.seconds(), 1);
  EXPECT_EQ(p.nanos(), 500000000);
  // Seconds and nanos carry the same sign, as the Duration type requires.
  DurationToProto(absl::Milliseconds(-1500), &p);
  EXPECT_EQ(p.seconds(), -1);
  EXPECT_EQ(p.nanos(), -500000000);
}

TEST(DurationProtoTest, ZeroTakesTheFallback) {
  google::protobuf::Duration p;
  EXPECT_EQ(DurationFromProtoOr(p, absl::Seconds(7)), absl::Seconds(7));
  p.set_nanos(1);
  EXPECT_EQ(DurationFromProtoOr(p, absl::Seconds(7)), absl::Nanoseconds(1));
}

TEST(WindowProtoTest, RoundTrips) {
  MaintenanceWindow w;
  w.weekdays = {1, 3, 5};
  w.utc_start_hour = 22;
  w.duration = absl::Minutes(90);
  v1::MaintenanceWindow p;
  WindowToProto(w, &p);
  ASSERT_EQ(p.weekdays_size(), 3);
  EXPECT_EQ(p.weekdays(0), v1::WEEKDAY_MONDAY);
  EXPECT_EQ(p.utc_start_hour(), 22u);
  EXPECT_EQ(p.duration().seconds(), 5400);
  EXPECT_EQ(WindowFromProto(p), w);
}

TEST(WindowProtoTest, KeepsWhatValidateRefuses) {
  v1::MaintenanceWindow p;
  p.set_utc_start_hour(24);
  p.mutable_duration()->set_seconds(90);
  MaintenanceWindow w = WindowFromProto(p);
  EXPECT_EQ(w.utc_start_hour, 24);
  EXPECT_EQ(w.duration, absl::Seconds(90));
  EXPECT_FALSE(w.Validate().ok());
  // Too large for an int: never taken for a small hour.
  p.set_utc_start_hour(4294967295u);
  EXPECT_FALSE(WindowFromProto(p).Validate().ok());
}

}  // namespace
}  // namespace drover::wire
