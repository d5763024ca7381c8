#include "tests/support/signed_tarballs.h"

#include <stdlib.h>

#include <filesystem>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/subprocess.h"

namespace drover::testing {

namespace fs = std::filesystem;

std::string RunOk(const std::vector<std::string>& argv) {
  absl::StatusOr<CommandOutput> out = RunCommand(argv, {.timeout = absl::Seconds(120)});
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return "";
  EXPECT_EQ(out->exit_code, 0) << CommandLineForLog(argv) << ": " << out->output;
  return out->output;
}

std::string MakeTempDir() {
  std::string tmpl = "/tmp/drover-tarball-test-XXXXXX";
  const bool made = mkdtemp(tmpl.data()) != nullptr;
  EXPECT_TRUE(made) << "mkdtemp " << tmpl;
  return made ? tmpl : "";
}

std::string* SignedTarballsTest::suite_dir_ = nullptr;

void SignedTarballsTest::SetUpTestSuite() {
  suite_dir_ = new std::string(MakeTempDir());
  RunOk({std::string(DROVER_SOURCE_DIR) + "/tests/fixtures/make_tarballs.sh", *suite_dir_ + "/repo", DROVER_BIN_DIR});
}

void SignedTarballsTest::TearDownTestSuite() {
  if (!suite_dir_->empty()) fs::remove_all(*suite_dir_);
  delete suite_dir_;
  suite_dir_ = nullptr;
}

void SignedTarballsTest::SetUp() {
  dir_ = MakeTempDir();
  ASSERT_FALSE(dir_.empty());
  repo_ = dir_ + "/repo";
  install_dir_ = dir_ + "/agent";
  fs::copy(*suite_dir_ + "/repo", repo_, fs::copy_options::recursive);
  ASSERT_TRUE(fs::exists(repo_ + "/demo-agent-1.0.0.tar.gz")) << "make_tarballs.sh made no tarballs";
}

void SignedTarballsTest::TearDown() {
  if (!dir_.empty()) fs::remove_all(dir_);
}

}  // namespace drover::testing
