// Wiring of the coordinator: store, batcher, services, metrics endpoint.
// main.cc turns flags into a CoordinatorConfig; tests start it in-process.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace drover {

struct CoordinatorConfig {
  std::string database_url;
  std::string grpc_listen = "127.0.0.1:7600";
  std::string metrics_listen = "127.0.0.1:7601";
  int pool_size = 4;
  int ingest_writers = 1;
  size_t max_batch = 1000;
  size_t max_queue = 200000;
  size_t max_message_bytes = 64 * 1024;
  absl::Duration channel_cache_ttl = absl::Seconds(1);
  absl::Duration fleet_refresh_interval = absl::Seconds(5);
  absl::Duration shutdown_grace = absl::Seconds(15);
  // How long start-up waits for PostgreSQL before giving up.
  absl::Duration startup_timeout = absl::Seconds(60);
  // Longest one database statement may run (PostgreSQL's statement_timeout);
  // a connection on which a statement waits while the server sends nothing
  // for 5 s longer is closed (QueryWatchdog).
  absl::Duration statement_timeout = absl::Seconds(15);
  // Signed target metadata (docs: README "Signed target metadata"). With
  // targets_key_file empty, answers are unsigned and updaters that pin a
  // root refuse them.
  std::string targets_key_file;      // online targets private key (PEM, mode 0600)
  std::string root_public_key_file;  // the pinned root public key (PEM)
  std::string delegation_file;       // optional: a SignedEnvelope published at start-up
};

class CoordinatorServer {
 public:
  // Applies migrations, then serves. Fails with a message naming what could
  // not be done (database unreachable, port taken, ...).
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(const CoordinatorConfig& config);
  virtual ~CoordinatorServer() = default;

  virtual std::string grpc_address() const = 0;
  virtual std::string metrics_address() const = 0;
  // Stops accepting, answers in-flight RPCs, commits queued reports. Idempotent.
  virtual void Shutdown() = 0;
};

// Applies migrations and returns "from -> to" for the log.
absl::StatusOr<std::string> RunMigrations(const std::string& database_url, absl::Duration timeout);

}  // namespace drover
