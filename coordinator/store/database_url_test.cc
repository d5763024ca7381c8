#include "coordinator/store/database_url.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace drover::store {
namespace {

DatabaseUrlInfo Inspect(const std::string& url, const char* pghost = nullptr, const char* sslmode = nullptr) {
  absl::StatusOr<DatabaseUrlInfo> info = InspectDatabaseUrl(url, pghost, sslmode);
  EXPECT_TRUE(info.ok()) << info.status();
  return info.value_or(DatabaseUrlInfo{});
}

TEST(DatabaseUrlTest, FindsAPasswordInEitherForm) {
  EXPECT_TRUE(Inspect("postgresql://drover:s3cret@127.0.0.1/drover").has_password);
  EXPECT_TRUE(Inspect("host=127.0.0.1 user=drover password=s3cret").has_password);
  EXPECT_TRUE(Inspect("postgresql://drover@127.0.0.1/drover?password=s3cret").has_password);
  EXPECT_FALSE(Inspect("postgresql://drover@127.0.0.1/drover").has_password);
}

TEST(DatabaseUrlTest, LoopbackAndSocketsAreLocal) {
  for (const char* url : {"postgresql://drover@127.0.0.1:5432/drover", "postgresql://drover@localhost/drover",
                          "postgresql://drover@[::1]/drover", "postgresql:///drover?host=/run/postgresql",
                          "postgresql:///drover", "host=127.0.0.2,localhost dbname=drover"}) {
    const DatabaseUrlInfo info = Inspect(url);
    EXPECT_TRUE(info.local) << url;
    EXPECT_TRUE(CheckDatabaseTransport(info).ok()) << url;
  }
}

TEST(DatabaseUrlTest, ARemoteDatabaseNeedsVerifyFull) {
  const DatabaseUrlInfo info = Inspect("postgresql://drover@db.internal:5432/drover?sslmode=require");
  EXPECT_FALSE(info.local);
  const absl::Status s = CheckDatabaseTransport(info);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(s.message(), "db.internal")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "sslmode is require")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "--allow_unverified_database")) << s;
  EXPECT_TRUE(CheckDatabaseTransport(Inspect("postgresql://drover@db.internal/drover?sslmode=verify-full")).ok());
  // One remote host among local ones is remote.
  EXPECT_FALSE(Inspect("host=127.0.0.1,10.0.0.5 dbname=drover").local);
  // hostaddr is where libpq connects.
  EXPECT_FALSE(Inspect("host=localhost hostaddr=10.0.0.5 dbname=drover").local);
}

TEST(DatabaseUrlTest, TheEnvironmentFillsWhatTheUrlLeavesOut) {
  EXPECT_FALSE(Inspect("postgresql:///drover", "db.internal").local);
  EXPECT_TRUE(CheckDatabaseTransport(Inspect("postgresql:///drover", "db.internal", "verify-full")).ok());
  // The URL's own setting wins.
  EXPECT_EQ(Inspect("postgresql://db.internal/drover?sslmode=disable", nullptr, "verify-full").sslmode, "disable");
}

TEST(DatabaseUrlTest, ABadUrlIsRefusedWithoutRepeatingIt) {
  absl::StatusOr<DatabaseUrlInfo> info = InspectDatabaseUrl("postgresql://drover:s3cret@h/d?nonsense=1", nullptr, nullptr);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(absl::StrContains(info.status().message(), "s3cret")) << info.status();
}

}  // namespace
}  // namespace drover::store
