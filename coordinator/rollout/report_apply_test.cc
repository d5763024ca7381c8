#include "coordinator/rollout/report_apply.h"

#include <limits>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace drover::rollout {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr absl::Time kNow = absl::FromUnixSeconds(1796515200);  // 2026-12-06
constexpr int64_t kNowUs = int64_t{1796515200} * 1000000;
constexpr int64_t kLeadUs = int64_t{86400} * 1000000;
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

TEST(NextRoundTest, EmptyBatchHasAnEmptyRound) {
  Round r = NextRound({}, {});
  EXPECT_THAT(r.now, IsEmpty());
  EXPECT_THAT(r.later, IsEmpty());
}

TEST(NextRoundTest, DistinctHostsAllGoNow) {
  const std::vector<std::string> hosts = {"a", "b", "c"};
  Round r = NextRound(hosts, {0, 1, 2});
  EXPECT_THAT(r.now, ElementsAre(0, 1, 2));
  EXPECT_THAT(r.later, IsEmpty());
}

TEST(NextRoundTest, RepeatedHostWaitsForTheNextRoundInOrder) {
  const std::vector<std::string> hosts = {"a", "b", "a", "a", "c", "b"};
  Round first = NextRound(hosts, {0, 1, 2, 3, 4, 5});
  EXPECT_THAT(first.now, ElementsAre(0, 1, 4));
  EXPECT_THAT(first.later, ElementsAre(2, 3, 5));
  Round second = NextRound(hosts, first.later);
  EXPECT_THAT(second.now, ElementsAre(2, 5));
  EXPECT_THAT(second.later, ElementsAre(3));
  Round third = NextRound(hosts, second.later);
  EXPECT_THAT(third.now, ElementsAre(3));
  EXPECT_THAT(third.later, IsEmpty());
}

TEST(NextRoundTest, WorksOnASubsetOfTheBatch) {
  const std::vector<std::string> hosts = {"a", "b", "a", "b"};
  Round r = NextRound(hosts, {2, 3});
  EXPECT_THAT(r.now, ElementsAre(2, 3));
  EXPECT_THAT(r.later, IsEmpty());
}

TEST(ClassifyNotAppliedTest, UnknownChannelWinsOverEverything) {
  EXPECT_EQ(ClassifyNotApplied(false, 5, std::nullopt, kNow), NotApplied::kUnknownChannel);
  EXPECT_EQ(ClassifyNotApplied(false, 5, 5, kNow), NotApplied::kUnknownChannel);
}

TEST(ClassifyNotAppliedTest, SameSequenceIsDuplicate) {
  EXPECT_EQ(ClassifyNotApplied(true, 5, 5, kNow), NotApplied::kDuplicate);
}

TEST(ClassifyNotAppliedTest, LowerSequenceIsOutOfOrder) {
  EXPECT_EQ(ClassifyNotApplied(true, 4, 5, kNow), NotApplied::kOutOfOrder);
}

TEST(ClassifyNotAppliedTest, LostRacesAreRetried) {
  // Snapshot had no row, yet the insert found one: another writer's host.
  EXPECT_EQ(ClassifyNotApplied(true, 1, std::nullopt, kNow), NotApplied::kRetry);
  // Snapshot had a lower sequence, yet the update did not happen.
  EXPECT_EQ(ClassifyNotApplied(true, 6, 5, kNow), NotApplied::kRetry);
}

TEST(MaxAcceptedSequenceTest, ADayAheadOfTheLargerOfStoredAndClock) {
  EXPECT_EQ(MaxAcceptedSequence(std::nullopt, kNow), kNowUs + kLeadUs);
  EXPECT_EQ(MaxAcceptedSequence(5, kNow), kNowUs + kLeadUs);
  // A host that counts up from a sequence above the clock (its clock was fast once).
  EXPECT_EQ(MaxAcceptedSequence(kNowUs * 2, kNow), kNowUs * 2 + kLeadUs);
}

TEST(MaxAcceptedSequenceTest, SaturatesInsteadOfOverflowing) {
  EXPECT_EQ(MaxAcceptedSequence(kMax, kNow), kMax);
  EXPECT_EQ(MaxAcceptedSequence(kMax - kLeadUs + 1, kNow), kMax);
  EXPECT_EQ(MaxAcceptedSequence(kMax - kLeadUs, kNow), kMax);
}

TEST(ClassifyNotAppliedTest, ForgedInt64MaxIsTooFarAhead) {
  EXPECT_EQ(ClassifyNotApplied(true, kMax, std::nullopt, kNow), NotApplied::kSequenceTooFarAhead);
  EXPECT_EQ(ClassifyNotApplied(true, kMax, 41, kNow), NotApplied::kSequenceTooFarAhead);
  EXPECT_EQ(ClassifyNotApplied(true, kNowUs + kLeadUs + 1, kNowUs, kNow), NotApplied::kSequenceTooFarAhead);
  // At the bound: not refused for its sequence (the statement lost a race).
  EXPECT_EQ(ClassifyNotApplied(true, kNowUs + kLeadUs, kNowUs, kNow), NotApplied::kRetry);
  // An unknown channel is said first: the report names no channel to store it in.
  EXPECT_EQ(ClassifyNotApplied(false, kMax, 5, kNow), NotApplied::kUnknownChannel);
}

}  // namespace
}  // namespace drover::rollout

namespace drover::rollout {
namespace {

TEST(ApplyInstanceTest, FirstAndRepeatedReportsOfOneInstanceAreNoConflict) {
  InstanceUpdate u = ApplyInstance("", "", "a");
  EXPECT_EQ(u.instance_id, "a");
  EXPECT_FALSE(u.conflict);
  u = ApplyInstance("a", "", "a");
  EXPECT_EQ(u.instance_id, "a");
  EXPECT_EQ(u.previous_instance_id, "");
  EXPECT_FALSE(u.conflict);
}

TEST(ApplyInstanceTest, OneChangeOfInstanceIsAReinstallNotAConflict) {
  InstanceUpdate u = ApplyInstance("a", "", "b");
  EXPECT_EQ(u.instance_id, "b");
  EXPECT_EQ(u.previous_instance_id, "a");
  EXPECT_FALSE(u.conflict);
  // Reinstalled again: a third instance.
  u = ApplyInstance("b", "a", "c");
  EXPECT_EQ(u.previous_instance_id, "b");
  EXPECT_FALSE(u.conflict);
}

TEST(ApplyInstanceTest, AnInstanceReportingAgainAfterAnotherIsAClonedHostId) {
  InstanceUpdate u = ApplyInstance("b", "a", "a");
  EXPECT_EQ(u.instance_id, "a");
  EXPECT_EQ(u.previous_instance_id, "b");
  EXPECT_TRUE(u.conflict);
  EXPECT_TRUE(ApplyInstance("a", "b", "b").conflict);
}

TEST(ApplyInstanceTest, ReportsWithoutAnInstanceIdChangeNothing) {
  InstanceUpdate u = ApplyInstance("b", "a", "");
  EXPECT_EQ(u.instance_id, "b");
  EXPECT_EQ(u.previous_instance_id, "a");
  EXPECT_FALSE(u.conflict);
}

TEST(LastOutcomeTest, TheAttemptThatFinishedLastWins) {
  AgentReport r;
  EXPECT_EQ(LastOutcome(r), nullptr);
  r.outcomes.resize(3);
  r.outcomes[0].finish_time = absl::FromUnixSeconds(200);
  r.outcomes[0].result = UpdateResult::kRolledBack;
  r.outcomes[1].finish_time = absl::FromUnixSeconds(100);
  r.outcomes[2].finish_time = absl::FromUnixSeconds(200);
  r.outcomes[2].result = UpdateResult::kFailed;
  EXPECT_EQ(LastOutcome(r), &r.outcomes[2]);
}

}  // namespace
}  // namespace drover::rollout
