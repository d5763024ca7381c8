// drover-store-bench: the coordinator's ingest statement alone, without gRPC.
//
// Drives PgStore::ApplyReports (the statement behind every ReportStatus
// batch) from one thread, like the coordinator's one ingest writer, against a
// channel of N agents, and prints what a batch costs: wall time and the CPU
// PostgreSQL and this process spent per report. drover-bench measures the
// whole coordinator; this isolates the database's share, where run-to-run
// noise from gRPC and the load generator would hide a change to the statement.
//
// Every host reports once (populate), then batches of distinct hosts report
// again, walking a random permutation of the fleet as hosts polling at the
// same interval would. Sequences start from the current time in microseconds,
// so a second run against the same database is accepted too.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/cpu_meter.h"
#include "bench/fleet.h"
#include "bench/percentile.h"
#include "common/log.h"
#include "coordinator/rollout/model.h"
#include "coordinator/server.h"
#include "coordinator/store/pg_store.h"

ABSL_FLAG(std::string, database, "", "PostgreSQL URL (required); migrations are applied first");
ABSL_FLAG(int64_t, hosts, 1000000, "Agents in the channel (distinct host ids)");
ABSL_FLAG(int, batch, 64, "Reports per ApplyReports call in the measured phase (the coordinator's mean at 256 "
                          "outstanding calls is ~60)");
ABSL_FLAG(bool, populate, true,
          "Report every host once before measuring; --populate=false when the database already holds them from an "
          "earlier run (unknown hosts would otherwise be measured as first reports). Hosts start again from their "
          "initial versions, so hosts an earlier run updated report their old version once");
ABSL_FLAG(int, populate_batch, 1000, "Reports per call while every host reports for the first time");
ABSL_FLAG(int, duration, 10, "Seconds the measured phase lasts");
ABSL_FLAG(double, outcome_fraction, 0.01, "Fraction of reports that carry an update outcome 15.1.0 -> 15.2.0");
ABSL_FLAG(std::string, channel_id, "store-bench", "Channel the agents report in (created if missing)");
ABSL_FLAG(int, connect_timeout, 30, "Seconds to wait for PostgreSQL to accept connections and migrations to apply");
ABSL_FLAG(int, postgres_pid, 0, "PostgreSQL's postmaster pid, to count its CPU and its backends'; 0: unknown");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the host order and outcome choices");

namespace {

using ::drover::bench::CpuMeter;
using ::drover::bench::Percentile;
using ::drover::rollout::AgentReport;
using Clock = std::chrono::steady_clock;

using ::drover::bench::kCurrent;
using ::drover::bench::kTarget;
using ::drover::bench::kVersions;

int Fail(const std::string& message) {
  std::fprintf(stderr, "drover-store-bench: %s\n", message.c_str());
  return 1;
}

// drover-bench's fleet (bench/fleet.h).
struct Fleet {
  explicit Fleet(int64_t n) : version(n), reports(n, 0) {
    for (int64_t h = 0; h < n; ++h) version[h] = drover::bench::InitialVersion(h);
  }
  std::vector<uint8_t> version;
  std::vector<int32_t> reports;  // sent so far, added to the run's base sequence
};

AgentReport MakeReport(const std::string& channel, int64_t host, int64_t base_sequence, Fleet& fleet) {
  AgentReport r;
  r.host_id = drover::bench::HostId("host-", host);
  r.channel = channel;
  r.current_version = kVersions[fleet.version[host]];
  r.health = drover::bench::Unhealthy(host) ? drover::rollout::Health::kUnhealthy : drover::rollout::Health::kHealthy;
  r.updater_version = "0.1.0";
  r.sequence = base_sequence + fleet.reports[host]++;
  return r;
}

// Applies one batch; every report must be accepted (this is the only writer).
absl::Status Apply(drover::store::PgStore& store, const std::vector<AgentReport>& batch) {
  std::vector<const AgentReport*> ptrs;
  ptrs.reserve(batch.size());
  for (const AgentReport& r : batch) ptrs.push_back(&r);
  absl::StatusOr<std::vector<drover::store::ReportResult>> results = store.ApplyReports(ptrs);
  if (!results.ok()) return results.status();
  for (size_t i = 0; i < batch.size(); ++i) {
    const drover::store::ReportResult& r = (*results)[i];
    if (!r.status.ok()) return absl::InternalError(absl::StrCat(batch[i].host_id, ": ", r.status.ToString()));
    if (r.disposition != drover::rollout::ReportDisposition::kAccepted) {
      return absl::InternalError(absl::StrCat(batch[i].host_id, " sequence ", batch[i].sequence,
                                              " was not accepted (stored sequence ", r.stored_sequence,
                                              "): is another writer using channel ", batch[i].channel, "?"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "The coordinator's ingest statement alone: populates N agents, then times batches of reports.\n"
      "Usage: drover-store-bench --database=URL [--hosts=N] [--batch=B] [flags]");
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::ParseCommandLine(argc, argv);
  const std::string url = absl::GetFlag(FLAGS_database);
  const int64_t hosts = absl::GetFlag(FLAGS_hosts);
  const int batch_size = absl::GetFlag(FLAGS_batch);
  const int populate_batch = absl::GetFlag(FLAGS_populate_batch);
  const int duration = absl::GetFlag(FLAGS_duration);
  const double outcome_fraction = absl::GetFlag(FLAGS_outcome_fraction);
  const std::string channel = absl::GetFlag(FLAGS_channel_id);
  const int pg_pid = absl::GetFlag(FLAGS_postgres_pid);
  if (url.empty()) return Fail("--database=URL is required");
  if (hosts < 1 || hosts > 9999999) return Fail(absl::StrCat("--hosts=", hosts, " must be in 1..9999999"));
  // The coordinator batches at most --max_batch (1000 by default) reports.
  if (batch_size < 1 || batch_size > 10000) return Fail(absl::StrCat("--batch=", batch_size, " must be in 1..10000"));
  if (batch_size > hosts) return Fail(absl::StrCat("--batch=", batch_size, " must not exceed --hosts=", hosts));
  if (populate_batch < 1 || populate_batch > 10000) {
    return Fail(absl::StrCat("--populate_batch=", populate_batch, " must be in 1..10000"));
  }
  if (duration < 1) return Fail(absl::StrCat("--duration=", duration, " must be at least 1 second"));
  if (!(outcome_fraction >= 0 && outcome_fraction <= 1)) {
    return Fail(absl::StrCat("--outcome_fraction=", outcome_fraction, " must be in 0..1"));
  }

  absl::StatusOr<std::string> migrated =
      drover::RunMigrations(url, absl::Seconds(std::max(1, absl::GetFlag(FLAGS_connect_timeout))));
  if (!migrated.ok()) return Fail(absl::StrCat("applying migrations: ", migrated.status().ToString()));
  drover::store::PgStore store({.url = url, .pool_size = 1, .ingest_pool_size = 1});
  {
    drover::rollout::Channel ch;
    ch.id = channel;
    ch.target_version = kVersions[kTarget];
    ch.control_plane_version = kVersions[kTarget];
    absl::StatusOr<drover::rollout::Channel> created = store.CreateChannel(ch);
    if (!created.ok() && created.status().code() != absl::StatusCode::kAlreadyExists) {
      return Fail(absl::StrCat("creating channel ", channel, ": ", created.status().ToString()));
    }
  }

  Fleet fleet(hosts);
  const int64_t base_sequence = absl::ToUnixMicros(absl::Now());
  std::mt19937_64 rng(absl::GetFlag(FLAGS_seed));

  // Populate, in host order.
  const Clock::time_point populate_start = Clock::now();
  for (int64_t first = 0; absl::GetFlag(FLAGS_populate) && first < hosts; first += populate_batch) {
    std::vector<AgentReport> batch;
    for (int64_t h = first; h < std::min(hosts, first + populate_batch); ++h) {
      batch.push_back(MakeReport(channel, h, base_sequence, fleet));
    }
    if (absl::Status s = Apply(store, batch); !s.ok()) return Fail(absl::StrCat("populate: ", s.ToString()));
  }
  const double populate_s = std::chrono::duration<double>(Clock::now() - populate_start).count();
  if (absl::GetFlag(FLAGS_populate)) {
    drover::LogInfo(absl::StrFormat("populated %d agents in %.1f s (%.0f/s)", hosts, populate_s, hosts / populate_s));
  }

  // Measured phase: consecutive slices of a random permutation.
  std::vector<int64_t> order(static_cast<size_t>(hosts));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  size_t next = 0;
  std::bernoulli_distribution outcome(outcome_fraction);
  std::vector<double> batch_ms;
  int64_t reports = 0, outcomes = 0;
  CpuMeter cpu("store-bench", {{"postgres", pg_pid, true}});
  const Clock::time_point end = Clock::now() + std::chrono::seconds(duration);
  cpu.Start();
  const Clock::time_point start = Clock::now();
  while (Clock::now() < end) {
    std::vector<AgentReport> batch;
    batch.reserve(static_cast<size_t>(batch_size));
    while (batch.size() < static_cast<size_t>(batch_size)) {
      if (next == order.size()) {
        std::shuffle(order.begin(), order.end(), rng);
        next = 0;
      }
      const int64_t h = order[next++];
      const bool update = fleet.version[h] == kCurrent && outcome(rng);
      if (update) fleet.version[h] = kTarget;
      batch.push_back(MakeReport(channel, h, base_sequence, fleet));
      if (update) {
        const absl::Time now = absl::Now();
        batch.back().outcomes.push_back({.from_version = kVersions[kCurrent],
                                         .to_version = kVersions[kTarget],
                                         .result = drover::rollout::UpdateResult::kSucceeded,
                                         .start_time = now - absl::Seconds(5),
                                         .finish_time = now - absl::Seconds(1)});
        ++outcomes;
      }
    }
    const Clock::time_point t0 = Clock::now();
    if (absl::Status s = Apply(store, batch); !s.ok()) return Fail(s.ToString());
    batch_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    reports += batch_size;
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  cpu.Stop();

  std::printf("batches: %zu of %d reports (%d with an outcome) in %.1f s\n", batch_ms.size(), batch_size,
              static_cast<int>(outcomes), elapsed);
  std::printf("%s\n", cpu.Summary().c_str());
  const std::string pg_us = pg_pid > 0 ? absl::StrFormat("%.1f", 1e6 * cpu.CpuSeconds(0) / reports) : "unknown";
  std::printf("hosts=%ld batch=%d reports_per_s=%.0f batch_ms_p50=%.2f batch_ms_p99=%.2f postgres_us_per_report=%s "
              "client_us_per_report=%.1f\n",
              static_cast<long>(hosts), batch_size, reports / elapsed, Percentile(batch_ms, 0.5),
              Percentile(batch_ms, 0.99), pg_us.c_str(),
              1e6 * cpu.CpuSeconds(-1) / reports);
  return 0;
}
