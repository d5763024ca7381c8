#include "coordinator/store/sql_files.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"

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

// A Citus copy of a statement (sql/citus_*.sql, migration 000012) with what
// it may differ in taken out: comments and layout, the table placeholders,
// parameter casts, the anchor column and its parameter, and `extra`.
std::string Normalized(const std::string& sql, const std::string& anchor_param,
                       const std::vector<std::pair<std::string, std::string>>& extra) {
  std::string out = std::regex_replace(sql, std::regex("--[^\n]*"), "");
  out = std::regex_replace(out, std::regex("\\{(\\w+)\\}"), "$1");
  out = std::regex_replace(out, std::regex("(\\$\\d+)::(bigint|int|text)\\b"), "$1");
  out = std::regex_replace(out, std::regex("\\s+"), " ");
  if (!anchor_param.empty()) {
    out = absl::StrReplaceAll(out, {{", anchor, ", ", "}, {"(anchor, ", "("}, {", " + anchor_param + ",", ","}});
  }
  for (const auto& [from, to] : extra) out = absl::StrReplaceAll(out, {{from, to}});
  return out;
}

TEST(SqlFilesTest, CitusCopiesStayInStepWithThePlainStatements) {
  EXPECT_EQ(Normalized(Sql("citus_ingest_round"), "$25",
                       {{"(id, host_id,", "(host_id,"},
                        {"SELECT nextval('update_events_id_seq'), ", "SELECT "},
                        {"SELECT report.ordinal + $26 AS ordinal,", "SELECT report.ordinal,"}}),
            Normalized(Sql("ingest_round"), "", {}));
  EXPECT_EQ(Normalized(Sql("citus_liveness_flush"), "$6", {{" AS agents WHERE", " WHERE"}}),
            Normalized(Sql("liveness_flush"), "", {}));
  EXPECT_EQ(Normalized(Sql("citus_agent_forget"), "$4", {}), Normalized(Sql("agent_forget"), "", {}));
  // And the normalization is no blindfold: a changed statement shows.
  EXPECT_NE(Normalized(Sql("citus_liveness_flush"), "$6", {{" AS agents WHERE", " WHERE"}}),
            Normalized(absl::StrReplaceAll(Sql("liveness_flush"), {{"GREATEST", "LEAST"}}), "", {}));
}

TEST(SqlFilesDeathTest, AnUnknownStatementAborts) {
  EXPECT_DEATH(Sql("no_such_statement"), "no_such_statement");
}

}  // namespace
}  // namespace drover::store
