#include "coordinator/rollout/staged.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "common/status_testing.h"

namespace drover::rollout {
namespace {

using ::drover::testing::IsError;

// 2026-12-07 is a Monday.
absl::Time At(int day, int hour, int minute = 0, int second = 0) {
  return absl::FromCivil(absl::CivilSecond(2026, 12, day, hour, minute, second), absl::UTCTimeZone());
}
const absl::Time kT0 = At(7, 10);

MaintenanceWindow Window(std::vector<int> weekdays, int hour, absl::Duration duration) {
  MaintenanceWindow w;
  w.weekdays = std::move(weekdays);
  w.utc_start_hour = hour;
  w.duration = duration;
  return w;
}

// ------------------------------------------------------------------ Amount

TEST(AmountTest, ParsesCountsAndPercentages) {
  struct Case {
    const char* text;
    Amount want;
  };
  for (const Case& c : std::vector<Case>{{"3", Amount::Count(3)},
                                         {"0", Amount::Count(0)},
                                         {"1000000000", Amount::Count(kMaxAmountCount)},
                                         {"2.5%", Amount::Percent(2.5)},
                                         {"100%", Amount::Percent(100)},
                                         {"0%", Amount::Percent(0)},
                                         {".5%", Amount::Percent(0.5)}}) {
    absl::StatusOr<Amount> a = Amount::Parse("canaries", c.text);
    ASSERT_TRUE(a.ok()) << c.text << ": " << a.status();
    EXPECT_EQ(*a, c.want) << c.text;
  }
}

TEST(AmountTest, RefusesWhatIsNotAnAmountNamingFieldAndText) {
  for (const char* bad : {"-1", "101%", "100.5%", "abc", "1e3", " 3", "3 ", "1.5", "nan%", "%", "1..2%",
                          "1000000001", "99999999999999999999", "3%%", "+3", "inf%"}) {
    absl::StatusOr<Amount> a = Amount::Parse("group_budget", bad);
    EXPECT_TRUE(IsError(a.status(), absl::StatusCode::kInvalidArgument, {"group_budget", bad})) << bad;
  }
  EXPECT_TRUE(IsError(Amount::Parse("canaries", "").status(), absl::StatusCode::kInvalidArgument,
                      {"canaries is empty"}));
}

TEST(AmountTest, ToStringReadsBack) {
  EXPECT_EQ(Amount::Count(3).ToString(), "3");
  EXPECT_EQ(Amount::Percent(2.5).ToString(), "2.5%");
  EXPECT_EQ(Amount::Percent(5).ToString(), "5%");
  for (const Amount& a : {Amount::Count(0), Amount::Count(kMaxAmountCount), Amount::Percent(100.0 / 3),
                          Amount::Percent(0.001), Amount::Percent(99.99)}) {
    absl::StatusOr<Amount> back = Amount::Parse("x", a.ToString());
    ASSERT_TRUE(back.ok()) << a.ToString() << ": " << back.status();
    EXPECT_EQ(*back, a) << a.ToString();
  }
}

TEST(AmountTest, CanariesRoundUpToAtLeastOneAndNeverExceedTheTotal) {
  struct Case {
    Amount amount;
    int64_t total;
    int64_t want;
  };
  for (const Case& c : std::vector<Case>{{Amount::Count(5), 3, 3},
                                         {Amount::Count(5), 20, 5},
                                         {Amount::Count(5), 0, 0},
                                         {Amount::Count(0), 10, 0},
                                         {Amount::Percent(10), 3, 1},
                                         {Amount::Percent(10), 30, 3},  // not 4: 3.0000000000000004
                                         {Amount::Percent(10), 31, 4},
                                         {Amount::Percent(0.1), 10, 1},
                                         {Amount::Percent(0), 10, 0},
                                         {Amount::Percent(100), 7, 7},
                                         {Amount::Percent(50), 0, 0},
                                         {Amount::Percent(50), -1, 0}}) {
    EXPECT_EQ(c.amount.CanariesOf(c.total), c.want) << c.amount.ToString() << " of " << c.total;
  }
}

TEST(AmountTest, ToleratedRoundsDown) {
  struct Case {
    Amount amount;
    int64_t total;
    int64_t want;
  };
  for (const Case& c : std::vector<Case>{{Amount::Percent(5), 10, 0},
                                         {Amount::Percent(5), 50, 2},
                                         {Amount::Percent(10), 30, 3},  // not 2: 2.9999999999999996
                                         {Amount::Percent(100), 4, 4},
                                         {Amount::Percent(5), 0, 0},
                                         {Amount::Percent(0), 100, 0},
                                         {Amount::Count(1), 20, 1},
                                         {Amount::Count(0), 20, 0},
                                         {Amount::Count(3), 0, 3}}) {
    EXPECT_EQ(c.amount.ToleratedOf(c.total), c.want) << c.amount.ToString() << " of " << c.total;
  }
}

// ------------------------------------------------------------------ policy

TEST(CatchAllTest, NamesReadBack) {
  for (CatchAll c : {CatchAll::kLastGroup, CatchAll::kOff}) {
    absl::StatusOr<CatchAll> back = ParseCatchAll(CatchAllName(c));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, c);
  }
  EXPECT_TRUE(IsError(ParseCatchAll("last").status(), absl::StatusCode::kInvalidArgument,
                      {"catch_all", "\"last\"", "last-group", "off"}));
}

RolloutPolicy Groups(std::vector<std::string> names, CatchAll catch_all = CatchAll::kLastGroup) {
  RolloutPolicy p;
  for (std::string& n : names) p.groups.push_back({std::move(n), {}});
  p.catch_all = catch_all;
  return p;
}

TEST(RolloutPolicyTest, DefaultsAndGoodPoliciesValidate) {
  EXPECT_TRUE(RolloutPolicy().Validate().ok());
  RolloutPolicy p = Groups({"canary", "web-1", "DB_eu.west"});
  p.groups[1].windows.push_back(Window({2, 4}, 2, absl::Hours(2)));
  p.canaries = Amount::Percent(10);
  p.bake_time = absl::ZeroDuration();
  p.done_percent = 100;
  p.max_in_flight = 10;
  p.max_per_period = 100;
  EXPECT_TRUE(p.Validate().ok()) << p.Validate();
  std::vector<std::string> names;
  for (int i = 0; i < kMaxRolloutGroups; ++i) names.push_back(absl::StrCat("g", i));
  EXPECT_TRUE(Groups(names).Validate().ok());
}

TEST(RolloutPolicyTest, RefusalsNameTheFieldAndValue) {
  struct Case {
    const char* what;
    std::function<void(RolloutPolicy&)> change;
    std::vector<absl::string_view> fragments;
  };
  std::vector<Case> cases = {
      {"too many groups",
       [](RolloutPolicy& p) {
         for (int i = 0; i <= kMaxRolloutGroups; ++i) p.groups.push_back({absl::StrCat("g", i), {}});
       },
       {"33 groups", "at most 32"}},
      {"empty name", [](RolloutPolicy& p) { p = Groups({"a", ""}); }, {"groups[1].name is empty"}},
      {"bad name", [](RolloutPolicy& p) { p = Groups({"web tier"}); }, {"groups[0].name", "\"web tier\"", "-._"}},
      {"long name", [](RolloutPolicy& p) { p = Groups({std::string(65, 'g')}); }, {"groups[0].name", "longer than 64"}},
      {"duplicate", [](RolloutPolicy& p) { p = Groups({"a", "b", "a"}); }, {"groups[2].name", "\"a\"", "repeats groups[0]"}},
      {"bad window",
       [](RolloutPolicy& p) {
         p = Groups({"a", "b"});
         p.groups[1].windows.push_back(Window({8}, 2, absl::Hours(1)));
       },
       {"groups[1] (b).windows[0]", "8"}},
      {"canaries percent", [](RolloutPolicy& p) { p.canaries = Amount::Percent(150); }, {"canaries", "\"150%\""}},
      {"canaries negative", [](RolloutPolicy& p) { p.canaries = Amount::Count(-1); }, {"canaries", "\"-1\""}},
      {"canary budget", [](RolloutPolicy& p) { p.canary_budget = Amount::Count(kMaxAmountCount + 1); },
       {"canary_budget", "1000000001"}},
      {"group budget", [](RolloutPolicy& p) { p.group_budget = Amount::Percent(-5); }, {"group_budget", "-5%"}},
      {"done zero", [](RolloutPolicy& p) { p.done_percent = 0; }, {"done_percent", "\"0\""}},
      {"done over", [](RolloutPolicy& p) { p.done_percent = 100.5; }, {"done_percent", "\"100.5\""}},
      {"done nan", [](RolloutPolicy& p) { p.done_percent = std::nan(""); }, {"done_percent"}},
      {"bake negative", [](RolloutPolicy& p) { p.bake_time = -absl::Hours(1); }, {"bake_time", "\"-1h\""}},
      {"bake long", [](RolloutPolicy& p) { p.bake_time = absl::Hours(24 * 31); }, {"bake_time", "\"744h\"", "30 days"}},
      {"period zero", [](RolloutPolicy& p) { p.period = absl::ZeroDuration(); }, {"period", "\"0\"", "positive"}},
      {"silent zero", [](RolloutPolicy& p) { p.silent_timeout = absl::ZeroDuration(); }, {"silent_timeout", "\"0\""}},
      {"in flight", [](RolloutPolicy& p) { p.max_in_flight = -1; }, {"max_in_flight", "\"-1\""}},
      {"per period", [](RolloutPolicy& p) { p.max_per_period = -2; }, {"max_per_period", "\"-2\""}},
      {"catch-all", [](RolloutPolicy& p) { p.catch_all = static_cast<CatchAll>(7); }, {"catch_all", "\"7\""}},
  };
  for (const Case& c : cases) {
    RolloutPolicy p;
    c.change(p);
    absl::Status s = p.Validate();
    EXPECT_TRUE(IsError(s, absl::StatusCode::kInvalidArgument, {})) << c.what;
    for (absl::string_view f : c.fragments) EXPECT_TRUE(absl::StrContains(s.message(), f)) << c.what << ": " << s;
  }
}

TEST(GroupIndexTest, ListedUnlistedAndNoGroups) {
  RolloutPolicy last = Groups({"canary", "web", "db"});
  EXPECT_EQ(GroupIndexOf(last, "canary"), 0);
  EXPECT_EQ(GroupIndexOf(last, "db"), 2);
  EXPECT_EQ(GroupIndexOf(last, "other"), 2);
  EXPECT_EQ(GroupIndexOf(last, ""), 2);
  EXPECT_EQ(GroupIndexOf(last, "Canary"), 2);  // names are case-sensitive, as reported
  RolloutPolicy off = Groups({"canary", "web"}, CatchAll::kOff);
  EXPECT_EQ(GroupIndexOf(off, "web"), 1);
  EXPECT_EQ(GroupIndexOf(off, "other"), std::nullopt);
  EXPECT_EQ(GroupIndexOf(off, ""), std::nullopt);
  RolloutPolicy none;
  none.catch_all = CatchAll::kOff;  // no groups: every host is in the one group
  EXPECT_EQ(GroupIndexOf(none, "anything"), 0);
  EXPECT_EQ(GroupIndexOf(none, ""), 0);
  EXPECT_EQ(GroupNames(none), std::vector<std::string>{"all"});
  EXPECT_EQ(GroupNames(last), (std::vector<std::string>{"canary", "web", "db"}));
}

TEST(GroupIndexTest, ARolloutKeepsItsGroupsWhenThePolicyChanges) {
  Rollout r = StartRollout("web", "1.0.0", std::nullopt, "2.0.0", Groups({"canary", "web"}), false, "", kT0);
  // Same groups: as the policy says.
  EXPECT_EQ(GroupIndexIn(r, Groups({"canary", "web"}), "canary"), 0);
  EXPECT_EQ(GroupIndexIn(r, Groups({"canary", "web"}, CatchAll::kOff), "x"), std::nullopt);
  // Changed since: by name among the rollout's groups; the rest to the
  // rollout's last group, or nowhere when the catch-all is off now.
  RolloutPolicy changed = Groups({"db", "web", "canary"});
  EXPECT_EQ(GroupIndexIn(r, changed, "canary"), 0);
  EXPECT_EQ(GroupIndexIn(r, changed, "web"), 1);
  EXPECT_EQ(GroupIndexIn(r, changed, "db"), 1);
  EXPECT_EQ(GroupIndexIn(r, RolloutPolicy(), "db"), 1);
  EXPECT_EQ(GroupIndexIn(r, Groups({"db"}, CatchAll::kOff), "db"), std::nullopt);
  EXPECT_EQ(GroupIndexIn(r, Groups({"db"}, CatchAll::kOff), "web"), 1);
}

TEST(NamesTest, StatesAndActions) {
  EXPECT_STREQ(RolloutStateName(RolloutState::kRolledBack), "rolled_back");
  EXPECT_STREQ(RolloutStateName(RolloutState::kSuperseded), "superseded");
  EXPECT_STREQ(GroupStateName(GroupState::kBaking), "baking");
  EXPECT_STREQ(GroupStateName(GroupState::kUnstarted), "unstarted");
  EXPECT_STREQ(OperatorActionName(OperatorAction::kStartGroup), "start-group");
  EXPECT_STREQ(OperatorActionName(OperatorAction::kSkipCanaries), "skip-canaries");
  EXPECT_TRUE(IsLive(RolloutState::kActive));
  EXPECT_TRUE(IsLive(RolloutState::kPaused));
  EXPECT_TRUE(IsLive(RolloutState::kHalted));
  EXPECT_FALSE(IsLive(RolloutState::kRolledBack));
  EXPECT_FALSE(IsLive(RolloutState::kDone));
  EXPECT_FALSE(IsLive(RolloutState::kSuperseded));
}

// ------------------------------------------------------------------ StartRollout

TEST(StartRolloutTest, StartsFromThePreviousTargetWithEveryGroupUnstarted) {
  Rollout r = StartRollout("web", "1.0.0", std::nullopt, "2.0.0", Groups({"canary", "prod"}), false, "", kT0);
  EXPECT_EQ(r.channel, "web");
  EXPECT_EQ(r.start_version, "1.0.0");
  EXPECT_EQ(r.target_version, "2.0.0");
  EXPECT_EQ(r.state, RolloutState::kActive);
  EXPECT_EQ(r.created_at, kT0);
  EXPECT_EQ(r.state_since, kT0);
  EXPECT_EQ(r.generation, 0);
  EXPECT_FALSE(r.skip_canaries);
  ASSERT_EQ(r.groups.size(), 2u);
  EXPECT_EQ(r.groups[0].name, "canary");
  EXPECT_EQ(r.groups[1].name, "prod");
  for (const GroupProgress& g : r.groups) {
    EXPECT_EQ(g.state, GroupState::kUnstarted);
    EXPECT_EQ(g.state_since, kT0);
    EXPECT_FALSE(g.started_at.has_value());
  }
  EXPECT_EQ(r.groups[1].reason, "waiting for group canary");

  Rollout plain = StartRollout("web", "", std::nullopt, "2.0.0", RolloutPolicy(), true, "CVE-2026-1", kT0);
  EXPECT_EQ(plain.start_version, "");
  ASSERT_EQ(plain.groups.size(), 1u);
  EXPECT_EQ(plain.groups[0].name, "all");
  EXPECT_TRUE(plain.skip_canaries);
  EXPECT_EQ(plain.force_reason, "CVE-2026-1");
}

TEST(StartRolloutTest, AnUnfinishedRolloutKeepsItsStartVersion) {
  Rollout previous = StartRollout("web", "1.0.0", std::nullopt, "2.0.0", RolloutPolicy(), false, "", kT0);
  for (RolloutState s : {RolloutState::kActive, RolloutState::kPaused, RolloutState::kHalted,
                         RolloutState::kRolledBack}) {
    previous.state = s;
    Rollout r = StartRollout("web", "2.0.0", previous, "3.0.0", RolloutPolicy(), false, "", kT0 + absl::Hours(1));
    EXPECT_EQ(r.start_version, "1.0.0") << RolloutStateName(s);
    EXPECT_EQ(r.state, RolloutState::kActive);
  }
  for (RolloutState s : {RolloutState::kDone, RolloutState::kSuperseded}) {
    previous.state = s;
    Rollout r = StartRollout("web", "2.0.0", previous, "3.0.0", RolloutPolicy(), false, "", kT0 + absl::Hours(1));
    EXPECT_EQ(r.start_version, "2.0.0") << RolloutStateName(s);
  }
}

TEST(StartRolloutTest, BackToTheStartVersionIsDoneAtOnce) {
  // 1.0.0 -> 2.0.0 halted; the operator sets 1.0.0 again: every host not
  // let in runs it already, and those let in are told it as the target.
  Rollout previous = StartRollout("web", "1.0.0", std::nullopt, "2.0.0", Groups({"a", "b"}), false, "", kT0);
  previous.state = RolloutState::kHalted;
  Rollout r = StartRollout("web", "2.0.0", previous, "1.0.0", Groups({"a", "b"}), false, "", kT0 + absl::Hours(1));
  EXPECT_EQ(r.start_version, "1.0.0");
  EXPECT_EQ(r.state, RolloutState::kDone);
  EXPECT_TRUE(absl::StrContains(r.reason, "nothing to roll out")) << r.reason;
  for (const GroupProgress& g : r.groups) {
    EXPECT_EQ(g.state, GroupState::kDone);
    EXPECT_EQ(g.done_at, kT0 + absl::Hours(1));
  }
  StepInputs in{.rollout = r, .policy = Groups({"a", "b"}), .groups = {GroupInputs{}, GroupInputs{}}, .now = kT0};
  EXPECT_FALSE(Step(in).changed);
}

// ------------------------------------------------------------------ HostFailure

AdmittedHost Admitted(const std::string& id, const std::string& version, Health health, absl::Time last_seen,
                      absl::Time admitted_at = kT0) {
  AdmittedHost h;
  h.host_id = id;
  h.current_version = version;
  h.health = health;
  h.last_seen = last_seen;
  h.admitted_at = admitted_at;
  return h;
}

TEST(HostFailureTest, ReasonsInOrder) {
  RolloutPolicy p;  // silent_timeout 30 min
  const absl::Time now = kT0 + absl::Hours(1);
  struct Case {
    const char* what;
    AdmittedHost host;
    std::optional<std::string> want;
  };
  AdmittedHost reported = Admitted("h", "1.0.0", Health::kHealthy, now);
  reported.reported_failure = true;
  reported.reported_error = "dpkg exited 1";
  AdmittedHost reported_bare = reported;
  reported_bare.reported_error.clear();
  // Reported and unhealthy on target and silent: the report comes first.
  AdmittedHost all = Admitted("h", "2.0.0", Health::kUnhealthy, now - absl::Hours(2), now - absl::Hours(3));
  all.reported_failure = true;
  all.reported_error = "health check failed";
  AdmittedHost sticky = Admitted("h", "2.0.0", Health::kHealthy, now);
  sticky.failed = true;
  sticky.failure = "unhealthy on 2.0.0";
  std::vector<Case> cases = {
      {"healthy on target", Admitted("h", "2.0.0", Health::kHealthy, now), std::nullopt},
      {"not updated yet", Admitted("h", "1.0.0", Health::kHealthy, now - absl::Minutes(10)), std::nullopt},
      {"unhealthy on the start version", Admitted("h", "1.0.0", Health::kUnhealthy, now), std::nullopt},
      {"reported", reported, "install of 2.0.0 failed: dpkg exited 1"},
      {"reported, no error", reported_bare, "install of 2.0.0 failed"},
      {"reported first", all, "install of 2.0.0 failed: health check failed"},
      {"unhealthy on target", Admitted("h", "2.0.0", Health::kUnhealthy, now), "unhealthy on 2.0.0"},
      {"unhealthy on target and silent", Admitted("h", "2.0.0", Health::kUnhealthy, now - absl::Hours(2)),
       "unhealthy on 2.0.0"},
      {"silent", Admitted("h", "1.0.0", Health::kHealthy, kT0 + absl::Minutes(5), kT0),
       "silent for 55m after being let in"},
      // Never took the update: Step withdraws it instead.
      {"silent since before it was let in", Admitted("h", "1.0.0", Health::kHealthy, kT0 - absl::Minutes(2), kT0),
       std::nullopt},
      {"silent, not long enough", Admitted("h", "1.0.0", Health::kHealthy, now - absl::Minutes(29), kT0),
       std::nullopt},
      {"let in too recently to be silent",
       Admitted("h", "1.0.0", Health::kHealthy, now - absl::Hours(2), now - absl::Minutes(29)), std::nullopt},
      {"silent on target healthy: stale, not failed", Admitted("h", "2.0.0", Health::kHealthy, now - absl::Hours(2)),
       std::nullopt},
      {"sticky", sticky, "unhealthy on 2.0.0"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(HostFailure(c.host, "2.0.0", p, now), c.want) << c.what;
  }
  EXPECT_TRUE(OnTargetHealthy(Admitted("h", "2.0.0", Health::kHealthy, now), "2.0.0"));
  EXPECT_FALSE(OnTargetHealthy(Admitted("h", "2.0.0", Health::kUnhealthy, now), "2.0.0"));
  EXPECT_FALSE(OnTargetHealthy(Admitted("h", "1.0.0", Health::kHealthy, now), "2.0.0"));
}

// ------------------------------------------------------------------ Step

// A channel's hosts as the store would show them to Step: builds
// StepInputs, applies a StepResult as the store would write it, and checks
// after every step that stepping again changes nothing.
class Fleet {
 public:
  struct Host {
    std::string id;
    int group = 0;
    std::string version;
    Health health = Health::kHealthy;
    absl::Time last_seen;
    bool reported_failure = false;
    std::string error;
  };
  struct Let {
    bool canary = false;
    absl::Time admitted_at;
    bool failed = false;
    std::string failure;
    absl::Time failed_at;
  };

  Fleet(RolloutPolicy policy, std::string start = "1.0.0", std::string target = "2.0.0", bool skip = false)
      : policy_(std::move(policy)),
        rollout_(StartRollout("web", start, std::nullopt, target, policy_, skip, skip ? "forced" : "", kT0)) {
    rollout_.id = 1;
    rollout_.generation = 1;
  }

  // Hosts "<prefix>0".."<prefix>N-1" in `group`, on the start version, seen now.
  void Add(int group, int n, const std::string& prefix = "h") {
    for (int i = 0; i < n; ++i) {
      Host h;
      h.id = absl::StrCat(prefix, hosts_.size());
      h.group = group;
      h.version = rollout_.start_version;
      h.last_seen = kT0;
      hosts_[h.id] = h;
    }
  }
  Host& operator[](const std::string& id) { return hosts_.at(id); }

  // Every host is seen at `now`: the reports of a live fleet.
  void SeenAt(absl::Time now) {
    for (auto& [id, h] : hosts_) h.last_seen = now;
  }
  // Hosts let in install the target and report it healthy.
  void InstallAdmitted(absl::Time now) {
    for (auto& [id, l] : let_) {
      hosts_.at(id).version = rollout_.target_version;
      hosts_.at(id).last_seen = now;
    }
  }

  // Every host is seen at `now`, those let in having installed the target
  // and reported it healthy; then a step.
  StepResult InstallAndStepAt(absl::Time now) {
    SeenAt(now);
    InstallAdmitted(now);
    return StepAt(now);
  }

  StepInputs Inputs(absl::Time now) const {
    StepInputs in;
    in.rollout = rollout_;
    in.policy = policy_;
    in.critical = critical;
    in.now = now;
    in.watching_since = watching_since;
    in.groups.resize(rollout_.groups.size());
    for (const auto& [id, h] : hosts_) {
      GroupInputs& g = in.groups[h.group];
      ++g.hosts;
      const bool present = h.last_seen >= now - in.stale_after;
      const bool on_target_healthy = h.version == rollout_.target_version && h.health == Health::kHealthy;
      if (present) {
        ++g.present;
        if (on_target_healthy) ++g.present_on_target_healthy;
      }
      auto l = let_.find(id);
      if (l != let_.end()) {
        AdmittedHost a;
        a.host_id = id;
        a.group = h.group;
        a.canary = l->second.canary;
        a.admitted_at = l->second.admitted_at;
        a.current_version = h.version;
        a.health = h.health;
        a.last_seen = h.last_seen;
        a.reported_failure = h.reported_failure;
        a.reported_error = h.error;
        a.failed = l->second.failed;
        a.failure = l->second.failure;
        if (a.failed) a.failed_at = l->second.failed_at;
        g.admitted.push_back(a);
        continue;
      }
      if (!present) continue;
      g.waiting.push_back(id);
      if (h.health == Health::kHealthy) g.canary_candidates.push_back(id);
    }
    for (const auto& [id, l] : let_) {
      if (l.admitted_at > now - policy_.period) ++in.admitted_in_period;
    }
    in.admitted_in_period += withdrawn_in_period_;
    return in;
  }

  StepResult StepAt(absl::Time now) {
    StepResult res = Step(Inputs(now));
    EXPECT_EQ(res.rollout.generation, rollout_.generation) << "Step must leave the generation to the store";
    Apply(res, now);
    StepResult again = Step(Inputs(now));
    EXPECT_FALSE(again.changed) << "a second step at " << now << " changed something: "
                                << absl::StrJoin(again.events, "; ") << " admits " << again.admit.size();
    EXPECT_TRUE(again.rollout == rollout_) << "second step moved the rollout";
    return res;
  }

  void Apply(const StepResult& res, absl::Time now) {
    rollout_ = res.rollout;
    for (const FailureMark& f : res.failed) {
      Let& l = let_.at(f.host_id);
      EXPECT_FALSE(l.failed) << f.host_id << " marked failed twice";
      l.failed = true;
      l.failure = f.failure;
      l.failed_at = now;
    }
    for (const std::string& id : res.withdraw) Withdraw(id, now);
    if (res.withdraw_not_updated) {
      std::vector<std::string> out;
      for (const auto& [id, l] : let_) {
        if (hosts_.at(id).version != rollout_.target_version) out.push_back(id);
      }
      for (const std::string& id : out) Withdraw(id, now);
    }
    for (const Admission& a : res.admit) {
      EXPECT_FALSE(let_.contains(a.host_id)) << a.host_id << " let in twice";
      EXPECT_EQ(hosts_.at(a.host_id).group, a.group);
      let_[a.host_id] = Let{.canary = a.canary, .admitted_at = now};
      ++admissions_;
    }
  }

  void Withdraw(const std::string& id, absl::Time now) {
    auto l = let_.find(id);
    ASSERT_NE(l, let_.end()) << id;
    if (l->second.admitted_at > now - policy_.period) ++withdrawn_in_period_;
    let_.erase(l);
  }

  int64_t InFlight() const {
    int64_t n = 0;
    for (const auto& [id, l] : let_) {
      const Host& h = hosts_.at(id);
      if (!l.failed && !(h.version == rollout_.target_version && h.health == Health::kHealthy)) ++n;
    }
    return n;
  }
  // Hosts told the target.
  absl::flat_hash_set<std::string> AdmittedSet() const {
    absl::flat_hash_set<std::string> s;
    for (const auto& [id, l] : let_) s.insert(id);
    return s;
  }
  std::vector<std::string> Canaries() const {
    std::vector<std::string> out;
    for (const auto& [id, l] : let_) {
      if (l.canary) out.push_back(id);
    }
    return out;
  }
  bool IsLetIn(const std::string& id) const { return let_.contains(id); }
  size_t LetIn() const { return let_.size(); }
  const Rollout& rollout() const { return rollout_; }
  Rollout& mutable_rollout() { return rollout_; }
  const RolloutPolicy& policy() const { return policy_; }
  int64_t admissions() const { return admissions_; }

  bool critical = false;
  absl::Time watching_since = absl::InfinitePast();

 private:
  RolloutPolicy policy_;
  Rollout rollout_;
  std::map<std::string, Host> hosts_;
  std::map<std::string, Let> let_;
  int64_t withdrawn_in_period_ = 0;
  int64_t admissions_ = 0;
};

bool HasEvent(const StepResult& r, absl::string_view fragment) {
  for (const std::string& e : r.events) {
    if (absl::StrContains(e, fragment)) return true;
  }
  return false;
}

TEST(StepTest, AGoodVersionGoesThroughCanariesActiveBakingToDone) {
  RolloutPolicy p;
  p.canaries = Amount::Count(2);
  Fleet fleet(p);
  fleet.Add(0, 20);

  StepResult r = fleet.StepAt(kT0);
  EXPECT_TRUE(r.changed);
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kCanary);
  EXPECT_EQ(fleet.rollout().groups[0].started_at, kT0);
  ASSERT_EQ(r.admit.size(), 2u);
  EXPECT_TRUE(r.admit[0].canary);
  EXPECT_EQ(fleet.rollout().groups[0].reason, "waiting for canaries 0/2");
  EXPECT_TRUE(HasEvent(r, "group all: unstarted -> canary")) << absl::StrJoin(r.events, "; ");
  EXPECT_TRUE(HasEvent(r, "group all: 2 canaries let in")) << absl::StrJoin(r.events, "; ");

  // Canaries still installing: nothing moves.
  EXPECT_FALSE(fleet.StepAt(kT0 + absl::Minutes(1)).changed);

  // The canaries run the target healthy: they are watched for the canary
  // watch (10 minutes by default) before anyone else is let in.
  r = fleet.InstallAndStepAt(kT0 + absl::Minutes(2));
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kCanary);
  EXPECT_TRUE(r.admit.empty());
  EXPECT_EQ(fleet.rollout().groups[0].bake_until, kT0 + absl::Minutes(12));
  EXPECT_EQ(fleet.rollout().groups[0].reason, "watching 2 canaries healthy on 2.0.0 until 2026-12-07T10:12:00Z");
  fleet.SeenAt(kT0 + absl::Minutes(11));
  EXPECT_FALSE(fleet.StepAt(kT0 + absl::Minutes(11)).changed);

  fleet.SeenAt(kT0 + absl::Minutes(12));
  r = fleet.StepAt(kT0 + absl::Minutes(12));
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kActive);
  EXPECT_FALSE(fleet.rollout().groups[0].bake_until.has_value());
  EXPECT_EQ(r.admit.size(), 18u);  // no limits: everyone else
  EXPECT_TRUE(HasEvent(r, "group all: 18 hosts let in")) << absl::StrJoin(r.events, "; ");
  for (const Admission& a : r.admit) EXPECT_FALSE(a.canary);
  EXPECT_EQ(fleet.rollout().groups[0].reason, "letting hosts in: 2 of 20 on target, 90% needed");

  // 17 of 20 is 85 %: not yet.
  fleet.SeenAt(kT0 + absl::Minutes(14));
  fleet.InstallAdmitted(kT0 + absl::Minutes(14));
  for (const char* id : {"h0", "h1", "h2"}) fleet[id].version = "1.0.0";  // still installing
  r = fleet.StepAt(kT0 + absl::Minutes(14));
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kActive);
  EXPECT_EQ(fleet.rollout().groups[0].reason, "letting hosts in: 17 of 20 on target, 90% needed");

  fleet["h0"].version = "2.0.0";  // 18 of 20: 90 %
  r = fleet.StepAt(kT0 + absl::Minutes(15));
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kBaking);
  EXPECT_EQ(fleet.rollout().groups[0].bake_until, kT0 + absl::Minutes(15) + absl::Hours(1));
  EXPECT_EQ(fleet.rollout().groups[0].reason, "baking until 2026-12-07T11:15:00Z");

  fleet.SeenAt(kT0 + absl::Minutes(74));
  EXPECT_FALSE(fleet.StepAt(kT0 + absl::Minutes(74)).changed);

  fleet.SeenAt(kT0 + absl::Minutes(75));
  r = fleet.StepAt(kT0 + absl::Minutes(75));
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kDone);
  EXPECT_EQ(fleet.rollout().groups[0].done_at, kT0 + absl::Minutes(75));
  EXPECT_EQ(fleet.rollout().groups[0].reason, "done");
  EXPECT_EQ(fleet.rollout().state, RolloutState::kDone);
  EXPECT_EQ(fleet.rollout().state_since, kT0 + absl::Minutes(75));
  EXPECT_TRUE(HasEvent(r, "rollout active -> done"));

  // A finished rollout stays put.
  EXPECT_FALSE(fleet.StepAt(kT0 + absl::Hours(5)).changed);
}

// The "healthy 20 s, then 503 for good": the version passes the
// updater's health watch, so the canaries report it healthy; it breaks
// during the canary watch, before anyone else is let in.
TEST(StepTest, CanaryWatchCatchesAVersionThatBreaksAfterItsHealthCheck) {
  RolloutPolicy p = Groups({"canary", "prod"});
  p.canaries = Amount::Count(3);
  p.canary_watch = absl::Minutes(10);
  Fleet fleet(p);
  fleet.Add(0, 20);
  fleet.Add(1, 100, "p");
  fleet.StepAt(kT0);
  std::vector<std::string> canaries = fleet.Canaries();
  ASSERT_EQ(canaries.size(), 3u);

  const absl::Time t1 = kT0 + absl::Minutes(2);
  StepResult r = fleet.InstallAndStepAt(t1);
  EXPECT_TRUE(r.admit.empty());
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kCanary);
  EXPECT_EQ(fleet.rollout().groups[0].reason, "watching 3 canaries healthy on 2.0.0 until 2026-12-07T10:12:00Z");

  // Five minutes later one of them turns unhealthy on the target.
  const absl::Time t2 = kT0 + absl::Minutes(7);
  fleet.SeenAt(t2);
  fleet[canaries[1]].health = Health::kUnhealthy;
  r = fleet.StepAt(t2);
  EXPECT_EQ(fleet.rollout().state, RolloutState::kHalted);
  EXPECT_EQ(fleet.rollout().reason,
            absl::StrCat("halted: 1 of 3 canaries failed, budget 0 (group canary); first: host ", canaries[1],
                         ": unhealthy on 2.0.0"));
  EXPECT_TRUE(r.admit.empty());
  EXPECT_EQ(fleet.LetIn(), 3u);  // the canaries, nobody else
  EXPECT_EQ(fleet.admissions(), 3);
}

// A canary that fails within the budget is replaced, and the watch starts
// again once the new one is healthy: every canary is watched in full.
TEST(StepTest, CanaryWatchStartsAgainWhenACanaryIsReplaced) {
  RolloutPolicy p;
  p.canaries = Amount::Count(2);
  p.canary_budget = Amount::Count(1);
  p.canary_watch = absl::Minutes(10);
  Fleet fleet(p);
  fleet.Add(0, 30);
  fleet.StepAt(kT0);
  std::vector<std::string> canaries = fleet.Canaries();
  ASSERT_EQ(canaries.size(), 2u);
  fleet.InstallAndStepAt(kT0 + absl::Minutes(1));
  EXPECT_EQ(fleet.rollout().groups[0].bake_until, kT0 + absl::Minutes(11));

  // At minute 5 one fails (within the budget): a third canary is let in.
  fleet.SeenAt(kT0 + absl::Minutes(5));
  fleet[canaries[0]].health = Health::kUnhealthy;
  StepResult r = fleet.StepAt(kT0 + absl::Minutes(5));
  EXPECT_EQ(fleet.rollout().state, RolloutState::kActive);
  ASSERT_EQ(r.admit.size(), 1u);
  EXPECT_TRUE(r.admit[0].canary);
  EXPECT_FALSE(fleet.rollout().groups[0].bake_until.has_value());
  EXPECT_EQ(fleet.rollout().groups[0].reason, "waiting for canaries 1/2");

  // Minute 11, when the first watch would have ended: the new canary has
  // just installed, so the watch begins now and nobody else is let in.
  fleet.SeenAt(kT0 + absl::Minutes(11));
  fleet.InstallAdmitted(kT0 + absl::Minutes(11));
  fleet[canaries[0]].health = Health::kUnhealthy;
  r = fleet.StepAt(kT0 + absl::Minutes(11));
  EXPECT_TRUE(r.admit.empty());
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kCanary);
  EXPECT_EQ(fleet.rollout().groups[0].bake_until, kT0 + absl::Minutes(21));

  fleet.SeenAt(kT0 + absl::Minutes(21));
  fleet[canaries[0]].health = Health::kUnhealthy;
  r = fleet.StepAt(kT0 + absl::Minutes(21));
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kActive);
  EXPECT_EQ(r.admit.size(), 27u);
}

// Critical skips the watch (as it skips bake times), not the canaries.
TEST(StepTest, CriticalSkipsTheCanaryWatchNotTheCanaries) {
  RolloutPolicy p;
  p.canaries = Amount::Count(2);
  p.canary_watch = absl::Hours(2);
  Fleet fleet(p);
  fleet.critical = true;
  fleet.Add(0, 10);
  StepResult r = fleet.StepAt(kT0);
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kCanary);
  EXPECT_EQ(r.admit.size(), 2u);
  r = fleet.InstallAndStepAt(kT0 + absl::Minutes(1));
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kActive);
  EXPECT_EQ(r.admit.size(), 8u);
}

// A canary that goes quiet during the watch proves nothing: the watch
// stops until it is heard from again, and starts over then.
TEST(StepTest, CanaryWatchStopsWhileACanaryIsSilent) {
  RolloutPolicy p;
  p.canaries = Amount::Count(2);
  p.canary_watch = absl::Minutes(10);
  Fleet fleet(p);
  fleet.Add(0, 10);
  fleet.StepAt(kT0);
  std::vector<std::string> canaries = fleet.Canaries();
  ASSERT_EQ(canaries.size(), 2u);
  fleet.InstallAndStepAt(kT0 + absl::Minutes(1));
  ASSERT_EQ(fleet.rollout().groups[0].bake_until, kT0 + absl::Minutes(11));
  // canaries[0] reported healthy at minute 1, then nothing: stale by minute 5.
  for (int minutes : {5, 11, 14}) {
    fleet.SeenAt(kT0 + absl::Minutes(minutes));
    fleet[canaries[0]].last_seen = kT0 + absl::Minutes(1);
    StepResult r = fleet.StepAt(kT0 + absl::Minutes(minutes));
    EXPECT_TRUE(r.admit.empty()) << minutes;
    EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kCanary) << minutes;
    EXPECT_FALSE(fleet.rollout().groups[0].bake_until.has_value()) << minutes;
  }
  // Back at minute 15: watched in full from then.
  fleet.SeenAt(kT0 + absl::Minutes(15));
  fleet.StepAt(kT0 + absl::Minutes(15));
  EXPECT_EQ(fleet.rollout().groups[0].bake_until, kT0 + absl::Minutes(25));
}

// Paused during the watch: on resume the canaries are watched in full again.
TEST(StepTest, ResumingWatchesTheCanariesInFullAgain) {
  RolloutPolicy p;
  p.canaries = Amount::Count(2);
  p.canary_watch = absl::Minutes(10);
  Fleet fleet(p);
  fleet.Add(0, 10);
  fleet.StepAt(kT0);
  fleet.InstallAndStepAt(kT0 + absl::Minutes(1));
  ASSERT_EQ(fleet.rollout().groups[0].bake_until, kT0 + absl::Minutes(11));
  ASSERT_TRUE(ApplyOperatorAction(fleet.mutable_rollout(), OperatorAction::kPause, "", "", "alice",
                                  kT0 + absl::Minutes(2))
                  .ok());
  fleet.SeenAt(kT0 + absl::Minutes(20));
  EXPECT_TRUE(fleet.StepAt(kT0 + absl::Minutes(20)).admit.empty());
  ASSERT_TRUE(ApplyOperatorAction(fleet.mutable_rollout(), OperatorAction::kResume, "", "", "alice",
                                  kT0 + absl::Minutes(20))
                  .ok());
  EXPECT_FALSE(fleet.rollout().groups[0].bake_until.has_value());
  StepResult r = fleet.StepAt(kT0 + absl::Minutes(20));
  EXPECT_TRUE(r.admit.empty());
  EXPECT_EQ(fleet.rollout().groups[0].bake_until, kT0 + absl::Minutes(30));
  fleet.SeenAt(kT0 + absl::Minutes(30));
  r = fleet.StepAt(kT0 + absl::Minutes(30));
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kActive);
  EXPECT_EQ(r.admit.size(), 8u);
}

TEST(StepTest, ABrokenVersionHaltsAtTheFirstCanaryFailureAndLetsNobodyElseIn) {
  RolloutPolicy p = Groups({"canary", "prod"});
  p.canaries = Amount::Count(5);
  Fleet fleet(p);
  fleet.Add(0, 20);
  fleet.Add(1, 100, "p");
  fleet.StepAt(kT0);
  std::vector<std::string> canaries = fleet.Canaries();
  ASSERT_EQ(canaries.size(), 5u);
  EXPECT_EQ(fleet.rollout().groups[1].reason, "waiting for group canary");

  // One canary installs and comes up unhealthy; the others are installing.
  const absl::Time t1 = kT0 + absl::Minutes(1);
  fleet.SeenAt(t1);
  fleet[canaries[2]].version = "2.0.0";
  fleet[canaries[2]].health = Health::kUnhealthy;
  StepResult r = fleet.StepAt(t1);
  EXPECT_EQ(fleet.rollout().state, RolloutState::kHalted);
  EXPECT_EQ(fleet.rollout().state_since, t1);
  EXPECT_EQ(fleet.rollout().reason,
            absl::StrCat("halted: 1 of 5 canaries failed, budget 0 (group canary); first: host ", canaries[2],
                         ": unhealthy on 2.0.0"));
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kHalted);
  EXPECT_EQ(fleet.rollout().groups[0].reason, fleet.rollout().reason);
  EXPECT_EQ(fleet.rollout().groups[1].state, GroupState::kUnstarted);
  EXPECT_TRUE(r.admit.empty());
  ASSERT_EQ(r.failed.size(), 1u);
  EXPECT_EQ(r.failed[0].host_id, canaries[2]);
  EXPECT_TRUE(r.withdraw_not_updated);
  // The four canaries that had not installed yet are withdrawn: only the
  // broken one was told the target.
  EXPECT_EQ(fleet.LetIn(), 1u);

  // The halt holds: hours later, nobody else is let in, whatever happens.
  for (int minutes : {2, 30, 600}) {
    fleet.SeenAt(kT0 + absl::Minutes(minutes));
    r = fleet.StepAt(kT0 + absl::Minutes(minutes));
    EXPECT_TRUE(r.admit.empty());
    EXPECT_EQ(fleet.rollout().state, RolloutState::kHalted);
  }
  EXPECT_EQ(fleet.admissions(), 5);

  // And GetTarget holds everyone else on the start version.
  Channel channel;
  channel.target_version = "2.0.0";
  absl::flat_hash_set<std::string> admitted = fleet.AdmittedSet();
  RolloutView view{&fleet.rollout(), &fleet.policy(), &admitted};
  EXPECT_EQ(TargetFor(channel, view, "p30", "prod").version, "1.0.0");
  EXPECT_EQ(TargetFor(channel, view, canaries[0], "canary").version, "1.0.0");
  EXPECT_EQ(TargetFor(channel, view, canaries[2], "canary").version, "2.0.0");
}

TEST(StepTest, AHostThatRetriesCountsOnce) {
  RolloutPolicy p;
  p.canaries = Amount::Count(3);
  p.canary_budget = Amount::Count(1);
  Fleet fleet(p);
  fleet.Add(0, 30);
  fleet.StepAt(kT0);
  const std::string bad = fleet.Canaries()[0];
  // It fails, retries, fails again, ... fifteen times: one failure.
  for (int i = 1; i <= 15; ++i) {
    const absl::Time t = kT0 + absl::Minutes(i);
    fleet.SeenAt(t);
    fleet[bad].reported_failure = true;
    fleet[bad].error = absl::StrCat("attempt ", i, ": postinst failed");
    fleet[bad].version = (i % 2 == 0) ? "2.0.0" : "1.0.0";
    fleet[bad].health = (i % 2 == 0) ? Health::kUnhealthy : Health::kHealthy;
    StepResult r = fleet.StepAt(t);
    EXPECT_EQ(r.failed.size(), i == 1 ? 1u : 0u) << i;
    EXPECT_EQ(fleet.rollout().state, RolloutState::kActive) << i << ": " << fleet.rollout().reason;
  }
  // The failed canary was replaced: three live canaries.
  EXPECT_EQ(fleet.Canaries().size(), 4u);
  // A second canary failing is one more than the budget of 1.
  const std::string second = fleet.Canaries()[1] == bad ? fleet.Canaries()[2] : fleet.Canaries()[1];
  fleet[second].reported_failure = true;
  fleet[second].error = "no space left";
  fleet.StepAt(kT0 + absl::Minutes(20));
  EXPECT_EQ(fleet.rollout().state, RolloutState::kHalted);
  EXPECT_TRUE(absl::StartsWith(fleet.rollout().reason, "halted: 2 of 4 canaries failed, budget 1; first: host "))
      << fleet.rollout().reason;
  EXPECT_TRUE(absl::StrContains(fleet.rollout().reason, "attempt 1: postinst failed")) << fleet.rollout().reason;
}

TEST(StepTest, HealthyTwentySecondsThenUnhealthyDuringBakeHalts) {
  RolloutPolicy p;
  p.canaries = Amount::Count(0);
  Fleet fleet(p);
  fleet.Add(0, 10);
  fleet.StepAt(kT0);
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kActive);
  EXPECT_EQ(fleet.LetIn(), 10u);
  fleet.InstallAdmitted(kT0 + absl::Minutes(1));
  fleet.StepAt(kT0 + absl::Minutes(1));
  ASSERT_EQ(fleet.rollout().groups[0].state, GroupState::kBaking);

  // Its health watch passed 20 s after the install; ten minutes into the
  // bake it answers 503 for good.
  const absl::Time t = kT0 + absl::Minutes(11);
  fleet.SeenAt(t);
  fleet["h4"].health = Health::kUnhealthy;
  StepResult r = fleet.StepAt(t);
  EXPECT_EQ(fleet.rollout().state, RolloutState::kHalted);
  EXPECT_EQ(fleet.rollout().reason, "halted: 1 of 10 hosts of group all failed, budget 0 (5%); first: host h4: "
                                    "unhealthy on 2.0.0");
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kHalted);
  EXPECT_FALSE(fleet.rollout().groups[0].bake_until.has_value());
  // Everyone took it already: nobody to withdraw.
  EXPECT_EQ(fleet.LetIn(), 10u);
}

TEST(StepTest, GroupBudgetFiguresForAPercentage) {
  RolloutPolicy p = Groups({"canary", "prod"});
  p.canaries = Amount::Count(0);
  Fleet fleet(p);
  fleet.Add(1, 50, "p");  // "canary" is empty: done at once
  fleet.StepAt(kT0);
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kDone);
  EXPECT_EQ(fleet.rollout().groups[0].reason, "done: no hosts present");
  ASSERT_EQ(fleet.rollout().groups[1].state, GroupState::kActive);
  fleet.InstallAdmitted(kT0 + absl::Minutes(1));
  for (int i = 0; i < 4; ++i) fleet[absl::StrCat("p", i)].health = Health::kUnhealthy;
  StepResult r = fleet.StepAt(kT0 + absl::Minutes(1));
  EXPECT_EQ(r.failed.size(), 4u);
  EXPECT_EQ(fleet.rollout().state, RolloutState::kHalted);
  EXPECT_EQ(fleet.rollout().reason,
            "halted: 4 of 50 hosts of group prod failed, budget 2 (5%); first: host p0: unhealthy on 2.0.0");
  EXPECT_EQ(fleet.rollout().groups[1].state, GroupState::kHalted);
}

TEST(StepTest, FailuresWithinTheBudgetDoNotHalt) {
  RolloutPolicy p;
  p.canaries = Amount::Count(0);
  p.group_budget = Amount::Percent(10);
  Fleet fleet(p);
  fleet.Add(0, 30);
  fleet.StepAt(kT0);
  fleet.InstallAdmitted(kT0 + absl::Minutes(1));
  for (const char* id : {"h1", "h2", "h3"}) fleet[id].health = Health::kUnhealthy;  // 3 of 30: tolerated
  StepResult r = fleet.StepAt(kT0 + absl::Minutes(1));
  EXPECT_EQ(r.failed.size(), 3u);
  EXPECT_EQ(fleet.rollout().state, RolloutState::kActive);
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kBaking);  // 27 of 30 is 90 %
}

TEST(StepTest, ASilentHostCounts) {
  RolloutPolicy p;
  p.canaries = Amount::Count(2);
  Fleet fleet(p);
  fleet.Add(0, 10);
  fleet.StepAt(kT0);
  std::vector<std::string> canaries = fleet.Canaries();
  // It picked the target up (it reported after being let in), then nothing
  // more. The other canary and the rest report on.
  for (int minutes = 1; minutes <= 31; minutes += 5) {
    const absl::Time t = kT0 + absl::Minutes(minutes);
    fleet.SeenAt(t);
    fleet[canaries[0]].last_seen = kT0 + absl::Minutes(1);
    StepResult r = fleet.StepAt(t);
    EXPECT_TRUE(r.withdraw.empty()) << "a canary that took the target is not replaced";
    EXPECT_EQ(fleet.rollout().state, RolloutState::kActive) << minutes;
  }
  const absl::Time t = kT0 + absl::Minutes(32);
  fleet.SeenAt(t);
  fleet[canaries[0]].last_seen = kT0 + absl::Minutes(1);
  StepResult r = fleet.StepAt(t);
  ASSERT_EQ(r.failed.size(), 1u);
  EXPECT_EQ(r.failed[0].failure, "silent for 31m after being let in");
  EXPECT_EQ(fleet.rollout().state, RolloutState::kHalted);
}

// The coordinator (or the reports) was down longer than the stale window:
// no host of any group counts as present. That is not an empty group: the
// groups wait for their hosts instead of finishing one after another (which
// would hand every host the target with no canary and no brake).
TEST(StepTest, AnOutageIsNotAnEmptyGroup) {
  RolloutPolicy p;
  p.groups = {{"dev", {}}, {"prod", {}}};
  p.canaries = Amount::Count(1);
  p.bake_time = absl::ZeroDuration();
  Fleet fleet(p);
  fleet.Add(0, 3);
  fleet.Add(1, 5);
  const absl::Time later = kT0 + absl::Hours(1);  // nobody reported since kT0
  StepResult r = fleet.StepAt(later);
  EXPECT_TRUE(r.admit.empty());
  EXPECT_EQ(fleet.rollout().state, RolloutState::kActive);
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kUnstarted);
  EXPECT_EQ(fleet.rollout().groups[1].state, GroupState::kUnstarted);
  EXPECT_TRUE(absl::StrContains(fleet.rollout().groups[0].reason, "none of its 3 hosts")) << fleet.rollout().groups[0].reason;
  // They report again: a canary, as usual.
  fleet.SeenAt(later + absl::Seconds(5));
  fleet.StepAt(later + absl::Seconds(5));
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kCanary);
  EXPECT_EQ(fleet.Canaries().size(), 1u);
  // A group that has no host at all is still done at once.
  Fleet empty(p);
  empty.Add(1, 2);
  empty.StepAt(kT0);
  EXPECT_EQ(empty.rollout().groups[0].state, GroupState::kDone);
}

// Silence counts from when the engine started listening (it took the lead
// or came back after an outage), not from the last report it could not
// have heard.
TEST(StepTest, SilenceCountsFromWhenTheEngineStartedListening) {
  RolloutPolicy p;
  p.canaries = Amount::Count(2);
  Fleet fleet(p);
  fleet.Add(0, 10);
  fleet.StepAt(kT0);
  std::vector<std::string> canaries = fleet.Canaries();
  fleet.watching_since = kT0 + absl::Minutes(20);
  for (int minutes : {32, 45}) {
    const absl::Time t = kT0 + absl::Minutes(minutes);
    fleet.SeenAt(t);
    fleet[canaries[0]].last_seen = kT0 + absl::Minutes(1);
    StepResult r = fleet.StepAt(t);
    EXPECT_TRUE(r.failed.empty()) << minutes << " min: silent only since the engine listens, 20 min in";
  }
  const absl::Time t = kT0 + absl::Minutes(51);
  fleet.SeenAt(t);
  fleet[canaries[0]].last_seen = kT0 + absl::Minutes(1);
  StepResult r = fleet.StepAt(t);
  ASSERT_EQ(r.failed.size(), 1u);
  EXPECT_EQ(fleet.rollout().state, RolloutState::kHalted);
}

TEST(StepTest, AStaleCanaryThatNeverTookTheTargetIsReplaced) {
  RolloutPolicy p;
  p.canaries = Amount::Count(2);
  Fleet fleet(p);
  fleet.Add(0, 10);
  fleet.StepAt(kT0);
  std::vector<std::string> canaries = fleet.Canaries();
  ASSERT_EQ(canaries.size(), 2u);
  // canaries[0] was switched off just after it was picked.
  const absl::Time t = kT0 + absl::Minutes(4);
  fleet.SeenAt(t);
  fleet[canaries[0]].last_seen = kT0 - absl::Seconds(30);
  StepResult r = fleet.StepAt(t);
  EXPECT_EQ(r.withdraw, std::vector<std::string>{canaries[0]});
  ASSERT_EQ(r.admit.size(), 1u);
  EXPECT_TRUE(r.admit[0].canary);
  EXPECT_NE(r.admit[0].host_id, canaries[0]);
  EXPECT_TRUE(r.failed.empty());
  EXPECT_EQ(fleet.rollout().state, RolloutState::kActive);
  EXPECT_EQ(fleet.Canaries().size(), 2u);
  EXPECT_TRUE(HasEvent(r, "withdrawn"));
}

// A host switched off between being let in and its next poll never took
// the target: it is withdrawn, not counted failed (a zero group budget does
// not halt), frees its place in flight, and is let in again once back.
TEST(StepTest, AHostNeverSeenSinceItWasLetInIsWithdrawnNotBlamed) {
  RolloutPolicy p;
  p.canaries = Amount::Count(0);
  p.group_budget = Amount::Count(0);
  p.max_in_flight = 2;
  Fleet fleet(p);
  fleet.Add(0, 4);
  StepResult r = fleet.StepAt(kT0);
  ASSERT_EQ(r.admit.size(), 2u);
  const std::string gone = r.admit[0].host_id, kept = r.admit[1].host_id;
  // `gone` is never seen again; the others keep polling, `kept` without
  // installing yet.
  for (int minutes : {1, 2, 3}) {
    const absl::Time t = kT0 + absl::Minutes(minutes);
    fleet.SeenAt(t);
    fleet[gone].last_seen = kT0 - absl::Seconds(5);
    r = fleet.StepAt(t);
    EXPECT_TRUE(r.withdraw.empty()) << minutes;  // not stale yet
  }
  const absl::Time t = kT0 + absl::Minutes(4);
  fleet.SeenAt(t);
  fleet[gone].last_seen = kT0 - absl::Seconds(5);
  r = fleet.StepAt(t);
  EXPECT_EQ(r.withdraw, std::vector<std::string>{gone});
  EXPECT_TRUE(r.failed.empty());
  EXPECT_EQ(fleet.rollout().state, RolloutState::kActive);
  EXPECT_TRUE(HasEvent(r, "group all: 1 host withdrawn: not seen since let in")) << absl::StrJoin(r.events, "; ");
  // Its place in flight went to another host.
  ASSERT_EQ(r.admit.size(), 1u);
  EXPECT_NE(r.admit[0].host_id, gone);
  EXPECT_NE(r.admit[0].host_id, kept);

  // Long past the silent timeout, still nothing counted against the budget.
  fleet.SeenAt(kT0 + absl::Hours(1));
  fleet[gone].last_seen = kT0 - absl::Seconds(5);
  r = fleet.StepAt(kT0 + absl::Hours(1));
  EXPECT_TRUE(r.failed.empty());
  EXPECT_EQ(fleet.rollout().state, RolloutState::kActive);
}

// The same after a leader change, in a paused rollout (where nobody is
// withdrawn): silence counts from when the new leader started listening,
// but only for hosts seen after they were let in.
TEST(StepTest, ANeverSeenHostIsNotBlamedAfterALeaderChangeWhilePaused) {
  RolloutPolicy p;
  p.canaries = Amount::Count(0);
  p.group_budget = Amount::Count(0);
  p.max_in_flight = 2;
  Fleet fleet(p);
  fleet.Add(0, 4);
  StepResult r = fleet.StepAt(kT0);
  ASSERT_EQ(r.admit.size(), 2u);
  const std::string gone = r.admit[0].host_id;
  ASSERT_TRUE(ApplyOperatorAction(fleet.mutable_rollout(), OperatorAction::kPause, "", "", "alice",
                                  kT0 + absl::Seconds(30))
                  .ok());
  fleet.watching_since = kT0 + absl::Minutes(1);  // a new leader
  for (absl::Duration d : {absl::Minutes(40), absl::Hours(3)}) {
    fleet.SeenAt(kT0 + d);
    fleet[gone].last_seen = kT0 - absl::Seconds(5);
    r = fleet.StepAt(kT0 + d);
    EXPECT_TRUE(r.failed.empty()) << d;
    EXPECT_EQ(fleet.rollout().state, RolloutState::kPaused) << d;
  }
}

TEST(StepTest, MaxInFlightHolds) {
  RolloutPolicy p;
  p.canaries = Amount::Count(0);
  p.max_in_flight = 3;
  Fleet fleet(p);
  fleet.Add(0, 10);
  StepResult r = fleet.StepAt(kT0);
  EXPECT_EQ(r.admit.size(), 3u);
  EXPECT_EQ(fleet.rollout().groups[0].reason,
            "letting hosts in: 0 of 10 on target, 90% needed; 3 in flight, at most 3");
  EXPECT_FALSE(fleet.StepAt(kT0 + absl::Minutes(1)).changed);
  // Two reach the target healthy: two slots free.
  std::vector<std::string> in;
  for (const auto& id : fleet.AdmittedSet()) in.push_back(id);
  std::sort(in.begin(), in.end());
  const absl::Time t = kT0 + absl::Minutes(2);
  fleet.SeenAt(t);
  fleet[in[0]].version = "2.0.0";
  fleet[in[1]].version = "2.0.0";
  r = fleet.StepAt(t);
  EXPECT_EQ(r.admit.size(), 2u);
  EXPECT_EQ(fleet.InFlight(), 3);
  for (int round = 0; fleet.rollout().groups[0].state == GroupState::kActive; ++round) {
    ASSERT_LT(round, 20);
    EXPECT_LE(fleet.InFlight(), 3);
    fleet.InstallAdmitted(t);
    fleet.StepAt(t);
    EXPECT_LE(fleet.InFlight(), 3);
  }
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kBaking);
}

TEST(StepTest, LimitsHoldForCanariesToo) {
  RolloutPolicy p;
  p.canary_watch = absl::ZeroDuration();  // StepTest.CanaryWatch* cover it
  p.canaries = Amount::Count(5);
  p.max_in_flight = 2;
  Fleet fleet(p);
  fleet.Add(0, 20);
  StepResult r = fleet.StepAt(kT0);
  EXPECT_EQ(r.admit.size(), 2u);
  EXPECT_EQ(fleet.rollout().groups[0].reason, "waiting for canaries 0/5; 2 in flight, at most 2");
  fleet.InstallAdmitted(kT0 + absl::Minutes(1));
  fleet.SeenAt(kT0 + absl::Minutes(1));
  r = fleet.StepAt(kT0 + absl::Minutes(1));
  EXPECT_EQ(r.admit.size(), 2u);
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kCanary) << "two healthy canaries are not five";
  EXPECT_EQ(fleet.rollout().groups[0].reason, "waiting for canaries 2/5; 2 in flight, at most 2");
  fleet.InstallAdmitted(kT0 + absl::Minutes(2));
  fleet.SeenAt(kT0 + absl::Minutes(2));
  r = fleet.StepAt(kT0 + absl::Minutes(2));
  ASSERT_EQ(r.admit.size(), 1u);
  fleet.InstallAdmitted(kT0 + absl::Minutes(3));
  fleet.SeenAt(kT0 + absl::Minutes(3));
  r = fleet.StepAt(kT0 + absl::Minutes(3));
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kActive);
  EXPECT_EQ(r.admit.size(), 2u);
  for (const Admission& a : r.admit) EXPECT_FALSE(a.canary);
  EXPECT_EQ(fleet.Canaries().size(), 5u);
}

TEST(StepTest, MaxPerPeriodHolds) {
  RolloutPolicy p;
  p.canary_watch = absl::ZeroDuration();  // StepTest.CanaryWatch* cover it
  p.canaries = Amount::Count(2);
  p.max_per_period = 4;
  p.period = absl::Hours(1);
  Fleet fleet(p);
  fleet.Add(0, 20);
  EXPECT_EQ(fleet.StepAt(kT0).admit.size(), 2u);
  fleet.InstallAdmitted(kT0 + absl::Minutes(5));
  fleet.SeenAt(kT0 + absl::Minutes(5));
  StepResult r = fleet.StepAt(kT0 + absl::Minutes(5));
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kActive);
  EXPECT_EQ(r.admit.size(), 2u);  // 4 per hour, 2 used by the canaries
  EXPECT_EQ(fleet.rollout().groups[0].reason,
            "letting hosts in: 2 of 20 on target, 90% needed; 4 let in per 1h already");
  fleet.InstallAdmitted(kT0 + absl::Minutes(30));
  fleet.SeenAt(kT0 + absl::Minutes(30));
  EXPECT_TRUE(fleet.StepAt(kT0 + absl::Minutes(30)).admit.empty());
  // The canaries' hour is over: two more.
  fleet.SeenAt(kT0 + absl::Minutes(61));
  EXPECT_EQ(fleet.StepAt(kT0 + absl::Minutes(61)).admit.size(), 2u);
  // And the next two once the first active ones' hour is over.
  fleet.SeenAt(kT0 + absl::Minutes(64));
  EXPECT_TRUE(fleet.StepAt(kT0 + absl::Minutes(64)).admit.empty());
  fleet.SeenAt(kT0 + absl::Minutes(66));
  EXPECT_EQ(fleet.StepAt(kT0 + absl::Minutes(66)).admit.size(), 2u);
}

TEST(StepTest, GroupsGoInOrderAndWaitForTheirWindow) {
  RolloutPolicy p = Groups({"canary", "prod"});
  p.canary_watch = absl::ZeroDuration();  // StepTest.CanaryWatch* cover it
  // prod starts only on Tuesdays and Thursdays 02:00-04:00 UTC.
  p.groups[1].windows.push_back(Window({2, 4}, 2, absl::Hours(2)));
  p.canaries = Amount::Count(1);
  p.bake_time = absl::Minutes(30);
  Fleet fleet(p);
  fleet.Add(0, 4);
  fleet.Add(1, 10, "p");
  fleet.StepAt(kT0);
  EXPECT_EQ(fleet.rollout().groups[1].state, GroupState::kUnstarted);
  EXPECT_EQ(fleet.rollout().groups[1].reason, "waiting for group canary");
  fleet.InstallAdmitted(kT0 + absl::Minutes(1));
  fleet.SeenAt(kT0 + absl::Minutes(1));
  fleet.StepAt(kT0 + absl::Minutes(1));  // canary -> active, everyone in
  fleet.InstallAdmitted(kT0 + absl::Minutes(2));
  fleet.SeenAt(kT0 + absl::Minutes(2));
  fleet.StepAt(kT0 + absl::Minutes(2));
  ASSERT_EQ(fleet.rollout().groups[0].state, GroupState::kBaking);
  EXPECT_EQ(fleet.rollout().groups[1].reason, "waiting for group canary");
  fleet.SeenAt(kT0 + absl::Minutes(40));
  StepResult r = fleet.StepAt(kT0 + absl::Minutes(40));
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kDone);
  EXPECT_EQ(fleet.rollout().groups[1].state, GroupState::kUnstarted);
  EXPECT_EQ(fleet.rollout().groups[1].reason, "waiting for a maintenance window (next 2026-12-08T02:00:00Z)");
  EXPECT_TRUE(r.admit.empty());
  EXPECT_EQ(fleet.rollout().state, RolloutState::kActive);

  const absl::Time tue = At(8, 2, 30);
  fleet.SeenAt(tue);
  r = fleet.StepAt(tue);
  EXPECT_EQ(fleet.rollout().groups[1].state, GroupState::kCanary);
  EXPECT_EQ(fleet.rollout().groups[1].started_at, tue);
  ASSERT_EQ(r.admit.size(), 1u);
  EXPECT_EQ(r.admit[0].group, 1);
  EXPECT_TRUE(absl::StartsWith(r.admit[0].host_id, "p"));
}

TEST(StepTest, CriticalSkipsWindowAndBakeButNotCanariesNorTheBrake) {
  RolloutPolicy p;
  p.groups.push_back({"prod", {Window({2}, 2, absl::Hours(1))}});
  p.canaries = Amount::Count(2);
  Fleet fleet(p);
  fleet.critical = true;
  fleet.Add(0, 10);
  StepResult r = fleet.StepAt(kT0);  // a Monday: outside the window
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kCanary);
  EXPECT_EQ(r.admit.size(), 2u);
  fleet.InstallAdmitted(kT0 + absl::Minutes(1));
  fleet.SeenAt(kT0 + absl::Minutes(1));
  fleet.StepAt(kT0 + absl::Minutes(1));
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kActive);
  fleet.InstallAdmitted(kT0 + absl::Minutes(2));
  fleet.SeenAt(kT0 + absl::Minutes(2));
  fleet.StepAt(kT0 + absl::Minutes(2));
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kDone);
  EXPECT_EQ(fleet.rollout().groups[0].reason, "done (critical: no bake time)");
  EXPECT_EQ(fleet.rollout().state, RolloutState::kDone);

  // The brake still applies.
  Fleet broken(p);
  broken.critical = true;
  broken.Add(0, 10);
  broken.StepAt(kT0);
  const std::string c = broken.Canaries()[0];
  broken[c].reported_failure = true;
  broken.StepAt(kT0 + absl::Minutes(1));
  EXPECT_EQ(broken.rollout().state, RolloutState::kHalted);
}

TEST(StepTest, CriticalEndsABakeAtOnce) {
  RolloutPolicy p;
  p.canaries = Amount::Count(0);
  Fleet fleet(p);
  fleet.Add(0, 5);
  fleet.StepAt(kT0);
  fleet.InstallAdmitted(kT0);
  fleet.StepAt(kT0 + absl::Minutes(1));
  ASSERT_EQ(fleet.rollout().groups[0].state, GroupState::kBaking);
  fleet.critical = true;
  fleet.StepAt(kT0 + absl::Minutes(2));
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kDone);
}

TEST(StepTest, ForcedRolloutSkipsCanaries) {
  RolloutPolicy p = Groups({"a", "b"});
  p.bake_time = absl::ZeroDuration();
  Fleet fleet(p, "1.0.0", "2.0.0", /*skip=*/true);
  fleet.Add(0, 10);
  fleet.Add(1, 10, "b");
  StepResult r = fleet.StepAt(kT0);
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kActive);
  EXPECT_EQ(r.admit.size(), 10u);
  for (const Admission& a : r.admit) EXPECT_FALSE(a.canary);
  fleet.InstallAdmitted(kT0 + absl::Minutes(1));
  fleet.SeenAt(kT0 + absl::Minutes(1));
  r = fleet.StepAt(kT0 + absl::Minutes(1));  // a done (no bake), b starts without canaries
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kDone);
  EXPECT_EQ(fleet.rollout().groups[1].state, GroupState::kActive);
  EXPECT_EQ(r.admit.size(), 10u);
}

TEST(StepTest, CatchAllOffTurnsUpdatesOffForUnlistedHosts) {
  RolloutPolicy p = Groups({"canary", "prod"}, CatchAll::kOff);
  p.canaries = Amount::Count(0);
  Fleet fleet(p);
  fleet.Add(0, 5);
  fleet.Add(1, 5, "p");
  fleet.StepAt(kT0);
  fleet.InstallAndStepAt(kT0 + absl::Minutes(1));
  fleet.SeenAt(kT0 + absl::Hours(2));
  fleet.StepAt(kT0 + absl::Hours(2));
  fleet.InstallAdmitted(kT0 + absl::Hours(2) + absl::Minutes(1));
  fleet.StepAt(kT0 + absl::Hours(2) + absl::Minutes(1));
  ASSERT_EQ(fleet.rollout().groups[0].state, GroupState::kDone);
  ASSERT_EQ(fleet.rollout().groups[1].state, GroupState::kBaking);

  Channel channel;
  channel.target_version = "2.0.0";
  absl::flat_hash_set<std::string> admitted = fleet.AdmittedSet();
  RolloutView view{&fleet.rollout(), &fleet.policy(), &admitted};
  EXPECT_EQ(TargetFor(channel, view, "h0", "canary").version, "2.0.0");
  EXPECT_EQ(TargetFor(channel, view, "p7", "prod").version, "2.0.0");
  // Hosts in no listed group are told nothing to install: they stay as
  // they are (not even moved to the start version).
  HostTarget unlisted = TargetFor(channel, view, "x1", "staging");
  EXPECT_EQ(unlisted.version, "");
  EXPECT_TRUE(unlisted.held_back);
  EXPECT_FALSE(unlisted.downgrade_allowed);
  EXPECT_EQ(TargetFor(channel, view, "x2", "").version, "");
  EXPECT_EQ(TargetFor(channel, view, "", "prod").version, "") << "no host id: the catch-all";

  // Once the rollout is done too: updates stay off for them (users complain
  // that unknown hosts silently fall through to updates), and so without
  // any rollout at all.
  fleet.SeenAt(kT0 + absl::Hours(4));
  fleet.StepAt(kT0 + absl::Hours(4));
  ASSERT_EQ(fleet.rollout().state, RolloutState::kDone);
  EXPECT_EQ(TargetFor(channel, view, "p7", "prod").version, "2.0.0");
  EXPECT_EQ(TargetFor(channel, view, "x1", "staging").version, "");
  EXPECT_TRUE(TargetFor(channel, view, "x1", "staging").held_back);
  EXPECT_EQ(TargetFor(channel, view, "", "").version, "");
  const RolloutView no_rollout{nullptr, &fleet.policy(), nullptr};
  EXPECT_EQ(TargetFor(channel, no_rollout, "p7", "prod").version, "2.0.0");
  EXPECT_EQ(TargetFor(channel, no_rollout, "x1", "staging").version, "");
  // With the catch-all on (last group), they go with the last group.
  // A host let in that now names an unlisted group keeps the target it took;
  // rolled back, it is told the start version with the others, while an
  // unlisted host that never took the target stays as it is.
  {
    Rollout live = fleet.rollout();
    live.state = RolloutState::kActive;
    live.groups[1].state = GroupState::kActive;
    const RolloutView v{&live, &fleet.policy(), &admitted};
    EXPECT_EQ(TargetFor(channel, v, "p7", "staging").version, "2.0.0");
    EXPECT_EQ(TargetFor(channel, v, "x1", "staging").version, "");
    live.state = RolloutState::kRolledBack;
    HostTarget back = TargetFor(channel, v, "p7", "staging");
    EXPECT_EQ(back.version, "1.0.0");
    EXPECT_TRUE(back.downgrade_allowed);
    EXPECT_EQ(TargetFor(channel, v, "x1", "staging").version, "");
    EXPECT_EQ(TargetFor(channel, v, "h0", "canary").version, "1.0.0");
  }
  RolloutPolicy on = fleet.policy();
  on.catch_all = CatchAll::kLastGroup;
  const RolloutView last_group{&fleet.rollout(), &on, &admitted};
  EXPECT_EQ(TargetFor(channel, last_group, "x1", "staging").version, "2.0.0");
  EXPECT_FALSE(TargetFor(channel, last_group, "x1", "staging").held_back);
}

TEST(StepTest, PausedRecordsFailuresAndBrakesButLetsNobodyIn) {
  RolloutPolicy p;
  p.canaries = Amount::Count(2);
  p.canary_budget = Amount::Count(1);
  p.group_budget = Amount::Count(5);
  Fleet fleet(p);
  fleet.Add(0, 10);
  fleet.StepAt(kT0);
  ASSERT_TRUE(ApplyOperatorAction(fleet.mutable_rollout(), OperatorAction::kPause, "", "", "alice",
                                  kT0 + absl::Minutes(1))
                  .ok());
  std::vector<std::string> canaries = fleet.Canaries();
  fleet.InstallAdmitted(kT0 + absl::Minutes(2));
  fleet.SeenAt(kT0 + absl::Minutes(2));
  StepResult r = fleet.StepAt(kT0 + absl::Minutes(2));
  EXPECT_FALSE(r.changed);
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kCanary) << "paused: nothing moves on";

  fleet[canaries[0]].health = Health::kUnhealthy;
  r = fleet.StepAt(kT0 + absl::Minutes(3));
  EXPECT_EQ(r.failed.size(), 1u);
  EXPECT_TRUE(r.admit.empty()) << "no replacement while paused";
  EXPECT_EQ(fleet.rollout().state, RolloutState::kPaused);
  fleet[canaries[1]].health = Health::kUnhealthy;
  r = fleet.StepAt(kT0 + absl::Minutes(4));
  EXPECT_EQ(fleet.rollout().state, RolloutState::kHalted);
  EXPECT_TRUE(absl::StartsWith(fleet.rollout().reason, "halted: 2 of 2 canaries failed, budget 1"));
}

TEST(StepTest, AnOperatorsHaltWithdrawsHostsNotUpdatedYet) {
  RolloutPolicy p;
  p.canaries = Amount::Count(0);
  p.max_in_flight = 4;
  Fleet fleet(p);
  fleet.Add(0, 10);
  fleet.StepAt(kT0);
  ASSERT_EQ(fleet.LetIn(), 4u);
  const std::vector<std::string> in = [&] {
    std::vector<std::string> v;
    for (const auto& id : fleet.AdmittedSet()) v.push_back(id);
    std::sort(v.begin(), v.end());
    return v;
  }();
  fleet[in[0]].version = "2.0.0";  // one has updated
  ASSERT_TRUE(ApplyOperatorAction(fleet.mutable_rollout(), OperatorAction::kHalt, "", "wait", "", kT0).ok());
  StepResult r = fleet.StepAt(kT0 + absl::Minutes(1));
  EXPECT_TRUE(r.withdraw_not_updated);
  EXPECT_TRUE(r.changed);
  EXPECT_TRUE(HasEvent(r, "told the start version again"));
  EXPECT_TRUE(fleet.IsLetIn(in[0]));
  EXPECT_EQ(fleet.LetIn(), 1u) << "the three not updated yet are withdrawn";
}

TEST(StepTest, HaltedRecordsFailuresOnly) {
  RolloutPolicy p;
  p.canaries = Amount::Count(2);
  Fleet fleet(p);
  fleet.Add(0, 10);
  fleet.StepAt(kT0);
  fleet.InstallAdmitted(kT0 + absl::Minutes(1));
  ASSERT_TRUE(ApplyOperatorAction(fleet.mutable_rollout(), OperatorAction::kHalt, "", "dashboards look odd", "bob",
                                  kT0 + absl::Minutes(1))
                  .ok());
  EXPECT_EQ(fleet.rollout().reason, "halted by bob: dashboards look odd");
  const std::string c = fleet.Canaries()[0];
  fleet[c].health = Health::kUnhealthy;
  fleet.SeenAt(kT0 + absl::Minutes(2));
  StepResult r = fleet.StepAt(kT0 + absl::Minutes(2));
  EXPECT_EQ(r.failed.size(), 1u);
  EXPECT_TRUE(r.admit.empty());
  EXPECT_FALSE(r.withdraw_not_updated) << "every host let in runs the target";
  EXPECT_EQ(fleet.rollout().reason, "halted by bob: dashboards look odd") << "an operator's halt keeps its reason";
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kCanary);
}

TEST(StepTest, AutoRollbackRollsBackOnABreach) {
  RolloutPolicy p;
  p.canaries = Amount::Count(2);
  p.auto_rollback = true;
  Fleet fleet(p);
  fleet.Add(0, 10);
  fleet.StepAt(kT0);
  const std::string c = fleet.Canaries()[0];
  fleet.InstallAdmitted(kT0 + absl::Minutes(1));
  fleet[c].health = Health::kUnhealthy;
  StepResult r = fleet.StepAt(kT0 + absl::Minutes(1));
  EXPECT_EQ(fleet.rollout().state, RolloutState::kRolledBack);
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kRolledBack);
  EXPECT_TRUE(absl::StartsWith(fleet.rollout().reason, "halted: 1 of 2 canaries failed, budget 0; first: host "));
  EXPECT_TRUE(absl::EndsWith(fleet.rollout().reason, "; rolled back to 1.0.0 (auto-rollback)")) << fleet.rollout().reason;
  EXPECT_TRUE(HasEvent(r, "rollout active -> rolled_back"));
  // A rolled-back rollout records nothing more.
  fleet[fleet.Canaries()[1]].health = Health::kUnhealthy;
  EXPECT_FALSE(fleet.StepAt(kT0 + absl::Minutes(2)).changed);

  Channel channel;
  channel.target_version = "2.0.0";
  absl::flat_hash_set<std::string> admitted = fleet.AdmittedSet();
  RolloutView view{&fleet.rollout(), &fleet.policy(), &admitted};
  HostTarget t = TargetFor(channel, view, c, "");
  EXPECT_EQ(t.version, "1.0.0");
  EXPECT_TRUE(t.downgrade_allowed);
  EXPECT_TRUE(t.held_back);

  // Without a start version there is nothing to roll back to: it halts.
  Fleet fresh(p, "", "2.0.0");
  fresh.Add(0, 10);
  fresh.StepAt(kT0);
  fresh.InstallAdmitted(kT0 + absl::Minutes(1));
  fresh[fresh.Canaries()[0]].health = Health::kUnhealthy;
  fresh.StepAt(kT0 + absl::Minutes(1));
  EXPECT_EQ(fresh.rollout().state, RolloutState::kHalted);
}

TEST(StepTest, ResumingAfterTheBrakeAcceptsTheFailuresSoFar) {
  RolloutPolicy p;
  p.canaries = Amount::Count(2);
  Fleet fleet(p);
  fleet.Add(0, 10);
  fleet.StepAt(kT0);
  std::vector<std::string> canaries = fleet.Canaries();
  fleet.InstallAdmitted(kT0 + absl::Minutes(1));
  fleet.SeenAt(kT0 + absl::Minutes(1));
  fleet[canaries[0]].health = Health::kUnhealthy;
  fleet.StepAt(kT0 + absl::Minutes(1));
  ASSERT_EQ(fleet.rollout().state, RolloutState::kHalted);

  // The host was broken by something else; the operator resumes.
  fleet[canaries[0]].health = Health::kHealthy;
  const absl::Time t = kT0 + absl::Minutes(10);
  ASSERT_TRUE(ApplyOperatorAction(fleet.mutable_rollout(), OperatorAction::kResume, "", "disk was full", "alice", t).ok());
  EXPECT_EQ(fleet.rollout().state, RolloutState::kActive);
  EXPECT_EQ(fleet.rollout().reason, "");
  EXPECT_EQ(fleet.rollout().resumed_at, t);
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kCanary);
  EXPECT_EQ(fleet.rollout().groups[0].reason, "resumed by alice: disk was full");

  fleet.SeenAt(t + absl::Minutes(1));
  StepResult r = fleet.StepAt(t + absl::Minutes(1));
  EXPECT_EQ(fleet.rollout().state, RolloutState::kActive) << fleet.rollout().reason;
  // One canary failed (accepted): one more is picked to have two live ones.
  ASSERT_EQ(r.admit.size(), 1u);
  EXPECT_TRUE(r.admit[0].canary);
  // A new failure after the resume brakes again.
  fleet.InstallAdmitted(t + absl::Minutes(2));
  fleet[r.admit[0].host_id].health = Health::kUnhealthy;
  fleet.StepAt(t + absl::Minutes(2));
  EXPECT_EQ(fleet.rollout().state, RolloutState::kHalted);
  EXPECT_TRUE(absl::StartsWith(fleet.rollout().reason, "halted: 1 of 3 canaries failed, budget 0"))
      << fleet.rollout().reason;
}

TEST(StepTest, ABakeThatEndsShortOfTheTargetGoesBackToLettingHostsIn) {
  RolloutPolicy p;
  p.canaries = Amount::Count(0);
  p.max_in_flight = 9;
  p.group_budget = Amount::Count(100);
  Fleet fleet(p);
  fleet.Add(0, 10);
  fleet.StepAt(kT0);
  EXPECT_EQ(fleet.LetIn(), 9u);
  fleet.InstallAdmitted(kT0 + absl::Minutes(1));
  fleet.SeenAt(kT0 + absl::Minutes(1));
  fleet.StepAt(kT0 + absl::Minutes(1));
  ASSERT_EQ(fleet.rollout().groups[0].state, GroupState::kBaking);
  // Two hosts roll back locally during the bake (within the budget).
  fleet["h1"].version = "1.0.0";
  fleet["h2"].version = "1.0.0";
  fleet.SeenAt(kT0 + absl::Minutes(61));
  StepResult r = fleet.StepAt(kT0 + absl::Minutes(61));
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kActive);
  EXPECT_EQ(r.admit.size(), 1u) << "the one host not let in yet";
  EXPECT_FALSE(fleet.rollout().groups[0].bake_until.has_value());
}

TEST(StepTest, CanariesDoWithFewerHealthyHostsThanWanted) {
  RolloutPolicy p;
  p.canary_watch = absl::ZeroDuration();  // StepTest.CanaryWatch* cover it
  p.canaries = Amount::Count(5);
  Fleet fleet(p);
  fleet.Add(0, 8);
  for (const char* id : {"h0", "h1", "h2", "h3", "h4", "h5"}) fleet[id].health = Health::kUnhealthy;
  StepResult r = fleet.StepAt(kT0);
  EXPECT_EQ(r.admit.size(), 2u);
  EXPECT_EQ(fleet.rollout().groups[0].reason, "waiting for canaries 0/5");
  fleet.InstallAdmitted(kT0 + absl::Minutes(1));
  fleet.SeenAt(kT0 + absl::Minutes(1));
  fleet.StepAt(kT0 + absl::Minutes(1));
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kActive);

  // No healthy host at all: nobody to prove the version on, and the update
  // may be what repairs them. The group goes on without canaries (the brake
  // still applies) rather than wait for ever.
  Fleet sick(p);
  sick.Add(0, 3);
  for (const char* id : {"h0", "h1", "h2"}) sick[id].health = Health::kUnhealthy;
  StepResult sr = sick.StepAt(kT0);
  EXPECT_EQ(sr.admit.size(), 3u);
  EXPECT_EQ(sick.rollout().groups[0].state, GroupState::kActive);
  EXPECT_TRUE(absl::StrContains(absl::StrJoin(sr.events, "; "), "no healthy host seen recently to pick as a canary"))
      << absl::StrJoin(sr.events, "; ");
}

TEST(StepTest, StartGroupRunsAGroupOutOfTurn) {
  RolloutPolicy p = Groups({"a", "b"});
  p.canaries = Amount::Count(1);
  Fleet fleet(p);
  fleet.Add(0, 3);
  fleet.Add(1, 3, "b");
  fleet.StepAt(kT0);
  ASSERT_TRUE(ApplyOperatorAction(fleet.mutable_rollout(), OperatorAction::kStartGroup, "b", "urgent", "carol",
                                  kT0 + absl::Minutes(1))
                  .ok());
  StepResult r = fleet.StepAt(kT0 + absl::Minutes(1));
  ASSERT_EQ(r.admit.size(), 1u);
  EXPECT_EQ(r.admit[0].group, 1);
  EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kCanary);
  EXPECT_EQ(fleet.rollout().groups[1].state, GroupState::kCanary);
}

TEST(StepTest, MarkDoneMovesTheNextGroupOnAndFinishesTheRollout) {
  RolloutPolicy p = Groups({"a", "b"});
  Fleet fleet(p);
  fleet.Add(0, 3);
  fleet.Add(1, 3, "b");
  fleet.StepAt(kT0);
  ASSERT_TRUE(ApplyOperatorAction(fleet.mutable_rollout(), OperatorAction::kMarkDone, "a", "", "", kT0).ok());
  EXPECT_EQ(fleet.rollout().groups[0].reason, "marked done by an operator");
  StepResult r = fleet.StepAt(kT0 + absl::Minutes(1));
  EXPECT_EQ(fleet.rollout().groups[1].state, GroupState::kCanary);
  ASSERT_TRUE(ApplyOperatorAction(fleet.mutable_rollout(), OperatorAction::kMarkDone, "b", "", "", kT0).ok());
  fleet.StepAt(kT0 + absl::Minutes(2));
  EXPECT_EQ(fleet.rollout().state, RolloutState::kDone);
}

TEST(StepTest, StepIsIdempotentAtEveryStage) {
  // Fleet::StepAt checks a second step after each; here the raw contract:
  // the same inputs twice give the same result.
  RolloutPolicy p;
  p.canaries = Amount::Percent(10);
  Fleet fleet(p);
  fleet.Add(0, 40);
  StepInputs in = fleet.Inputs(kT0);
  StepResult a = Step(in);
  StepResult b = Step(in);
  EXPECT_TRUE(a.rollout == b.rollout);
  ASSERT_EQ(a.admit.size(), 4u);
  for (size_t i = 0; i < a.admit.size(); ++i) EXPECT_EQ(a.admit[i].host_id, b.admit[i].host_id);
  EXPECT_EQ(a.events, b.events);
}

TEST(StepTest, FinishedRolloutsDoNotMove) {
  for (RolloutState s : {RolloutState::kDone, RolloutState::kSuperseded, RolloutState::kRolledBack}) {
    RolloutPolicy p;
    p.canaries = Amount::Count(0);
    Fleet fleet(p);
    fleet.Add(0, 5);
    fleet.mutable_rollout().state = s;
    StepResult r = fleet.StepAt(kT0);
    EXPECT_FALSE(r.changed) << RolloutStateName(s);
    EXPECT_TRUE(r.admit.empty()) << RolloutStateName(s);
    EXPECT_EQ(fleet.rollout().groups[0].state, GroupState::kUnstarted);
  }
}

TEST(StepTest, MissingGroupInputsCountAsEmpty) {
  Rollout r = StartRollout("web", "1.0.0", std::nullopt, "2.0.0", Groups({"a", "b"}), false, "", kT0);
  StepInputs in{.rollout = r, .policy = Groups({"a", "b"}), .now = kT0};
  StepResult res = Step(in);
  EXPECT_EQ(res.rollout.state, RolloutState::kDone);
  EXPECT_EQ(res.rollout.groups[1].reason, "done: no hosts present");
}

// ------------------------------------------------------------------ operators

Rollout Live(RolloutState state = RolloutState::kActive) {
  Rollout r = StartRollout("web", "1.0.0", std::nullopt, "2.0.0", Groups({"canary", "prod"}), false, "", kT0);
  r.state = state;
  return r;
}

TEST(OperatorActionTest, Refusals) {
  struct Case {
    const char* what;
    Rollout rollout;
    OperatorAction action;
    std::string group;
    std::string reason;
    absl::StatusCode code;
    std::vector<absl::string_view> fragments;
  };
  Rollout no_start = Live();
  no_start.start_version = "";
  Rollout canary_started = Live();
  canary_started.groups[0].state = GroupState::kCanary;
  Rollout done_group = Live();
  done_group.groups[0].state = GroupState::kDone;
  Rollout skipping = Live();
  skipping.skip_canaries = true;
  std::vector<Case> cases = {
      {"resume active", Live(), OperatorAction::kResume, "", "", absl::StatusCode::kFailedPrecondition,
       {"is active", "paused or halted"}},
      {"pause paused", Live(RolloutState::kPaused), OperatorAction::kPause, "", "",
       absl::StatusCode::kFailedPrecondition, {"is paused", "only an active rollout"}},
      {"pause halted", Live(RolloutState::kHalted), OperatorAction::kPause, "", "",
       absl::StatusCode::kFailedPrecondition, {"is halted"}},
      {"halt without reason", Live(), OperatorAction::kHalt, "", " \t", absl::StatusCode::kInvalidArgument,
       {"halt needs a reason"}},
      {"halt halted", Live(RolloutState::kHalted), OperatorAction::kHalt, "", "x",
       absl::StatusCode::kFailedPrecondition, {"is halted already"}},
      {"rollback without start", no_start, OperatorAction::kRollback, "", "", absl::StatusCode::kFailedPrecondition,
       {"no start version"}},
      {"rollback without reason", Live(), OperatorAction::kRollback, "", " ", absl::StatusCode::kInvalidArgument,
       {"rollback needs a reason"}},
      {"mark done of a finished rollout", Live(RolloutState::kDone), OperatorAction::kMarkDone, "prod", "",
       absl::StatusCode::kFailedPrecondition, {"is done", "mark-done"}},
      {"resume rolled back", Live(RolloutState::kRolledBack), OperatorAction::kResume, "", "",
       absl::StatusCode::kFailedPrecondition, {"is rolled_back"}},
      {"pause superseded", Live(RolloutState::kSuperseded), OperatorAction::kPause, "", "",
       absl::StatusCode::kFailedPrecondition, {"is superseded"}},
      {"unknown group", Live(), OperatorAction::kStartGroup, "staging", "", absl::StatusCode::kInvalidArgument,
       {"no group \"staging\"", "canary, prod"}},
      {"start group without group", Live(), OperatorAction::kStartGroup, "", "", absl::StatusCode::kInvalidArgument,
       {"start-group needs a group"}},
      {"pause a group", Live(), OperatorAction::kPause, "prod", "", absl::StatusCode::kInvalidArgument,
       {"whole rollout", "\"prod\""}},
      {"start a started group", canary_started, OperatorAction::kStartGroup, "canary", "",
       absl::StatusCode::kFailedPrecondition, {"group canary is canary", "only an unstarted group"}},
      {"mark a done group done", done_group, OperatorAction::kMarkDone, "canary", "",
       absl::StatusCode::kFailedPrecondition, {"group canary is done"}},
      {"skip canaries of an unstarted group", Live(), OperatorAction::kSkipCanaries, "prod", "",
       absl::StatusCode::kFailedPrecondition, {"group prod is unstarted", "only a group in canary"}},
      {"skip canaries twice", skipping, OperatorAction::kSkipCanaries, "", "", absl::StatusCode::kFailedPrecondition,
       {"skips canaries already"}},
  };
  for (Case& c : cases) {
    const Rollout before = c.rollout;
    absl::Status s = ApplyOperatorAction(c.rollout, c.action, c.group, c.reason, "alice", kT0 + absl::Hours(1));
    EXPECT_TRUE(IsError(s, c.code, {})) << c.what << ": " << s;
    for (absl::string_view f : c.fragments) EXPECT_TRUE(absl::StrContains(s.message(), f)) << c.what << ": " << s;
    EXPECT_TRUE(c.rollout == before) << c.what << ": a refusal changed the rollout";
  }
}

TEST(OperatorActionTest, PauseResumeHaltRollback) {
  const absl::Time t = kT0 + absl::Hours(1);
  Rollout r = Live();
  ASSERT_TRUE(ApplyOperatorAction(r, OperatorAction::kPause, "", "change freeze", "alice", t).ok());
  EXPECT_EQ(r.state, RolloutState::kPaused);
  EXPECT_EQ(r.state_since, t);
  EXPECT_EQ(r.reason, "paused by alice: change freeze");
  ASSERT_TRUE(ApplyOperatorAction(r, OperatorAction::kResume, "", "", "alice", t + absl::Hours(1)).ok());
  EXPECT_EQ(r.state, RolloutState::kActive);
  EXPECT_EQ(r.reason, "");
  EXPECT_FALSE(r.resumed_at.has_value()) << "a pause accepted no failures";
  ASSERT_TRUE(ApplyOperatorAction(r, OperatorAction::kHalt, "", "  bad graphs ", "", t).ok());
  EXPECT_EQ(r.reason, "halted by an operator: bad graphs");
  ASSERT_TRUE(ApplyOperatorAction(r, OperatorAction::kPause, "", "", "", t).code() ==
              absl::StatusCode::kFailedPrecondition);

  Rollout rb = Live(RolloutState::kHalted);
  rb.groups[0].state = GroupState::kBaking;
  rb.groups[0].bake_until = t;
  ASSERT_TRUE(ApplyOperatorAction(rb, OperatorAction::kRollback, "", "broken TLS", "dave", t).ok());
  EXPECT_EQ(rb.state, RolloutState::kRolledBack);
  EXPECT_EQ(rb.reason, "rolled back to 1.0.0 by dave: broken TLS");
  EXPECT_EQ(rb.groups[0].state, GroupState::kRolledBack);
  EXPECT_FALSE(rb.groups[0].bake_until.has_value());
  EXPECT_EQ(rb.groups[1].state, GroupState::kUnstarted);
}

TEST(OperatorActionTest, ResumeSetsHaltedGroupsBack) {
  Rollout r = Live(RolloutState::kHalted);
  r.groups[0].state = GroupState::kHalted;
  ASSERT_TRUE(ApplyOperatorAction(r, OperatorAction::kResume, "", "", "", kT0).ok());
  EXPECT_EQ(r.groups[0].state, GroupState::kCanary);
  EXPECT_EQ(r.groups[0].reason, "resumed by an operator");
  Rollout forced = Live(RolloutState::kHalted);
  forced.skip_canaries = true;
  forced.groups[0].state = GroupState::kHalted;
  ASSERT_TRUE(ApplyOperatorAction(forced, OperatorAction::kResume, "", "", "", kT0).ok());
  EXPECT_EQ(forced.groups[0].state, GroupState::kActive);
}

TEST(OperatorActionTest, GroupActions) {
  const absl::Time t = kT0 + absl::Hours(1);
  Rollout r = Live();
  ASSERT_TRUE(ApplyOperatorAction(r, OperatorAction::kStartGroup, "prod", "", "erin", t).ok());
  EXPECT_EQ(r.groups[1].state, GroupState::kCanary);
  EXPECT_EQ(r.groups[1].started_at, t);
  EXPECT_EQ(r.groups[1].state_since, t);
  EXPECT_EQ(r.groups[1].reason, "started by erin");
  ASSERT_TRUE(ApplyOperatorAction(r, OperatorAction::kSkipCanaries, "prod", "hotfix", "erin", t).ok());
  EXPECT_EQ(r.groups[1].state, GroupState::kActive);
  EXPECT_EQ(r.groups[1].reason, "canaries skipped by erin: hotfix");
  EXPECT_FALSE(r.skip_canaries);
  ASSERT_TRUE(ApplyOperatorAction(r, OperatorAction::kMarkDone, "canary", "verified by hand", "erin", t).ok());
  EXPECT_EQ(r.groups[0].state, GroupState::kDone);
  EXPECT_EQ(r.groups[0].done_at, t);
  EXPECT_EQ(r.groups[0].started_at, t);

  Rollout all = Live(RolloutState::kPaused);
  all.groups[0].state = GroupState::kCanary;
  ASSERT_TRUE(ApplyOperatorAction(all, OperatorAction::kSkipCanaries, "", "CVE", "frank", t).ok());
  EXPECT_TRUE(all.skip_canaries);
  EXPECT_EQ(all.force_reason, "canaries skipped by frank: CVE");
  EXPECT_EQ(all.groups[0].state, GroupState::kActive);
  EXPECT_EQ(all.groups[1].state, GroupState::kUnstarted);
}

// ------------------------------------------------------------------ TargetFor

TEST(TargetForTest, WhatEachHostIsTold) {
  Channel channel;
  channel.target_version = "2.0.0";
  RolloutPolicy policy = Groups({"canary", "prod"});
  Rollout r = Live();
  r.groups[0].state = GroupState::kDone;
  r.groups[1].state = GroupState::kCanary;
  absl::flat_hash_set<std::string> admitted = {"p1"};
  RolloutView view{&r, &policy, &admitted};

  struct Case {
    const char* what;
    RolloutState state;
    std::string host;
    std::string group;
    std::string version;
    bool held_back;
    bool downgrade;
  };
  std::vector<Case> cases = {
      {"done group", RolloutState::kActive, "c1", "canary", "2.0.0", false, false},
      {"admitted", RolloutState::kActive, "p1", "prod", "2.0.0", false, false},
      {"not admitted", RolloutState::kActive, "p2", "prod", "1.0.0", true, false},
      {"unlisted: last group", RolloutState::kActive, "x", "staging", "1.0.0", true, false},
      {"no host id: catch-all even naming a done group", RolloutState::kActive, "", "canary", "1.0.0", true, false},
      {"paused: admitted keep the target", RolloutState::kPaused, "p1", "prod", "2.0.0", false, false},
      {"halted: admitted keep the target", RolloutState::kHalted, "p1", "prod", "2.0.0", false, false},
      {"halted: others held", RolloutState::kHalted, "p2", "prod", "1.0.0", true, false},
      {"rolled back: everyone down", RolloutState::kRolledBack, "p1", "prod", "1.0.0", true, true},
      {"rolled back: done group too", RolloutState::kRolledBack, "c1", "canary", "1.0.0", true, true},
      {"done: everyone", RolloutState::kDone, "p2", "prod", "2.0.0", false, false},
      {"superseded: everyone", RolloutState::kSuperseded, "x", "", "2.0.0", false, false},
  };
  for (const Case& c : cases) {
    r.state = c.state;
    HostTarget t = TargetFor(channel, view, c.host, c.group);
    EXPECT_EQ(t.version, c.version) << c.what;
    EXPECT_EQ(t.held_back, c.held_back) << c.what;
    EXPECT_EQ(t.downgrade_allowed, c.downgrade) << c.what;
  }
}

TEST(TargetForTest, WithoutARolloutTheChannelTarget) {
  Channel channel;
  channel.target_version = "1.5.0";
  channel.target_allows_downgrade = true;
  HostTarget t = TargetFor(channel, RolloutView{}, "h", "g");
  EXPECT_EQ(t.version, "1.5.0");
  EXPECT_TRUE(t.downgrade_allowed);
  EXPECT_FALSE(t.held_back);
  channel.target_version.reset();
  t = TargetFor(channel, RolloutView{}, "h", "g");
  EXPECT_EQ(t.version, "");
  EXPECT_FALSE(t.downgrade_allowed);

  // A rollout to a target since cleared holds nobody.
  Rollout r = Live();
  RolloutView view{&r, nullptr, nullptr};
  EXPECT_EQ(TargetFor(channel, view, "h", "prod").version, "");
  // A rollout without a start version: hosts not let in are told nothing.
  channel.target_version = "2.0.0";
  channel.target_allows_downgrade = false;
  r.start_version = "";
  t = TargetFor(channel, view, "h", "prod");
  EXPECT_EQ(t.version, "");
  EXPECT_TRUE(t.held_back);
  // A downgrade target allows the downgrade to those let in.
  channel.target_allows_downgrade = true;
  r.groups[0].state = GroupState::kDone;
  RolloutPolicy policy = Groups({"canary", "prod"});
  view.policy = &policy;
  t = TargetFor(channel, view, "h", "canary");
  EXPECT_EQ(t.version, "2.0.0");
  EXPECT_TRUE(t.downgrade_allowed);
}

TEST(TargetForTest, CatchAllOffHoldsUnlistedAndAnonymousHosts) {
  Channel channel;
  channel.target_version = "2.0.0";
  RolloutPolicy policy = Groups({"canary", "prod"}, CatchAll::kOff);
  Rollout r = Live();
  r.groups[0].state = GroupState::kDone;
  r.groups[1].state = GroupState::kDone;  // all done but the rollout not marked yet
  absl::flat_hash_set<std::string> admitted;
  RolloutView view{&r, &policy, &admitted};
  EXPECT_EQ(TargetFor(channel, view, "p", "prod").version, "2.0.0");
  EXPECT_TRUE(TargetFor(channel, view, "x", "staging").held_back);
  EXPECT_TRUE(TargetFor(channel, view, "", "prod").held_back);
  // Catch-all to the last group: unlisted hosts follow it.
  policy.catch_all = CatchAll::kLastGroup;
  EXPECT_EQ(TargetFor(channel, view, "x", "staging").version, "2.0.0");
  EXPECT_EQ(TargetFor(channel, view, "", "").version, "2.0.0");
}

// ------------------------------------------------------------------ ForecastDone

TEST(ForecastDoneTest, WindowsCanaryWatchesAndBakeTimes) {
  RolloutPolicy p = Groups({"canary", "prod"});
  p.groups[1].windows.push_back(Window({2}, 2, absl::Hours(2)));  // Tuesdays 02:00
  p.bake_time = absl::Hours(1);
  p.canary_watch = absl::Minutes(30);
  Rollout r = StartRollout("web", "1.0.0", std::nullopt, "2.0.0", p, false, "", kT0);
  // canary: watched 30 min, bakes 1 h (Mon 10:00 -> 11:30); prod waits for
  // Tue 02:00, is watched and bakes to 03:30.
  EXPECT_EQ(ForecastDone(r, p, false, kT0), At(8, 3, 30));
  // Critical: no window, no watch, no bake.
  EXPECT_EQ(ForecastDone(r, p, true, kT0), kT0);
  // Inside the window by the time canary is done: no wait.
  EXPECT_EQ(ForecastDone(r, p, false, At(8, 1, 30)), At(8, 4, 30));
  // Canaries being watched: from the end of their watch.
  r.groups[0].state = GroupState::kCanary;
  r.groups[0].bake_until = At(8, 1, 10);
  EXPECT_EQ(ForecastDone(r, p, false, At(8, 1)), At(8, 3, 40));
  // Canaries not yet all healthy: the whole watch is still to come.
  r.groups[0].bake_until.reset();
  EXPECT_EQ(ForecastDone(r, p, false, At(8, 1)), At(8, 4));
  // Canaries skipped: no watch anywhere.
  r.skip_canaries = true;
  EXPECT_EQ(ForecastDone(r, p, false, At(8, 1)), At(8, 3));
  r.skip_canaries = false;
  // Baking: from its bake_until.
  r.groups[0].state = GroupState::kBaking;
  r.groups[0].bake_until = At(8, 1, 45);
  EXPECT_EQ(ForecastDone(r, p, false, At(8, 1)), At(8, 3, 30));  // prod waits for 02:00
  r.groups[0].bake_until = At(8, 2, 45);
  EXPECT_EQ(ForecastDone(r, p, false, At(8, 1)), At(8, 4, 15));  // in the window by then
  EXPECT_EQ(ForecastDone(r, p, true, At(8, 1)), At(8, 1));
  r.groups[0].state = GroupState::kDone;
  r.groups[1].state = GroupState::kActive;
  EXPECT_EQ(ForecastDone(r, p, false, At(8, 4)), At(8, 5));
  r.groups[1].state = GroupState::kHalted;
  EXPECT_EQ(ForecastDone(r, p, false, At(8, 4)), std::nullopt);
}

TEST(ForecastDoneTest, NoneUnlessActive) {
  RolloutPolicy p;
  Rollout r = StartRollout("web", "1.0.0", std::nullopt, "2.0.0", p, false, "", kT0);
  for (RolloutState s : {RolloutState::kPaused, RolloutState::kHalted, RolloutState::kRolledBack,
                         RolloutState::kSuperseded}) {
    r.state = s;
    EXPECT_EQ(ForecastDone(r, p, false, kT0), std::nullopt) << RolloutStateName(s);
  }
  r.state = RolloutState::kDone;
  r.state_since = kT0 + absl::Hours(3);
  EXPECT_EQ(ForecastDone(r, p, false, kT0 + absl::Hours(5)), kT0 + absl::Hours(3));
}

}  // namespace
}  // namespace drover::rollout
