// Signed target metadata end to end: keys made with droverctl, a real
// coordinator signing with them, real updater passes installing signed
// demo-agent tarballs. A tampered answer (a proxy), a replayed older one, and
// a coordinator started with another key are refused and nothing installs.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "drover/v1/operator_service.grpc.pb.h"
#include "drover/v1/updater_service.grpc.pb.h"
#include "tests/support/test_env.h"

namespace drover {
namespace {

using ::drover::testing::BinaryPath;
using ::drover::testing::CommandResult;
using ::drover::testing::CoordinatorProcess;
using ::drover::testing::HttpGet;
using ::drover::testing::RunCommand;

std::string Tmp(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "XXXXXX";
  return mkdtemp(tmpl.data());
}

// Answers GetTarget with whatever the test stored (a proxy or mirror under an
// attacker's control); accepts every report.
class FakeUpdaterService final : public v1::UpdaterService::Service {
 public:
  grpc::Status GetTarget(grpc::ServerContext*, const v1::GetTargetRequest*, v1::GetTargetResponse* out) override {
    std::lock_guard<std::mutex> lock(mu);
    *out = answer;
    return grpc::Status::OK;
  }
  grpc::Status ReportStatus(grpc::ServerContext*, const v1::ReportStatusRequest* req,
                            v1::ReportStatusResponse* out) override {
    out->set_disposition(v1::ReportStatusResponse::DISPOSITION_ACCEPTED);
    out->set_stored_sequence(req->sequence());
    return grpc::Status::OK;
  }
  std::mutex mu;
  v1::GetTargetResponse answer;
};

struct Keys {
  std::string dir;
  std::string root_pub() const { return dir + "/root/root.pub"; }
  std::vector<std::string> CoordinatorFlags() const {
    return {"--targets_key_file=" + dir + "/targets/targets.key", "--root_public_key_file=" + root_pub(),
            "--delegation_file=" + dir + "/targets/delegation.pb"};
  }
};

class SignedMetadataE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tarballs_ = new std::string(Tmp("drover-tarballs-"));
    CommandResult r = RunCommand({std::string(DROVER_SOURCE_DIR) + "/tests/fixtures/make_tarballs.sh", *tarballs_,
                                  DROVER_BIN_DIR},
                                 absl::Seconds(120));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static void TearDownTestSuite() {
    RunCommand({"rm", "-rf", *tarballs_});
    delete tarballs_;
  }

  void SetUp() override { dir_ = Tmp("drover-signed-"); }
  void TearDown() override {
    KillAgent();
    RunCommand({"rm", "-rf", dir_});
  }

  // Keys as an operator makes them, with droverctl.
  Keys MakeKeys(const std::string& name) {
    Keys k{absl::StrCat(dir_, "/", name)};
    RunCommand({"mkdir", "-p", k.dir + "/root", k.dir + "/targets"});
    CommandResult r = RunCommand({BinaryPath("droverctl"), "keys", "create-root", "--out-dir=" + k.dir + "/root"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(absl::StrContains(r.output, "keep it OFFLINE")) << r.output;
    r = RunCommand({BinaryPath("droverctl"), "keys", "create-targets", "--root-key=" + k.dir + "/root/root.key",
                    "--out-dir=" + k.dir + "/targets"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return k;
  }

  std::unique_ptr<CoordinatorProcess> StartCoordinator(const std::string& db, const Keys& keys) {
    absl::StatusOr<std::unique_ptr<CoordinatorProcess>> c = CoordinatorProcess::Start(db, keys.CoordinatorFlags());
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

  static void CreateChannel(const std::string& address, const std::string& target, bool critical) {
    auto ops = v1::OperatorService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    v1::CreateChannelRequest req;
    req.set_channel_id("demo");
    req.set_control_plane_version("1.3.0");
    req.set_target_version(target);
    v1::Channel out;
    grpc::ClientContext ctx;
    ASSERT_TRUE(ops->CreateChannel(&ctx, req, &out).ok());
    if (critical) {
      v1::SetCriticalRequest c;
      c.set_name("channels/demo");
      c.set_critical(true);
      c.set_reason("test");
      grpc::ClientContext ctx2;
      ASSERT_TRUE(ops->SetCritical(&ctx2, c, &out).ok());
    }
  }

  static void SetTarget(const std::string& address, const std::string& version) {
    auto ops = v1::OperatorService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    v1::SetTargetVersionRequest req;
    req.set_name("channels/demo");
    req.set_version(version);
    v1::Channel out;
    grpc::ClientContext ctx;
    ASSERT_TRUE(ops->SetTargetVersion(&ctx, req, &out).ok());
    // A new target starts a staged rollout: the host is told it once the
    // coordinator's engine lets it in (its canary, here), within a tick.
    auto updater = v1::UpdaterService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    ASSERT_TRUE(testing::PollUntil(absl::Seconds(30), [&] {
      v1::GetTargetRequest t;
      t.set_channel("channels/demo");
      t.set_host_id("signed-host");
      v1::GetTargetResponse answer;
      grpc::ClientContext c;
      return updater->GetTarget(&c, t, &answer).ok() && answer.target_version() == version;
    })) << "signed-host was not let in to " << version;
  }

  static v1::GetTargetResponse GetTarget(const std::string& address) {
    auto stub = v1::UpdaterService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    v1::GetTargetRequest req;
    req.set_channel("channels/demo");
    v1::GetTargetResponse out;
    grpc::ClientContext ctx;
    EXPECT_TRUE(stub->GetTarget(&ctx, req, &out).ok());
    return out;
  }

  void WriteConfig(const std::string& coordinator, const std::string& root_pub, const std::string& group = "") {
    if (port_ == 0) port_ = testing::FreePort();
    std::ofstream(dir_ + "/updater.conf", std::ios::trunc) << absl::StrCat(
        group.empty() ? "" : absl::StrCat("group: \"", group, "\"\n"),
        "coordinator: \"", coordinator, "\"\nchannel: \"demo\"\nhost_id: \"signed-host\"\nstate_dir: \"", dir_,
        "/state\"\nrpc_timeout { seconds: 3 }\nroot_public_key_file: \"", root_pub, "\"\n",
        "agent {\n  name: \"demo-agent\"\n  tarball { base: \"", *tarballs_, "\" public_key_file: \"", *tarballs_,
        "/tarball-key.pub.pem\" install_dir: \"", dir_, "/agent\" }\n  restart_command: [\"", DROVER_SOURCE_DIR,
        "/tests/fixtures/demo-agent/restart.sh\", \"", dir_, "/agent\", \"", port_, "\", \"", dir_,
        "/agent.pid\"]\n  health_check { http { url: \"http://127.0.0.1:", port_,
        "/readyz\" } timeout { seconds: 2 } }\n  health_grace { seconds: 5 }\n  health_watch { seconds: 1 }\n}\n");
  }

  CommandResult Pass(const std::string& coordinator = "") {
    std::vector<std::string> argv = {BinaryPath("drover-updater"), "once", "--config=" + dir_ + "/updater.conf"};
    if (!coordinator.empty()) argv.push_back("--coordinator=" + coordinator);
    return RunCommand(argv, absl::Seconds(60));
  }

  std::string Version() const {
    absl::StatusOr<std::string> v = HttpGet(absl::StrCat("127.0.0.1:", port_), "/version");
    return v.ok() ? std::string(absl::StripAsciiWhitespace(*v)) : "down";
  }
  void KillAgent() const {
    std::ifstream in(dir_ + "/agent.pid");
    pid_t pid = 0;
    if (in >> pid && pid > 0) kill(pid, SIGKILL);
  }

  static std::string* tarballs_;
  std::string dir_;
  int port_ = 0;
};
std::string* SignedMetadataE2eTest::tarballs_ = nullptr;

TEST_F(SignedMetadataE2eTest, OnlyAnswersSignedUnderThePinnedRootAreActedOn) {
  const Keys keys = MakeKeys("real");
  const std::string db = testing::NewTestDatabase();
  std::unique_ptr<CoordinatorProcess> coordinator = StartCoordinator(db, keys);
  ASSERT_NE(coordinator, nullptr);
  CreateChannel(coordinator->grpc_address(), "1.0.0", /*critical=*/true);
  WriteConfig(coordinator->grpc_address(), keys.root_pub());

  // Signed by the real coordinator: installed.
  CommandResult r = Pass();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Version(), "1.0.0");
  const v1::GetTargetResponse first = GetTarget(coordinator->grpc_address());
  ASSERT_TRUE(first.has_signed_metadata());
  SetTarget(coordinator->grpc_address(), "1.1.0");
  r = Pass();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Version(), "1.1.0");
  CommandResult status = RunCommand({BinaryPath("drover-updater"), "status", "--config=" + dir_ + "/updater.conf"});
  EXPECT_TRUE(absl::StrContains(status.output, "metadata:         version 2")) << status.output;

  // droverctl keys show names the keys the coordinator uses.
  CommandResult show =
      RunCommand({BinaryPath("droverctl"), "--coordinator=" + coordinator->grpc_address(), "--insecure", "keys", "show"});
  EXPECT_EQ(show.exit_code, 0) << show.output;
  EXPECT_TRUE(absl::StrContains(show.output, "signing with:    targets key")) << show.output;

  // A proxy between updater and coordinator.
  FakeUpdaterService proxy;
  grpc::ServerBuilder builder;
  int proxy_port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &proxy_port);
  builder.RegisterService(&proxy);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  const std::string proxy_address = absl::StrCat("127.0.0.1:", proxy_port);

  // 1. It replays the first, validly signed answer (target 1.0.0, version 1).
  {
    std::lock_guard<std::mutex> lock(proxy.mu);
    proxy.answer = first;
    proxy.answer.set_downgrade_allowed(true);  // unsigned: must not matter
  }
  r = Pass(proxy_address);
  EXPECT_TRUE(absl::StrContains(r.output, "metadata version 1 is below the highest seen")) << r.output;
  EXPECT_EQ(Version(), "1.1.0");

  // 2. It rewrites the current answer's signed target to 1.2.0.
  v1::GetTargetResponse tampered = GetTarget(coordinator->grpc_address());
  {
    std::string payload = tampered.signed_metadata().target().payload();
    const size_t at = payload.find("1.1.0");
    ASSERT_NE(at, std::string::npos);
    payload.replace(at, 5, "1.2.0");
    tampered.mutable_signed_metadata()->mutable_target()->set_payload(payload);
    tampered.set_target_version("1.2.0");
    std::lock_guard<std::mutex> lock(proxy.mu);
    proxy.answer = tampered;
  }
  r = Pass(proxy_address);
  EXPECT_TRUE(absl::StrContains(r.output, "bad signature")) << r.output;
  EXPECT_EQ(Version(), "1.1.0");

  // 3. It keeps the signed answer but tells this host another version (as
  // if a staged rollout held it on one): the signed answer names no rollout.
  {
    v1::GetTargetResponse steered = GetTarget(coordinator->grpc_address());
    steered.set_target_version("1.2.0");
    std::lock_guard<std::mutex> lock(proxy.mu);
    proxy.answer = steered;
  }
  r = Pass(proxy_address);
  EXPECT_TRUE(absl::StrContains(r.output, "coordinator told this host to run 1.2.0, which its signed metadata for "
                                          "channel \"demo\""))
      << r.output;
  EXPECT_EQ(Version(), "1.1.0");

  // 4. It strips the signatures and sends a plain critical answer.
  {
    std::lock_guard<std::mutex> lock(proxy.mu);
    proxy.answer.clear_signed_metadata();
  }
  r = Pass(proxy_address);
  EXPECT_TRUE(absl::StrContains(r.output, "the answer is not signed")) << r.output;
  EXPECT_EQ(Version(), "1.1.0");
  server->Shutdown();

  // 5. A coordinator started with other keys (its own root and targets key).
  const Keys attacker = MakeKeys("attacker");
  const std::string other_db = testing::NewTestDatabase();
  std::unique_ptr<CoordinatorProcess> rogue = StartCoordinator(other_db, attacker);
  ASSERT_NE(rogue, nullptr);
  CreateChannel(rogue->grpc_address(), "1.2.0", /*critical=*/true);
  r = Pass(rogue->grpc_address());
  EXPECT_TRUE(absl::StrContains(r.output, "refused the coordinator's answer")) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "not signed by key")) << r.output;
  EXPECT_EQ(Version(), "1.1.0");

  // The real coordinator still works.
  r = Pass();
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(absl::StrContains(r.output, "refused the coordinator's answer")) << r.output;
}

// The catch-all turned off, signed: a host in no listed group is told
// nothing to install and accepts it (no refusal), keeping what it runs;
// once it reports a listed group it gets the target. Real processes.
TEST_F(SignedMetadataE2eTest, AHostInNoListedGroupHasItsUpdatesOff) {
  const Keys keys = MakeKeys("real");
  const std::string db = testing::NewTestDatabase();
  std::unique_ptr<CoordinatorProcess> coordinator = StartCoordinator(db, keys);
  ASSERT_NE(coordinator, nullptr);
  const std::string address = coordinator->grpc_address();
  CreateChannel(address, "1.0.0", /*critical=*/true);
  WriteConfig(address, keys.root_pub(), "qa");
  CommandResult r = Pass();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(Version(), "1.0.0");

  auto ops = v1::OperatorService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  {
    v1::SetRolloutPolicyRequest req;
    req.set_channel("channels/demo");
    req.mutable_policy()->add_groups()->set_name("dev");
    req.mutable_policy()->set_catch_all("off");
    v1::RolloutPolicy out;
    grpc::ClientContext ctx;
    ASSERT_TRUE(ops->SetRolloutPolicy(&ctx, req, &out).ok());
    v1::SetTargetVersionRequest set;
    set.set_name("channels/demo");
    set.set_version("1.1.0");
    v1::Channel ch;
    grpc::ClientContext ctx2;
    ASSERT_TRUE(ops->SetTargetVersion(&ctx2, set, &ch).ok());
  }
  auto updater = v1::UpdaterService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  auto told = [&](const std::string& group) {
    v1::GetTargetRequest t;
    t.set_channel("channels/demo");
    t.set_host_id("signed-host");
    t.set_group(group);
    v1::GetTargetResponse answer;
    grpc::ClientContext c;
    return updater->GetTarget(&c, t, &answer).ok() ? answer : v1::GetTargetResponse();
  };
  v1::GetTargetResponse qa;
  ASSERT_TRUE(testing::PollUntil(absl::Seconds(30), [&] {
    qa = told("qa");
    return qa.held_back() && qa.target_version().empty() && qa.has_signed_metadata();
  })) << qa.ShortDebugString();

  // The signed, critical 1.1.0 is not for it: nothing installed, nothing refused.
  r = Pass();
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(absl::StrContains(r.output, "refused")) << r.output;
  EXPECT_EQ(Version(), "1.0.0");

  // Reporting a listed group, it gets the target (the rollout finished at
  // once: dev had no hosts).
  WriteConfig(address, keys.root_pub(), "dev");
  ASSERT_TRUE(testing::PollUntil(absl::Seconds(30), [&] { return told("dev").target_version() == "1.1.0"; }));
  r = Pass();
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Version(), "1.1.0") << r.output;
}

// TUF's key compromise: after the targets key is rotated, the retired key
// (say it was stolen) signs nothing an updater accepts, although its
// delegation has not expired. Real processes: droverctl makes and publishes
// the new delegation, coordinators serve, drover-updater decides.
TEST_F(SignedMetadataE2eTest, AfterARotationTheRetiredTargetsKeyIsRefused) {
  const Keys keys = MakeKeys("real");
  const std::string db = testing::NewTestDatabase();
  std::unique_ptr<CoordinatorProcess> old_coordinator = StartCoordinator(db, keys);
  ASSERT_NE(old_coordinator, nullptr);
  CreateChannel(old_coordinator->grpc_address(), "1.0.0", /*critical=*/true);
  WriteConfig(old_coordinator->grpc_address(), keys.root_pub());
  CommandResult r = Pass();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Version(), "1.0.0");

  // Rotation: a new targets key whose delegation is above the published one.
  const std::string rotated = dir_ + "/rotated";
  RunCommand({"mkdir", "-p", rotated});
  const std::string root_key = "--root-key=" + keys.dir + "/root/root.key";
  const std::string previous = "--previous=" + keys.dir + "/targets/delegation.pb";
  r = RunCommand({BinaryPath("droverctl"), "keys", "create-targets", root_key, "--out-dir=" + rotated, previous,
                  "--version=1"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "is not above the previous delegation's version")) << r.output;
  r = RunCommand({BinaryPath("droverctl"), "keys", "create-targets", root_key, "--out-dir=" + rotated, previous});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::vector<std::string> ctl = {BinaryPath("droverctl"), "--coordinator=" + old_coordinator->grpc_address(),
                                        "--insecure", "keys"};
  auto keys_cmd = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = ctl;
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  };
  r = keys_cmd({"publish", "--delegation=" + rotated + "/delegation.pb"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // A delegation that does not grow is refused at publication, saying what to do.
  const std::string stale = dir_ + "/stale";
  RunCommand({"mkdir", "-p", stale});
  r = RunCommand({BinaryPath("droverctl"), "keys", "create-targets", root_key, "--out-dir=" + stale, "--version=7"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = keys_cmd({"publish", "--delegation=" + stale + "/delegation.pb"});
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "is not above the highest published")) << r.output;

  // The coordinators restart with the new key; the updater moves on to it.
  std::vector<std::string> flags = {"--targets_key_file=" + rotated + "/targets.key",
                                    "--root_public_key_file=" + keys.root_pub()};
  absl::StatusOr<std::unique_ptr<CoordinatorProcess>> new_coordinator = CoordinatorProcess::Start(db, flags);
  ASSERT_TRUE(new_coordinator.ok()) << new_coordinator.status();
  SetTarget((*new_coordinator)->grpc_address(), "1.1.0");
  r = Pass((*new_coordinator)->grpc_address());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(absl::StrContains(r.output, "refused the coordinator's answer")) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "targets key rotated")) << r.output;
  EXPECT_EQ(Version(), "1.1.0");

  // Whoever holds the retired key runs a coordinator with it and its old,
  // unexpired delegation, on a database of their own (any metadata version
  // they like): refused, as a retired key, not installed.
  const std::string thief_db = testing::NewTestDatabase();
  std::unique_ptr<CoordinatorProcess> thief = StartCoordinator(thief_db, keys);
  ASSERT_NE(thief, nullptr);
  CreateChannel(thief->grpc_address(), "1.2.0", /*critical=*/true);
  r = Pass(thief->grpc_address());
  EXPECT_TRUE(absl::StrContains(r.output, "refused the coordinator's answer")) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "retired targets key")) << r.output;
  EXPECT_EQ(Version(), "1.1.0");
  // So is a replica not restarted yet with the new key.
  r = Pass(old_coordinator->grpc_address());
  EXPECT_TRUE(absl::StrContains(r.output, "below the highest accepted")) << r.output;
  EXPECT_EQ(Version(), "1.1.0");
  // Its report tells that replica why, in its log.
  EXPECT_TRUE(testing::PollUntil(absl::Seconds(10), [&] {
    const std::string log = old_coordinator->Log();
    return absl::StrContains(log, "host \"signed-host\" acts on none of this coordinator's signed answers") &&
           absl::StrContains(log, "retired targets key");
  })) << old_coordinator->Log();
  CommandResult status = RunCommand({BinaryPath("drover-updater"), "status", "--config=" + dir_ + "/updater.conf"});
  EXPECT_TRUE(absl::StrContains(status.output, "retired targets key")) << status.output;
  // The new key still works.
  r = Pass((*new_coordinator)->grpc_address());
  EXPECT_FALSE(absl::StrContains(r.output, "refused the coordinator's answer")) << r.output;
}

TEST_F(SignedMetadataE2eTest, KeyFilesOthersCanReadAreRefused) {
  const Keys keys = MakeKeys("loose");
  ASSERT_EQ(chmod((keys.dir + "/targets/targets.key").c_str(), 0644), 0);
  const std::string db = testing::NewTestDatabase();
  absl::StatusOr<std::unique_ptr<CoordinatorProcess>> c = CoordinatorProcess::Start(db, keys.CoordinatorFlags());
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(absl::StrContains(c.status().message(), "group and others must have no access")) << c.status();
  // droverctl refuses such a root key too.
  ASSERT_EQ(chmod((keys.dir + "/root/root.key").c_str(), 0640), 0);
  CommandResult r = RunCommand({BinaryPath("droverctl"), "keys", "create-targets",
                                "--root-key=" + keys.dir + "/root/root.key", "--out-dir=" + keys.dir});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "chmod 600")) << r.output;
}

}  // namespace
}  // namespace drover
