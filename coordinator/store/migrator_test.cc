// ParseMigrations only; applying migrations needs PostgreSQL and is covered by
// the integration tests.
#include "coordinator/store/migrator.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/status_testing.h"

namespace drover::store {
namespace {

using ::drover::testing::IsError;

TEST(ParseMigrationsTest, PairsUpAndDownInVersionOrder) {
  absl::StatusOr<std::vector<Migration>> m = ParseMigrations({
      {"000002_add_events.down.sql", "DROP TABLE events;"},
      {"000001_initial_schema.up.sql", "CREATE TABLE a (x int);"},
      {"000002_add_events.up.sql", "CREATE TABLE events (x int);"},
      {"000001_initial_schema.down.sql", "DROP TABLE a;"},
  });
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 2u);
  EXPECT_EQ((*m)[0].version, 1);
  EXPECT_EQ((*m)[0].title, "initial_schema");
  EXPECT_EQ((*m)[0].up, "CREATE TABLE a (x int);");
  EXPECT_EQ((*m)[0].down, "DROP TABLE a;");
  EXPECT_EQ((*m)[1].version, 2);
  EXPECT_EQ((*m)[1].title, "add_events");
  EXPECT_EQ((*m)[1].up, "CREATE TABLE events (x int);");
  EXPECT_EQ((*m)[1].down, "DROP TABLE events;");
}

TEST(ParseMigrationsTest, OrdersByNumberNotText) {
  absl::StatusOr<std::vector<Migration>> m = ParseMigrations({
      {"10_ten.up.sql", "10"}, {"10_ten.down.sql", "-10"}, {"9_nine.up.sql", "9"}, {"9_nine.down.sql", "-9"}});
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 2u);
  EXPECT_EQ((*m)[0].version, 9);
  EXPECT_EQ((*m)[1].version, 10);
}

TEST(ParseMigrationsTest, NoFilesIsNoMigrations) {
  absl::StatusOr<std::vector<Migration>> m = ParseMigrations({});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->empty());
}

class BadMigrationNameTest : public ::testing::TestWithParam<std::string> {};

TEST_P(BadMigrationNameTest, RejectedNamingTheFile) {
  absl::StatusOr<std::vector<Migration>> m =
      ParseMigrations({{GetParam(), "SELECT 1;"}, {"000001_initial.down.sql", "SELECT 1;"}});
  EXPECT_TRUE(IsError(m.status(), absl::StatusCode::kInvalidArgument, {"\"" + GetParam() + "\""}));
}

INSTANTIATE_TEST_SUITE_P(
    Names, BadMigrationNameTest,
    ::testing::Values("000001_initial.sql", "000001_initial.UP.sql", "000001_Initial.up.sql",
                      "000001-initial.up.sql", "initial.up.sql", "_initial.up.sql", "000001_.up.sql",
                      "000001_initial.up.sql.bak", "000001_initial.up.SQL", "000001_init-ial.up.sql",
                      "000001_initial.sideways.sql", "README.md", "000000_zero.up.sql",
                      "99999999999999999999_huge.up.sql"));

TEST(ParseMigrationsTest, RejectsMissingDown) {
  absl::StatusOr<std::vector<Migration>> m = ParseMigrations({
      {"000001_initial.up.sql", "SELECT 1;"}, {"000001_initial.down.sql", "SELECT 1;"},
      {"000002_next.up.sql", "SELECT 2;"}});
  EXPECT_TRUE(IsError(m.status(), absl::StatusCode::kInvalidArgument, {"next", "down"}));
}

TEST(ParseMigrationsTest, RejectsMissingUp) {
  absl::StatusOr<std::vector<Migration>> m = ParseMigrations({{"000001_initial.down.sql", "SELECT 1;"}});
  EXPECT_TRUE(IsError(m.status(), absl::StatusCode::kInvalidArgument, {"initial", "lacks its up"}));
}

TEST(ParseMigrationsTest, RejectsConflictingTitlesForOneVersion) {
  absl::StatusOr<std::vector<Migration>> m = ParseMigrations({
      {"000001_alpha.up.sql", "SELECT 1;"}, {"000001_beta.down.sql", "SELECT 1;"}});
  EXPECT_TRUE(IsError(m.status(), absl::StatusCode::kInvalidArgument, {"version 1", "alpha", "beta"}));
  // Different zero padding is still the same version.
  m = ParseMigrations({{"000001_alpha.up.sql", "SELECT 1;"}, {"1_beta.down.sql", "SELECT 1;"}});
  EXPECT_TRUE(IsError(m.status(), absl::StatusCode::kInvalidArgument, {"alpha", "beta"}));
}

TEST(ParseMigrationsTest, RejectsRepeatedFile) {
  absl::StatusOr<std::vector<Migration>> m = ParseMigrations({
      {"000001_initial.up.sql", "SELECT 1;"}, {"1_initial.up.sql", "SELECT 2;"},
      {"000001_initial.down.sql", "SELECT 1;"}});
  EXPECT_TRUE(IsError(m.status(), absl::StatusCode::kInvalidArgument, {"\"1_initial.up.sql\"", "repeated"}));
}

TEST(ParseMigrationsTest, RejectsRepeatedEmptyFile) {
  // An empty body must not hide the repeat.
  absl::StatusOr<std::vector<Migration>> m = ParseMigrations({
      {"000001_initial.up.sql", ""}, {"1_initial.up.sql", ""}, {"000001_initial.down.sql", ""}});
  EXPECT_TRUE(IsError(m.status(), absl::StatusCode::kInvalidArgument, {"\"1_initial.up.sql\"", "repeated"}));
}

TEST(EmbeddedMigrationsTest, ParseAndAscendFromOne) {
  const std::vector<MigrationFile>& files = EmbeddedMigrationFiles();
  ASSERT_FALSE(files.empty());
  ASSERT_EQ(files.size() % 2, 0u) << "every migration has an up and a down file";
  for (size_t i = 1; i < files.size(); ++i) EXPECT_LT(files[i - 1].name, files[i].name);

  absl::StatusOr<std::vector<Migration>> m = ParseMigrations(files);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), files.size() / 2);
  EXPECT_EQ(m->front().version, 1);
  for (size_t i = 0; i < m->size(); ++i) {
    SCOPED_TRACE((*m)[i].title);
    if (i > 0) {
      EXPECT_GT((*m)[i].version, (*m)[i - 1].version);
    }
    EXPECT_FALSE((*m)[i].up.empty());
    EXPECT_FALSE((*m)[i].down.empty());
  }
}

}  // namespace
}  // namespace drover::store
