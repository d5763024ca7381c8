// The coordinator's API end to end: the real gRPC server (in-process, on a
// port picked at run time) over a real PostgreSQL database made for each test.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <optional>
#include <set>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "coordinator/api/proto_convert.h"
#include "coordinator/server.h"
#include "drover/v1/operator_service.grpc.pb.h"
#include "drover/v1/updater_service.grpc.pb.h"
#include "tests/support/grpc_health.h"
#include "tests/support/test_env.h"

namespace drover {
namespace {

using ::drover::testing::HttpGet;
using ::drover::testing::MetricValue;
using ::drover::testing::NewTestDatabase;
using ::drover::testing::PollUntil;
using ::drover::testing::QueryValue;

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = NewTestDatabase();
    server_ = StartServer();
    channel_ = grpc::CreateChannel(server_->grpc_address(), grpc::InsecureChannelCredentials());
    ops_ = v1::OperatorService::NewStub(channel_);
    updater_ = v1::UpdaterService::NewStub(channel_);
  }

  std::unique_ptr<CoordinatorServer> StartServer() {
    CoordinatorConfig config;
    config.database_url = db_;
    config.insecure = true;  // TLS and host identities: tls_test.cc
    config.grpc_listen = "127.0.0.1:0";
    config.metrics_listen = "127.0.0.1:0";
    config.fleet_refresh_interval = absl::Milliseconds(100);
    config.shutdown_grace = absl::Seconds(5);
    // Calls without a token act as admin (auth_test covers tokens and roles).
    config.insecure = true;
    absl::StatusOr<std::unique_ptr<CoordinatorServer>> s = CoordinatorServer::Start(config);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }

  grpc::Status CreateChannel(const std::string& id, const std::string& cp, const std::string& target = "",
                             v1::Channel* out = nullptr, absl::Duration poll = absl::Seconds(60)) {
    v1::CreateChannelRequest req;
    req.set_channel_id(id);
    req.set_control_plane_version(cp);
    req.set_target_version(target);
    req.mutable_poll_interval()->set_seconds(absl::ToInt64Seconds(poll));
    v1::Channel tmp;
    grpc::ClientContext ctx;
    return ops_->CreateChannel(&ctx, req, out ? out : &tmp);
  }

  grpc::Status SetTarget(const std::string& id, const std::string& version, bool allow_downgrade = false,
                         v1::Channel* out = nullptr) {
    v1::SetTargetVersionRequest req;
    req.set_name("channels/" + id);
    req.set_version(version);
    req.set_allow_downgrade(allow_downgrade);
    v1::Channel tmp;
    grpc::ClientContext ctx;
    return ops_->SetTargetVersion(&ctx, req, out ? out : &tmp);
  }

  static v1::ReportStatusRequest Report(const std::string& host, const std::string& channel,
                                        const std::string& version, int64_t seq,
                                        v1::Health health = v1::HEALTH_HEALTHY) {
    v1::ReportStatusRequest r;
    r.set_host_id(host);
    r.set_channel("channels/" + channel);
    r.set_current_version(version);
    r.set_health(health);
    r.set_updater_version("0.1.0");
    r.set_sequence(seq);
    return r;
  }

  static void AddOutcome(v1::ReportStatusRequest* r, const std::string& from, const std::string& to,
                         v1::UpdateResult result, const std::string& error = "") {
    v1::UpdateOutcome* o = r->add_outcomes();
    o->set_from_version(from);
    o->set_to_version(to);
    o->set_result(result);
    o->set_error(error);
    const int64_t now = absl::ToUnixSeconds(absl::Now());
    o->mutable_start_time()->set_seconds(now - 30);
    o->mutable_finish_time()->set_seconds(now - 10);
  }

  grpc::Status Send(const v1::ReportStatusRequest& r, v1::ReportStatusResponse* out = nullptr) {
    v1::ReportStatusResponse tmp;
    grpc::ClientContext ctx;
    return updater_->ReportStatus(&ctx, r, out ? out : &tmp);
  }

  v1::RolloutStatus Status(const std::string& id) {
    v1::GetRolloutStatusRequest req;
    req.set_name("channels/" + id);
    v1::RolloutStatus out;
    grpc::ClientContext ctx;
    grpc::Status s = ops_->GetRolloutStatus(&ctx, req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  grpc::Status DeleteChannel(const std::string& id, bool force = false) {
    v1::DeleteChannelRequest req;
    req.set_name("channels/" + id);
    req.set_force(force);
    v1::DeleteChannelResponse out;
    grpc::ClientContext ctx;
    return ops_->DeleteChannel(&ctx, req, &out);
  }

  v1::Channel GetChannel(const std::string& id) {
    v1::GetChannelRequest req;
    req.set_name("channels/" + id);
    v1::Channel out;
    grpc::ClientContext ctx;
    grpc::Status s = ops_->GetChannel(&ctx, req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  v1::GetTargetResponse Target(const std::string& id) {
    v1::GetTargetRequest req;
    req.set_channel("channels/" + id);
    v1::GetTargetResponse out;
    grpc::ClientContext ctx;
    grpc::Status s = updater_->GetTarget(&ctx, req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  // What a bare updater (the catch-all) is told once the rollout a target
  // change started is over. These channels have no hosts, so the engine
  // finishes each rollout at its next tick; until then the catch-all is held
  // on the start version (staged rollouts: rollout_test.cc).
  v1::GetTargetResponse RolledOutTarget(const std::string& id) {
    v1::GetTargetResponse t;
    const bool settled = PollUntil(absl::Seconds(20), [&] {
      t = Target(id);
      return !t.held_back();
    });
    EXPECT_TRUE(settled) << "channel " << id << " still holds the catch-all back on " << t.target_version();
    return t;
  }

  std::vector<std::string> ListHosts(v1::ListAgentsRequest req) {
    std::vector<std::string> hosts;
    for (;;) {
      v1::ListAgentsResponse resp;
      grpc::ClientContext ctx;
      grpc::Status s = ops_->ListAgents(&ctx, req, &resp);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) break;
      for (const v1::Agent& a : resp.agents()) hosts.push_back(a.host_id());
      if (resp.next_page_token().empty()) break;
      req.set_page_token(resp.next_page_token());
    }
    return hosts;
  }

  int64_t CountRows(const std::string& table) {
    return std::stoll(QueryValue(db_, "SELECT count(*) FROM " + table));
  }

  std::string db_;
  std::unique_ptr<CoordinatorServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::OperatorService::Stub> ops_;
  std::unique_ptr<v1::UpdaterService::Stub> updater_;
};

// --- Channels ------------------------------------------------------------------

TEST_F(ApiTest, CreateGetListDeleteChannel) {
  v1::Channel created;
  ASSERT_TRUE(CreateChannel("stable/cloud", "v15.2.0", "15.1.3", &created).ok());
  EXPECT_EQ(created.name(), "channels/stable/cloud");
  EXPECT_EQ(created.control_plane_version(), "15.2.0");  // "v" normalised away
  EXPECT_EQ(created.target_version(), "15.1.3");
  EXPECT_EQ(created.poll_interval().seconds(), 60);

  grpc::Status again = CreateChannel("stable/cloud", "15.2.0");
  EXPECT_EQ(again.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_TRUE(absl::StrContains(again.error_message(), "stable/cloud")) << again.error_message();

  ASSERT_TRUE(CreateChannel("beta", "16.0.0").ok());
  v1::ListChannelsResponse list;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(ops_->ListChannels(&ctx, {}, &list).ok());
  }
  ASSERT_EQ(list.channels_size(), 2);
  EXPECT_EQ(list.channels(0).name(), "channels/beta");

  ASSERT_TRUE(DeleteChannel("beta").ok());
  v1::GetChannelRequest get;
  get.set_name("channels/beta");
  v1::Channel got;
  grpc::ClientContext ctx;
  grpc::Status s = ops_->GetChannel(&ctx, get, &got);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "\"beta\"")) << s.error_message();
}

TEST_F(ApiTest, CreateChannelRejectsBadInputAndWritesNothing) {
  struct Case {
    std::string id, cp, target;
    grpc::StatusCode code;
    std::string mentions;
  };
  const std::vector<Case> cases = {
      {"", "15.0.0", "", grpc::StatusCode::INVALID_ARGUMENT, "channel_id"},
      {"Stable", "15.0.0", "", grpc::StatusCode::INVALID_ARGUMENT, "\"Stable\""},
      {"/lead", "15.0.0", "", grpc::StatusCode::INVALID_ARGUMENT, "\"/lead\""},
      {"a//b", "15.0.0", "", grpc::StatusCode::INVALID_ARGUMENT, "\"a//b\""},
      {std::string(101, 'a'), "15.0.0", "", grpc::StatusCode::INVALID_ARGUMENT, "longer than 100"},
      {"ok", "", "", grpc::StatusCode::INVALID_ARGUMENT, "control_plane_version"},
      {"ok", "15.0", "", grpc::StatusCode::INVALID_ARGUMENT, "\"15.0\""},
      {"ok", "15.0.0", "1.2.x", grpc::StatusCode::INVALID_ARGUMENT, "\"1.2.x\""},
      {"ok", "15.0.0", "16.0.0", grpc::StatusCode::FAILED_PRECONDITION, "16.0.0"},
      {"ok", "15.0.0", "13.9.9", grpc::StatusCode::FAILED_PRECONDITION, "13.9.9"},
  };
  for (const Case& c : cases) {
    grpc::Status s = CreateChannel(c.id, c.cp, c.target);
    EXPECT_EQ(s.error_code(), c.code) << c.id << " " << c.cp << " " << c.target << ": " << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), c.mentions)) << s.error_message();
  }
  EXPECT_EQ(CountRows("channels"), 0);

  v1::CreateChannelRequest req;
  req.set_channel_id("ok");
  req.set_control_plane_version("15.0.0");
  req.mutable_poll_interval()->set_nanos(1000);
  v1::Channel out;
  grpc::ClientContext ctx;
  grpc::Status s = ops_->CreateChannel(&ctx, req, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "poll_interval")) << s.error_message();
  EXPECT_EQ(CountRows("channels"), 0);
}

TEST_F(ApiTest, DeleteChannelWithAgentsNeedsForce) {
  ASSERT_TRUE(CreateChannel("prod", "15.0.0").ok());
  ASSERT_TRUE(Send(Report("h1", "prod", "15.0.0", 1)).ok());
  ASSERT_TRUE(Send(Report("h2", "prod", "14.1.0", 1)).ok());
  v1::DeleteChannelRequest del;
  del.set_name("channels/prod");
  v1::DeleteChannelResponse resp;
  {
    grpc::ClientContext ctx;
    grpc::Status s = ops_->DeleteChannel(&ctx, del, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_TRUE(absl::StrContains(s.error_message(), "2 agents")) << s.error_message();
  }
  EXPECT_EQ(CountRows("agents"), 2);
  del.set_force(true);
  grpc::ClientContext ctx;
  ASSERT_TRUE(ops_->DeleteChannel(&ctx, del, &resp).ok());
  EXPECT_EQ(resp.agents_removed(), 2);
  EXPECT_EQ(CountRows("agents"), 0);
  EXPECT_EQ(CountRows("fleet_counts"), 0);
  // A re-created channel starts from zero.
  ASSERT_TRUE(CreateChannel("prod", "15.0.0").ok());
  EXPECT_EQ(Status("prod").total_agents(), 0);
}

// --- Target and version rules --------------------------------------------------

TEST_F(ApiTest, TargetMustRespectControlPlane) {
  ASSERT_TRUE(CreateChannel("prod", "15.2.0").ok());
  v1::Channel ch;
  ASSERT_TRUE(SetTarget("prod", "v15.1.0", false, &ch).ok());
  EXPECT_EQ(ch.target_version(), "15.1.0");

  grpc::Status above = SetTarget("prod", "15.3.0");
  EXPECT_EQ(above.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(above.error_message(), "15.3.0")) << above.error_message();
  EXPECT_TRUE(absl::StrContains(above.error_message(), "15.2.0")) << above.error_message();

  grpc::Status prerelease_above = SetTarget("prod", "15.2.1-rc.1");
  EXPECT_EQ(prerelease_above.error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  grpc::Status two_below = SetTarget("prod", "13.4.0", true);
  EXPECT_EQ(two_below.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(two_below.error_message(), "13.4.0")) << two_below.error_message();
  EXPECT_TRUE(absl::StrContains(two_below.error_message(), "15.2.0")) << two_below.error_message();

  EXPECT_EQ(RolledOutTarget("prod").target_version(), "15.1.0");  // nothing changed
}

TEST_F(ApiTest, DowngradeNeedsExplicitFlag) {
  ASSERT_TRUE(CreateChannel("prod", "15.2.0", "15.2.0").ok());
  grpc::Status s = SetTarget("prod", "15.1.0");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "allow_downgrade")) << s.error_message();
  EXPECT_EQ(RolledOutTarget("prod").target_version(), "15.2.0");
  EXPECT_FALSE(RolledOutTarget("prod").downgrade_allowed());

  ASSERT_TRUE(SetTarget("prod", "15.1.0", true).ok());
  v1::GetTargetResponse t = RolledOutTarget("prod");
  EXPECT_EQ(t.target_version(), "15.1.0");
  EXPECT_TRUE(t.downgrade_allowed());

  // Moving up again clears the roll-back mark.
  ASSERT_TRUE(SetTarget("prod", "15.2.0").ok());
  EXPECT_FALSE(RolledOutTarget("prod").downgrade_allowed());

  ASSERT_TRUE(SetTarget("prod", "none").ok());
  EXPECT_EQ(RolledOutTarget("prod").target_version(), "");

  // Clearing the target is no way around the flag: the last target counts.
  grpc::Status after_clear = SetTarget("prod", "15.1.0");
  EXPECT_EQ(after_clear.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << after_clear.error_message();
  EXPECT_TRUE(absl::StrContains(after_clear.error_message(), "15.2.0")) << after_clear.error_message();
  EXPECT_EQ(RolledOutTarget("prod").target_version(), "");
  v1::Channel ch = GetChannel("prod");
  EXPECT_EQ(ch.last_target_version(), "15.2.0");
  ASSERT_TRUE(SetTarget("prod", "15.1.0", true).ok());
  EXPECT_TRUE(RolledOutTarget("prod").downgrade_allowed());
  EXPECT_EQ(GetChannel("prod").last_target_version(), "15.1.0");

  // The same for a channel whose only target came with its creation.
  ASSERT_TRUE(CreateChannel("born", "15.2.0", "15.2.0").ok());
  EXPECT_EQ(GetChannel("born").last_target_version(), "15.2.0");
  ASSERT_TRUE(SetTarget("born", "none").ok());
  grpc::Status born = SetTarget("born", "15.1.0");
  EXPECT_EQ(born.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << born.error_message();
}

// Issue 12 item 10: clearing a roll-back target and setting it again kept
// the target but dropped downgrade_allowed, so agents still on the newer
// version never came down.
TEST_F(ApiTest, ARollBackTargetSetAgainAfterAClearIsStillARollBack) {
  ASSERT_TRUE(CreateChannel("prod", "15.2.0", "15.2.0").ok());
  ASSERT_TRUE(SetTarget("prod", "15.1.0", true).ok());
  ASSERT_TRUE(RolledOutTarget("prod").downgrade_allowed());
  ASSERT_TRUE(SetTarget("prod", "none").ok());

  grpc::Status again = SetTarget("prod", "15.1.0");
  EXPECT_EQ(again.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << again.error_message();
  EXPECT_TRUE(absl::StrContains(again.error_message(), "roll-back")) << again.error_message();
  EXPECT_TRUE(absl::StrContains(again.error_message(), "allow_downgrade")) << again.error_message();
  EXPECT_EQ(RolledOutTarget("prod").target_version(), "");

  v1::Channel out;
  ASSERT_TRUE(SetTarget("prod", "15.1.0", true, &out).ok());
  EXPECT_TRUE(out.target_allows_downgrade());
  v1::GetTargetResponse t = RolledOutTarget("prod");
  EXPECT_EQ(t.target_version(), "15.1.0");
  EXPECT_TRUE(t.downgrade_allowed());

  // Moving up ends the roll-back: the same dance then needs no flag.
  ASSERT_TRUE(SetTarget("prod", "15.2.0").ok());
  ASSERT_TRUE(SetTarget("prod", "none").ok());
  ASSERT_TRUE(SetTarget("prod", "15.2.0").ok());
  EXPECT_FALSE(RolledOutTarget("prod").downgrade_allowed());
}

// Issue 12 item 9: a channel created with a target counted every outcome
// as "since the target" (here 1 succeeded, 3 failed, 1 rolled back).
TEST_F(ApiTest, OutcomesSinceTheTargetOfAChannelCreatedWithOne) {
  ASSERT_TRUE(CreateChannel("born", "15.2.0", "15.1.0").ok());
  v1::ReportStatusRequest r = Report("h1", "born", "15.1.0", 1);
  AddOutcome(&r, "15.0.0", "15.1.0", v1::UPDATE_RESULT_SUCCEEDED);
  ASSERT_TRUE(Send(r).ok());
  r = Report("h2", "born", "15.0.0", 1);
  AddOutcome(&r, "15.0.0", "15.1.0", v1::UPDATE_RESULT_FAILED, "download failed");
  ASSERT_TRUE(Send(r).ok());
  r = Report("h3", "born", "15.0.0", 1);
  AddOutcome(&r, "15.0.0", "15.1.0", v1::UPDATE_RESULT_ROLLED_BACK, "unhealthy");
  ASSERT_TRUE(Send(r).ok());
  // Towards another version: not the target's failure.
  r = Report("h4", "born", "15.0.0", 1);
  AddOutcome(&r, "15.0.0", "15.0.9", v1::UPDATE_RESULT_FAILED, "download failed");
  ASSERT_TRUE(Send(r).ok());
  // Finished 10 minutes before the target was set.
  r = Report("h5", "born", "15.0.0", 1);
  AddOutcome(&r, "15.0.0", "15.1.0", v1::UPDATE_RESULT_FAILED, "download failed");
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  r.mutable_outcomes(0)->mutable_start_time()->set_seconds(now - 660);
  r.mutable_outcomes(0)->mutable_finish_time()->set_seconds(now - 600);
  ASSERT_TRUE(Send(r).ok());

  v1::RolloutStatus st = Status("born");
  EXPECT_EQ(st.succeeded_since_target(), 1);
  EXPECT_EQ(st.failed_since_target(), 1);
  EXPECT_EQ(st.rolled_back_since_target(), 1);
  // As for a channel whose target came with SetTargetVersion.
  ASSERT_TRUE(CreateChannel("later", "15.2.0").ok());
  ASSERT_TRUE(SetTarget("later", "15.1.0").ok());
  EXPECT_EQ(QueryValue(db_, "SELECT string_agg(name || ':' || target_epoch, ' ' ORDER BY name) FROM channels"),
            "born:1 later:1");
}

TEST_F(ApiTest, SetTargetRejectsBadVersions) {
  ASSERT_TRUE(CreateChannel("prod", "15.2.0", "15.0.0").ok());
  for (const std::string& bad : std::vector<std::string>{"", "15", "15.1", "15.01.0", "15.1.0-", "latest", std::string(200, '1')}) {
    grpc::Status s = SetTarget("prod", bad);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_TRUE(absl::StrContains(s.error_message(), "version")) << s.error_message();
  }
  // Each names its real problem (issue 12 item 12).
  for (const auto& [bad, reason] : std::vector<std::pair<std::string, std::string>>{
           {"99999999999999999999.0.0", "too large"}, {"V15.1.0", "lowercase"}, {"vv15.1.0", "more than one"},
           {" 15.1.0", "leading whitespace"}}) {
    grpc::Status s = SetTarget("prod", bad);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_TRUE(absl::StrContains(s.error_message(), reason)) << s.error_message();
    EXPECT_FALSE(absl::StrContains(s.error_message(), "leading zeros")) << s.error_message();
  }
  grpc::Status unknown = SetTarget("nope", "15.0.0");
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(absl::StrContains(unknown.error_message(), "\"nope\"")) << unknown.error_message();
  EXPECT_EQ(Target("prod").target_version(), "15.0.0");
}

TEST_F(ApiTest, ControlPlaneChangeCannotStrandTheTarget) {
  ASSERT_TRUE(CreateChannel("prod", "15.2.0", "15.2.0").ok());
  v1::SetControlPlaneVersionRequest req;
  req.set_name("channels/prod");
  req.set_version("15.1.0");
  v1::Channel out;
  {
    grpc::ClientContext ctx;
    grpc::Status s = ops_->SetControlPlaneVersion(&ctx, req, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_TRUE(absl::StrContains(s.error_message(), "15.1.0")) << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), "15.2.0")) << s.error_message();
  }
  {
    req.set_version("17.0.0");  // target 15.2.0 would be two majors behind
    grpc::ClientContext ctx;
    EXPECT_EQ(ops_->SetControlPlaneVersion(&ctx, req, &out).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  }
  req.set_version("16.0.0");
  grpc::ClientContext ctx;
  ASSERT_TRUE(ops_->SetControlPlaneVersion(&ctx, req, &out).ok());
  EXPECT_EQ(out.control_plane_version(), "16.0.0");
  EXPECT_EQ(Target("prod").control_plane_version(), "16.0.0");
}

// Teleport's stable/rolling: the target follows the control plane.
TEST_F(ApiTest, RollingChannelTargetFollowsTheControlPlane) {
  auto set_cp = [&](const std::string& version, std::optional<bool> follow, v1::Channel* out) {
    v1::SetControlPlaneVersionRequest req;
    req.set_name("channels/stable/rolling");
    req.set_version(version);
    if (follow.has_value()) req.set_follows_control_plane(*follow);
    grpc::ClientContext ctx;
    return ops_->SetControlPlaneVersion(&ctx, req, out);
  };
  {
    // A following channel takes no other target at creation.
    v1::CreateChannelRequest req;
    req.set_channel_id("stable/rolling");
    req.set_control_plane_version("15.2.0");
    req.set_target_version("15.1.0");
    req.set_follows_control_plane(true);
    v1::Channel out;
    grpc::ClientContext ctx;
    grpc::Status s = ops_->CreateChannel(&ctx, req, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StrContains(s.error_message(), "15.1.0")) << s.error_message();
    req.clear_target_version();
    grpc::ClientContext ctx2;
    ASSERT_TRUE(ops_->CreateChannel(&ctx2, req, &out).ok());
    EXPECT_TRUE(out.follows_control_plane());
    EXPECT_EQ(out.target_version(), "15.2.0");
  }
  EXPECT_EQ(RolledOutTarget("stable/rolling").target_version(), "15.2.0");

  // The control plane moves: so does the target, the answer updaters get.
  v1::Channel ch;
  ASSERT_TRUE(set_cp("16.0.1", std::nullopt, &ch).ok());
  EXPECT_EQ(ch.control_plane_version(), "16.0.1");
  EXPECT_EQ(ch.target_version(), "16.0.1");
  EXPECT_EQ(RolledOutTarget("stable/rolling").target_version(), "16.0.1");
  // And down, as a roll-back: agents must never run above it.
  ASSERT_TRUE(set_cp("15.3.0", std::nullopt, &ch).ok());
  EXPECT_EQ(ch.target_version(), "15.3.0");
  EXPECT_TRUE(ch.target_allows_downgrade());

  // A target set by hand is refused while it follows, and changes nothing.
  grpc::Status refused = SetTarget("stable/rolling", "15.2.0", true);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(refused.error_message(), "follows its control plane")) << refused.error_message();
  EXPECT_EQ(RolledOutTarget("stable/rolling").target_version(), "15.3.0");

  // Stop following (no version given): the target stays, and is the
  // operator's again.
  ASSERT_TRUE(set_cp("", false, &ch).ok());
  EXPECT_FALSE(ch.follows_control_plane());
  EXPECT_EQ(ch.control_plane_version(), "15.3.0");
  EXPECT_EQ(ch.target_version(), "15.3.0");
  ASSERT_TRUE(set_cp("15.4.0", std::nullopt, &ch).ok());
  EXPECT_EQ(ch.target_version(), "15.3.0");
  ASSERT_TRUE(SetTarget("stable/rolling", "15.3.1").ok());
  // Follow again: the target jumps to the control plane at once.
  ASSERT_TRUE(set_cp("", true, &ch).ok());
  EXPECT_TRUE(ch.follows_control_plane());
  EXPECT_EQ(ch.target_version(), "15.4.0");
  // Neither a version nor a follow setting: the version is required.
  EXPECT_EQ(set_cp("", std::nullopt, &ch).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // Every step is in the channel's history, following named.
  v1::ListChannelChangesRequest req;
  req.set_name("channels/stable/rolling");
  v1::ListChannelChangesResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(ops_->ListChannelChanges(&ctx, req, &resp).ok());
  std::vector<std::string> seen;
  for (const v1::ChannelChange& c : resp.changes()) seen.push_back(c.field() + ":" + c.new_value());
  const std::string all = absl::StrJoin(seen, "\n");
  EXPECT_TRUE(absl::StrContains(all, "target_version:16.0.1 (follows the control plane)")) << all;
  EXPECT_TRUE(absl::StrContains(all, "target_version:15.3.0 (downgrade) (follows the control plane)")) << all;
  EXPECT_TRUE(absl::StrContains(all, "follows_control_plane:false")) << all;
  EXPECT_TRUE(absl::StrContains(all, "follows_control_plane:true")) << all;
  EXPECT_TRUE(absl::StrContains(all, "created:target=15.2.0 control_plane=15.2.0 (target follows the control plane)"))
      << all;
}

TEST_F(ApiTest, CriticalToggleNeedsReasonAndReachesUpdaters) {
  ASSERT_TRUE(CreateChannel("prod", "15.2.0", "15.2.0").ok());
  v1::SetCriticalRequest req;
  req.set_name("channels/prod");
  req.set_critical(true);
  v1::Channel out;
  {
    grpc::ClientContext ctx;
    grpc::Status s = ops_->SetCritical(&ctx, req, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StrContains(s.error_message(), "reason")) << s.error_message();
  }
  EXPECT_FALSE(Target("prod").critical());
  req.set_reason("CVE-2026-1234");
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(ops_->SetCritical(&ctx, req, &out).ok());
  }
  EXPECT_TRUE(out.critical());
  EXPECT_EQ(out.critical_reason(), "CVE-2026-1234");
  EXPECT_TRUE(Target("prod").critical());
  req.set_critical(false);
  req.set_reason("");
  grpc::ClientContext ctx;
  ASSERT_TRUE(ops_->SetCritical(&ctx, req, &out).ok());
  EXPECT_FALSE(Target("prod").critical());
}

// Issue 12 item 11: a reason of blanks says nothing.
TEST_F(ApiTest, CriticalToggleRefusesBlankReasons) {
  ASSERT_TRUE(CreateChannel("prod", "15.2.0", "15.2.0").ok());
  const int64_t changes_before = CountRows("channel_changes");
  v1::SetCriticalRequest req;
  req.set_name("channels/prod");
  req.set_critical(true);
  v1::Channel out;
  for (const std::string blank : {"   ", "\xc2\xa0" /* U+00A0 */, "\xe3\x80\x80" /* U+3000 */}) {
    req.set_reason(blank);
    grpc::ClientContext ctx;
    grpc::Status s = ops_->SetCritical(&ctx, req, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << absl::CHexEscape(blank);
    EXPECT_TRUE(absl::StrContains(s.error_message(), "reason")) << s.error_message();
  }
  EXPECT_FALSE(Target("prod").critical());
  EXPECT_EQ(CountRows("channel_changes"), changes_before);
}

// Issue 12 item 17: the poll interval can change after creation, within the
// bounds creation applies, and the change is recorded.
TEST_F(ApiTest, PollIntervalCanChangeAfterCreation) {
  ASSERT_TRUE(CreateChannel("prod", "15.2.0", "15.2.0").ok());
  auto set = [&](std::function<void(v1::SetPollIntervalRequest&)> edit, v1::Channel* out) {
    v1::SetPollIntervalRequest req;
    req.set_name("channels/prod");
    edit(req);
    grpc::ClientContext ctx;
    return ops_->SetPollInterval(&ctx, req, out);
  };
  v1::Channel out;
  ASSERT_TRUE(set([](auto& r) { r.mutable_poll_interval()->set_seconds(30); }, &out).ok());
  EXPECT_EQ(out.poll_interval().seconds(), 30);
  EXPECT_EQ(Target("prod").poll_interval().seconds(), 30);
  ASSERT_TRUE(set([](auto& r) { r.mutable_poll_interval()->set_seconds(30); }, &out).ok());  // no-op

  struct Bad {
    std::function<void(v1::SetPollIntervalRequest&)> edit;
    std::string mentions;
  };
  for (const Bad& b : std::vector<Bad>{
           {[](auto&) {}, "poll_interval is required"},
           {[](auto& r) { r.mutable_poll_interval()->set_seconds(0); }, "poll_interval 0"},
           {[](auto& r) { r.mutable_poll_interval()->set_seconds(25 * 3600); }, "poll_interval 25h"},
           {[](auto& r) { r.mutable_poll_interval()->set_nanos(500); }, "whole milliseconds"},
       }) {
    grpc::Status s = set(b.edit, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << b.mentions;
    EXPECT_TRUE(absl::StrContains(s.error_message(), b.mentions)) << s.error_message();
  }
  EXPECT_EQ(Target("prod").poll_interval().seconds(), 30);
  EXPECT_EQ(QueryValue(db_, "SELECT string_agg(old_value || ' -> ' || new_value, ', ') FROM channel_changes "
                            "WHERE field = 'poll_interval'"),
            "1m -> 30s");
}

TEST_F(ApiTest, MaintenanceWindowsAreValidatedAndServed) {
  ASSERT_TRUE(CreateChannel("prod", "15.2.0").ok());
  v1::SetMaintenanceWindowsRequest req;
  req.set_name("channels/prod");
  v1::MaintenanceWindow* w = req.add_maintenance_windows();
  w->add_weekdays(v1::WEEKDAY_MONDAY);
  w->add_weekdays(v1::WEEKDAY_THURSDAY);
  w->set_utc_start_hour(2);
  w->mutable_duration()->set_seconds(3600);
  v1::Channel out;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(ops_->SetMaintenanceWindows(&ctx, req, &out).ok());
  }
  v1::GetTargetResponse t = Target("prod");
  ASSERT_EQ(t.maintenance_windows_size(), 1);
  EXPECT_EQ(t.maintenance_windows(0).utc_start_hour(), 2u);
  ASSERT_EQ(t.maintenance_windows(0).weekdays_size(), 2);
  EXPECT_EQ(t.maintenance_windows(0).weekdays(1), v1::WEEKDAY_THURSDAY);
  EXPECT_EQ(t.maintenance_windows(0).duration().seconds(), 3600);

  struct Bad {
    std::function<void(v1::MaintenanceWindow*)> edit;
    std::string mentions;
  };
  const std::vector<Bad> bad = {
      {[](v1::MaintenanceWindow* m) { m->set_utc_start_hour(24); }, "utc_start_hour 24"},
      {[](v1::MaintenanceWindow* m) { m->add_weekdays(static_cast<v1::Weekday>(9)); }, "weekday 9"},
      {[](v1::MaintenanceWindow* m) { m->add_weekdays(v1::WEEKDAY_MONDAY); }, "Mon"},
      {[](v1::MaintenanceWindow* m) { m->mutable_duration()->set_seconds(90); }, "duration"},
      {[](v1::MaintenanceWindow* m) { m->mutable_duration()->set_seconds(25 * 3600); }, "duration"},
      {[](v1::MaintenanceWindow* m) { m->clear_duration(); }, "duration is required"},
  };
  for (const Bad& b : bad) {
    v1::SetMaintenanceWindowsRequest r = req;
    b.edit(r.mutable_maintenance_windows(0));
    grpc::ClientContext ctx;
    grpc::Status s = ops_->SetMaintenanceWindows(&ctx, r, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << b.mentions;
    EXPECT_TRUE(absl::StrContains(s.error_message(), b.mentions)) << s.error_message();
  }
  EXPECT_EQ(Target("prod").maintenance_windows(0).utc_start_hour(), 2u);  // unchanged
}

TEST_F(ApiTest, ChannelChangesAreRecorded) {
  ASSERT_TRUE(CreateChannel("prod", "15.2.0", "15.0.0").ok());
  ASSERT_TRUE(SetTarget("prod", "15.1.0").ok());
  ASSERT_TRUE(SetTarget("prod", "15.1.0").ok());  // no-op: no record
  EXPECT_FALSE(SetTarget("prod", "16.0.0").ok());  // refused: no record
  v1::ListChannelChangesRequest req;
  req.set_name("channels/prod");
  v1::ListChannelChangesResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(ops_->ListChannelChanges(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.changes_size(), 2);
  EXPECT_EQ(resp.changes(0).field(), "target_version");
  EXPECT_EQ(resp.changes(0).old_value(), "15.0.0");
  EXPECT_EQ(resp.changes(0).new_value(), "15.1.0");
  EXPECT_EQ(resp.changes(1).field(), "created");

  // Every kind of edit leaves its old and new value; so does deletion.
  v1::Channel ch;
  {
    v1::SetCriticalRequest r;
    r.set_name("channels/prod");
    r.set_critical(true);
    r.set_reason("CVE-2026-1234");
    grpc::ClientContext c;
    ASSERT_TRUE(ops_->SetCritical(&c, r, &ch).ok());
    // Lowering, then lowering again (with or without a reason) or asking for
    // what is already there: one record only (issue 12 item 17).
    r.set_critical(false);
    for (const char* reason : {"patched", "patched", "", "again"}) {
      r.set_reason(reason);
      grpc::ClientContext again;
      ASSERT_TRUE(ops_->SetCritical(&again, r, &ch).ok());
    }
  }
  {
    v1::SetControlPlaneVersionRequest r;
    r.set_name("channels/prod");
    r.set_version("15.3.0");
    grpc::ClientContext c;
    ASSERT_TRUE(ops_->SetControlPlaneVersion(&c, r, &ch).ok());
  }
  {
    v1::SetMaintenanceWindowsRequest r;
    r.set_name("channels/prod");
    v1::MaintenanceWindow* w = r.add_maintenance_windows();
    w->add_weekdays(v1::WEEKDAY_TUESDAY);
    w->set_utc_start_hour(2);
    w->mutable_duration()->set_seconds(3600);
    grpc::ClientContext c;
    ASSERT_TRUE(ops_->SetMaintenanceWindows(&c, r, &ch).ok());
  }
  ASSERT_TRUE(DeleteChannel("prod").ok());
  v1::ListChannelChangesResponse all;
  {
    grpc::ClientContext c;
    ASSERT_TRUE(ops_->ListChannelChanges(&c, req, &all).ok());
  }
  std::vector<std::string> got;
  for (const v1::ChannelChange& c : all.changes()) {
    got.push_back(absl::StrCat(c.field(), ": ", c.old_value(), " -> ", c.new_value()));
  }
  ASSERT_GE(got.size(), 5u);
  EXPECT_EQ(got[0].substr(0, 9), "deleted: ") << got[0];
  EXPECT_EQ(got[1], "maintenance_windows: none -> Tue 02:00 UTC +1h");
  EXPECT_EQ(got[2], "control_plane_version: 15.2.0 -> 15.3.0");
  EXPECT_EQ(got[3], "critical: raised: CVE-2026-1234 -> lowered: patched");
  EXPECT_EQ(got[4], "critical: lowered -> raised: CVE-2026-1234");
}

TEST_F(ApiTest, EveryChannelRpcSaysNotFoundForAnUnknownChannel) {
  ASSERT_TRUE(CreateChannel("prod", "15.2.0", "15.2.0").ok());
  const std::string ghost = "channels/ghost";
  auto expect_not_found = [](const char* rpc, const grpc::Status& s) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << rpc << ": " << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), "\"ghost\"")) << rpc << ": " << s.error_message();
  };
  v1::Channel ch;
  {
    v1::GetChannelRequest r;
    r.set_name(ghost);
    grpc::ClientContext ctx;
    expect_not_found("GetChannel", ops_->GetChannel(&ctx, r, &ch));
  }
  expect_not_found("DeleteChannel", DeleteChannel("ghost"));
  expect_not_found("SetTargetVersion", SetTarget("ghost", "15.2.0"));
  {
    v1::SetCriticalRequest r;
    r.set_name(ghost);
    r.set_critical(true);
    r.set_reason("CVE");
    grpc::ClientContext ctx;
    expect_not_found("SetCritical", ops_->SetCritical(&ctx, r, &ch));
  }
  {
    v1::SetControlPlaneVersionRequest r;
    r.set_name(ghost);
    r.set_version("15.2.0");
    grpc::ClientContext ctx;
    expect_not_found("SetControlPlaneVersion", ops_->SetControlPlaneVersion(&ctx, r, &ch));
  }
  {
    v1::SetMaintenanceWindowsRequest r;
    r.set_name(ghost);
    grpc::ClientContext ctx;
    expect_not_found("SetMaintenanceWindows", ops_->SetMaintenanceWindows(&ctx, r, &ch));
  }
  {
    v1::SetPollIntervalRequest r;
    r.set_name(ghost);
    r.mutable_poll_interval()->set_seconds(30);
    grpc::ClientContext ctx;
    expect_not_found("SetPollInterval", ops_->SetPollInterval(&ctx, r, &ch));
  }
  {
    v1::GetRolloutStatusRequest r;
    r.set_name(ghost);
    v1::RolloutStatus out;
    grpc::ClientContext ctx;
    expect_not_found("GetRolloutStatus", ops_->GetRolloutStatus(&ctx, r, &out));
  }
  {
    v1::ListAgentsRequest r;
    r.set_channel(ghost);
    v1::ListAgentsResponse out;
    grpc::ClientContext ctx;
    expect_not_found("ListAgents", ops_->ListAgents(&ctx, r, &out));
  }
  {
    v1::ListChannelChangesRequest r;
    r.set_name(ghost);
    v1::ListChannelChangesResponse out;
    grpc::ClientContext ctx;
    expect_not_found("ListChannelChanges", ops_->ListChannelChanges(&ctx, r, &out));
  }
  {
    v1::ListChannelChangesRequest r;  // a later page, too
    r.set_name(ghost);
    r.set_page_token(api::EncodePageToken("changes", "ghost", "1000"));
    v1::ListChannelChangesResponse out;
    grpc::ClientContext ctx;
    expect_not_found("ListChannelChanges (paged)", ops_->ListChannelChanges(&ctx, r, &out));
  }
  {
    v1::GetTargetRequest r;
    r.set_channel(ghost);
    v1::GetTargetResponse out;
    grpc::ClientContext ctx;
    expect_not_found("GetTarget", updater_->GetTarget(&ctx, r, &out));
  }
  // Nothing was created on the way.
  EXPECT_EQ(CountRows("channels"), 1);

  // A deleted channel's history stays readable; its agents' list is gone with it.
  ASSERT_TRUE(DeleteChannel("prod").ok());
  v1::ListChannelChangesRequest hist;
  hist.set_name("channels/prod");
  v1::ListChannelChangesResponse changes;
  {
    grpc::ClientContext ctx;
    grpc::Status s = ops_->ListChannelChanges(&ctx, hist, &changes);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  ASSERT_GE(changes.changes_size(), 2);
  EXPECT_EQ(changes.changes(0).field(), "deleted");
}

TEST_F(ApiTest, OperatorAndUpdaterInputIsBounded) {
  ASSERT_TRUE(CreateChannel("prod", "15.2.0", "15.2.0").ok());
  const int64_t changes_before = CountRows("channel_changes");
  v1::SetCriticalRequest crit;
  crit.set_name("channels/prod");
  crit.set_critical(true);
  v1::Channel ch;
  for (const std::string& bad : {std::string(api::kMaxReasonLength + 1, 'r'), std::string("line one\nline two"),
                                 std::string("bell\x07"), std::string("del\x7f")}) {
    crit.set_reason(bad);
    grpc::ClientContext ctx;
    grpc::Status s = ops_->SetCritical(&ctx, crit, &ch);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << absl::CHexEscape(bad);
    EXPECT_TRUE(absl::StrContains(s.error_message(), "reason")) << s.error_message();
  }
  EXPECT_FALSE(Target("prod").critical());
  EXPECT_EQ(CountRows("channel_changes"), changes_before);

  // GetTarget's group follows the same rule as a report's.
  for (const std::string& bad : {std::string(api::kMaxGroupLength + 1, 'g'), std::string("web tier"), std::string("a\x01")}) {
    v1::GetTargetRequest r;
    r.set_channel("channels/prod");
    r.set_group(bad);
    v1::GetTargetResponse out;
    grpc::ClientContext ctx;
    grpc::Status s = updater_->GetTarget(&ctx, r, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << absl::CHexEscape(bad);
    EXPECT_TRUE(absl::StrContains(s.error_message(), "group")) << s.error_message();
  }
  {
    v1::GetTargetRequest r;
    r.set_channel("channels/prod");
    r.set_group("canary");
    v1::GetTargetResponse out;
    grpc::ClientContext ctx;
    EXPECT_TRUE(updater_->GetTarget(&ctx, r, &out).ok());
  }

  // ListAgents filters name what is wrong.
  v1::ListAgentsRequest list;
  v1::ListAgentsResponse agents;
  list.set_version("15.x");
  {
    grpc::ClientContext ctx;
    grpc::Status s = ops_->ListAgents(&ctx, list, &agents);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StrContains(s.error_message(), "version")) << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), "15.x")) << s.error_message();
  }
  list.clear_version();
  list.set_health(static_cast<v1::Health>(9));
  {
    grpc::ClientContext ctx;
    grpc::Status s = ops_->ListAgents(&ctx, list, &agents);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StrContains(s.error_message(), "health 9")) << s.error_message();
  }
}

TEST_F(ApiTest, ChannelChangesPageNewestFirst) {
  ASSERT_TRUE(CreateChannel("prod", "15.2.0", "15.0.0").ok());
  for (const char* v : {"15.0.1", "15.0.2", "15.0.3", "15.0.4"}) ASSERT_TRUE(SetTarget("prod", v).ok());
  v1::ListChannelChangesRequest req;
  req.set_name("channels/prod");
  req.set_page_size(2);
  std::vector<std::string> seen;
  for (int pages = 0;; ++pages) {
    ASSERT_LT(pages, 10) << "paging does not end";
    v1::ListChannelChangesResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = ops_->ListChannelChanges(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_LE(resp.changes_size(), 2);
    for (const v1::ChannelChange& c : resp.changes()) seen.push_back(c.field() + ":" + c.new_value());
    if (resp.next_page_token().empty()) break;
    req.set_page_token(resp.next_page_token());
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"target_version:15.0.4", "target_version:15.0.3", "target_version:15.0.2",
                                            "target_version:15.0.1", seen.back()}));
  EXPECT_EQ(seen.back().substr(0, 8), "created:");

  req.set_page_token("garbage!");
  v1::ListChannelChangesResponse resp;
  grpc::ClientContext ctx;
  grpc::Status s = ops_->ListChannelChanges(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "page_token")) << s.error_message();
}

// --- Reports ---------------------------------------------------------------------

TEST_F(ApiTest, ReportsAreIdempotentPerSequence) {
  ASSERT_TRUE(CreateChannel("prod", "15.2.0", "15.1.0").ok());
  v1::ReportStatusRequest r = Report("host-a", "prod", "15.1.0", 5);
  AddOutcome(&r, "15.0.0", "15.1.0", v1::UPDATE_RESULT_SUCCEEDED);
  v1::ReportStatusResponse resp;
  ASSERT_TRUE(Send(r, &resp).ok());
  EXPECT_EQ(resp.disposition(), v1::ReportStatusResponse::DISPOSITION_ACCEPTED);
  EXPECT_EQ(resp.stored_sequence(), 5);

  // Same report again: nothing changes, the outcome is stored once.
  ASSERT_TRUE(Send(r, &resp).ok());
  EXPECT_EQ(resp.disposition(), v1::ReportStatusResponse::DISPOSITION_DUPLICATE);
  // An older one with other content is ignored.
  v1::ReportStatusRequest old = Report("host-a", "prod", "14.0.0", 4, v1::HEALTH_UNHEALTHY);
  AddOutcome(&old, "14.0.0", "15.0.0", v1::UPDATE_RESULT_FAILED, "boom");
  ASSERT_TRUE(Send(old, &resp).ok());
  EXPECT_EQ(resp.disposition(), v1::ReportStatusResponse::DISPOSITION_OUT_OF_ORDER);
  EXPECT_EQ(resp.stored_sequence(), 5);

  EXPECT_EQ(QueryValue(db_, "SELECT current_version || ' ' || sequence || ' ' || health FROM agents"),
            "15.1.0 5 1");
  EXPECT_EQ(CountRows("update_events"), 1);
  v1::RolloutStatus st = Status("prod");
  EXPECT_EQ(st.total_agents(), 1);
  EXPECT_EQ(st.succeeded_since_target(), 1);
  EXPECT_EQ(st.failed_since_target(), 0);

  // A newer one applies.
  ASSERT_TRUE(Send(Report("host-a", "prod", "15.1.0", 6, v1::HEALTH_UNHEALTHY), &resp).ok());
  EXPECT_EQ(resp.disposition(), v1::ReportStatusResponse::DISPOSITION_ACCEPTED);
  EXPECT_EQ(Status("prod").on_target(), 1);
  EXPECT_EQ(Status("prod").unhealthy(), 1);

  absl::StatusOr<std::string> body = testing::HttpGet(server_->metrics_address(), "/metrics");
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(MetricValue(*body, "drover_reports_total{result=\"accepted\"}"), 2);
  EXPECT_EQ(MetricValue(*body, "drover_reports_total{result=\"duplicate\"}"), 1);
  EXPECT_EQ(MetricValue(*body, "drover_reports_total{result=\"out_of_order\"}"), 1);
}

TEST_F(ApiTest, ReportForUnknownChannelIsNotFound) {
  grpc::Status s = Send(Report("h1", "ghost", "15.0.0", 1));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "\"ghost\"")) << s.error_message();
  EXPECT_EQ(CountRows("agents"), 0);
}

TEST_F(ApiTest, BadReportsAreRejectedAndWriteNothing) {
  ASSERT_TRUE(CreateChannel("prod", "15.2.0", "15.2.0").ok());
  using Edit = std::function<void(v1::ReportStatusRequest*)>;
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  const std::vector<std::pair<Edit, std::string>> cases = {
      {[](auto* r) { r->set_host_id(""); }, "host_id is required"},
      {[](auto* r) { r->set_host_id(std::string(129, 'h')); }, "host_id"},
      {[](auto* r) { r->set_host_id("bad host"); }, "\"bad host\""},
      {[](auto* r) { r->set_channel("prod"); }, "channels/{channel}"},
      {[](auto* r) { r->set_channel("channels/Prod"); }, "\"Prod\""},
      {[](auto* r) { r->set_group(std::string(65, 'g')); }, "group"},
      {[](auto* r) { r->set_current_version("15.1"); }, "current_version"},
      {[](auto* r) { r->set_current_version(""); }, "current_version is required"},
      {[](auto* r) { r->set_health(v1::HEALTH_UNSPECIFIED); }, "health 0"},
      {[](auto* r) { r->set_health(static_cast<v1::Health>(7)); }, "health 7"},
      {[](auto* r) { r->set_updater_version(std::string(65, 'u')); }, "updater_version"},
      {[](auto* r) { r->set_sequence(0); }, "sequence 0"},
      {[](auto* r) { r->set_sequence(-3); }, "sequence -3"},
      {[](auto* r) { for (int i = 0; i < 33; ++i) AddOutcome(r, "15.0.0", "15.1.0", v1::UPDATE_RESULT_SUCCEEDED); },
       "outcomes holds 33"},
      {[](auto* r) { AddOutcome(r, "15.0.0", "nope", v1::UPDATE_RESULT_SUCCEEDED); }, "outcomes[0].to_version"},
      {[](auto* r) { AddOutcome(r, "15.0.0", "15.1.0", static_cast<v1::UpdateResult>(9)); }, "result 9"},
      {[](auto* r) { AddOutcome(r, "15.0.0", "15.1.0", v1::UPDATE_RESULT_FAILED, std::string(3000, 'e')); },
       "outcomes[0].error"},
      {[now](auto* r) {
         AddOutcome(r, "15.0.0", "15.1.0", v1::UPDATE_RESULT_SUCCEEDED);
         r->mutable_outcomes(0)->mutable_finish_time()->set_seconds(now + 86400);
       },
       "finish_time"},
      {[](auto* r) {
         AddOutcome(r, "15.0.0", "15.1.0", v1::UPDATE_RESULT_SUCCEEDED);
         r->mutable_outcomes(0)->clear_start_time();
       },
       "start_time is required"},
      {[now](auto* r) {
         AddOutcome(r, "15.0.0", "15.1.0", v1::UPDATE_RESULT_SUCCEEDED);
         r->mutable_outcomes(0)->mutable_start_time()->set_seconds(now - 5);
         r->mutable_outcomes(0)->mutable_finish_time()->set_seconds(now - 50);
       },
       "before start_time"},
  };
  for (const auto& [edit, mentions] : cases) {
    v1::ReportStatusRequest r = Report("good-host", "prod", "15.1.0", 1);
    edit(&r);
    grpc::Status s = Send(r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << mentions << ": " << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), mentions)) << s.error_message();
  }
  EXPECT_EQ(CountRows("agents"), 0);
  EXPECT_EQ(CountRows("update_events"), 0);
  absl::StatusOr<std::string> body = testing::HttpGet(server_->metrics_address(), "/metrics");
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(MetricValue(*body, "drover_reports_total{result=\"invalid\"}"), static_cast<double>(cases.size()));
}

TEST_F(ApiTest, OversizedMessageIsResourceExhausted) {
  ASSERT_TRUE(CreateChannel("prod", "15.2.0").ok());
  v1::ReportStatusRequest r = Report("h1", "prod", "15.1.0", 1);
  r.set_updater_version(std::string(100 * 1024, 'x'));
  grpc::Status s = Send(r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "larger than the limit of 65536 bytes (--max_message_bytes)"))
      << s.error_message();
  // Far over the limit gRPC itself refuses it, still RESOURCE_EXHAUSTED.
  r.set_updater_version(std::string(1024 * 1024, 'x'));
  s = Send(r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  // The operator API has the same limit.
  v1::SetCriticalRequest crit;
  crit.set_name("channels/prod");
  crit.set_critical(true);
  crit.set_reason(std::string(100 * 1024, 'r'));
  v1::Channel ch;
  grpc::ClientContext ctx;
  s = ops_->SetCritical(&ctx, crit, &ch);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_EQ(CountRows("agents"), 0);
  absl::StatusOr<std::string> body = testing::HttpGet(server_->metrics_address(), "/metrics");
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(MetricValue(*body, "drover_reports_total{result=\"too_large\"}"), 1);
  EXPECT_EQ(MetricValue(*body, "drover_reports_total{result=\"invalid\"}"), 0);
}

TEST_F(ApiTest, TextThatIsNotUtf8IsInvalidArgumentNamingTheField) {
  ASSERT_TRUE(CreateChannel("prod", "15.2.0", "15.2.0").ok());
  grpc::GenericStub generic(channel_);
  // Sends raw bytes as a request, the way a client in a language that does
  // not check UTF-8 might.
  auto call = [&](const std::string& method, const std::string& bytes) {
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1), response;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    grpc::Status status;
    generic.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
      std::lock_guard<std::mutex> lock(mu);
      status = std::move(s);
      done = true;
      cv.notify_all();
    });
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
    return status;
  };
  v1::ReportStatusRequest bad = Report("h1", "prod", "15.1.0", 1);
  AddOutcome(&bad, "15.1.0", "15.2.0", v1::UPDATE_RESULT_FAILED, "boom \xff\xfe");
  grpc::Status s = call("/drover.v1.UpdaterService/ReportStatus", bad.SerializeAsString());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "outcomes[0].error \"boom \\xff\\xfe\": not valid UTF-8"))
      << s.error_message();

  v1::GetTargetRequest target;
  target.set_channel("channels/prod\xc3");
  s = call("/drover.v1.UpdaterService/GetTarget", target.SerializeAsString());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "channel \"channels/prod\\xc3\"")) << s.error_message();

  // The operator API says the same.
  v1::SetCriticalRequest crit;
  crit.set_name("channels/prod");
  crit.set_critical(true);
  crit.set_reason("CVE\xff");
  s = call("/drover.v1.OperatorService/SetCritical", crit.SerializeAsString());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "reason \"CVE\\xff\": not valid UTF-8")) << s.error_message();
  EXPECT_FALSE(Target("prod").critical());
  v1::GetChannelRequest get;
  get.set_name("channels/prod");
  grpc::Status good = call("/drover.v1.OperatorService/GetChannel", get.SerializeAsString());
  EXPECT_TRUE(good.ok()) << good.error_message();

  // Bytes that are no message at all.
  s = call("/drover.v1.UpdaterService/ReportStatus", std::string("\x0a\x7f", 2));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "not a valid drover.v1.ReportStatusRequest")) << s.error_message();

  EXPECT_EQ(CountRows("agents"), 0);
  EXPECT_EQ(CountRows("update_events"), 0);
  absl::StatusOr<std::string> body = testing::HttpGet(server_->metrics_address(), "/metrics");
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(MetricValue(*body, "drover_reports_total{result=\"invalid\"}"), 2);

  // The same raw path serves good requests.
  s = call("/drover.v1.UpdaterService/ReportStatus", Report("h1", "prod", "15.1.0", 1).SerializeAsString());
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(CountRows("agents"), 1);
}

// --- Rollout status and listing ---------------------------------------------------

TEST_F(ApiTest, AgentsTurnStaleAfterThreePollIntervalsInTenSecondSteps) {
  // Poll interval 60 s: stale after 180 s of silence, counted in 10 s buckets,
  // so at some moment between 180 and 190 s. Silences are forged in the
  // database (as ingest would have stored them) instead of waited for; the
  // margins make a wrong multiplier (2 or 4) fail every time, not by chance.
  ASSERT_TRUE(CreateChannel("prod", "15.2.0", "15.2.0").ok());
  const std::vector<std::pair<std::string, int>> silence_s = {
      {"fresh", 0}, {"almost", 179}, {"stale", 191}, {"gone", 3600}};
  for (const auto& [host, s] : silence_s) ASSERT_TRUE(Send(Report(host, "prod", "15.2.0", 1)).ok());
  QueryValue(db_,
             "WITH f(h, s) AS (VALUES ('almost', 179), ('stale', 191), ('gone', 3600)) "
             // to_timestamp, immutable: Citus refuses a STABLE function of a
             // column in an UPDATE (timestamptz - interval is one).
             "UPDATE agents a SET last_seen = to_timestamp(extract(epoch FROM now()) - f.s) FROM f "
             "WHERE a.host_id = f.h "
             "RETURNING 1");
  // seen_counts as ingest keeps it: agents per 10 s bucket of last_seen.
  // Two statements: in one, the insert still sees the rows the delete
  // removes, and collides whenever ingest wrote to shard 0 (its backend pid
  // divisible by 32).
  QueryValue(db_, "DELETE FROM seen_counts WHERE channel = 'prod' RETURNING 1");
  QueryValue(db_,
             "INSERT INTO seen_counts (channel, bucket, shard, agents) "
             "SELECT channel, date_bin('10 s', last_seen, 'epoch'), 0, count(*) FROM agents "
             "WHERE channel = 'prod' GROUP BY 1, 2 RETURNING 1");
  ASSERT_EQ(testing::FleetCounterMismatches(db_), 0);

  EXPECT_EQ(Status("prod").stale(), 2);
  v1::ListAgentsRequest stale;
  stale.set_channel("channels/prod");
  stale.set_stale_only(true);
  EXPECT_EQ(ListHosts(stale), (std::vector<std::string>{"gone", "stale"}));
  for (const auto& [host, s] : silence_s) {
    v1::GetAgentRequest req;
    req.set_host_id(host);
    v1::Agent agent;
    grpc::ClientContext ctx;
    ASSERT_TRUE(ops_->GetAgent(&ctx, req, &agent).ok());
    EXPECT_EQ(agent.stale(), s > 190) << host << " silent for " << s << " s";
  }
  // Reporting again makes an agent fresh, and the count follows.
  ASSERT_TRUE(Send(Report("stale", "prod", "15.2.0", 2)).ok());
  EXPECT_EQ(Status("prod").stale(), 1);
  EXPECT_EQ(ListHosts(stale), (std::vector<std::string>{"gone"}));
}

TEST_F(ApiTest, RolloutStatusCountsTheFleet) {
  ASSERT_TRUE(CreateChannel("prod", "15.2.0", "15.1.0").ok());
  int64_t seq = 1;
  ASSERT_TRUE(Send(Report("a1", "prod", "15.1.0", seq)).ok());
  ASSERT_TRUE(Send(Report("a2", "prod", "15.1.0", seq, v1::HEALTH_UNHEALTHY)).ok());
  ASSERT_TRUE(Send(Report("a3", "prod", "15.0.0", seq)).ok());
  ASSERT_TRUE(Send(Report("a4", "prod", "13.0.0", seq)).ok());        // two majors behind
  ASSERT_TRUE(Send(Report("a5", "prod", "15.3.0", seq)).ok());        // above control plane
  v1::ReportStatusRequest failed = Report("a6", "prod", "15.0.0", seq);
  AddOutcome(&failed, "15.0.0", "15.1.0", v1::UPDATE_RESULT_ROLLED_BACK, "health check failed");
  AddOutcome(&failed, "15.0.0", "15.1.0", v1::UPDATE_RESULT_FAILED, "download failed");
  ASSERT_TRUE(Send(failed).ok());

  v1::RolloutStatus st = Status("prod");
  EXPECT_EQ(st.total_agents(), 6);
  EXPECT_EQ(st.on_target(), 2);
  EXPECT_EQ(st.healthy(), 5);
  EXPECT_EQ(st.unhealthy(), 1);
  EXPECT_EQ(st.out_of_policy(), 2);
  EXPECT_EQ(st.stale(), 0);
  EXPECT_EQ(st.failed_since_target(), 1);
  EXPECT_EQ(st.rolled_back_since_target(), 1);
  EXPECT_NEAR(st.percent_on_target(), 100.0 * 2 / 6, 1e-9);
  ASSERT_EQ(st.versions_size(), 4);
  EXPECT_EQ(st.versions(0).version(), "15.3.0");
  EXPECT_TRUE(st.versions(0).out_of_policy());
  EXPECT_EQ(st.versions(1).version(), "15.1.0");
  EXPECT_EQ(st.versions(1).unhealthy(), 1);
  EXPECT_TRUE(st.versions(1).on_target());

  // A new target starts counting outcomes afresh.
  ASSERT_TRUE(SetTarget("prod", "15.2.0").ok());
  st = Status("prod");
  EXPECT_EQ(st.failed_since_target(), 0);
  EXPECT_EQ(st.rolled_back_since_target(), 0);
  EXPECT_EQ(st.on_target(), 0);

  // An agent moving channel moves its count.
  ASSERT_TRUE(CreateChannel("canary", "15.2.0", "15.2.0").ok());
  ASSERT_TRUE(Send(Report("a1", "canary", "15.2.0", 2)).ok());
  EXPECT_EQ(Status("prod").total_agents(), 5);
  EXPECT_EQ(Status("canary").total_agents(), 1);
  EXPECT_EQ(Status("canary").on_target(), 1);

  // Metrics show the same numbers once refreshed.
  EXPECT_TRUE(PollUntil(absl::Seconds(10), [&] {
    absl::StatusOr<std::string> body = testing::HttpGet(server_->metrics_address(), "/metrics");
    return body.ok() && MetricValue(*body, "drover_channel_agents{channel=\"prod\"}") == 5 &&
           MetricValue(*body, "drover_agents_out_of_policy{channel=\"prod\"}") == 2 &&
           MetricValue(*body, "drover_agents{channel=\"canary\",health=\"healthy\",version=\"15.2.0\"}") == 1 &&
           !absl::StrContains(*body, "a1\"");
  }));
}

TEST_F(ApiTest, ListAgentsFiltersAndPages) {
  ASSERT_TRUE(CreateChannel("prod", "15.2.0", "15.2.0").ok());
  ASSERT_TRUE(CreateChannel("quick", "15.2.0", "15.2.0", nullptr, absl::Seconds(1)).ok());
  std::set<std::string> all;
  for (int i = 0; i < 7; ++i) {
    std::string host = absl::StrCat("p", i);
    all.insert(host);
    ASSERT_TRUE(Send(Report(host, "prod", i < 3 ? "15.2.0" : "15.1.0", 1,
                            i == 6 ? v1::HEALTH_UNHEALTHY : v1::HEALTH_HEALTHY))
                    .ok());
  }
  ASSERT_TRUE(Send(Report("q0", "quick", "13.0.0", 1)).ok());

  v1::ListAgentsRequest req;
  req.set_page_size(2);
  std::vector<std::string> paged = ListHosts(req);
  EXPECT_EQ(paged.size(), 8u);
  EXPECT_EQ(std::set<std::string>(paged.begin(), paged.end()).size(), 8u);  // each exactly once

  req.set_channel("channels/prod");
  EXPECT_EQ(ListHosts(req).size(), 7u);
  req.set_version("v15.2.0");
  EXPECT_EQ(ListHosts(req), (std::vector<std::string>{"p0", "p1", "p2"}));
  req.clear_version();
  req.set_health(v1::HEALTH_UNHEALTHY);
  EXPECT_EQ(ListHosts(req), (std::vector<std::string>{"p6"}));

  v1::ListAgentsRequest oop;
  oop.set_out_of_policy_only(true);
  EXPECT_EQ(ListHosts(oop), (std::vector<std::string>{"q0"}));

  // The quick channel's agent goes stale after 3 s of silence.
  v1::ListAgentsRequest stale;
  stale.set_stale_only(true);
  EXPECT_TRUE(ListHosts(stale).empty());
  // 3 s of silence, counted in 10 s buckets: stale within 13 s.
  EXPECT_TRUE(PollUntil(absl::Seconds(30), [&] { return ListHosts(stale) == std::vector<std::string>{"q0"}; }));
  EXPECT_EQ(Status("quick").stale(), 1);
  EXPECT_EQ(Status("prod").stale(), 0);

  v1::ListAgentsRequest bad;
  bad.set_page_token("garbage!");
  v1::ListAgentsResponse resp;
  {
    grpc::ClientContext ctx;
    grpc::Status s = ops_->ListAgents(&ctx, bad, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StrContains(s.error_message(), "page_token")) << s.error_message();
  }
  bad.clear_page_token();
  bad.set_page_size(5000);
  grpc::ClientContext ctx;
  EXPECT_EQ(ops_->ListAgents(&ctx, bad, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ApiTest, PageTokensAreBoundToTheirListAndFiltersAndNeverReachTheDatabaseRaw) {
  ASSERT_TRUE(CreateChannel("prod", "15.2.0", "15.2.0").ok());
  ASSERT_TRUE(CreateChannel("edge", "15.2.0", "15.2.0").ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Send(Report(absl::StrCat("p", i), "prod", "15.2.0", 1)).ok());
    ASSERT_TRUE(Send(Report(absl::StrCat("e", i), "edge", "15.2.0", 1)).ok());
  }
  v1::ListAgentsRequest prod;
  prod.set_channel("channels/prod");
  prod.set_page_size(1);
  v1::ListAgentsResponse first;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(ops_->ListAgents(&ctx, prod, &first).ok());
  }
  ASSERT_FALSE(first.next_page_token().empty());
  auto list = [&](v1::ListAgentsRequest req) {
    v1::ListAgentsResponse out;
    grpc::ClientContext ctx;
    return ops_->ListAgents(&ctx, req, &out);
  };
  // The same token with other filters: refused, not applied to another list.
  v1::ListAgentsRequest edge = prod;
  edge.set_channel("channels/edge");
  edge.set_page_token(first.next_page_token());
  grpc::Status s = list(edge);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "other filters")) << s.error_message();
  prod.set_page_token(first.next_page_token());
  EXPECT_TRUE(list(prod).ok());

  // Issue 12: a well-formed token holding byte 0xff gave INTERNAL with
  // PostgreSQL's "invalid byte sequence for encoding UTF8: 0xff".
  v1::ListAgentsRequest hostile;
  hostile.set_page_token(absl::WebSafeBase64Escape(std::string("agents:\xff", 8)));
  s = list(hostile);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "page_token")) << s.error_message();
  for (const char* leaked : {"invalid byte sequence", "UTF8", "encoding"}) {
    EXPECT_FALSE(absl::StrContains(s.error_message(), leaked)) << s.error_message();
  }
  // A token of another list.
  hostile.set_page_token(api::EncodePageToken("events", "p0", "5"));
  s = list(hostile);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "another list")) << s.error_message();
}

TEST_F(ApiTest, ClonedHostIdsAreFlaggedListedAndCounted) {
  ASSERT_TRUE(CreateChannel("prod", "15.2.0", "15.2.0").ok());
  auto from = [&](const std::string& host, const std::string& instance, int64_t seq, v1::Health health) {
    v1::ReportStatusRequest r = Report(host, "prod", "15.2.0", seq, health);
    r.set_instance_id(instance);
    r.set_schedule_state(v1::SCHEDULE_STATE_MISSING);
    return r;
  };
  // Two updaters with one host id, reporting in turn (A, B, A).
  ASSERT_TRUE(Send(from("golden", "instance-a", 1, v1::HEALTH_HEALTHY)).ok());
  ASSERT_TRUE(Send(from("golden", "instance-b", 2, v1::HEALTH_UNHEALTHY)).ok());
  ASSERT_TRUE(Send(from("golden", "instance-a", 3, v1::HEALTH_HEALTHY)).ok());
  ASSERT_TRUE(Send(from("single", "instance-c", 1, v1::HEALTH_HEALTHY)).ok());

  v1::GetAgentRequest get;
  get.set_host_id("golden");
  v1::Agent agent;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(ops_->GetAgent(&ctx, get, &agent).ok());
  }
  EXPECT_TRUE(agent.instance_conflict());
  EXPECT_EQ(agent.instance_id(), "instance-a");
  EXPECT_EQ(agent.schedule_state(), v1::SCHEDULE_STATE_MISSING);
  v1::ListAgentsRequest conflicts;
  conflicts.set_instance_conflict_only(true);
  EXPECT_EQ(ListHosts(conflicts), (std::vector<std::string>{"golden"}));
  v1::RolloutStatus st = Status("prod");
  EXPECT_EQ(st.instance_conflicts(), 1);
  ASSERT_EQ(st.schedule_states_size(), 1);
  EXPECT_EQ(st.schedule_states(0).state(), v1::SCHEDULE_STATE_MISSING);
  EXPECT_EQ(st.schedule_states(0).agents(), 2);
  EXPECT_TRUE(PollUntil(absl::Seconds(10), [&] {
    absl::StatusOr<std::string> body = testing::HttpGet(server_->metrics_address(), "/metrics");
    return body.ok() && MetricValue(*body, "drover_agents_instance_conflict{channel=\"prod\"}") == 1 &&
           MetricValue(*body, "drover_agents_schedule_state{channel=\"prod\",state=\"missing\"}") == 2;
  }));

  // Bad values are refused naming the field.
  v1::ReportStatusRequest bad = from("x", "has space", 1, v1::HEALTH_HEALTHY);
  grpc::Status s = Send(bad);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "instance_id \"has space\"")) << s.error_message();
  // A state from a newer updater is taken as unspecified, not refused.
  v1::ReportStatusRequest newer = from("x", "ok", 1, v1::HEALTH_HEALTHY);
  newer.set_schedule_state(static_cast<v1::ScheduleState>(99));
  s = Send(newer);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(ApiTest, HostsOfADeletedChannelAreListedAsOrphansAndCounted) {
  ASSERT_TRUE(CreateChannel("prod", "15.2.0", "15.2.0").ok());
  ASSERT_TRUE(Send(Report("h1", "prod", "15.2.0", 1)).ok());
  ASSERT_TRUE(DeleteChannel("prod", true).ok());
  // Issue 12: from here on its hosts were only counted as unknown_channel.
  EXPECT_EQ(Send(Report("h1", "prod", "15.2.0", 2)).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Send(Report("h2", "prdo", "15.2.0", 1)).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::ListAgentsRequest orphans;
  orphans.set_orphaned_only(true);
  orphans.set_page_size(1);
  EXPECT_EQ(ListHosts(orphans), (std::vector<std::string>{"h1", "h2"}));
  v1::ListAgentsResponse resp;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(ops_->ListAgents(&ctx, orphans, &resp).ok());
  }
  ASSERT_EQ(resp.agents_size(), 1);
  EXPECT_TRUE(resp.agents(0).orphaned());
  EXPECT_EQ(resp.agents(0).channel(), "channels/prod");
  // A page token of the orphan list is not one of the agent list.
  v1::ListAgentsRequest agents;
  agents.set_page_token(resp.next_page_token());
  {
    grpc::ClientContext ctx;
    EXPECT_EQ(ops_->ListAgents(&ctx, agents, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  orphans.set_channel("channels/prdo");
  EXPECT_EQ(ListHosts(orphans), (std::vector<std::string>{"h2"}));
  orphans.set_health(v1::HEALTH_HEALTHY);
  {
    grpc::ClientContext ctx;
    grpc::Status s = ops_->ListAgents(&ctx, orphans, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StrContains(s.error_message(), "health")) << s.error_message();
  }
  EXPECT_TRUE(PollUntil(absl::Seconds(10), [&] {
    absl::StatusOr<std::string> body = testing::HttpGet(server_->metrics_address(), "/metrics");
    return body.ok() && MetricValue(*body, "drover_orphaned_hosts") == 2;
  }));
}

TEST_F(ApiTest, AgentsAreListedByGroupAndLastResult) {
  ASSERT_TRUE(CreateChannel("prod", "15.2.0", "15.2.0").ok());
  v1::ReportStatusRequest rolled = Report("rolled", "prod", "15.1.0", 1);
  AddOutcome(&rolled, "15.1.0", "15.2.0", v1::UPDATE_RESULT_ROLLED_BACK, "health check failed");
  rolled.set_group("canary");
  ASSERT_TRUE(Send(rolled).ok());
  v1::ReportStatusRequest failed = Report("failed", "prod", "15.1.0", 1);
  AddOutcome(&failed, "15.1.0", "15.2.0", v1::UPDATE_RESULT_FAILED, "bad signature");
  ASSERT_TRUE(Send(failed).ok());
  ASSERT_TRUE(Send(Report("fine", "prod", "15.2.0", 1)).ok());
  v1::ListAgentsRequest req;
  req.set_last_result(v1::UPDATE_RESULT_ROLLED_BACK);
  EXPECT_EQ(ListHosts(req), (std::vector<std::string>{"rolled"}));
  req.set_last_result(v1::UPDATE_RESULT_FAILED);
  EXPECT_EQ(ListHosts(req), (std::vector<std::string>{"failed"}));
  req.clear_last_result();
  req.set_group("canary");
  EXPECT_EQ(ListHosts(req), (std::vector<std::string>{"rolled"}));
  req.set_group("not a group!");
  v1::ListAgentsResponse resp;
  grpc::ClientContext ctx;
  EXPECT_EQ(ops_->ListAgents(&ctx, req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ApiTest, AgentAndItsHistory) {
  ASSERT_TRUE(CreateChannel("prod", "15.2.0", "15.2.0").ok());
  for (int i = 1; i <= 5; ++i) {
    v1::ReportStatusRequest r = Report("h1", "prod", absl::StrCat("15.0.", i), i);
    AddOutcome(&r, absl::StrCat("15.0.", i - 1), absl::StrCat("15.0.", i), v1::UPDATE_RESULT_SUCCEEDED);
    ASSERT_TRUE(Send(r).ok());
  }
  v1::GetAgentRequest get;
  get.set_host_id("h1");
  v1::Agent agent;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(ops_->GetAgent(&ctx, get, &agent).ok());
  }
  EXPECT_EQ(agent.current_version(), "15.0.5");
  EXPECT_EQ(agent.sequence(), 5);
  EXPECT_EQ(agent.channel(), "channels/prod");
  EXPECT_FALSE(agent.stale());

  v1::ListUpdateEventsRequest req;
  req.set_host_id("h1");
  req.set_page_size(2);
  std::vector<std::string> to_versions;
  for (;;) {
    v1::ListUpdateEventsResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(ops_->ListUpdateEvents(&ctx, req, &resp).ok());
    for (const v1::UpdateEvent& e : resp.events()) to_versions.push_back(e.outcome().to_version());
    if (resp.next_page_token().empty()) break;
    req.set_page_token(resp.next_page_token());
  }
  EXPECT_EQ(to_versions, (std::vector<std::string>{"15.0.5", "15.0.4", "15.0.3", "15.0.2", "15.0.1"}));

  get.set_host_id("nobody");
  grpc::ClientContext ctx;
  grpc::Status s = ops_->GetAgent(&ctx, get, &agent);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "\"nobody\""));
}

// --- Standard services ---------------------------------------------------------

// Issue 12 item 16: --help printed "No flags matched" and exited 1.
TEST(CoordinatorBinaryTest, HelpListsTheFlagsAndExitsZero) {
  for (const char* help : {"--help", "-h", "help"}) {
    testing::CommandResult r = testing::RunCommand({testing::BinaryPath("drover-coordinator"), help});
    EXPECT_EQ(r.exit_code, 0) << help << "\n" << r.output;
    for (const char* flag : {"--database", "--grpc_listen", "--metrics_listen", "--ready_file", "--db_pool_size",
                             "--ingest_writers", "--max_batch", "--max_queue", "--max_message_bytes",
                             "--fleet_refresh", "--shutdown_grace", "--startup_timeout", "--db_statement_timeout",
                             "(default: 127.0.0.1:7600)", "DROVER_DATABASE_URL", "migrate"}) {
      EXPECT_TRUE(absl::StrContains(r.output, flag)) << help << " lacks " << flag << "\n" << r.output;
    }
    EXPECT_FALSE(absl::StrContains(r.output, "No flags matched")) << r.output;
  }
  testing::CommandResult version = testing::RunCommand({testing::BinaryPath("drover-coordinator"), "--version"});
  EXPECT_EQ(version.exit_code, 0) << version.output;
  EXPECT_TRUE(absl::StrContains(version.output, "drover-coordinator ")) << version.output;
}

TEST_F(ApiTest, HealthAndReflectionAreServed) {
  grpc::GenericStub generic(channel_);
  {
    // grpc.health.v1: status = SERVING (field 1, value 1): bytes 08 01.
    auto [status, serving] = testing::HealthCheck(channel_);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(serving, 1);
  }
  // Reflection: ServerReflectionRequest{list_services: ""} is field 7 (0x3a), empty.
  grpc::ClientContext ctx;
  grpc::CompletionQueue cq;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> stream = generic.PrepareCall(
      &ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag;
  bool ok;
  stream->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  grpc::Slice req_slice(std::string("\x3a\x00", 2));
  grpc::ByteBuffer req_buf(&req_slice, 1);
  stream->Write(req_buf, reinterpret_cast<void*>(2));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  grpc::ByteBuffer reply;
  stream->Read(&reply, reinterpret_cast<void*>(3));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(reply.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_TRUE(absl::StrContains(bytes, "drover.v1.OperatorService"));
  EXPECT_TRUE(absl::StrContains(bytes, "drover.v1.UpdaterService"));
  ctx.TryCancel();
  grpc::Status finish_status;
  stream->Finish(&finish_status, reinterpret_cast<void*>(4));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

TEST_F(ApiTest, MetricsCarryBuildInfoAndNoHostIds) {
  ASSERT_TRUE(CreateChannel("prod", "15.2.0", "15.2.0").ok());
  ASSERT_TRUE(Send(Report("secret-host-1234", "prod", "15.2.0", 1)).ok());
  EXPECT_TRUE(PollUntil(absl::Seconds(10), [&] {
    absl::StatusOr<std::string> body = testing::HttpGet(server_->metrics_address(), "/metrics");
    return body.ok() && MetricValue(*body, "drover_agents_on_target{channel=\"prod\"}") == 1;
  }));
  absl::StatusOr<std::string> body = testing::HttpGet(server_->metrics_address(), "/metrics");
  ASSERT_TRUE(body.ok());
  EXPECT_TRUE(absl::StrContains(*body, "drover_build_info{"));
  EXPECT_TRUE(absl::StrContains(*body, "drover_report_batch_size_bucket"));
  EXPECT_TRUE(absl::StrContains(*body, "drover_report_batch_commit_duration_seconds_bucket"));
  EXPECT_EQ(MetricValue(*body, "drover_channel_critical{channel=\"prod\"}"), 0);
  EXPECT_EQ(MetricValue(*body,
                        "drover_channel_target_info{channel=\"prod\",control_plane_version=\"15.2.0\","
                        "target_version=\"15.2.0\"}"),
            1);
  EXPECT_FALSE(absl::StrContains(*body, "secret-host-1234"));

  // Values, not only names: outcomes by result, the critical toggle, outcomes
  // since the target, and the unhealthy count follow what happened.
  v1::ReportStatusRequest r = Report("secret-host-1234", "prod", "15.2.0", 2, v1::HEALTH_UNHEALTHY);
  AddOutcome(&r, "15.1.0", "15.2.0", v1::UPDATE_RESULT_FAILED, "boom");
  AddOutcome(&r, "15.1.0", "15.2.0", v1::UPDATE_RESULT_ROLLED_BACK, "unhealthy");
  AddOutcome(&r, "15.1.0", "15.2.0", v1::UPDATE_RESULT_ROLLED_BACK, "unhealthy");
  ASSERT_TRUE(Send(r).ok());
  v1::SetCriticalRequest crit;
  crit.set_name("channels/prod");
  crit.set_critical(true);
  crit.set_reason("CVE-2026-1234");
  v1::Channel ch;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(ops_->SetCritical(&ctx, crit, &ch).ok());
  }
  std::string last;
  EXPECT_TRUE(PollUntil(absl::Seconds(10), [&] {
    absl::StatusOr<std::string> b = testing::HttpGet(server_->metrics_address(), "/metrics");
    if (!b.ok()) return false;
    last = *b;
    return MetricValue(*b, "drover_channel_critical{channel=\"prod\"}") == 1 &&
           MetricValue(*b, "drover_agents_unhealthy{channel=\"prod\"}") == 1;
  })) << last;
  EXPECT_EQ(MetricValue(last, "drover_update_outcomes_total{channel=\"prod\",result=\"failed\"}"), 1) << last;
  EXPECT_EQ(MetricValue(last, "drover_update_outcomes_total{channel=\"prod\",result=\"rolled_back\"}"), 2) << last;
  EXPECT_EQ(MetricValue(last, "drover_channel_outcomes_since_target{channel=\"prod\",result=\"rolled_back\"}"), 2)
      << last;
  EXPECT_EQ(MetricValue(last, "drover_reports_total{result=\"accepted\"}"), 2) << last;
}

// --- Several replicas on one database -------------------------------------------

TEST_F(ApiTest, ReplicasShareOneDatabaseConsistently) {
  std::unique_ptr<CoordinatorServer> second = StartServer();
  ASSERT_NE(second, nullptr);
  auto channel2 = grpc::CreateChannel(second->grpc_address(), grpc::InsecureChannelCredentials());
  auto updater2 = v1::UpdaterService::NewStub(channel2);

  ASSERT_TRUE(CreateChannel("prod", "15.2.0", "15.1.0").ok());
  // The other replica sees the change within its cache age.
  v1::GetTargetRequest treq;
  treq.set_channel("channels/prod");
  EXPECT_TRUE(PollUntil(absl::Seconds(5), [&] {
    v1::GetTargetResponse t;
    grpc::ClientContext ctx;
    return updater2->GetTarget(&ctx, treq, &t).ok() && t.target_version() == "15.1.0";
  }));

  // Both replicas ingest reports for the same hosts at once, new hosts included.
  constexpr int kHosts = 200, kRounds = 5;
  std::atomic<int> failures{0};
  auto drive = [&](v1::UpdaterService::Stub* stub, int parity) {
    for (int round = 1; round <= kRounds; ++round) {
      for (int h = 0; h < kHosts; ++h) {
        v1::ReportStatusRequest r = Report(absl::StrCat("h", h), "prod", (round + h + parity) % 2 ? "15.1.0" : "15.0.0",
                                           round * 2 + parity,
                                           (h + round) % 3 == 0 ? v1::HEALTH_UNHEALTHY : v1::HEALTH_HEALTHY);
        v1::ReportStatusResponse resp;
        grpc::ClientContext ctx;
        if (!stub->ReportStatus(&ctx, r, &resp).ok()) ++failures;
      }
    }
  };
  std::vector<std::thread> threads;
  threads.emplace_back(drive, updater_.get(), 0);
  threads.emplace_back(drive, updater2.get(), 1);
  threads.emplace_back(drive, updater_.get(), 1);
  threads.emplace_back(drive, updater2.get(), 0);
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);

  // The counters agree exactly with the agents they summarise.
  EXPECT_EQ(testing::FleetCounterMismatches(db_), 0);
  EXPECT_EQ(Status("prod").total_agents(), kHosts);
  EXPECT_EQ(QueryValue(db_, "SELECT min(sequence) FROM agents"), absl::StrCat(kRounds * 2 + 1));
}

}  // namespace
}  // namespace drover
