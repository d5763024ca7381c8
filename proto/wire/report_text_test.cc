#include "proto/wire/report_text.h"

#include <string>

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/api_limits.h"

namespace drover::wire {
namespace {

TEST(SanitizeTextTest, DropsColourCodesAndControlCharacters) {
  EXPECT_EQ(SanitizeText("\033[31mnot ready\033[0m", 100, TextLines::kMany), "not ready");
  EXPECT_EQ(SanitizeText("a\033[1;31;40mb\033(Bc", 100, TextLines::kMany), "abc");
  EXPECT_EQ(SanitizeText("line 1\r\nline 2\tx\x01\x7f\xc2\x85y", 100, TextLines::kMany), "line 1\nline 2\txy");
  EXPECT_EQ(SanitizeText("line 1\nline 2\tx", 100, TextLines::kOne), "line 1 line 2 x");
}

TEST(SanitizeTextTest, ReplacesBytesThatAreNotUtf8) {
  EXPECT_EQ(SanitizeText("a\xff" "b", 100, TextLines::kMany), "a\xEF\xBF\xBD" "b");
  // Overlong, surrogate, truncated sequences.
  EXPECT_EQ(SanitizeText("\xc0\xaf", 100, TextLines::kMany), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(SanitizeText("\xed\xa0\x80", 100, TextLines::kMany), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(SanitizeText("x\xe2\x80", 100, TextLines::kMany), "x\xEF\xBF\xBD\xEF\xBF\xBD");
  // Valid text passes unchanged.
  EXPECT_EQ(SanitizeText("tar: \xe2\x80\x98x\xe2\x80\x99: \xf0\x9f\x92\xa5 \xe4\xb8\xad", 100, TextLines::kMany),
            "tar: \xe2\x80\x98x\xe2\x80\x99: \xf0\x9f\x92\xa5 \xe4\xb8\xad");
}

TEST(SanitizeTextTest, CutsOnACharacterBoundaryAndSaysSo) {
  EXPECT_EQ(SanitizeText("abcdef", 6, TextLines::kMany), "abcdef");
  EXPECT_EQ(SanitizeText("abcdefg", 6, TextLines::kMany), "abc...");
  // "‘" is 3 bytes: cutting after byte 2000 of a byte-cut substr(0, 2000)
  // would split one.
  std::string text(1999, 'a');
  text.append("\xe2\x80\x98quoted\xe2\x80\x99");
  for (size_t max : {size_t{2000}, size_t{2001}, size_t{2002}, size_t{2003}, size_t{2004}}) {
    std::string out = SanitizeText(text, max, TextLines::kMany);
    EXPECT_LE(out.size(), max);
    EXPECT_TRUE(out.size() >= 3 && out.substr(out.size() - 3) == "...") << out.size();
    // Every byte before the marker belongs to a complete character.
    EXPECT_EQ(SanitizeText(out, 10000, TextLines::kMany), out) << absl::CHexEscape(out.substr(1990));
  }
}

TEST(Utf8CutTest, NeverSplitsACharacter) {
  const std::string text = "a\xe2\x80\x98" "b";  // a, U+2018 (3 bytes), b
  EXPECT_EQ(Utf8Prefix(text, 10), text);
  EXPECT_EQ(Utf8Prefix(text, 4), "a\xe2\x80\x98");
  EXPECT_EQ(Utf8Prefix(text, 3), "a");
  EXPECT_EQ(Utf8Prefix(text, 1), "a");
  EXPECT_EQ(Utf8Prefix(text, 0), "");
  EXPECT_EQ(Utf8Suffix(text, 10), text);
  EXPECT_EQ(Utf8Suffix(text, 4), "\xe2\x80\x98" "b");
  EXPECT_EQ(Utf8Suffix(text, 3), "b");
  EXPECT_EQ(Utf8Suffix(text, 0), "");
}

TEST(ClampReportTimeTest, KeepsTimesInTheAcceptedRange) {
  const absl::Time now = absl::FromUnixSeconds(1764000000);
  EXPECT_EQ(ClampReportTime(absl::UnixEpoch(), now), kEarliestReportTime);
  EXPECT_EQ(ClampReportTime(now + absl::Hours(1), now), now);
  EXPECT_EQ(ClampReportTime(now - absl::Hours(1), now), now - absl::Hours(1));
}

}  // namespace
}  // namespace drover::wire
