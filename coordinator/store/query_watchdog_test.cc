#include "coordinator/store/query_watchdog.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace drover::store {
namespace {

// Two connected sockets standing in for a connection and its server.
struct SocketPair {
  explicit SocketPair(int domain = AF_UNIX) {
    if (domain == AF_UNIX) {
      EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
      return;
    }
    // Loopback TCP, for what the kernel knows of a TCP connection.
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(listener, 1), 0);
    EXPECT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    fd[0] = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_EQ(connect(fd[0], reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    fd[1] = accept(listener, nullptr, nullptr);
    close(listener);
  }
  ~SocketPair() {
    if (fd[0] >= 0) close(fd[0]);
    if (fd[1] >= 0) close(fd[1]);
  }
  // Waits like libpq for an answer: 1 for a byte, 0 once our side was shut
  // down, -2 when nothing happened within 10 s (a broken watchdog).
  int Read() {
    pollfd p{fd[0], POLLIN, 0};
    if (poll(&p, 1, 10000) != 1) return -2;
    char c;
    return static_cast<int>(read(fd[0], &c, 1));
  }
  // The server answers.
  void Answer() { EXPECT_EQ(write(fd[1], "x", 1), 1); }
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
  answered.Answer();
  EXPECT_EQ(answered.Read(), 1);  // still open
}

TEST(QueryWatchdogTest, AWatchStartedAfterOthersFiredIsWatchedToo) {
  QueryWatchdog dog(absl::Milliseconds(20));
  SocketPair a, b;
  QueryWatchdog::Watch wa = dog.Start(a.fd[0]);
  EXPECT_EQ(a.Read(), 0);
  // `wa` is still alive, fired: the watchdog has nothing left to wait for.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!dog.idle() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));  // poll
  ASSERT_TRUE(dog.idle());
  QueryWatchdog::Watch wb = dog.Start(b.fd[0]);
  EXPECT_EQ(b.Read(), 0);
  EXPECT_TRUE(wb.fired());
  EXPECT_EQ(dog.fired_total(), 2);

  QueryWatchdog off(absl::ZeroDuration());
  SocketPair c;
  QueryWatchdog::Watch wc = off.Start(c.fd[0]);
  EXPECT_FALSE(wc.fired());
  c.Answer();
  EXPECT_EQ(c.Read(), 1);
}

TEST(QueryWatchdogTest, NeverTouchesADescriptorNumberItsOwnerClosed) {
  QueryWatchdog dog(absl::Milliseconds(20));
  auto first = std::make_unique<SocketPair>();
  const int number = first->fd[0];
  QueryWatchdog::Watch watch = dog.Start(number);
  first.reset();  // libpq closed its socket (a failed connection)
  SocketPair reused;  // the lowest free numbers: likely the same ones
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!watch.fired() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));  // poll
  ASSERT_TRUE(watch.fired());
  reused.Answer();
  EXPECT_EQ(reused.Read(), 1) << "descriptor " << number << " reused as " << reused.fd[0];
}

TEST(QueryWatchdogTest, OverTcpTheLimitCountsFromTheLastAnswer) {
  QueryWatchdog dog(absl::Milliseconds(200));
  SocketPair conn(AF_INET);
  QueryWatchdog::Watch watch = dog.Start(conn.fd[0]);
  // A transaction of many short statements, answered every 50 ms, for twice
  // the limit: each answer restarts the count.
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(400);
  while (std::chrono::steady_clock::now() < end) {
    absl::SleepFor(absl::Milliseconds(50));  // the server's pace, not a wait for a condition
    conn.Answer();
    ASSERT_EQ(conn.Read(), 1) << "closed although the server answered 50 ms ago";
  }
  EXPECT_FALSE(watch.fired());
  // Then it stops answering.
  EXPECT_EQ(conn.Read(), 0);
  EXPECT_TRUE(watch.fired());
}

// A pool's connections start and end watches from many threads while the
// watchdog's own thread fires (run under TSan in CI): statements answered in
// time are never closed, however many come and go, and a stuck one among
// them still is.
TEST(QueryWatchdogTest, ManyThreadsWatchingAtOnceLoseOnlyTheStuckStatement) {
  // Far above how long a busy thread holds a watch, even under a sanitizer.
  QueryWatchdog dog(absl::Milliseconds(1500));
  SocketPair stuck;
  QueryWatchdog::Watch stuck_watch = dog.Start(stuck.fd[0]);
  std::atomic<bool> stop{false};
  constexpr int kThreads = 6;
  std::vector<std::string> failures(kThreads);
  std::vector<int> statements(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      SocketPair conn;
      do {
        QueryWatchdog::Watch watch = dog.Start(conn.fd[0]);
        conn.Answer();
        const int got = conn.Read();
        if (got != 1 || watch.fired()) {
          failures[t] = absl::StrCat("statement ", statements[t], ": read ", got, ", fired ", watch.fired());
          return;
        }
        ++statements[t];
      } while (!stop.load());
    });
  }
  // The stuck statement's read returns only once the watchdog shut it down.
  EXPECT_EQ(stuck.Read(), 0);
  EXPECT_TRUE(stuck_watch.fired());
  stop.store(true);
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(failures[t], "") << "thread " << t;
    EXPECT_GT(statements[t], 0) << "thread " << t;
  }
  EXPECT_EQ(dog.fired_total(), 1);
}

}  // namespace
}  // namespace drover::store
