#include "coordinator/store/sql_files.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace drover::store {
namespace {

TEST(SqlFilesTest, EveryFileIsEmbeddedAndExpandsCompletely) {
  ASSERT_FALSE(EmbeddedSqlFiles().empty());
  for (const SqlFile& f : EmbeddedSqlFiles()) {
    const std::string& text = Sql(f.name);
    EXPECT_FALSE(absl::StrContains(text, "{{")) << f.name;
    EXPECT_FALSE(absl::StrContains(text, "}}")) << f.name;
  }
}

TEST(SqlFilesTest, FragmentsAreExpandedInPlace) {
  const std::string& read = Sql("channel_read");
  EXPECT_TRUE(absl::StrContains(read, "last_target_allows_downgrade")) << read;
  EXPECT_TRUE(absl::StrContains(Sql("agent_list"), "date_bin(")) << "agent_is_stale nests in agent_columns";
}

TEST(SqlFilesDeathTest, AnUnknownStatementAborts) {
  EXPECT_DEATH(Sql("no_such_statement"), "no_such_statement");
}

}  // namespace
}  // namespace drover::store
