// What a tarball may hold: real gzip'd tar files with one odd member each
// (tests/fixtures/make_bad_tarball.py), signed with a real manifest, through
// TarballInstaller. A refused one leaves the installed version, and nothing
// else, behind.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent-updater/install/tarball_installer.h"
#include "common/atomic_file.h"
#include "common/status_testing.h"
#include "common/subprocess.h"
#include "tests/support/signed_tarballs.h"

namespace drover::updater {
namespace {

namespace fs = std::filesystem;
using drover::testing::IsError;
using drover::testing::RunOk;

class TarballExtractionTest : public drover::testing::SignedTarballsTest {
 protected:
  std::unique_ptr<TarballInstaller> Make(uint64_t max_bytes = 0, uint32_t max_files = 0) {
    drover::v1::TarballInstaller c;
    c.set_base(repo_);
    c.set_public_key_file(repo_ + "/tarball-key.pub.pem");
    c.set_install_dir(install_dir_);
    c.set_max_unpacked_bytes(max_bytes);
    c.set_max_files(max_files);
    absl::StatusOr<std::unique_ptr<TarballInstaller>> i = TarballInstaller::Create("demo-agent", c);
    EXPECT_TRUE(i.ok()) << i.status();
    return i.ok() ? std::move(*i) : nullptr;
  }

  // Publishes make_bad_tarball.py's CASE as demo-agent VERSION, with a
  // valid signed manifest: only the content is wrong.
  void Publish(const std::string& kase, const std::string& version, const std::string& outside = "") {
    const std::string file = absl::StrCat(repo_, "/demo-agent-", version, ".tar.gz");
    std::vector<std::string> argv = {std::string(DROVER_SOURCE_DIR) + "/tests/fixtures/make_bad_tarball.py", kase,
                                     file, std::string(DROVER_BIN_DIR) + "/demo-agent-1.1.0"};
    if (!outside.empty()) argv.push_back(outside);
    RunOk(argv);
    RunOk({std::string(DROVER_BIN_DIR) + "/drover-artifact", "sign", "--key_file=" + repo_ + "/tarball-key.pem",
           "--name=demo-agent", "--version=" + version, file});
  }

  std::set<std::string> List(const std::string& dir) {
    std::set<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) names.insert(e.path().filename().string());
    return names;
  }

  std::string RunningVersion() {
    return std::string(absl::StripAsciiWhitespace(RunOk({install_dir_ + "/current/bin/demo-agent", "--version"})));
  }

  // Installs 1.0.0, refuses `version` with `code` and the fragments, and
  // checks that only 1.0.0 (and its marker) is left.
  void ExpectRefused(const std::string& version, absl::StatusCode code,
                     std::initializer_list<absl::string_view> fragments) {
    auto installer = Make(limit_bytes_, limit_files_);
    ASSERT_NE(installer, nullptr);
    ASSERT_TRUE(installer->Install("1.0.0").ok());
    EXPECT_TRUE(IsError(installer->Install(version), code, fragments));
    EXPECT_EQ(RunningVersion(), "1.0.0");
    EXPECT_EQ(List(install_dir_ + "/versions"), (std::set<std::string>{"1.0.0", "1.0.0.verified"}));
    EXPECT_EQ(List(install_dir_), (std::set<std::string>{"current", "versions"}));
    EXPECT_FALSE(fs::exists(dir_ + "/escaped"));
    EXPECT_FALSE(fs::exists(dir_ + "/outside/escaped"));
  }

  uint64_t limit_bytes_ = 0;
  uint32_t limit_files_ = 0;
};

TEST_F(TarballExtractionTest, DeviceNodeIsRefused) {
  Publish("device", "2.0.0");
  ExpectRefused("2.0.0", absl::StatusCode::kPermissionDenied, {"bin/null", "character device", "nothing was installed"});
}

TEST_F(TarballExtractionTest, FifoIsRefused) {
  Publish("fifo", "2.0.0");
  ExpectRefused("2.0.0", absl::StatusCode::kPermissionDenied, {"bin/pipe", "FIFO"});
}

TEST_F(TarballExtractionTest, AbsolutePathIsRefused) {
  fs::create_directories(dir_ + "/outside");
  Publish("absolute", "2.0.0", dir_ + "/outside/escaped");
  ExpectRefused("2.0.0", absl::StatusCode::kPermissionDenied, {dir_ + "/outside/escaped", "absolute"});
}

TEST_F(TarballExtractionTest, DotDotIsRefused) {
  Publish("dotdot", "2.0.0");
  ExpectRefused("2.0.0", absl::StatusCode::kPermissionDenied, {"../../escaped", "\"..\""});
}

TEST_F(TarballExtractionTest, EscapingSymlinkIsRefused) {
  Publish("symlink-escape", "2.0.0");
  ExpectRefused("2.0.0", absl::StatusCode::kPermissionDenied, {"\"etc\"", "leaves the version directory"});
}

TEST_F(TarballExtractionTest, NothingIsWrittenThroughASymlink) {
  Publish("symlink-through", "2.0.0");
  ExpectRefused("2.0.0", absl::StatusCode::kPermissionDenied, {"bin/lnk/x", "\"bin/lnk\" is not a directory"});
}

TEST_F(TarballExtractionTest, EscapingHardLinkIsRefused) {
  Publish("hardlink-escape", "2.0.0");
  ExpectRefused("2.0.0", absl::StatusCode::kPermissionDenied, {"bin/passwd", "hard link target", "\"..\""});
}

TEST_F(TarballExtractionTest, DuplicateMemberIsRefused) {
  Publish("duplicate", "2.0.0");
  ExpectRefused("2.0.0", absl::StatusCode::kPermissionDenied, {"bin/demo-agent", "already there"});
}

// Small compressed, 24 MiB expanded (and the agent), 20 MiB allowed: the
// third member stops it, and what was unpacked before is removed.
TEST_F(TarballExtractionTest, GzipBombFailsCleanly) {
  Publish("bomb", "2.0.0");
  EXPECT_LT(fs::file_size(repo_ + "/demo-agent-2.0.0.tar.gz"), 1u << 20);
  limit_bytes_ = 20 << 20;
  ExpectRefused("2.0.0", absl::StatusCode::kResourceExhausted,
                {"more than 20971520 bytes", "max_unpacked_bytes", "data/zeros-2", "nothing was installed"});
}

TEST_F(TarballExtractionTest, FileCountBudget) {
  Publish("many-files", "2.0.0");
  limit_files_ = 50;
  ExpectRefused("2.0.0", absl::StatusCode::kResourceExhausted, {"more than 50 members", "max_files"});
  // The same archive within the default budget installs.
  auto installer = Make();
  ASSERT_TRUE(installer->Install("2.0.0").ok());
  EXPECT_TRUE(fs::exists(install_dir_ + "/current/data/f199"));
}

TEST_F(TarballExtractionTest, SetuidSetgidAndStickyBitsAreDropped) {
  Publish("setuid", "2.0.0");
  auto installer = Make();
  ASSERT_NE(installer, nullptr);
  ASSERT_TRUE(installer->Install("2.0.0").ok());
  struct stat st{};
  ASSERT_EQ(stat((install_dir_ + "/current/bin/demo-agent").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  ASSERT_EQ(stat((install_dir_ + "/current/tmp").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_EQ(RunningVersion(), "1.1.0");  // the binary packed, whatever the label
}

TEST_F(TarballExtractionTest, LinksInsideAreKept) {
  Publish("hardlink-inside", "2.0.0");
  Publish("symlink-inside", "2.1.0");
  auto installer = Make();
  ASSERT_NE(installer, nullptr);
  ASSERT_TRUE(installer->Install("2.0.0").ok());
  struct stat a{}, b{};
  ASSERT_EQ(stat((install_dir_ + "/current/bin/alias").c_str(), &a), 0);
  ASSERT_EQ(stat((install_dir_ + "/current/bin/demo-agent").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  ASSERT_TRUE(installer->Install("2.1.0").ok());
  EXPECT_EQ(fs::read_symlink(install_dir_ + "/current/bin/agent"), "demo-agent");
}

}  // namespace
}  // namespace drover::updater
