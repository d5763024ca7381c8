#include "common/version_policy.h"

#include <string>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "common/status_testing.h"

namespace drover {
namespace {

using ::drover::testing::IsError;

Semver V(absl::string_view text) {
  absl::StatusOr<Semver> v = Semver::Parse(text);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : Semver();
}

struct PolicyCase {
  std::string version;
  std::string control_plane;
};

class InPolicyTest : public ::testing::TestWithParam<PolicyCase> {};

TEST_P(InPolicyTest, Allowed) {
  const PolicyCase& c = GetParam();
  EXPECT_TRUE(CheckVersionPolicy(V(c.version), V(c.control_plane)).ok());
  EXPECT_EQ(OutOfPolicyReason(V(c.version), V(c.control_plane)), "");
}

INSTANTIATE_TEST_SUITE_P(
    Versions, InPolicyTest,
    ::testing::Values(PolicyCase{"15.2.0", "15.2.0"},         // equal
                      PolicyCase{"15.2.0+build.9", "15.2.0"},  // build metadata ignored
                      PolicyCase{"15.2.0-rc.1", "15.2.0"},     // pre-release is below
                      PolicyCase{"15.0.0", "15.2.0"},
                      PolicyCase{"14.0.0", "15.2.0"},    // one major below, lowest
                      PolicyCase{"14.99.99", "15.2.0"},  // one major below, highest
                      PolicyCase{"0.1.0", "1.0.0"},      // major 0 is one below 1
                      PolicyCase{"0.0.1", "0.5.0"}));    // nothing is below major 0

class OutOfPolicyTest : public ::testing::TestWithParam<PolicyCase> {};

TEST_P(OutOfPolicyTest, RefusedNamingBothVersions) {
  const PolicyCase& c = GetParam();
  absl::Status s = CheckVersionPolicy(V(c.version), V(c.control_plane), "agent version");
  EXPECT_TRUE(IsError(s, absl::StatusCode::kFailedPrecondition,
                      {"agent version", c.version, c.control_plane}));
  EXPECT_FALSE(OutOfPolicyReason(V(c.version), V(c.control_plane)).empty());
}

INSTANTIATE_TEST_SUITE_P(
    Versions, OutOfPolicyTest,
    ::testing::Values(PolicyCase{"15.2.1", "15.2.0"},         // patch above
                      PolicyCase{"15.3.0", "15.2.0"},         // minor above
                      PolicyCase{"16.0.0", "15.2.0"},         // major above
                      PolicyCase{"15.2.0", "15.2.0-rc.1"},    // release above its pre-release
                      PolicyCase{"15.2.0-rc.2", "15.2.0-rc.1"},
                      PolicyCase{"13.99.99", "15.2.0"},       // two majors below
                      PolicyCase{"0.9.0", "2.0.0"}));

TEST(VersionPolicyTest, ReasonSaysWhichRuleBroke) {
  std::string above = OutOfPolicyReason(V("15.3.0"), V("15.2.0"));
  EXPECT_TRUE(absl::StrContains(above, "above")) << above;
  EXPECT_TRUE(absl::StrContains(above, "15.3.0")) << above;
  EXPECT_TRUE(absl::StrContains(above, "15.2.0")) << above;

  std::string below = OutOfPolicyReason(V("13.0.0"), V("15.2.0"));
  EXPECT_TRUE(absl::StrContains(below, "below")) << below;
  EXPECT_TRUE(absl::StrContains(below, "13.0.0")) << below;
  EXPECT_TRUE(absl::StrContains(below, "15.2.0")) << below;
}

TEST(VersionPolicyTest, MessagesUseNormalisedVersions) {
  absl::Status s = CheckVersionPolicy(V("v16.0.0"), V("v15.2.0"));
  EXPECT_TRUE(IsError(s, absl::StatusCode::kFailedPrecondition, {"version 16.0.0", "15.2.0"}));
  EXPECT_FALSE(absl::StrContains(s.message(), "v16")) << s.message();
}

TEST(VersionPolicyTest, DefaultSubjectIsVersion) {
  absl::Status s = CheckVersionPolicy(V("16.0.0"), V("15.0.0"));
  EXPECT_TRUE(IsError(s, absl::StatusCode::kFailedPrecondition, {"version 16.0.0"}));
}

}  // namespace
}  // namespace drover
