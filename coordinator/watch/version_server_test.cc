#include "coordinator/watch/version_server.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace drover::watch {
namespace {

using ::testing::HasSubstr;
using Kind = VersionRequest::Kind;

TEST(ParseVersionRequestTest, ChannelWithSlashes) {
  absl::StatusOr<VersionRequest> r = ParseVersionRequest("/v1/stable/rolling/version", "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->channel, "stable/rolling");
  EXPECT_EQ(r->kind, Kind::kVersion);
  EXPECT_TRUE(r->host.host_id.empty());
  EXPECT_TRUE(r->host.group.empty());
}

TEST(ParseVersionRequestTest, Critical) {
  absl::StatusOr<VersionRequest> r = ParseVersionRequest("/v1/cloud/critical", "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->channel, "cloud");
  EXPECT_EQ(r->kind, Kind::kCritical);
}

TEST(ParseVersionRequestTest, TeleportProxyPath) {
  absl::StatusOr<VersionRequest> r =
      ParseVersionRequest("/v1/webapi/automaticupgrades/channel/stable/cloud/critical", "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->channel, "stable/cloud");
  EXPECT_EQ(r->kind, Kind::kCritical);
}

TEST(ParseVersionRequestTest, PercentEncodedSlash) {
  absl::StatusOr<VersionRequest> r = ParseVersionRequest("/v1/stable%2Fcloud/version", "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->channel, "stable/cloud");
}

TEST(ParseVersionRequestTest, HostAndGroup) {
  absl::StatusOr<VersionRequest> r = ParseVersionRequest("/v1/cloud/version", "group=prod&host_id=web-1");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->host.group, "prod");
  EXPECT_EQ(r->host.host_id, "web-1");
}

TEST(ParseVersionRequestTest, UnknownPathsAreNotFound) {
  for (const char* path : {"/", "/v1/", "/v1/cloud", "/v1/cloud/latest", "/v2/cloud/version", "/v1/version",
                           "/metrics"}) {
    absl::StatusOr<VersionRequest> r = ParseVersionRequest(path, "");
    EXPECT_TRUE(absl::IsNotFound(r.status()) || absl::IsInvalidArgument(r.status())) << path << ": " << r.status();
    if (absl::IsNotFound(r.status())) EXPECT_THAT(r.status().message(), HasSubstr("/v1/<channel>/version"));
  }
  EXPECT_TRUE(absl::IsNotFound(ParseVersionRequest("/v1/cloud/latest", "").status()));
}

TEST(ParseVersionRequestTest, BadChannelIdIsNamed) {
  absl::StatusOr<VersionRequest> r = ParseVersionRequest("/v1/Stable_Cloud/version", "");
  ASSERT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("\"Stable_Cloud\""));
  EXPECT_TRUE(absl::IsInvalidArgument(ParseVersionRequest("/v1/a//b/version", "").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParseVersionRequest("/v1/a%00b/version", "").status()));
  // "/v1//version": an empty channel.
  EXPECT_TRUE(absl::IsInvalidArgument(ParseVersionRequest("/v1//version", "").status()));
}

TEST(ParseVersionRequestTest, MalformedEscapes) {
  for (const char* path : {"/v1/a%/version", "/v1/a%4/version", "/v1/a%zz/version", "/v1/cloud/version%"}) {
    absl::StatusOr<VersionRequest> r = ParseVersionRequest(path, "");
    ASSERT_TRUE(absl::IsInvalidArgument(r.status())) << path << ": " << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr("not URL-encoded"));
  }
}

TEST(ParseVersionRequestTest, BadQuery) {
  absl::StatusOr<VersionRequest> r = ParseVersionRequest("/v1/cloud/version", "colour=red");
  ASSERT_TRUE(absl::IsInvalidArgument(r.status()));
  EXPECT_THAT(r.status().message(), HasSubstr("\"colour\""));
  r = ParseVersionRequest("/v1/cloud/version", "group=no%20spaces");
  ASSERT_TRUE(absl::IsInvalidArgument(r.status()));
  EXPECT_THAT(r.status().message(), HasSubstr("group"));
  r = ParseVersionRequest("/v1/cloud/version", "host_id=" + std::string(300, 'h'));
  ASSERT_TRUE(absl::IsInvalidArgument(r.status()));
  EXPECT_THAT(r.status().message(), HasSubstr("host_id"));
  r = ParseVersionRequest("/v1/cloud/version", std::string(2000, 'q'));
  ASSERT_TRUE(absl::IsInvalidArgument(r.status()));
  EXPECT_THAT(r.status().message(), HasSubstr("query longer than"));
  r = ParseVersionRequest("/v1/" + std::string(2000, 'c') + "/version", "");
  ASSERT_TRUE(absl::IsInvalidArgument(r.status()));
  EXPECT_THAT(r.status().message(), HasSubstr("path longer than"));
}

TEST(VersionBodyTest, Bodies) {
  AnswerFields a;
  EXPECT_EQ(VersionBody(Kind::kVersion, a), "none");
  EXPECT_EQ(VersionBody(Kind::kCritical, a), "no");
  a.target_version = "15.1.3";
  a.critical = true;
  EXPECT_EQ(VersionBody(Kind::kVersion, a), "v15.1.3");
  EXPECT_EQ(VersionBody(Kind::kCritical, a), "yes");
  a.target_version = "16.0.0-rc.1";
  EXPECT_EQ(VersionBody(Kind::kVersion, a), "v16.0.0-rc.1");
}

}  // namespace
}  // namespace drover::watch
