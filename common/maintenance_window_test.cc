#include "common/maintenance_window.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/civil_time.h"
#include "common/status_testing.h"

namespace drover {
namespace {

using ::drover::testing::IsError;

// 2026-11-23 is a Monday; the week runs to Sunday 2026-11-29.
absl::Time At(int day, int hour, int minute = 0, int second = 0) {
  return absl::FromCivil(absl::CivilSecond(2026, 11, day, hour, minute, second), absl::UTCTimeZone());
}

MaintenanceWindow Window(std::vector<int> weekdays, int hour, absl::Duration duration) {
  MaintenanceWindow w;
  w.weekdays = std::move(weekdays);
  w.utc_start_hour = hour;
  w.duration = duration;
  return w;
}

std::string Format(absl::Time t) { return absl::FormatTime("%a %Y-%m-%d %H:%M:%S", t, absl::UTCTimeZone()); }

std::string Format(const TimeRange& r) { return Format(r.start) + " .. " + Format(r.end); }

TEST(UtcWeekdayTest, MondayIsOneSundayIsSeven) {
  EXPECT_EQ(UtcWeekday(At(23, 0)), 1);
  EXPECT_EQ(UtcWeekday(At(23, 23, 59, 59)), 1);
  EXPECT_EQ(UtcWeekday(At(24, 0)), 2);
  EXPECT_EQ(UtcWeekday(At(28, 12)), 6);
  EXPECT_EQ(UtcWeekday(At(29, 12)), 7);
  EXPECT_EQ(UtcWeekday(At(30, 0)), 1);
}

TEST(MaintenanceWindowValidateTest, AcceptsValidWindows) {
  EXPECT_TRUE(Window({}, 0, absl::Hours(1)).Validate().ok());
  EXPECT_TRUE(Window({1, 2, 3, 4, 5, 6, 7}, 23, absl::Minutes(1)).Validate().ok());
  EXPECT_TRUE(Window({1, 3, 5}, 2, absl::Hours(24)).Validate().ok());
  EXPECT_TRUE(Window({7}, 12, absl::Minutes(90)).Validate().ok());
}

TEST(MaintenanceWindowValidateTest, RejectsWeekdayOutOfRange) {
  EXPECT_TRUE(IsError(Window({0}, 2, absl::Hours(1)).Validate(), absl::StatusCode::kInvalidArgument,
                      {"weekday 0"}));
  EXPECT_TRUE(IsError(Window({1, 8}, 2, absl::Hours(1)).Validate(), absl::StatusCode::kInvalidArgument,
                      {"weekday 8"}));
  EXPECT_TRUE(IsError(Window({-1}, 2, absl::Hours(1)).Validate(), absl::StatusCode::kInvalidArgument,
                      {"weekday -1"}));
}

TEST(MaintenanceWindowValidateTest, RejectsRepeatedOrUnorderedWeekdays) {
  EXPECT_TRUE(IsError(Window({1, 1}, 2, absl::Hours(1)).Validate(), absl::StatusCode::kInvalidArgument,
                      {"Mon", "repeated"}));
  EXPECT_TRUE(IsError(Window({3, 1}, 2, absl::Hours(1)).Validate(), absl::StatusCode::kInvalidArgument,
                      {"Mon", "out of order"}));
  EXPECT_TRUE(IsError(Window({1, 5, 3}, 2, absl::Hours(1)).Validate(), absl::StatusCode::kInvalidArgument,
                      {"Wed"}));
}

TEST(MaintenanceWindowValidateTest, RejectsHourOutOfRange) {
  EXPECT_TRUE(IsError(Window({}, 24, absl::Hours(1)).Validate(), absl::StatusCode::kInvalidArgument,
                      {"utc_start_hour 24"}));
  EXPECT_TRUE(IsError(Window({}, -1, absl::Hours(1)).Validate(), absl::StatusCode::kInvalidArgument,
                      {"utc_start_hour -1"}));
}

TEST(MaintenanceWindowValidateTest, RejectsBadDurationNamingIt) {
  EXPECT_TRUE(IsError(Window({}, 2, absl::ZeroDuration()).Validate(), absl::StatusCode::kInvalidArgument,
                      {"duration 0 "}));
  EXPECT_TRUE(IsError(Window({}, 2, absl::Seconds(30)).Validate(), absl::StatusCode::kInvalidArgument,
                      {"duration 30s"}));
  EXPECT_TRUE(IsError(Window({}, 2, absl::Hours(25)).Validate(), absl::StatusCode::kInvalidArgument,
                      {"duration 25h"}));
  EXPECT_TRUE(IsError(Window({}, 2, absl::Seconds(90)).Validate(), absl::StatusCode::kInvalidArgument,
                      {"duration 1m30s"}));
  EXPECT_TRUE(IsError(Window({}, 2, absl::Hours(24) + absl::Minutes(1)).Validate(),
                      absl::StatusCode::kInvalidArgument, {"duration 24h1m"}));
  EXPECT_TRUE(IsError(Window({}, 2, -absl::Hours(1)).Validate(), absl::StatusCode::kInvalidArgument,
                      {"duration -1h"}));
}

TEST(MaintenanceWindowContainsTest, StartIsInclusiveEndExclusive) {
  MaintenanceWindow w = Window({1}, 2, absl::Hours(1));  // Mon 02:00-03:00
  EXPECT_FALSE(w.Contains(At(23, 1, 59, 59)));
  EXPECT_TRUE(w.Contains(At(23, 2)));
  EXPECT_TRUE(w.Contains(At(23, 2, 59, 59)));
  EXPECT_TRUE(w.Contains(At(23, 3) - absl::Nanoseconds(1)));
  EXPECT_FALSE(w.Contains(At(23, 3)));
}

TEST(MaintenanceWindowContainsTest, CrossesMidnightIntoTheNextDay) {
  MaintenanceWindow w = Window({1}, 23, absl::Hours(2));  // Mon 23:00 - Tue 01:00
  EXPECT_FALSE(w.Contains(At(23, 22, 59)));
  EXPECT_TRUE(w.Contains(At(23, 23)));
  EXPECT_TRUE(w.Contains(At(24, 0)));
  EXPECT_TRUE(w.Contains(At(24, 0, 30)));
  EXPECT_TRUE(w.Contains(At(24, 0, 59, 59)));
  EXPECT_FALSE(w.Contains(At(24, 1)));
  // Tuesday is not a start day, so Tuesday night is outside.
  EXPECT_FALSE(w.Contains(At(24, 23, 30)));
  EXPECT_FALSE(w.Contains(At(25, 0, 30)));
  // Sunday night is not a start day either; next Monday night is.
  EXPECT_FALSE(w.Contains(At(29, 23, 30)));
  EXPECT_FALSE(w.Contains(At(30, 0, 30)));
  EXPECT_TRUE(w.Contains(At(30, 23, 30)));
}

TEST(MaintenanceWindowContainsTest, FullDayWindowReachesTheSameHourNextDay) {
  MaintenanceWindow w = Window({1}, 12, absl::Hours(24));  // Mon 12:00 - Tue 12:00
  EXPECT_FALSE(w.Contains(At(23, 11, 59)));
  EXPECT_TRUE(w.Contains(At(23, 12)));
  EXPECT_TRUE(w.Contains(At(24, 11, 59, 59)));
  EXPECT_FALSE(w.Contains(At(24, 12)));
}

TEST(MaintenanceWindowContainsTest, FiltersByWeekday) {
  MaintenanceWindow w = Window({2, 4}, 10, absl::Hours(1));  // Tue and Thu 10:00-11:00
  EXPECT_FALSE(w.Contains(At(23, 10, 30)));  // Mon
  EXPECT_TRUE(w.Contains(At(24, 10, 30)));   // Tue
  EXPECT_FALSE(w.Contains(At(25, 10, 30)));  // Wed
  EXPECT_TRUE(w.Contains(At(26, 10, 30)));   // Thu
  EXPECT_FALSE(w.Contains(At(27, 10, 30)));  // Fri
  EXPECT_FALSE(w.Contains(At(28, 10, 30)));  // Sat
  EXPECT_FALSE(w.Contains(At(29, 10, 30)));  // Sun
}

TEST(MaintenanceWindowContainsTest, EmptyWeekdaysMeansEveryDay) {
  MaintenanceWindow w = Window({}, 2, absl::Hours(1));
  for (int day = 23; day <= 29; ++day) {
    SCOPED_TRACE(day);
    EXPECT_FALSE(w.Contains(At(day, 1, 59)));
    EXPECT_TRUE(w.Contains(At(day, 2, 30)));
    EXPECT_FALSE(w.Contains(At(day, 3)));
  }
  MaintenanceWindow always = Window({}, 0, absl::Hours(24));
  EXPECT_TRUE(always.Contains(At(23, 0)));
  EXPECT_TRUE(always.Contains(At(25, 23, 59, 59)));
}

TEST(InAnyWindowTest, TrueWhenAnyWindowContains) {
  std::vector<MaintenanceWindow> windows = {Window({1}, 2, absl::Hours(1)), Window({3}, 4, absl::Hours(1))};
  EXPECT_TRUE(InAnyWindow(windows, At(23, 2, 30)));
  EXPECT_TRUE(InAnyWindow(windows, At(25, 4, 30)));
  EXPECT_FALSE(InAnyWindow(windows, At(23, 4, 30)));
  EXPECT_FALSE(InAnyWindow({}, At(23, 2, 30)));
}

TEST(NextOccurrenceTest, InsideReturnsTheCurrentOccurrence) {
  MaintenanceWindow w = Window({1, 3}, 2, absl::Hours(1));
  EXPECT_EQ(w.NextOccurrence(At(23, 2, 30)), (TimeRange{At(23, 2), At(23, 3)}))
      << Format(w.NextOccurrence(At(23, 2, 30)));
  EXPECT_EQ(w.NextOccurrence(At(23, 2)), (TimeRange{At(23, 2), At(23, 3)}));
}

TEST(NextOccurrenceTest, BeforeReturnsTodaysOccurrence) {
  MaintenanceWindow w = Window({1, 3}, 2, absl::Hours(1));
  EXPECT_EQ(w.NextOccurrence(At(23, 0)), (TimeRange{At(23, 2), At(23, 3)}))
      << Format(w.NextOccurrence(At(23, 0)));
  EXPECT_EQ(w.NextOccurrence(At(23, 1, 59, 59)), (TimeRange{At(23, 2), At(23, 3)}));
}

TEST(NextOccurrenceTest, AfterReturnsTheNextRunningDay) {
  MaintenanceWindow w = Window({1, 3}, 2, absl::Hours(1));
  // The end is exclusive: at 03:00 Monday's occurrence is over.
  EXPECT_EQ(w.NextOccurrence(At(23, 3)), (TimeRange{At(25, 2), At(25, 3)}))
      << Format(w.NextOccurrence(At(23, 3)));
  EXPECT_EQ(w.NextOccurrence(At(23, 5)), (TimeRange{At(25, 2), At(25, 3)}));
  // After Wednesday's, the next is Monday of the following week.
  EXPECT_EQ(w.NextOccurrence(At(25, 4)), (TimeRange{At(30, 2), At(30, 3)}))
      << Format(w.NextOccurrence(At(25, 4)));
}

TEST(NextOccurrenceTest, WeeklyWindowJustMissedIsAWeekAway) {
  MaintenanceWindow w = Window({1}, 0, absl::Hours(1));
  EXPECT_EQ(w.NextOccurrence(At(23, 1)), (TimeRange{At(30, 0), At(30, 1)}))
      << Format(w.NextOccurrence(At(23, 1)));
  MaintenanceWindow sunday = Window({7}, 0, absl::Hours(1));
  EXPECT_EQ(sunday.NextOccurrence(At(23, 0)), (TimeRange{At(29, 0), At(29, 1)}));
}

TEST(NextOccurrenceTest, OccurrenceStartedYesterdayStillCounts) {
  MaintenanceWindow w = Window({1}, 23, absl::Hours(2));
  EXPECT_EQ(w.NextOccurrence(At(24, 0, 30)), (TimeRange{At(23, 23), At(24, 1)}))
      << Format(w.NextOccurrence(At(24, 0, 30)));
  EXPECT_EQ(w.NextOccurrence(At(24, 1)), (TimeRange{At(30, 23), At(30, 23) + absl::Hours(2)}));
}

TEST(UpcomingOccurrencesTest, ListsEachOccurrenceInRange) {
  std::vector<TimeRange> got =
      UpcomingOccurrences({Window({1, 3}, 2, absl::Hours(1))}, At(23, 0), At(30, 0));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], (TimeRange{At(23, 2), At(23, 3)})) << Format(got[0]);
  EXPECT_EQ(got[1], (TimeRange{At(25, 2), At(25, 3)})) << Format(got[1]);
}

TEST(UpcomingOccurrencesTest, IncludesTheOccurrenceUnderwayAndExcludesOnesStartingAtUntil) {
  std::vector<TimeRange> got = UpcomingOccurrences({Window({}, 2, absl::Hours(1))}, At(23, 2, 30), At(24, 2));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], (TimeRange{At(23, 2), At(23, 3)})) << Format(got[0]);
}

TEST(UpcomingOccurrencesTest, MergesOverlappingWindows) {
  std::vector<TimeRange> got = UpcomingOccurrences(
      {Window({}, 2, absl::Hours(1)), Window({}, 2, absl::Minutes(90)), Window({1}, 1, absl::Hours(2))},
      At(23, 0), At(25, 0));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], (TimeRange{At(23, 1), At(23, 3, 30)})) << Format(got[0]);
  EXPECT_EQ(got[1], (TimeRange{At(24, 2), At(24, 3, 30)})) << Format(got[1]);
}

TEST(UpcomingOccurrencesTest, MergesTouchingButNotSeparateWindows) {
  std::vector<TimeRange> got = UpcomingOccurrences(
      {Window({1}, 3, absl::Hours(1)), Window({1}, 2, absl::Hours(1)), Window({1}, 5, absl::Hours(1))},
      At(23, 0), At(24, 0));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], (TimeRange{At(23, 2), At(23, 4)})) << Format(got[0]);
  EXPECT_EQ(got[1], (TimeRange{At(23, 5), At(23, 6)})) << Format(got[1]);
}

TEST(UpcomingOccurrencesTest, MergesAcrossMidnight) {
  std::vector<TimeRange> got = UpcomingOccurrences(
      {Window({1}, 23, absl::Hours(2)), Window({2}, 0, absl::Minutes(30)), Window({2}, 1, absl::Hours(1))},
      At(23, 0), At(25, 0));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], (TimeRange{At(23, 23), At(24, 2)})) << Format(got[0]);
}

TEST(UpcomingOccurrencesTest, BackToBackDailyFullDaysBecomeOneRange) {
  std::vector<TimeRange> got = UpcomingOccurrences({Window({}, 0, absl::Hours(24))}, At(23, 0), At(26, 0));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], (TimeRange{At(23, 0), At(26, 0)})) << Format(got[0]);
}

TEST(UpcomingOccurrencesTest, EmptyWithoutWindowsOrRange) {
  EXPECT_TRUE(UpcomingOccurrences({}, At(23, 0), At(30, 0)).empty());
  EXPECT_TRUE(UpcomingOccurrences({Window({}, 2, absl::Hours(1))}, At(23, 0), At(23, 0)).empty());
  EXPECT_TRUE(UpcomingOccurrences({Window({}, 2, absl::Hours(1))}, At(23, 3), At(23, 12)).empty());
}

TEST(MaintenanceWindowToStringTest, ReadsLikeASchedule) {
  EXPECT_EQ(Window({1, 3}, 2, absl::Hours(1)).ToString(), "Mon,Wed 02:00 UTC +1h");
  EXPECT_EQ(Window({}, 22, absl::Minutes(30)).ToString(), "daily 22:00 UTC +30m");
}

TEST(EncodeWindowsTest, CompactForm) {
  EXPECT_EQ(EncodeWindows({Window({1, 3, 5}, 2, absl::Hours(1)), Window({}, 22, absl::Minutes(30))}),
            "135/2/60;*/22/30");
  EXPECT_EQ(EncodeWindows({}), "");
}

TEST(EncodeWindowsTest, RoundTrips) {
  std::vector<std::vector<MaintenanceWindow>> cases = {
      {},
      {Window({}, 0, absl::Hours(24))},
      {Window({1, 3, 5}, 2, absl::Hours(1)), Window({}, 22, absl::Minutes(30))},
      {Window({1, 2, 3, 4, 5, 6, 7}, 23, absl::Minutes(1)), Window({7}, 0, absl::Minutes(1439))},
  };
  for (const std::vector<MaintenanceWindow>& windows : cases) {
    std::string text = EncodeWindows(windows);
    SCOPED_TRACE(text);
    absl::StatusOr<std::vector<MaintenanceWindow>> decoded = DecodeWindows(text);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, windows);
  }
}

class DecodeWindowsRejectsTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DecodeWindowsRejectsTest, DataLoss) {
  absl::StatusOr<std::vector<MaintenanceWindow>> decoded = DecodeWindows(GetParam());
  EXPECT_TRUE(IsError(decoded.status(), absl::StatusCode::kDataLoss, {"stored maintenance window"}));
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, DecodeWindowsRejectsTest,
    ::testing::Values("garbage", "1/2", "1/2/60/5", "1/x/60", "1/2/x", "1/2/", "//", ";",
                      "135/2/60;", ";135/2/60", "135/2/60;;*/1/5",
                      // A missing weekday field is not "every day": that is "*".
                      "/2/60",
                      // Values the window rules refuse.
                      "8/2/60", "0/2/60", "11/2/60", "31/2/60", "1/24/60", "1/-1/60", "1/2/0",
                      "1/2/1441", "1/2/-5", "a/2/60", "*1/2/60", "**/2/60"));

TEST(DecodeWindowsTest, MessageQuotesTheBadItem) {
  EXPECT_TRUE(IsError(DecodeWindows("135/2/60;1/99/60").status(), absl::StatusCode::kDataLoss,
                      {"\"1/99/60\"", "utc_start_hour 99"}));
  EXPECT_TRUE(IsError(DecodeWindows("1/2").status(), absl::StatusCode::kDataLoss, {"\"1/2\""}));
}

TEST(DecodeWindowsTest, EmptyTextIsNoWindows) {
  absl::StatusOr<std::vector<MaintenanceWindow>> decoded = DecodeWindows("");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(decoded->empty());
}

}  // namespace
}  // namespace drover
