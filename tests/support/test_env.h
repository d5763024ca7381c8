// Test fixtures shared by the integration tests: a real PostgreSQL (the one
// tests/run.sh started, or a private one), a database per test, the real
// coordinator binary as a child process, and polling with a deadline.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace drover::testing {

// A PostgreSQL cluster under a temporary directory, driven by deploy/lib/pg.sh.
class TestPostgres {
 public:
  // Starts a new private cluster on a free port.
  static absl::StatusOr<std::unique_ptr<TestPostgres>> StartPrivate();
  ~TestPostgres();

  // URL of database `db` on this cluster.
  std::string Url(const std::string& db) const;
  absl::Status CreateDatabase(const std::string& db);
  absl::Status Stop(const std::string& mode = "fast");
  absl::Status Start();
  int port() const { return port_; }

 private:
  TestPostgres(std::string dir, int port) : dir_(std::move(dir)), port_(port) {}
  std::string dir_;
  int port_;
};

// The cluster every test shares: DROVER_TEST_DATABASE_URL (an admin URL, as
// set by tests/run.sh) or else a private cluster started on first use.
// Returns the URL of a new, empty database made for the calling test.
std::string NewTestDatabase();

// Runs one SQL statement and returns the first column of every row.
std::vector<std::string> QueryColumn(const std::string& url, const std::string& sql);
std::string QueryValue(const std::string& url, const std::string& sql);

// How many counters in fleet_counts (channel, version, health) and
// seen_counts (channel, 10 s bucket of last_seen) and schedule_counts
// (channel, schedule state) disagree with the agents
// table they summarise; 0 when the ingest path kept them exact.
int64_t FleetCounterMismatches(const std::string& url);

// Path of a binary built by this project (build/bin/NAME).
std::string BinaryPath(const std::string& name);

// "--database_url_file=F" for a new file F (mode 0600) holding `database_url`:
// the coordinator refuses a password in --database (ps shows it to all).
std::string DatabaseUrlFlag(const std::string& database_url);

// A child process running drover-coordinator.
class CoordinatorProcess {
 public:
  // Starts it on free ports and waits (with a deadline) until it serves.
  static absl::StatusOr<std::unique_ptr<CoordinatorProcess>> Start(const std::string& database_url,
                                                                   const std::vector<std::string>& extra_flags = {});
  ~CoordinatorProcess();

  const std::string& grpc_address() const { return grpc_address_; }
  const std::string& metrics_address() const { return metrics_address_; }
  // With --watch_listen; empty without.
  const std::string& watch_address() const { return watch_address_; }
  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // Waits for exit; returns the raw wait status, or -1 on timeout.
  int WaitForExit(absl::Duration timeout);
  bool Alive();
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  int wait_status_ = 0;  // once exited_, as waitpid gave it
  std::string dir_;
  std::string grpc_address_;
  std::string metrics_address_;
  std::string watch_address_;
};

// Runs a command line to completion; returns exit code and combined output.
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
CommandResult RunCommand(const std::vector<std::string>& argv, absl::Duration timeout = absl::Seconds(60));

// Calls `ready` until it returns true or `timeout` passes. Never sleeps longer
// than a few milliseconds between tries.
bool PollUntil(absl::Duration timeout, const std::function<bool()>& ready);

// GET http://host_port/path (libcurl); returns the body, whatever the status.
absl::StatusOr<std::string> HttpGet(const std::string& host_port, const std::string& path);

// Value of a Prometheus sample line "name{labels} value" in a /metrics body;
// -1 when absent. `series` is the exact text before the value.
double MetricValue(const std::string& body, const std::string& series);

int FreePort();

}  // namespace drover::testing
