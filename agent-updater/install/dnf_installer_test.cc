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
  EXPECT_TRUE(IsError(DnfInstaller::Create("agent", c).status(), absl::StatusCode::kInvalidArgument,
                      {"agent.dnf.gpgkey_file", "never imported from a URL"}));
  c.set_gpgkey_file("https://example.org/key.asc");
  EXPECT_TRUE(IsError(DnfInstaller::Create("agent", c).status(), absl::StatusCode::kInvalidArgument,
                      {"agent.dnf.gpgkey_file", "https://example.org/key.asc"}));
  c.set_gpgkey_file("/etc/pki/agent.asc");
  EXPECT_TRUE(IsError(DnfInstaller::Create("agent", c).status(), absl::StatusCode::kInvalidArgument,
                      {"agent.dnf.gpgkey_fingerprint"}));
  c.set_gpgkey_fingerprint("ABCD");
  EXPECT_TRUE(IsError(DnfInstaller::Create("agent", c).status(), absl::StatusCode::kInvalidArgument,
                      {"agent.dnf.gpgkey_fingerprint", "\"ABCD\""}));
  c.set_gpgkey_fingerprint("0123 4567 89ab CDEF 0123  4567 89AB cdef 0123 4567");
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
  c.set_gpgkey_file("/nonexistent/key.asc");
  c.set_gpgkey_fingerprint("0123456789ABCDEF0123456789ABCDEF01234567");
  absl::StatusOr<std::unique_ptr<DnfInstaller>> installer = DnfInstaller::Create("agent", c);
  ASSERT_TRUE(installer.ok()) << installer.status();
  EXPECT_TRUE(IsError((*installer)->Install("1.2"), absl::StatusCode::kInvalidArgument, {"\"1.2\""}));
  EXPECT_TRUE(IsError((*installer)->Install("1.2.3; rm -rf /"), absl::StatusCode::kInvalidArgument));
}

TEST(PrimaryFingerprintsTest, TakesPrimaryKeysOnly) {
  const std::string colons =
      "pub:-:255:22:AAAA:1:::-:::scSC::::::23::0:\n"
      "fpr:::::::::0123456789ABCDEF0123456789ABCDEF01234567:\n"
      "uid:-::::1::X::Someone <a@b>::::::::::0:\n"
      "sub:-:255:18:BBBB:1::::::e::::::23:\n"
      "fpr:::::::::1111111111111111111111111111111111111111:\n"
      "pub:-:255:22:CCCC:1:::-:::scSC::::::23::0:\n"
      "fpr:::::::::fedcba9876543210fedcba9876543210fedcba98:\n";
  EXPECT_EQ(PrimaryFingerprints(colons), (std::vector<std::string>{"0123456789ABCDEF0123456789ABCDEF01234567",
                                                                  "FEDCBA9876543210FEDCBA9876543210FEDCBA98"}));
  EXPECT_TRUE(PrimaryFingerprints("garbage").empty());
}

TEST(SignedByKeyringsTest, OneLineFormat) {
  using V = std::vector<std::string>;
  EXPECT_EQ(SignedByKeyrings("# c\ndeb [arch=amd64 signed-by=/k.gpg] https://r stable main\n", "l", false, "").value(),
            V{"/k.gpg"});
  EXPECT_EQ(SignedByKeyrings("deb [signed-by=/a.gpg,/b.gpg] file:///r ./\n", "l", false, "").value(),
            (V{"/a.gpg", "/b.gpg"}));
  EXPECT_TRUE(IsError(SignedByKeyrings("deb https://r stable main\n", "/x.list", false, "").status(),
                      absl::StatusCode::kPermissionDenied, {"/x.list", "deb https://r stable main", "signed-by"}));
  EXPECT_TRUE(IsError(SignedByKeyrings("deb [arch=amd64] https://r s m\n", "l", false, "").status(),
                      absl::StatusCode::kPermissionDenied, {"no signed-by"}));
  EXPECT_TRUE(IsError(
      SignedByKeyrings("deb [signed-by=0123456789ABCDEF0123456789ABCDEF01234567] https://r s m\n", "l", false, "")
          .status(),
      absl::StatusCode::kPermissionDenied, {"not a keyring file"}));
  EXPECT_TRUE(IsError(SignedByKeyrings("deb [signed-by=/k.gpg trusted=yes] https://r s m\n", "l", false, "").status(),
                      absl::StatusCode::kPermissionDenied, {"turns signature checks off"}));
  EXPECT_TRUE(IsError(SignedByKeyrings("deb [signed-by=/other.gpg] https://r s m\n", "l", false, "/k.gpg").status(),
                      absl::StatusCode::kPermissionDenied, {"/other.gpg", "not the pinned keyring /k.gpg"}));
  EXPECT_TRUE(IsError(SignedByKeyrings("deb [signed-by=/k.gpg signed-by+=/o.gpg] https://r s m\n", "l", false, "")
                          .status(),
                      absl::StatusCode::kPermissionDenied, {"signed-by+"}));
  EXPECT_TRUE(IsError(SignedByKeyrings("# only comments\n\n", "l", false, "").status(),
                      absl::StatusCode::kInvalidArgument, {"no entry"}));
  // Every entry needs it, not just the first.
  EXPECT_TRUE(IsError(
      SignedByKeyrings("deb [signed-by=/k.gpg] https://r s m\ndeb https://evil s m\n", "l", false, "").status(),
      absl::StatusCode::kPermissionDenied, {"https://evil"}));
}

TEST(SignedByKeyringsTest, Deb822Format) {
  using V = std::vector<std::string>;
  EXPECT_EQ(SignedByKeyrings("Types: deb\nURIs: https://r\nSuites: stable\nComponents: main\n"
                             "Signed-By: /usr/share/keyrings/r.gpg\n",
                             "l.sources", true, "")
                .value(),
            V{"/usr/share/keyrings/r.gpg"});
  EXPECT_TRUE(IsError(SignedByKeyrings("Types: deb\nURIs: https://r\nSuites: s\n", "l.sources", true, "").status(),
                      absl::StatusCode::kPermissionDenied, {"https://r", "no Signed-By"}));
  EXPECT_TRUE(IsError(SignedByKeyrings("Types: deb\nURIs: https://r\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n"
                                       " x\n",
                                       "l.sources", true, "")
                          .status(),
                      absl::StatusCode::kPermissionDenied, {"inline key"}));
  EXPECT_TRUE(IsError(SignedByKeyrings("Types: deb\nURIs: https://r\nSigned-By: /k.gpg\nTrusted: yes\n", "l.sources",
                                       true, "")
                          .status(),
                      absl::StatusCode::kPermissionDenied, {"turns signature checks off"}));
  // A disabled entry does not count.
  EXPECT_EQ(SignedByKeyrings("Types: deb\nURIs: https://x\nEnabled: no\n\nTypes: deb\nURIs: https://r\n"
                             "Signed-By: /k.gpg\n",
                             "l.sources", true, "/k.gpg")
                .value(),
            V{"/k.gpg"});
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
  c.set_keyring("keyring.gpg");
  EXPECT_TRUE(IsError(AptInstaller::Create("agent", c).status(), absl::StatusCode::kInvalidArgument,
                      {"agent.apt.keyring", "absolute"}));
  c.clear_keyring();
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
