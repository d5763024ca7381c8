#include "common/semver.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_testing.h"

namespace drover {
namespace {

using ::drover::testing::IsError;

Semver MustParse(absl::string_view text) {
  absl::StatusOr<Semver> v = Semver::Parse(text);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : Semver();
}

TEST(SemverParseTest, ParsesCoreVersion) {
  absl::StatusOr<Semver> v = Semver::Parse("1.22.333");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->major(), 1u);
  EXPECT_EQ(v->minor(), 22u);
  EXPECT_EQ(v->patch(), 333u);
  EXPECT_EQ(v->prerelease(), "");
  EXPECT_EQ(v->build(), "");
  EXPECT_EQ(v->ToString(), "1.22.333");
}

TEST(SemverParseTest, ParsesPrereleaseAndBuild) {
  absl::StatusOr<Semver> v = Semver::Parse("1.2.3-rc.1+build.5");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->prerelease(), "rc.1");
  EXPECT_EQ(v->build(), "build.5");
  EXPECT_EQ(v->ToString(), "1.2.3-rc.1+build.5");
}

TEST(SemverParseTest, DropsLeadingV) {
  absl::StatusOr<Semver> v = Semver::Parse("v1.2.3-rc.1+build.5");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->major(), 1u);
  EXPECT_EQ(v->ToString(), "1.2.3-rc.1+build.5");
  EXPECT_EQ(MustParse("v0.0.0").ToString(), "0.0.0");
}

TEST(SemverParseTest, HyphensBelongToThePrereleaseAfterTheFirst) {
  absl::StatusOr<Semver> v = Semver::Parse("1.0.0-alpha-1.x--y+build-7");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->prerelease(), "alpha-1.x--y");
  EXPECT_EQ(v->build(), "build-7");
}

TEST(SemverParseTest, AcceptsLargestUint64Parts) {
  absl::StatusOr<Semver> v = Semver::Parse("18446744073709551615.0.1");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->major(), 18446744073709551615u);
  EXPECT_TRUE(IsError(Semver::Parse("18446744073709551616.0.1").status(),
                      absl::StatusCode::kInvalidArgument, {"\"18446744073709551616.0.1\""}));
}

class SemverAcceptsTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SemverAcceptsTest, Accepts) {
  absl::StatusOr<Semver> v = Semver::Parse(GetParam());
  ASSERT_TRUE(v.ok()) << v.status();
  std::string expected = GetParam()[0] == 'v' ? GetParam().substr(1) : GetParam();
  EXPECT_EQ(v->ToString(), expected);
}

// Examples taken from the semver 2.0.0 text, plus edge cases it allows.
INSTANTIATE_TEST_SUITE_P(
    Valid, SemverAcceptsTest,
    ::testing::Values("0.0.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-0.3.7", "1.0.0-x.7.z.92",
                      "1.0.0-x-y-z.--", "1.0.0-alpha+001", "1.0.0+20130313144700",
                      "1.0.0-beta+exp.sha.5114f85", "1.0.0+21AF26D3----117B344092BD", "1.2.3-0",
                      "1.2.3-0a", "1.2.3-00a", "v10.20.30"));

class SemverRejectsTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SemverRejectsTest, RejectsAndQuotesTheInput) {
  absl::StatusOr<Semver> v = Semver::Parse(GetParam());
  EXPECT_TRUE(IsError(v.status(), absl::StatusCode::kInvalidArgument,
                      {absl::StrCat("\"", absl::CHexEscape(GetParam()), "\"")}));
}

INSTANTIATE_TEST_SUITE_P(
    Invalid, SemverRejectsTest,
    ::testing::Values(
        // Missing or extra parts.
        "", "v", "1", "1.2", "1.2.3.4", "1..3", "1.2.", ".1.2", "1.2.3-", "1.2.3+", "1.2.3-+b",
        // Leading zeros in numbers and numeric pre-release identifiers.
        "01.2.3", "1.02.3", "1.2.03", "00.0.0", "1.2.3-01", "1.2.3-rc.007",
        // Empty identifiers.
        "1.2.3-rc..1", "1.2.3-.rc", "1.2.3-rc.", "1.2.3+a..b", "1.2.3+.a", "1.2.3+a.",
        // Characters outside [0-9A-Za-z-].
        "1.2.3-rc_1", "1.2.3-rc 1", "1.2.3+b@1", "1.2.3-é", " 1.2.3", "1.2.3 ", "1.2.3\n",
        "1.2.3-rc+b+c", "a.b.c", "1.2.x", "1.-2.3", "-1.2.3", "+1.2.3",
        // Only a lowercase, single "v" is a prefix.
        "V1.2.3", "vv1.2.3", "v.1.2.3", "v 1.2.3"));

TEST(SemverParseTest, AcceptsExactlyMaxLength) {
  std::string longest = "1.0.0-" + std::string(Semver::kMaxLength - 6, 'a');
  ASSERT_EQ(longest.size(), Semver::kMaxLength);
  absl::StatusOr<Semver> v = Semver::Parse(longest);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->ToString(), longest);
}

TEST(SemverParseTest, RejectsOverMaxLengthQuotingItsStart) {
  std::string too_long = "1.0.0-" + std::string(Semver::kMaxLength - 5, 'a');
  ASSERT_EQ(too_long.size(), Semver::kMaxLength + 1);
  EXPECT_TRUE(IsError(Semver::Parse(too_long).status(), absl::StatusCode::kInvalidArgument,
                      {absl::StrCat("\"", too_long.substr(0, 32)), "128"}));
  // The length bound holds for a "v" prefix too: it counts toward the limit.
  EXPECT_FALSE(Semver::Parse("v" + too_long.substr(1)).ok());
}

TEST(SemverCompareTest, SpecPrecedenceChain) {
  const std::vector<std::string> chain = {
      "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
      "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "2.0.0", "2.1.0", "2.1.1"};
  // Every pair, not just neighbours, so the ordering is consistent.
  for (size_t i = 0; i < chain.size(); ++i) {
    for (size_t j = 0; j < chain.size(); ++j) {
      Semver a = MustParse(chain[i]), b = MustParse(chain[j]);
      SCOPED_TRACE(absl::StrCat(chain[i], " vs ", chain[j]));
      if (i < j) {
        EXPECT_LT(a.Compare(b), 0);
        EXPECT_TRUE(a < b);
        EXPECT_TRUE(a <= b);
        EXPECT_FALSE(a > b);
        EXPECT_FALSE(a >= b);
      } else if (i > j) {
        EXPECT_GT(a.Compare(b), 0);
        EXPECT_TRUE(a > b);
        EXPECT_FALSE(a <= b);
      } else {
        EXPECT_EQ(a.Compare(b), 0);
        EXPECT_TRUE(a <= b);
        EXPECT_TRUE(a >= b);
        EXPECT_TRUE(a.SamePrecedence(b));
      }
    }
  }
}

TEST(SemverCompareTest, NumbersCompareNumericallyNotLexically) {
  EXPECT_LT(MustParse("1.9.0"), MustParse("1.10.0"));
  EXPECT_LT(MustParse("9.0.0"), MustParse("10.0.0"));
  EXPECT_LT(MustParse("1.0.9"), MustParse("1.0.10"));
  EXPECT_LT(MustParse("1.0.0-rc.9"), MustParse("1.0.0-rc.10"));
  EXPECT_LT(MustParse("1.0.0-rc.99"), MustParse("1.0.0-rc.100"));
  EXPECT_LT(MustParse("1.0.0-rc.19"), MustParse("1.0.0-rc.20"));
  EXPECT_LT(MustParse("18446744073709551614.0.0"), MustParse("18446744073709551615.0.0"));
}

TEST(SemverCompareTest, MajorOutranksMinorOutranksPatch) {
  EXPECT_LT(MustParse("1.99.99"), MustParse("2.0.0"));
  EXPECT_LT(MustParse("1.1.99"), MustParse("1.2.0"));
  EXPECT_LT(MustParse("1.0.0"), MustParse("1.0.1-alpha"));
}

TEST(SemverParseTest, ErrorsEscapeWhatTheyQuote) {
  // A terminal escape sequence in a bad version must not reach an operator's terminal as one.
  absl::Status s = Semver::Parse("15.1.0\x1b[31m").status();
  EXPECT_TRUE(IsError(s, absl::StatusCode::kInvalidArgument, {"\"15.1.0\\x1b[31m\""})) << s;
  EXPECT_EQ(std::string(s.message()).find('\x1b'), std::string::npos) << s;
}

TEST(SemverCompareTest, NumericIdentifiersRankBelowAlphanumeric) {
  EXPECT_LT(MustParse("1.0.0-1"), MustParse("1.0.0-a"));
  EXPECT_LT(MustParse("1.0.0-alpha.999"), MustParse("1.0.0-alpha.a"));
  // "0a" has a letter, so it is alphanumeric and compared as text.
  EXPECT_LT(MustParse("1.0.0-9"), MustParse("1.0.0-0a"));
}

TEST(SemverCompareTest, AlphanumericIdentifiersCompareInAsciiOrder) {
  EXPECT_LT(MustParse("1.0.0-Beta"), MustParse("1.0.0-alpha"));
  // "a-b" is one identifier, longer than "a" with the same start, so it ranks above.
  EXPECT_GT(MustParse("1.0.0-a-b"), MustParse("1.0.0-a.b"));
  EXPECT_LT(MustParse("1.0.0-alpha"), MustParse("1.0.0-alphb"));
}

TEST(SemverCompareTest, PrereleaseRanksBelowRelease) {
  EXPECT_LT(MustParse("1.0.0-rc.1"), MustParse("1.0.0"));
  EXPECT_GT(MustParse("1.0.0"), MustParse("1.0.0-zzz.999"));
  EXPECT_GT(MustParse("1.0.0-rc.1"), MustParse("0.9.9"));
}

TEST(SemverCompareTest, BuildMetadataIgnoredInPrecedenceButKept) {
  Semver a = MustParse("1.0.0+build.1");
  Semver b = MustParse("1.0.0+build.2");
  Semver plain = MustParse("1.0.0");
  EXPECT_EQ(a.Compare(b), 0);
  EXPECT_EQ(a.Compare(plain), 0);
  EXPECT_TRUE(a.SamePrecedence(b));
  EXPECT_FALSE(a < b);
  EXPECT_FALSE(b < a);
  EXPECT_EQ(a.ToString(), "1.0.0+build.1");
  EXPECT_EQ(b.ToString(), "1.0.0+build.2");
  EXPECT_EQ(MustParse("1.0.0-rc.1+x").Compare(MustParse("1.0.0-rc.1")), 0);
  EXPECT_LT(MustParse("1.0.0-rc.1+zzz"), MustParse("1.0.0-rc.2+aaa"));
}

TEST(SemverCompareTest, LeadingVDoesNotChangePrecedence) {
  EXPECT_EQ(MustParse("v1.2.3").Compare(MustParse("1.2.3")), 0);
  EXPECT_EQ(MustParse("v1.2.3").ToString(), MustParse("1.2.3").ToString());
}

// Each refusal names the real problem, not a catch-all.
TEST(SemverParseTest, RefusalsNameTheRealProblem) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"99999999999999999999.0.0", "MAJOR 99999999999999999999 is too large"},
      {"1.18446744073709551616.0", "MINOR 18446744073709551616 is too large"},
      {"1.2.18446744073709551616", "PATCH 18446744073709551616 is too large"},
      {"V14.2.0", "lowercase \"v\""},
      {"vv14.2.0", "more than one leading \"v\""},
      {"vV14.2.0", "more than one leading \"v\""},
      {" 14.2.0", "leading whitespace"},
      {"\t14.2.0", "leading whitespace"},
      {"14.2.0 ", "trailing whitespace"},
      {"14.02.0", "MINOR 02 has a leading zero"},
      {"1.x.0", "MINOR \"x\" is not a number"},
      {"1..0", "MINOR is empty"},
      {"1.2", "need MAJOR.MINOR.PATCH"},
  };
  for (const auto& [text, reason] : cases) {
    absl::Status s = Semver::Parse(text).status();
    EXPECT_TRUE(IsError(s, absl::StatusCode::kInvalidArgument, {reason})) << text;
    if (reason.find("leading zero") == std::string::npos) {
      EXPECT_EQ(s.message().find("leading zero"), absl::string_view::npos) << s.message();
    }
  }
}

}  // namespace
}  // namespace drover
