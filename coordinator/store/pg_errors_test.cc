#include "coordinator/store/pg_errors.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include <pqxx/pqxx>

#include "absl/strings/match.h"

namespace drover::store {
namespace {

// Issue 12: PostgreSQL's text reached callers ("invalid byte sequence for
// encoding UTF8: 0xff"). It is logged; the status names only the operation.
TEST(PgErrorToStatusTest, DatabaseTextNeverReachesTheStatus) {
  const pqxx::data_exception bad_bytes("ERROR:  invalid byte sequence for encoding \"UTF8\": 0xff\n",
                                       "SELECT secret_column FROM agents", "22021");
  absl::Status s = PgErrorToStatus(bad_bytes, "listing agents");
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(absl::StrContains(s.message(), "listing agents")) << s.message();
  for (const char* leaked : {"invalid byte", "0xff", "UTF8", "secret_column", "SELECT"}) {
    EXPECT_FALSE(absl::StrContains(s.message(), leaked)) << s.message();
  }

  const pqxx::broken_connection gone("server closed the connection unexpectedly\n\tThis probably means...");
  s = PgErrorToStatus(gone, "storing reports");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(s.message(), "database unavailable")) << s.message();
  EXPECT_FALSE(absl::StrContains(s.message(), "server closed")) << s.message();

  const pqxx::unique_violation taken("ERROR:  duplicate key value violates unique constraint \"channels_pkey\"",
                                     "INSERT", "23505");
  s = PgErrorToStatus(taken, "creating channel");
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(absl::StrContains(s.message(), "channels_pkey")) << s.message();

  const pqxx::deadlock_detected deadlock("ERROR:  deadlock detected");
  EXPECT_EQ(PgErrorToStatus(deadlock, "x").code(), absl::StatusCode::kAborted);
  const std::runtime_error other("Could not convert string to integer: 'abc'");
  s = PgErrorToStatus(other, "reading agent");
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_FALSE(absl::StrContains(s.message(), "abc")) << s.message();
}

// Only a lost race is worth running the whole transaction again for; the
// rest either cannot succeed or waits for the database to come back.
TEST(PgErrorToStatusTest, OnlyConflictsAreRetryable) {
  const pqxx::serialization_failure race("ERROR:  could not serialize access");
  EXPECT_TRUE(IsRetryable(PgErrorToStatus(race, "x")));
  const pqxx::sql_error race_by_state("ERROR:  could not serialize access", "UPDATE", "40001");
  EXPECT_TRUE(IsRetryable(PgErrorToStatus(race_by_state, "x")));
  const pqxx::deadlock_detected deadlock("ERROR:  deadlock detected");
  EXPECT_TRUE(IsRetryable(PgErrorToStatus(deadlock, "x")));
  const pqxx::unique_violation taken("ERROR:  duplicate key", "INSERT", "23505");
  EXPECT_FALSE(IsRetryable(PgErrorToStatus(taken, "x")));
  const pqxx::broken_connection gone("server closed the connection unexpectedly");
  EXPECT_FALSE(IsRetryable(PgErrorToStatus(gone, "x")));
  EXPECT_FALSE(IsRetryable(absl::OkStatus()));
}

}  // namespace
}  // namespace drover::store
