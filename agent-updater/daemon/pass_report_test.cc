#include "agent-updater/daemon/pass_report.h"

#include <gtest/gtest.h>

namespace drover::updater {
namespace {

TEST(PassReportTest, RoundTrips) {
  PassReport r{.ok = true, .coordinator_reachable = true, .poll_interval = absl::Seconds(60),
               .backoff_initial = absl::Seconds(2), .backoff_max = absl::Minutes(10),
               .summary = "installed 1.2.0 (window \"sat 02:00\")"};
  const std::string line = FormatPassReport(r);
  EXPECT_EQ(line,
            "ok=1 reachable=1 poll_interval_ms=60000 backoff_initial_ms=2000 backoff_max_ms=600000 "
            "next_sync_ms=0 summary=installed 1.2.0 (window \"sat 02:00\")\n");
  absl::StatusOr<PassReport> back = ParsePassReport(line);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->ok);
  EXPECT_TRUE(back->coordinator_reachable);
  EXPECT_EQ(back->poll_interval, absl::Seconds(60));
  EXPECT_EQ(back->backoff_initial, absl::Seconds(2));
  EXPECT_EQ(back->backoff_max, absl::Minutes(10));
  EXPECT_EQ(back->summary, r.summary);
}

TEST(PassReportTest, SummaryKeepsToOneLine) {
  PassReport r{.summary = "first\nsecond"};
  const std::string line = FormatPassReport(r);
  EXPECT_EQ(line, "ok=0 reachable=0 poll_interval_ms=0 backoff_initial_ms=1000 backoff_max_ms=60000 "
                  "next_sync_ms=0 summary=first second\n");
  EXPECT_EQ(ParsePassReport(line)->summary, "first second");
}

TEST(PassReportTest, MalformedLinesNameWhatIsWrong) {
  absl::StatusOr<PassReport> r = ParsePassReport("");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("ok="), std::string::npos) << r.status();

  r = ParsePassReport("ok=1 reachable=yes poll_interval_ms=5 backoff_initial_ms=1 backoff_max_ms=2 summary=x");
  EXPECT_NE(r.status().message().find("bad reachable: \"yes\""), std::string::npos) << r.status();

  r = ParsePassReport("ok=1 reachable=1 poll_interval_ms=-5 backoff_initial_ms=1 backoff_max_ms=2 summary=x");
  EXPECT_NE(r.status().message().find("bad poll_interval_ms"), std::string::npos) << r.status();

  r = ParsePassReport("ok=1 reachable=1 poll_interval_ms=5 backoff_initial_ms=1 backoff_max_ms=2");
  EXPECT_NE(r.status().message().find("summary="), std::string::npos) << r.status();

  r = ParsePassReport("ok=1 reachable=1 poll_interval_ms=5 summary=x");
  EXPECT_NE(r.status().message().find("backoff_initial_ms="), std::string::npos) << r.status();
}

TEST(PassReportTest, CarriesTheCoordinatorsNextSync) {
  PassReport r{.ok = true, .coordinator_reachable = true, .poll_interval = absl::Seconds(1),
               .next_sync = absl::Milliseconds(250'123), .summary = "up to date"};
  const std::string line = FormatPassReport(r);
  EXPECT_NE(line.find(" next_sync_ms=250123 summary="), std::string::npos) << line;
  absl::StatusOr<PassReport> back = ParsePassReport(line);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->next_sync, absl::Milliseconds(250'123));
  EXPECT_EQ(back->summary, "up to date");
  // A pass older than the field: none.
  back = ParsePassReport("ok=1 reachable=1 poll_interval_ms=5000 backoff_initial_ms=1 backoff_max_ms=2 summary=x y");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->next_sync, absl::ZeroDuration());
  EXPECT_EQ(back->summary, "x y");
  back = ParsePassReport("ok=1 reachable=1 poll_interval_ms=5 backoff_initial_ms=1 backoff_max_ms=2 "
                         "next_sync_ms=soon summary=x");
  EXPECT_NE(back.status().message().find("bad next_sync_ms: \"soon\""), std::string::npos) << back.status();
}

TEST(PassReportTest, CarriesTheWatchAndSkipsUnknownKeys) {
  PassReport r{.ok = true, .coordinator_reachable = true, .poll_interval = absl::Seconds(60),
               .watch = "10.0.0.1:7602", .watch_path = "/v1/watch?channel=stable%2Fcloud&host_id=h&group=&tag=ab12",
               .answer_tag = "ab12", .summary = "up to date"};
  const std::string line = FormatPassReport(r);
  EXPECT_NE(line.find(" watch=10.0.0.1:7602 watch_path=/v1/watch?channel=stable%2Fcloud&host_id=h&group=&tag=ab12 "
                      "answer_tag=ab12 summary=up to date"),
            std::string::npos)
      << line;
  absl::StatusOr<PassReport> back = ParsePassReport(line);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->watch, r.watch);
  EXPECT_EQ(back->watch_path, r.watch_path);
  EXPECT_EQ(back->answer_tag, "ab12");
  EXPECT_EQ(back->summary, "up to date");
  // No watch configured: the keys are left out.
  r.watch.clear();
  r.watch_path.clear();
  EXPECT_EQ(FormatPassReport(r).find("watch"), std::string::npos);
  // A newer pass's keys are skipped, in any order before the summary.
  back = ParsePassReport("ok=1 reachable=1 poll_interval_ms=5 backoff_initial_ms=1 backoff_max_ms=2 "
                         "future_key=x answer_tag=cd next_sync_ms=7 other=1 summary=a b=c");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->answer_tag, "cd");
  EXPECT_EQ(back->next_sync, absl::Milliseconds(7));
  EXPECT_EQ(back->summary, "a b=c");
  // Half a watch is refused.
  back = ParsePassReport("ok=1 reachable=1 poll_interval_ms=5 backoff_initial_ms=1 backoff_max_ms=2 "
                         "watch=h:1 summary=x");
  EXPECT_NE(back.status().message().find("watch_path="), std::string::npos) << back.status();
  back = ParsePassReport("ok=1 reachable=1 poll_interval_ms=5 backoff_initial_ms=1 backoff_max_ms=2 junk summary=x");
  EXPECT_NE(back.status().message().find("lacks \"summary=\""), std::string::npos) << back.status();
}

TEST(PushPacerTest, JittersAllowsABurstThenOnePer5s) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  PushPacer p;
  EXPECT_EQ(p.At(t0, 0.0), t0);
  EXPECT_EQ(p.At(t0, 0.5), t0 + absl::Milliseconds(250));
  EXPECT_LT(p.At(t0, 0.999), t0 + kPushJitter);
  // A burst of three runs at once.
  for (int i = 0; i < kPushBurst; ++i) {
    EXPECT_EQ(p.At(t0 + absl::Seconds(i), 0.0), t0 + absl::Seconds(i)) << i;
    p.Started(t0 + absl::Seconds(i));
  }
  // The bucket refilled 2/5 of a token since t0: the fourth waits for the rest.
  const absl::Time t2 = t0 + absl::Seconds(2);
  EXPECT_EQ(p.At(t2, 0.0), t2 + absl::Seconds(3));
  p.Started(t2 + absl::Seconds(3));
  // Then one per 5 s, steadily.
  EXPECT_EQ(p.At(t2 + absl::Seconds(3), 0.0), t2 + absl::Seconds(8));
  p.Started(t2 + absl::Seconds(8));
  EXPECT_EQ(p.At(t2 + absl::Seconds(9), 0.0), t2 + absl::Seconds(13));
  // A quiet minute refills the burst, no more.
  const absl::Time later = t2 + absl::Minutes(2);
  for (int i = 0; i < kPushBurst; ++i) {
    EXPECT_EQ(p.At(later, 0.0), later) << i;
    p.Started(later);
  }
  EXPECT_EQ(p.At(later, 0.0), later + kPushRefill);
}

Backoff TestBackoff() {
  return Backoff(absl::Seconds(1), absl::Seconds(8), [] { return 0.5; });
}

TEST(NextPassAfterTest, ReachedCoordinatorWaitsItsPollIntervalWithSpread) {
  Backoff b = TestBackoff();
  PassReport r{.ok = true, .coordinator_reachable = true, .poll_interval = absl::Seconds(100)};
  EXPECT_EQ(NextPassAfter(r, b, 0.0), absl::Seconds(90));
  EXPECT_EQ(NextPassAfter(r, b, 0.5), absl::Seconds(100));
  EXPECT_EQ(NextPassAfter(r, b, 0.999), absl::Seconds(100) * (0.9 + 0.2 * 0.999));
}

TEST(NextPassAfterTest, WaitsTheCoordinatorsIntervalClamped) {
  Backoff b = TestBackoff();
  PassReport r{.ok = true, .coordinator_reachable = true, .poll_interval = absl::Seconds(1),
               .next_sync = absl::Seconds(250)};
  // Jittered by the coordinator already: taken as it is.
  EXPECT_EQ(NextPassAfter(r, b, 0.0), absl::Seconds(250));
  EXPECT_EQ(NextPassAfter(r, b, 0.999), absl::Seconds(250));
  r.next_sync = absl::Milliseconds(10);
  EXPECT_EQ(NextPassAfter(r, b, 0.5), kMinPollInterval);
  r.next_sync = absl::Hours(100);
  EXPECT_EQ(NextPassAfter(r, b, 0.5), kMaxPollInterval);
  // None told: the poll interval, spread.
  r.next_sync = absl::ZeroDuration();
  EXPECT_EQ(NextPassAfter(r, b, 0.0), absl::Milliseconds(900));
  // A failed or unreachable pass backs off whatever it was told.
  PassReport unreachable{.ok = true, .coordinator_reachable = false, .poll_interval = absl::Seconds(100),
                         .next_sync = absl::Seconds(250)};
  EXPECT_EQ(NextPassAfter(unreachable, b, 0.5), absl::Milliseconds(500));
}

TEST(NextPassAfterTest, UnreachableFailedOrSilentPassesBackOffUntilOneSucceeds) {
  Backoff b = TestBackoff();
  PassReport unreachable{.ok = true, .coordinator_reachable = false, .poll_interval = absl::Seconds(100)};
  PassReport failed{.ok = false};
  EXPECT_EQ(NextPassAfter(unreachable, b, 0.5), absl::Milliseconds(500));  // 1 s * 0.5
  EXPECT_EQ(NextPassAfter(failed, b, 0.5), absl::Seconds(1));               // 2 s * 0.5
  EXPECT_EQ(NextPassAfter(std::nullopt, b, 0.5), absl::Seconds(2));         // 4 s * 0.5
  EXPECT_EQ(NextPassAfter(std::nullopt, b, 0.5), absl::Seconds(4));         // capped at 8 s
  EXPECT_EQ(NextPassAfter(std::nullopt, b, 0.5), absl::Seconds(4));
  PassReport fine{.ok = true, .coordinator_reachable = true, .poll_interval = absl::Seconds(10)};
  EXPECT_EQ(NextPassAfter(fine, b, 0.5), absl::Seconds(10));
  EXPECT_EQ(NextPassAfter(failed, b, 0.5), absl::Milliseconds(500));  // back to the first step
}

// Issue 12 item 4: with a 5 s poll interval the waits during an outage grew
// to 25-35 s (the default cap was 5 min). Now capped at the poll interval,
// unless backoff_max is configured.
TEST(RetryCapTest, AnOutageNeverWaitsLongerThanThePollInterval) {
  EXPECT_EQ(RetryCap(absl::ZeroDuration(), absl::Seconds(5)), absl::Seconds(5));
  EXPECT_EQ(RetryCap(absl::Minutes(10), absl::Seconds(5)), absl::Minutes(10));
  EXPECT_EQ(RetryCap(absl::ZeroDuration(), absl::ZeroDuration()), kDefaultRetryCap);

  // The daemon's loop: each pass hands over its limits, then the wait follows.
  Backoff b(absl::Seconds(1), kDefaultRetryCap, [] { return 0.999; });
  PassReport unreachable{.ok = true, .coordinator_reachable = false, .poll_interval = absl::Seconds(5)};
  unreachable.backoff_max = RetryCap(absl::ZeroDuration(), unreachable.poll_interval);
  for (int pass = 0; pass < 20; ++pass) {
    b.SetLimits(unreachable.backoff_initial, unreachable.backoff_max);
    EXPECT_LE(NextPassAfter(unreachable, b, 0.5), absl::Seconds(5)) << "pass " << pass;
  }
}

}  // namespace
}  // namespace drover::updater
