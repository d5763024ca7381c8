#include "agent-updater/oci/image_reference.h"

#include <gtest/gtest.h>

#include <string>

#include "agent-updater/oci/digest.h"
#include "common/status_testing.h"

namespace drover::oci {
namespace {

using ::drover::testing::IsError;

const std::string kDigest = "sha256:" + std::string(64, 'a');

TEST(ImageReferenceTest, ParsesHostPortRepositoryAndTag) {
  absl::StatusOr<ImageReference> ref = ParseImageReference("127.0.0.1:5000/team/app:v1.2.0");
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->registry, "127.0.0.1:5000");
  EXPECT_EQ(ref->repository, "team/app");
  EXPECT_EQ(ref->tag, "v1.2.0");
  EXPECT_EQ(ref->digest, "");
  EXPECT_EQ(ref->ToString(), "127.0.0.1:5000/team/app:v1.2.0");
  EXPECT_EQ(ref->PinnedTo(kDigest), "127.0.0.1:5000/team/app@" + kDigest);
}

TEST(ImageReferenceTest, ParsesDigestAndTagWithDigest) {
  absl::StatusOr<ImageReference> ref = ParseImageReference("registry.example.com/a/b/c@" + kDigest);
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->registry, "registry.example.com");
  EXPECT_EQ(ref->repository, "a/b/c");
  EXPECT_EQ(ref->tag, "");
  EXPECT_EQ(ref->digest, kDigest);
  ref = ParseImageReference("localhost/app:1@" + kDigest);
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->tag, "1");
  EXPECT_EQ(ref->digest, kDigest);
}

TEST(ImageReferenceTest, ParsesIpv6AndSeparators) {
  absl::StatusOr<ImageReference> ref = ParseImageReference("[::1]:5000/my_app/x.y__z-w---v");
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->registry, "[::1]:5000");
  EXPECT_EQ(ref->repository, "my_app/x.y__z-w---v");
  EXPECT_EQ(ref->tag, "");
}

TEST(ImageReferenceTest, RefusesWhatIsNotAReferenceNamingTheBadPart) {
  EXPECT_TRUE(IsError(ParseImageReference("").status(), absl::StatusCode::kInvalidArgument, {"empty"}));
  EXPECT_TRUE(IsError(ParseImageReference("library/nginx:1").status(), absl::StatusCode::kInvalidArgument,
                      {"\"library/nginx:1\"", "no registry host"}));
  EXPECT_TRUE(IsError(ParseImageReference("nginx").status(), absl::StatusCode::kInvalidArgument,
                      {"no registry host"}));
  EXPECT_TRUE(IsError(ParseImageReference("host.io/Team/app").status(), absl::StatusCode::kInvalidArgument,
                      {"component \"Team\""}));
  EXPECT_TRUE(IsError(ParseImageReference("host.io/team//app").status(), absl::StatusCode::kInvalidArgument,
                      {"component \"\""}));
  EXPECT_TRUE(IsError(ParseImageReference("host.io/a..b").status(), absl::StatusCode::kInvalidArgument,
                      {"\"a..b\""}));
  EXPECT_TRUE(IsError(ParseImageReference("host.io/app:").status(), absl::StatusCode::kInvalidArgument,
                      {"bad tag \"\""}));
  EXPECT_TRUE(IsError(ParseImageReference("host.io/app:-x").status(), absl::StatusCode::kInvalidArgument,
                      {"bad tag \"-x\""}));
  EXPECT_TRUE(IsError(ParseImageReference("host.io/app:" + std::string(129, 'a')).status(),
                      absl::StatusCode::kInvalidArgument, {"bad tag"}));
  EXPECT_TRUE(IsError(ParseImageReference("host.io:99999/app").status(), absl::StatusCode::kInvalidArgument,
                      {"bad registry port \"99999\""}));
  EXPECT_TRUE(IsError(ParseImageReference("host.io:/app").status(), absl::StatusCode::kInvalidArgument,
                      {"bad registry port"}));
  EXPECT_TRUE(IsError(ParseImageReference("ho_st.io/app").status(), absl::StatusCode::kInvalidArgument,
                      {"bad registry host \"ho_st.io\""}));
  EXPECT_TRUE(IsError(ParseImageReference("host.io/app@sha256:abc").status(), absl::StatusCode::kInvalidArgument,
                      {"\"sha256:abc\"", "sha256:<64 lowercase hex digits>"}));
  EXPECT_TRUE(IsError(ParseImageReference("host.io/app@sha512:" + std::string(128, 'a')).status(),
                      absl::StatusCode::kInvalidArgument, {"sha512:"}));
  EXPECT_TRUE(IsError(ParseImageReference("host.io/app@sha256:" + std::string(64, 'A')).status(),
                      absl::StatusCode::kInvalidArgument, {"lowercase"}));
  EXPECT_TRUE(IsError(ParseImageReference("host.io/").status(), absl::StatusCode::kInvalidArgument,
                      {"no repository"}));
  EXPECT_TRUE(IsError(ParseImageReference("host.io/" + std::string(256, 'a')).status(),
                      absl::StatusCode::kInvalidArgument, {"256 characters"}));
}

TEST(DigestTest, AcceptsOnlySha256WithSixtyFourLowercaseHexDigits) {
  EXPECT_TRUE(IsSha256Digest(kDigest));
  EXPECT_FALSE(IsSha256Digest("sha256:" + std::string(63, 'a')));
  EXPECT_FALSE(IsSha256Digest("sha256:" + std::string(65, 'a')));
  EXPECT_FALSE(IsSha256Digest("sha256:" + std::string(63, 'a') + "g"));
  EXPECT_FALSE(IsSha256Digest("sha512:" + std::string(64, 'a')));
  EXPECT_EQ(Sha256Digest(""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_TRUE(IsError(CheckSha256Digest("md5:x", "layer digest"), absl::StatusCode::kInvalidArgument,
                      {"layer digest \"md5:x\""}));
}

TEST(DigestTest, QuoteShortCutsLongAndEscapesControlCharacters) {
  EXPECT_EQ(QuoteShort("a\nb"), "\"a\\nb\"");
  EXPECT_EQ(QuoteShort(std::string(100, 'x'), 4), "\"xxxx...\"");
}

}  // namespace
}  // namespace drover::oci
