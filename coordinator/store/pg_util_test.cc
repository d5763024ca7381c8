#include "coordinator/store/pg_util.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

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

// Two connected sockets standing in for a connection and its server.
struct SocketPair {
  SocketPair() { EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0); }
  ~SocketPair() {
    close(fd[0]);
    close(fd[1]);
  }
  // Blocks like libpq waiting for an answer; 0 once our side was shut down.
  ssize_t Read() {
    char c;
    return read(fd[0], &c, 1);
  }
  int fd[2] = {-1, -1};
};

TEST(QueryWatchdogTest, ClosesTheSocketOfAStatementPastItsLimit) {
  QueryWatchdog dog(absl::Milliseconds(50));
  SocketPair conn;
  const auto start = std::chrono::steady_clock::now();
  QueryWatchdog::Watch watch = dog.Start(conn.fd[0]);
  EXPECT_FALSE(watch.fired());
  // The server never answers: the read returns only because the socket was shut down.
  EXPECT_EQ(conn.Read(), 0);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(50));
  EXPECT_TRUE(watch.fired());
  EXPECT_EQ(dog.fired_total(), 1);
}

TEST(QueryWatchdogTest, AnsweredStatementsAreLeftAlone) {
  QueryWatchdog dog(absl::Milliseconds(50));
  SocketPair answered, stuck;
  {
    QueryWatchdog::Watch done = dog.Start(answered.fd[0]);
  }  // answered at once
  QueryWatchdog::Watch watch = dog.Start(stuck.fd[0]);
  // Once the later watch fired, the earlier one would have fired first had it
  // still been watched.
  EXPECT_EQ(stuck.Read(), 0);
  EXPECT_EQ(dog.fired_total(), 1);
  ASSERT_EQ(write(answered.fd[1], "x", 1), 1);
  EXPECT_EQ(answered.Read(), 1);  // still open
}

TEST(QueryWatchdogTest, WatchesFireInTurnAndAZeroLimitWatchesNothing) {
  QueryWatchdog dog(absl::Milliseconds(20));
  SocketPair a, b;
  QueryWatchdog::Watch wa = dog.Start(a.fd[0]);
  QueryWatchdog::Watch wb = dog.Start(b.fd[0]);
  EXPECT_EQ(a.Read(), 0);
  EXPECT_EQ(b.Read(), 0);
  EXPECT_TRUE(wa.fired());
  EXPECT_TRUE(wb.fired());
  EXPECT_EQ(dog.fired_total(), 2);

  QueryWatchdog off(absl::ZeroDuration());
  SocketPair c;
  QueryWatchdog::Watch wc = off.Start(c.fd[0]);
  EXPECT_FALSE(wc.fired());
  ASSERT_EQ(write(c.fd[1], "x", 1), 1);
  EXPECT_EQ(c.Read(), 1);
}

}  // namespace
}  // namespace drover::store
