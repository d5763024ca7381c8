#include "agent-updater/kube/image_patch.h"

#include <gtest/gtest.h>

#include "common/status_testing.h"
#include "nlohmann/json.hpp"

namespace drover::updater::kube {
namespace {

using ::drover::testing::IsError;

TEST(ImagePatchTest, RepositoryAndTag) {
  EXPECT_EQ(ImageRepository("localhost:5000/gravitational/teleport:15.1.3"), "localhost:5000/gravitational/teleport");
  EXPECT_EQ(ImageTag("localhost:5000/gravitational/teleport:15.1.3"), "15.1.3");
  EXPECT_EQ(ImageTag("localhost:5000/teleport"), "");
  const std::string digest = "sha256:" + std::string(64, 'a');
  EXPECT_EQ(ImageTag("reg.io/t:15.1.3@" + digest), "15.1.3");
  EXPECT_EQ(ImageRepository("reg.io/t:15.1.3@" + digest), "reg.io/t");
  EXPECT_EQ(ImageRepository("reg.io:443/t@" + digest), "reg.io:443/t");
}

TEST(ImagePatchTest, VersionOfImage) {
  const std::string digest = "sha256:" + std::string(64, 'b');
  EXPECT_EQ(*VersionOfImage("public.ecr.aws/gravitational/teleport-distroless:15.1.3", ""), "15.1.3");
  EXPECT_EQ(*VersionOfImage("reg.io/t:v15.1.3@" + digest, "v"), "15.1.3");
  EXPECT_TRUE(IsError(VersionOfImage("reg.io/t@" + digest, "").status(), absl::StatusCode::kInvalidArgument,
                      {"has no tag", "version cannot be told"}));
  EXPECT_TRUE(IsError(VersionOfImage("reg.io/t:15.1.3", "teleport-").status(), absl::StatusCode::kInvalidArgument,
                      {"does not start with --tag_prefix \"teleport-\""}));
  EXPECT_TRUE(IsError(VersionOfImage("reg.io/t:latest", "").status(), absl::StatusCode::kInvalidArgument,
                      {"\"latest\""}));
}

TEST(ImagePatchTest, ImageForVersionKeepsTheRepositoryAndDropsTheDigest) {
  const std::string digest = "sha256:" + std::string(64, 'c');
  EXPECT_EQ(ImageForVersion("localhost:5000/teleport:15.1.3@" + digest, "15.2.0", ""), "localhost:5000/teleport:15.2.0");
  EXPECT_EQ(ImageForVersion("reg.io/teleport:v1.0.0", "1.1.0", "v"), "reg.io/teleport:v1.1.0");
  EXPECT_EQ(PinnedImage("reg.io/teleport:1.1.0", digest), "reg.io/teleport:1.1.0@" + digest);
}

TEST(ImagePatchTest, PatchTestsNameAndImageBeforeReplacing) {
  nlohmann::json patch = nlohmann::json::parse(BuildImagePatch(1, "teleport", "reg/t:1.0.0", "reg/t:1.1.0@sha256:x"));
  ASSERT_TRUE(patch.is_array());
  ASSERT_EQ(patch.size(), 3u);
  EXPECT_EQ(patch[0], nlohmann::json::parse(
                          R"({"op":"test","path":"/spec/template/spec/containers/1/name","value":"teleport"})"));
  EXPECT_EQ(patch[1], nlohmann::json::parse(
                          R"({"op":"test","path":"/spec/template/spec/containers/1/image","value":"reg/t:1.0.0"})"));
  EXPECT_EQ(patch[2],
            nlohmann::json::parse(
                R"({"op":"replace","path":"/spec/template/spec/containers/1/image","value":"reg/t:1.1.0@sha256:x"})"));
  // Values are JSON strings, whatever they hold.
  nlohmann::json odd = nlohmann::json::parse(BuildImagePatch(0, "a\"b", "x", "y"));
  EXPECT_EQ(odd[0]["value"], "a\"b");
}

}  // namespace
}  // namespace drover::updater::kube
