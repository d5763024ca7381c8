#include "agent-updater/oci/www_authenticate.h"

#include <gtest/gtest.h>

#include "common/status_testing.h"

namespace drover::oci {
namespace {

TEST(AuthChallengeTest, ParsesDistributionBearerChallenge) {
  absl::StatusOr<AuthChallenge> c = ParseAuthChallenge(
      R"(Bearer realm="https://auth.example/token",service="registry.example",scope="repository:team/app:pull")");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->scheme, "bearer");
  EXPECT_EQ(c->params["realm"], "https://auth.example/token");
  EXPECT_EQ(c->params["service"], "registry.example");
  EXPECT_EQ(c->params["scope"], "repository:team/app:pull");
}

TEST(AuthChallengeTest, ToleratesSpacesTokensEscapesAndASecondChallenge) {
  absl::StatusOr<AuthChallenge> c =
      ParseAuthChallenge(R"(  BASIC  Realm = "a \"quoted\" realm" , charset=UTF-8, Bearer realm="x")");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->scheme, "basic");
  EXPECT_EQ(c->params["realm"], "a \"quoted\" realm");
  EXPECT_EQ(c->params["charset"], "UTF-8");
  EXPECT_EQ(c->params.count("bearer"), 0u);
}

TEST(AuthChallengeTest, RefusesWhatDoesNotParse) {
  using ::drover::testing::IsError;
  EXPECT_TRUE(IsError(ParseAuthChallenge("").status(), absl::StatusCode::kInvalidArgument, {"no auth scheme"}));
  EXPECT_TRUE(IsError(ParseAuthChallenge(R"(Bearer realm="open)").status(), absl::StatusCode::kInvalidArgument,
                      {"unterminated", "realm"}));
  EXPECT_TRUE(IsError(ParseAuthChallenge(R"(Bearer realm="a" junk)").status(), absl::StatusCode::kInvalidArgument,
                      {"after realm"}));
}

}  // namespace
}  // namespace drover::oci
