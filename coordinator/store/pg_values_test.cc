#include "coordinator/store/pg_values.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace drover::store {
namespace {

// PostgreSQL reads these back element for element (store_integration_test
// round-trips them through the server); here, the quoting itself.
TEST(ArrayLiteralTest, QuotesEveryTextElementAndEscapesQuotesAndBackslashes) {
  EXPECT_EQ(TextArray({}), "{}");
  EXPECT_EQ(TextArray({""}), R"({""})");
  EXPECT_EQ(TextArray({"a", "b\"c", "d\\e", "f,g", "NULL", "{h}"}),
            R"({"a","b\"c","d\\e","f,g","NULL","{h}"})");
}

TEST(ArrayLiteralTest, NumbersAreUnquoted) {
  ArrayLiteral numbers;
  for (int64_t v : {int64_t{0}, int64_t{-3}, int64_t{9007199254740993}}) numbers.Add(v);
  EXPECT_EQ(std::move(numbers).Finish(), "{0,-3,9007199254740993}");

  ArrayLiteral empty;
  EXPECT_EQ(std::move(empty).Finish(), "{}");
}

TEST(UnixMicrosTest, RoundTripsAndTruncatesBelowAMicrosecond) {
  const absl::Time t = absl::FromUnixMicros(1765000000123456);
  EXPECT_EQ(store::ToUnixMicros(t), 1765000000123456);
  EXPECT_EQ(store::FromUnixMicros(store::ToUnixMicros(t)), t);
  EXPECT_EQ(store::ToUnixMicros(t + absl::Nanoseconds(999)), 1765000000123456);
  EXPECT_EQ(store::FromUnixMicros(-1), absl::UnixEpoch() - absl::Microseconds(1));
}

}  // namespace
}  // namespace drover::store
