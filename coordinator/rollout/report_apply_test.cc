#include "coordinator/rollout/report_apply.h"

#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/civil_time.h"

namespace drover::rollout {
namespace {

using Dispositions = std::vector<ReportDisposition>;

AgentReport Report(std::string host, int64_t sequence, std::string version = "1.0.0",
                   Health health = Health::kHealthy, std::string channel = "stable") {
  AgentReport r;
  r.host_id = std::move(host);
  r.channel = std::move(channel);
  r.group = "web";
  r.current_version = std::move(version);
  r.health = health;
  r.updater_version = "0.1.0";
  r.sequence = sequence;
  return r;
}

AgentState Stored(std::string host, int64_t sequence, std::string version = "1.0.0",
                  Health health = Health::kHealthy, std::string channel = "stable") {
  AgentState s;
  s.host_id = std::move(host);
  s.channel = std::move(channel);
  s.group = "web";
  s.current_version = std::move(version);
  s.health = health;
  s.updater_version = "0.1.0";
  s.sequence = sequence;
  s.first_seen = absl::FromCivil(absl::CivilDay(2026, 11, 1), absl::UTCTimeZone());
  s.last_seen = s.first_seen;
  return s;
}

UpdateOutcome Outcome(UpdateResult result, std::string to = "1.1.0") {
  UpdateOutcome o;
  o.from_version = "1.0.0";
  o.to_version = std::move(to);
  o.result = result;
  o.error = result == UpdateResult::kSucceeded ? "" : "health check failed";
  o.start_time = absl::FromCivil(absl::CivilSecond(2026, 11, 23, 2, 0, 0), absl::UTCTimeZone());
  o.finish_time = o.start_time + absl::Minutes(3);
  return o;
}

std::optional<int64_t> FleetDelta(const BatchPlan& plan, const std::string& channel,
                                  const std::string& version, Health health) {
  auto it = plan.fleet_deltas.find({channel, version, health});
  if (it == plan.fleet_deltas.end()) return std::nullopt;
  return it->second;
}

std::optional<int64_t> OutcomeDelta(const BatchPlan& plan, const std::string& channel, int64_t epoch,
                                    UpdateResult result) {
  auto it = plan.outcome_deltas.find({channel, epoch, result});
  if (it == plan.outcome_deltas.end()) return std::nullopt;
  return it->second;
}

const absl::Time kNow = absl::FromUnixSeconds(1795464000);

class PlanBatchTest : public ::testing::Test {
 protected:
  BatchPlan Plan(const std::vector<AgentReport>& reports) {
    std::vector<const AgentReport*> ptrs;
    for (const AgentReport& r : reports) ptrs.push_back(&r);
    return PlanBatch(ptrs, stored_, epochs_, kNow);
  }
  void Store(AgentState s) {
    std::string host = s.host_id;
    stored_[host] = std::move(s);
  }

  absl::flat_hash_map<std::string, AgentState> stored_;
  absl::flat_hash_map<std::string, int64_t> epochs_ = {{"stable", 7}, {"beta", 2}};
};

TEST_F(PlanBatchTest, EmptyBatchPlansNothing) {
  BatchPlan plan = Plan({});
  EXPECT_TRUE(plan.dispositions.empty());
  EXPECT_TRUE(plan.stored_sequences.empty());
  EXPECT_TRUE(plan.inserts.empty());
  EXPECT_TRUE(plan.updates.empty());
  EXPECT_TRUE(plan.fleet_deltas.empty());
}

TEST_F(PlanBatchTest, NewHostIsInsertedAndCounted) {
  BatchPlan plan = Plan({Report("h1", 3, "1.0.0", Health::kUnhealthy)});
  EXPECT_EQ(plan.dispositions, (Dispositions{ReportDisposition::kAccepted}));
  EXPECT_EQ(plan.stored_sequences, (std::vector<int64_t>{3}));
  ASSERT_EQ(plan.inserts.size(), 1u);
  EXPECT_TRUE(plan.updates.empty());
  const AgentState& s = plan.inserts[0];
  EXPECT_EQ(s.host_id, "h1");
  EXPECT_EQ(s.channel, "stable");
  EXPECT_EQ(s.group, "web");
  EXPECT_EQ(s.current_version, "1.0.0");
  EXPECT_EQ(s.health, Health::kUnhealthy);
  EXPECT_EQ(s.updater_version, "0.1.0");
  EXPECT_EQ(s.sequence, 3);
  ASSERT_EQ(plan.fleet_deltas.size(), 1u);
  EXPECT_EQ(FleetDelta(plan, "stable", "1.0.0", Health::kUnhealthy), 1);
  EXPECT_TRUE(plan.events.empty());
  EXPECT_TRUE(plan.outcome_deltas.empty());
}

TEST_F(PlanBatchTest, HigherSequenceUpdatesAndMovesCounts) {
  Store(Stored("h1", 3, "1.0.0", Health::kHealthy));
  AgentReport r = Report("h1", 4, "1.1.0", Health::kUnhealthy);
  r.group = "db";
  r.updater_version = "0.2.0";
  BatchPlan plan = Plan({r});
  EXPECT_EQ(plan.dispositions, (Dispositions{ReportDisposition::kAccepted}));
  EXPECT_EQ(plan.stored_sequences, (std::vector<int64_t>{4}));
  EXPECT_TRUE(plan.inserts.empty());
  ASSERT_EQ(plan.updates.size(), 1u);
  const AgentState& s = plan.updates[0];
  EXPECT_EQ(s.host_id, "h1");
  EXPECT_EQ(s.group, "db");
  EXPECT_EQ(s.current_version, "1.1.0");
  EXPECT_EQ(s.health, Health::kUnhealthy);
  EXPECT_EQ(s.updater_version, "0.2.0");
  EXPECT_EQ(s.sequence, 4);
  // The store owns these; the plan passes the stored values through.
  EXPECT_EQ(s.first_seen, stored_["h1"].first_seen);
  ASSERT_EQ(plan.fleet_deltas.size(), 2u);
  EXPECT_EQ(FleetDelta(plan, "stable", "1.0.0", Health::kHealthy), -1);
  EXPECT_EQ(FleetDelta(plan, "stable", "1.1.0", Health::kUnhealthy), 1);
}

TEST_F(PlanBatchTest, HealthChangeAloneMovesCounts) {
  Store(Stored("h1", 3, "1.0.0", Health::kHealthy));
  BatchPlan plan = Plan({Report("h1", 4, "1.0.0", Health::kUnhealthy)});
  ASSERT_EQ(plan.fleet_deltas.size(), 2u);
  EXPECT_EQ(FleetDelta(plan, "stable", "1.0.0", Health::kHealthy), -1);
  EXPECT_EQ(FleetDelta(plan, "stable", "1.0.0", Health::kUnhealthy), 1);
}

TEST_F(PlanBatchTest, ChannelChangeMovesCountsBetweenChannels) {
  Store(Stored("h1", 3, "1.0.0", Health::kHealthy, "stable"));
  BatchPlan plan = Plan({Report("h1", 4, "1.0.0", Health::kHealthy, "beta")});
  ASSERT_EQ(plan.updates.size(), 1u);
  EXPECT_EQ(plan.updates[0].channel, "beta");
  ASSERT_EQ(plan.fleet_deltas.size(), 2u);
  EXPECT_EQ(FleetDelta(plan, "stable", "1.0.0", Health::kHealthy), -1);
  EXPECT_EQ(FleetDelta(plan, "beta", "1.0.0", Health::kHealthy), 1);
}

TEST_F(PlanBatchTest, UnchangedCountsLeaveNoZeroDeltas) {
  Store(Stored("h1", 3));
  AgentReport r = Report("h1", 9);
  r.updater_version = "0.3.0";
  BatchPlan plan = Plan({r});
  EXPECT_EQ(plan.dispositions, (Dispositions{ReportDisposition::kAccepted}));
  ASSERT_EQ(plan.updates.size(), 1u);
  EXPECT_EQ(plan.updates[0].updater_version, "0.3.0");
  EXPECT_EQ(plan.updates[0].sequence, 9);
  EXPECT_TRUE(plan.fleet_deltas.empty());
}

TEST_F(PlanBatchTest, SameSequenceIsDuplicateAndChangesNothing) {
  Store(Stored("h1", 5, "1.0.0"));
  // Different content, same sequence: still a duplicate, nothing applies.
  AgentReport r = Report("h1", 5, "1.1.0", Health::kUnhealthy);
  r.outcomes = {Outcome(UpdateResult::kSucceeded)};
  BatchPlan plan = Plan({r});
  EXPECT_EQ(plan.dispositions, (Dispositions{ReportDisposition::kDuplicate}));
  EXPECT_EQ(plan.stored_sequences, (std::vector<int64_t>{5}));
  EXPECT_TRUE(plan.inserts.empty());
  EXPECT_TRUE(plan.updates.empty());
  EXPECT_TRUE(plan.fleet_deltas.empty());
  EXPECT_TRUE(plan.events.empty());
  EXPECT_TRUE(plan.outcome_deltas.empty());
}

TEST_F(PlanBatchTest, LowerSequenceIsOutOfOrderAndChangesNothing) {
  Store(Stored("h1", 5, "1.0.0"));
  AgentReport r = Report("h1", 4, "0.9.0");
  r.outcomes = {Outcome(UpdateResult::kFailed)};
  BatchPlan plan = Plan({r});
  EXPECT_EQ(plan.dispositions, (Dispositions{ReportDisposition::kOutOfOrder}));
  EXPECT_EQ(plan.stored_sequences, (std::vector<int64_t>{5}));
  EXPECT_TRUE(plan.inserts.empty());
  EXPECT_TRUE(plan.updates.empty());
  EXPECT_TRUE(plan.fleet_deltas.empty());
  EXPECT_TRUE(plan.events.empty());
  EXPECT_TRUE(plan.outcome_deltas.empty());
}

TEST_F(PlanBatchTest, RepeatInOneBatchIsDuplicateAndOutcomesCountOnce) {
  AgentReport r = Report("h1", 5);
  r.outcomes = {Outcome(UpdateResult::kSucceeded)};
  BatchPlan plan = Plan({r, r});
  EXPECT_EQ(plan.dispositions, (Dispositions{ReportDisposition::kAccepted, ReportDisposition::kDuplicate}));
  EXPECT_EQ(plan.stored_sequences, (std::vector<int64_t>{5, 5}));
  ASSERT_EQ(plan.inserts.size(), 1u);
  EXPECT_TRUE(plan.updates.empty());
  ASSERT_EQ(plan.fleet_deltas.size(), 1u);
  EXPECT_EQ(FleetDelta(plan, "stable", "1.0.0", Health::kHealthy), 1);
  EXPECT_EQ(plan.events.size(), 1u);
  ASSERT_EQ(plan.outcome_deltas.size(), 1u);
  EXPECT_EQ(OutcomeDelta(plan, "stable", 7, UpdateResult::kSucceeded), 1);
}

TEST_F(PlanBatchTest, LowerSequenceAfterHigherInOneBatchIsOutOfOrder) {
  Store(Stored("h1", 3, "1.0.0"));
  BatchPlan plan = Plan({Report("h1", 6, "1.1.0"), Report("h1", 4, "0.9.0")});
  EXPECT_EQ(plan.dispositions, (Dispositions{ReportDisposition::kAccepted, ReportDisposition::kOutOfOrder}));
  EXPECT_EQ(plan.stored_sequences, (std::vector<int64_t>{6, 6}));
  EXPECT_TRUE(plan.inserts.empty());
  ASSERT_EQ(plan.updates.size(), 1u);
  EXPECT_EQ(plan.updates[0].sequence, 6);
  EXPECT_EQ(plan.updates[0].current_version, "1.1.0");
  ASSERT_EQ(plan.fleet_deltas.size(), 2u);
  EXPECT_EQ(FleetDelta(plan, "stable", "1.0.0", Health::kHealthy), -1);
  EXPECT_EQ(FleetDelta(plan, "stable", "1.1.0", Health::kHealthy), 1);
}

TEST_F(PlanBatchTest, SuccessiveReportsInOneBatchNetOut) {
  Store(Stored("h1", 3, "1.0.0"));
  BatchPlan plan = Plan({Report("h1", 4, "1.1.0"), Report("h1", 5, "1.2.0")});
  EXPECT_EQ(plan.dispositions, (Dispositions{ReportDisposition::kAccepted, ReportDisposition::kAccepted}));
  EXPECT_EQ(plan.stored_sequences, (std::vector<int64_t>{4, 5}));
  ASSERT_EQ(plan.updates.size(), 1u);
  EXPECT_EQ(plan.updates[0].sequence, 5);
  EXPECT_EQ(plan.updates[0].current_version, "1.2.0");
  // 1.1.0 went +1 then -1: erased, not left as a zero.
  ASSERT_EQ(plan.fleet_deltas.size(), 2u);
  EXPECT_EQ(FleetDelta(plan, "stable", "1.0.0", Health::kHealthy), -1);
  EXPECT_EQ(FleetDelta(plan, "stable", "1.2.0", Health::kHealthy), 1);
  EXPECT_EQ(FleetDelta(plan, "stable", "1.1.0", Health::kHealthy), std::nullopt);
}

TEST_F(PlanBatchTest, NewHostReportingTwiceIsOneInsertOfItsLastState) {
  BatchPlan plan = Plan({Report("h1", 5, "1.0.0"), Report("h1", 6, "1.1.0")});
  EXPECT_EQ(plan.dispositions, (Dispositions{ReportDisposition::kAccepted, ReportDisposition::kAccepted}));
  EXPECT_TRUE(plan.updates.empty());
  ASSERT_EQ(plan.inserts.size(), 1u);
  EXPECT_EQ(plan.inserts[0].sequence, 6);
  EXPECT_EQ(plan.inserts[0].current_version, "1.1.0");
  ASSERT_EQ(plan.fleet_deltas.size(), 1u);
  EXPECT_EQ(FleetDelta(plan, "stable", "1.1.0", Health::kHealthy), 1);
}

TEST_F(PlanBatchTest, OutcomesBecomeEventsCountedUnderTheTargetEpoch) {
  AgentReport a = Report("h1", 2);
  UpdateOutcome failed = Outcome(UpdateResult::kFailed, "1.1.0");
  a.outcomes = {Outcome(UpdateResult::kSucceeded, "1.0.0"), failed};
  AgentReport b = Report("h2", 9);
  b.outcomes = {Outcome(UpdateResult::kSucceeded, "1.0.0")};
  AgentReport c = Report("h3", 1, "1.0.0", Health::kHealthy, "beta");
  c.outcomes = {Outcome(UpdateResult::kRolledBack)};
  BatchPlan plan = Plan({a, b, c});

  ASSERT_EQ(plan.events.size(), 4u);
  EXPECT_EQ(plan.events[0].host_id, "h1");
  EXPECT_EQ(plan.events[0].channel, "stable");
  EXPECT_EQ(plan.events[0].report_sequence, 2);
  EXPECT_EQ(plan.events[0].outcome.result, UpdateResult::kSucceeded);
  EXPECT_EQ(plan.events[1].outcome.result, UpdateResult::kFailed);
  EXPECT_EQ(plan.events[1].outcome.to_version, "1.1.0");
  EXPECT_EQ(plan.events[1].outcome.error, failed.error);
  EXPECT_EQ(plan.events[1].outcome.start_time, failed.start_time);
  EXPECT_EQ(plan.events[1].outcome.finish_time, failed.finish_time);
  EXPECT_EQ(plan.events[2].host_id, "h2");
  EXPECT_EQ(plan.events[2].report_sequence, 9);
  EXPECT_EQ(plan.events[3].channel, "beta");

  ASSERT_EQ(plan.outcome_deltas.size(), 3u);
  EXPECT_EQ(OutcomeDelta(plan, "stable", 7, UpdateResult::kSucceeded), 2);
  EXPECT_EQ(OutcomeDelta(plan, "stable", 7, UpdateResult::kFailed), 1);
  EXPECT_EQ(OutcomeDelta(plan, "beta", 2, UpdateResult::kRolledBack), 1);
}

TEST_F(PlanBatchTest, OutcomesCountUnderTheReportsNewChannel) {
  Store(Stored("h1", 3, "1.0.0", Health::kHealthy, "stable"));
  AgentReport r = Report("h1", 4, "1.0.0", Health::kHealthy, "beta");
  r.outcomes = {Outcome(UpdateResult::kSucceeded)};
  BatchPlan plan = Plan({r});
  ASSERT_EQ(plan.outcome_deltas.size(), 1u);
  EXPECT_EQ(OutcomeDelta(plan, "beta", 2, UpdateResult::kSucceeded), 1);
  ASSERT_EQ(plan.events.size(), 1u);
  EXPECT_EQ(plan.events[0].channel, "beta");
}

// Sorted by host id: the order rows are locked in, so batches never deadlock.
TEST_F(PlanBatchTest, MixedBatchSplitsInsertsAndUpdatesInHostOrder) {
  Store(Stored("old-b", 10, "1.0.0"));
  Store(Stored("old-a", 10, "1.0.0"));
  BatchPlan plan = Plan({Report("new-z", 1), Report("old-b", 11, "1.1.0"), Report("old-a", 10),
                         Report("new-y", 1), Report("old-a", 12, "1.1.0")});
  EXPECT_EQ(plan.dispositions,
            (Dispositions{ReportDisposition::kAccepted, ReportDisposition::kAccepted,
                          ReportDisposition::kDuplicate, ReportDisposition::kAccepted,
                          ReportDisposition::kAccepted}));
  EXPECT_EQ(plan.stored_sequences, (std::vector<int64_t>{1, 11, 10, 1, 12}));
  ASSERT_EQ(plan.inserts.size(), 2u);
  EXPECT_EQ(plan.inserts[0].host_id, "new-y");
  EXPECT_EQ(plan.inserts[1].host_id, "new-z");
  ASSERT_EQ(plan.updates.size(), 2u);
  EXPECT_EQ(plan.updates[0].host_id, "old-a");
  EXPECT_EQ(plan.updates[0].sequence, 12);
  EXPECT_EQ(plan.updates[1].host_id, "old-b");
  ASSERT_EQ(plan.fleet_deltas.size(), 1u);
  // Two new agents on 1.0.0, two old ones moved 1.0.0 -> 1.1.0.
  EXPECT_EQ(FleetDelta(plan, "stable", "1.1.0", Health::kHealthy), 2);
  EXPECT_EQ(FleetDelta(plan, "stable", "1.0.0", Health::kHealthy), std::nullopt);
}

TEST_F(PlanBatchTest, HostOnlyRejectedIsNotWritten) {
  Store(Stored("h1", 8));
  BatchPlan plan = Plan({Report("h1", 8), Report("h1", 2)});
  EXPECT_EQ(plan.dispositions, (Dispositions{ReportDisposition::kDuplicate, ReportDisposition::kOutOfOrder}));
  EXPECT_EQ(plan.stored_sequences, (std::vector<int64_t>{8, 8}));
  EXPECT_TRUE(plan.updates.empty());
  EXPECT_TRUE(plan.inserts.empty());
}

}  // namespace
}  // namespace drover::rollout

namespace drover::rollout {
namespace {

TEST(PlanBatchSeenTest, LastSeenBucketsMoveAndSequencesAreExpected) {
  const absl::Time now = absl::FromUnixSeconds(1795464005);  // bucket ...000
  absl::flat_hash_map<std::string, AgentState> stored;
  AgentState old;
  old.host_id = "h1";
  old.channel = "stable";
  old.current_version = "1.0.0";
  old.sequence = 4;
  old.last_seen = absl::FromUnixSeconds(1795463987);  // bucket ...980
  stored["h1"] = old;
  absl::flat_hash_map<std::string, int64_t> epochs{{"stable", 0}};
  AgentReport a;
  a.host_id = "h1";
  a.channel = "stable";
  a.current_version = "1.0.0";
  a.sequence = 5;
  AgentReport b = a;
  b.host_id = "h2";
  b.sequence = 1;
  AgentReport dup = a;
  dup.sequence = 4;
  BatchPlan plan = PlanBatch({&a, &b}, stored, epochs, now);
  ASSERT_EQ(plan.seen_deltas.size(), 2u);
  EXPECT_EQ((plan.seen_deltas[{"stable", absl::FromUnixSeconds(1795463980)}]), -1);
  EXPECT_EQ((plan.seen_deltas[{"stable", absl::FromUnixSeconds(1795464000)}]), 2);
  ASSERT_EQ(plan.updates.size(), 1u);
  EXPECT_EQ(plan.updates[0].last_seen, now);
  EXPECT_EQ(plan.expected_sequences, std::vector<int64_t>{4});
  // A duplicate alone does not move the agent's last_seen.
  BatchPlan none = PlanBatch({&dup}, stored, epochs, now);
  EXPECT_TRUE(none.seen_deltas.empty());
  EXPECT_TRUE(none.updates.empty());
}

}  // namespace
}  // namespace drover::rollout
