#include "common/answer_tag.h"

#include "gtest/gtest.h"

namespace drover {
namespace {

AnswerFields Base() {
  AnswerFields a;
  a.target_version = "1.2.3";
  a.control_plane_version = "1.2.0";
  a.maintenance_windows.push_back({.weekdays = {1, 3}, .utc_start_hour = 2, .duration = absl::Hours(1)});
  a.poll_interval = absl::Seconds(60);
  a.channel_generation = 7;
  return a;
}

TEST(AnswerTag, IsStableSixteenHexDigits) {
  const std::string tag = AnswerTag(Base());
  EXPECT_EQ(tag.size(), kAnswerTagLength);
  EXPECT_TRUE(IsAnswerTagSyntax(tag));
  EXPECT_EQ(tag, AnswerTag(Base()));
  // Pinned: the coordinator and updaters of other builds must agree.
  EXPECT_EQ(AnswerTag(AnswerFields{}), "d7c5d44033f6e8db");
}

TEST(AnswerTag, EveryFieldChangesIt) {
  const std::string base = AnswerTag(Base());
  std::vector<void (*)(AnswerFields&)> edits = {
      [](AnswerFields& a) { a.target_version = "1.2.4"; },
      [](AnswerFields& a) { a.critical = true; },
      [](AnswerFields& a) { a.downgrade_allowed = true; },
      [](AnswerFields& a) { a.held_back = true; },
      [](AnswerFields& a) { a.control_plane_version = "1.3.0"; },
      [](AnswerFields& a) { a.maintenance_windows.clear(); },
      [](AnswerFields& a) { a.maintenance_windows[0].weekdays = {1}; },
      [](AnswerFields& a) { a.maintenance_windows[0].utc_start_hour = 3; },
      [](AnswerFields& a) { a.maintenance_windows[0].duration = absl::Hours(2); },
      [](AnswerFields& a) { a.poll_interval = absl::Seconds(61); },
      [](AnswerFields& a) { a.channel_generation = 8; },
  };
  for (size_t i = 0; i < edits.size(); ++i) {
    AnswerFields a = Base();
    edits[i](a);
    EXPECT_NE(AnswerTag(a), base) << "edit " << i;
  }
}

TEST(AnswerTag, FieldBoundariesMatter) {
  AnswerFields a, b;
  a.target_version = "1.2";
  a.control_plane_version = "3";
  b.target_version = "1.";
  b.control_plane_version = "23";
  EXPECT_NE(AnswerTag(a), AnswerTag(b));
}

TEST(AnswerTag, Syntax) {
  EXPECT_TRUE(IsAnswerTagSyntax("0123456789abcdefABCDEF"));
  EXPECT_FALSE(IsAnswerTagSyntax(""));
  EXPECT_FALSE(IsAnswerTagSyntax("xyz"));
  EXPECT_FALSE(IsAnswerTagSyntax(std::string(65, 'a')));
}

}  // namespace
}  // namespace drover
