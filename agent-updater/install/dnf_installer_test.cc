// The parts of the apt and dnf installers that need no package manager:
// configuration checks and the dnf.conf lock edit. The real installs are in
// tests/integration/updater_packages_test.cc.
#include "agent-updater/install/dnf_installer.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent-updater/install/apt_installer.h"
#include "common/status_testing.h"

namespace drover::updater {
namespace {

using drover::testing::IsError;

TEST(AddDnfExcludeTest, EmptyFileGetsAMainSection) {
  const std::string out = AddDnfExclude("", "drover-demo-agent");
  EXPECT_TRUE(absl::StartsWith(out, "[main]\n#")) << out;
  EXPECT_TRUE(absl::EndsWith(out, "\nexcludepkgs=drover-demo-agent\n")) << out;
  EXPECT_EQ(AddDnfExclude(out, "drover-demo-agent"), out);
}

TEST(AddDnfExcludeTest, AddedToMainNotToOtherSections) {
  const std::string conf =
      "# Debian's dnf.conf\n[main]\ngpgcheck=1\ninstallonly_limit=3\n\n[other]\nexcludepkgs=foo\n";
  const std::string out = AddDnfExclude(conf, "agent");
  EXPECT_EQ(out.find("[main]\n# drover-updater"), conf.find("[main]")) << out;
  EXPECT_NE(out.find("\nexcludepkgs=agent\ngpgcheck=1\ninstallonly_limit=3\n\n[other]\nexcludepkgs=foo\n"),
            std::string::npos)
      << out;
  EXPECT_EQ(AddDnfExclude(out, "agent"), out);
}

TEST(AddDnfExcludeTest, ExtendsAnExistingExclude) {
  EXPECT_EQ(AddDnfExclude("[main]\nexclude=kernel*, foo\nbest=1\n", "agent"),
            "[main]\nexclude=kernel*, foo,agent\nbest=1\n");
  EXPECT_EQ(AddDnfExclude("[main]\nexcludepkgs = \n", "agent"), "[main]\nexcludepkgs =agent\n");
  const std::string has = "[main]\nexcludepkgs=foo agent,bar";
  EXPECT_EQ(AddDnfExclude(has, "agent"), has);
  // A glob naming a longer package is not the package itself.
  EXPECT_EQ(AddDnfExclude("[main]\nexcludepkgs=agent-plugin\n", "agent"), "[main]\nexcludepkgs=agent-plugin,agent\n");
}

TEST(AddDnfExcludeTest, FileWithoutMainKeepsItsContent) {
  EXPECT_EQ(AddDnfExclude("[repo]\nname=x", "agent"),
            absl::StrCat("[main]\n", AddDnfExclude("", "agent").substr(7), "\n[repo]\nname=x\n"));
}

TEST(DnfInstallerConfigTest, RefusesBadConfigurationNamingTheField) {
  drover::v1::DnfInstaller c;
  EXPECT_TRUE(IsError(DnfInstaller::Create("agent", c).status(), absl::StatusCode::kInvalidArgument,
                      {"agent.dnf.repo_id"}));
  c.set_repo_id("drover demo");
  EXPECT_TRUE(IsError(DnfInstaller::Create("agent", c).status(), absl::StatusCode::kInvalidArgument,
                      {"agent.dnf.repo_id", "\"drover demo\""}));
  c.set_repo_id("drover-demo");
  EXPECT_TRUE(IsError(DnfInstaller::Create("agent;rm", c).status(), absl::StatusCode::kInvalidArgument,
                      {"agent.name"}));
  c.set_install_root("relative/root");
  EXPECT_TRUE(IsError(DnfInstaller::Create("agent", c).status(), absl::StatusCode::kInvalidArgument,
                      {"agent.dnf.install_root"}));
  c.set_install_root("/tmp/root");
  EXPECT_TRUE(IsError(DnfInstaller::Create("agent", c).status(), absl::StatusCode::kInvalidArgument,
                      {"agent.dnf.releasever"}));
  c.set_releasever("1");
  c.set_repos_dir("/nonexistent/repos.d");
  EXPECT_TRUE(IsError(DnfInstaller::Create("agent", c).status(), absl::StatusCode::kInvalidArgument,
                      {"agent.dnf.repos_dir"}));
  c.set_repos_dir("/tmp");
  absl::StatusOr<std::unique_ptr<DnfInstaller>> ok = DnfInstaller::Create("agent", c);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)->Name(), "dnf");
  EXPECT_EQ((*ok)->MainConfigPath(), "/tmp/root/etc/dnf/dnf.conf");
}

TEST(DnfInstallerConfigTest, RefusesNonSemverVersionsBeforeTouchingAnything) {
  drover::v1::DnfInstaller c;
  c.set_repo_id("drover-demo");
  c.set_install_root("/nonexistent/root");
  c.set_releasever("1");
  absl::StatusOr<std::unique_ptr<DnfInstaller>> installer = DnfInstaller::Create("agent", c);
  ASSERT_TRUE(installer.ok()) << installer.status();
  EXPECT_TRUE(IsError((*installer)->Install("1.2"), absl::StatusCode::kInvalidArgument, {"\"1.2\""}));
  EXPECT_TRUE(IsError((*installer)->Install("1.2.3; rm -rf /"), absl::StatusCode::kInvalidArgument));
}

TEST(AptInstallerConfigTest, RefusesBadConfigurationNamingTheField) {
  char list[] = "/tmp/drover-apt-config-test-XXXXXX";
  const int fd = mkstemp(list);
  ASSERT_GE(fd, 0);
  close(fd);
  drover::v1::AptInstaller c;
  EXPECT_TRUE(IsError(AptInstaller::Create("agent", c).status(), absl::StatusCode::kInvalidArgument,
                      {"agent.apt.source_list"}));
  c.set_source_list("relative.list");
  EXPECT_TRUE(IsError(AptInstaller::Create("agent", c).status(), absl::StatusCode::kInvalidArgument,
                      {"agent.apt.source_list", "absolute"}));
  c.set_source_list("/nonexistent/agent.list");
  EXPECT_TRUE(IsError(AptInstaller::Create("agent", c).status(), absl::StatusCode::kInvalidArgument,
                      {"agent.apt.source_list", "/nonexistent/agent.list"}));
  c.set_source_list(list);
  EXPECT_TRUE(IsError(AptInstaller::Create("Agent", c).status(), absl::StatusCode::kInvalidArgument,
                      {"agent.name", "\"Agent\""}));
  for (const char* bad : {"APT::Get::AllowUnauthenticated=true", "--allow-unauthenticated",
                          "Acquire::AllowInsecureRepositories=1", "Dir::Etc::sourceparts=/etc/apt/sources.list.d"}) {
    drover::v1::AptInstaller with_option = c;
    with_option.add_apt_options("-o");
    with_option.add_apt_options(bad);
    EXPECT_TRUE(IsError(AptInstaller::Create("agent", with_option).status(), absl::StatusCode::kInvalidArgument,
                        {"agent.apt.apt_options", bad}));
  }
  c.add_apt_options("-o");
  c.add_apt_options("Debug::NoLocking=0");
  absl::StatusOr<std::unique_ptr<AptInstaller>> ok = AptInstaller::Create("agent", c);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)->Name(), "apt");
  EXPECT_TRUE(IsError((*ok)->Install("latest"), absl::StatusCode::kInvalidArgument, {"\"latest\""}));
  unlink(list);
}

}  // namespace
}  // namespace drover::updater
