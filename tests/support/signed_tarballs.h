// A fixture for tests of the tarball installer: the signed demo-agent
// tarballs of tests/fixtures/make_tarballs.sh (real tar, gzip and manifests
// signed with a real key), made once per test suite; each test gets its own
// copy in repo_ to tamper with, and an empty install_dir_.
#pragma once

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace drover::testing {

// Runs argv, expecting exit status 0 (a failed expectation otherwise);
// returns its output.
std::string RunOk(const std::vector<std::string>& argv);

// A new directory under /tmp; "" (and a failed expectation) when none could
// be made.
std::string MakeTempDir();

class SignedTarballsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;
  void TearDown() override;

  std::string dir_;          // this test's own, removed after it
  std::string repo_;         // dir_/repo: the tarballs, manifests and tarball-key.pub.pem
  std::string install_dir_;  // dir_/agent, not made yet

 private:
  static std::string* suite_dir_;
};

}  // namespace drover::testing
