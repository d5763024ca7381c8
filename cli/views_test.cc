#include "cli/views.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace drover::cli {
namespace {

TEST(RenderAgentTest, AnAgentUpdatingSaysToWhat) {
  v1::Agent a;
  a.set_host_id("web-01");
  a.set_channel("channels/stable");
  a.set_current_version("1.2.0");
  const absl::Time now = absl::FromUnixSeconds(1800000000);
  std::string text = RenderAgent(a, now);
  EXPECT_TRUE(absl::StrContains(text, "1.2.0")) << text;
  EXPECT_FALSE(absl::StrContains(text, "updating")) << text;
  a.set_updating_to("1.3.0");
  text = RenderAgent(a, now);
  EXPECT_TRUE(absl::StrContains(text, "1.2.0  (updating to 1.3.0)")) << text;
}

}  // namespace
}  // namespace drover::cli
