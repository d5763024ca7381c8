// drover-kube-updater end to end: a real coordinator and PostgreSQL for the
// signed target and the reports, a real docker-registry with images pushed
// and cosign-signed here, and tests/fixtures/kube/fake_apiserver.py as the
// Kubernetes API server (the one stand-in: no cluster runs here).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "drover/v1/operator_service.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/support/oci_registry.h"
#include "tests/support/test_env.h"

namespace drover {
namespace {

namespace t = ::drover::testing;
using t::BinaryPath;
using t::CommandResult;
using t::CoordinatorProcess;
using t::RunCommand;

constexpr char kHostId[] = "kubernetes:teleport:deployment.teleport-agent";

std::string Tmp(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "XXXXXX";
  return mkdtemp(tmpl.data());
}

std::string Rfc3339(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone()); }

std::string Windows(absl::Duration from, absl::Duration to) {
  return absl::StrCat(R"({"windows":[{"start":")", Rfc3339(absl::Now() + from), R"(","stop":")",
                      Rfc3339(absl::Now() + to), R"("}]})");
}

class KubeUpdaterE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(Tmp("drover-kube-suite-"));
    absl::StatusOr<std::unique_ptr<t::RegistryProcess>> r = t::RegistryProcess::Start(*dir_, *dir_ + "/storage");
    ASSERT_TRUE(r.ok()) << r.status();
    registry_ = r->release();
    absl::StatusOr<t::CosignKeyFiles> key = t::MakeCosignKey(*dir_, "cosign");
    ASSERT_TRUE(key.ok()) << key.status();
    cosign_ = new t::CosignKeyFiles(*key);
    absl::StatusOr<t::CosignKeyFiles> rogue = t::MakeCosignKey(*dir_, "rogue");
    ASSERT_TRUE(rogue.ok()) << rogue.status();
    // 1.0.0 runs; 1.1.0 is good; 1.2.0 crash-loops in the stand-in; 1.3.0
    // is unsigned; 1.4.0 is signed by a key the updater does not trust.
    for (const auto& [tag, signer] : std::vector<std::pair<std::string, std::string>>{
             {"1.0.0", key->private_key}, {"1.1.0", key->private_key}, {"1.2.0", key->private_key},
             {"1.3.0", ""}, {"1.4.0", rogue->private_key}}) {
      absl::StatusOr<std::string> digest = t::PushImage(registry_->address(), "teleport", tag, "teleport " + tag, *dir_);
      ASSERT_TRUE(digest.ok()) << digest.status();
      (*digests_)[tag] = *digest;
      if (signer.empty()) continue;
      const std::string payload = t::SimpleSigningPayload(absl::StrCat(registry_->address(), "/teleport"), *digest);
      absl::StatusOr<std::string> sig = t::SignPayload(signer, payload, *dir_);
      ASSERT_TRUE(sig.ok()) << sig.status();
      ASSERT_TRUE(t::PushCosignSignature(registry_->address(), "teleport", *digest, payload, *sig).ok());
    }
    // Signed target metadata, keys made as an operator makes them.
    RunCommand({"mkdir", "-p", *dir_ + "/root", *dir_ + "/targets"});
    CommandResult k = RunCommand({BinaryPath("droverctl"), "keys", "create-root", "--out-dir=" + *dir_ + "/root"});
    ASSERT_EQ(k.exit_code, 0) << k.output;
    k = RunCommand({BinaryPath("droverctl"), "keys", "create-targets", "--root-key=" + *dir_ + "/root/root.key",
                    "--out-dir=" + *dir_ + "/targets"});
    ASSERT_EQ(k.exit_code, 0) << k.output;
  }
  static void TearDownTestSuite() {
    delete registry_;
    RunCommand({"rm", "-rf", *dir_});
  }

  void SetUp() override {
    work_ = Tmp("drover-kube-");
    std::ofstream(work_ + "/token") << "good-token\n";
    // The token the stand-in accepts, apart from the one the updater sends.
    std::ofstream(work_ + "/server-token") << "good-token\n";
  }
  void TearDown() override {
    apiserver_.reset();
    coordinator_.reset();
    if (HasFailure() && coordinator_log_.empty()) {
      // Logs were printed by the failing assertion's context.
    }
    RunCommand({"rm", "-rf", work_});
  }

  static std::string Image(const std::string& tag) { return absl::StrCat(registry_->address(), "/teleport:", tag); }

  void StartCoordinator(const std::string& target, bool critical, const std::string& control_plane = "1.5.0",
                        absl::Duration poll_interval = absl::ZeroDuration()) {
    db_ = t::NewTestDatabase();
    absl::StatusOr<std::unique_ptr<CoordinatorProcess>> c = CoordinatorProcess::Start(
        db_, {"--targets_key_file=" + *dir_ + "/targets/targets.key",
              "--root_public_key_file=" + *dir_ + "/root/root.pub",
              "--delegation_file=" + *dir_ + "/targets/delegation.pb"});
    ASSERT_TRUE(c.ok()) << c.status();
    coordinator_ = *std::move(c);
    auto ops = v1::OperatorService::NewStub(
        grpc::CreateChannel(coordinator_->grpc_address(), grpc::InsecureChannelCredentials()));
    v1::CreateChannelRequest req;
    req.set_channel_id("kube");
    req.set_control_plane_version(control_plane);
    req.set_target_version(target);
    if (poll_interval > absl::ZeroDuration()) req.mutable_poll_interval()->set_seconds(absl::ToInt64Seconds(poll_interval));
    v1::Channel out;
    grpc::ClientContext ctx;
    grpc::Status s = ops->CreateChannel(&ctx, req, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
    if (critical) {
      v1::SetCriticalRequest c2;
      c2.set_name("channels/kube");
      c2.set_critical(true);
      c2.set_reason("CVE");
      grpc::ClientContext ctx2;
      ASSERT_TRUE(ops->SetCritical(&ctx2, c2, &out).ok());
    }
  }

  struct Scenario {
    std::string image;
    std::optional<std::string> schedule;  // nullopt: no Secret
    std::map<std::string, std::string> annotations;
    bool unready_pod = false;
    bool forbid_pods = false;  // 403 to the pod list (RBAC without it)
    bool revert_after_patch = false;  // the image put back right after the first patch (GitOps)
    std::string tls_dir;  // HTTPS with server.pem/server.key from there (drover-coordinator ca init)
    std::string kind = "deployment";  // or "statefulset" (OrderedReady rolling updates)
    bool forbid_watch = false;  // 403 to watches (RBAC without "watch")
  };
  std::vector<std::string> ApiServerArgv(const Scenario& sc) const {
    std::vector<std::string> argv = {"python3",
                                     std::string(DROVER_SOURCE_DIR) + "/tests/fixtures/kube/fake_apiserver.py",
                                     "--scenario=" + work_ + "/scenario.json", "--port_file=" + work_ + "/port"};
    if (!sc.tls_dir.empty()) {
      argv.push_back("--tls_cert=" + sc.tls_dir + "/server.pem");
      argv.push_back("--tls_key=" + sc.tls_dir + "/server.key");
    }
    return argv;
  }
  void StartApiServer(const Scenario& sc) {
    nlohmann::json j = {{"namespace", "teleport"},
                        {"name", "teleport-agent"},
                        {"image", sc.image},
                        {"replicas", 2},
                        {"annotations", sc.annotations},
                        {"broken_images_contain", {":1.2.0"}},
                        {"unready_pod", sc.unready_pod},
                        {"forbid_pods", sc.forbid_pods},
                        {"revert_after_patch", sc.revert_after_patch},
                        {"kind", sc.kind},
                        {"forbid_watch", sc.forbid_watch},
                        {"token_file", work_ + "/server-token"}};
    if (sc.schedule) j["schedule"] = *sc.schedule;
    kind_ = sc.kind;
    std::ofstream(work_ + "/scenario.json") << j.dump();
    absl::StatusOr<std::unique_ptr<t::ChildProcess>> p =
        t::ChildProcess::Spawn(ApiServerArgv(sc), work_ + "/apiserver.log");
    ASSERT_TRUE(p.ok()) << p.status();
    apiserver_ = *std::move(p);
    ASSERT_TRUE(t::PollUntil(absl::Seconds(20), [&] {
      return access((work_ + "/port").c_str(), F_OK) == 0 || !apiserver_->Alive();
    })) << apiserver_->Log();
    ASSERT_TRUE(apiserver_->Alive()) << apiserver_->Log();
    std::ifstream in(work_ + "/port");
    in >> api_port_;
  }

  std::string Api() const { return absl::StrCat("127.0.0.1:", api_port_); }

  nlohmann::json ApiState() const {
    absl::StatusOr<std::string> body = t::HttpGet(Api(), "/_control/state");
    EXPECT_TRUE(body.ok()) << body.status();
    return body.ok() ? nlohmann::json::parse(*body) : nlohmann::json::object();
  }
  // The same from a stand-in serving HTTPS with the CA in `ca_dir`.
  nlohmann::json ApiState(const std::string& ca_dir) const {
    CommandResult r = RunCommand({"curl", "-fsS", "--cacert", ca_dir + "/ca.pem",
                                  absl::StrCat("https://", Api(), "/_control/state")});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.exit_code == 0 ? nlohmann::json::parse(r.output, nullptr, false) : nlohmann::json::object();
  }

  // A POST to the stand-in's /_control/ (no auth).
  void Control(const std::string& what, const std::string& body = "") {
    CommandResult r = RunCommand({"curl", "-fsS", "-X", "POST", "--data-binary", body,
                                  absl::StrCat("http://", Api(), "/_control/", what)});
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  std::vector<std::string> UpdaterArgv(std::vector<std::string> extra) const {
    std::vector<std::string> argv = {
        BinaryPath("drover-kube-updater"),
        "--coordinator=" + coordinator_->grpc_address(), "--channel=kube", "--namespace=teleport", "--cluster=kubernetes",
        "--workload=" + kind_ + "/teleport-agent", "--public_key_file=" + cosign_->public_key,
        "--registry_plain_http", "--root_public_key_file=" + *dir_ + "/root/root.pub",
        "--state_dir=" + work_ + "/state", absl::StrCat("--kube_api=http://", Api()),
        "--kube_token_file=" + work_ + "/token", "--rollout_timeout=30s", "--rollout_watch=1s", "--max_restarts=2",
        "--rpc_timeout=5s"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
  CommandResult Pass(std::vector<std::string> extra = {}) {
    extra.insert(extra.begin(), "--once");
    return RunCommand(UpdaterArgv(extra), absl::Seconds(90));
  }
  // The updater as it runs in its pod: passes until SIGTERM.
  std::unique_ptr<t::ChildProcess> StartDaemon(std::vector<std::string> extra = {}) {
    absl::StatusOr<std::unique_ptr<t::ChildProcess>> p =
        t::ChildProcess::Spawn(UpdaterArgv(extra), work_ + "/updater.log");
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *std::move(p) : nullptr;
  }
  std::string HostId() const { return absl::StrCat("kubernetes:teleport:", kind_, ".teleport-agent"); }

  // What the coordinator stored for the workload.
  std::string Reported(const std::string& column) const {
    return t::QueryValue(db_, absl::StrCat("SELECT ", column, " FROM agents WHERE host_id = '", HostId(), "'"));
  }
  std::vector<std::string> Events() const {
    return t::QueryColumn(db_, absl::StrCat("SELECT result || ' ' || from_version || '->' || to_version || ' ' || "
                                            "error FROM update_events WHERE host_id = '", HostId(), "' ORDER BY id"));
  }
  bool PodsAllOn(const std::string& image) const {
    nlohmann::json st = ApiState();
    if (st["pods"].size() != 2) return false;
    for (const auto& p : st["pods"]) {
      if (p["spec"]["containers"][0]["image"] != image) return false;
      if (p["status"]["conditions"][0]["status"] != "True") return false;
    }
    return true;
  }

  static std::string* dir_;
  static t::RegistryProcess* registry_;
  static t::CosignKeyFiles* cosign_;
  static std::map<std::string, std::string>* digests_;
  std::string work_;
  std::string db_;
  std::string coordinator_log_;
  std::unique_ptr<CoordinatorProcess> coordinator_;
  std::unique_ptr<t::ChildProcess> apiserver_;
  int api_port_ = 0;
  std::string kind_ = "deployment";
};
std::string* KubeUpdaterE2eTest::dir_ = nullptr;
t::RegistryProcess* KubeUpdaterE2eTest::registry_ = nullptr;
t::CosignKeyFiles* KubeUpdaterE2eTest::cosign_ = nullptr;
std::map<std::string, std::string>* KubeUpdaterE2eTest::digests_ = new std::map<std::string, std::string>();

TEST_F(KubeUpdaterE2eTest, InsideWindowUpdatesToTheVerifiedDigestAndReports) {
  StartCoordinator("1.1.0", /*critical=*/false);
  StartApiServer({.image = Image("1.0.0"), .schedule = Windows(absl::Hours(-1), absl::Hours(1))});
  CommandResult r = Pass();
  ASSERT_EQ(r.exit_code, 0) << r.output << apiserver_->Log();
  const std::string pinned = Image("1.1.0") + "@" + digests_->at("1.1.0");
  nlohmann::json st = ApiState();
  EXPECT_EQ(st["image"], pinned);
  ASSERT_EQ(st["patches"], 1);
  EXPECT_EQ(st["patch_log"][0]["from"], Image("1.0.0"));
  EXPECT_TRUE(PodsAllOn(pinned)) << st.dump();
  EXPECT_TRUE(absl::StrContains(r.output, "inside maintenance window")) << r.output;
  EXPECT_EQ(Reported("current_version"), "1.1.0");
  EXPECT_EQ(Reported("health"), "1");
  std::vector<std::string> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(events[0], "1 1.0.0->1.1.0")) << events[0];
  // The next pass finds it on target: nothing more is patched.
  r = Pass();
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "already on target 1.1.0")) << r.output;
  EXPECT_EQ(ApiState()["patches"], 1);
}

TEST_F(KubeUpdaterE2eTest, CriticalUpdatesOutsideTheWindow) {
  StartCoordinator("1.1.0", /*critical=*/true);
  StartApiServer({.image = Image("1.0.0"), .schedule = Windows(absl::Hours(5), absl::Hours(6))});
  CommandResult r = Pass();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "critical update")) << r.output;
  EXPECT_EQ(ApiState()["image"], Image("1.1.0") + "@" + digests_->at("1.1.0"));
  EXPECT_EQ(Reported("current_version"), "1.1.0");
}

TEST_F(KubeUpdaterE2eTest, OutsideTheWindowWithAFutureWindowWaits) {
  StartCoordinator("1.1.0", /*critical=*/false);
  StartApiServer({.image = Image("1.0.0"), .schedule = Windows(absl::Hours(5), absl::Hours(6))});
  CommandResult r = Pass();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "outside maintenance window; next opens")) << r.output;
  EXPECT_EQ(ApiState()["patches"], 0);
  EXPECT_EQ(Reported("current_version"), "1.0.0");
  EXPECT_TRUE(Events().empty());
}

TEST_F(KubeUpdaterE2eTest, BlankScheduleUpdatesAsSoonAsPossible) {
  StartCoordinator("1.1.0", /*critical=*/false);
  StartApiServer({.image = Image("1.0.0"), .schedule = std::string(R"({"windows":[]})")});
  CommandResult r = Pass();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "no current or future maintenance window")) << r.output;
  EXPECT_EQ(ApiState()["image"], Image("1.1.0") + "@" + digests_->at("1.1.0"));
  EXPECT_EQ(Reported("current_version"), "1.1.0");
}

TEST_F(KubeUpdaterE2eTest, UnhealthyPodsUpdateAtOnce) {
  StartCoordinator("1.1.0", /*critical=*/false);
  StartApiServer(
      {.image = Image("1.0.0"), .schedule = Windows(absl::Hours(5), absl::Hours(6)), .unready_pod = true});
  CommandResult r = Pass();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "agent unhealthy")) << r.output;
  EXPECT_TRUE(PodsAllOn(Image("1.1.0") + "@" + digests_->at("1.1.0"))) << ApiState().dump();
  EXPECT_EQ(Reported("current_version"), "1.1.0");
  EXPECT_EQ(Reported("health"), "1");
}

TEST_F(KubeUpdaterE2eTest, UnsignedOrForeignSignedImageIsRefusedAndReported) {
  for (const std::string tag : {"1.3.0", "1.4.0"}) {
    SCOPED_TRACE(tag);
    StartCoordinator(tag, /*critical=*/true);
    StartApiServer({.image = Image("1.0.0"), .schedule = std::string(R"({"windows":[]})")});
    CommandResult r = Pass();
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_TRUE(absl::StrContains(r.output, absl::StrCat("refused ", Image(tag), ", the workload was left untouched")))
        << r.output;
    nlohmann::json st = ApiState();
    EXPECT_EQ(st["patches"], 0);
    EXPECT_EQ(st["image"], Image("1.0.0"));
    std::vector<std::string> events = Events();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_TRUE(absl::StartsWith(events[0], absl::StrCat("2 1.0.0->", tag))) << events[0];
    EXPECT_TRUE(absl::StrContains(events[0], "left untouched")) << events[0];
    EXPECT_EQ(Reported("current_version"), "1.0.0");
    apiserver_.reset();
    coordinator_.reset();
    RunCommand({"rm", "-rf", work_ + "/state", work_ + "/port"});
  }
}

TEST_F(KubeUpdaterE2eTest, BrokenImageIsRolledBackToThePreviousImageAsItWas) {
  StartCoordinator("1.2.0", /*critical=*/false);
  // The workload runs 1.0.0 pinned by digest: the roll-back restores that.
  const std::string previous = Image("1.0.0") + "@" + digests_->at("1.0.0");
  StartApiServer({.image = previous, .schedule = Windows(absl::Hours(-1), absl::Hours(1))});
  const absl::Time start = absl::Now();
  CommandResult r = Pass();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  // The crash loop ends the watch, not the 30 s rollout timeout.
  EXPECT_LT(absl::Now() - start, absl::Seconds(25)) << r.output;
  nlohmann::json st = ApiState();
  ASSERT_EQ(st["patches"], 2) << st.dump();
  EXPECT_EQ(st["patch_log"][0]["to"], Image("1.2.0") + "@" + digests_->at("1.2.0"));
  EXPECT_EQ(st["patch_log"][1]["to"], previous);
  EXPECT_EQ(st["image"], previous);
  EXPECT_TRUE(t::PollUntil(absl::Seconds(10), [&] { return PodsAllOn(previous); })) << ApiState().dump();
  std::vector<std::string> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(events[0], "3 1.0.0->1.2.0")) << events[0];
  EXPECT_TRUE(absl::StrContains(events[0], "restarts")) << events[0];
  EXPECT_EQ(Reported("current_version"), "1.0.0");
  // Not retried while 1.2.0 is the target.
  r = Pass();
  EXPECT_TRUE(absl::StrContains(r.output, "was rolled back; not retried")) << r.output;
  EXPECT_EQ(ApiState()["patches"], 2);
}

// The workload ran a tag: the roll-back goes to the digest that tag had
// (verified) when it was replaced, not to whatever the tag names later.
TEST_F(KubeUpdaterE2eTest, RollBackFromATagGoesToItsVerifiedDigest) {
  StartCoordinator("1.2.0", /*critical=*/false);
  StartApiServer({.image = Image("1.0.0"), .schedule = Windows(absl::Hours(-1), absl::Hours(1))});
  CommandResult r = Pass();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  nlohmann::json st = ApiState();
  ASSERT_EQ(st["patches"], 2) << st.dump();
  EXPECT_EQ(st["patch_log"][0]["from"], Image("1.0.0"));
  EXPECT_EQ(st["patch_log"][1]["to"], Image("1.0.0") + "@" + digests_->at("1.0.0"));
  EXPECT_EQ(Reported("current_version"), "1.0.0");
}

// A GitOps controller reverts the image during the rollout watch: the old
// template turning healthy is not the update's success.
TEST_F(KubeUpdaterE2eTest, AnImageRevertedDuringTheWatchFailsTheUpdate) {
  StartCoordinator("1.1.0", /*critical=*/false);
  StartApiServer({.image = Image("1.0.0"), .schedule = Windows(absl::Hours(-1), absl::Hours(1)),
                  .revert_after_patch = true});
  CommandResult r = Pass();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "someone else changed it during the rollout")) << r.output;
  nlohmann::json st = ApiState();
  EXPECT_TRUE(absl::StartsWith(st["image"].get<std::string>(), Image("1.0.0"))) << st.dump();
  std::vector<std::string> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(absl::StartsWith(events[0], "1 ")) << "reported as a success: " << events[0];
  EXPECT_TRUE(absl::StrContains(events[0], "someone else changed it")) << events[0];
  EXPECT_EQ(Reported("current_version"), "1.0.0");
}

// As on hosts: with TLS the updater enrols once with a single-use join
// token (the key made in its state directory), then reports under its host
// certificate; the next pass uses that certificate, not the token.
TEST_F(KubeUpdaterE2eTest, EnrolsWithAJoinTokenAndReportsOverMutualTls) {
  StartCoordinator("1.1.0", /*critical=*/true);
  StartApiServer({.image = Image("1.0.0"), .schedule = Windows(absl::Hours(5), absl::Hours(6))});
  const std::string ca = work_ + "/ca";
  CommandResult init = RunCommand({BinaryPath("drover-coordinator"), "ca", "init", "--ca_dir=" + ca, "--fleet=e2e"});
  ASSERT_EQ(init.exit_code, 0) << init.output;
  absl::StatusOr<std::unique_ptr<CoordinatorProcess>> tls = CoordinatorProcess::Start(
      db_, {"--tls_cert_file=" + ca + "/server.pem", "--tls_key_file=" + ca + "/server.key",
            "--host_ca_cert_file=" + ca + "/ca.pem", "--host_ca_key_file=" + ca + "/ca.key", "--fleet=e2e",
            "--targets_key_file=" + *dir_ + "/targets/targets.key", "--root_public_key_file=" + *dir_ + "/root/root.pub",
            "--delegation_file=" + *dir_ + "/targets/delegation.pb"});
  ASSERT_TRUE(tls.ok()) << tls.status();
  CommandResult admin = RunCommand({BinaryPath("drover-coordinator"), "operators", "create", t::DatabaseUrlFlag(db_),
                                    "--name=kube-admin", "--role=admin", "--token_file=" + ca + "/admin.token"});
  ASSERT_EQ(admin.exit_code, 0) << admin.output;
  CommandResult token = RunCommand(
      {"bash", "-c",
       absl::StrCat("umask 077; ", BinaryPath("droverctl"), " --coordinator=", (*tls)->grpc_address(), " --ca_file=", ca,
                    "/ca.pem --token-file=", ca, "/admin.token tokens create --channel=kube --ttl=10m > ", ca,
                    "/join-token")});
  ASSERT_EQ(token.exit_code, 0) << token.output;
  const std::vector<std::string> over_tls = {"--coordinator=" + (*tls)->grpc_address(),
                                             "--coordinator_ca_file=" + ca + "/ca.pem",
                                             "--join_token_file=" + ca + "/join-token"};
  CommandResult r = Pass(over_tls);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, absl::StrCat("enrolled as host \"", kHostId, "\""))) << r.output;
  struct stat st;
  ASSERT_EQ(stat((work_ + "/state/identity/host.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(Reported("current_version"), "1.1.0");
  ASSERT_EQ(Events().size(), 1u);
  EXPECT_TRUE(absl::StartsWith(Events()[0], "1 1.0.0->1.1.0")) << Events()[0];
  // The certificate it holds now, not the (used) token.
  r = Pass(over_tls);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(absl::StrContains(r.output, "enrol")) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "already on target 1.1.0")) << r.output;
}

// In a cluster the API server is HTTPS, verified against the service
// account's ca.crt (--kube_ca_file here): an answer from a server whose
// certificate does not chain to it is refused, and nothing is patched.
TEST_F(KubeUpdaterE2eTest, TheApiServerIsVerifiedOverHttps) {
  StartCoordinator("1.1.0", /*critical=*/true);
  const std::string kube_ca = work_ + "/kube-ca";
  const std::string other_ca = work_ + "/other-ca";
  for (const std::string& d : {kube_ca, other_ca}) {
    CommandResult init = RunCommand({BinaryPath("drover-coordinator"), "ca", "init", "--ca_dir=" + d, "--fleet=k"});
    ASSERT_EQ(init.exit_code, 0) << init.output;
  }
  StartApiServer({.image = Image("1.0.0"), .schedule = Windows(absl::Hours(5), absl::Hours(6)), .tls_dir = kube_ca});
  const std::string https = absl::StrCat("--kube_api=https://", Api());
  CommandResult r = Pass({https, "--kube_ca_file=" + other_ca + "/ca.pem"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "pass skipped, nothing changed")) << r.output;
  EXPECT_EQ(ApiState(kube_ca)["patches"], 0);
  r = Pass({https, "--kube_ca_file=" + kube_ca + "/ca.pem"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  nlohmann::json st = ApiState(kube_ca);
  EXPECT_EQ(st["patches"], 1) << st.dump();
  EXPECT_EQ(Reported("current_version"), "1.1.0");
}

TEST_F(KubeUpdaterE2eTest, ReportOnlyAnnotationPatchesNothingAndReports) {
  StartCoordinator("1.1.0", /*critical=*/true);
  StartApiServer({.image = Image("1.0.0"),
                  .schedule = std::string(R"({"windows":[]})"),
                  .annotations = {{"drover/update-mode", "report-only"}}});
  CommandResult r = Pass();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(
      r.output, "report-only (annotation drover/update-mode=report-only): would update to 1.1.0 (critical update)"))
      << r.output;
  EXPECT_EQ(ApiState()["patches"], 0);
  EXPECT_EQ(Reported("current_version"), "1.0.0");
  EXPECT_EQ(Reported("health"), "1");
}

TEST_F(KubeUpdaterE2eTest, DisabledAnnotationAndFlagOnlyReport) {
  StartCoordinator("1.1.0", /*critical=*/true);
  StartApiServer({.image = Image("1.0.0"), .annotations = {{"drover/update-mode", "disabled"}}});
  CommandResult r = Pass();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "updates disabled (annotation drover/update-mode=disabled)")) << r.output;
  EXPECT_EQ(ApiState()["patches"], 0);
  EXPECT_EQ(Reported("current_version"), "1.0.0");
  apiserver_.reset();
  RunCommand({"rm", "-f", work_ + "/port"});
  StartApiServer({.image = Image("1.0.0")});
  r = Pass({"--report_only"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "report-only (--report_only): would update to 1.1.0")) << r.output;
  EXPECT_EQ(ApiState()["patches"], 0);
}

TEST_F(KubeUpdaterE2eTest, TargetAboveTheControlPlaneIsRefused) {
  StartCoordinator("1.1.0", /*critical=*/true);
  // The coordinator refuses such a target through its API; a database
  // changed behind its back is what is left to try.
  t::QueryValue(db_, "UPDATE channels SET control_plane_version = '1.0.5' WHERE name = 'kube' RETURNING name");
  StartApiServer({.image = Image("1.0.0"), .schedule = std::string(R"({"windows":[]})")});
  CommandResult r;
  ASSERT_TRUE(t::PollUntil(absl::Seconds(20), [&] {
    r = Pass();
    return absl::StrContains(r.output, "above");
  })) << r.output;
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "1.0.5")) << r.output;
  EXPECT_EQ(ApiState()["patches"], 0);
}

// A pod list the updater may not read tells nothing about the agent's
// health: the pass is skipped, not taken for "unhealthy, update at once".
TEST_F(KubeUpdaterE2eTest, PodsItCannotListSkipThePassOutsideTheWindow) {
  StartCoordinator("1.1.0", /*critical=*/false);
  StartApiServer({.image = Image("1.0.0"), .schedule = Windows(absl::Hours(5), absl::Hours(6)), .forbid_pods = true});
  CommandResult r = Pass();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "pass skipped, nothing changed")) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "cannot tell the health of the workload's pods")) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "403")) << r.output;
  EXPECT_EQ(ApiState()["patches"], 0);
}

TEST_F(KubeUpdaterE2eTest, ApiDownOrTokenRefusedIsAClearErrorAndNoPatch) {
  StartCoordinator("1.1.0", /*critical=*/true);
  StartApiServer({.image = Image("1.0.0"), .schedule = std::string(R"({"windows":[]})")});
  std::ofstream(work_ + "/token", std::ios::trunc) << "stale-token\n";
  CommandResult r = Pass();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "answered 401")) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "was refused")) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "pass skipped, nothing changed")) << r.output;
  EXPECT_EQ(ApiState()["patches"], 0);
  EXPECT_GT(ApiState()["unauthorized"].get<int>(), 0);
  // The token is read again for every request (projected tokens rotate).
  std::ofstream(work_ + "/token", std::ios::trunc) << "good-token\n";
  r = Pass({"--report_only"});
  EXPECT_EQ(r.exit_code, 0) << r.output;

  const int port = api_port_;
  apiserver_.reset();
  r = Pass();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, absl::StrCat("127.0.0.1:", port))) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "check --kube_api")) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "pass skipped, nothing changed")) << r.output;
}

// As it runs in its pod: passes at the coordinator's pace (30 min here, or
// when the window opens in 5 h), and at once when a watch sees the
// workload, its pods or its schedule change. After the API server compacts
// (the watches' versions answer 410 Gone) it lists again and watches on.
// SIGTERM stops it promptly.
TEST_F(KubeUpdaterE2eTest, DaemonActsOnAScheduleChangeItsWatchSees) {
  StartCoordinator("1.1.0", /*critical=*/false, "1.5.0", absl::Minutes(30));
  StartApiServer({.image = Image("1.0.0"), .schedule = Windows(absl::Hours(5), absl::Hours(6))});
  std::unique_ptr<t::ChildProcess> daemon =
      StartDaemon({"--kube_poll_interval=1h", "--min_pass_interval=1s", "--kube_watch_timeout=60s"});
  ASSERT_NE(daemon, nullptr);
  // The first pass waits for the window; the workload's, the Secret's and
  // the pods' watches are open.
  ASSERT_TRUE(t::PollUntil(absl::Seconds(30), [&] {
    return absl::StrContains(daemon->Log(), "outside maintenance window") && ApiState()["watches"] >= 3;
  })) << daemon->Log();
  EXPECT_EQ(ApiState()["patches"], 0);

  // The agent's maintenance window opens now: the update follows within
  // seconds, not at the next sync in 30 minutes. Nothing but a watch event
  // can run a pass here (no poll, no re-list has happened).
  Control("schedule", Windows(absl::Hours(-1), absl::Hours(1)));
  const std::string pinned = Image("1.1.0") + "@" + digests_->at("1.1.0");
  EXPECT_TRUE(t::PollUntil(absl::Seconds(45), [&] { return Reported("current_version") == "1.1.0"; }))
      << daemon->Log() << apiserver_->Log();
  EXPECT_EQ(ApiState()["image"], pinned);
  EXPECT_TRUE(absl::StrContains(daemon->Log(), "changed: running a pass now")) << daemon->Log();
  EXPECT_FALSE(absl::StrContains(daemon->Log(), "cannot watch")) << daemon->Log();
  EXPECT_EQ(ApiState()["gone_sent"], 0);

  // Compaction: the open streams end, and resuming them gets 410 Gone; each
  // watch lists again and streams on (bookmarks keep its version fresh).
  ASSERT_TRUE(t::PollUntil(absl::Seconds(30), [&] { return ApiState()["bookmarks_sent"] >= 1; }));
  const int watches = ApiState()["watches"].get<int>();
  Control("compact");
  ASSERT_TRUE(t::PollUntil(absl::Seconds(30), [&] {
    nlohmann::json st = ApiState();
    return st["gone_sent"] >= 3 && st["watches"] >= watches + 6;
  })) << daemon->Log() << ApiState().dump();
  EXPECT_TRUE(absl::StrContains(daemon->Log(), "too old (410 Gone): listing it again")) << daemon->Log();

  const absl::Time stop = absl::Now();
  std::optional<int> code = daemon->Terminate(absl::Seconds(10));
  EXPECT_EQ(code, std::optional<int>(0)) << daemon->Log();
  EXPECT_LT(absl::Now() - stop, absl::Seconds(5));
  EXPECT_TRUE(absl::StrContains(daemon->Log(), "stopping")) << daemon->Log();
}

// RBAC without "watch": said once, and the updater reads the objects every
// --kube_poll_interval instead, so a change still runs a pass.
TEST_F(KubeUpdaterE2eTest, DaemonPollsWhenItMayNotWatch) {
  StartCoordinator("1.1.0", /*critical=*/false, "1.5.0", absl::Minutes(30));
  StartApiServer({.image = Image("1.0.0"), .schedule = Windows(absl::Hours(5), absl::Hours(6)), .forbid_watch = true});
  std::unique_ptr<t::ChildProcess> daemon = StartDaemon({"--kube_poll_interval=1s", "--min_pass_interval=1s"});
  ASSERT_NE(daemon, nullptr);
  ASSERT_TRUE(t::PollUntil(absl::Seconds(30), [&] {
    const std::string log = daemon->Log();
    return absl::StrContains(log, "outside maintenance window") && absl::StrContains(log, "cannot watch");
  })) << daemon->Log();
  EXPECT_TRUE(absl::StrContains(daemon->Log(), "answered 403")) << daemon->Log();
  Control("schedule", Windows(absl::Hours(-1), absl::Hours(1)));
  EXPECT_TRUE(t::PollUntil(absl::Seconds(45), [&] { return Reported("current_version") == "1.1.0"; }))
      << daemon->Log();
  EXPECT_EQ(ApiState()["image"], Image("1.1.0") + "@" + digests_->at("1.1.0"));
  EXPECT_EQ(daemon->Terminate(absl::Seconds(10)), std::optional<int>(0)) << daemon->Log();
}

// A StatefulSet (Teleport's kube agent chart runs one) rolls OrderedReady:
// its broken pod is never replaced by the controller after the template is
// put back. The updater deletes it (Kubernetes' forced rollback), and the
// StatefulSet comes back whole on the previous image.
TEST_F(KubeUpdaterE2eTest, StatefulSetBrokenImageIsForcedBack) {
  StartCoordinator("1.2.0", /*critical=*/false);
  const std::string previous = Image("1.0.0") + "@" + digests_->at("1.0.0");
  StartApiServer({.image = previous, .schedule = Windows(absl::Hours(-1), absl::Hours(1)), .kind = "statefulset"});
  CommandResult r = Pass();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "deleted pod teleport-agent-1")) << r.output;
  nlohmann::json st = ApiState();
  ASSERT_EQ(st["patches"], 2) << st.dump();
  EXPECT_EQ(st["image"], previous);
  EXPECT_EQ(st["deleted_pods"], nlohmann::json::array({"teleport-agent-1"})) << st.dump();
  EXPECT_TRUE(t::PollUntil(absl::Seconds(10), [&] { return PodsAllOn(previous); })) << ApiState().dump();
  std::vector<std::string> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(events[0], "3 1.0.0->1.2.0")) << events[0];
  EXPECT_EQ(Reported("current_version"), "1.0.0");
  EXPECT_EQ(Reported("health"), "1");
}

// Without the forced rollback the same StatefulSet stays broken: what the
// test above relies on is the stand-in's OrderedReady, not luck.
TEST_F(KubeUpdaterE2eTest, StatefulSetStandInWaitsOnABrokenPodAfterTheTemplateIsPutBack) {
  StartApiServer({.image = Image("1.0.0"), .kind = "statefulset"});
  const std::string bad = Image("1.2.0");
  // As a person would, with kubectl set image.
  auto set_image = [&](const std::string& image) {
    CommandResult r = RunCommand(
        {"curl", "-fsS", "-X", "PATCH", "-H", "Authorization: Bearer good-token", "-H",
         "Content-Type: application/json-patch+json", "--data-binary",
         R"([{"op":"replace","path":"/spec/template/spec/containers/0/image","value":")" + image + R"("}])",
         absl::StrCat("http://", Api(), "/apis/apps/v1/namespaces/teleport/statefulsets/teleport-agent")});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.exit_code == 0;
  };
  ASSERT_TRUE(set_image(bad));
  auto restarts_of_1 = [&] {
    const nlohmann::json st = ApiState();
    for (const auto& p : st["pods"]) {
      if (p["metadata"]["name"] == "teleport-agent-1" && p["spec"]["containers"][0]["image"] == bad) {
        return p["status"]["containerStatuses"][0]["restartCount"].get<int>();
      }
    }
    return 0;
  };
  ASSERT_TRUE(t::PollUntil(absl::Seconds(10), [&] { return restarts_of_1() >= 2; })) << ApiState().dump();
  ASSERT_TRUE(set_image(Image("1.0.0")));
  const int before = restarts_of_1();
  // Still there, still on the failed image, a few restarts later.
  ASSERT_TRUE(t::PollUntil(absl::Seconds(10), [&] { return restarts_of_1() >= before + 3; })) << ApiState().dump();
}

// Flags it cannot work with: exit 2, naming the flag and the value, before
// anything is read or patched.
TEST_F(KubeUpdaterE2eTest, BadFlagsAreRefusedNamingThem) {
  const std::vector<std::string> good = {
      "--once", "--coordinator=127.0.0.1:1", "--channel=kube", "--namespace=teleport", "--cluster=prod-eu",
      "--workload=deployment/teleport-agent", "--public_key_file=" + cosign_->public_key,
      "--root_public_key_file=" + *dir_ + "/root/root.pub", "--state_dir=" + work_ + "/state",
      "--kube_api=http://127.0.0.1:1", "--kube_token_file=" + work_ + "/token"};
  struct Case {
    std::string flag;   // replaces the flag of that name ("" value: removes it)
    std::string value;
    std::string said;
  };
  for (const Case& c : std::vector<Case>{
           {"--workload", "daemonset/teleport-agent", "kind \"daemonset\" is not deployment or statefulset"},
           {"--workload", "teleport-agent", "want KIND/NAME"},
           {"--cluster", "", "--cluster is required"},
           {"--cluster", "prod eu", "prod eu"},
           {"--channel", "", "--coordinator and --channel are required"},
           {"--public_key_file", "", "--public_key_file (the cosign key images must be signed with) is required"},
           {"--public_key_file", work_ + "/token", "--public_key_file"},
           {"--root_public_key_file", "", "--root_public_key_file is required"},
           {"--kube_watch_timeout", "0s", "--kube_watch_timeout=0: want at least 1s"}}) {
    SCOPED_TRACE(c.flag + "=" + c.value);
    std::vector<std::string> argv = {BinaryPath("drover-kube-updater")};
    bool replaced = false;
    for (const std::string& a : good) {
      if (absl::StartsWith(a, c.flag + "=")) {
        replaced = true;
        if (!c.value.empty()) argv.push_back(c.flag + "=" + c.value);
      } else {
        argv.push_back(a);
      }
    }
    if (!replaced) argv.push_back(c.flag + "=" + c.value);
    CommandResult r = RunCommand(argv, absl::Seconds(30));
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_TRUE(absl::StrContains(r.output, c.said)) << r.output;
  }
  // Nothing was started: no state directory was made.
  EXPECT_NE(access((work_ + "/state").c_str(), F_OK), 0);
}

// SIGTERM (a drain) while a rollout is being watched: the updater exits at
// once rather than hold the pod for the whole watch, and the next start
// finds the update in progress in its state directory, watches the rollout
// again and reports the outcome.
TEST_F(KubeUpdaterE2eTest, SigtermDuringTheRolloutWatchIsTakenUpByTheNextStart) {
  StartCoordinator("1.1.0", /*critical=*/false, "1.5.0", absl::Minutes(30));
  StartApiServer({.image = Image("1.0.0"), .schedule = Windows(absl::Hours(-1), absl::Hours(1))});
  std::unique_ptr<t::ChildProcess> daemon = StartDaemon({"--rollout_watch=120s"});
  ASSERT_NE(daemon, nullptr);
  const std::string pinned = Image("1.1.0") + "@" + digests_->at("1.1.0");
  // Patched and rolled out: the pass is now in its 120 s watch.
  ASSERT_TRUE(t::PollUntil(absl::Seconds(30), [&] { return ApiState()["patches"] == 1 && PodsAllOn(pinned); }))
      << daemon->Log();
  const absl::Time stop = absl::Now();
  EXPECT_EQ(daemon->Terminate(absl::Seconds(10)), std::optional<int>(0)) << daemon->Log();
  EXPECT_LT(absl::Now() - stop, absl::Seconds(5));
  EXPECT_TRUE(absl::StrContains(daemon->Log(), "stopping during the rollout watch")) << daemon->Log();
  EXPECT_TRUE(Events().empty());

  CommandResult r = Pass();
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "the previous pass was interrupted while updating to 1.1.0")) << r.output;
  std::vector<std::string> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(events[0], "1 1.0.0->1.1.0")) << events[0];
  EXPECT_EQ(Reported("current_version"), "1.1.0");
  EXPECT_EQ(ApiState()["patches"], 1);
}

}  // namespace
}  // namespace drover
