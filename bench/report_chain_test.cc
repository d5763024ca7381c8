#include "bench/report_chain.h"

#include <cstdint>
#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace drover::bench {
namespace {

TEST(ReportChainsTest, FirstReportNamesNoPredecessor) {
  ReportChains chains(3);
  const ReportChains::Next n = chains.Send(1);
  EXPECT_EQ(n.sequence, 1);
  EXPECT_EQ(n.previous_sequence, 0);
  EXPECT_EQ(chains.LastSequence(0), 0);
  EXPECT_EQ(chains.LastSequence(1), 1);
}

TEST(ReportChainsTest, AcknowledgedReportIsNamedByTheNext) {
  ReportChains chains(1);
  chains.Answered(0, chains.Send(0).sequence, true);
  const ReportChains::Next second = chains.Send(0);
  EXPECT_EQ(second.sequence, 2);
  EXPECT_EQ(second.previous_sequence, 1);
  chains.Answered(0, second.sequence, true);
  EXPECT_EQ(chains.Send(0).previous_sequence, 2);
}

TEST(ReportChainsTest, FailedReportBreaksTheChainUntilOneIsAcknowledged) {
  ReportChains chains(1);
  chains.Answered(0, chains.Send(0).sequence, true);
  const ReportChains::Next failed = chains.Send(0);
  chains.Answered(0, failed.sequence, false);
  const ReportChains::Next after = chains.Send(0);
  EXPECT_EQ(after.sequence, 3);
  EXPECT_EQ(after.previous_sequence, 0);
  chains.Answered(0, after.sequence, true);
  EXPECT_EQ(chains.Send(0).previous_sequence, 3);
}

TEST(ReportChainsTest, ReportSentBeforeTheAnswerNamesNone) {
  ReportChains chains(1);
  chains.Answered(0, chains.Send(0).sequence, true);
  const ReportChains::Next a = chains.Send(0);  // 2, names 1
  const ReportChains::Next b = chains.Send(0);  // sent before 2's answer
  EXPECT_EQ(a.previous_sequence, 1);
  EXPECT_EQ(b.sequence, 3);
  EXPECT_EQ(b.previous_sequence, 0);
  // 2's late acknowledgement must not make 3 look acknowledged.
  chains.Answered(0, a.sequence, true);
  EXPECT_EQ(chains.Send(0).previous_sequence, 0);
}

TEST(ReportChainsTest, StaleAnswerDoesNotUndoTheLastOnes) {
  ReportChains chains(1);
  const ReportChains::Next a = chains.Send(0);
  const ReportChains::Next b = chains.Send(0);
  chains.Answered(0, b.sequence, true);
  chains.Answered(0, a.sequence, false);  // late, about an older report
  EXPECT_EQ(chains.Send(0).previous_sequence, b.sequence);
}

TEST(ReportChainsTest, InFlightUntilItsOwnAnswer) {
  ReportChains chains(1);
  EXPECT_FALSE(chains.InFlight(0));
  const ReportChains::Next a = chains.Send(0);
  EXPECT_TRUE(chains.InFlight(0));
  const ReportChains::Next b = chains.Send(0);
  chains.Answered(0, a.sequence, true);  // stale: b is still out
  EXPECT_TRUE(chains.InFlight(0));
  chains.Answered(0, b.sequence, false);  // a failure is an answer too
  EXPECT_FALSE(chains.InFlight(0));
  EXPECT_EQ(chains.LastSequence(0), b.sequence);
}

TEST(ReportChainsTest, HostsAreIndependent) {
  ReportChains chains(2);
  chains.Answered(0, chains.Send(0).sequence, true);
  chains.Answered(1, chains.Send(1).sequence, false);
  EXPECT_EQ(chains.Send(0).previous_sequence, 1);
  EXPECT_EQ(chains.Send(1).previous_sequence, 0);
}

TEST(HostCycleTest, EveryHostOncePerLap) {
  for (int64_t n : {1, 2, 3, 10, 97, 100, 1000, 4096}) {
    HostCycle cycle(n, /*seed=*/n * 7 + 3);
    for (int lap = 0; lap < 2; ++lap) {
      std::set<int64_t> seen;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t h = cycle.Next();
        ASSERT_GE(h, 0) << "n=" << n;
        ASSERT_LT(h, n) << "n=" << n;
        seen.insert(h);
      }
      EXPECT_EQ(static_cast<int64_t>(seen.size()), n) << "n=" << n << " lap " << lap;
    }
  }
}

TEST(HostCycleTest, ConsecutiveHostsAreScattered) {
  HostCycle cycle(1000, 0);
  int64_t adjacent = 0, last = cycle.Next();
  for (int i = 0; i < 999; ++i) {
    const int64_t h = cycle.Next();
    if (h == last + 1 || h + 1 == last) ++adjacent;
    last = h;
  }
  EXPECT_EQ(adjacent, 0);
}

}  // namespace
}  // namespace drover::bench
