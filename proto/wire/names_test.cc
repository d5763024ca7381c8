#include "proto/wire/names.h"

#include <gtest/gtest.h>

namespace drover::wire {
namespace {

TEST(ChannelNameTest, PrefixesTheId) {
  EXPECT_EQ(ChannelName("stable/cloud"), "channels/stable/cloud");
  EXPECT_EQ(ChannelIdOfName(ChannelName("stable/cloud")), "stable/cloud");
}

TEST(ChannelNameTest, AnIdWithoutThePrefixIsNoName) {
  EXPECT_EQ(ChannelIdOfName("stable/cloud"), std::nullopt);
  EXPECT_EQ(ChannelIdOfName("channel/x"), std::nullopt);
  EXPECT_EQ(ChannelIdOfName(""), std::nullopt);
  EXPECT_EQ(ChannelIdOfName("channels/"), "");
}

}  // namespace
}  // namespace drover::wire
