// Installs, upgrades and rolls back the real demo agent from tarballs with
// signed manifests made by tests/fixtures/make_tarballs.sh, from a directory
// and over HTTP; refuses whatever does not match its manifest.
#include "agent-updater/install/tarball_installer.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <set>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent-updater/health/http_health_check.h"
#include "common/atomic_file.h"
#include "common/status_testing.h"
#include "common/subprocess.h"
#include "tests/support/demo_agent_process.h"
#include "tests/support/signed_tarballs.h"
#include "tests/support/test_env.h"
#include "tests/support/test_http_server.h"

namespace drover::updater {
namespace {

namespace fs = std::filesystem;
using drover::testing::IsError;
using drover::testing::RunOk;
using drover::testing::TestHttpServer;

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

class TarballInstallerTest : public drover::testing::SignedTarballsTest {
 protected:
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

  // The version directories (markers are checked to go with them).
  std::set<std::string> Versions() {
    std::set<std::string> versions;
    std::set<std::string> markers;
    for (const std::string& name : List(install_dir_ + "/versions")) {
      if (absl::EndsWith(name, ".verified")) {
        markers.insert(std::string(absl::StripSuffix(name, ".verified")));
      } else {
        versions.insert(name);
      }
    }
    for (const std::string& m : markers) EXPECT_TRUE(versions.contains(m)) << "marker without directory: " << m;
    return versions;
  }

  // Signs `file` (in the repository) as demo-agent `version` with the
  // fixture's release key, or another key file.
  void SignManifest(const std::string& file, const std::string& version, const std::string& name = "demo-agent",
                    const std::string& key = "") {
    RunOk({std::string(DROVER_BIN_DIR) + "/drover-artifact", "sign",
           "--key_file=" + (key.empty() ? repo_ + "/tarball-key.pem" : key), "--name=" + name, "--version=" + version,
           file});
  }

  // Nothing but 1.0.0 installed, nothing left in staging.
  void ExpectOnly100() {
    EXPECT_EQ(Installed(*Make(repo_)), "1.0.0");
    EXPECT_EQ(RunningVersion(), "1.0.0");
    EXPECT_EQ(Versions(), (std::set<std::string>{"1.0.0"}));
    EXPECT_EQ(List(install_dir_), (std::set<std::string>{"current", "versions"}));
  }

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

};

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
  EXPECT_EQ(requests, 4);  // a manifest and a tarball per install
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
  ExpectRefusedLeavesOld(*installer, "1.1.0",
                         {server.Url("/demo-agent-1.1.0.tar.gz"), "SHA-256", "signed manifest", "refusing"});
}

TEST_F(TarballInstallerTest, TamperedTarballIsRefused) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  Corrupt(repo_ + "/demo-agent-1.1.0.tar.gz", 1000);
  ExpectRefusedLeavesOld(*installer, "1.1.0", {"demo-agent-1.1.0.tar.gz", "has SHA-256", "signed manifest says"});
}

TEST_F(TarballInstallerTest, TamperedManifestIsRefused) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  Corrupt(repo_ + "/demo-agent-1.1.0.tar.gz.manifest", 5);
  ExpectRefusedLeavesOld(*installer, "1.1.0", {"demo-agent-1.1.0.tar.gz.manifest", "refusing"});
}

TEST_F(TarballInstallerTest, TruncatedManifestIsRefused) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  ASSERT_TRUE(WriteFileAtomically(repo_ + "/demo-agent-1.1.0.tar.gz.manifest", "short").ok());
  ExpectRefusedLeavesOld(*installer, "1.1.0", {"demo-agent-1.1.0.tar.gz.manifest", "not a signed artifact manifest"});
}

// The old format: a detached .sig over the bytes only, which is what let a
// renamed tarball through. Refused, saying what to publish.
TEST_F(TarballInstallerTest, SigOnlyArtifactIsRefused) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  const std::string tarball = repo_ + "/demo-agent-1.1.0.tar.gz";
  fs::remove(tarball + ".manifest");
  RunOk({"openssl", "pkeyutl", "-sign", "-inkey", repo_ + "/tarball-key.pem", "-rawin", "-in", tarball, "-out",
         tarball + ".sig"});
  ExpectRefusedLeavesOld(*installer, "1.1.0",
                         {"no signed manifest", "demo-agent-1.1.0.tar.gz.manifest", "detached .sig",
                          "drover-artifact sign", "--version=1.1.0"});
}

TEST_F(TarballInstallerTest, MissingManifestIsNotFound) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  ASSERT_TRUE(installer->Install("1.0.0").ok());
  fs::remove(repo_ + "/demo-agent-1.1.0.tar.gz.manifest");
  EXPECT_TRUE(IsError(installer->Install("1.1.0"), absl::StatusCode::kNotFound,
                      {"1.1.0 is not available", "demo-agent-1.1.0.tar.gz.manifest"}));
  ExpectOnly100();
}

TEST_F(TarballInstallerTest, SignedWithAnotherKeyIsRefused) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  const std::string other = dir_ + "/other.pem";
  RunOk({"openssl", "genpkey", "-algorithm", "ed25519", "-out", other});
  SignManifest(repo_ + "/demo-agent-1.1.0.tar.gz", "1.1.0", "demo-agent", other);
  ExpectRefusedLeavesOld(*installer, "1.1.0", {"demo-agent-1.1.0.tar.gz.manifest", "does not verify"});
}

// The attack: a signed 13.0.0 renamed 14.0.0, its manifest with it.
TEST_F(TarballInstallerTest, RenamedTarballIsRefused) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  const std::string v13 = repo_ + "/demo-agent-13.0.0.tar.gz";
  fs::copy_file(repo_ + "/demo-agent-1.0.0.tar.gz", v13);
  SignManifest(v13, "13.0.0");
  ASSERT_TRUE(installer->Install("13.0.0").ok());  // genuinely signed as 13.0.0
  ASSERT_TRUE(installer->Install("1.0.0").ok());
  fs::copy_file(v13, repo_ + "/demo-agent-14.0.0.tar.gz");
  fs::copy_file(v13 + ".manifest", repo_ + "/demo-agent-14.0.0.tar.gz.manifest");
  EXPECT_TRUE(IsError(installer->Install("14.0.0"), absl::StatusCode::kPermissionDenied,
                      {"demo-agent-14.0.0.tar.gz.manifest", "version \"13.0.0\"", "not \"14.0.0\""}));
  EXPECT_EQ(RunningVersion(), "1.0.0");
  EXPECT_EQ(Versions(), (std::set<std::string>{"1.0.0", "13.0.0"}));
  EXPECT_FALSE(fs::exists(install_dir_ + "/staging"));
  // With 13.0.0's old-style .sig instead: refused as well.
  fs::remove(repo_ + "/demo-agent-14.0.0.tar.gz.manifest");
  RunOk({"openssl", "pkeyutl", "-sign", "-inkey", repo_ + "/tarball-key.pem", "-rawin", "-in", v13, "-out",
         repo_ + "/demo-agent-14.0.0.tar.gz.sig"});
  EXPECT_TRUE(IsError(installer->Install("14.0.0"), absl::StatusCode::kPermissionDenied, {"detached .sig"}));
  EXPECT_EQ(RunningVersion(), "1.0.0");
}

TEST_F(TarballInstallerTest, ManifestForAnotherNameIsRefused) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  const std::string other = repo_ + "/other-agent-1.1.0.tar.gz";
  fs::copy_file(repo_ + "/demo-agent-1.1.0.tar.gz", other);
  SignManifest(other, "1.1.0", "other-agent");
  fs::copy_file(other + ".manifest", repo_ + "/demo-agent-1.1.0.tar.gz.manifest",
                fs::copy_options::overwrite_existing);
  ExpectRefusedLeavesOld(*installer, "1.1.0", {"artifact \"other-agent\"", "not \"demo-agent\""});
}

// A genuine manifest, another file beside it: the size gives it away before
// the digest is even compared.
TEST_F(TarballInstallerTest, WrongSizeIsRefused) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  const std::string tarball = repo_ + "/demo-agent-1.1.0.tar.gz";
  absl::StatusOr<std::string> data = ReadFile(tarball);
  ASSERT_TRUE(data.ok());
  ASSERT_TRUE(WriteFileAtomically(tarball, *data + "trailing bytes").ok());
  ExpectRefusedLeavesOld(*installer, "1.1.0", {"demo-agent-1.1.0.tar.gz", "larger than its signed manifest says"});
  ASSERT_TRUE(WriteFileAtomically(tarball, data->substr(0, data->size() - 1)).ok());
  EXPECT_TRUE(IsError(installer->Install("1.1.0"), absl::StatusCode::kPermissionDenied,
                      {absl::StrCat("is ", data->size() - 1, " bytes but its signed manifest says ", data->size())}));
  ExpectOnly100();
}

TEST_F(TarballInstallerTest, ManifestWithoutTarballIsNotFound) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  ASSERT_TRUE(installer->Install("1.0.0").ok());
  fs::remove(repo_ + "/demo-agent-1.1.0.tar.gz");
  EXPECT_TRUE(IsError(installer->Install("1.1.0"), absl::StatusCode::kNotFound,
                      {"1.1.0 has a manifest but no tarball", "demo-agent-1.1.0.tar.gz"}));
  ExpectOnly100();
}

// The manifest's size is checked against the download limit before
// anything is fetched.
TEST_F(TarballInstallerTest, ManifestAboveTheDownloadLimitIsRefused) {
  drover::v1::TarballInstaller c = Config(repo_);
  TarballInstaller::Options options;
  options.fetch.max_body_bytes = 1000;
  absl::StatusOr<std::unique_ptr<TarballInstaller>> installer = TarballInstaller::Create("demo-agent", c, options);
  ASSERT_TRUE(installer.ok()) << installer.status();
  EXPECT_TRUE(IsError((*installer)->Install("1.0.0"), absl::StatusCode::kResourceExhausted,
                      {"demo-agent-1.0.0.tar.gz.manifest", "more than the limit of 1000"}));
  EXPECT_FALSE(fs::exists(install_dir_ + "/current"));
}

// The release tool checks as the updater does, and refuses a file named
// for another version.
TEST_F(TarballInstallerTest, DroverArtifactVerifyAndNaming) {
  const std::string tool = std::string(DROVER_BIN_DIR) + "/drover-artifact";
  const std::string tarball = repo_ + "/demo-agent-1.1.0.tar.gz";
  auto run = [&](const std::vector<std::string>& argv) {
    absl::StatusOr<CommandOutput> out = RunCommand(argv, {.timeout = absl::Seconds(30)});
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? *out : CommandOutput{};
  };
  CommandOutput ok = run({tool, "verify", "--public_key_file=" + repo_ + "/tarball-key.pub.pem", "--name=demo-agent",
                          "--version=1.1.0", tarball});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_TRUE(absl::StrContains(ok.output, "OK, demo-agent 1.1.0")) << ok.output;
  CommandOutput wrong = run({tool, "verify", "--public_key_file=" + repo_ + "/tarball-key.pub.pem",
                             "--name=demo-agent", "--version=1.2.0", tarball});
  EXPECT_EQ(wrong.exit_code, 2) << wrong.output;
  EXPECT_TRUE(absl::StrContains(wrong.output, "is not named demo-agent-1.2.0.tar.gz")) << wrong.output;
  Corrupt(tarball, 1000);
  CommandOutput tampered = run({tool, "verify", "--public_key_file=" + repo_ + "/tarball-key.pub.pem",
                                "--name=demo-agent", "--version=1.1.0", tarball});
  EXPECT_EQ(tampered.exit_code, 1) << tampered.output;
  EXPECT_TRUE(absl::StrContains(tampered.output, "does not match its manifest")) << tampered.output;
  CommandOutput no_key = run({tool, "sign", "--name=demo-agent", "--version=1.1.0", tarball});
  EXPECT_EQ(no_key.exit_code, 2) << no_key.output;
  EXPECT_TRUE(absl::StrContains(no_key.output, "--key_file")) << no_key.output;
}

TEST_F(TarballInstallerTest, TruncatedDownloadIsRefused) {
  TestHttpServer::Handler files = TestHttpServer::ServeDirectory(repo_);
  TestHttpServer server([&](const std::string& path) {
    TestHttpServer::Response r = files(path);
    if (path == "/demo-agent-1.1.0.tar.gz") r.body.resize(r.body.size() / 2);
    return r;
  });
  auto installer = Make(server.Url());
  ASSERT_NE(installer, nullptr);
  ExpectRefusedLeavesOld(*installer, "1.1.0", {"demo-agent-1.1.0.tar.gz", "signed manifest says", "truncated"});
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
// complete directory is reused, as its marker holds the same manifest.
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

// A versions/<v> that was not unpacked from a verified tarball (no marker:
// an older updater, an interrupted install, someone else) is replaced, even
// the one `current` points at, and never rolled back to.
TEST_F(TarballInstallerTest, UnverifiedVersionDirectoryIsNotReused) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  ASSERT_TRUE(installer->Install("1.0.0").ok());
  const std::string planted = install_dir_ + "/versions/1.1.0";
  fs::create_directories(planted + "/bin");
  ASSERT_TRUE(WriteFileAtomically(planted + "/bin/demo-agent", "#!/bin/sh\necho planted\n", 0755).ok());
  ASSERT_TRUE(installer->Install("1.1.0").ok());
  EXPECT_EQ(RunningVersion(), "1.1.0");
  EXPECT_TRUE(fs::exists(planted + ".verified"));

  // Marker gone from the current version: a re-install replaces it in place.
  fs::remove(planted + ".verified");
  ASSERT_TRUE(WriteFileAtomically(planted + "/extra", "planted").ok());
  ASSERT_TRUE(installer->Install("1.1.0").ok());
  EXPECT_FALSE(fs::exists(planted + "/extra"));
  EXPECT_EQ(RunningVersion(), "1.1.0");
  EXPECT_EQ(Versions(), (std::set<std::string>{"1.0.0", "1.1.0"}));

  // A marker copied from another version does not verify for this one.
  fs::copy_file(planted + ".verified", install_dir_ + "/versions/1.0.0.verified",
                fs::copy_options::overwrite_existing);
  ASSERT_TRUE(WriteFileAtomically(install_dir_ + "/versions/1.0.0/extra", "planted").ok());
  ASSERT_TRUE(installer->Rollback("1.0.0").ok());
  EXPECT_EQ(RunningVersion(), "1.0.0");
  EXPECT_FALSE(fs::exists(install_dir_ + "/versions/1.0.0/extra"));
}

TEST_F(TarballInstallerTest, InstallDirOthersCanWriteIsRefused) {
  auto installer = Make(repo_);
  ASSERT_NE(installer, nullptr);
  ASSERT_TRUE(installer->Install("1.0.0").ok());
  chmod(install_dir_.c_str(), 0777);
  EXPECT_TRUE(IsError(installer->Install("1.1.0"), absl::StatusCode::kFailedPrecondition,
                      {install_dir_, "writable by group or others (mode 0777)", "chmod go-w"}));
  EXPECT_TRUE(IsError(installer->Rollback("1.1.0"), absl::StatusCode::kFailedPrecondition, {"0777"}));
  chmod(install_dir_.c_str(), 0755);
  // A parent others can write to, not sticky: they could swap install_dir.
  chmod(dir_.c_str(), 0777);
  EXPECT_TRUE(IsError(installer->Install("1.1.0"), absl::StatusCode::kFailedPrecondition,
                      {"its parent " + dir_, "writable by group or others"}));
  chmod(dir_.c_str(), 01777);  // sticky, like /tmp: fine
  EXPECT_TRUE(installer->Install("1.1.0").ok());
  chmod(dir_.c_str(), 0700);
  if (geteuid() == 0) {
    ASSERT_EQ(chown(install_dir_.c_str(), 65534, 65534), 0);
    EXPECT_TRUE(IsError(installer->Install("1.2.0"), absl::StatusCode::kFailedPrecondition,
                        {"owned by uid 65534", "chown root"}));
    ASSERT_EQ(chown(install_dir_.c_str(), 0, 0), 0);
  }
  EXPECT_EQ(RunningVersion(), "1.1.0");
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
  c.set_public_key_file(repo_ + "/demo-agent-1.0.0.tar.gz.manifest");
  EXPECT_TRUE(IsError(create("demo-agent", c), Code::kInvalidArgument,
                      {"agent.tarball.public_key_file", "demo-agent-1.0.0.tar.gz.manifest"}));
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
