#include "coordinator/api/rpc_log.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"

namespace drover::api {
namespace {

class RpcLogTest : public ::testing::Test {
 protected:
  RpcLogTest()
      : clock_(absl::FromUnixSeconds(1'800'000'000)),
        log_(&clock_, {.lines_per_window = 2, .window = absl::Minutes(1)},
             [this](absl::string_view level, absl::string_view line) {
               lines_.push_back(absl::StrCat(level, " ", line));
             }) {}

  FakeClock clock_;
  std::vector<std::string> lines_;
  RpcLog log_;
};

TEST_F(RpcLogTest, OneLineNamingMethodPeerCodeAndMessage) {
  log_.Failed("drover.v1.OperatorService/SetCritical", absl::InvalidArgumentError("reason \"a\nb\" is bad"),
              "ipv4:127.0.0.1:5000");
  log_.Failed("drover.v1.UpdaterService/ReportStatus", absl::UnavailableError("PostgreSQL is down"),
              "ipv4:10.0.0.1:4000");
  log_.Failed("drover.v1.OperatorService/GetChannel", absl::OkStatus(), "ipv4:127.0.0.1:5000");
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_EQ(lines_[0],
            "WARN rpc drover.v1.OperatorService/SetCritical from ipv4:127.0.0.1:5000 failed: INVALID_ARGUMENT: "
            "reason \"a\\nb\" is bad");
  EXPECT_TRUE(absl::StartsWith(lines_[1], "ERROR rpc drover.v1.UpdaterService/ReportStatus")) << lines_[1];
  for (const std::string& l : lines_) EXPECT_EQ(l.find('\n'), std::string::npos) << l;
}

TEST_F(RpcLogTest, FloodsAreLimitedPerMethodAndCodeAndTheRestCounted) {
  for (int i = 0; i < 10; ++i) log_.Failed("m/A", absl::NotFoundError("no channel"), "p");
  log_.Failed("m/A", absl::InvalidArgumentError("bad"), "p");  // another code: its own budget
  log_.Failed("m/B", absl::NotFoundError("no channel"), "p");  // another method too
  EXPECT_EQ(lines_.size(), 4u);
  clock_.Advance(absl::Minutes(1));
  log_.Failed("m/A", absl::NotFoundError("no channel"), "p");
  ASSERT_EQ(lines_.size(), 6u);
  EXPECT_EQ(lines_[4], "WARN rpc m/A failed NOT_FOUND 8 more times since 08:00:00Z "
                       "(not logged; drover_rpc_requests_total counts them)");
  EXPECT_TRUE(absl::StartsWith(lines_[5], "WARN rpc m/A from p failed: NOT_FOUND")) << lines_[5];
  log_.Failed("m/A", absl::NotFoundError("no channel"), "p");
  EXPECT_FALSE(absl::StrContains(lines_.back(), "more times")) << lines_.back();
}

// A flood that stops still leaves its count: on any later call, from the
// periodic flush, and at shutdown.
TEST_F(RpcLogTest, SuppressedCountIsLoggedWhenTheWindowPassesWithoutAnotherCall) {
  for (int i = 0; i < 5; ++i) log_.Failed("m/A", absl::UnavailableError("db"), "p");
  ASSERT_EQ(lines_.size(), 2u);
  log_.Flush();  // the window is still open: nothing yet
  ASSERT_EQ(lines_.size(), 2u);
  clock_.Advance(absl::Minutes(1));
  log_.Flush();
  ASSERT_EQ(lines_.size(), 3u);
  EXPECT_TRUE(absl::StartsWith(lines_[2], "ERROR rpc m/A failed UNAVAILABLE 3 more times since")) << lines_[2];
  log_.Flush();
  EXPECT_EQ(lines_.size(), 3u);  // once

  // Another method's call reports it too.
  for (int i = 0; i < 4; ++i) log_.Failed("m/A", absl::UnavailableError("db"), "p");
  clock_.Advance(absl::Minutes(2));
  log_.Failed("m/B", absl::NotFoundError("x"), "p");
  ASSERT_EQ(lines_.size(), 7u);
  EXPECT_TRUE(absl::StartsWith(lines_[5], "ERROR rpc m/A failed UNAVAILABLE 2 more times")) << lines_[5];

  // At shutdown, open windows too.
  for (int i = 0; i < 3; ++i) log_.Failed("m/B", absl::NotFoundError("x"), "p");
  log_.Flush(/*all=*/true);
  EXPECT_TRUE(absl::StartsWith(lines_.back(), "WARN rpc m/B failed NOT_FOUND 2 more times")) << lines_.back();
}

TEST_F(RpcLogTest, EveryChangeIsLogged) {
  std::vector<rollout::ChannelChange> changes(30, {.channel = "prod",
                                                   .field = "target_version",
                                                   .old_value = "15.0.0",
                                                   .new_value = "15.1.0"});
  changes.push_back({.channel = "prod", .field = "created", .new_value = "target=none control_plane=15.2.0"});
  log_.Changed("ipv4:127.0.0.1:5000", changes);
  ASSERT_EQ(lines_.size(), 31u);
  EXPECT_EQ(lines_[0], "INFO channel \"prod\" changed by ipv4:127.0.0.1:5000: target_version 15.0.0 -> 15.1.0");
  EXPECT_EQ(lines_[30], "INFO channel \"prod\" created by ipv4:127.0.0.1:5000: target=none control_plane=15.2.0");
}

}  // namespace
}  // namespace drover::api
