#include "common/text.h"

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"

namespace drover {
namespace {

TEST(TextTest, BlankInUnicodeNotOnlyAscii) {
  for (absl::string_view blank : {"", " ", "   ", "\t\n", "\xc2\xa0" /* U+00A0 */, "\xe3\x80\x80" /* U+3000 */,
                                  "\xe2\x80\x8b" /* U+200B */, "\xef\xbb\xbf" /* U+FEFF */,
                                  " \xe2\x80\x83\xc2\xa0 " /* U+2003 among spaces */}) {
    EXPECT_TRUE(IsBlank(blank)) << blank;
  }
  for (absl::string_view visible : {"x", " CVE-1 ", "\xc2\xa0" "a", "\xe6\x97\xa5" /* U+65E5 */,
                                    "\xff" /* not UTF-8 */, "\xe3\x80" /* cut U+3000 */}) {
    EXPECT_FALSE(IsBlank(visible)) << visible;
  }
}

TEST(TextTest, TrimBlankKeepsTheInside) {
  EXPECT_EQ(TrimBlank("  CVE-2026-1  "), "CVE-2026-1");
  EXPECT_EQ(TrimBlank("\xe3\x80\x80" "a b" "\xc2\xa0"), "a b");
  EXPECT_EQ(TrimBlank("\xe6\x97\xa5"), "\xe6\x97\xa5");
  EXPECT_EQ(TrimBlank("a\xe3\x80"), "a\xe3\x80");
}

// The one decoder, used by IsBlank and by SanitizeText (proto/wire/report_text).
TEST(TextTest, IsValidUtf8ChecksTheWholeString) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("host-\xe6\x97\xa5"));
  EXPECT_FALSE(IsValidUtf8("host-\xff"));
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));  // a surrogate, which PostgreSQL refuses
  EXPECT_FALSE(IsValidUtf8("ok\xe6\x97"));      // cut short at the end
}

TEST(TextTest, DecodeUtf8FollowsProtobufsRules) {
  uint32_t c = 0;
  EXPECT_EQ(DecodeUtf8("a", &c), 1u);
  EXPECT_EQ(c, 0x61u);
  EXPECT_EQ(DecodeUtf8("\xe6\x97\xa5x", &c), 3u);
  EXPECT_EQ(c, 0x65e5u);
  EXPECT_EQ(DecodeUtf8("\xf4\x8f\xbf\xbf", &c), 4u);  // U+10FFFF
  for (absl::string_view bad : {"", "\xff", "\xc0\xaf" /* overlong */, "\xe0\x80\xaf", "\xed\xa0\x80" /* surrogate */,
                                "\xf4\x90\x80\x80" /* above U+10FFFF */, "\xe3\x80" /* cut */, "\x80"}) {
    EXPECT_EQ(DecodeUtf8(bad, &c), 0u) << absl::CHexEscape(bad);
  }
}

}  // namespace
}  // namespace drover
