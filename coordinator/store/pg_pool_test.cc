#include "coordinator/store/pg_pool.h"

#include <gtest/gtest.h>

#include <string>

namespace drover::store {
namespace {

constexpr const char* kAllAsQuery =
    "connect_timeout=10&keepalives=1&keepalives_idle=10&keepalives_interval=5&keepalives_count=3"
    "&tcp_user_timeout=30000";

TEST(WithNetworkTimeoutsTest, UriGetsEveryLimitAsQueryParameters) {
  EXPECT_EQ(WithNetworkTimeouts("postgresql://drover:pw@db:5432/drover"),
            std::string("postgresql://drover:pw@db:5432/drover?") + kAllAsQuery);
  EXPECT_EQ(WithNetworkTimeouts("postgres://db/drover"), std::string("postgres://db/drover?") + kAllAsQuery);
}

TEST(WithNetworkTimeoutsTest, OperatorSettingsWinAndOtherParametersStay) {
  EXPECT_EQ(WithNetworkTimeouts("postgresql://db/drover?sslmode=require&keepalives_idle=42"),
            "postgresql://db/drover?sslmode=require&keepalives_idle=42&connect_timeout=10&keepalives=1"
            "&keepalives_interval=5&keepalives_count=3&tcp_user_timeout=30000");
  EXPECT_EQ(WithNetworkTimeouts("postgresql://db/drover?keepalives=0"),
            "postgresql://db/drover?keepalives=0&connect_timeout=10&keepalives_idle=10&keepalives_interval=5"
            "&keepalives_count=3&tcp_user_timeout=30000");
}

TEST(WithNetworkTimeoutsTest, KeyValueStringsGetKeyValuePairs) {
  EXPECT_EQ(WithNetworkTimeouts("host=db dbname=drover connect_timeout=3"),
            "host=db dbname=drover connect_timeout=3 keepalives=1 keepalives_idle=10 keepalives_interval=5 "
            "keepalives_count=3 tcp_user_timeout=30000");
  EXPECT_EQ(WithNetworkTimeouts("tcp_user_timeout=5000 host=db"),
            "tcp_user_timeout=5000 host=db connect_timeout=10 keepalives=1 keepalives_idle=10 "
            "keepalives_interval=5 keepalives_count=3");
  // Empty: libpq takes the rest from PG* environment variables.
  EXPECT_EQ(WithNetworkTimeouts(""),
            "connect_timeout=10 keepalives=1 keepalives_idle=10 keepalives_interval=5 keepalives_count=3 "
            "tcp_user_timeout=30000");
}

}  // namespace
}  // namespace drover::store
