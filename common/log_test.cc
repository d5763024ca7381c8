#include "common/log.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

const absl::Time kT = absl::FromUnixSeconds(1764000000);

TEST(LogTest, EveryEntryIsOneLine) {
  EXPECT_EQ(FormatLogLine(kT, "WARN", "plain"), "2025-11-24T16:00:00.000Z WARN plain\n");
  // libpq's errors span lines and end with one.
  EXPECT_EQ(FormatLogLine(kT, "ERROR", "ERROR:  boom\nDETAIL:  x\n"),
            "2025-11-24T16:00:00.000Z ERROR ERROR:  boom\\nDETAIL:  x\n");
  EXPECT_EQ(FormatLogLine(kT, "INFO", "a\r\nb\033[31mc\td"), "2025-11-24T16:00:00.000Z INFO a\\r\\nb\\x1b[31mc\td\n");
}

}  // namespace
}  // namespace drover
