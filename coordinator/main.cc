// drover-coordinator: flags -> CoordinatorConfig, signals, nothing else.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "common/stop_signals.h"
#include "coordinator/server.h"

ABSL_FLAG(std::string, database, "",
          "PostgreSQL URL, e.g. postgresql://drover@127.0.0.1:5432/drover (default: $DROVER_DATABASE_URL)");
ABSL_FLAG(std::string, grpc_listen, "127.0.0.1:7600", "gRPC listen address (port 0 picks a free port)");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:7601", "Prometheus /metrics listen address (port 0 picks one)");
ABSL_FLAG(std::string, ready_file, "",
          "Once serving, write \"grpc=ADDR\\nmetrics=ADDR\\n\" here (atomically), for scripts and tests");
ABSL_FLAG(int, db_pool_size, 4, "PostgreSQL connections for operator and updater reads");
ABSL_FLAG(int, ingest_writers, 1,
          "Report batches committed concurrently, one connection each (one makes the largest batches)");
ABSL_FLAG(int, max_batch, 1000, "Most reports in one group-commit transaction");
ABSL_FLAG(int, max_queue, 200000, "Reports waiting for a batch before new ones are refused as UNAVAILABLE");
ABSL_FLAG(int, max_message_bytes, 64 * 1024, "Largest accepted request; larger ones get RESOURCE_EXHAUSTED");
ABSL_FLAG(absl::Duration, fleet_refresh, absl::Seconds(5), "How often fleet gauges are refreshed");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(15), "On SIGTERM, how long in-flight RPCs may take");
ABSL_FLAG(absl::Duration, startup_timeout, absl::Seconds(60), "How long start-up waits for PostgreSQL");
ABSL_FLAG(std::string, targets_key_file, "",
          "Online targets private key (PEM, Ed25519, mode 0600) that signs each channel's target answer; "
          "empty: answers are unsigned");
ABSL_FLAG(std::string, root_public_key_file, "", "The offline root public key (PEM) the updaters pin");
ABSL_FLAG(std::string, delegation_file, "",
          "A delegation of the targets key signed by the root (droverctl keys create-targets), published at start");
ABSL_FLAG(absl::Duration, db_statement_timeout, absl::Seconds(15),
          "Longest one database statement may run; a connection on which a statement waits while PostgreSQL sends "
          "nothing for 5 s longer (a stopped server, stalled storage) is closed, and its RPCs get UNAVAILABLE");

namespace {

constexpr char kUsage[] =
    "Drover coordinator: the version server and source of truth of a fleet.\n"
    "Usage: drover-coordinator [serve] [flags]    serve the gRPC API and /metrics\n"
    "       drover-coordinator migrate [flags]    apply database migrations and exit\n"
    "       drover-coordinator version            print the version";

// Flags defined in this file, the only ones an operator sets.
bool IsOurFlagFile(absl::string_view filename) { return absl::EndsWith(filename, "coordinator/main.cc"); }

// abseil's --help lists only flags of a file named after the binary (none
// here) and exits 1; this lists ours, with defaults, for `--help`, `-h` and
// `help`, and the caller exits 0.
std::string HelpText() {
  std::vector<absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (IsOurFlagFile(flag->Filename())) flags.push_back(flag);
  }
  std::sort(flags.begin(), flags.end(),
            [](const absl::CommandLineFlag* a, const absl::CommandLineFlag* b) { return a->Name() < b->Name(); });
  std::string out = absl::StrCat(kUsage, "\n\nFlags (--name=value):\n");
  for (const absl::CommandLineFlag* f : flags) {
    const std::string def = f->DefaultValue();
    absl::StrAppend(&out, "  --", f->Name(), " (default: ", def.empty() ? "none" : def, ")\n      ", f->Help(),
                    "\n");
  }
  absl::StrAppend(&out, "\nThe database URL may also come from $DROVER_DATABASE_URL.\n");
  return out;
}

bool AsksForHelp(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const absl::string_view a = argv[i];
    if (a == "--help" || a == "-help" || a == "-h" || a == "--helpfull" || a == "--helpshort" ||
        (i == 1 && a == "help")) {
      return true;
    }
  }
  return false;
}

std::string DatabaseUrl() {
  std::string url = absl::GetFlag(FLAGS_database);
  if (url.empty()) {
    if (const char* env = std::getenv("DROVER_DATABASE_URL"); env != nullptr) url = env;
  }
  return url;
}

bool WriteReadyFile(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content;
    if (!out.flush()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

int Fail(const std::string& message) {
  drover::LogError(message);
  return 1;
}

// "" when --name=value lies in [lo, hi]; otherwise the error naming both.
template <typename T>
std::string OutOfRange(absl::string_view name, T value, T lo, T hi) {
  if (value >= lo && value <= hi) return "";
  if constexpr (std::is_same_v<T, absl::Duration>) {
    return absl::StrCat("--", name, "=", absl::FormatDuration(value), " must be between ", absl::FormatDuration(lo),
                        " and ", absl::FormatDuration(hi));
  } else {
    return absl::StrCat("--", name, "=", value, " must be between ", lo, " and ", hi);
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  absl::FlagsUsageConfig usage;
  usage.contains_helpshort_flags = IsOurFlagFile;
  usage.contains_help_flags = IsOurFlagFile;
  usage.version_string = [] { return absl::StrCat("drover-coordinator ", DROVER_VERSION, " (", DROVER_REVISION, ")\n"); };
  absl::SetFlagsUsageConfig(usage);
  if (AsksForHelp(argc, argv)) {
    std::fputs(HelpText().c_str(), stdout);
    return 0;
  }
  // Debian's abseil checks every Mutex acquisition for lock-order cycles
  // (GraphCycles), gRPC's included: measurable on the report path, and a
  // debugging aid, not a production check.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  std::string command = args.size() > 1 ? args[1] : "serve";
  if (args.size() > 2) return Fail(absl::StrCat("unexpected argument \"", args[2], "\"; see --help"));
  if (command == "version") {
    std::printf("drover-coordinator %s (%s)\n", DROVER_VERSION, DROVER_REVISION);
    return 0;
  }
  if (command != "serve" && command != "migrate") {
    return Fail(absl::StrCat("unknown command \"", command, "\": use serve, migrate or version"));
  }
  const std::string url = DatabaseUrl();
  if (url.empty()) return Fail("no database: pass --database=URL or set DROVER_DATABASE_URL");
  if (std::getenv("PGCONNECT_TIMEOUT") == nullptr) setenv("PGCONNECT_TIMEOUT", "5", 0);

  // Every tunable is checked, none silently clamped: a value out of range
  // is an operator's mistake worth a refusal that names it.
  const int max_batch = absl::GetFlag(FLAGS_max_batch), max_queue = absl::GetFlag(FLAGS_max_queue),
            max_message = absl::GetFlag(FLAGS_max_message_bytes);
  drover::CoordinatorConfig config;
  config.database_url = url;
  config.grpc_listen = absl::GetFlag(FLAGS_grpc_listen);
  config.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  config.pool_size = absl::GetFlag(FLAGS_db_pool_size);
  config.ingest_writers = absl::GetFlag(FLAGS_ingest_writers);
  config.fleet_refresh_interval = absl::GetFlag(FLAGS_fleet_refresh);
  config.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  config.startup_timeout = absl::GetFlag(FLAGS_startup_timeout);
  config.statement_timeout = absl::GetFlag(FLAGS_db_statement_timeout);
  config.targets_key_file = absl::GetFlag(FLAGS_targets_key_file);
  config.root_public_key_file = absl::GetFlag(FLAGS_root_public_key_file);
  config.delegation_file = absl::GetFlag(FLAGS_delegation_file);
  for (const std::string& bad : {
           OutOfRange("db_pool_size", config.pool_size, 1, 100),
           OutOfRange("ingest_writers", config.ingest_writers, 1, 32),
           OutOfRange("max_batch", max_batch, 1, 100000),
           OutOfRange("max_queue", max_queue, 1, 100000000),
           OutOfRange("max_message_bytes", max_message, 1024, 64 << 20),
           OutOfRange("fleet_refresh", config.fleet_refresh_interval, absl::Milliseconds(100), absl::Hours(1)),
           OutOfRange("shutdown_grace", config.shutdown_grace, absl::ZeroDuration(), absl::Hours(1)),
           OutOfRange("startup_timeout", config.startup_timeout, absl::ZeroDuration(), absl::Hours(24)),
           OutOfRange("db_statement_timeout", config.statement_timeout, absl::Milliseconds(100), absl::Hours(24)),
       }) {
    if (!bad.empty()) return Fail(bad);
  }
  if (command == "migrate") {
    absl::StatusOr<std::string> r = drover::RunMigrations(url, config.startup_timeout);
    if (!r.ok()) return Fail(absl::StrCat("migrate: ", r.status().message()));
    drover::LogInfo(absl::StrCat("migrate: ", *r));
    return 0;
  }

  // Signals are taken by sigwait below, never by a handler in a random thread.
  const sigset_t signals = drover::BlockStopSignals();

  config.max_batch = static_cast<size_t>(max_batch);
  config.max_queue = static_cast<size_t>(max_queue);
  config.max_message_bytes = static_cast<size_t>(max_message);

  absl::StatusOr<std::unique_ptr<drover::CoordinatorServer>> server = drover::CoordinatorServer::Start(config);
  if (!server.ok()) return Fail(absl::StrCat("start-up failed: ", server.status().message()));
  const std::string grpc = (*server)->grpc_address(), metrics = (*server)->metrics_address();
  drover::LogInfo(absl::StrCat("serving gRPC on ", grpc, ", metrics on http://", metrics, "/metrics"));
  if (const std::string ready = absl::GetFlag(FLAGS_ready_file); !ready.empty()) {
    if (!WriteReadyFile(ready, absl::StrCat("grpc=", grpc, "\nmetrics=", metrics, "\n"))) {
      return Fail(absl::StrCat("cannot write --ready_file \"", ready, "\""));
    }
  }

  int sig = 0;
  sigwait(&signals, &sig);
  drover::LogInfo(absl::StrCat("received ", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                               ": draining in-flight reports, then exiting"));
  (*server)->Shutdown();
  drover::LogInfo("stopped cleanly");
  // Everything is committed; skip static destructors, which would race the
  // metrics endpoint's teardown (see CoordinatorServer::Shutdown).
  std::fflush(nullptr);
  std::_Exit(0);
}
