#include "agent-updater/install/package_version.h"

#include <gtest/gtest.h>

#include "common/status_testing.h"

namespace drover::updater {
namespace {

using drover::testing::IsError;

std::string Deb(absl::string_view v) {
  absl::StatusOr<Semver> s = SemverFromDebianVersion(v);
  return s.ok() ? s->ToString() : std::string(s.status().message());
}

TEST(PackageVersionTest, PreReleaseBecomesTilde) {
  EXPECT_EQ(PackageVersionFromSemver(*Semver::Parse("1.2.3")), "1.2.3");
  EXPECT_EQ(PackageVersionFromSemver(*Semver::Parse("1.4.0-rc.1")), "1.4.0~rc.1");
  EXPECT_EQ(PackageVersionFromSemver(*Semver::Parse("1.4.0-rc-1+b.5")), "1.4.0~rc-1+b.5");
  EXPECT_EQ(PackageVersionFromSemver(*Semver::Parse("1.4.0+build-7")), "1.4.0+build-7");
}

TEST(PackageVersionTest, DebianVersionDropsEpochAndRevision) {
  EXPECT_EQ(Deb("1.2.3"), "1.2.3");
  EXPECT_EQ(Deb("1.2.3-1"), "1.2.3");
  EXPECT_EQ(Deb("2:1.2.3-0ubuntu1"), "1.2.3");
  EXPECT_EQ(Deb("1.4.0~rc.1"), "1.4.0-rc.1");
  EXPECT_EQ(Deb("1.4.0~rc.1-2"), "1.4.0-rc.1");
  EXPECT_EQ(Deb("1.4.0+b.5"), "1.4.0+b.5");
}

TEST(PackageVersionTest, NonSemverIsRefusedWithTheVersion) {
  EXPECT_TRUE(IsError(SemverFromDebianVersion("1.2-3").status(), absl::StatusCode::kFailedPrecondition,
                      {"\"1.2-3\"", "semver"}));
  EXPECT_TRUE(IsError(SemverFromDebianVersion("20230101").status(), absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(IsError(SemverFromRpmVersion("1.2").status(), absl::StatusCode::kFailedPrecondition, {"\"1.2\""}));
}

TEST(PackageVersionTest, RpmVersion) {
  EXPECT_EQ(SemverFromRpmVersion("1.1.0")->ToString(), "1.1.0");
  EXPECT_EQ(SemverFromRpmVersion("1.4.0~rc.1\n")->ToString(), "1.4.0-rc.1");
}

TEST(PackageVersionTest, RoundTrip) {
  for (const char* v : {"0.0.1", "1.2.3", "1.4.0-rc.1", "1.4.0-alpha.beta.7", "2.0.0+meta"}) {
    const std::string packaged = PackageVersionFromSemver(*Semver::Parse(v));
    EXPECT_EQ(SemverFromDebianVersion(packaged)->ToString(), v);
    EXPECT_EQ(SemverFromDebianVersion(packaged + "-1")->ToString(), v);
    EXPECT_EQ(SemverFromRpmVersion(packaged)->ToString(), v);
  }
}

TEST(PackageVersionTest, OutputForMessagePrefersErrorLines) {
  EXPECT_EQ(OutputForMessage("Get:1 x\nReading package lists...\nE: The repository 'x' is not signed.\n"),
            "E: The repository 'x' is not signed.");
  EXPECT_EQ(OutputForMessage("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n"), "c; d; e; f; g; h; i; j");
  EXPECT_EQ(OutputForMessage(""), "(no output)");
  const std::string long_line(5000, 'x');
  const std::string shortened = OutputForMessage(long_line, 100);
  EXPECT_EQ(shortened.size(), 100u);
  EXPECT_EQ(shortened.substr(0, 3), "...");
}

// At most max_chars, the "..." included, and never inside a character
// (found by tests/fuzz/versions_fuzzer: the result was 3 bytes over).
TEST(PackageVersionTest, OutputForMessageStaysWithinItsLimit) {
  EXPECT_EQ(OutputForMessage("E: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 16), "...aaaaaaaaaaaaa");
  EXPECT_EQ(OutputForMessage("E: unable to fetch", 3), "tch");
  EXPECT_EQ(OutputForMessage("E: unable to fetch", 0), "");
  // "é" is two bytes: a cut through it drops it whole.
  EXPECT_EQ(OutputForMessage("E: caf\xc3\xa9 t\xc3\xa9", 9), "...\xc3\xa9 t\xc3\xa9");
  EXPECT_EQ(OutputForMessage("E: caf\xc3\xa9 t\xc3\xa9", 8), "... t\xc3\xa9");
}

}  // namespace
}  // namespace drover::updater
