#include "coordinator/metrics/version_labels.h"

#include <gtest/gtest.h>

namespace drover::metrics {
namespace {

TEST(VersionLabelsTest, KeepsPinnedThenTheMostRunVersionsAndFoldsTheRest) {
  const std::map<std::string, int64_t> agents = {
      {"1.0.0", 500}, {"1.1.0", 20}, {"9.9.9-forged-a", 1}, {"9.9.9-forged-b", 1}, {"2.0.0", 0}};
  VersionLabels labels(agents, {"2.0.0"}, 3);
  EXPECT_EQ(labels.LabelFor("2.0.0"), "2.0.0") << "a channel's target is always a label";
  EXPECT_EQ(labels.LabelFor("1.0.0"), "1.0.0");
  EXPECT_EQ(labels.LabelFor("1.1.0"), "1.1.0");
  EXPECT_EQ(labels.LabelFor("9.9.9-forged-a"), "other");
  EXPECT_EQ(labels.LabelFor("9.9.9-forged-b"), "other");
  EXPECT_EQ(labels.folded(), 2u);
}

TEST(VersionLabelsTest, TiesGoToTheLowerVersionString) {
  VersionLabels labels({{"b", 1}, {"a", 1}, {"c", 1}}, {}, 2);
  EXPECT_EQ(labels.LabelFor("a"), "a");
  EXPECT_EQ(labels.LabelFor("b"), "b");
  EXPECT_EQ(labels.LabelFor("c"), "other");
  EXPECT_EQ(labels.folded(), 1u);
}

TEST(VersionLabelsTest, ZeroMeansNoCap) {
  VersionLabels labels({{"a", 1}, {"b", 2}}, {"c"}, 0);
  EXPECT_EQ(labels.LabelFor("a"), "a");
  EXPECT_EQ(labels.LabelFor("b"), "b");
  EXPECT_EQ(labels.folded(), 0u);
}

}  // namespace
}  // namespace drover::metrics
