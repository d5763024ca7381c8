// The PostgreSQL RolloutStore (coordinator/store/pg_rollouts.cc) against a
// real PostgreSQL: policies, rollouts started by target changes, steps and
// their races, the engine's inputs and the status counts, the migration.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/semver.h"
#include "coordinator/rollout/channel_rules.h"
#include "coordinator/rollout/staged.h"
#include "coordinator/rollout/staleness.h"
#include "coordinator/store/migrator.h"
#include "coordinator/store/pg_store.h"
#include "tests/support/test_env.h"

namespace drover::store {
namespace {

using ::drover::testing::NewTestDatabase;
using ::drover::testing::QueryValue;
using rollout::Channel;
using rollout::GroupState;
using rollout::RolloutPolicy;
using rollout::RolloutState;

ChannelMutation SetTargetTo(const std::string& version, bool force = false, const std::string& force_reason = "") {
  return [=](Channel& c, std::vector<ChannelChange>& changes) -> absl::Status {
    std::optional<Semver> target;
    if (!version.empty()) {
      absl::StatusOr<Semver> v = Semver::Parse(version);
      if (!v.ok()) return v.status();
      target = *v;
    }
    if (absl::Status s = rollout::SetTarget(c, target, /*allow_downgrade=*/false, changes); !s.ok()) return s;
    if (force && !changes.empty()) {
      changes.back().rollout_skip_canaries = true;
      changes.back().rollout_force_reason = force_reason;
    }
    return absl::OkStatus();
  };
}

RolloutPolicy TwoGroups() {
  RolloutPolicy p;
  p.groups = {{"canary", {}}, {"rest", {MaintenanceWindow{{2, 4}, 3, absl::Minutes(90)}}}};
  p.canaries = rollout::Amount::Percent(50);
  p.canary_budget = rollout::Amount::Count(1);
  p.group_budget = rollout::Amount::Percent(12.5);
  p.done_percent = 80;
  p.bake_time = absl::Minutes(20);
  p.max_in_flight = 3;
  p.max_per_period = 7;
  p.period = absl::Minutes(10);
  p.silent_timeout = absl::Minutes(15);
  p.auto_rollback = true;
  return p;
}

class RolloutStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = NewTestDatabase();
    {
      absl::StatusOr<std::vector<Migration>> all = ParseMigrations(EmbeddedMigrationFiles());
      ASSERT_TRUE(all.ok()) << all.status();
      pqxx::connection conn(db_);
      absl::StatusOr<MigrateResult> up = MigrateUp(conn, *all);
      ASSERT_TRUE(up.ok()) << up.status();
    }
    store_ = std::make_unique<PgStore>(PgStoreOptions{.url = db_});
    Channel c;
    c.id = "prod";
    c.control_plane_version = "15.3.0";
    c.target_version = "15.1.0";
    absl::StatusOr<Channel> created = store_->CreateChannel(c);
    ASSERT_TRUE(created.ok()) << created.status();
    // Created with a target: no rollout, hosts get it at once.
    EXPECT_EQ(created->rollout_id, 0);
    EXPECT_EQ(created->rollout_mode, Channel::RolloutMode::kNone);
  }

  static rollout::AgentReport Report(const std::string& host, const std::string& group, const std::string& version,
                                     int64_t seq, rollout::Health health = rollout::Health::kHealthy) {
    rollout::AgentReport r;
    r.host_id = host;
    r.channel = "prod";
    r.group = group;
    r.current_version = version;
    r.health = health;
    r.sequence = seq;
    return r;
  }

  void Apply(const std::vector<rollout::AgentReport>& reports) {
    std::vector<const rollout::AgentReport*> ptrs;
    for (const auto& r : reports) ptrs.push_back(&r);
    absl::StatusOr<std::vector<ReportResult>> results = store_->ApplyReports(ptrs);
    ASSERT_TRUE(results.ok()) << results.status();
    for (const ReportResult& r : *results) ASSERT_TRUE(r.status.ok()) << r.status;
  }

  // Starts a rollout to `version`; returns it as stored.
  rollout::Rollout Start(const std::string& version) {
    absl::StatusOr<Channel> c = store_->UpdateChannel("prod", SetTargetTo(version));
    EXPECT_TRUE(c.ok()) << c.status();
    absl::StatusOr<std::optional<rollout::Rollout>> r = store_->GetCurrentRollout("prod");
    EXPECT_TRUE(r.ok() && r->has_value()) << r.status();
    return r.ok() && r->has_value() ? **r : rollout::Rollout();
  }

  // A step that changes only what the test sets on it.
  static rollout::StepResult StepOf(const rollout::Rollout& r) {
    rollout::StepResult s;
    s.rollout = r;
    s.changed = true;
    return s;
  }

  int64_t Count(const std::string& sql) { return std::stoll(QueryValue(db_, sql)); }

  std::string db_;
  std::unique_ptr<PgStore> store_;
};

// The channel row carries the catch-all (GetTarget and the signed answer
// read it with the channel); its generation moves only when that changes.
TEST_F(RolloutStoreTest, TheCatchAllIsCopiedOntoTheChannel) {
  auto channel = [&] { return store_->GetChannel("prod").value_or(Channel()); };
  const int64_t g0 = channel().generation;
  EXPECT_FALSE(channel().rollout_catch_all_off);
  RolloutPolicy p = TwoGroups();
  ASSERT_TRUE(store_->SetPolicy("prod", p, nullptr).ok());
  EXPECT_FALSE(channel().rollout_catch_all_off);
  EXPECT_EQ(channel().generation, g0) << "nothing the channel carries changed";

  p.catch_all = rollout::CatchAll::kOff;
  ASSERT_TRUE(store_->SetPolicy("prod", p, nullptr).ok());
  Channel c = channel();
  EXPECT_TRUE(c.rollout_catch_all_off);
  EXPECT_EQ(c.rollout_listed_groups, (std::vector<std::string>{"canary", "rest"}));
  EXPECT_EQ(c.generation, g0 + 1);
  ASSERT_TRUE(store_->SetPolicy("prod", p, nullptr).ok());
  EXPECT_EQ(channel().generation, g0 + 1) << "the same again changes nothing";

  p.groups = {{"only", {}}};
  ASSERT_TRUE(store_->SetPolicy("prod", p, nullptr).ok());
  EXPECT_EQ(channel().rollout_listed_groups, std::vector<std::string>{"only"});
  EXPECT_EQ(channel().generation, g0 + 2);

  // Without groups every host is in the one group: nobody's updates are off.
  p.groups.clear();
  ASSERT_TRUE(store_->SetPolicy("prod", p, nullptr).ok());
  EXPECT_FALSE(channel().rollout_catch_all_off);
  EXPECT_TRUE(channel().rollout_listed_groups.empty());
}

TEST_F(RolloutStoreTest, PolicyDefaultsRoundTripAndAudit) {
  absl::StatusOr<RolloutPolicy> p = store_->GetPolicy("prod");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, RolloutPolicy());
  EXPECT_EQ(store_->GetPolicy("ghost").status().code(), absl::StatusCode::kNotFound);

  AuditRecord audit{.actor = "alice", .peer = "ipv4:10.0.0.1:5000", .method = "SetRolloutPolicy", .ok = true};
  ASSERT_TRUE(store_->SetPolicy("prod", TwoGroups(), &audit).ok());
  p = store_->GetPolicy("prod");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, TwoGroups());

  // Written again with fewer groups: the old rows go.
  RolloutPolicy one = TwoGroups();
  one.groups = {{"only", {}}};
  one.catch_all = rollout::CatchAll::kOff;
  ASSERT_TRUE(store_->SetPolicy("prod", one, &audit).ok());
  EXPECT_EQ(store_->GetPolicy("prod").value_or(RolloutPolicy()), one);
  EXPECT_EQ(Count("SELECT count(*) FROM rollout_policy_groups"), 1);

  absl::StatusOr<std::vector<AuditRecord>> events = store_->ListAuditEvents({.object = "channels/prod"});
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 2u);
  const AuditRecord& first = (*events)[1];  // newest first
  EXPECT_EQ(first.actor, "alice");
  EXPECT_EQ(first.method, "SetRolloutPolicy");
  EXPECT_TRUE(absl::StrContains(first.old_value, "groups=none")) << first.old_value;
  EXPECT_TRUE(absl::StrContains(first.new_value, "groups=canary,rest (")) << first.new_value;
  EXPECT_TRUE(absl::StrContains(first.new_value, "group_budget=12.5%")) << first.new_value;
  EXPECT_TRUE(absl::StrContains((*events)[0].new_value, "catch_all=off")) << (*events)[0].new_value;
  // The channel's own history has it too.
  absl::StatusOr<std::vector<ChannelChange>> history = store_->ListChannelChanges("prod", 0, 10);
  ASSERT_TRUE(history.ok());
  EXPECT_EQ((*history)[0].field, "rollout_policy");
  EXPECT_EQ((*history)[0].actor, "alice");
}

TEST_F(RolloutStoreTest, InvalidPolicyOrUnknownChannelWritesNothing) {
  RolloutPolicy bad = TwoGroups();
  bad.done_percent = 0;
  absl::Status s = store_->SetPolicy("prod", bad, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(store_->SetPolicy("ghost", TwoGroups(), nullptr).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Count("SELECT count(*) FROM rollout_policies"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events"), 0);
}

TEST_F(RolloutStoreTest, CorruptStoredPolicyIsDataLossWithoutDatabaseText) {
  ASSERT_TRUE(store_->SetPolicy("prod", TwoGroups(), nullptr).ok());
  QueryValue(db_, "UPDATE rollout_policies SET canaries = 'lots'");
  absl::Status s = store_->GetPolicy("prod").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "channel \"prod\"")) << s;
  // A target change cannot start its rollout, so it does not happen at all.
  absl::Status edit = store_->UpdateChannel("prod", SetTargetTo("15.2.0")).status();
  EXPECT_EQ(edit.code(), absl::StatusCode::kDataLoss) << edit;
  EXPECT_EQ(QueryValue(db_, "SELECT target_version FROM channels"), "15.1.0");
  EXPECT_EQ(Count("SELECT count(*) FROM rollouts"), 0);
  // Replacing the policy repairs it.
  ASSERT_TRUE(store_->SetPolicy("prod", TwoGroups(), nullptr).ok());
  EXPECT_TRUE(store_->UpdateChannel("prod", SetTargetTo("15.2.0")).ok());
}

TEST_F(RolloutStoreTest, TargetChangeStartsRolloutInItsTransaction) {
  ASSERT_TRUE(store_->SetPolicy("prod", TwoGroups(), nullptr).ok());
  EXPECT_FALSE(store_->GetCurrentRollout("prod").value_or(rollout::Rollout()).has_value());
  // Before any rollout the snapshot has the policy alone (for its catch-all).
  absl::StatusOr<RolloutSnapshot> before = store_->GetSnapshot("prod");
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->rollout.id, 0);
  EXPECT_EQ(before->policy, TwoGroups());
  EXPECT_EQ(store_->GetSnapshot("nope").status().code(), absl::StatusCode::kNotFound);

  const int64_t generation_before = store_->GetChannel("prod")->generation;
  absl::StatusOr<Channel> c = store_->UpdateChannel("prod", SetTargetTo("15.2.0"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_NE(c->rollout_id, 0);
  EXPECT_EQ(c->rollout_start_version, "15.1.0");
  EXPECT_EQ(c->rollout_mode, Channel::RolloutMode::kHolding);
  EXPECT_GT(c->generation, generation_before);
  // Every read of the channel sees it.
  absl::StatusOr<Channel> read = store_->GetChannel("prod");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->rollout_id, c->rollout_id);
  EXPECT_EQ(read->rollout_mode, Channel::RolloutMode::kHolding);
  EXPECT_EQ(store_->ListChannels()->at(0).rollout_id, c->rollout_id);

  absl::StatusOr<std::optional<rollout::Rollout>> r = store_->GetCurrentRollout("prod");
  ASSERT_TRUE(r.ok() && r->has_value()) << r.status();
  EXPECT_EQ((*r)->id, c->rollout_id);
  EXPECT_EQ((*r)->channel, "prod");
  EXPECT_EQ((*r)->start_version, "15.1.0");
  EXPECT_EQ((*r)->target_version, "15.2.0");
  EXPECT_EQ((*r)->state, RolloutState::kActive);
  EXPECT_FALSE((*r)->skip_canaries);
  ASSERT_EQ((*r)->groups.size(), 2u);
  EXPECT_EQ((*r)->groups[0].name, "canary");
  EXPECT_EQ((*r)->groups[1].name, "rest");
  EXPECT_EQ((*r)->groups[1].state, GroupState::kUnstarted);
  EXPECT_EQ((*r)->generation, 1);
  EXPECT_EQ(store_->ChannelsWithLiveRollouts().value_or(std::vector<std::string>{}), std::vector<std::string>{"prod"});

  // A mutation that fails after changing the target writes no rollout.
  absl::Status failed = store_
                            ->UpdateChannel("prod",
                                            [](Channel& ch, std::vector<ChannelChange>& changes) {
                                              absl::Status s = SetTargetTo("15.3.0")(ch, changes);
                                              EXPECT_TRUE(s.ok()) << s;
                                              return absl::FailedPreconditionError("refused after all");
                                            })
                            .status();
  EXPECT_EQ(failed.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Count("SELECT count(*) FROM rollouts"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM rollout_groups"), 2);
  EXPECT_EQ(store_->GetChannel("prod")->rollout_id, c->rollout_id);
}

TEST_F(RolloutStoreTest, ForcedTargetIsRecordedOnTheRollout) {
  absl::StatusOr<Channel> c = store_->UpdateChannel("prod", SetTargetTo("15.2.0", true, "CVE-2026-1234 fix"));
  ASSERT_TRUE(c.ok()) << c.status();
  absl::StatusOr<std::optional<rollout::Rollout>> r = store_->GetCurrentRollout("prod");
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_TRUE((*r)->skip_canaries);
  EXPECT_EQ((*r)->force_reason, "CVE-2026-1234 fix");
  // No policy: one group holding every host.
  ASSERT_EQ((*r)->groups.size(), 1u);
  EXPECT_EQ((*r)->groups[0].name, rollout::kDefaultGroupName);
}

TEST_F(RolloutStoreTest, NewTargetSupersedesAndClearedTargetEndsTheRollout) {
  const rollout::Rollout first = Start("15.2.0");
  const rollout::Rollout second = Start("15.3.0");
  EXPECT_NE(first.id, second.id);
  // Hosts the first did not let in still run its start version.
  EXPECT_EQ(second.start_version, "15.1.0");
  EXPECT_EQ(QueryValue(db_, absl::StrCat("SELECT state || ' ' || generation || ' ' || reason FROM rollouts WHERE id = ",
                                         first.id)),
            absl::StrCat("6 2 superseded by rollout ", second.id, " to 15.3.0"));
  EXPECT_EQ(store_->GetChannel("prod")->rollout_id, second.id);

  // A step of the superseded rollout, read before, is refused.
  rollout::StepResult stale = StepOf(first);
  stale.admit = {{"h1", 0, true}};
  absl::Status s = store_->SaveStep(stale, absl::Now(), nullptr).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  EXPECT_EQ(Count("SELECT count(*) FROM rollout_hosts"), 0);

  absl::StatusOr<Channel> cleared = store_->UpdateChannel("prod", SetTargetTo(""));
  ASSERT_TRUE(cleared.ok()) << cleared.status();
  EXPECT_EQ(cleared->rollout_mode, Channel::RolloutMode::kNone);
  EXPECT_EQ(cleared->rollout_start_version, "");
  EXPECT_EQ(cleared->rollout_id, second.id);  // still the last one, now superseded
  EXPECT_EQ(store_->GetCurrentRollout("prod")->value().state, RolloutState::kSuperseded);
  EXPECT_TRUE(store_->ChannelsWithLiveRollouts()->empty());

  // Set again after it was cleared: no start version, so hosts are held with
  // nothing to install until they are let in.
  absl::StatusOr<Channel> back = store_->UpdateChannel("prod", SetTargetTo("15.3.0"));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->rollout_start_version, "");
  EXPECT_EQ(back->rollout_mode, Channel::RolloutMode::kHolding);
}

TEST_F(RolloutStoreTest, StepGenerationConflictWritesNothingOfTheLoser) {
  const rollout::Rollout r = Start("15.2.0");
  PgStore other(PgStoreOptions{.url = db_});
  // Two replicas write a step from the same reading at the same moment.
  std::atomic<int> ready{0};
  absl::StatusOr<int64_t> results[2];
  auto write = [&](PgStore* store, int i) {
    rollout::StepResult step = StepOf(r);
    step.rollout.groups[0].state = GroupState::kCanary;
    step.rollout.groups[0].reason = absl::StrCat("writer ", i);
    step.admit = {{absl::StrCat("w", i, "-a"), 0, true}, {absl::StrCat("w", i, "-b"), 0, true}};
    ++ready;
    while (ready.load() < 2) std::this_thread::yield();
    results[i] = store->SaveStep(step, absl::Now(), nullptr);
  };
  std::thread a(write, store_.get(), 0), b(write, &other, 1);
  a.join();
  b.join();
  const int winner = results[0].ok() ? 0 : 1;
  ASSERT_TRUE(results[winner].ok()) << results[winner].status();
  EXPECT_EQ(*results[winner], 2);
  EXPECT_EQ(results[1 - winner].status().code(), absl::StatusCode::kAborted) << results[1 - winner].status();
  EXPECT_TRUE(absl::StrContains(results[1 - winner].status().message(), "advanced by another replica"));
  EXPECT_EQ(QueryValue(db_, "SELECT string_agg(host_id, ',' ORDER BY host_id) FROM rollout_hosts"),
            absl::StrCat("w", winner, "-a,w", winner, "-b"));
  EXPECT_EQ(QueryValue(db_, "SELECT reason FROM rollout_groups WHERE position = 0"), absl::StrCat("writer ", winner));
  // The Aborted is not retried by the pool (it would only lose again).
  EXPECT_EQ(store_->retries() + other.retries(), 0);

  // A rollout that is not there, or a step out of shape, is refused.
  rollout::StepResult ghost = StepOf(r);
  ghost.rollout.id = r.id + 100;
  EXPECT_EQ(store_->SaveStep(ghost, absl::Now(), nullptr).status().code(), absl::StatusCode::kNotFound);
  rollout::StepResult bad = StepOf(store_->GetCurrentRollout("prod")->value());
  bad.admit = {{"h", 5, false}};
  absl::Status s = store_->SaveStep(bad, absl::Now(), nullptr).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "group 5")) << s;
}

TEST_F(RolloutStoreTest, AdmissionsWithdrawalsAndFailuresCountOncePerHost) {
  Apply({Report("h1", "", "15.1.0", 1), Report("h2", "", "15.1.0", 1), Report("h3", "", "15.1.0", 1),
         Report("h4", "", "15.1.0", 1)});
  rollout::Rollout r = Start("15.2.0");
  // Whole microseconds, as stored.
  const absl::Time t0 = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now() - absl::Minutes(1)));

  rollout::StepResult step = StepOf(r);
  step.rollout.groups[0].state = GroupState::kCanary;
  step.rollout.groups[0].started_at = t0;
  step.admit = {{"h1", 0, true}, {"h2", 0, true}, {"h1", 0, true}};  // a repeat is one admission
  AuditRecord audit{.actor = "engine", .method = "rollout-step", .ok = true};
  step.events = {"group all: 2 canaries let in"};
  absl::StatusOr<int64_t> g = store_->SaveStep(step, t0, &audit);
  ASSERT_TRUE(g.ok()) << g.status();
  r = store_->GetCurrentRollout("prod")->value();
  EXPECT_EQ(r.generation, *g);
  EXPECT_EQ(r.groups[0].state, GroupState::kCanary);
  EXPECT_EQ(r.groups[0].started_at, t0);
  EXPECT_EQ(Count("SELECT count(*) FROM rollout_hosts"), 2);
  absl::StatusOr<std::vector<AuditRecord>> events = store_->ListAuditEvents({.actor = "engine"});
  ASSERT_TRUE(events.ok() && events->size() == 1u);
  EXPECT_EQ((*events)[0].object, absl::StrCat("channels/prod/rollouts/", r.id));
  EXPECT_EQ((*events)[0].new_value, "state=active: group all: 2 canaries let in");

  // h1 fails, then fails again with another reason: counted once, first reason.
  for (const char* why : {"install failed", "unhealthy on target"}) {
    rollout::StepResult fail = StepOf(r);
    fail.failed = {{"h1", why}};
    g = store_->SaveStep(fail, t0 + absl::Seconds(10), nullptr);
    ASSERT_TRUE(g.ok()) << g.status();
    r.generation = *g;
  }
  EXPECT_EQ(QueryValue(db_, "SELECT failure FROM rollout_hosts WHERE host_id = 'h1'"), "install failed");
  absl::StatusOr<RolloutStatusView> status = store_->GetRolloutStatus("prod", absl::Now());
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->groups[0].failed, 1);
  EXPECT_EQ(status->groups[0].canaries_failed, 1);

  // h2 withdrawn: no longer let in; let in again later, afresh.
  rollout::StepResult withdraw = StepOf(r);
  withdraw.withdraw = {"h2"};
  r.generation = store_->SaveStep(withdraw, t0 + absl::Seconds(20), nullptr).value();
  absl::StatusOr<RolloutSnapshot> snap = store_->GetSnapshot("prod");
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->admitted, (absl::flat_hash_set<std::string>{"h1"}));
  rollout::StepResult again = StepOf(r);
  again.admit = {{"h2", 0, false}, {"h1", 0, false}};  // h1 is let in already: left alone
  r.generation = store_->SaveStep(again, t0 + absl::Seconds(30), nullptr).value();
  EXPECT_EQ(QueryValue(db_,
                       "SELECT string_agg(host_id || ':' || canary || ':' || (withdrawn_at IS NULL) || ':' || "
                       "(failed_at IS NULL), ',' ORDER BY host_id) FROM rollout_hosts"),
            "h1:true:true:false,h2:false:true:true");
  EXPECT_EQ(store_->GetSnapshot("prod")->admitted.size(), 2u);

  // A halt: hosts let in that do not run the target are withdrawn; h3 runs it.
  Apply({Report("h3", "", "15.2.0", 2)});
  rollout::StepResult admit3 = StepOf(r);
  admit3.admit = {{"h3", 0, false}};
  r.generation = store_->SaveStep(admit3, t0 + absl::Seconds(40), nullptr).value();
  rollout::StepResult halt = StepOf(r);
  halt.rollout.state = RolloutState::kHalted;
  halt.rollout.reason = "halted: 1 of 2 canaries failed, budget 0";
  halt.withdraw_not_updated = true;
  const int64_t channel_generation = store_->GetChannel("prod")->generation;
  r.generation = store_->SaveStep(halt, t0 + absl::Seconds(50), nullptr).value();
  EXPECT_EQ(store_->GetSnapshot("prod")->admitted, (absl::flat_hash_set<std::string>{"h3"}));
  EXPECT_EQ(store_->GetCurrentRollout("prod")->value().reason, "halted: 1 of 2 canaries failed, budget 0");
  // Still holding: the channel's answer did not change.
  EXPECT_EQ(store_->GetChannel("prod")->generation, channel_generation);
  EXPECT_EQ(store_->ChannelsWithLiveRollouts().value(), std::vector<std::string>{"prod"});

  // Rolled back: the channel says so, with a new generation for the signer.
  rollout::StepResult back = StepOf(store_->GetCurrentRollout("prod")->value());
  back.rollout.state = RolloutState::kRolledBack;
  ASSERT_TRUE(store_->SaveStep(back, t0 + absl::Seconds(60), nullptr).ok());
  absl::StatusOr<Channel> ch = store_->GetChannel("prod");
  EXPECT_EQ(ch->rollout_mode, Channel::RolloutMode::kRolledBack);
  EXPECT_EQ(ch->rollout_start_version, "15.1.0");
  EXPECT_GT(ch->generation, channel_generation);
  EXPECT_TRUE(store_->ChannelsWithLiveRollouts()->empty());
}

TEST_F(RolloutStoreTest, DoneRolloutLetsEveryHostHaveTheTarget) {
  rollout::Rollout r = Start("15.2.0");
  rollout::StepResult done = StepOf(r);
  done.rollout.state = RolloutState::kDone;
  for (rollout::GroupProgress& g : done.rollout.groups) g.state = GroupState::kDone;
  ASSERT_TRUE(store_->SaveStep(done, absl::Now(), nullptr).ok());
  EXPECT_EQ(store_->GetChannel("prod")->rollout_mode, Channel::RolloutMode::kNone);
}

TEST_F(RolloutStoreTest, StepInputsOfASmallFleet) {
  ASSERT_TRUE(store_->SetPolicy("prod", TwoGroups(), nullptr).ok());
  // canary: c1, c2 healthy, c3 unhealthy, c4 stale. rest: r1..r3, and x1
  // reporting a group the policy does not list (the catch-all: last group).
  Apply({Report("c1", "canary", "15.1.0", 1), Report("c2", "canary", "15.1.0", 1),
         Report("c3", "canary", "15.1.0", 1, rollout::Health::kUnhealthy), Report("c4", "canary", "15.1.0", 1),
         Report("r1", "rest", "15.1.0", 1), Report("r2", "rest", "15.2.0", 1), Report("r3", "rest", "15.1.0", 1),
         Report("x1", "lab", "15.1.0", 1)});
  QueryValue(db_, "UPDATE agents SET last_seen = now() - interval '1 hour' WHERE host_id = 'c4'");
  rollout::Rollout r = Start("15.2.0");

  absl::StatusOr<rollout::StepInputs> in = store_->LoadStepInputs("prod", 10, absl::Now());
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_EQ(in->rollout.id, r.id);
  EXPECT_EQ(in->policy, TwoGroups());
  EXPECT_FALSE(in->critical);
  EXPECT_EQ(in->stale_after, rollout::StaleAfter(absl::Seconds(60)));
  ASSERT_EQ(in->groups.size(), 2u);
  EXPECT_EQ(in->groups[0].present, 3);
  EXPECT_EQ(in->groups[0].present_on_target_healthy, 0);
  EXPECT_EQ(in->groups[1].present, 4);
  EXPECT_EQ(in->groups[1].present_on_target_healthy, 1);
  std::vector<std::string> candidates = in->groups[0].canary_candidates;
  std::sort(candidates.begin(), candidates.end());
  EXPECT_EQ(candidates, (std::vector<std::string>{"c1", "c2"}));
  std::vector<std::string> waiting = in->groups[0].waiting;
  std::sort(waiting.begin(), waiting.end());
  EXPECT_EQ(waiting, (std::vector<std::string>{"c1", "c2", "c3"}));
  // The second group cannot start before the first: nothing sampled.
  EXPECT_TRUE(in->groups[1].canary_candidates.empty());
  EXPECT_TRUE(in->groups[1].waiting.empty());
  EXPECT_EQ(in->admitted_in_period, 0);
  // The sample is bounded.
  EXPECT_EQ(store_->LoadStepInputs("prod", 1, absl::Now())->groups[0].canary_candidates.size(), 1u);

  // c1 let in as a canary, then reports a failed install of the target; c2
  // let in and healthy on it.
  const absl::Time admitted = absl::Now() - absl::Seconds(5);
  rollout::StepResult step = StepOf(r);
  step.rollout.groups[0].state = GroupState::kCanary;
  step.admit = {{"c1", 0, true}, {"c2", 0, true}};
  ASSERT_TRUE(store_->SaveStep(step, admitted, nullptr).ok());
  rollout::AgentReport failed = Report("c1", "canary", "15.1.0", 2);
  rollout::UpdateOutcome o;
  o.from_version = "15.1.0";
  o.to_version = "15.2.0";
  o.result = rollout::UpdateResult::kRolledBack;
  o.error = "health check failed";
  o.finish_time = absl::Now();
  o.start_time = o.finish_time - absl::Seconds(30);
  failed.outcomes = {o};
  Apply({failed, Report("c2", "canary", "15.2.0", 2)});

  in = store_->LoadStepInputs("prod", 10, absl::Now());
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_EQ(in->groups[0].present_on_target_healthy, 1);
  ASSERT_EQ(in->groups[0].admitted.size(), 2u);
  const rollout::AdmittedHost& c1 = in->groups[0].admitted[0];
  EXPECT_EQ(c1.host_id, "c1");
  EXPECT_TRUE(c1.canary);
  EXPECT_EQ(absl::ToUnixMicros(c1.admitted_at), absl::ToUnixMicros(admitted));
  EXPECT_TRUE(c1.reported_failure);
  EXPECT_EQ(c1.reported_error, "health check failed");
  EXPECT_FALSE(c1.failed);
  const rollout::AdmittedHost& c2 = in->groups[0].admitted[1];
  EXPECT_EQ(c2.current_version, "15.2.0");
  EXPECT_EQ(c2.health, rollout::Health::kHealthy);
  EXPECT_FALSE(c2.reported_failure);
  EXPECT_TRUE(rollout::OnTargetHealthy(c2, "15.2.0"));
  // Admitted hosts are sampled no more.
  EXPECT_TRUE(in->groups[0].canary_candidates.empty()) << in->groups[0].canary_candidates[0];
  EXPECT_EQ(in->groups[0].waiting, std::vector<std::string>{"c3"});
  EXPECT_EQ(in->admitted_in_period, 2);
  EXPECT_EQ(store_->LoadStepInputs("prod", 10, admitted + absl::Hours(1))->admitted_in_period, 0);

  // Step, the domain's rule, counts c1 against the group's budget (12.5 % of
  // 3 tolerates none) and rolls back (auto_rollback); its result saves.
  rollout::StepResult result = rollout::Step(*in);
  ASSERT_EQ(result.rollout.state, RolloutState::kRolledBack) << result.rollout.reason;
  ASSERT_TRUE(store_->SaveStep(result, absl::Now(), nullptr).ok());
  EXPECT_EQ(QueryValue(db_, "SELECT host_id || ': ' || failure FROM rollout_hosts WHERE failed_at IS NOT NULL"),
            "c1: install of 15.2.0 failed: health check failed");
  EXPECT_EQ(store_->GetChannel("prod")->rollout_mode, Channel::RolloutMode::kRolledBack);
  // Hosts not on the target were withdrawn: c2, which runs it, stays.
  EXPECT_EQ(store_->GetSnapshot("prod")->admitted, (absl::flat_hash_set<std::string>{"c2"}));
  // A rollout that is not live lets nobody in: nothing is sampled.
  in = store_->LoadStepInputs("prod", 10, absl::Now());
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_TRUE(in->groups[0].canary_candidates.empty());
  EXPECT_TRUE(in->groups[0].waiting.empty());
  // The status counts c1 failed once, however often it reported.
  rollout::AgentReport again = failed;
  again.sequence = 3;
  Apply({again});
  absl::StatusOr<RolloutStatusView> status = store_->GetRolloutStatus("prod", absl::Now());
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->groups[0].failed, 1);
  EXPECT_EQ(status->groups[0].canaries_failed, 1);
}

TEST_F(RolloutStoreTest, SamplesOnlyTheGroupsAStepCanLetHostsInto) {
  ASSERT_TRUE(store_->SetPolicy("prod", TwoGroups(), nullptr).ok());
  Apply({Report("c1", "canary", "15.1.0", 1), Report("r1", "rest", "15.1.0", 1)});
  rollout::Rollout r = Start("15.2.0");
  // The first group baking: the next one may start at this step.
  rollout::StepResult baking = StepOf(r);
  baking.rollout.groups[0].state = GroupState::kBaking;
  r.generation = store_->SaveStep(baking, absl::Now(), nullptr).value();
  absl::StatusOr<rollout::StepInputs> in = store_->LoadStepInputs("prod", 10, absl::Now());
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_EQ(in->groups[0].canary_candidates, std::vector<std::string>{"c1"});
  EXPECT_EQ(in->groups[1].canary_candidates, std::vector<std::string>{"r1"});
  // Done groups take nobody more.
  rollout::StepResult next = StepOf(store_->GetCurrentRollout("prod")->value());
  next.rollout.groups[0].state = GroupState::kDone;
  next.rollout.groups[1].state = GroupState::kActive;
  ASSERT_TRUE(store_->SaveStep(next, absl::Now(), nullptr).ok());
  in = store_->LoadStepInputs("prod", 10, absl::Now());
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_TRUE(in->groups[0].waiting.empty());
  EXPECT_EQ(in->groups[1].waiting, std::vector<std::string>{"r1"});
  // Unknown channels and channels without a rollout.
  EXPECT_EQ(store_->LoadStepInputs("ghost", 10, absl::Now()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetRolloutStatus("ghost", absl::Now()).status().code(), absl::StatusCode::kNotFound);
  Channel fresh;
  fresh.id = "fresh";
  fresh.control_plane_version = "15.3.0";
  ASSERT_TRUE(store_->CreateChannel(fresh).ok());
  absl::Status none = store_->GetRolloutStatus("fresh", absl::Now()).status();
  EXPECT_EQ(none.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(none.message(), "has no rollout")) << none;
  EXPECT_FALSE(store_->GetCurrentRollout("fresh").value().has_value());
}

TEST_F(RolloutStoreTest, StatusCountsAndCatchAllOff) {
  RolloutPolicy policy = TwoGroups();
  policy.catch_all = rollout::CatchAll::kOff;
  ASSERT_TRUE(store_->SetPolicy("prod", policy, nullptr).ok());
  Apply({Report("c1", "canary", "15.1.0", 1), Report("c2", "canary", "15.1.0", 1), Report("r1", "rest", "15.1.0", 1),
         Report("r2", "rest", "15.1.0", 1), Report("r3", "rest", "15.1.0", 1), Report("x1", "lab", "15.1.0", 1),
         Report("x2", "", "15.1.0", 1)});
  rollout::Rollout r = Start("15.2.0");
  rollout::StepResult step = StepOf(r);
  step.admit = {{"c1", 0, true}, {"c2", 0, true}, {"r1", 1, false}, {"r2", 1, false}, {"r3", 1, false}};
  step.failed = {};
  ASSERT_TRUE(store_->SaveStep(step, absl::Now(), nullptr).ok());
  r = store_->GetCurrentRollout("prod")->value();
  rollout::StepResult fail = StepOf(r);
  fail.failed = {{"r3", "silent"}};
  ASSERT_TRUE(store_->SaveStep(fail, absl::Now(), nullptr).ok());
  Apply({Report("c1", "canary", "15.2.0", 2), Report("r1", "rest", "15.2.0", 2, rollout::Health::kUnhealthy)});
  QueryValue(db_, "UPDATE agents SET updating_to = '15.2.0' WHERE host_id = 'r2'");
  QueryValue(db_, "UPDATE agents SET last_seen = now() - interval '1 hour' WHERE host_id = 'c2'");

  absl::StatusOr<RolloutStatusView> s = store_->GetRolloutStatus("prod", absl::Now());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->rollout.id, r.id);
  EXPECT_EQ(s->policy.catch_all, rollout::CatchAll::kOff);
  EXPECT_EQ(s->hosts_outside, 2);  // x1, x2
  ASSERT_EQ(s->groups.size(), 2u);
  const GroupCounts& canary = s->groups[0];
  EXPECT_EQ(canary.hosts, 2);
  EXPECT_EQ(canary.present, 1);
  EXPECT_EQ(canary.on_target, 1);
  EXPECT_EQ(canary.on_target_healthy, 1);
  EXPECT_EQ(canary.admitted, 2);
  EXPECT_EQ(canary.canaries, 2);
  EXPECT_EQ(canary.canaries_on_target_healthy, 1);
  EXPECT_EQ(canary.in_flight, 1);  // c2
  EXPECT_EQ(canary.failed, 0);
  const GroupCounts& rest = s->groups[1];
  EXPECT_EQ(rest.hosts, 3);
  EXPECT_EQ(rest.present, 3);
  EXPECT_EQ(rest.on_target, 1);
  EXPECT_EQ(rest.on_target_healthy, 0);
  EXPECT_EQ(rest.admitted, 3);
  EXPECT_EQ(rest.canaries, 0);
  EXPECT_EQ(rest.in_flight, 2);  // r1 (unhealthy on target), r2; r3 failed
  EXPECT_EQ(rest.updating, 1);
  EXPECT_EQ(rest.failed, 1);
  EXPECT_EQ(rest.canaries_failed, 0);

  // Step inputs leave the hosts outside out too.
  absl::StatusOr<rollout::StepInputs> in = store_->LoadStepInputs("prod", 10, absl::Now());
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_EQ(in->groups[1].present, 3);
}

TEST_F(RolloutStoreTest, RolloutKeepsItsGroupsWhenThePolicyChanges) {
  ASSERT_TRUE(store_->SetPolicy("prod", TwoGroups(), nullptr).ok());
  Apply({Report("c1", "canary", "15.1.0", 1), Report("n1", "new", "15.1.0", 1)});
  rollout::Rollout r = Start("15.2.0");
  RolloutPolicy changed = TwoGroups();
  changed.groups = {{"new", {}}};
  changed.bake_time = absl::Minutes(5);
  ASSERT_TRUE(store_->SetPolicy("prod", changed, nullptr).ok());
  absl::StatusOr<RolloutSnapshot> snap = store_->GetSnapshot("prod");
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->policy.groups, TwoGroups().groups);   // the rollout's, windows included
  EXPECT_EQ(snap->policy.bake_time, absl::Minutes(5));  // the rest is the policy's now
  absl::StatusOr<rollout::StepInputs> in = store_->LoadStepInputs("prod", 10, absl::Now());
  ASSERT_TRUE(in.ok()) << in.status();
  ASSERT_EQ(in->groups.size(), 2u);
  EXPECT_EQ(in->groups[0].present, 1);  // c1
  EXPECT_EQ(in->groups[1].present, 1);  // n1: the catch-all, the last group

  // A rollout started without groups keeps every host in its one group.
  ASSERT_TRUE(store_->SetPolicy("prod", RolloutPolicy(), nullptr).ok());
  Start("15.3.0");
  ASSERT_TRUE(store_->SetPolicy("prod", changed, nullptr).ok());
  in = store_->LoadStepInputs("prod", 10, absl::Now());
  ASSERT_TRUE(in.ok()) << in.status();
  ASSERT_EQ(in->groups.size(), 1u);
  EXPECT_EQ(in->groups[0].present, 2);
  EXPECT_TRUE(in->policy.groups.empty());
}

TEST_F(RolloutStoreTest, DeletingAChannelRemovesItsRollouts) {
  ASSERT_TRUE(store_->SetPolicy("prod", TwoGroups(), nullptr).ok());
  Apply({Report("c1", "canary", "15.1.0", 1)});
  Start("15.2.0");
  rollout::Rollout r = Start("15.3.0");
  rollout::StepResult step = StepOf(r);
  step.admit = {{"c1", 0, true}};
  ASSERT_TRUE(store_->SaveStep(step, absl::Now(), nullptr).ok());
  absl::StatusOr<int64_t> removed = store_->DeleteChannel("prod", /*force=*/true);
  ASSERT_TRUE(removed.ok()) << removed.status();
  for (const char* table :
       {"rollouts", "rollout_groups", "rollout_hosts", "rollout_policies", "rollout_policy_groups"}) {
    EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM ", table)), 0) << table;
  }
  EXPECT_EQ(store_->GetCurrentRollout("prod").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->LoadStepInputs("prod", 5, absl::Now()).status().code(), absl::StatusCode::kNotFound);
  // The name can be used again, from scratch.
  Channel c;
  c.id = "prod";
  c.control_plane_version = "15.3.0";
  ASSERT_TRUE(store_->CreateChannel(c).ok());
  EXPECT_EQ(store_->GetPolicy("prod").value_or(TwoGroups()), RolloutPolicy());
  EXPECT_FALSE(store_->GetCurrentRollout("prod").value().has_value());
}

TEST(RolloutMigrationTest, UpAndDownKeepChannelsAndAgents) {
  const std::string db = NewTestDatabase();
  absl::StatusOr<std::vector<Migration>> all = ParseMigrations(EmbeddedMigrationFiles());
  ASSERT_TRUE(all.ok());
  std::vector<Migration> upto9;
  std::vector<const Migration*> after9;  // 10 and whatever came later, newest first
  for (const Migration& m : *all) {
    if (m.version <= 9) upto9.push_back(m);
    if (m.version >= 10) after9.insert(after9.begin(), &m);
  }
  ASSERT_FALSE(after9.empty());
  ASSERT_EQ(after9.back()->version, 10);
  pqxx::connection conn(db);
  ASSERT_TRUE(MigrateUp(conn, upto9).ok());
  QueryValue(db,
             "WITH c AS (INSERT INTO channels (name, control_plane_version, target_version) "
             "VALUES ('prod', '15.3.0', '15.1.0') RETURNING 1), "
             "a AS (INSERT INTO agents (host_id, channel, group_name, current_version, health, sequence, first_seen, "
             "last_seen) SELECT 'h' || i, 'prod', 'g', '15.1.0', 1, 1, now(), now() FROM generate_series(1, 3) i "
             "RETURNING 1) SELECT (SELECT count(*) FROM c) + (SELECT count(*) FROM a)");
  ASSERT_TRUE(MigrateUp(conn, *all).ok());
  {
    // Existing channels have no rollout and hold nobody.
    PgStore store(PgStoreOptions{.url = db});
    absl::StatusOr<Channel> c = store.GetChannel("prod");
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->rollout_id, 0);
    EXPECT_EQ(c->rollout_mode, Channel::RolloutMode::kNone);
    ASSERT_TRUE(store.SetPolicy("prod", TwoGroups(), nullptr).ok());
    ASSERT_TRUE(store.UpdateChannel("prod", SetTargetTo("15.2.0")).ok());
  }
  {
    pqxx::work tx(conn);
    for (const Migration* m : after9) tx.exec(m->down);
    tx.exec("UPDATE schema_migrations SET version = 9");  // one row: the version reached
    tx.commit();
  }
  EXPECT_EQ(QueryValue(db, "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'rollout%'"), "0");
  EXPECT_EQ(QueryValue(db,
                       "SELECT count(*) FROM information_schema.columns WHERE table_name = 'channels' AND "
                       "column_name LIKE 'rollout%'"),
            "0");
  EXPECT_EQ(QueryValue(db, "SELECT target_version FROM channels"), "15.2.0");
  EXPECT_EQ(QueryValue(db, "SELECT count(*) FROM agents"), "3");
  absl::StatusOr<MigrateResult> again = MigrateUp(conn, *all);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->applied, static_cast<int>(after9.size()));
}

}  // namespace
}  // namespace drover::store
