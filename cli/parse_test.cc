#include "cli/parse.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "common/api_limits.h"

namespace drover::cli {
namespace {

v1::MaintenanceWindow One(const std::string& spec) {
  absl::StatusOr<std::vector<v1::MaintenanceWindow>> w = ParseWindowSpecs({spec});
  EXPECT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w.ok() ? w->size() : 0, 1u);
  return w.ok() && !w->empty() ? (*w)[0] : v1::MaintenanceWindow();
}

TEST(WindowSpecTest, ParsesDailyAndDayLists) {
  v1::MaintenanceWindow daily = One("daily 02:00 1h");
  EXPECT_EQ(daily.weekdays_size(), 0);
  EXPECT_EQ(daily.utc_start_hour(), 2u);
  EXPECT_EQ(daily.duration().seconds(), 3600);

  v1::MaintenanceWindow two = One("thu,Mon 22:00 90m");
  ASSERT_EQ(two.weekdays_size(), 2);
  EXPECT_EQ(two.weekdays(0), v1::WEEKDAY_MONDAY);  // sorted
  EXPECT_EQ(two.weekdays(1), v1::WEEKDAY_THURSDAY);
  EXPECT_EQ(two.duration().seconds(), 90 * 60);

  EXPECT_EQ(One("mon-fri 23:00 2h").weekdays_size(), 5);
  v1::MaintenanceWindow wrap = One("fri-mon 0:00 24h");
  ASSERT_EQ(wrap.weekdays_size(), 4);
  EXPECT_EQ(wrap.weekdays(0), v1::WEEKDAY_MONDAY);
  EXPECT_EQ(wrap.weekdays(3), v1::WEEKDAY_SUNDAY);
  EXPECT_EQ(One("mon, thu 22:00 1h30m").weekdays_size(), 2);
}

TEST(WindowSpecTest, AcceptsSpecsSplitByTheShell) {
  absl::StatusOr<std::vector<v1::MaintenanceWindow>> w =
      ParseWindowSpecs({"daily", "02:00", "1h", "sat,sun 10:00 4h"});
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->size(), 2u);
}

TEST(WindowSpecTest, RejectsBadSpecsQuotingThem) {
  for (const auto& [spec, mentions] : std::vector<std::pair<std::string, std::string>>{
           {"daily 02:30 1h", "not on the hour"},
           {"daily 24:00 1h", "24"},
           {"daily 2am 1h", "2am"},
           {"someday 02:00 1h", "someday"},
           {"daily 02:00 25h", "25h"},
           {"daily 02:00 90s", "90s"},
           {"daily 02:00 soon", "soon"},
           {"daily 02:00", "three words"},
           {"", "no window"}}) {
    absl::StatusOr<std::vector<v1::MaintenanceWindow>> w = ParseWindowSpecs({spec});
    ASSERT_FALSE(w.ok()) << spec;
    EXPECT_TRUE(absl::StrContains(w.status().message(), mentions)) << spec << ": " << w.status();
    EXPECT_TRUE(absl::StrContains(w.status().message(), "daily 02:00 1h")) << w.status();  // shows the form
  }
}

TEST(WindowSpecTest, FormatRoundTrips) {
  for (const char* spec : {"daily 02:00 1h", "mon,thu 22:00 1h30m", "sat,sun 00:00 24h"}) {
    EXPECT_EQ(FormatWindowSpec(One(spec)), spec);
  }
}

TEST(ParseValueTest, DurationsAndCounts) {
  EXPECT_EQ(*ParseDurationValue("poll-interval", "90s", absl::Seconds(1), absl::Hours(24)), absl::Seconds(90));
  absl::StatusOr<absl::Duration> bad = ParseDurationValue("poll-interval", "90", absl::Seconds(1), absl::Hours(24));
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "--poll-interval=90")) << bad.status();
  EXPECT_FALSE(ParseDurationValue("poll-interval", "25h", absl::Seconds(1), absl::Hours(24)).ok());
  EXPECT_EQ(*ParseCount("limit", "5", 1, 1000), 5);
  EXPECT_FALSE(ParseCount("limit", "0", 1, 1000).ok());
}

// The coordinator's bounds (common/api_limits.h), and never a silent rounding.
TEST(ParseValueTest, PollIntervalsAreTheCoordinatorsAndWholeMilliseconds) {
  EXPECT_EQ(*ParsePollInterval("--poll-interval=", "1.5s"), absl::Milliseconds(1500));
  EXPECT_EQ(*ParsePollInterval("--poll-interval=", "24h"), kMaxPollInterval);
  absl::StatusOr<absl::Duration> fine = ParsePollInterval("--poll-interval=", "1.0005s");
  ASSERT_FALSE(fine.ok());
  EXPECT_TRUE(absl::StrContains(fine.status().message(), "--poll-interval=1.0005s is finer than a millisecond"))
      << fine.status();
  absl::StatusOr<absl::Duration> low = ParsePollInterval("poll interval ", "999ms");
  ASSERT_FALSE(low.ok());
  EXPECT_EQ(low.status().message(), "poll interval 999ms is out of range; use 1s to 24h");
  EXPECT_FALSE(ParsePollInterval("poll interval ", "x").ok());
  EXPECT_FALSE(ParseCount("limit", "0", 1, 1000).ok());
  EXPECT_FALSE(ParseCount("limit", "x", 1, 1000).ok());
}

}  // namespace
}  // namespace drover::cli
