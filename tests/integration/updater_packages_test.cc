// The apt and dnf installers against real signed repositories built by
// tests/fixtures/make_{packages,apt_repo,dnf_repo}.sh. The apt tests really
// install, upgrade, hold and roll back drover-demo-agent on this machine (and
// purge it at the end); the dnf tests install into throwaway --installroots.
// Root is needed for both, so without it they are skipped.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "agent-updater/install/apt_installer.h"
#include "agent-updater/install/dnf_installer.h"
#include "common/atomic_file.h"
#include "common/status_testing.h"
#include "common/subprocess.h"

namespace drover::updater {
namespace {

namespace fs = std::filesystem;
using drover::testing::IsError;

constexpr char kPackage[] = "drover-demo-agent";
constexpr char kAgentBinary[] = "/opt/drover-demo-agent/bin/demo-agent";
constexpr char kRepoId[] = "drover-demo";

std::map<std::string, std::string> AptEnv() { return {{"DEBIAN_FRONTEND", "noninteractive"}, {"LC_ALL", "C"}}; }

std::string Fixture(const std::string& script) {
  return absl::StrCat(DROVER_SOURCE_DIR, "/tests/fixtures/", script);
}

CommandOutput RunCmd(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {}) {
  absl::StatusOr<CommandOutput> out = RunCommand(argv, {.timeout = absl::Minutes(3), .env = env});
  EXPECT_TRUE(out.ok()) << CommandLineForLog(argv) << ": " << out.status();
  if (!out.ok()) return {};
  EXPECT_FALSE(out->timed_out) << CommandLineForLog(argv);
  return *std::move(out);
}

// Runs argv and expects exit 0; returns the output.
std::string RunOk(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {}) {
  CommandOutput out = RunCmd(argv, env);
  EXPECT_EQ(out.exit_code, 0) << CommandLineForLog(argv) << ":\n" << out.output;
  return out.output;
}

// The version the demo agent binary at `path` reports.
std::string AgentVersion(const std::string& path) {
  return std::string(absl::StripAsciiWhitespace(RunOk({path, "--version"})));
}

// Built once for both suites: the demo agent as .deb and .rpm packages.
class PackagesEnv {
 public:
  static PackagesEnv& Get() {
    if (instance_ == nullptr) instance_ = new PackagesEnv();
    return *instance_;
  }
  // Removes the packages and repositories, if they were made.
  static void CleanUp() {
    if (instance_ == nullptr || instance_->dir_.empty()) return;
    std::error_code ec;
    fs::remove_all(instance_->dir_, ec);
  }
  const std::string& dir() const { return dir_; }
  std::string deb_dir() const { return dir_ + "/packages/deb"; }
  std::string rpm_dir() const { return dir_ + "/packages/rpm"; }
  bool ok() const { return ok_; }

 private:
  PackagesEnv() {
    std::string tmpl = "/tmp/drover-packages-test-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) return;
    dir_ = tmpl;
    // apt reads file:// repositories as the unprivileged _apt user.
    chmod(dir_.c_str(), 0755);
    CommandOutput out = RunCmd({Fixture("make_packages.sh"), dir_ + "/packages", DROVER_BIN_DIR});
    ok_ = out.exit_code == 0 && fs::exists(deb_dir() + "/drover-demo-agent_1.0.0_amd64.deb");
    EXPECT_TRUE(ok_) << out.output;
  }
  static inline PackagesEnv* instance_ = nullptr;
  std::string dir_;
  bool ok_ = false;
};

// ---------------------------------------------------------------- apt ------

class AptInstallerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    PackagesEnv& env = PackagesEnv::Get();
    if (!env.ok()) return;
    for (const auto& [name, flag] : std::vector<std::pair<std::string, std::string>>{
             {"apt-good", ""}, {"apt-unsigned", "--unsigned"}, {"apt-bad-signature", "--bad-signature"}}) {
      std::vector<std::string> argv = {Fixture("make_apt_repo.sh"), env.dir() + "/" + name, env.deb_dir()};
      if (!flag.empty()) argv.push_back(flag);
      RunOk(argv);
    }
  }

  static void TearDownTestSuite() {
    if (geteuid() != 0) return;
    Purge();
    // Drop apt's copies of the fixture repositories' indexes.
    const std::string prefix = absl::StrReplaceAll(PackagesEnv::Get().dir(), {{"/", "_"}});
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/var/lib/apt/lists", ec)) {
      if (absl::StartsWith(e.path().filename().string(), prefix)) fs::remove(e.path(), ec);
    }
  }

  static void Purge() {
    RunCmd({"apt-mark", "unhold", kPackage});
    CommandOutput out = RunCmd({"dpkg", "--purge", kPackage}, AptEnv());
    EXPECT_EQ(out.exit_code, 0) << out.output;
  }

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: it installs drover-demo-agent on this machine with apt/dpkg";
    ASSERT_TRUE(PackagesEnv::Get().ok()) << "make_packages.sh failed";
    ASSERT_TRUE(fs::exists(List("apt-good"))) << "make_apt_repo.sh failed";
    // Each test starts with the agent not installed.
    Purge();
  }

  static std::string List(const std::string& repo) {
    return absl::StrCat(PackagesEnv::Get().dir(), "/", repo, "/drover-demo.list");
  }

  static std::unique_ptr<AptInstaller> MakeApt(const std::string& list) {
    drover::v1::AptInstaller config;
    config.set_source_list(list);
    absl::StatusOr<std::unique_ptr<AptInstaller>> installer = AptInstaller::Create(kPackage, config);
    EXPECT_TRUE(installer.ok()) << installer.status();
    return installer.ok() ? *std::move(installer) : nullptr;
  }

  static std::optional<std::string> Installed(Installer& installer) {
    absl::StatusOr<std::optional<std::string>> v = installer.InstalledVersion();
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : std::nullopt;
  }

  static bool Held() {
    return absl::StrContains(RunOk({"apt-mark", "showhold"}), kPackage);
  }
};

TEST_F(AptInstallerTest, InstallsUpgradesHoldsAndRollsBack) {
  std::unique_ptr<AptInstaller> apt = MakeApt(List("apt-good"));
  ASSERT_NE(apt, nullptr);
  EXPECT_EQ(Installed(*apt), std::nullopt);

  ASSERT_TRUE(apt->Install("1.0.0").ok());
  EXPECT_EQ(Installed(*apt), "1.0.0");
  EXPECT_EQ(AgentVersion(kAgentBinary), "1.0.0");
  EXPECT_TRUE(Held());

  absl::Status up = apt->Install("1.1.0");
  ASSERT_TRUE(up.ok()) << up;
  EXPECT_EQ(Installed(*apt), "1.1.0");
  EXPECT_EQ(AgentVersion(kAgentBinary), "1.1.0");
  EXPECT_TRUE(Held());

  // A plain upgrade (of that source list, which offers 1.3.0) leaves it alone.
  const std::string upgrade = RunOk({"apt-get", "-o", "Dir::Etc::sourcelist=" + List("apt-good"), "-o",
                                     "Dir::Etc::sourceparts=-", "-y", "upgrade"},
                                    AptEnv());
  EXPECT_TRUE(absl::StrContains(upgrade, "kept back") || absl::StrContains(upgrade, "0 upgraded")) << upgrade;
  EXPECT_EQ(Installed(*apt), "1.1.0");

  absl::Status back = apt->Rollback("1.0.0");
  ASSERT_TRUE(back.ok()) << back;
  EXPECT_EQ(Installed(*apt), "1.0.0");
  EXPECT_EQ(AgentVersion(kAgentBinary), "1.0.0");
  EXPECT_TRUE(Held());

  // Installing what is installed changes nothing and succeeds.
  EXPECT_TRUE(apt->Install("1.0.0").ok());
  EXPECT_EQ(Installed(*apt), "1.0.0");
}

TEST_F(AptInstallerTest, RefusesUnsignedAndWronglySignedRepositories) {
  std::unique_ptr<AptInstaller> good = MakeApt(List("apt-good"));
  ASSERT_NE(good, nullptr);
  ASSERT_TRUE(good->Install("1.0.0").ok());

  for (const std::string repo : {"apt-unsigned", "apt-bad-signature"}) {
    SCOPED_TRACE(repo);
    std::unique_ptr<AptInstaller> apt = MakeApt(List(repo));
    ASSERT_NE(apt, nullptr);
    absl::Status s = apt->Install("1.1.0");
    std::cout << repo << ": " << s << "\n";
    EXPECT_TRUE(IsError(s, absl::StatusCode::kPermissionDenied, {List(repo), "not signed"}));
    EXPECT_EQ(Installed(*apt), "1.0.0");
    EXPECT_EQ(AgentVersion(kAgentBinary), "1.0.0");
    EXPECT_TRUE(Held());
  }
}

TEST_F(AptInstallerTest, RefusesASourceListThatDisablesVerification) {
  const std::string list = absl::StrCat(PackagesEnv::Get().dir(), "/trusted.list");
  ASSERT_TRUE(WriteFileAtomically(list, absl::StrCat("deb [trusted=yes] file://", PackagesEnv::Get().dir(),
                                                     "/apt-unsigned/repo ./\n"))
                  .ok());
  std::unique_ptr<AptInstaller> apt = MakeApt(list);
  ASSERT_NE(apt, nullptr);
  EXPECT_TRUE(IsError(apt->Install("1.0.0"), absl::StatusCode::kPermissionDenied, {list, "trusted=yes"}));
  EXPECT_EQ(Installed(*apt), std::nullopt);
}

// The issue 14 rule: every entry pins its keyring with signed-by; without
// it apt would trust any key in trusted.gpg.d.
TEST_F(AptInstallerTest, RefusesASourceListWithoutSignedBy) {
  const std::string list = absl::StrCat(PackagesEnv::Get().dir(), "/no-signed-by.list");
  ASSERT_TRUE(
      WriteFileAtomically(list, absl::StrCat("deb file://", PackagesEnv::Get().dir(), "/apt-good/repo ./\n")).ok());
  std::unique_ptr<AptInstaller> apt = MakeApt(list);
  ASSERT_NE(apt, nullptr);
  EXPECT_TRUE(IsError(apt->Install("1.0.0"), absl::StatusCode::kPermissionDenied,
                      {list, "no [signed-by=KEYRING]", "refusing"}));
  EXPECT_EQ(Installed(*apt), std::nullopt);
}

TEST_F(AptInstallerTest, RefusesAKeyringOthersCanChangeOrThatIsNotPinned) {
  const std::string dir = PackagesEnv::Get().dir() + "/apt-keyring-checks";
  fs::create_directories(dir);
  const std::string keyring = dir + "/key.gpg";
  fs::copy_file(PackagesEnv::Get().dir() + "/apt-good/key.gpg", keyring, fs::copy_options::overwrite_existing);
  const std::string list = dir + "/drover-demo.list";
  ASSERT_TRUE(WriteFileAtomically(list, absl::StrCat("deb [signed-by=", keyring, "] file://", PackagesEnv::Get().dir(),
                                                     "/apt-good/repo ./\n"))
                  .ok());
  chmod(keyring.c_str(), 0666);
  std::unique_ptr<AptInstaller> apt = MakeApt(list);
  ASSERT_NE(apt, nullptr);
  EXPECT_TRUE(IsError(apt->Install("1.0.0"), absl::StatusCode::kFailedPrecondition,
                      {keyring, "writable by group or others", "chmod go-w"}));
  EXPECT_EQ(Installed(*apt), std::nullopt);
  chmod(keyring.c_str(), 0644);

  // agent.apt.keyring pins which keyring signed-by must name.
  drover::v1::AptInstaller config;
  config.set_source_list(list);
  config.set_keyring(PackagesEnv::Get().dir() + "/apt-good/key.gpg");
  absl::StatusOr<std::unique_ptr<AptInstaller>> pinned = AptInstaller::Create(kPackage, config);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_TRUE(IsError((*pinned)->Install("1.0.0"), absl::StatusCode::kPermissionDenied,
                      {keyring, "not the pinned keyring", config.keyring()}));
  EXPECT_EQ(Installed(*apt), std::nullopt);
  config.set_keyring(keyring);
  pinned = AptInstaller::Create(kPackage, config);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  absl::Status ok = (*pinned)->Install("1.0.0");
  EXPECT_TRUE(ok.ok()) << ok;
  EXPECT_EQ(Installed(*apt), "1.0.0");
}

TEST_F(AptInstallerTest, MissingVersionIsNotFound) {
  std::unique_ptr<AptInstaller> apt = MakeApt(List("apt-good"));
  ASSERT_NE(apt, nullptr);
  ASSERT_TRUE(apt->Install("1.0.0").ok());
  EXPECT_TRUE(IsError(apt->Install("1.9.0"), absl::StatusCode::kNotFound,
                      {"1.9.0", kPackage, List("apt-good"), "1.1.0, 1.0.0"}));
  EXPECT_EQ(Installed(*apt), "1.0.0");
}

TEST_F(AptInstallerTest, PutsBackALostHold) {
  std::unique_ptr<AptInstaller> apt = MakeApt(List("apt-good"));
  ASSERT_NE(apt, nullptr);
  ASSERT_TRUE(apt->Install("1.1.0").ok());
  // As if the updater had been killed between install and hold.
  RunOk({"apt-mark", "unhold", kPackage});
  EXPECT_FALSE(Held());
  EXPECT_EQ(Installed(*apt), "1.1.0");
  EXPECT_TRUE(Held());
}

// ---------------------------------------------------------------- dnf ------

class DnfInstallerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    PackagesEnv& env = PackagesEnv::Get();
    if (!env.ok()) return;
    RunOk({Fixture("make_dnf_repo.sh"), env.dir() + "/dnf-good", env.rpm_dir()});
    RunOk({Fixture("make_dnf_repo.sh"), env.dir() + "/dnf-unsigned", env.rpm_dir(), "--unsigned"});
  }

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: dnf --installroot and rpm write root-owned files";
    ASSERT_TRUE(PackagesEnv::Get().ok()) << "make_packages.sh failed";
    ASSERT_TRUE(fs::exists(ReposDir("dnf-good") + "/drover-demo.repo")) << "make_dnf_repo.sh failed";
  }

  void TearDown() override {
    // dnf verifies repository metadata with gpgme, which starts a gpg-agent
    // per repository cache; stop ours before the roots go away.
    for (const std::string& root : roots_) {
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(root + "/var/cache/dnf", ec)) {
        const std::string pubring = e.path().string() + "/pubring";
        if (fs::is_directory(pubring)) RunCmd({"gpgconf", "--homedir", pubring, "--kill", "gpg-agent"});
      }
      fs::remove_all(root, ec);
    }
  }

  static std::string ReposDir(const std::string& repo) {
    return absl::StrCat(PackagesEnv::Get().dir(), "/", repo, "/repos.d");
  }

  std::string NewRoot() {
    std::string tmpl = PackagesEnv::Get().dir() + "/root-XXXXXX";
    EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
    roots_.push_back(tmpl);
    return tmpl;
  }

  // The key the updater pins: by default the signed fixture's.
  static std::string KeyFile(const std::string& repo = "dnf-good") {
    return absl::StrCat(PackagesEnv::Get().dir(), "/", repo, "/key.asc");
  }
  static std::string Fingerprint(const std::string& repo = "dnf-good") {
    absl::StatusOr<std::string> f = ReadFile(absl::StrCat(PackagesEnv::Get().dir(), "/", repo, "/key.fingerprint"));
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? std::string(absl::StripAsciiWhitespace(*f)) : "";
  }

  static std::unique_ptr<DnfInstaller> MakeDnf(const std::string& root, const std::string& repos_dir,
                                               const std::string& key_file = KeyFile(),
                                               const std::string& fingerprint = Fingerprint()) {
    drover::v1::DnfInstaller config;
    config.set_repo_id(kRepoId);
    config.set_install_root(root);
    config.set_repos_dir(repos_dir);
    config.set_releasever("1");
    config.set_gpgkey_file(key_file);
    config.set_gpgkey_fingerprint(fingerprint);
    absl::StatusOr<std::unique_ptr<DnfInstaller>> installer = DnfInstaller::Create(kPackage, config);
    EXPECT_TRUE(installer.ok()) << installer.status();
    return installer.ok() ? *std::move(installer) : nullptr;
  }

  static std::optional<std::string> Installed(Installer& installer) {
    absl::StatusOr<std::optional<std::string>> v = installer.InstalledVersion();
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : std::nullopt;
  }

  // Plain dnf in the root, as an operator would run it (excludes honoured).
  static CommandOutput PlainDnf(const std::string& root, const std::string& repos_dir,
                                const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"dnf", "-y", "--installroot=" + root, "--releasever=1",
                                     "--setopt=reposdir=" + repos_dir};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCmd(argv, {{"LC_ALL", "C"}});
  }

  std::vector<std::string> roots_;
};

TEST_F(DnfInstallerTest, InstallsUpgradesLocksAndRollsBack) {
  const std::string root = NewRoot();
  std::unique_ptr<DnfInstaller> dnf = MakeDnf(root, ReposDir("dnf-good"));
  ASSERT_NE(dnf, nullptr);
  EXPECT_EQ(Installed(*dnf), std::nullopt);

  absl::Status first = dnf->Install("1.0.0");
  ASSERT_TRUE(first.ok()) << first;
  EXPECT_EQ(Installed(*dnf), "1.0.0");
  EXPECT_EQ(AgentVersion(root + kAgentBinary), "1.0.0");

  absl::Status up = dnf->Install("1.1.0");
  ASSERT_TRUE(up.ok()) << up;
  EXPECT_EQ(Installed(*dnf), "1.1.0");
  EXPECT_EQ(AgentVersion(root + kAgentBinary), "1.1.0");

  // The lock: a plain upgrade, or an explicit install of another version,
  // does not move it although the repository offers 1.3.0.
  absl::StatusOr<std::string> conf = ReadFile(dnf->MainConfigPath());
  ASSERT_TRUE(conf.ok()) << conf.status();
  EXPECT_TRUE(absl::StrContains(*conf, "excludepkgs=drover-demo-agent")) << *conf;
  CommandOutput upgrade = PlainDnf(root, ReposDir("dnf-good"), {"upgrade"});
  EXPECT_EQ(upgrade.exit_code, 0) << upgrade.output;
  EXPECT_EQ(Installed(*dnf), "1.1.0") << upgrade.output;
  CommandOutput install = PlainDnf(root, ReposDir("dnf-good"), {"install", "drover-demo-agent-1.2.0"});
  EXPECT_NE(install.exit_code, 0) << install.output;
  EXPECT_EQ(Installed(*dnf), "1.1.0");

  absl::Status back = dnf->Rollback("1.0.0");
  ASSERT_TRUE(back.ok()) << back;
  EXPECT_EQ(Installed(*dnf), "1.0.0");
  EXPECT_EQ(AgentVersion(root + kAgentBinary), "1.0.0");

  EXPECT_TRUE(dnf->Install("1.0.0").ok());
  EXPECT_EQ(Installed(*dnf), "1.0.0");
}

TEST_F(DnfInstallerTest, RefusesUnsignedRepositories) {
  const std::string root = NewRoot();
  std::unique_ptr<DnfInstaller> good = MakeDnf(root, ReposDir("dnf-good"));
  ASSERT_NE(good, nullptr);
  ASSERT_TRUE(good->Install("1.0.0").ok());

  // Neither packages nor metadata signed; its .repo says repo_gpgcheck=0.
  std::unique_ptr<DnfInstaller> unsigned_repo = MakeDnf(root, ReposDir("dnf-unsigned"));
  ASSERT_NE(unsigned_repo, nullptr);
  absl::Status refused = unsigned_repo->Install("1.1.0");
  std::cout << "unsigned: " << refused << "\n";
  EXPECT_TRUE(IsError(refused, absl::StatusCode::kPermissionDenied, {kRepoId, ReposDir("dnf-unsigned")}));
  EXPECT_EQ(Installed(*good), "1.0.0");

  // gpgcheck=0 in the .repo file does not turn the check off either.
  const std::string lax_dir = PackagesEnv::Get().dir() + "/dnf-lax-repos.d";
  fs::create_directories(lax_dir);
  absl::StatusOr<std::string> repo_file = ReadFile(ReposDir("dnf-unsigned") + "/drover-demo.repo");
  ASSERT_TRUE(repo_file.ok());
  ASSERT_TRUE(WriteFileAtomically(lax_dir + "/drover-demo.repo",
                                  absl::StrReplaceAll(*repo_file, {{"gpgcheck=1", "gpgcheck=0"}}))
                  .ok());
  std::unique_ptr<DnfInstaller> lax = MakeDnf(root, lax_dir);
  ASSERT_NE(lax, nullptr);
  EXPECT_EQ(lax->Install("1.1.0").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Installed(*good), "1.0.0");
}

// Signed packages, but unsigned metadata and repo_gpgcheck=0 in the .repo
// file: the metadata check is forced on, so it is refused.
TEST_F(DnfInstallerTest, RefusesUnsignedMetadataWhateverRepoGpgcheckSays) {
  const std::string copy = PackagesEnv::Get().dir() + "/dnf-no-repo-gpgcheck";
  fs::remove_all(copy);
  fs::create_directories(copy + "/repos.d");
  fs::copy(PackagesEnv::Get().dir() + "/dnf-good/repo", copy + "/repo", fs::copy_options::recursive);
  ASSERT_TRUE(fs::remove(copy + "/repo/repodata/repomd.xml.asc"));
  absl::StatusOr<std::string> repo_file = ReadFile(ReposDir("dnf-good") + "/drover-demo.repo");
  ASSERT_TRUE(repo_file.ok());
  ASSERT_TRUE(WriteFileAtomically(copy + "/repos.d/drover-demo.repo",
                                  absl::StrReplaceAll(*repo_file, {{"repo_gpgcheck=1", "repo_gpgcheck=0"},
                                                                   {PackagesEnv::Get().dir() + "/dnf-good/repo",
                                                                    copy + "/repo"}}))
                  .ok());
  const std::string root = NewRoot();
  std::unique_ptr<DnfInstaller> dnf = MakeDnf(root, copy + "/repos.d");
  ASSERT_NE(dnf, nullptr);
  absl::Status refused = dnf->Install("1.0.0");
  std::cout << "no repo_gpgcheck: " << refused << "\n";
  EXPECT_TRUE(IsError(refused, absl::StatusCode::kPermissionDenied, {kRepoId}));
  EXPECT_EQ(Installed(*dnf), std::nullopt);
}

// The config pins the key; what the .repo file names (another key, or a
// URL) is not used.
TEST_F(DnfInstallerTest, UsesOnlyThePinnedKey) {
  absl::StatusOr<std::string> repo_file = ReadFile(ReposDir("dnf-good") + "/drover-demo.repo");
  ASSERT_TRUE(repo_file.ok());
  const std::string good_key = KeyFile();
  ASSERT_TRUE(absl::StrContains(*repo_file, good_key));
  const std::string dir = PackagesEnv::Get().dir() + "/dnf-url-key-repos.d";
  fs::create_directories(dir);
  ASSERT_TRUE(WriteFileAtomically(dir + "/drover-demo.repo",
                                  absl::StrReplaceAll(*repo_file, {{"file://" + good_key,
                                                                    "https://keys.example.invalid/key.asc"}}))
                  .ok());
  const std::string root = NewRoot();
  std::unique_ptr<DnfInstaller> dnf = MakeDnf(root, dir);
  ASSERT_NE(dnf, nullptr);
  absl::Status ok = dnf->Install("1.0.0");
  ASSERT_TRUE(ok.ok()) << ok;
  EXPECT_EQ(Installed(*dnf), "1.0.0");

  // Pinned to another key (the unsigned fixture's): the repository's
  // signatures do not verify with it.
  const std::string root2 = NewRoot();
  std::unique_ptr<DnfInstaller> other =
      MakeDnf(root2, ReposDir("dnf-good"), KeyFile("dnf-unsigned"), Fingerprint("dnf-unsigned"));
  ASSERT_NE(other, nullptr);
  absl::Status refused = other->Install("1.0.0");
  std::cout << "another pinned key: " << refused << "\n";
  EXPECT_TRUE(IsError(refused, absl::StatusCode::kPermissionDenied, {kRepoId}));
  EXPECT_EQ(Installed(*other), std::nullopt);
}

TEST_F(DnfInstallerTest, RefusesAKeyFileThatIsNotThePinnedKey) {
  const std::string root = NewRoot();
  // The good key file, but the config pins the other key's fingerprint.
  std::unique_ptr<DnfInstaller> dnf = MakeDnf(root, ReposDir("dnf-good"), KeyFile(), Fingerprint("dnf-unsigned"));
  ASSERT_NE(dnf, nullptr);
  EXPECT_TRUE(IsError(dnf->Install("1.0.0"), absl::StatusCode::kPermissionDenied,
                      {KeyFile(), Fingerprint(), "not only the pinned", Fingerprint("dnf-unsigned")}));
  EXPECT_EQ(Installed(*dnf), std::nullopt);

  // A key file others can write to is refused before it is read.
  const std::string loose = PackagesEnv::Get().dir() + "/loose-key.asc";
  fs::copy_file(KeyFile(), loose, fs::copy_options::overwrite_existing);
  chmod(loose.c_str(), 0666);
  dnf = MakeDnf(root, ReposDir("dnf-good"), loose);
  ASSERT_NE(dnf, nullptr);
  EXPECT_TRUE(IsError(dnf->Install("1.0.0"), absl::StatusCode::kFailedPrecondition,
                      {loose, "writable by group or others"}));
  EXPECT_EQ(Installed(*dnf), std::nullopt);
}

TEST_F(DnfInstallerTest, MissingVersionIsNotFound) {
  const std::string root = NewRoot();
  std::unique_ptr<DnfInstaller> dnf = MakeDnf(root, ReposDir("dnf-good"));
  ASSERT_NE(dnf, nullptr);
  EXPECT_TRUE(IsError(dnf->Install("1.9.0"), absl::StatusCode::kNotFound, {"drover-demo-agent-1.9.0", kRepoId}));
  EXPECT_EQ(Installed(*dnf), std::nullopt);
}

}  // namespace
}  // namespace drover::updater

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const int rc = RUN_ALL_TESTS();
  drover::updater::PackagesEnv::CleanUp();
  return rc;
}
