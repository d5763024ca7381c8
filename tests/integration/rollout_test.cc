// Staged rollouts end to end: real coordinators (in-process, their rollout
// engines ticking fast) on a real PostgreSQL, driven over gRPC the way
// updaters and operators drive them. The rules themselves are unit-tested
// in coordinator/rollout/staged_test.cc; the store in rollout_store_test.cc.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "coordinator/server.h"
#include "drover/v1/operator_service.grpc.pb.h"
#include "drover/v1/updater_service.grpc.pb.h"
#include "tests/support/test_env.h"

namespace drover {
namespace {

using ::drover::testing::HttpGet;
using ::drover::testing::MetricValue;
using ::drover::testing::NewTestDatabase;
using ::drover::testing::PollUntil;

constexpr absl::Duration kDeadline = absl::Seconds(30);

struct Host {
  std::string id;
  std::string group;
  std::string version;
  int64_t sequence = 0;
};

class RolloutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = NewTestDatabase();
    server_ = StartServer();
    ASSERT_NE(server_, nullptr);
    Connect(server_.get());
  }

  std::unique_ptr<CoordinatorServer> StartServer() {
    CoordinatorConfig config;
    config.database_url = db_;
    config.insecure = true;
    config.grpc_listen = "127.0.0.1:0";
    config.metrics_listen = "127.0.0.1:0";
    config.fleet_refresh_interval = absl::Milliseconds(100);
    config.channel_cache_ttl = absl::Milliseconds(100);
    config.rollout_tick = absl::Milliseconds(100);
    config.shutdown_grace = absl::Seconds(5);
    absl::StatusOr<std::unique_ptr<CoordinatorServer>> s = CoordinatorServer::Start(config);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }

  void Connect(CoordinatorServer* server) {
    channel_ = grpc::CreateChannel(server->grpc_address(), grpc::InsecureChannelCredentials());
    ops_ = v1::OperatorService::NewStub(channel_);
    updater_ = v1::UpdaterService::NewStub(channel_);
  }

  void CreateChannel(const std::string& id, const std::string& target) {
    v1::CreateChannelRequest req;
    req.set_channel_id(id);
    req.set_control_plane_version("2.0.0");
    req.set_target_version(target);
    req.mutable_poll_interval()->set_seconds(60);
    v1::Channel out;
    grpc::ClientContext ctx;
    grpc::Status s = ops_->CreateChannel(&ctx, req, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  grpc::Status SetPolicy(const std::string& id, const v1::RolloutPolicy& policy, v1::RolloutPolicy* out = nullptr) {
    v1::SetRolloutPolicyRequest req;
    req.set_channel("channels/" + id);
    *req.mutable_policy() = policy;
    v1::RolloutPolicy tmp;
    grpc::ClientContext ctx;
    return ops_->SetRolloutPolicy(&ctx, req, out ? out : &tmp);
  }

  grpc::Status SetTarget(const std::string& id, const std::string& version, const std::string& force = "") {
    v1::SetTargetVersionRequest req;
    req.set_name("channels/" + id);
    req.set_version(version);
    req.set_force_reason(force);
    v1::Channel out;
    grpc::ClientContext ctx;
    return ops_->SetTargetVersion(&ctx, req, &out);
  }

  grpc::Status Control(const std::string& id, const std::string& action, const std::string& group = "",
                       const std::string& reason = "", v1::Rollout* out = nullptr) {
    v1::ControlRolloutRequest req;
    req.set_channel("channels/" + id);
    req.set_action(action);
    req.set_group(group);
    req.set_reason(reason);
    v1::Rollout tmp;
    grpc::ClientContext ctx;
    return ops_->ControlRollout(&ctx, req, out ? out : &tmp);
  }

  v1::Rollout Rollout(const std::string& id) {
    v1::GetRolloutRequest req;
    req.set_channel("channels/" + id);
    v1::Rollout out;
    grpc::ClientContext ctx;
    grpc::Status s = ops_->GetRollout(&ctx, req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  // What GetTarget tells this host now.
  v1::GetTargetResponse Target(const std::string& channel, const Host& h) {
    v1::GetTargetRequest req;
    req.set_channel("channels/" + channel);
    req.set_host_id(h.id);
    req.set_group(h.group);
    v1::GetTargetResponse out;
    grpc::ClientContext ctx;
    grpc::Status s = updater_->GetTarget(&ctx, req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  void Report(const std::string& channel, Host& h, v1::Health health = v1::HEALTH_HEALTHY,
              const std::string& failed_to = "") {
    v1::ReportStatusRequest r;
    r.set_host_id(h.id);
    r.set_channel("channels/" + channel);
    r.set_group(h.group);
    r.set_current_version(h.version);
    r.set_health(health);
    r.set_updater_version("0.1.0");
    r.set_sequence(++h.sequence);
    if (!failed_to.empty()) {
      v1::UpdateOutcome* o = r.add_outcomes();
      o->set_from_version(h.version);
      o->set_to_version(failed_to);
      o->set_result(v1::UPDATE_RESULT_ROLLED_BACK);
      o->set_error("health check failed after the update");
      const int64_t now = absl::ToUnixSeconds(absl::Now());
      o->mutable_start_time()->set_seconds(now - 2);
      o->mutable_finish_time()->set_seconds(now - 1);
    }
    v1::ReportStatusResponse out;
    grpc::ClientContext ctx;
    grpc::Status s = updater_->ReportStatus(&ctx, r, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(out.disposition(), v1::ReportStatusResponse::DISPOSITION_ACCEPTED);
  }

  // Hosts GetTarget tells `version` now.
  std::set<std::string> Told(const std::string& channel, const std::vector<Host>& hosts, const std::string& version) {
    std::set<std::string> out;
    for (const Host& h : hosts) {
      if (Target(channel, h).target_version() == version) out.insert(h.id);
    }
    return out;
  }

  // Polls until `told(version)` has exactly `n` hosts; returns them.
  std::set<std::string> WaitTold(const std::string& channel, const std::vector<Host>& hosts,
                                 const std::string& version, size_t n) {
    std::set<std::string> told;
    EXPECT_TRUE(PollUntil(kDeadline, [&] {
      told = Told(channel, hosts, version);
      return told.size() == n;
    })) << told.size() << " hosts told " << version << ", want " << n;
    return told;
  }

  // Polls until the channel's rollout is in `state`; `out` is the last read.
  bool WaitState(const std::string& channel, const std::string& state, v1::Rollout* out) {
    return PollUntil(kDeadline, [&] {
      *out = Rollout(channel);
      return out->state() == state;
    });
  }

  static std::string GroupState(const v1::Rollout& r, const std::string& group) {
    for (const v1::RolloutGroupStatus& g : r.groups()) {
      if (g.name() == group) return g.state();
    }
    return "?";
  }

  std::vector<Host> Fleet() {
    return {{"dev-1", "dev", "1.0.0"}, {"dev-2", "dev", "1.0.0"}, {"prod-1", "prod", "1.0.0"},
            {"prod-2", "prod", "1.0.0"}, {"prod-3", "prod", "1.0.0"}, {"stray-1", "qa", "1.0.0"}};
  }

  static v1::RolloutPolicy TwoGroups() {
    v1::RolloutPolicy p;
    p.add_groups()->set_name("dev");
    p.add_groups()->set_name("prod");
    p.set_canaries("1");
    p.set_canary_budget("0");
    p.set_group_budget("0");
    p.mutable_bake_time()->set_seconds(0);
    // Short, so that the tests see it and still run in seconds.
    p.mutable_canary_watch()->set_seconds(2);
    return p;
  }

  std::string db_;
  std::unique_ptr<CoordinatorServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::OperatorService::Stub> ops_;
  std::unique_ptr<v1::UpdaterService::Stub> updater_;
};

// A good version goes group by group: one canary first, then the rest of
// the group, then the next group; every host ends on it and the rollout is
// done. Hosts in no listed group go with the last (the default catch-all).
TEST_F(RolloutTest, GoodVersionGoesGroupByGroupToDone) {
  CreateChannel("web", "1.0.0");
  ASSERT_TRUE(SetPolicy("web", TwoGroups()).ok());
  std::vector<Host> fleet = Fleet();
  for (Host& h : fleet) Report("web", h);
  ASSERT_TRUE(SetTarget("web", "1.1.0").ok());

  // One dev canary; everybody else is held on the start version.
  std::set<std::string> canary = WaitTold("web", fleet, "1.1.0", 1);
  ASSERT_EQ(canary.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(*canary.begin(), "dev-")) << *canary.begin();
  for (const Host& h : fleet) {
    if (canary.contains(h.id)) continue;
    v1::GetTargetResponse t = Target("web", h);
    EXPECT_EQ(t.target_version(), "1.0.0") << h.id;
  }
  EXPECT_EQ(GroupState(Rollout("web"), "dev"), "canary");
  EXPECT_EQ(GroupState(Rollout("web"), "prod"), "unstarted");

  // The canary takes it: it is watched (2 s here), then the rest of dev is
  // let in.
  for (Host& h : fleet) {
    if (canary.contains(h.id)) {
      h.version = "1.1.0";
      Report("web", h);
    }
  }
  v1::Rollout watching;
  EXPECT_TRUE(PollUntil(kDeadline, [&] {
    watching = Rollout("web");
    return absl::StartsWith(watching.groups(0).reason(), "watching 1 canaries healthy on 1.1.0 until ") ||
           GroupState(watching, "dev") != "canary";
  }));
  EXPECT_EQ(GroupState(watching, "dev"), "canary") << watching.ShortDebugString();
  WaitTold("web", fleet, "1.1.0", 2);
  for (Host& h : fleet) {
    if (h.group == "dev") {
      h.version = "1.1.0";
      Report("web", h);
    }
  }
  // dev done (no bake time): a prod canary, prod's hosts and the stray one
  // (catch-all: last group) follow.
  WaitTold("web", fleet, "1.1.0", 3);
  for (Host& h : fleet) {
    if (Target("web", h).target_version() == "1.1.0" && h.version != "1.1.0") {
      h.version = "1.1.0";
      Report("web", h);
    }
  }
  WaitTold("web", fleet, "1.1.0", fleet.size());
  for (Host& h : fleet) {
    h.version = "1.1.0";
    Report("web", h);
  }
  v1::Rollout r;
  EXPECT_TRUE(WaitState("web", "done", &r)) << r.ShortDebugString();
  EXPECT_EQ(r.start_version(), "1.0.0");
  EXPECT_EQ(r.target_version(), "1.1.0");
  EXPECT_EQ(GroupState(r, "dev"), "done");
  EXPECT_EQ(GroupState(r, "prod"), "done");
}

// The catch-all turned off: hosts in no listed group (and updaters that send
// no host id) are told nothing to install, during the rollout and after it
// is done; turning it back on hands them the target.
TEST_F(RolloutTest, CatchAllOffTellsUnlistedHostsNothingEvenAfterDone) {
  CreateChannel("web", "1.0.0");
  v1::RolloutPolicy p = TwoGroups();
  p.set_catch_all("off");
  p.set_canaries("0");
  ASSERT_TRUE(SetPolicy("web", p).ok());
  std::vector<Host> fleet = Fleet();
  for (Host& h : fleet) Report("web", h);
  const Host stray = fleet.back();
  ASSERT_EQ(stray.group, "qa");
  // Before any rollout already.
  EXPECT_TRUE(PollUntil(kDeadline, [&] { return Target("web", stray).target_version().empty(); }));
  EXPECT_TRUE(Target("web", stray).held_back());

  ASSERT_TRUE(SetTarget("web", "1.1.0").ok());
  std::vector<Host> listed(fleet.begin(), fleet.end() - 1);
  WaitTold("web", listed, "1.1.0", 2);  // dev
  for (Host& h : listed) {
    if (h.group == "dev") {
      h.version = "1.1.0";
      Report("web", h);
    }
  }
  WaitTold("web", listed, "1.1.0", listed.size());  // dev done: prod
  for (Host& h : listed) {
    h.version = "1.1.0";
    Report("web", h);
  }
  v1::Rollout r;
  EXPECT_TRUE(WaitState("web", "done", &r)) << r.ShortDebugString();
  v1::GetTargetResponse t = Target("web", stray);
  EXPECT_EQ(t.target_version(), "") << "the catch-all is off: the stray host is told nothing";
  EXPECT_TRUE(t.held_back());
  Host anonymous{"", "", "1.0.0"};
  EXPECT_EQ(Target("web", anonymous).target_version(), "");
  EXPECT_EQ(Target("web", listed[0]).target_version(), "1.1.0");

  // On again: the stray host goes with the last group, i.e. the target.
  p.set_catch_all("last-group");
  ASSERT_TRUE(SetPolicy("web", p).ok());
  EXPECT_TRUE(PollUntil(kDeadline, [&] { return Target("web", stray).target_version() == "1.1.0"; }));
  EXPECT_FALSE(Target("web", stray).held_back());
}

// The brake: the canary rolls the version back; the rollout halts with the
// figures, nobody else is let in, the alert's series says halted; a
// roll-back tells everyone the start version with downgrade allowed.
TEST_F(RolloutTest, FailedCanaryHaltsAndNobodyElseIsLetIn) {
  CreateChannel("api", "1.0.0");
  v1::RolloutPolicy policy = TwoGroups();
  policy.set_canaries("2");
  policy.set_canary_budget("1");
  policy.set_group_budget("1");
  ASSERT_TRUE(SetPolicy("api", policy).ok());
  std::vector<Host> fleet = Fleet();
  for (Host& h : fleet) Report("api", h);
  ASSERT_TRUE(SetTarget("api", "1.1.0").ok());
  std::set<std::string> canaries = WaitTold("api", fleet, "1.1.0", 2);
  ASSERT_EQ(canaries.size(), 2u);
  // The first canary installs, fails its health watch, rolls back locally,
  // reports it; and again, a retry: counted once, it stays within the
  // budget of 1.
  Host* first = nullptr;
  Host* second = nullptr;
  for (Host& h : fleet) {
    if (!canaries.contains(h.id)) continue;
    (first == nullptr ? first : second) = &h;
  }
  Report("api", *first, v1::HEALTH_HEALTHY, "1.1.0");
  Report("api", *first, v1::HEALTH_HEALTHY, "1.1.0");
  v1::Rollout r;
  ASSERT_TRUE(PollUntil(kDeadline, [&] {
    r = Rollout("api");
    return r.groups(0).canaries_failed() == 1;
  })) << r.ShortDebugString();
  absl::SleepFor(absl::Milliseconds(500));  // several engine ticks; asserting nothing happens
  EXPECT_EQ(Rollout("api").state(), "active") << "one host failing twice is one failure, within budget 1";
  // The second canary fails too: 2 of 2, budget 1: halted.
  Report("api", *second, v1::HEALTH_HEALTHY, "1.1.0");
  ASSERT_TRUE(WaitState("api", "halted", &r)) << r.ShortDebugString();
  EXPECT_TRUE(absl::StrContains(r.reason(), "2 of 2 canaries")) << r.reason();
  EXPECT_TRUE(absl::StrContains(r.reason(), "budget 1")) << r.reason();
  EXPECT_EQ(GroupState(r, "dev"), "halted");
  EXPECT_EQ(r.groups(0).canaries_failed(), 2);
  // Nobody new: the engine keeps ticking, and every other host stays held.
  absl::SleepFor(absl::Milliseconds(500));  // several engine ticks; asserting nothing happens
  EXPECT_EQ(Told("api", fleet, "1.1.0").size(), 0u) << "the failed canaries run 1.0.0 and are held too";
  for (const Host& h : fleet) EXPECT_EQ(Target("api", h).target_version(), "1.0.0") << h.id;

  // Alert series: halted, on this replica's metrics.
  ASSERT_TRUE(PollUntil(kDeadline, [&] {
    absl::StatusOr<std::string> body = HttpGet(server_->metrics_address(), "/metrics");
    return body.ok() && MetricValue(*body, "drover_rollout_state{channel=\"api\",state=\"halted\"}") == 1;
  }));

  // Resuming needs the version fixed; an operator rolls back instead.
  grpc::Status s = Control("api", "rollback");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << "a roll-back needs a reason";
  ASSERT_TRUE(Control("api", "rollback", "", "1.1.0 fails its health check").ok());
  ASSERT_TRUE(PollUntil(kDeadline, [&] {
    v1::GetTargetResponse t = Target("api", fleet[0]);
    return t.target_version() == "1.0.0" && t.downgrade_allowed();
  }));
  EXPECT_EQ(Rollout("api").state(), "rolled_back");
}

// A version that passes the health watch and breaks later, during the
// group's bake time, halts the rollout too.
TEST_F(RolloutTest, UnhealthyDuringBakeHalts) {
  CreateChannel("late", "1.0.0");
  v1::RolloutPolicy p = TwoGroups();
  p.mutable_bake_time()->set_seconds(3600);
  p.set_canaries("0");
  ASSERT_TRUE(SetPolicy("late", p).ok());
  std::vector<Host> fleet = Fleet();
  for (Host& h : fleet) Report("late", h);
  ASSERT_TRUE(SetTarget("late", "1.1.0").ok());
  WaitTold("late", fleet, "1.1.0", 2);  // dev, no canaries
  for (Host& h : fleet) {
    if (h.group == "dev") {
      h.version = "1.1.0";
      Report("late", h);
    }
  }
  ASSERT_TRUE(PollUntil(kDeadline, [&] { return GroupState(Rollout("late"), "dev") == "baking"; }));
  Report("late", fleet[0], v1::HEALTH_UNHEALTHY);  // 20 s healthy, then 503 for good
  v1::Rollout r;
  ASSERT_TRUE(WaitState("late", "halted", &r)) << r.ShortDebugString();
  EXPECT_TRUE(absl::StrContains(r.reason(), "unhealthy")) << r.reason();
  EXPECT_EQ(GroupState(r, "prod"), "unstarted");
}

// Operators: bad requests are refused naming the value; pause holds the
// rollout; resume lets it go on; --force skips canaries and is recorded.
TEST_F(RolloutTest, OperatorControlsAndRefusals) {
  CreateChannel("ops", "1.0.0");
  v1::RolloutPolicy bad = TwoGroups();
  bad.set_canaries("ten");
  grpc::Status s = SetPolicy("ops", bad);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "ten")) << s.error_message();
  v1::RolloutPolicy dup = TwoGroups();
  dup.add_groups()->set_name("dev");
  s = SetPolicy("ops", dup);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "dev")) << s.error_message();

  s = Control("ops", "pause");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << "no rollout yet: " << s.error_message();
  ASSERT_TRUE(SetPolicy("ops", TwoGroups()).ok());
  std::vector<Host> fleet = Fleet();
  for (Host& h : fleet) Report("ops", h);

  s = Control("ops", "explode");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "explode")) << s.error_message();

  // Forced: no canaries, the reason recorded.
  EXPECT_EQ(SetTarget("ops", "1.1.0", "   ").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(SetTarget("ops", "1.1.0", "CVE-2026-1234").ok());
  v1::Rollout r = Rollout("ops");
  EXPECT_TRUE(r.skip_canaries());
  EXPECT_EQ(r.force_reason(), "CVE-2026-1234");
  WaitTold("ops", fleet, "1.1.0", 2);  // all of dev at once
  ASSERT_TRUE(Control("ops", "pause", "", "", &r).ok());
  EXPECT_EQ(r.state(), "paused");
  EXPECT_EQ(Control("ops", "pause").error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  for (Host& h : fleet) {
    if (h.group == "dev") {
      h.version = "1.1.0";
      Report("ops", h);
    }
  }
  absl::SleepFor(absl::Milliseconds(500));  // several engine ticks; asserting nothing happens
  EXPECT_EQ(GroupState(Rollout("ops"), "prod"), "unstarted") << "paused: nothing advances";
  ASSERT_TRUE(Control("ops", "resume").ok());
  WaitTold("ops", fleet, "1.1.0", fleet.size());
  s = Control("ops", "start-group", "nosuch");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "nosuch")) << s.error_message();
}

// Two replicas: one leads; when it stops, the other takes the rollout over
// within seconds and finishes it.
TEST_F(RolloutTest, AnotherReplicaTakesOverWhenTheLeaderStops) {
  std::unique_ptr<CoordinatorServer> second = StartServer();
  ASSERT_NE(second, nullptr);
  auto leading = [](CoordinatorServer* s) {
    absl::StatusOr<std::string> body = HttpGet(s->metrics_address(), "/metrics");
    return body.ok() ? MetricValue(*body, "drover_rollout_engine_leader") : -1;
  };
  ASSERT_TRUE(PollUntil(kDeadline, [&] { return leading(server_.get()) + leading(second.get()) == 1; }));
  const bool first_leads = leading(server_.get()) == 1;
  CoordinatorServer* survivor = first_leads ? second.get() : server_.get();

  CreateChannel("ha", "1.0.0");
  ASSERT_TRUE(SetPolicy("ha", TwoGroups()).ok());
  std::vector<Host> fleet = Fleet();
  for (Host& h : fleet) Report("ha", h);
  ASSERT_TRUE(SetTarget("ha", "1.1.0").ok());
  WaitTold("ha", fleet, "1.1.0", 1);

  if (first_leads) {
    Connect(second.get());
    server_->Shutdown();
  } else {
    second->Shutdown();
  }
  ASSERT_TRUE(PollUntil(kDeadline, [&] { return leading(survivor) == 1; }));
  for (Host& h : fleet) {
    if (Target("ha", h).target_version() == "1.1.0") {
      h.version = "1.1.0";
      Report("ha", h);
    }
  }
  WaitTold("ha", fleet, "1.1.0", 2);  // the survivor advanced the group
}

}  // namespace
}  // namespace drover
