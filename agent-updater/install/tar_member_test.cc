// The pure per-member check and the budget.
#include "agent-updater/install/tar_member.h"

#include <gtest/gtest.h>

#include "common/status_testing.h"

namespace drover::updater {
namespace {

using drover::testing::IsError;
using T = TarMemberType;

absl::StatusOr<CheckedTarMember> Check(T type, std::string path, std::string target = "", uint32_t mode = 0644,
                                       int64_t size = 0) {
  return CheckTarMember(TarMember{type, std::move(path), std::move(target), mode, size});
}

TEST(TarMemberTest, RegularFilesDirectoriesAndInsideLinksPass) {
  absl::StatusOr<CheckedTarMember> m = Check(T::kRegular, "./bin//agent", "", 0755, 10);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->components, (std::vector<std::string>{"bin", "agent"}));
  EXPECT_EQ(m->size, 10);
  EXPECT_TRUE(Check(T::kDirectory, "./").ok());
  EXPECT_TRUE(Check(T::kDirectory, "./").value().components.empty());
  EXPECT_TRUE(Check(T::kSymlink, "bin/a", "agent").ok());
  EXPECT_TRUE(Check(T::kSymlink, "bin/a", "../lib/x").ok());
  EXPECT_TRUE(Check(T::kSymlink, "a/b/c", "../../x/./y").ok());
  absl::StatusOr<CheckedTarMember> h = Check(T::kHardlink, "bin/b", "./bin/agent");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->hardlink_components, (std::vector<std::string>{"bin", "agent"}));
}

TEST(TarMemberTest, SpecialFilesAreRefused) {
  for (T t : {T::kCharDevice, T::kBlockDevice, T::kFifo, T::kSocket, T::kOther}) {
    EXPECT_TRUE(IsError(Check(t, "dev/x").status(), absl::StatusCode::kPermissionDenied,
                        {"\"dev/x\"", std::string(TarMemberTypeName(t)), "only regular files"}));
  }
}

TEST(TarMemberTest, PathsOutsideAreRefused) {
  EXPECT_TRUE(IsError(Check(T::kRegular, "/etc/passwd").status(), absl::StatusCode::kPermissionDenied, {"absolute"}));
  EXPECT_TRUE(IsError(Check(T::kRegular, "../x").status(), absl::StatusCode::kPermissionDenied, {"\"..\""}));
  EXPECT_TRUE(IsError(Check(T::kRegular, "a/../../x").status(), absl::StatusCode::kPermissionDenied, {"\"..\""}));
  EXPECT_TRUE(IsError(Check(T::kRegular, "a/..").status(), absl::StatusCode::kPermissionDenied, {"\"..\""}));
  EXPECT_TRUE(IsError(Check(T::kRegular, "").status(), absl::StatusCode::kPermissionDenied, {"empty"}));
  EXPECT_TRUE(IsError(Check(T::kRegular, std::string("a\0b", 3)).status(), absl::StatusCode::kPermissionDenied,
                      {"NUL"}));
  EXPECT_TRUE(IsError(Check(T::kRegular, std::string(300, 'a')).status(), absl::StatusCode::kPermissionDenied,
                      {"300 bytes"}));
  EXPECT_TRUE(IsError(Check(T::kRegular, "./").status(), absl::StatusCode::kPermissionDenied, {"top directory"}));
  EXPECT_TRUE(IsError(Check(T::kRegular, "x", "", 0644, -1).status(), absl::StatusCode::kPermissionDenied,
                      {"negative"}));
}

TEST(TarMemberTest, EscapingSymlinksAreRefused) {
  EXPECT_TRUE(IsError(Check(T::kSymlink, "bin/sh", "/bin/sh").status(), absl::StatusCode::kPermissionDenied,
                      {"absolute", "leaves the version directory"}));
  EXPECT_TRUE(IsError(Check(T::kSymlink, "up", "..").status(), absl::StatusCode::kPermissionDenied,
                      {"leaves the version directory"}));
  EXPECT_TRUE(IsError(Check(T::kSymlink, "bin/up", "../..").status(), absl::StatusCode::kPermissionDenied,
                      {"leaves"}));
  // Lexically inside, but "s/.." goes wherever s points: refused.
  EXPECT_TRUE(IsError(Check(T::kSymlink, "t", "s/..").status(), absl::StatusCode::kPermissionDenied,
                      {"after a name"}));
  EXPECT_TRUE(IsError(Check(T::kSymlink, "t", "").status(), absl::StatusCode::kPermissionDenied, {"empty"}));
}

TEST(TarMemberTest, EscapingHardLinksAreRefused) {
  EXPECT_TRUE(IsError(Check(T::kHardlink, "x", "/etc/shadow").status(), absl::StatusCode::kPermissionDenied,
                      {"hard link target", "absolute"}));
  EXPECT_TRUE(IsError(Check(T::kHardlink, "x", "../../etc/shadow").status(), absl::StatusCode::kPermissionDenied,
                      {"hard link target", "\"..\""}));
  EXPECT_TRUE(IsError(Check(T::kHardlink, "x", "./").status(), absl::StatusCode::kPermissionDenied,
                      {"top directory"}));
}

TEST(TarMemberTest, ModesLoseSetuidSetgidStickyAndGroupOtherWrite) {
  EXPECT_EQ(Check(T::kRegular, "a", "", 04755).value().mode, 0755u);
  EXPECT_EQ(Check(T::kRegular, "a", "", 02755).value().mode, 0755u);
  EXPECT_EQ(Check(T::kDirectory, "d", "", 01777).value().mode, 0755u);
  EXPECT_EQ(Check(T::kRegular, "a", "", 0666).value().mode, 0644u);
  EXPECT_EQ(Check(T::kRegular, "a", "", 0600).value().mode, 0600u);
}

TEST(TarBudgetTest, BytesAndMembers) {
  TarBudget b(TarLimits{.max_bytes = 100, .max_members = 3});
  EXPECT_TRUE(b.Add("a", 60).ok());
  EXPECT_TRUE(IsError(b.Add("b", 41), absl::StatusCode::kResourceExhausted,
                      {"more than 100 bytes", "max_unpacked_bytes", "\"b\""}));
  TarBudget c(TarLimits{.max_bytes = 100, .max_members = 2});
  EXPECT_TRUE(c.Add("a", 0).ok());
  EXPECT_TRUE(c.Add("b", 100).ok());
  EXPECT_TRUE(IsError(c.Add("c", 0), absl::StatusCode::kResourceExhausted, {"more than 2 members", "max_files"}));
  TarBudget d(TarLimits{.max_bytes = INT64_MAX, .max_members = 10});
  EXPECT_TRUE(d.Add("a", INT64_MAX).ok());
  EXPECT_EQ(d.Add("b", 1).code(), absl::StatusCode::kResourceExhausted);  // no overflow
}

}  // namespace
}  // namespace drover::updater
