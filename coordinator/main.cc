// drover-coordinator: flags -> CoordinatorConfig, signals, nothing else.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <sys/stat.h>

#include <csignal>
#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
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
#include "absl/strings/ascii.h"
#include "absl/flags/marshalling.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "common/stop_signals.h"
#include "coordinator/ca_command.h"
#include "coordinator/rollout/retention.h"
#include "coordinator/server.h"
#include "coordinator/store/database_url.h"

ABSL_FLAG(std::string, database, "",
          "PostgreSQL URL, e.g. postgresql://drover@127.0.0.1:5432/drover (default: $DROVER_DATABASE_URL). Refused "
          "when it holds a password (visible in ps): use --database_url_file, $DROVER_DATABASE_URL or ~/.pgpass");
ABSL_FLAG(std::string, database_url_file, "",
          "File holding the PostgreSQL URL (first line), e.g. with its password; should be readable by the "
          "coordinator's user only");
ABSL_FLAG(std::string, database_read_url, "",
          "PostgreSQL URL of a read replica (a streaming standby) for reads that may lag by its replay delay: "
          "agent lists and details, update history, the audit trail (rollout status stays on the primary). "
          "Refused when it holds a password, as --database (use --database_read_url_file). Empty: everything "
          "reads the primary");
ABSL_FLAG(std::string, database_read_url_file, "", "File holding the read replica's URL (first line)");
ABSL_FLAG(bool, allow_unverified_database, false,
          "Connect to a non-local database without sslmode=verify-full (logs a warning at every start)");
ABSL_FLAG(int64_t, max_queue_bytes, int64_t{256} << 20,
          "Bytes of reports waiting for a batch before new ones are refused as UNAVAILABLE (0: no byte bound)");
ABSL_FLAG(double, report_rate_per_host, 2,
          "ReportStatus calls per second allowed per host id (0: unlimited); more get RESOURCE_EXHAUSTED");
ABSL_FLAG(double, report_burst_per_host, 60, "ReportStatus calls a host may send at once");
ABSL_FLAG(double, get_target_rate_per_peer, 100,
          "GetTarget calls per second allowed per peer address (0: unlimited); more get RESOURCE_EXHAUSTED");
ABSL_FLAG(double, get_target_burst_per_peer, 1000, "GetTarget calls a peer address may send at once");
ABSL_FLAG(double, sync_target_rate, 400,
          "Sync polls per second this replica should receive (0: no limit from the fleet's size): Sync answers "
          "tell updaters to come back after max(channel poll interval, served hosts / this), longer while the "
          "report queue fills. 400 is below the 465-676 passes/s a 2-core replica managed with one new mTLS "
          "connection per poll (docs/performance.md); raise it with the replica's measured capacity");
ABSL_FLAG(double, refused_audit_rate_per_peer, 1,
          "Audit rows of refused calls a peer address may cause per second on average (0: no limit); past it, "
          "refusals are counted in drover_audit_refusals_dropped_total instead");
ABSL_FLAG(double, refused_audit_burst_per_peer, 100, "Audit rows of refused calls a peer address may cause at once");
ABSL_FLAG(int, max_channels, 1000, "CreateChannel is refused beyond this many channels (0: no cap)");
ABSL_FLAG(int, max_version_labels, 200,
          "Distinct agent versions exported as metric labels; the rest is version=\"other\" (0: no cap)");
ABSL_FLAG(std::string, grpc_listen, "127.0.0.1:7600", "gRPC listen address (port 0 picks a free port)");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:7601", "Prometheus /metrics listen address (port 0 picks one)");
ABSL_FLAG(std::string, watch_listen, "",
          "Watch endpoint (HTTP long poll telling updaters their answer changed) listen address, e.g. "
          "127.0.0.1:7602 (port 0 picks one); empty: off");
ABSL_FLAG(absl::Duration, watch_hold, absl::Seconds(55),
          "How long the watch endpoint holds a poll with no change before answering 204 (+-10% jitter); at most 5m");
ABSL_FLAG(int64_t, watch_max_connections, 100000,
          "Watch polls held at once; beyond it a poll gets 503 with Retry-After (the updater polls instead)");
ABSL_FLAG(std::string, version_server_listen, "",
          "Teleport-compatible version server (GET /v1/<channel>/version and /critical) listen address, e.g. "
          "0.0.0.0:7603 (port 0 picks one); HTTPS with --tls_cert_file/--tls_key_file; empty: off");
ABSL_FLAG(bool, version_server_plaintext, false,
          "Serve the version server over plain HTTP even with TLS files (behind a proxy that terminates TLS)");
ABSL_FLAG(std::string, health_listen, "",
          "Plaintext gRPC port serving grpc.health.v1 only, for probes that speak no TLS (the kubelet's grpc: "
          "probe), e.g. 0.0.0.0:7604 (port 0 picks one); empty: off");
ABSL_FLAG(std::string, ready_file, "",
          "Once serving, write \"grpc=ADDR\\nmetrics=ADDR\\n\" (and \"watch=ADDR\\n\" with --watch_listen, "
          "\"version=URL\\n\" with --version_server_listen, \"health=ADDR\\n\" with --health_listen) here (atomically), for scripts and tests");
ABSL_FLAG(int, db_pool_size, 4, "PostgreSQL connections for operator and updater reads");
ABSL_FLAG(int, ingest_writers, 1,
          "Report batches committed concurrently, one connection each (one makes the largest batches)");
ABSL_FLAG(int, max_batch, 1000, "Most reports in one group-commit transaction");
ABSL_FLAG(int, max_queue, 200000, "Reports waiting for a batch before new ones are refused as UNAVAILABLE");
ABSL_FLAG(absl::Duration, liveness_flush, absl::Seconds(5),
          "How often heartbeats (reports that change nothing durable, answered from memory) are written to "
          "PostgreSQL in bulk: the most liveness lags after a crash. At most 10s (the staleness step); 0 turns "
          "heartbeats off (every report is committed before its answer)");
ABSL_FLAG(int64_t, liveness_max_hosts, 5000000,
          "Hosts whose last report this replica remembers for heartbeats (about 100 bytes each); reports of "
          "others are committed");
ABSL_FLAG(absl::Duration, event_retention, drover::rollout::kDefaultEventRetention,
          "How long update history (update_events) is kept: whole days past it are dropped by the leader "
          "replica. 0 keeps it for ever; otherwise at least 48h");
ABSL_FLAG(absl::Duration, audit_retention, drover::rollout::kDefaultAuditRetention,
          "How long the audit trail (audit_events) is kept: whole months past it are dropped by the leader "
          "replica. 0 keeps it for ever; otherwise at least 1344h (8 weeks)");
ABSL_FLAG(absl::Duration, forget_agents_after, drover::rollout::kDefaultForgetAgentsAfter,
          "Agents not seen for this long are forgotten (as `droverctl agents forget`, audited); their next "
          "report enrols them again. 0: never; otherwise at least 24h");
ABSL_FLAG(absl::Duration, maintenance_interval, absl::Hours(1),
          "How often the leader replica runs retention (partitions ahead and past, agents to forget); at most "
          "6h (the DroverRetentionNotRunning alert fires after 7h without a complete pass)");
ABSL_FLAG(int, max_message_bytes, 64 * 1024, "Largest accepted request; larger ones get RESOURCE_EXHAUSTED");
ABSL_FLAG(absl::Duration, fleet_refresh, absl::Seconds(5), "How often fleet gauges are refreshed");
ABSL_FLAG(absl::Duration, rollout_tick, absl::Seconds(1),
          "How often the leading replica advances staged rollouts (and the others ask for leadership)");
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
ABSL_FLAG(bool, insecure, false,
          "Serve gRPC in plaintext, believing the host id of each report, and let operator API calls without a token "
          "act as admin (logged as \"anonymous\"); a WARNING is logged at every start. Without it the TLS flags are "
          "required");
ABSL_FLAG(std::string, tls_cert_file, "", "PEM file: the coordinator's TLS server certificate (chain)");
ABSL_FLAG(std::string, tls_key_file, "", "PEM file: its private key (refused when others may read it)");
ABSL_FLAG(std::string, host_ca_cert_file, "",
          "PEM file: the CA that issues host certificates and verifies updaters' client certificates");
ABSL_FLAG(std::string, host_ca_key_file, "", "PEM file: that CA's private key (refused when others may read it)");
ABSL_FLAG(std::string, fleet, "drover",
          "Fleet name (SPIFFE trust domain): host certificates name spiffe://<fleet>/host/<host_id>");
ABSL_FLAG(absl::Duration, host_cert_validity, absl::Hours(24 * 30),
          "Validity of host certificates issued at enrolment and renewal (1h-365d)");
ABSL_FLAG(std::string, ca_dir, "", "ca init: directory for ca.pem, ca.key, server.pem, server.key");
ABSL_FLAG(std::vector<std::string>, san, {},
          "ca init: more names (DNS or IP) for the server certificate, comma-separated; localhost, 127.0.0.1 and ::1 "
          "are always in it");
ABSL_FLAG(std::string, name, "", "operators create: the operator's name");
ABSL_FLAG(std::string, role, "admin", "operators create: viewer, operator or admin");
ABSL_FLAG(std::string, token_file, "",
          "operators create: file the new token is written to (mode 0600; must not exist)");
ABSL_FLAG(absl::Duration, ttl, absl::ZeroDuration(), "operators create: token lifetime (0: never expires)");

namespace {

constexpr char kUsage[] =
    "Drover coordinator: the version server and source of truth of a fleet.\n"
    "Usage: drover-coordinator [serve] [flags]    serve the gRPC API and /metrics\n"
    "       drover-coordinator migrate [flags]    apply database migrations and exit\n"
    "       drover-coordinator operators create --name=N --role=admin --token_file=F\n"
    "                                             issue an operator token (the first admin)\n"
    "       drover-coordinator ca init --ca_dir=DIR --fleet=NAME [--san=NAMES]\n"
    "                                             create the fleet's CA and the server certificate\n"
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
  absl::StrAppend(&out, "\nThe database URL may also come from $DROVER_DATABASE_URL (or --database_url_file).\n");
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

// A database URL from --FLAG, --FLAG_url_file or $ENV (exactly one; `env`
// may be null), with the checks of store/database_url.h: no password in
// argv, verified TLS to a remote host. Empty when none is given and
// `required` is false.
absl::StatusOr<std::string> DatabaseUrlFrom(const char* flag_name, const std::string& flag, const char* file_flag,
                                            const std::string& file, const char* env_name, bool required) {
  const char* env = env_name != nullptr ? std::getenv(env_name) : nullptr;
  if (!flag.empty() && !file.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("pass either --", flag_name, " or --", file_flag, ", not both"));
  }
  std::string url = flag;
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in || !std::getline(in, url)) {
      return absl::InvalidArgumentError(absl::StrCat("--", file_flag, "=", file, ": cannot read a line from it"));
    }
    url = std::string(absl::StripAsciiWhitespace(url));
    if (url.empty()) return absl::InvalidArgumentError(absl::StrCat("--", file_flag, "=", file, " is empty"));
    struct stat st;
    if (stat(file.c_str(), &st) == 0 && (st.st_mode & 0077) != 0) {
      drover::LogWarning(absl::StrCat("--", file_flag, "=", file, " is readable by other users (mode ",
                                      absl::StrFormat("%04o", st.st_mode & 07777), "): chmod 600 it"));
    }
  } else if (url.empty() && env != nullptr) {
    url = env;
  }
  if (url.empty()) {
    if (!required) return url;
    return absl::InvalidArgumentError(
        "no database: pass --database=URL, --database_url_file=FILE or set DROVER_DATABASE_URL");
  }
  absl::StatusOr<drover::store::DatabaseUrlInfo> info =
      drover::store::InspectDatabaseUrl(url, std::getenv("PGHOST"), std::getenv("PGSSLMODE"));
  if (!info.ok()) return info.status();
  if (!flag.empty() && info->has_password) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag_name, " holds a password, which every user of this machine can read in the process list: put "
        "the URL in a file only the coordinator's user can read and pass --", file_flag, "=FILE",
        env_name != nullptr ? absl::StrCat(", or set ", env_name) : "", ", or keep the password in ~/.pgpass "
        "(PGPASSFILE)"));
  }
  if (absl::Status s = drover::store::CheckDatabaseTransport(*info); !s.ok()) {
    if (!absl::GetFlag(FLAGS_allow_unverified_database)) return s;
    drover::LogWarning(absl::StrCat("--allow_unverified_database: ", s.message()));
  }
  return url;
}

// The primary's URL: --database, --database_url_file or $DROVER_DATABASE_URL.
absl::StatusOr<std::string> DatabaseUrl() {
  return DatabaseUrlFrom("database", absl::GetFlag(FLAGS_database), "database_url_file",
                         absl::GetFlag(FLAGS_database_url_file), "DROVER_DATABASE_URL", true);
}

// The read replica's URL, or empty.
absl::StatusOr<std::string> DatabaseReadUrl() {
  return DatabaseUrlFrom("database_read_url", absl::GetFlag(FLAGS_database_read_url), "database_read_url_file",
                         absl::GetFlag(FLAGS_database_read_url_file), nullptr, false);
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
  if (command == "operators" && args.size() > 2 && std::string(args[2]) == "create") {
    command = "operators create";
    args.erase(args.begin() + 2);
  }
  if (command == "ca") {
    if (args.size() != 3 || std::string(args[2]) != "init") return Fail("usage: drover-coordinator ca init --ca_dir=DIR --fleet=NAME");
    drover::CaInitOptions ca;
    ca.dir = absl::GetFlag(FLAGS_ca_dir);
    ca.fleet = absl::GetFlag(FLAGS_fleet);
    ca.server_names = absl::GetFlag(FLAGS_san);
    absl::StatusOr<std::string> done = drover::InitCa(ca, absl::Now());
    if (!done.ok()) return Fail(absl::StrCat("ca init: ", done.status().message()));
    std::printf("%s\n", done->c_str());
    return 0;
  }
  if (args.size() > 2) return Fail(absl::StrCat("unexpected argument \"", args[2], "\"; see --help"));
  if (command == "version") {
    std::printf("drover-coordinator %s (%s)\n", DROVER_VERSION, DROVER_REVISION);
    return 0;
  }
  if (command != "serve" && command != "migrate" && command != "operators create") {
    return Fail(absl::StrCat("unknown command \"", command, "\": use serve, migrate, operators create, ca init or version"));
  }
  absl::StatusOr<std::string> database_url = DatabaseUrl();
  if (!database_url.ok()) return Fail(std::string(database_url.status().message()));
  const std::string url = *std::move(database_url);
  if (std::getenv("PGCONNECT_TIMEOUT") == nullptr) setenv("PGCONNECT_TIMEOUT", "5", 0);

  // Every tunable is checked, none silently clamped: a value out of range
  // is an operator's mistake worth a refusal that names it.
  const int max_batch = absl::GetFlag(FLAGS_max_batch), max_queue = absl::GetFlag(FLAGS_max_queue),
            max_message = absl::GetFlag(FLAGS_max_message_bytes);
  drover::CoordinatorConfig config;
  config.database_url = url;
  absl::StatusOr<std::string> read_url = DatabaseReadUrl();
  if (!read_url.ok()) return Fail(std::string(read_url.status().message()));
  config.database_read_url = *std::move(read_url);
  config.grpc_listen = absl::GetFlag(FLAGS_grpc_listen);
  config.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  config.pool_size = absl::GetFlag(FLAGS_db_pool_size);
  config.ingest_writers = absl::GetFlag(FLAGS_ingest_writers);
  config.fleet_refresh_interval = absl::GetFlag(FLAGS_fleet_refresh);
  config.rollout_tick = absl::GetFlag(FLAGS_rollout_tick);
  config.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  config.startup_timeout = absl::GetFlag(FLAGS_startup_timeout);
  config.statement_timeout = absl::GetFlag(FLAGS_db_statement_timeout);
  config.insecure = absl::GetFlag(FLAGS_insecure);
  config.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  config.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  config.host_ca_cert_file = absl::GetFlag(FLAGS_host_ca_cert_file);
  config.host_ca_key_file = absl::GetFlag(FLAGS_host_ca_key_file);
  config.fleet = absl::GetFlag(FLAGS_fleet);
  config.host_cert_validity = absl::GetFlag(FLAGS_host_cert_validity);
  config.targets_key_file = absl::GetFlag(FLAGS_targets_key_file);
  config.root_public_key_file = absl::GetFlag(FLAGS_root_public_key_file);
  config.delegation_file = absl::GetFlag(FLAGS_delegation_file);
  for (const std::string& bad : {
           OutOfRange("db_pool_size", config.pool_size, 1, 100),
           OutOfRange("ingest_writers", config.ingest_writers, 1, 32),
           OutOfRange("max_batch", max_batch, 1, 100000),
           OutOfRange("max_queue", max_queue, 1, 100000000),
           OutOfRange("liveness_flush", absl::GetFlag(FLAGS_liveness_flush), absl::ZeroDuration(), absl::Seconds(10)),
           OutOfRange<int64_t>("liveness_max_hosts", absl::GetFlag(FLAGS_liveness_max_hosts), 0, 1000000000),
           OutOfRange("max_message_bytes", max_message, 1024, 64 << 20),
           OutOfRange("fleet_refresh", config.fleet_refresh_interval, absl::Milliseconds(100), absl::Hours(1)),
           OutOfRange("maintenance_interval", absl::GetFlag(FLAGS_maintenance_interval), absl::Seconds(1),
                      absl::Hours(6)),
           OutOfRange("rollout_tick", config.rollout_tick, absl::Milliseconds(50), absl::Minutes(10)),
           OutOfRange("shutdown_grace", config.shutdown_grace, absl::ZeroDuration(), absl::Hours(1)),
           OutOfRange("startup_timeout", config.startup_timeout, absl::ZeroDuration(), absl::Hours(24)),
           OutOfRange("db_statement_timeout", config.statement_timeout, absl::Milliseconds(100), absl::Hours(24)),
           OutOfRange("host_cert_validity", config.host_cert_validity, absl::Hours(1), absl::Hours(24 * 365)),
           OutOfRange<int64_t>("max_queue_bytes", absl::GetFlag(FLAGS_max_queue_bytes), 0, int64_t{1} << 40),
           OutOfRange("report_rate_per_host", absl::GetFlag(FLAGS_report_rate_per_host), 0.0, 1e6),
           OutOfRange("report_burst_per_host", absl::GetFlag(FLAGS_report_burst_per_host), 1.0, 1e6),
           OutOfRange("get_target_rate_per_peer", absl::GetFlag(FLAGS_get_target_rate_per_peer), 0.0, 1e7),
           OutOfRange("get_target_burst_per_peer", absl::GetFlag(FLAGS_get_target_burst_per_peer), 1.0, 1e7),
           OutOfRange("sync_target_rate", absl::GetFlag(FLAGS_sync_target_rate), 0.0, 1e7),
           OutOfRange("refused_audit_rate_per_peer", absl::GetFlag(FLAGS_refused_audit_rate_per_peer), 0.0, 1e6),
           OutOfRange("refused_audit_burst_per_peer", absl::GetFlag(FLAGS_refused_audit_burst_per_peer), 1.0, 1e6),
           OutOfRange("max_channels", absl::GetFlag(FLAGS_max_channels), 0, 1000000),
           OutOfRange("max_version_labels", absl::GetFlag(FLAGS_max_version_labels), 0, 100000),
       }) {
    if (!bad.empty()) return Fail(bad);
  }
  config.event_retention = absl::GetFlag(FLAGS_event_retention);
  config.audit_retention = absl::GetFlag(FLAGS_audit_retention);
  config.forget_agents_after = absl::GetFlag(FLAGS_forget_agents_after);
  config.maintenance_interval = absl::GetFlag(FLAGS_maintenance_interval);
  for (const absl::Status& s :
       {drover::rollout::ValidateRetention("event_retention", config.event_retention,
                                           drover::rollout::PartitionPeriod::kDay),
        drover::rollout::ValidateRetention("audit_retention", config.audit_retention,
                                           drover::rollout::PartitionPeriod::kMonth),
        drover::rollout::ValidateForgetAfter("forget_agents_after", config.forget_agents_after)}) {
    if (!s.ok()) return Fail(std::string(s.message()));
  }
  if (command == "operators create") {
    const std::string path = absl::GetFlag(FLAGS_token_file);
    if (path.empty()) return Fail("operators create: --token_file=FILE is required (the token never goes to argv or stdout)");
    if (absl::GetFlag(FLAGS_ttl) < absl::ZeroDuration()) return Fail("operators create: --ttl must not be negative");
    // Made before the token exists, so a bad path costs nothing.
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      return Fail(absl::StrCat("operators create: cannot create --token_file \"", path, "\": ", std::strerror(errno),
                               errno == EEXIST ? " (it is never overwritten; remove it or pick another)" : ""));
    }
    absl::StatusOr<std::string> token =
        drover::CreateOperatorDirectly(url, config.startup_timeout, absl::GetFlag(FLAGS_name),
                                       absl::GetFlag(FLAGS_role), absl::GetFlag(FLAGS_ttl));
    if (!token.ok()) {
      close(fd);
      unlink(path.c_str());
      return Fail(absl::StrCat("operators create: ", token.status().message()));
    }
    const std::string line = *token + "\n";
    const bool written = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && fsync(fd) == 0;
    close(fd);
    if (!written) {
      unlink(path.c_str());
      return Fail(absl::StrCat("operators create: cannot write --token_file \"", path,
                               "\"; the token was issued: revoke operator \"", absl::GetFlag(FLAGS_name), "\""));
    }
    drover::LogInfo(absl::StrCat("operators create: token of ", absl::GetFlag(FLAGS_role), " \"",
                                 absl::GetFlag(FLAGS_name), "\" written to ", path));
    return 0;
  }
  if (command == "serve") {
    // Before the database is touched: a missing TLS flag is the operator's
    // to fix, not something to wait out.
    if (absl::Status s = drover::CheckTransportConfig(config); !s.ok()) return Fail(std::string(s.message()));
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
  config.liveness_flush = absl::GetFlag(FLAGS_liveness_flush);
  config.liveness_max_hosts = static_cast<size_t>(absl::GetFlag(FLAGS_liveness_max_hosts));
  config.max_message_bytes = static_cast<size_t>(max_message);
  config.max_queue_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_max_queue_bytes));
  config.report_rate_per_host = {absl::GetFlag(FLAGS_report_rate_per_host), absl::GetFlag(FLAGS_report_burst_per_host)};
  config.get_target_rate_per_peer = {absl::GetFlag(FLAGS_get_target_rate_per_peer),
                                     absl::GetFlag(FLAGS_get_target_burst_per_peer)};
  config.sync_target_rate = absl::GetFlag(FLAGS_sync_target_rate);
  config.refused_audit_rate_per_peer = {absl::GetFlag(FLAGS_refused_audit_rate_per_peer),
                                        absl::GetFlag(FLAGS_refused_audit_burst_per_peer)};
  config.max_channels = static_cast<size_t>(absl::GetFlag(FLAGS_max_channels));
  config.max_version_labels = static_cast<size_t>(absl::GetFlag(FLAGS_max_version_labels));
  config.watch_listen = absl::GetFlag(FLAGS_watch_listen);
  config.watch_hold = absl::GetFlag(FLAGS_watch_hold);
  if (absl::GetFlag(FLAGS_watch_max_connections) < 1) return Fail("--watch_max_connections must be at least 1");
  config.watch_max_connections = static_cast<size_t>(absl::GetFlag(FLAGS_watch_max_connections));
  config.version_server_listen = absl::GetFlag(FLAGS_version_server_listen);
  config.version_server_plaintext = absl::GetFlag(FLAGS_version_server_plaintext);
  config.health_listen = absl::GetFlag(FLAGS_health_listen);

  absl::StatusOr<std::unique_ptr<drover::CoordinatorServer>> server = drover::CoordinatorServer::Start(config);
  if (!server.ok()) return Fail(absl::StrCat("start-up failed: ", server.status().message()));
  const std::string grpc = (*server)->grpc_address(), metrics = (*server)->metrics_address();
  drover::LogInfo(absl::StrCat("serving gRPC on ", grpc, ", metrics on http://", metrics, "/metrics"));
  if (!(*server)->watch_address().empty()) {
    drover::LogInfo(absl::StrCat("serving the watch endpoint on http://", (*server)->watch_address(), "/v1/watch"));
  }
  const std::string version_url = (*server)->version_server_url();
  if (!version_url.empty()) {
    drover::LogInfo(absl::StrCat("serving the version server (Teleport protocol) on ", version_url,
                                 "<channel>/version"));
  }
  if (const std::string ready = absl::GetFlag(FLAGS_ready_file); !ready.empty()) {
    const std::string watch = (*server)->watch_address();
    if (!WriteReadyFile(ready, absl::StrCat("grpc=", grpc, "\nmetrics=", metrics, "\n",
                                            watch.empty() ? "" : absl::StrCat("watch=", watch, "\n"),
                                            version_url.empty() ? "" : absl::StrCat("version=", version_url, "\n"),
                                            (*server)->health_address().empty()
                                                ? ""
                                                : absl::StrCat("health=", (*server)->health_address(), "\n")))) {
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
