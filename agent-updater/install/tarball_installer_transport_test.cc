// The tarball installer's transport and file modes: tarballs over https with
// a pinned CA (a real TLS server on loopback), and an installed version that
// an agent running as another user can execute under the updater unit's umask.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent-updater/install/tarball_installer.h"
#include "common/atomic_file.h"
#include "common/status_testing.h"
#include "common/subprocess.h"
#include "tests/support/test_env.h"
#include "tests/support/test_http_server.h"

namespace drover::updater {
namespace {

namespace fs = std::filesystem;
using drover::testing::IsError;
using drover::testing::TestHttpServer;

std::string MakeTempDir() {
  std::string tmpl = "/tmp/drover-tarball-transport-XXXXXX";
  return mkdtemp(tmpl.data()) == nullptr ? "" : tmpl;
}

CommandOutput RunArgv(const std::vector<std::string>& argv) {
  absl::StatusOr<CommandOutput> out = RunCommand(argv, {.timeout = absl::Seconds(60)});
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : CommandOutput{};
}

mode_t ModeOf(const std::string& path) {
  struct stat st{};
  return stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

class TarballTransportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    suite_dir_ = new std::string(MakeTempDir());
    CommandOutput out = RunArgv({std::string(DROVER_SOURCE_DIR) + "/tests/fixtures/make_tarballs.sh", Repo(), DROVER_BIN_DIR});
    ASSERT_EQ(out.exit_code, 0) << out.output;
    out = RunArgv({std::string(DROVER_SOURCE_DIR) + "/tests/fixtures/make_tls_certs.sh", Certs()});
    ASSERT_EQ(out.exit_code, 0) << out.output;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*suite_dir_);
    delete suite_dir_;
  }
  static std::string Repo() { return *suite_dir_ + "/repo"; }
  static std::string Certs() { return *suite_dir_ + "/certs"; }

  void SetUp() override {
    dir_ = MakeTempDir();
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override { fs::remove_all(dir_); }

  drover::v1::TarballInstaller Config(const std::string& base, const std::string& ca_file = "") const {
    drover::v1::TarballInstaller c;
    c.set_base(base);
    c.set_public_key_file(Repo() + "/tarball-key.pub.pem");
    c.set_install_dir(dir_ + "/agent");
    if (!ca_file.empty()) c.set_ca_file(ca_file);
    return c;
  }

  static std::string* suite_dir_;
  std::string dir_;
};
std::string* TarballTransportTest::suite_dir_ = nullptr;

TEST_F(TarballTransportTest, InstallsOverHttpsWithPinnedCa) {
  TestHttpServer server(TestHttpServer::ServeDirectory(Repo()), {Certs() + "/server.pem", Certs() + "/server.key"});
  absl::StatusOr<std::unique_ptr<TarballInstaller>> installer =
      TarballInstaller::Create("demo-agent", Config(server.Url(), Certs() + "/ca.pem"));
  ASSERT_TRUE(installer.ok()) << installer.status();
  ASSERT_TRUE((*installer)->Install("1.1.0").ok());
  absl::StatusOr<std::optional<std::string>> v = (*installer)->InstalledVersion();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, "1.1.0");
  CommandOutput out = RunArgv({dir_ + "/agent/current/bin/demo-agent", "--version"});
  EXPECT_EQ(absl::StripAsciiWhitespace(out.output), "1.1.0");
}

TEST_F(TarballTransportTest, UntrustedServerIsRefusedAndNothingChanges) {
  TestHttpServer server(TestHttpServer::ServeDirectory(Repo()), {Certs() + "/server.pem", Certs() + "/server.key"});
  absl::StatusOr<std::unique_ptr<TarballInstaller>> installer =
      TarballInstaller::Create("demo-agent", Config(server.Url(), Certs() + "/other-ca.pem"));
  ASSERT_TRUE(installer.ok()) << installer.status();
  EXPECT_TRUE(IsError((*installer)->Install("1.1.0"), absl::StatusCode::kUnavailable,
                      {server.Url("/demo-agent-1.1.0.tar.gz"), "TLS certificate", "other-ca.pem"}));
  EXPECT_EQ(server.requests(), 0);
  absl::StatusOr<std::optional<std::string>> v = (*installer)->InstalledVersion();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, std::nullopt);
}

TEST_F(TarballTransportTest, CaFileIsChecked) {
  EXPECT_TRUE(IsError(TarballInstaller::Create("demo-agent", Config("http://127.0.0.1:1/t", Certs() + "/ca.pem")).status(),
                      absl::StatusCode::kInvalidArgument, {"agent.tarball.ca_file", "https://", "http://127.0.0.1:1/t"}));
  EXPECT_TRUE(IsError(
      TarballInstaller::Create("demo-agent", Config("https://127.0.0.1:1/t", dir_ + "/missing.pem")).status(),
      absl::StatusCode::kNotFound, {"agent.tarball.ca_file", dir_ + "/missing.pem"}));
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/key.pem", "-----BEGIN PRIVATE KEY-----\n").ok());
  EXPECT_TRUE(IsError(TarballInstaller::Create("demo-agent", Config("https://127.0.0.1:1/t", dir_ + "/key.pem")).status(),
                      absl::StatusCode::kInvalidArgument, {"agent.tarball.ca_file", dir_ + "/key.pem", "no PEM certificate"}));
}

// The umask deploy/systemd/drover-updater.service sets.
mode_t UnitUmask() {
  std::ifstream unit(std::string(DROVER_SOURCE_DIR) + "/deploy/systemd/drover-updater.service");
  std::string line;
  std::smatch m;
  while (std::getline(unit, line)) {
    if (std::regex_match(line, m, std::regex("UMask=([0-7]+)"))) return static_cast<mode_t>(std::stoi(m[1], nullptr, 8));
  }
  return 0022;  // systemd's default
}

TEST_F(TarballTransportTest, AgentRunningAsAnotherUserCanExecuteTheInstalledVersion) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root: installs as root, runs the agent as nobody";
  // nobody must be able to reach the test directory itself.
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  const std::string install_dir = dir_ + "/agent";
  const mode_t unit_umask = UnitUmask();
  const mode_t old_umask = umask(unit_umask);
  absl::StatusOr<std::unique_ptr<TarballInstaller>> installer = TarballInstaller::Create("demo-agent", Config(Repo()));
  absl::Status installed = installer.ok() ? (*installer)->Install("1.0.0") : installer.status();
  umask(old_umask);
  ASSERT_TRUE(installed.ok()) << installed;

  EXPECT_EQ(ModeOf(install_dir), 0755u) << "umask " << std::oct << unit_umask;
  EXPECT_EQ(ModeOf(install_dir + "/versions"), 0755u);
  EXPECT_EQ(ModeOf(install_dir + "/versions/1.0.0"), 0755u);
  // runuser, not setpriv: setpriv here executed a binary below a 0700
  // directory that nobody cannot search.
  CommandOutput out = RunArgv({"runuser", "-u", "nobody", "--", install_dir + "/current/bin/demo-agent", "--version"});
  EXPECT_EQ(out.exit_code, 0) << out.output;
  EXPECT_EQ(absl::StripAsciiWhitespace(out.output), "1.0.0");
}

}  // namespace
}  // namespace drover::updater
