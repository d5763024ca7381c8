// Wiring of the coordinator: store, batcher, services, metrics endpoint.
// main.cc turns flags into a CoordinatorConfig; tests start it in-process.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/rate_limiter.h"

namespace drover {

struct CoordinatorConfig {
  std::string database_url;
  // A read replica for reads that may lag (store::PgStoreOptions::read_url);
  // empty: the primary.
  std::string database_read_url;
  std::string grpc_listen = "127.0.0.1:7600";
  std::string metrics_listen = "127.0.0.1:7601";
  int pool_size = 4;
  int ingest_writers = 1;
  size_t max_batch = 1000;
  size_t max_queue = 200000;
  // Heartbeats (ingest/liveness.h): how often their liveness is flushed to
  // PostgreSQL, the most it may lag after a crash; zero turns heartbeats
  // off (every report is committed before its answer). Hosts remembered.
  absl::Duration liveness_flush = absl::Seconds(5);
  size_t liveness_max_hosts = 5'000'000;
  size_t max_message_bytes = 64 * 1024;
  absl::Duration channel_cache_ttl = absl::Seconds(1);
  absl::Duration fleet_refresh_interval = absl::Seconds(5);
  // The rollout engine's tick (engine::RolloutEngineOptions::tick).
  absl::Duration rollout_tick = absl::Seconds(1);
  absl::Duration shutdown_grace = absl::Seconds(15);
  // How long start-up waits for PostgreSQL before giving up.
  absl::Duration startup_timeout = absl::Seconds(60);
  // Longest one database statement may run (PostgreSQL's statement_timeout);
  // a connection on which a statement waits while the server sends nothing
  // for 5 s longer is closed (QueryWatchdog).
  absl::Duration statement_timeout = absl::Seconds(15);
  // Abuse limits (docs/security.md). Reports waiting, in bytes; 0: none.
  size_t max_queue_bytes = 256 << 20;
  // ReportStatus per host id, GetTarget per peer address; unlimited by
  // default here (tests), set by main.cc's flags.
  RateLimit report_rate_per_host;
  RateLimit get_target_rate_per_peer;
  // Sync polls per second this replica should receive: Sync answers stretch
  // the interval to keep the served fleet at or below it (rollout/pacing.h).
  // 0 here (tests): only overload stretches; main.cc's flag sets it.
  double sync_target_rate = 0;
  // Audit rows of refused calls, per peer address (api::RefusalAuditGate).
  RateLimit refused_audit_rate_per_peer{1, 100};
  // CreateChannel refuses beyond this many channels; 0: no cap.
  size_t max_channels = 0;
  // Distinct version label values exported; the rest is "other". 0: no cap.
  size_t max_version_labels = 0;

  // Retention (rollout/retention.h): update history and audit trail kept
  // this long (zero: for ever), and agents not seen this long forgotten
  // (zero: never). Run by the leader replica every maintenance_interval.
  absl::Duration event_retention = absl::Hours(24 * 90);
  absl::Duration audit_retention = absl::Hours(24 * 400);
  absl::Duration forget_agents_after = absl::Hours(24 * 30);
  absl::Duration maintenance_interval = absl::Hours(1);

  // The watch endpoint (coordinator/watch/watch_server.h): an HTTP long
  // poll that tells updaters at once when their answer changed. Empty: off.
  std::string watch_listen;
  absl::Duration watch_hold = absl::Seconds(55);
  size_t watch_max_connections = 100000;

  // Teleport's version-server protocol (coordinator/watch/version_server.h)
  // on a listener of its own; empty: off. HTTPS with tls_cert_file and
  // tls_key_file unless version_server_plaintext (behind a proxy that
  // terminates TLS); plain HTTP when there are no TLS files (insecure).
  std::string version_server_listen;
  // A plaintext gRPC port serving grpc.health.v1 only (the kubelet's grpc:
  // probe speaks no TLS); empty: off.
  std::string health_listen;
  bool version_server_plaintext = false;

  // Transport and host identities. Without TLS files the coordinator
  // refuses to start unless `insecure` says plaintext is meant. Insecure
  // also lets operator calls without a token act as admin (actor
  // "anonymous"); a token, when sent, is still checked.
  bool insecure = false;
  std::string tls_cert_file;      // the coordinator's server certificate (chain), PEM
  std::string tls_key_file;       // its key; refused when others may read it
  std::string host_ca_cert_file;  // the CA that issues host certificates (ca init)
  std::string host_ca_key_file;
  std::string fleet = "drover";   // spiffe://<fleet>/host/<host_id>
  absl::Duration host_cert_validity = absl::Hours(24 * 30);

  // Signed target metadata (docs: README "Signed target metadata"). With
  // targets_key_file empty, answers are unsigned and updaters that pin a
  // root refuse them.
  std::string targets_key_file;      // online targets private key (PEM, mode 0600)
  std::string root_public_key_file;  // the pinned root public key (PEM)
  std::string delegation_file;       // optional: a SignedEnvelope published at start-up
};

// OK when the config serves either TLS with every file it needs, or
// plaintext because `insecure` says so; otherwise what to pass.
absl::Status CheckTransportConfig(const CoordinatorConfig& config);

class CoordinatorServer {
 public:
  // Applies migrations, then serves. Fails with a message naming what could
  // not be done (database unreachable, port taken, ...).
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(const CoordinatorConfig& config);
  virtual ~CoordinatorServer() = default;

  virtual std::string grpc_address() const = 0;
  virtual std::string metrics_address() const = 0;
  // host:port of the watch endpoint; empty when it is off.
  virtual std::string watch_address() const { return ""; }
  // host:port of the plaintext health port; empty when it is off.
  virtual std::string health_address() const { return ""; }
  // The version server's base URL ("https://host:port/v1/"); empty when off.
  virtual std::string version_server_url() const { return ""; }
  // Stops accepting, answers in-flight RPCs, commits queued reports. Idempotent.
  virtual void Shutdown() = 0;
};

// `drover-coordinator operators create`: issues an operator token straight in
// the database (the first admin has no token to call the API with), audited
// as actor "bootstrap". Applies migrations first. Returns the token.
absl::StatusOr<std::string> CreateOperatorDirectly(const std::string& database_url, absl::Duration timeout,
                                                   const std::string& name, const std::string& role,
                                                   absl::Duration ttl);

// Applies migrations and returns "from -> to" for the log.
absl::StatusOr<std::string> RunMigrations(const std::string& database_url, absl::Duration timeout);

}  // namespace drover
