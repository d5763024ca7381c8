// Installs, upgrades and rolls back the real demo agent from signed tarballs
// made by tests/fixtures/make_tarballs.sh, from a directory and over HTTP.
#include "agent-updater/install/tarball_installer.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <set>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent-updater/health/http_health_check.h"
#include "common/atomic_file.h"
#include "common/status_testing.h"
#include "common/subprocess.h"
#include "tests/support/demo_agent_process.h"
#include "tests/support/test_env.h"
#include "tests/support/test_http_server.h"

namespace drover::updater {
namespace {

namespace fs = std::filesystem;
using drover::testing::IsError;
using drover::testing::TestHttpServer;

std::string MakeTempDir() {
  std::string tmpl = "/tmp/drover-tarball-test-XXXXXX";
  return mkdtemp(tmpl.data()) == nullptr ? "" : tmpl;
}

std::set<std::string> List(const std::string& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.insert(e.path().filename().string());
  return names;
}

// Alive and not a zombie waiting for its reaper.
bool ProcessRuns(pid_t pid) {
  absl::StatusOr<std::string> stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat.ok()) return false;
  const size_t paren = stat->rfind(") ");
  return paren != std::string::npos && stat->size() > paren + 2 && (*stat)[paren + 2] != 'Z';
}

// Runs argv, expecting success; returns the output.
std::string RunOk(const std::vector<std::string>& argv) {
  absl::StatusOr<CommandOutput> out = RunCommand(argv, {.timeout = absl::Seconds(60)});
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return "";
  EXPECT_EQ(out->exit_code, 0) << CommandLineForLog(argv) << ": " << out->output;
  return out->output;
}

class TarballInstallerTest : public ::testing::Test {
 protected:
  // The signed tarballs are made once; each test gets its own copy to tamper with.
  static void SetUpTestSuite() {
    suite_dir_ = new std::string(MakeTempDir());
    RunOk({std::string(DROVER_SOURCE_DIR) + "/tests/fixtures/make_tarballs.sh", *suite_dir_ + "/repo", DROVER_BIN_DIR});
  }
  static void TearDownTestSuite() {
    fs::remove_all(*suite_dir_);
    delete suite_dir_;
  }

  void SetUp() override {
    dir_ = MakeTempDir();
    repo_ = dir_ + "/repo";
    install_dir_ = dir_ + "/agent";
    fs::copy(*suite_dir_ + "/repo", repo_, fs::copy_options::recursive);
    ASSERT_TRUE(fs::exists(repo_ + "/demo-agent-1.0.0.tar.gz")) << "make_tarballs.sh made no tarballs";
  }
  void TearDown() override { fs::remove_all(dir_); }

  drover::v1::TarballInstaller Config(const std::string& base) const {
    drover::v1::TarballInstaller c;
    c.set_base(base);
    c.set_public_key_file(repo_ + "/tarball-key.pub.pem");
    c.set_install_dir(install_dir_);
    return c;
  }

  std::unique_ptr<TarballInstaller> Make(const std::string& base) {
    absl::StatusOr<std::unique_ptr<TarballInstaller>> i = TarballInstaller::Create("demo-agent", Config(base));
    EXPECT_TRUE(i.ok()) << i.status();
    return i.ok() ? std::move(*i) : nullptr;
  }

  std::optional<std::string> Installed(TarballInstaller& installer) {
    absl::StatusOr<std::optional<std::string>> v = installer.InstalledVersion();
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : std::nullopt;
  }

  // What the installed binary itself says.
  std::string RunningVersion() {
    return std::string(absl::StripAsciiWhitespace(RunOk({install_dir_ + "/current/bin/demo-agent", "--version"})));
  }

  std::set<std::string> Versions() { return List(install_dir_ + "/versions"); }

  void Corrupt(const std::string& path, size_t offset) {
    absl::StatusOr<std::string> data = ReadFile(path);
    ASSERT_TRUE(data.ok()) << data.status();
    ASSERT_LT(offset, data->size());
    (*data)[offset] ^= 0x20;
    ASSERT_TRUE(WriteFileAtomically(path, *data).ok());
  }

  // Installs 1.0.0 and checks the refused `version` changed nothing.
  void ExpectRefusedLeavesOld(TarballInstaller& installer, const std::string& version,
                              std::initializer_list<absl::string_view> fragments) {
    ASSERT_TRUE(installer.Install("1.0.0").ok());
    EXPECT_TRUE(IsError(installer.Install(version), absl::StatusCode::kPermissionDenied, fragments));
    EXPECT_EQ(Installed(installer), "1.0.0");
    EXPECT_EQ(RunningVersion(), "1.0.0");
    EXPECT_EQ(Versions(), (std::set<std::string>{"1.0.0"}));
  }

  static std::string* suite_dir_;
  std::string dir_;
  std::string repo_;
  std::string install_dir_;
};
std::string* TarballInstallerTest::suite_dir_ = nullptr;

TEST_F(TarballInstallerTest, InstallUpgradeRollbackFromDirectory) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  EXPECT_EQ(installer->Name(), "tarball");
  EXPECT_EQ(Installed(*installer), std::nullopt);

  ASSERT_TRUE(installer->Install("1.0.0").ok());
  EXPECT_EQ(Installed(*installer), "1.0.0");
  EXPECT_EQ(RunningVersion(), "1.0.0");
  EXPECT_EQ(fs::read_symlink(install_dir_ + "/current"), "versions/1.0.0");

  ASSERT_TRUE(installer->Install("1.1.0").ok());
  EXPECT_EQ(Installed(*installer), "1.1.0");
  EXPECT_EQ(RunningVersion(), "1.1.0");
  EXPECT_EQ(Versions(), (std::set<std::string>{"1.0.0", "1.1.0"}));

  // The kept version is used: it no longer needs to exist at the source.
  fs::remove(repo_ + "/demo-agent-1.0.0.tar.gz");
  ASSERT_TRUE(installer->Rollback("1.0.0").ok());
  EXPECT_EQ(Installed(*installer), "1.0.0");
  EXPECT_EQ(RunningVersion(), "1.0.0");
  // The version rolled back from is broken: not kept.
  EXPECT_EQ(Versions(), (std::set<std::string>{"1.0.0"}));
  // Nothing but the layout is left around.
  EXPECT_EQ(List(install_dir_), (std::set<std::string>{"current", "versions"}));
}

TEST_F(TarballInstallerTest, KeepsOnlyCurrentAndPrevious) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  for (const char* v : {"1.0.0", "1.1.0", "1.2.0"}) ASSERT_TRUE(installer->Install(v).ok()) << v;
  EXPECT_EQ(Versions(), (std::set<std::string>{"1.1.0", "1.2.0"}));
  // Re-installing the current version keeps the previous one.
  ASSERT_TRUE(installer->Install("1.2.0").ok());
  EXPECT_EQ(Versions(), (std::set<std::string>{"1.1.0", "1.2.0"}));
  // A version that is no longer kept is fetched again.
  ASSERT_TRUE(installer->Rollback("1.0.0").ok());
  EXPECT_EQ(Installed(*installer), "1.0.0");
  EXPECT_EQ(RunningVersion(), "1.0.0");
  EXPECT_EQ(Versions(), (std::set<std::string>{"1.0.0"}));
}

// The README's promise: the current and the last good version are kept, the
// broken one is not (issue 12 item 3: after a roll-back from 1.3.0,
// versions/ held 1.2.0 and the broken 1.3.0, and 1.1.0 was gone).
TEST_F(TarballInstallerTest, KeepsTheLastGoodVersionNotTheBrokenOne) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  for (const char* v : {"1.0.0", "1.1.0", "1.2.0"}) {
    ASSERT_TRUE(installer->Install(v).ok()) << v;
    ASSERT_TRUE(installer->MarkGood(v).ok()) << v;
  }
  EXPECT_EQ(Versions(), (std::set<std::string>{"1.1.0", "1.2.0"}));
  // While 1.3.0 is watched: it, the roll-back target and the last good before.
  ASSERT_TRUE(installer->Install("1.3.0").ok());
  EXPECT_EQ(Versions(), (std::set<std::string>{"1.1.0", "1.2.0", "1.3.0"}));
  ASSERT_TRUE(installer->Rollback("1.2.0").ok());
  EXPECT_EQ(Installed(*installer), "1.2.0");
  EXPECT_EQ(Versions(), (std::set<std::string>{"1.1.0", "1.2.0"}));
  // A good update leaves the current and the last good one.
  ASSERT_TRUE(installer->Install("1.3.0").ok());
  ASSERT_TRUE(installer->MarkGood("1.3.0").ok());
  EXPECT_EQ(Versions(), (std::set<std::string>{"1.2.0", "1.3.0"}));
  EXPECT_EQ(RunningVersion(), "1.3.0");
}

TEST_F(TarballInstallerTest, InstallFromHttpBase) {
  TestHttpServer server(TestHttpServer::ServeDirectory(repo_));
  auto installer = Make(server.Url("/"));
  ASSERT_NE(installer, nullptr);
  ASSERT_TRUE(installer->Install("1.0.0").ok());
  EXPECT_EQ(RunningVersion(), "1.0.0");
  ASSERT_TRUE(installer->Install("1.2.0").ok());
  EXPECT_EQ(RunningVersion(), "1.2.0");
  const int requests = server.requests();
  EXPECT_EQ(requests, 4);  // a tarball and a signature per install
  ASSERT_TRUE(installer->Rollback("1.0.0").ok());
  EXPECT_EQ(RunningVersion(), "1.0.0");
  EXPECT_EQ(server.requests(), requests);  // the kept copy, no download
  ASSERT_TRUE(installer->Install("1.1.0").ok());
  EXPECT_EQ(Versions(), (std::set<std::string>{"1.0.0", "1.1.0"}));

  EXPECT_TRUE(IsError(installer->Install("9.9.9"), absl::StatusCode::kNotFound, {"9.9.9", "404"}));
  EXPECT_EQ(Installed(*installer), "1.1.0");
}

TEST_F(TarballInstallerTest, TamperedTarballOverHttpIsRefused) {
  TestHttpServer::Handler files = TestHttpServer::ServeDirectory(repo_);
  TestHttpServer server([&](const std::string& path) {
    TestHttpServer::Response r = files(path);
    if (path == "/demo-agent-1.1.0.tar.gz") r.body[r.body.size() / 2] ^= 0x01;
    return r;
  });
  auto installer = Make(server.Url());
  ASSERT_NE(installer, nullptr);
  ExpectRefusedLeavesOld(*installer, "1.1.0", {server.Url("/demo-agent-1.1.0.tar.gz"), "does not verify"});
}

TEST_F(TarballInstallerTest, TamperedTarballIsRefused) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  Corrupt(repo_ + "/demo-agent-1.1.0.tar.gz", 1000);
  ExpectRefusedLeavesOld(*installer, "1.1.0", {"demo-agent-1.1.0.tar.gz", "does not verify"});
}

TEST_F(TarballInstallerTest, TamperedSignatureIsRefused) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  Corrupt(repo_ + "/demo-agent-1.1.0.tar.gz.sig", 5);
  ExpectRefusedLeavesOld(*installer, "1.1.0", {"demo-agent-1.1.0.tar.gz", "does not verify"});
}

TEST_F(TarballInstallerTest, TruncatedSignatureIsRefused) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  ASSERT_TRUE(WriteFileAtomically(repo_ + "/demo-agent-1.1.0.tar.gz.sig", "short").ok());
  ExpectRefusedLeavesOld(*installer, "1.1.0", {"demo-agent-1.1.0.tar.gz", "64"});
}

TEST_F(TarballInstallerTest, MissingSignatureIsRefused) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  fs::remove(repo_ + "/demo-agent-1.1.0.tar.gz.sig");
  ExpectRefusedLeavesOld(*installer, "1.1.0", {"no signature", "demo-agent-1.1.0.tar.gz.sig", "unsigned"});
}

TEST_F(TarballInstallerTest, SignedWithAnotherKeyIsRefused) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  const std::string other = dir_ + "/other.pem";
  RunOk({"openssl", "genpkey", "-algorithm", "ed25519", "-out", other});
  const std::string tarball = repo_ + "/demo-agent-1.1.0.tar.gz";
  RunOk({"openssl", "pkeyutl", "-sign", "-inkey", other, "-rawin", "-in", tarball, "-out", tarball + ".sig"});
  ExpectRefusedLeavesOld(*installer, "1.1.0", {"demo-agent-1.1.0.tar.gz", "does not verify"});
}

TEST_F(TarballInstallerTest, MissingVersionIsNotFound) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  ASSERT_TRUE(installer->Install("1.0.0").ok());
  EXPECT_TRUE(IsError(installer->Install("2.0.0"), absl::StatusCode::kNotFound, {"demo-agent", "2.0.0"}));
  EXPECT_EQ(Installed(*installer), "1.0.0");
}

TEST_F(TarballInstallerTest, RefusesVersionsThatAreNotSemver) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  for (const char* bad : {"", "1.0", "../1.0.0", "1.0.0/../../etc", "1.0.0 ", "latest", "01.0.0"}) {
    EXPECT_EQ(installer->Install(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(installer->Rollback(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(fs::exists(install_dir_ + "/versions"));
}

// What a kill during an earlier Install leaves behind: a half-unpacked
// version, a temporary symlink, a staged download. `current` still names the
// old version, and the next Install cleans up.
TEST_F(TarballInstallerTest, LeftoversOfAnInterruptedInstallAreCleaned) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  ASSERT_TRUE(installer->Install("1.0.0").ok());
  fs::create_directories(install_dir_ + "/versions/1.1.0.partial/bin");
  ASSERT_TRUE(WriteFileAtomically(install_dir_ + "/versions/1.1.0.partial/bin/demo-agent", "half").ok());
  fs::create_directories(install_dir_ + "/versions/1.2.0.partial");
  fs::create_directories(install_dir_ + "/staging");
  ASSERT_TRUE(WriteFileAtomically(install_dir_ + "/staging/demo-agent-1.1.0.tar.gz", "half a download").ok());
  fs::create_symlink("versions/1.1.0.partial", install_dir_ + "/.current.tmp.99999");

  EXPECT_EQ(Installed(*installer), "1.0.0");
  EXPECT_EQ(RunningVersion(), "1.0.0");

  ASSERT_TRUE(installer->Install("1.1.0").ok());
  EXPECT_EQ(RunningVersion(), "1.1.0");
  EXPECT_EQ(Versions(), (std::set<std::string>{"1.0.0", "1.1.0"}));
  EXPECT_EQ(List(install_dir_), (std::set<std::string>{"current", "versions"}));
}

// Killed after the rename of the unpacked version but before the switch: the
// complete directory is reused (after the tarball verified again).
TEST_F(TarballInstallerTest, CompleteUnswitchedVersionIsReused) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  ASSERT_TRUE(installer->Install("1.0.0").ok());
  ASSERT_TRUE(installer->Install("1.1.0").ok());
  ASSERT_TRUE(installer->Install("1.0.0").ok());  // forward to a lower version: 1.1.0 stays
  ASSERT_TRUE(WriteFileAtomically(install_dir_ + "/versions/1.1.0/marker", "kept").ok());
  ASSERT_TRUE(installer->Install("1.1.0").ok());
  EXPECT_TRUE(fs::exists(install_dir_ + "/versions/1.1.0/marker"));
  EXPECT_EQ(RunningVersion(), "1.1.0");
}

// A real kill: a child process installs and is SIGKILLed as soon as the
// install reaches a given step; whatever the step, `current` names a complete
// version and the next Install succeeds.
TEST_F(TarballInstallerTest, SigkillAtEachStepLeavesACompleteVersion) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  ASSERT_TRUE(installer->Install("1.0.0").ok());
  auto any_partial = [&] {
    for (const std::string& name : Versions()) {
      if (name.find(".partial") != std::string::npos) return true;
    }
    return false;
  };
  auto current_is = [&](const std::string& v) {
    std::error_code ec;
    return fs::read_symlink(install_dir_ + "/current", ec) == fs::path("versions/" + v);
  };
  struct Step {
    const char* name;
    std::function<bool(const std::string& target)> reached;
  };
  const std::vector<Step> steps = {
      {"started", [&](const std::string&) { return true; }},
      {"downloading", [&](const std::string&) { return fs::exists(install_dir_ + "/staging"); }},
      {"unpacking", [&](const std::string&) { return any_partial(); }},
      {"unpacked", [&](const std::string& t) { return fs::exists(install_dir_ + "/versions/" + t); }},
      {"switched", [&](const std::string& t) { return current_is(t); }},
  };
  for (const Step& step : steps) {
    for (const char* target : {"1.1.0", "1.2.0"}) {
      const pid_t child = fork();
      ASSERT_GE(child, 0);
      if (child == 0) {
        (void)installer->Install(target);
        _exit(0);
      }
      // A tight poll: the steps last milliseconds.
      const absl::Time deadline = absl::Now() + absl::Seconds(20);
      while (!step.reached(target) && absl::Now() < deadline && waitpid(child, nullptr, WNOHANG) == 0) {
      }
      kill(child, SIGKILL);
      waitpid(child, nullptr, 0);
      absl::StatusOr<std::optional<std::string>> v = installer->InstalledVersion();
      ASSERT_TRUE(v.ok()) << v.status();
      ASSERT_TRUE(v->has_value()) << step.name;
      EXPECT_EQ(RunningVersion(), **v) << "killed at step " << step.name << " installing " << target;
    }
  }
  ASSERT_TRUE(installer->Install("1.0.0").ok());
  EXPECT_EQ(RunningVersion(), "1.0.0");
  // Eventually clean, once orphaned `tar`s are gone.
  EXPECT_TRUE(drover::testing::PollUntil(absl::Seconds(10), [&] {
    (void)installer->Install("1.0.0");
    return !any_partial() && List(install_dir_) == std::set<std::string>{"current", "versions"};
  })) << "leftovers remain";
}

TEST_F(TarballInstallerTest, InstalledVersionEdgeCases) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  fs::create_directories(install_dir_ + "/versions");
  fs::create_symlink("versions/1.0.0", install_dir_ + "/current");  // dangles
  EXPECT_EQ(Installed(*installer), std::nullopt);
  fs::remove(install_dir_ + "/current");
  fs::create_directories(install_dir_ + "/current");
  EXPECT_TRUE(IsError(installer->InstalledVersion().status(), absl::StatusCode::kFailedPrecondition,
                      {"not a symlink"}));
  // It does not replace a real directory a person put there.
  EXPECT_FALSE(installer->Install("1.0.0").ok());
  EXPECT_TRUE(fs::is_directory(fs::symlink_status(install_dir_ + "/current")));
}

TEST_F(TarballInstallerTest, ConfigurationIsValidated) {
  using Code = absl::StatusCode;
  auto create = [&](const std::string& name, const drover::v1::TarballInstaller& c) {
    return TarballInstaller::Create(name, c).status();
  };
  drover::v1::TarballInstaller c = Config(repo_);
  EXPECT_TRUE(create("demo-agent", c).ok());
  EXPECT_TRUE(IsError(create("../x", c), Code::kInvalidArgument, {"agent.name"}));
  EXPECT_TRUE(IsError(create("", c), Code::kInvalidArgument, {"agent.name"}));

  c = Config("");
  EXPECT_TRUE(IsError(create("demo-agent", c), Code::kInvalidArgument, {"agent.tarball.base"}));
  c = Config("https://example.org/tarballs");
  EXPECT_TRUE(create("demo-agent", c).ok());
  c = Config("ftp://example.org/tarballs");
  EXPECT_TRUE(IsError(create("demo-agent", c), Code::kInvalidArgument, {"agent.tarball.base"}));
  c = Config("file://" + repo_);
  EXPECT_TRUE(create("demo-agent", c).ok());

  c = Config(repo_);
  c.clear_public_key_file();
  EXPECT_TRUE(IsError(create("demo-agent", c), Code::kInvalidArgument, {"agent.tarball.public_key_file"}));
  c.set_public_key_file(repo_ + "/demo-agent-1.0.0.tar.gz.sig");
  EXPECT_TRUE(IsError(create("demo-agent", c), Code::kInvalidArgument,
                      {"agent.tarball.public_key_file", "demo-agent-1.0.0.tar.gz.sig"}));
  c.set_public_key_file(repo_ + "/tarball-key.pem");  // the private key
  EXPECT_FALSE(create("demo-agent", c).ok());
  c.set_public_key_file(dir_ + "/missing.pem");
  EXPECT_TRUE(IsError(create("demo-agent", c), Code::kNotFound, {"agent.tarball.public_key_file", "missing.pem"}));

  c = Config(repo_);
  c.clear_install_dir();
  EXPECT_TRUE(IsError(create("demo-agent", c), Code::kInvalidArgument, {"agent.tarball.install_dir"}));
}

// The whole tarball flow as the updater drives it: install, restart with
// restart.sh, check health, upgrade to a broken build, roll back.
TEST_F(TarballInstallerTest, RestartScriptAndHealthWithRealAgent) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  const int port = drover::testing::FreePort();
  const std::string pid_file = dir_ + "/agent.pid";
  const std::vector<std::string> restart = {std::string(DROVER_SOURCE_DIR) + "/tests/fixtures/demo-agent/restart.sh",
                                            install_dir_, std::to_string(port), pid_file};
  HttpHealthCheck version_check(absl::StrCat("http://127.0.0.1:", port, "/readyz"), 200, absl::Seconds(2));
  auto served_version = [&] {
    absl::StatusOr<HttpResponse> r = HttpGet(absl::StrCat("http://127.0.0.1:", port, "/version"));
    return r.ok() ? std::string(absl::StripAsciiWhitespace(r->body)) : std::string();
  };
  struct StopAgent {
    std::string pid_file;
    ~StopAgent() {
      pid_t pid = drover::testing::ReadPidFile(pid_file);
      if (pid > 0) kill(pid, SIGKILL);
    }
  } stop{pid_file};

  ASSERT_TRUE(installer->Install("1.0.0").ok());
  RunOk(restart);
  ASSERT_TRUE(drover::testing::PollUntil(absl::Seconds(10), [&] { return served_version() == "1.0.0"; }));
  EXPECT_TRUE(version_check.Check().ok());
  const pid_t first = drover::testing::ReadPidFile(pid_file);

  ASSERT_TRUE(installer->Install("1.1.0").ok());
  RunOk(restart);
  ASSERT_TRUE(drover::testing::PollUntil(absl::Seconds(10), [&] { return served_version() == "1.1.0"; }));
  EXPECT_NE(drover::testing::ReadPidFile(pid_file), first);
  EXPECT_FALSE(ProcessRuns(first)) << "the old agent still runs";

  ASSERT_TRUE(installer->Install("1.3.0").ok());  // the broken build
  RunOk(restart);
  ASSERT_TRUE(drover::testing::PollUntil(absl::Seconds(10), [&] { return served_version() == "1.3.0"; }));
  EXPECT_TRUE(IsError(version_check.Check(), absl::StatusCode::kUnavailable,
                      {"HTTP 503", "want 200", "unhealthy 1.3.0"}));

  ASSERT_TRUE(installer->Rollback("1.1.0").ok());
  RunOk(restart);
  ASSERT_TRUE(drover::testing::PollUntil(absl::Seconds(10), [&] { return served_version() == "1.1.0"; }));
  EXPECT_TRUE(version_check.Check().ok());
  absl::StatusOr<std::string> log = ReadFile(install_dir_ + "/agent.log");
  ASSERT_TRUE(log.ok());
  EXPECT_NE(log->find("demo-agent 1.3.0 (unhealthy build) listening"), std::string::npos) << *log;
}

}  // namespace
}  // namespace drover::updater
