#include "cli/output.h"

#include <gtest/gtest.h>

#include "drover/v1/operator_service.pb.h"

namespace drover::cli {
namespace {

TEST(OutputTest, BarFillsInProportionAndShowsSmallShares) {
  EXPECT_EQ(Bar(1, 2, 4), "\u2588\u2588\u2591\u2591");
  EXPECT_EQ(Bar(1, 1000, 4), "\u2588\u2591\u2591\u2591");
  EXPECT_EQ(Bar(0, 10, 2), "\u2591\u2591");
  EXPECT_EQ(Bar(0, 0, 2), "\u2591\u2591");
  EXPECT_EQ(DisplayWidth(Bar(3, 7, 30)), 30u);
}

TEST(OutputTest, TableAlignsByDisplayWidth) {
  Table t({"A", "B"});
  t.AddRow({"\u2588\u2588", "x"});
  t.AddRow({"long", "y"});
  EXPECT_EQ(t.Render(), "A     B\n\u2588\u2588    x\nlong  y\n");
}

TEST(OutputTest, JsonKeepsProtoNamesAndDefaults) {
  v1::RolloutStatus st;
  st.set_channel("channels/x");
  const std::string json = ToJson(st, /*pretty=*/false);
  EXPECT_NE(json.find("\"total_agents\":\"0\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"versions\":[]"), std::string::npos) << json;
  EXPECT_NE(json.find("\"critical\":false"), std::string::npos) << json;
}

TEST(OutputTest, KeyValuesContinueMultiLineValues) {
  KeyValues kv;
  kv.Add("A", "1");
  kv.Add("Long", "2\n3");
  EXPECT_EQ(kv.Render(), "A:     1\nLong:  2\n       3\n");
}

}  // namespace
}  // namespace drover::cli
