// The coordinator as a real process under load, killed with real signals, with
// its PostgreSQL stopped and started under it: no acknowledged report is lost.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent-updater/target/coordinator_client.h"
#include "coordinator/store/migrator.h"
#include "drover/v1/operator_service.grpc.pb.h"
#include "drover/v1/updater_service.grpc.pb.h"
#include "tests/support/test_env.h"

namespace drover {
namespace {

using ::drover::testing::CommandResult;
using ::drover::testing::CoordinatorProcess;
using ::drover::testing::NewTestDatabase;
using ::drover::testing::PollUntil;
using ::drover::testing::QueryColumn;
using ::drover::testing::QueryValue;
using ::drover::testing::RunCommand;

void CreateChannel(const std::string& address, const std::string& id) {
  auto stub = v1::OperatorService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  v1::CreateChannelRequest req;
  req.set_channel_id(id);
  req.set_control_plane_version("15.2.0");
  req.set_target_version("15.2.0");
  v1::Channel out;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Status s = stub->CreateChannel(&ctx, req, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
}

// Simulated updaters: each thread owns some hosts and reports with growing
// sequences, one outcome every 5th report. Remembers what was acknowledged.
class Load {
 public:
  Load(const std::string& address, int threads, int hosts_per_thread) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, address, t, hosts_per_thread] { Run(address, t, hosts_per_thread); });
    }
  }
  ~Load() { Stop(); }

  void Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  int64_t acked() const { return acked_count_; }
  int64_t failures_since(int64_t mark) const { return failed_count_ - mark; }
  int64_t failed() const { return failed_count_; }

  std::map<int, int64_t> codes() {
    std::lock_guard<std::mutex> lock(mu_);
    return codes_;
  }
  std::map<std::string, int64_t> acked_sequences() {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_seq_;
  }
  std::vector<std::pair<std::string, int64_t>> acked_outcomes() {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_outcomes_;
  }
  // Distinct failure messages, by status code.
  std::map<int, std::set<std::string>> messages() {
    std::lock_guard<std::mutex> lock(mu_);
    return messages_;
  }
  void ClearCodes() {
    std::lock_guard<std::mutex> lock(mu_);
    codes_.clear();
    messages_.clear();
  }

 private:
  void Run(const std::string& address, int t, int hosts) {
    // A channel per thread, so threads do not share one connection.
    grpc::ChannelArguments args;
    args.SetInt("drover.test.thread", t);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
    auto stub = v1::UpdaterService::NewStub(
        grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
    std::vector<int64_t> seq(hosts, 0);
    for (int64_t i = 0; !stop_; ++i) {
      const int h = static_cast<int>(i % hosts);
      const std::string host = absl::StrCat("t", t, "-h", h);
      v1::ReportStatusRequest r;
      r.set_host_id(host);
      r.set_channel("channels/load");
      r.set_current_version(i % 2 ? "15.2.0" : "15.1.0");
      r.set_health(i % 7 == 0 ? v1::HEALTH_UNHEALTHY : v1::HEALTH_HEALTHY);
      r.set_updater_version("0.1.0");
      r.set_sequence(++seq[h]);
      const bool with_outcome = seq[h] % 5 == 0;
      if (with_outcome) {
        v1::UpdateOutcome* o = r.add_outcomes();
        o->set_from_version("15.1.0");
        o->set_to_version("15.2.0");
        o->set_result(v1::UPDATE_RESULT_SUCCEEDED);
        const int64_t now = absl::ToUnixSeconds(absl::Now());
        o->mutable_start_time()->set_seconds(now - 5);
        o->mutable_finish_time()->set_seconds(now - 1);
      }
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      v1::ReportStatusResponse resp;
      grpc::Status s = stub->ReportStatus(&ctx, r, &resp);
      std::lock_guard<std::mutex> lock(mu_);
      if (s.ok()) {
        acked_seq_[host] = std::max(acked_seq_[host], r.sequence());
        if (with_outcome) acked_outcomes_.emplace_back(host, r.sequence());
        ++acked_count_;
      } else {
        ++codes_[s.error_code()];
        if (messages_[s.error_code()].size() < 20) messages_[s.error_code()].insert(s.error_message());
        ++failed_count_;
        // An updater retries the same report (same sequence) later.
        --seq[h];
      }
    }
  }

  std::atomic<bool> stop_{false};
  std::atomic<int64_t> acked_count_{0};
  std::atomic<int64_t> failed_count_{0};
  std::mutex mu_;
  std::map<std::string, int64_t> acked_seq_;
  std::vector<std::pair<std::string, int64_t>> acked_outcomes_;
  std::map<int, int64_t> codes_;
  std::map<int, std::set<std::string>> messages_;
  std::vector<std::thread> threads_;
};

// Every acknowledged report is in the database, every acknowledged outcome is
// there exactly once, and the counters agree with the agents.
void ExpectNothingLost(const std::string& db, Load& load) {
  std::map<std::string, int64_t> stored;
  for (const std::string& row : QueryColumn(db, "SELECT host_id || ' ' || sequence FROM agents")) {
    size_t sp = row.find(' ');
    stored[row.substr(0, sp)] = std::stoll(row.substr(sp + 1));
  }
  int64_t lost = 0;
  for (const auto& [host, seq] : load.acked_sequences()) {
    if (stored[host] < seq) ++lost;
  }
  EXPECT_EQ(lost, 0) << "hosts whose acknowledged report is missing";

  std::map<std::pair<std::string, int64_t>, int64_t> events;
  for (const std::string& row : QueryColumn(db, "SELECT host_id || ' ' || report_sequence FROM update_events")) {
    size_t sp = row.find(' ');
    ++events[{row.substr(0, sp), std::stoll(row.substr(sp + 1))}];
  }
  int64_t missing = 0, repeated = 0;
  for (const auto& key : load.acked_outcomes()) {
    auto it = events.find(key);
    if (it == events.end()) {
      ++missing;
    } else if (it->second != 1) {
      ++repeated;
    }
  }
  EXPECT_EQ(missing, 0) << "acknowledged outcomes missing";
  EXPECT_EQ(repeated, 0) << "outcomes stored more than once";
  for (const auto& [key, n] : events) EXPECT_EQ(n, 1) << key.first << " seq " << key.second;

  EXPECT_EQ(testing::FleetCounterMismatches(db), 0) << "fleet counters disagree with the agents table";
}

TEST(ResilienceTest, SigkillUnderLoadLosesNoAcknowledgedReport) {
  const std::string db = NewTestDatabase();
  absl::StatusOr<std::unique_ptr<CoordinatorProcess>> proc = CoordinatorProcess::Start(db);
  ASSERT_TRUE(proc.ok()) << proc.status();
  CreateChannel((*proc)->grpc_address(), "load");

  Load load((*proc)->grpc_address(), 8, 50);
  ASSERT_TRUE(PollUntil(absl::Seconds(60), [&] { return load.acked() >= 3000; })) << load.acked();
  (*proc)->Signal(SIGKILL);
  int status = (*proc)->WaitForExit(absl::Seconds(10));
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  load.Stop();
  ExpectNothingLost(db, load);

  // A new process on the same database carries on where the old one stopped.
  absl::StatusOr<std::unique_ptr<CoordinatorProcess>> again = CoordinatorProcess::Start(db);
  ASSERT_TRUE(again.ok()) << again.status();
  auto ops = v1::OperatorService::NewStub(grpc::CreateChannel((*again)->grpc_address(),
                                                              grpc::InsecureChannelCredentials()));
  v1::GetRolloutStatusRequest req;
  req.set_name("channels/load");
  v1::RolloutStatus st;
  grpc::ClientContext ctx;
  ASSERT_TRUE(ops->GetRolloutStatus(&ctx, req, &st).ok());
  EXPECT_EQ(st.total_agents(), std::stoll(QueryValue(db, "SELECT count(*) FROM agents")));
  EXPECT_GT(st.total_agents(), 0);
}

TEST(ResilienceTest, SigtermCommitsInFlightReportsAndExitsZero) {
  const std::string db = NewTestDatabase();
  absl::StatusOr<std::unique_ptr<CoordinatorProcess>> proc = CoordinatorProcess::Start(db);
  ASSERT_TRUE(proc.ok()) << proc.status();
  CreateChannel((*proc)->grpc_address(), "load");
  Load load((*proc)->grpc_address(), 8, 50);
  ASSERT_TRUE(PollUntil(absl::Seconds(60), [&] { return load.acked() >= 2000; }));
  // Operator edits are not starved by a busy ingest.
  {
    auto ops = v1::OperatorService::NewStub(
        grpc::CreateChannel((*proc)->grpc_address(), grpc::InsecureChannelCredentials()));
    for (int i = 0; i < 5; ++i) {
      v1::SetCriticalRequest req;
      req.set_name("channels/load");
      req.set_critical(i % 2 == 0);
      req.set_reason(i % 2 == 0 ? "drill" : "");
      v1::Channel out;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
      grpc::Status s = ops->SetCritical(&ctx, req, &out);
      EXPECT_TRUE(s.ok()) << s.error_message();
    }
  }
  load.ClearCodes();
  (*proc)->Signal(SIGTERM);
  int status = (*proc)->WaitForExit(absl::Seconds(30));
  load.Stop();
  ASSERT_TRUE(WIFEXITED(status)) << (*proc)->Log();
  EXPECT_EQ(WEXITSTATUS(status), 0) << (*proc)->Log();
  EXPECT_TRUE(absl::StrContains((*proc)->Log(), "stopped cleanly")) << (*proc)->Log();
  // After the signal, calls only fail because nothing takes them any more:
  // refused connections (UNAVAILABLE), or gRPC cancelling a call that reached
  // the server after shutdown began and was never handed to the coordinator
  // (CANCELLED). None ran out of time waiting for a commit, and the batcher
  // refused none it had been handed ("shutting down"): what was queued was
  // committed and answered (and ExpectNothingLost finds it stored).
  for (const auto& [code, n] : load.codes()) {
    EXPECT_TRUE(code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::CANCELLED)
        << n << " calls failed with code " << code;
  }
  for (const auto& [code, texts] : load.messages()) {
    for (const std::string& text : texts) {
      EXPECT_FALSE(absl::StrContains(text, "shutting down")) << text;
      std::printf("after SIGTERM, code %d: %s\n", code, text.c_str());
    }
  }
  ExpectNothingLost(db, load);
}

TEST(ResilienceTest, PostgresStoppedAndStartedUnderLoad) {
  absl::StatusOr<std::unique_ptr<testing::TestPostgres>> pg = testing::TestPostgres::StartPrivate();
  ASSERT_TRUE(pg.ok()) << pg.status();
  ASSERT_TRUE((*pg)->CreateDatabase("drover").ok());
  const std::string db = (*pg)->Url("drover");
  absl::StatusOr<std::unique_ptr<CoordinatorProcess>> proc = CoordinatorProcess::Start(db);
  ASSERT_TRUE(proc.ok()) << proc.status();
  const std::string address = (*proc)->grpc_address();
  CreateChannel(address, "load");

  Load load(address, 4, 50);
  ASSERT_TRUE(PollUntil(absl::Seconds(60), [&] { return load.acked() >= 1000; }));
  ASSERT_TRUE((*pg)->Stop("fast").ok());
  load.ClearCodes();
  const int64_t failed_at_stop = load.failed();
  ASSERT_TRUE(PollUntil(absl::Seconds(30), [&] { return load.failures_since(failed_at_stop) >= 50; }));

  // Operators get UNAVAILABLE too, and the process stays up.
  auto ops = v1::OperatorService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  {
    v1::GetRolloutStatusRequest req;
    req.set_name("channels/load");
    v1::RolloutStatus st;
    grpc::ClientContext ctx;
    grpc::Status s = ops->GetRolloutStatus(&ctx, req, &st);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), "database unavailable")) << s.error_message();
  }
  EXPECT_TRUE((*proc)->Alive());
  auto updaters = v1::UpdaterService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  auto get_target = [&] {
    v1::GetTargetRequest req;
    req.set_channel("channels/load");
    v1::GetTargetResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return updaters->GetTarget(&ctx, req, &resp);
  };
  // Once the cached answer is older than its 1 s limit, GetTarget says so too.
  EXPECT_TRUE(PollUntil(absl::Seconds(10), [&] { return get_target().error_code() == grpc::StatusCode::UNAVAILABLE; }));
  // The updater reads the coordinator's structured reason: a database outage.
  {
    std::unique_ptr<updater::CoordinatorClient> client = updater::MakeGrpcCoordinatorClient(address, absl::Seconds(10));
    v1::GetTargetRequest req;
    req.set_channel("channels/load");
    absl::StatusOr<v1::GetTargetResponse> got = client->GetTarget(req);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(updater::DescribeCoordinatorError(got.status(), "load").kind,
              updater::CoordinatorError::Kind::kDatabaseUnavailable)
        << got.status();
  }
  auto database_up = [&] {
    absl::StatusOr<std::string> body = testing::HttpGet((*proc)->metrics_address(), "/metrics");
    return body.ok() ? testing::MetricValue(*body, "drover_database_up") : -1;
  };
  EXPECT_TRUE(PollUntil(absl::Seconds(10), [&] { return database_up() == 0; }));
  std::map<int, int64_t> codes = load.codes();
  EXPECT_GT(codes[grpc::StatusCode::UNAVAILABLE], 0);
  for (const auto& [code, n] : codes) {
    EXPECT_TRUE(code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED)
        << "unexpected status code " << code << " x" << n;
  }

  ASSERT_TRUE((*pg)->Start().ok());
  const int64_t acked_at_restart = load.acked();
  EXPECT_TRUE(PollUntil(absl::Seconds(60), [&] { return load.acked() >= acked_at_restart + 1000; }))
      << "reports did not resume after PostgreSQL came back: " << (*proc)->Log();
  load.Stop();
  EXPECT_TRUE((*proc)->Alive());
  EXPECT_TRUE(PollUntil(absl::Seconds(10), [&] { return database_up() == 1; }));
  // A failed reload is remembered for up to a second.
  EXPECT_TRUE(PollUntil(absl::Seconds(5), [&] { return get_target().ok(); }));
  ExpectNothingLost(db, load);

  (*proc)->Signal(SIGTERM);
  int status = (*proc)->WaitForExit(absl::Seconds(30));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << (*proc)->Log();
}

// The postmaster and every process it started: the whole server.
std::vector<pid_t> PostgresProcesses(const std::string& url) {
  auto parent_of = [](const std::string& pid) -> pid_t {
    std::ifstream in("/proc/" + pid + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos) return 0;
    std::istringstream rest(stat.substr(paren + 2));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    return ppid;
  };
  const std::string checkpointer =
      QueryValue(url, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'");
  const pid_t postmaster = parent_of(checkpointer);
  if (postmaster <= 1) return {};  // not found: never signal init or our own group
  std::vector<pid_t> pids = {postmaster};
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") == std::string::npos && parent_of(name) == postmaster) {
      pids.push_back(static_cast<pid_t>(std::stol(name)));
    }
  }
  return pids;
}

// A server that is frozen, not gone, keeps acknowledging TCP: only the
// coordinator's own watchdog ends the wait. SIGSTOP is a real freeze.
TEST(ResilienceTest, FrozenPostgresGivesUnavailableThenRecovers) {
  absl::StatusOr<std::unique_ptr<testing::TestPostgres>> pg = testing::TestPostgres::StartPrivate();
  ASSERT_TRUE(pg.ok()) << pg.status();
  ASSERT_TRUE((*pg)->CreateDatabase("drover").ok());
  const std::string db = (*pg)->Url("drover");
  absl::StatusOr<std::unique_ptr<CoordinatorProcess>> proc =
      CoordinatorProcess::Start(db, {"--db_statement_timeout=1s"});
  ASSERT_TRUE(proc.ok()) << proc.status();
  const std::string address = (*proc)->grpc_address();
  CreateChannel(address, "frozen");
  auto updaters = v1::UpdaterService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  int64_t sequence = 0;
  auto report = [&] {
    v1::ReportStatusRequest r;
    r.set_host_id("h1");
    r.set_channel("channels/frozen");
    r.set_current_version("15.2.0");
    r.set_health(v1::HEALTH_HEALTHY);
    r.set_sequence(++sequence);
    v1::ReportStatusResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return updaters->ReportStatus(&ctx, r, &resp);
  };
  ASSERT_TRUE(report().ok());

  const std::vector<pid_t> server = PostgresProcesses(db);
  ASSERT_GE(server.size(), 3u) << "postmaster and its processes not found";
  // Whatever happens below, the server must run again (or its clean-up hangs).
  absl::Cleanup thaw = [&] {
    for (pid_t pid : server) kill(pid, SIGCONT);
  };
  for (pid_t pid : server) {
    // A backend that just ended (the query above) is gone: ESRCH is fine.
    ASSERT_TRUE(kill(pid, SIGSTOP) == 0 || errno == ESRCH) << pid << ": " << std::strerror(errno);
  }

  const absl::Time start = absl::Now();
  grpc::Status frozen = report();
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(frozen.error_code(), grpc::StatusCode::UNAVAILABLE) << frozen.error_message();
  EXPECT_TRUE(absl::StrContains(frozen.error_message(), "did not answer within 6s")) << frozen.error_message();
  // 1 s statement timeout + 5 s margin, not the call's 30 s deadline.
  EXPECT_LT(took, absl::Seconds(20)) << frozen.error_message();
  EXPECT_TRUE((*proc)->Alive());
  auto database_up = [&] {
    absl::StatusOr<std::string> body = testing::HttpGet((*proc)->metrics_address(), "/metrics");
    return body.ok() ? testing::MetricValue(*body, "drover_database_up") : -1;
  };
  EXPECT_TRUE(PollUntil(absl::Seconds(30), [&] { return database_up() == 0; }));

  std::move(thaw).Invoke();
  EXPECT_TRUE(PollUntil(absl::Seconds(60), [&] { return report().ok(); }))
      << "reports did not resume after PostgreSQL was thawed: " << (*proc)->Log();
  EXPECT_TRUE(PollUntil(absl::Seconds(30), [&] { return database_up() == 1; }));
  EXPECT_EQ(QueryValue(db, "SELECT sequence FROM agents WHERE host_id = 'h1'"), std::to_string(sequence));

  (*proc)->Signal(SIGTERM);
  int status = (*proc)->WaitForExit(absl::Seconds(30));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << (*proc)->Log();
}

// --- Start-up and the migrate command ---------------------------------------------

TEST(ResilienceTest, StartupFailuresAreClearAndNonZero) {
  const std::string coordinator = testing::BinaryPath("drover-coordinator");
  CommandResult no_db = RunCommand({coordinator}, absl::Seconds(30));
  EXPECT_EQ(no_db.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(no_db.output, "--database")) << no_db.output;

  const int closed_port = testing::FreePort();
  CommandResult unreachable =
      RunCommand({coordinator, absl::StrCat("--database=postgresql://drover@127.0.0.1:", closed_port, "/drover"),
                  "--startup_timeout=1s", "--insecure"},
                 absl::Seconds(30));
  EXPECT_EQ(unreachable.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(unreachable.output, "database unavailable")) << unreachable.output;

  CommandResult short_timeout =
      RunCommand({coordinator, "--database=postgresql://drover@127.0.0.1:1/drover", "--db_statement_timeout=10ms"},
                 absl::Seconds(30));
  EXPECT_EQ(short_timeout.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(short_timeout.output, "--db_statement_timeout=10ms must be between 100ms and 24h"))
      << short_timeout.output;
  CommandResult endless =
      RunCommand({coordinator, "--database=postgresql://drover@127.0.0.1:1/drover", "--db_statement_timeout=inf"},
                 absl::Seconds(30));
  EXPECT_EQ(endless.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(endless.output, "--db_statement_timeout=inf must be between")) << endless.output;
  // No tunable is clamped in silence: each out-of-range value is refused by name.
  for (const auto& [flag, says] : std::vector<std::pair<std::string, std::string>>{
           {"--max_batch=0", "--max_batch=0 must be between 1 and 100000"},
           {"--max_queue=-5", "--max_queue=-5 must be between 1 and"},
           {"--max_message_bytes=10", "--max_message_bytes=10 must be between 1024 and"},
           {"--fleet_refresh=0s", "--fleet_refresh=0 must be between 100ms and 1h"},
           {"--shutdown_grace=-1s", "--shutdown_grace=-1s must be between 0 and 1h"},
           {"--startup_timeout=48h", "--startup_timeout=48h must be between 0 and 24h"},
           {"--db_pool_size=0", "--db_pool_size=0 must be between 1 and 100"},
           {"--ingest_writers=1000", "--ingest_writers=1000 must be between 1 and 32"},
           {"--maintenance_interval=0s", "--maintenance_interval=0 must be between 1s and 6h"},
           {"--event_retention=12h", "--event_retention=12h must be 0 (keep for ever) or between 48h (two daily"},
           {"--audit_retention=720h", "--audit_retention=720h must be 0 (keep for ever) or between 1344h (two "
                                      "monthly partitions)"},
           {"--forget_agents_after=1h", "--forget_agents_after=1h must be 0 (never) or between 24h and"},
       }) {
    CommandResult r =
        RunCommand({coordinator, "--database=postgresql://drover@127.0.0.1:1/drover", flag}, absl::Seconds(30));
    EXPECT_EQ(r.exit_code, 1) << flag << ": " << r.output;
    EXPECT_TRUE(absl::StrContains(r.output, says)) << flag << ": " << r.output;
  }
  // `migrate` checks its flags the same way.
  CommandResult migrate_bad = RunCommand(
      {coordinator, "migrate", "--database=postgresql://drover@127.0.0.1:1/drover", "--startup_timeout=720h"},
      absl::Seconds(30));
  EXPECT_EQ(migrate_bad.exit_code, 1) << migrate_bad.output;
  EXPECT_TRUE(absl::StrContains(migrate_bad.output, "--startup_timeout=720h must be between 0 and 24h"))
      << migrate_bad.output;

  CommandResult unknown = RunCommand({coordinator, "frobnicate"}, absl::Seconds(30));
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(unknown.output, "\"frobnicate\"")) << unknown.output;

  const std::string db = NewTestDatabase();
  absl::StatusOr<std::unique_ptr<CoordinatorProcess>> first = CoordinatorProcess::Start(db);
  ASSERT_TRUE(first.ok()) << first.status();
  CommandResult taken = RunCommand({coordinator, testing::DatabaseUrlFlag(db), "--grpc_listen=" + (*first)->grpc_address(),
                                    "--metrics_listen=127.0.0.1:0", "--insecure"},
                                   absl::Seconds(30));
  EXPECT_EQ(taken.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(taken.output, (*first)->grpc_address())) << taken.output;
}

TEST(ResilienceTest, MigrateIsIdempotentAndSafeWhenConcurrent) {
  // The newest file in migrations/.
  absl::StatusOr<std::vector<store::Migration>> migrations = store::ParseMigrations(store::EmbeddedMigrationFiles());
  ASSERT_TRUE(migrations.ok()) << migrations.status();
  const std::string kSchemaVersion = absl::StrCat(migrations->back().version);
  const std::string db = NewTestDatabase();
  const std::string coordinator = testing::BinaryPath("drover-coordinator");
  // Two replicas migrating a fresh database at the same moment.
  CommandResult a, b;
  std::thread ta([&] { a = RunCommand({coordinator, "migrate", testing::DatabaseUrlFlag(db)}); });
  std::thread tb([&] { b = RunCommand({coordinator, "migrate", testing::DatabaseUrlFlag(db)}); });
  ta.join();
  tb.join();
  EXPECT_EQ(a.exit_code, 0) << a.output;
  EXPECT_EQ(b.exit_code, 0) << b.output;
  EXPECT_EQ(QueryValue(db, "SELECT version || ' ' || dirty FROM schema_migrations"),
            absl::StrCat(kSchemaVersion, " false"));

  CommandResult again = RunCommand({coordinator, "migrate", testing::DatabaseUrlFlag(db)});
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(again.output, absl::StrCat("schema version ", kSchemaVersion, " -> ", kSchemaVersion))) << again.output;

  QueryValue(db, "UPDATE schema_migrations SET dirty = true RETURNING 1");
  CommandResult dirty = RunCommand({coordinator, "migrate", testing::DatabaseUrlFlag(db)});
  EXPECT_EQ(dirty.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(dirty.output, absl::StrCat("dirty at version ", kSchemaVersion))) << dirty.output;

  QueryValue(db, "UPDATE schema_migrations SET dirty = false, version = 999 RETURNING 1");
  CommandResult newer = RunCommand({coordinator, "migrate", testing::DatabaseUrlFlag(db)});
  EXPECT_EQ(newer.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(newer.output, "999 is newer")) << newer.output;
}

TEST(ResilienceTest, MigrateWaitsForTheMigrationLockAndGivesUpNamingTheHolder) {
  const std::string db = NewTestDatabase();
  const std::string coordinator = testing::BinaryPath("drover-coordinator");
  // A session standing for another replica in the middle of migrating.
  pqxx::connection holder(db);
  {
    pqxx::nontransaction tx(holder);
    tx.exec_params("SELECT pg_advisory_lock($1)", store::kMigrationLockId);
  }
  const std::string holder_pid = absl::StrCat(holder.backendpid());

  // While the lock is held, migrate waits and applies nothing.
  CommandResult waited;
  std::thread t([&] {
    waited = RunCommand({coordinator, "migrate", testing::DatabaseUrlFlag(db), "--startup_timeout=60s"}, absl::Seconds(90));
  });
  const bool blocked = PollUntil(absl::Seconds(30), [&] {
    return QueryValue(db,
                      "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = "
                      "(SELECT oid FROM pg_database WHERE datname = current_database())") == "1";
  });
  EXPECT_TRUE(blocked) << "migrate never queued on the migration lock";
  EXPECT_EQ(QueryValue(db, "SELECT to_regclass('schema_migrations') IS NULL"), "t");
  {
    pqxx::nontransaction tx(holder);
    tx.exec_params("SELECT pg_advisory_unlock($1)", store::kMigrationLockId);
  }
  t.join();
  EXPECT_EQ(waited.exit_code, 0) << waited.output;
  EXPECT_NE(QueryValue(db, "SELECT version FROM schema_migrations"), "");

  // A lock held for longer than --startup_timeout is a clear failure, not a hang.
  {
    pqxx::nontransaction tx(holder);
    tx.exec_params("SELECT pg_advisory_lock($1)", store::kMigrationLockId);
  }
  const absl::Time start = absl::Now();
  CommandResult stuck =
      RunCommand({coordinator, "migrate", testing::DatabaseUrlFlag(db), "--startup_timeout=1s"}, absl::Seconds(60));
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  EXPECT_EQ(stuck.exit_code, 1) << stuck.output;
  EXPECT_TRUE(absl::StrContains(stuck.output, "schema migration lock")) << stuck.output;
  EXPECT_TRUE(absl::StrContains(stuck.output, absl::StrCat("backend ", holder_pid))) << stuck.output;
}

}  // namespace
}  // namespace drover
