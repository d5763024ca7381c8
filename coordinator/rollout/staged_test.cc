#include "coordinator/rollout/staged.h"

#include <gtest/gtest.h>

namespace drover::rollout {
namespace {

TEST(StartRolloutTest, Placeholder) {}

}  // namespace
}  // namespace drover::rollout
