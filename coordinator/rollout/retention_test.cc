#include "coordinator/rollout/retention.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace drover::rollout {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

absl::Time Utc(int y, int m, int d, int hh = 0, int mm = 0) {
  return absl::FromCivil(absl::CivilMinute(y, m, d, hh, mm), absl::UTCTimeZone());
}

TEST(RetentionTest, PeriodsAreUtcDaysAndMonths) {
  const absl::Time t = Utc(2026, 12, 31, 23, 59);
  EXPECT_EQ(PeriodOf(t, PartitionPeriod::kDay), (PartitionRange{Utc(2026, 12, 31), Utc(2027, 1, 1)}));
  EXPECT_EQ(PeriodOf(t, PartitionPeriod::kMonth), (PartitionRange{Utc(2026, 12, 1), Utc(2027, 1, 1)}));
  // February of a leap year, and a bound belongs to the period it starts.
  EXPECT_EQ(NextPeriod(PeriodOf(Utc(2028, 1, 15), PartitionPeriod::kMonth), PartitionPeriod::kMonth),
            (PartitionRange{Utc(2028, 2, 1), Utc(2028, 3, 1)}));
  EXPECT_EQ(PeriodOf(Utc(2026, 12, 7), PartitionPeriod::kDay).from, Utc(2026, 12, 7));
}

TEST(RetentionTest, PartitionNamesSortByTime) {
  EXPECT_EQ(PartitionName("update_events", PeriodOf(Utc(2026, 3, 4, 5), PartitionPeriod::kDay), PartitionPeriod::kDay),
            "update_events_p20260304");
  EXPECT_EQ(PartitionName("audit_events", PeriodOf(Utc(2026, 3, 4), PartitionPeriod::kMonth),
                          PartitionPeriod::kMonth),
            "audit_events_p202603");
}

TEST(RetentionTest, AFreshTableGetsTheCurrentPeriodAndThoseAhead) {
  const PartitionPlan plan = PlanPartitions({}, Utc(2026, 12, 7, 10), UpdateEventsRetention(absl::Hours(24 * 90)));
  ASSERT_EQ(plan.create.size(), 8u);
  EXPECT_EQ(plan.create.front(), (PartitionRange{Utc(2026, 12, 7), Utc(2026, 12, 8)}));
  EXPECT_EQ(plan.create.back(), (PartitionRange{Utc(2026, 12, 14), Utc(2026, 12, 15)}));
  EXPECT_THAT(plan.drop, IsEmpty());
}

TEST(RetentionTest, OnlyMissingPeriodsAreCreatedAndOverlapsAreLeftAlone) {
  const RetentionPolicy policy{.period = PartitionPeriod::kDay, .ahead = 3, .keep = absl::ZeroDuration()};
  // Today exists; tomorrow is covered by a hand-made partition spanning two days.
  const std::vector<PartitionRange> existing = {{Utc(2026, 12, 7), Utc(2026, 12, 8)},
                                                {Utc(2026, 12, 8, 12), Utc(2026, 12, 9, 12)}};
  const PartitionPlan plan = PlanPartitions(existing, Utc(2026, 12, 7, 10), policy);
  EXPECT_THAT(plan.create, ElementsAre(PartitionRange{Utc(2026, 12, 10), Utc(2026, 12, 11)}));
}

TEST(RetentionTest, PeriodsMissedSinceTheNewestPartitionAreMadeUnlessAlreadyPastTheRetention) {
  // Maintenance stopped on 12-01; on 12-05 the days in between get their
  // partitions (their rows wait in the default partition), except those
  // wholly past a two-day retention.
  const std::vector<PartitionRange> existing = {{Utc(2026, 11, 30), Utc(2026, 12, 1)},
                                                {Utc(2026, 12, 1), Utc(2026, 12, 2)}};
  const RetentionPolicy policy{.period = PartitionPeriod::kDay, .ahead = 1, .keep = absl::Hours(48)};
  const PartitionPlan plan = PlanPartitions(existing, Utc(2026, 12, 5, 10), policy);
  EXPECT_THAT(plan.create, ElementsAre(PartitionRange{Utc(2026, 12, 3), Utc(2026, 12, 4)},
                                       PartitionRange{Utc(2026, 12, 4), Utc(2026, 12, 5)},
                                       PartitionRange{Utc(2026, 12, 5), Utc(2026, 12, 6)},
                                       PartitionRange{Utc(2026, 12, 6), Utc(2026, 12, 7)}));
  EXPECT_EQ(plan.drop.size(), 2u);
  // Kept for ever: every missed day.
  const RetentionPolicy forever{.period = PartitionPeriod::kDay, .ahead = 0, .keep = absl::ZeroDuration()};
  EXPECT_EQ(PlanPartitions(existing, Utc(2026, 12, 5, 10), forever).create.size(), 4u);
}

TEST(RetentionTest, PartitionsEntirelyPastTheRetentionAreDropped) {
  const RetentionPolicy policy = UpdateEventsRetention(absl::Hours(24 * 2));
  const absl::Time now = Utc(2026, 12, 7, 10);
  const std::vector<PartitionRange> existing = {
      {Utc(2026, 12, 5), Utc(2026, 12, 6)},  // ends at 12-06 00:00, cutoff 12-05 10:00: kept
      {Utc(2026, 12, 3), Utc(2026, 12, 4)},  // dropped
      {Utc(2026, 12, 4), Utc(2026, 12, 5)},  // ends at the cutoff's day start: dropped
      {Utc(2026, 12, 7), Utc(2026, 12, 8)}};
  const PartitionPlan plan = PlanPartitions(existing, now, policy);
  EXPECT_THAT(plan.drop, ElementsAre(PartitionRange{Utc(2026, 12, 3), Utc(2026, 12, 4)},
                                     PartitionRange{Utc(2026, 12, 4), Utc(2026, 12, 5)}));
}

TEST(RetentionTest, KeepingForEverDropsNothing) {
  const std::vector<PartitionRange> existing = {{Utc(2000, 1, 1), Utc(2000, 2, 1)}};
  EXPECT_THAT(PlanPartitions(existing, Utc(2026, 12, 7), AuditEventsRetention(absl::ZeroDuration())).drop,
              IsEmpty());
}

TEST(RetentionTest, NothingReachingIntoTheCurrentPeriodIsDropped) {
  // Validation keeps retention at two periods or more; the plan holds even
  // without it: of two partitions wholly older than an hour, the one made
  // by hand inside today stays.
  const RetentionPolicy policy{.period = PartitionPeriod::kDay, .ahead = 0, .keep = absl::Hours(1)};
  const std::vector<PartitionRange> existing = {{Utc(2026, 12, 7), Utc(2026, 12, 8)},
                                                {Utc(2026, 12, 8), Utc(2026, 12, 8, 0, 30)}};
  EXPECT_THAT(PlanPartitions(existing, Utc(2026, 12, 8, 2), policy).drop,
              ElementsAre(PartitionRange{Utc(2026, 12, 7), Utc(2026, 12, 8)}));
}

TEST(RetentionTest, FlagsAreCheckedAndTheErrorNamesFlagAndValue) {
  EXPECT_TRUE(ValidateRetention("event_retention", absl::ZeroDuration(), PartitionPeriod::kDay).ok());
  EXPECT_TRUE(ValidateRetention("event_retention", kDefaultEventRetention, PartitionPeriod::kDay).ok());
  EXPECT_TRUE(ValidateRetention("audit_retention", kDefaultAuditRetention, PartitionPeriod::kMonth).ok());
  const absl::Status short_events = ValidateRetention("event_retention", absl::Hours(12), PartitionPeriod::kDay);
  EXPECT_THAT(short_events.message(), HasSubstr("--event_retention=12h must be 0 (keep for ever) or between 48h"));
  const absl::Status short_audit = ValidateRetention("audit_retention", absl::Hours(24 * 30), PartitionPeriod::kMonth);
  EXPECT_THAT(short_audit.message(), HasSubstr("--audit_retention=720h"));
  EXPECT_THAT(short_audit.message(), HasSubstr("1344h (two monthly partitions)"));
  EXPECT_FALSE(ValidateRetention("event_retention", -absl::Hours(1), PartitionPeriod::kDay).ok());
  EXPECT_FALSE(ValidateRetention("event_retention", kMaxRetention + absl::Hours(1), PartitionPeriod::kDay).ok());

  EXPECT_TRUE(ValidateForgetAfter("forget_agents_after", absl::ZeroDuration()).ok());
  EXPECT_TRUE(ValidateForgetAfter("forget_agents_after", kDefaultForgetAgentsAfter).ok());
  EXPECT_THAT(ValidateForgetAfter("forget_agents_after", absl::Hours(1)).message(),
              HasSubstr("--forget_agents_after=1h must be 0 (never) or between 24h and"));
  EXPECT_FALSE(ValidateForgetAfter("forget_agents_after", -absl::Hours(48)).ok());
}

TEST(RetentionTest, ForgettingCutoff) {
  EXPECT_EQ(ForgetAgentsCutoff(Utc(2026, 12, 31), kDefaultForgetAgentsAfter), Utc(2026, 12, 1));
  EXPECT_EQ(ForgetAgentsCutoff(Utc(2026, 12, 31), absl::ZeroDuration()), absl::InfinitePast());
}

}  // namespace
}  // namespace drover::rollout
