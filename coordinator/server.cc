#include "coordinator/server.h"

#include <condition_variable>
#include <optional>
#include <thread>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/atomic_file.h"
#include "common/clock.h"
#include "common/log.h"
#include "coordinator/api/authz.h"
#include "coordinator/api/enrollment_service.h"
#include "coordinator/api/host_identity.h"
#include "coordinator/api/operator_service.h"
#include "coordinator/api/operator_token.h"
#include "coordinator/api/updater_service.h"
#include "coordinator/ingest/report_batcher.h"
#include "coordinator/metrics/fleet_metrics.h"
#include "coordinator/api/target_signer.h"
#include "coordinator/api/trust_service.h"
#include "coordinator/store/channel_cache.h"
#include "coordinator/engine/rollout_engine.h"
#include "coordinator/metrics/rollout_metrics.h"
#include "coordinator/store/pg_change_listener.h"
#include "coordinator/store/pg_leader_lock.h"
#include "coordinator/watch/cached_answer_tags.h"
#include "coordinator/watch/version_server.h"
#include "coordinator/watch/watch_server.h"
#include "coordinator/store/rollout_cache.h"
#include "coordinator/store/migrator.h"
#include "proto/wire/proto_utf8.h"
#include "coordinator/store/pg_store.h"
#include "coordinator/store/pg_errors.h"
#include "coordinator/store/pg_pool.h"
#include "common/pki/pki.h"

namespace drover {

absl::StatusOr<std::string> RunMigrations(const std::string& database_url, absl::Duration timeout) {
  absl::StatusOr<std::vector<store::Migration>> migrations = store::ParseMigrations(store::EmbeddedMigrationFiles());
  if (!migrations.ok()) return migrations.status();
  const absl::Time deadline = absl::Now() + timeout;
  absl::Duration backoff = absl::Milliseconds(100);
  for (;;) {
    absl::Status status;
    try {
      pqxx::connection conn(store::WithNetworkTimeouts(database_url));
      absl::StatusOr<store::MigrateResult> r =
          store::MigrateUp(conn, *migrations, std::max(deadline - absl::Now(), absl::Milliseconds(1)));
      if (r.ok()) return absl::StrCat("schema version ", r->from_version, " -> ", r->to_version);
      status = r.status();
    } catch (const std::exception& e) {
      status = store::PgErrorToStatus(e, "connecting to PostgreSQL");
    }
    if (status.code() != absl::StatusCode::kUnavailable || absl::Now() + backoff > deadline) return status;
    LogWarning(absl::StrCat("waiting for PostgreSQL: ", status.message()));
    absl::SleepFor(backoff);  // start-up retry pacing, not a test wait
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
}

absl::StatusOr<std::string> CreateOperatorDirectly(const std::string& database_url, absl::Duration timeout,
                                                   const std::string& name, const std::string& role,
                                                   absl::Duration ttl) {
  if (!api::ParseRole(role).has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("--role=", role, " is not viewer, operator or admin"));
  }
  if (absl::Status s = api::ValidateOperatorName(name); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--", s.message()));
  }
  absl::StatusOr<std::string> migrated = RunMigrations(database_url, timeout);
  if (!migrated.ok()) return migrated.status();
  absl::StatusOr<std::string> token = api::NewOperatorToken();
  if (!token.ok()) return token.status();
  store::PgStore store({.url = database_url, .pool_size = 1, .ingest_pool_size = 1});
  store::OperatorRecord op{.name = name, .role = role, .created_by = "bootstrap"};
  if (ttl > absl::ZeroDuration()) op.expires_at = absl::Now() + ttl;
  const store::AuditRecord audit{.actor = "bootstrap",
                                 .peer = "local",
                                 .method = "drover-coordinator operators create"};
  absl::StatusOr<store::OperatorRecord> created = store.CreateOperator(op, api::OperatorTokenSha256Hex(*token), &audit);
  if (!created.ok()) return created.status();
  return token;
}

absl::Status CheckTransportConfig(const CoordinatorConfig& config) {
  const bool any_tls = !config.tls_cert_file.empty() || !config.tls_key_file.empty() ||
                       !config.host_ca_cert_file.empty() || !config.host_ca_key_file.empty();
  if (config.insecure) {
    if (any_tls) return absl::InvalidArgumentError("--insecure and --tls_* / --host_ca_* files exclude each other");
    return absl::OkStatus();
  }
  if (!any_tls) {
    return absl::FailedPreconditionError(
        "no TLS configured: pass --tls_cert_file, --tls_key_file, --host_ca_cert_file and --host_ca_key_file "
        "(`drover-coordinator ca init --ca_dir=DIR --fleet=NAME` makes them), or --insecure to serve plaintext "
        "(anyone who reaches the port can then steer the fleet)");
  }
  for (const auto& [flag, value] : std::vector<std::pair<const char*, std::string>>{
           {"tls_cert_file", config.tls_cert_file},
           {"tls_key_file", config.tls_key_file},
           {"host_ca_cert_file", config.host_ca_cert_file},
           {"host_ca_key_file", config.host_ca_key_file}}) {
    if (value.empty()) return absl::InvalidArgumentError(absl::StrCat("TLS needs --", flag, " as well"));
  }
  return pki::ValidateFleetName(config.fleet);
}

namespace {

class CoordinatorServerImpl final : public CoordinatorServer {
 public:
  explicit CoordinatorServerImpl(const CoordinatorConfig& config)
      : config_(config),
        metrics_(DROVER_VERSION, DROVER_REVISION),
        store_({.url = config.database_url,
                .read_url = config.database_read_url,
                .pool_size = config.pool_size,
                .ingest_pool_size = config.ingest_writers,
                .statement_timeout = config.statement_timeout}),
        cache_(&store_, &clock_, config.channel_cache_ttl),
        rollout_cache_(&store_, &clock_, config.channel_cache_ttl),
        leader_lock_(config.database_url, store::PgLeaderLock::kRolloutEngineKey),
        engine_(&store_, &leader_lock_, &clock_, {.tick = config.rollout_tick}),
        rollout_metrics_(*metrics_.registry()),
        liveness_(&store_, &clock_, &metrics_,
                  {.flush_interval = config.liveness_flush, .max_hosts = config.liveness_max_hosts}),
        batcher_(&store_, &metrics_,
                 {.max_batch = config.max_batch,
                  .writers = config.ingest_writers,
                  .max_queue = config.max_queue,
                  .max_queue_bytes = config.max_queue_bytes},
                 config.liveness_flush > absl::ZeroDuration() ? &liveness_ : nullptr),
        report_limiter_(config.report_rate_per_host, &clock_),
        target_limiter_(config.get_target_rate_per_peer, &clock_),
        refusal_audit_(config.refused_audit_rate_per_peer, &clock_, *metrics_.registry()),
        rpc_log_(&clock_, {}),
        // Built with --insecure too, so its refusal counters are exported
        // (as zeros) for the alert rules; it is used only with TLS.
        hosts_(std::make_unique<api::HostAuthenticator>(config.fleet, &revocations_, *metrics_.registry())),
        updater_service_(&cache_, &batcher_, &metrics_, &clock_, config.max_message_bytes, &rpc_log_,
                         config.insecure ? nullptr : hosts_.get()),
        authorizer_(&store_, &clock_, config.insecure, metrics_.registry().get()),
        operator_service_(&store_, &store_, &cache_, &metrics_, &clock_, config.max_message_bytes, &rpc_log_,
                          &authorizer_, &store_, &store_, &store_, &revocations_) {
    updater_service_.set_limits({.reports_per_host = &report_limiter_, .targets_per_peer = &target_limiter_});
    updater_service_.set_rollouts(&rollout_cache_);
    updater_service_.set_pacing({.target_rate = config.sync_target_rate, .max_queue = config.max_queue});
    operator_service_.set_rollouts(&store_);
    operator_service_.set_max_channels(config.max_channels);
    operator_service_.set_refusal_audit(&refusal_audit_);
    metrics_.set_max_version_labels(config.max_version_labels);
  }

  ~CoordinatorServerImpl() override { Shutdown(); }

  absl::Status Init() {
    if (config_.liveness_flush > absl::ZeroDuration()) liveness_.Start();
    try {
      exposer_ = std::make_unique<prometheus::Exposer>(config_.metrics_listen);
    } catch (const std::exception& e) {
      return absl::UnavailableError(
          absl::StrCat("cannot serve metrics on ", config_.metrics_listen, ": ", e.what()));
    }
    exposer_->RegisterCollectable(metrics_.registry());
    std::vector<int> ports = exposer_->GetListeningPorts();
    metrics_address_ = absl::StrCat(config_.metrics_listen.substr(0, config_.metrics_listen.rfind(':')), ":",
                                    ports.empty() ? 0 : ports[0]);

    if (absl::Status s = InitSigning(); !s.ok()) return s;
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = Credentials();
    if (!credentials.ok()) return credentials.status();

    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort(config_.grpc_listen, *credentials, &port);
    // The services refuse (and count) requests over --max_message_bytes
    // themselves; gRPC's own limit only stops the absurd ones, with its own
    // RESOURCE_EXHAUSTED.
    builder.SetMaxReceiveMessageSize(static_cast<int>(2 * config_.max_message_bytes + 4096));
    // gRPC sets SO_REUSEPORT by default, which would let a second coordinator
    // silently share a port with the first; fail loudly instead.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.RegisterService(&updater_service_);
    builder.RegisterService(&operator_service_);
    if (enrollment_ != nullptr) builder.RegisterService(enrollment_.get());
    builder.RegisterService(trust_service_.get());
    server_ = builder.BuildAndStart();
    if (server_ == nullptr || port == 0) {
      return absl::UnavailableError(absl::StrCat("cannot serve gRPC on ", config_.grpc_listen,
                                                 ": address in use or invalid"));
    }
    grpc_address_ = absl::StrCat(config_.grpc_listen.substr(0, config_.grpc_listen.rfind(':')), ":", port);
    server_->GetHealthCheckService()->SetServingStatus(true);
    if (absl::Status s = InitHealthPort(); !s.ok()) return s;

    // Before the refresher, which exports the watch endpoint's metrics.
    if (absl::Status s = InitWatch(); !s.ok()) return s;
    if (absl::Status s = InitVersionServer(); !s.ok()) return s;
    refresher_ = std::thread([this] { RefreshLoop(); });
    engine_.Start();
    return absl::OkStatus();
  }

  // grpc.health.v1 alone, in plaintext, for probes that cannot speak TLS
  // (the kubelet's grpc: probe): SERVING while the main port serves,
  // NOT_SERVING from the start of a shutdown. It tells nothing else.
  absl::Status InitHealthPort() {
    if (config_.health_listen.empty()) return absl::OkStatus();
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort(config_.health_listen, grpc::InsecureServerCredentials(), &port);
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.SetMaxReceiveMessageSize(4096);
    health_server_ = builder.BuildAndStart();
    if (health_server_ == nullptr || port == 0) {
      return absl::UnavailableError(absl::StrCat("cannot serve --health_listen on ", config_.health_listen,
                                                 ": address in use or invalid"));
    }
    health_address_ = absl::StrCat(config_.health_listen.substr(0, config_.health_listen.rfind(':')), ":", port);
    health_server_->GetHealthCheckService()->SetServingStatus(true);
    return absl::OkStatus();
  }

  // The watch endpoint, and the LISTEN that tells it of changes made by any
  // replica (its own 1 s re-check covers missed announcements).
  absl::Status InitWatch() {
    if (config_.watch_listen.empty()) return absl::OkStatus();
    if (watch_tags_ == nullptr) watch_tags_ = std::make_unique<watch::CachedAnswerTags>(&cache_, &rollout_cache_);
    absl::StatusOr<std::unique_ptr<watch::WatchServer>> w = watch::WatchServer::Start(
        {.listen = config_.watch_listen,
         .hold = config_.watch_hold,
         .max_connections = config_.watch_max_connections},
        watch_tags_.get());
    if (!w.ok()) return w.status();
    watch_ = *std::move(w);
    change_listener_ = std::make_unique<store::PgChangeListener>(
        config_.database_url, [w = watch_.get()](const std::string& channel) { w->ChannelChanged(channel); });
    change_listener_->Start();
    watch_waiting_ = &prometheus::BuildGauge()
                          .Name("drover_watch_waiting")
                          .Help("Updaters holding a long poll on the watch endpoint now")
                          .Register(*metrics_.registry())
                          .Add({});
    auto& answers = prometheus::BuildCounter()
                        .Name("drover_watch_answers_total")
                        .Help("Watch polls ended: changed (200), held (204, hold over), refused (4xx/5xx), closed "
                              "(the updater hung up)")
                        .Register(*metrics_.registry());
    for (const char* a : {"changed", "held", "refused", "closed"}) watch_answers_.push_back(&answers.Add({{"answer", a}}));
    return absl::OkStatus();
  }

  // Teleport's version-server protocol, answered from the same caches.
  absl::Status InitVersionServer() {
    if (config_.version_server_listen.empty()) return absl::OkStatus();
    if (watch_tags_ == nullptr) watch_tags_ = std::make_unique<watch::CachedAnswerTags>(&cache_, &rollout_cache_);
    const bool tls = !config_.tls_cert_file.empty() && !config_.version_server_plaintext;
    absl::StatusOr<std::unique_ptr<watch::VersionServer>> v = watch::VersionServer::Start(
        {.listen = config_.version_server_listen,
         .tls_cert_file = tls ? config_.tls_cert_file : "",
         .tls_key_file = tls ? config_.tls_key_file : "",
         .per_peer = &target_limiter_},
        watch_tags_.get());
    if (!v.ok()) return v.status();
    version_server_ = *std::move(v);
    auto& answers = prometheus::BuildCounter()
                        .Name("drover_version_server_requests_total")
                        .Help("Version-server (Teleport protocol) requests by answer: version and critical (200), "
                              "bad_request (400/405), not_found (404), rate_limited (429), unavailable (503)")
                        .Register(*metrics_.registry());
    for (const char* a : {"version", "critical", "bad_request", "not_found", "rate_limited", "unavailable"}) {
      version_answers_.push_back(&answers.Add({{"answer", a}}));
    }
    return absl::OkStatus();
  }

  void ExportVersionServerMetrics() {
    if (version_server_ == nullptr) return;
    const watch::VersionServerCounters& c = version_server_->counters();
    const uint64_t now[6] = {c.version.load(),      c.critical.load(),     c.bad_request.load(),
                             c.not_found.load(),    c.rate_limited.load(), c.unavailable.load()};
    for (int i = 0; i < 6; ++i) {
      version_answers_[i]->Increment(static_cast<double>(now[i] - version_seen_[i]));
      version_seen_[i] = now[i];
    }
  }

  void ExportWatchMetrics() {
    if (watch_ == nullptr) return;
    watch_waiting_->Set(static_cast<double>(watch_->waiting()));
    const watch::WatchCounters& c = watch_->counters();
    const uint64_t now[4] = {c.changed.load(), c.held.load(), c.refused.load(), c.closed.load()};
    for (int i = 0; i < 4; ++i) {
      watch_answers_[i]->Increment(static_cast<double>(now[i] - watch_seen_[i]));
      watch_seen_[i] = now[i];
    }
  }

  // The targets key, the pinned root and the delegation, when configured.
  absl::Status InitSigning() {
    if (config_.targets_key_file.empty()) {
      LogWarning("no --targets_key_file: target answers are NOT signed, and updaters that pin a root key refuse "
                 "them");
      trust_service_ = std::make_unique<api::TrustService>(nullptr, &store_, &rpc_log_, &authorizer_, &store_);
      trust_service_->set_refusal_audit(&refusal_audit_);
      return absl::OkStatus();
    }
    if (config_.root_public_key_file.empty()) {
      return absl::InvalidArgumentError("--targets_key_file needs --root_public_key_file (the pinned root public key)");
    }
    absl::StatusOr<trust::SigningKey> key = trust::SigningKey::FromPemFile(config_.targets_key_file);
    if (!key.ok()) return absl::Status(key.status().code(), absl::StrCat("--targets_key_file: ", key.status().message()));
    absl::StatusOr<std::string> pem = ReadFile(config_.root_public_key_file);
    if (!pem.ok()) return absl::Status(pem.status().code(), absl::StrCat("--root_public_key_file: ", pem.status().message()));
    absl::StatusOr<trust::TrustedRoot> root =
        trust::TrustedRootFromPem(*pem, absl::StrCat("--root_public_key_file ", config_.root_public_key_file));
    if (!root.ok()) return root.status();
    std::optional<v1::SignedEnvelope> delegation;
    if (!config_.delegation_file.empty()) {
      absl::StatusOr<std::string> bytes = ReadFile(config_.delegation_file);
      if (!bytes.ok()) return absl::Status(bytes.status().code(), absl::StrCat("--delegation_file: ", bytes.status().message()));
      delegation.emplace();
      if (!delegation->ParseFromString(*bytes)) {
        return absl::InvalidArgumentError(absl::StrCat("--delegation_file ", config_.delegation_file,
                                                       " is not a signed delegation (droverctl keys create-targets)"));
      }
    }
    absl::StatusOr<std::unique_ptr<api::TargetSigner>> signer = api::TargetSigner::Create(
        &store_, &clock_, *std::move(key), *std::move(root), {.cache_ttl = config_.channel_cache_ttl},
        delegation ? &*delegation : nullptr);
    if (!signer.ok()) return signer.status();
    signer_ = *std::move(signer);
    updater_service_.set_signer(signer_.get());
    trust_service_ = std::make_unique<api::TrustService>(signer_.get(), &store_, &rpc_log_, &authorizer_, &store_);
    trust_service_->set_refusal_audit(&refusal_audit_);
    LogInfo(absl::StrCat("signing target metadata with targets key ", signer_->key_id(), " under root ",
                         signer_->pinned_root().key_id));
    return absl::OkStatus();
  }

  std::string grpc_address() const override { return grpc_address_; }
  std::string metrics_address() const override { return metrics_address_; }
  std::string watch_address() const override { return watch_ == nullptr ? "" : watch_->address(); }
  std::string health_address() const override { return health_server_ == nullptr ? "" : health_address_; }
  std::string version_server_url() const override {
    if (version_server_ == nullptr) return "";
    return absl::StrCat(version_server_->tls() ? "https://" : "http://", version_server_->address(), "/v1/");
  }

  void Shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    cv_.notify_all();
    // Watchers first: their connections close, and they poll or reconnect.
    if (change_listener_ != nullptr) change_listener_->Stop();
    if (watch_ != nullptr) watch_->Shutdown();
    if (version_server_ != nullptr) version_server_->Shutdown();
    if (health_server_ != nullptr) health_server_->GetHealthCheckService()->SetServingStatus(false);
    if (server_ != nullptr) {
      server_->GetHealthCheckService()->SetServingStatus(false);
      // Waits for in-flight RPCs; reports among them are answered when their
      // batch commits, because the batcher is still running.
      server_->Shutdown(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(absl::ToInt64Milliseconds(config_.shutdown_grace)));
    }
    batcher_.Shutdown();
    // Heartbeats answered so far reach PostgreSQL before the process exits.
    liveness_.Shutdown(config_.shutdown_grace);
    // Releases the leader lock: another replica takes the rollouts over at once.
    engine_.Stop();
    if (refresher_.joinable()) refresher_.join();
    if (server_ != nullptr) server_->Wait();
    if (health_server_ != nullptr) {
      health_server_->Shutdown(std::chrono::system_clock::now());
      health_server_->Wait();
    }
    rpc_log_.Flush(/*all=*/true);
    // civetweb's listener polls with a 2 s timeout, so stopping the metrics
    // endpoint takes up to 2 s; nothing depends on it once the API is down.
    if (exposer_ != nullptr) std::thread([exposer = std::move(exposer_)] {}).detach();
  }

 private:
  // TLS with client certificates requested (not required: GetTarget and
  // Enroll work without one) and verified against the host CA; or, with
  // --insecure, plaintext and a warning.
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials() {
    if (config_.insecure) {
      LogWarning("WARNING: --insecure: serving gRPC in plaintext; anyone who reaches " + config_.grpc_listen +
                 " can steer the fleet and report for any host");
      return grpc::InsecureServerCredentials();
    }
    auto read = [](const std::string& flag, const std::string& path, bool key) -> absl::StatusOr<std::string> {
      absl::StatusOr<std::string> content = key ? pki::ReadPrivateKeyFile(path) : pki::ReadFile(path);
      if (!content.ok()) return absl::Status(content.status().code(), absl::StrCat("--", flag, ": ", content.status().message()));
      return content;
    };
    absl::StatusOr<std::string> cert = read("tls_cert_file", config_.tls_cert_file, false);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = read("tls_key_file", config_.tls_key_file, true);
    if (!key.ok()) return key.status();
    absl::StatusOr<std::string> ca_cert = read("host_ca_cert_file", config_.host_ca_cert_file, false);
    if (!ca_cert.ok()) return ca_cert.status();
    absl::StatusOr<std::string> ca_key = read("host_ca_key_file", config_.host_ca_key_file, true);
    if (!ca_key.ok()) return ca_key.status();
    absl::StatusOr<pki::CertificateAuthority> ca = pki::CertificateAuthority::Load(*ca_cert, *ca_key);
    if (!ca.ok()) return absl::InvalidArgumentError(absl::StrCat("--host_ca_cert_file/--host_ca_key_file: ", ca.status().message()));
    if (absl::Status s = RefreshRevocations(); !s.ok()) return s;
    ca_ = std::make_unique<pki::CertificateAuthority>(*std::move(ca));
    enrollment_ = std::make_unique<api::EnrollmentService>(
        &store_, ca_.get(), hosts_.get(), &clock_,
        api::EnrollmentOptions{config_.fleet, config_.host_cert_validity}, &rpc_log_, &store_);
    enrollment_->set_refusal_audit(&refusal_audit_);
    grpc::SslServerCredentialsOptions options(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
    options.pem_root_certs = *ca_cert;
    options.pem_key_cert_pairs.push_back({*key, *cert});
    return grpc::SslServerCredentials(options);
  }

  // The revocation list, read afresh: at start-up, then every refresh.
  absl::Status RefreshRevocations() {
    absl::StatusOr<std::vector<std::string>> revoked = store_.ListRevokedSerials(clock_.Now());
    if (!revoked.ok()) return revoked.status();
    revocations_.Replace(*revoked);
    return absl::OkStatus();
  }

  void RefreshLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (int round = 0; !stopped_; ++round) {
      lock.unlock();
      ExportWatchMetrics();
      ExportVersionServerMetrics();
      // Suppressed failure counts whose window passed with no later failure.
      rpc_log_.Flush();
      // Revocations made on other replicas apply here from this refresh on.
      if (!config_.insecure) {
        if (absl::Status s = RefreshRevocations(); !s.ok()) {
          metrics_.CountDatabaseError("revocation_refresh");
          LogWarning(absl::StrCat("refreshing the revocation list: ", s.message()));
        }
      }
      if (round % 12 == 11) {
        if (absl::Status s = store_.CompactCounters(); !s.ok()) {
          metrics_.CountDatabaseError("compact_counters");
          LogWarning(absl::StrCat("compacting counters: ", s.message()));
        }
      }
      MaybeRunRetention();
      // Whatever the database says: a stale "leader" figure would hide
      // DroverRolloutNoLeader.
      rollout_metrics_.SetEngine(engine_.leader(), engine_.steps_saved(), engine_.conflicts(), engine_.errors());
      absl::StatusOr<std::vector<store::RolloutInputs>> inputs = store_.GetAllRolloutInputs();
      metrics_.SetDatabaseUp(inputs.ok());
      metrics_.SetDatabaseRetries(store_.retries());
      metrics_.SetDatabaseReadFallbacks(store_.read_fallbacks());
      metrics_.SetDatabaseWatchdogCloses(store_.watchdog_closes());
      if (inputs.ok()) {
        metrics_.UpdateFleet(*inputs, clock_.Now());
        RefreshRolloutMetrics(*inputs);
        absl::StatusOr<int64_t> orphans = store_.CountOrphanedHosts();
        if (orphans.ok()) {
          metrics_.UpdateVisibility(*inputs, *orphans);
        } else {
          metrics_.CountRefreshError();
          metrics_.CountDatabaseError("fleet_refresh");
          LogWarning(absl::StrCat("counting orphaned hosts: ", orphans.status().message()));
        }
      } else {
        metrics_.CountRefreshError();
        metrics_.CountDatabaseError("fleet_refresh");
        LogWarning(absl::StrCat("refreshing fleet metrics: ", inputs.status().message()));
      }
      lock.lock();
      cv_.wait_for(lock, std::chrono::milliseconds(absl::ToInt64Milliseconds(config_.fleet_refresh_interval)),
                   [this] { return stopped_; });
    }
  }

  // Retention (rollout/retention.h), on the leader replica only (the one
  // running rollouts), every --maintenance_interval, and a minute after a
  // failure. Partitions first: they keep inserts out of the default
  // partition; forgetting agents may take a while at a million hosts.
  void MaybeRunRetention() {
    const absl::Time now = clock_.Now();
    if (now < next_retention_ || !engine_.leader()) return;
    next_retention_ = now + absl::Minutes(1);
    const struct {
      store::PartitionedTable table;
      const char* name;
      rollout::RetentionPolicy policy;
    } tables[] = {
        {store::PartitionedTable::kUpdateEvents, "update_events",
         rollout::UpdateEventsRetention(config_.event_retention)},
        {store::PartitionedTable::kAuditEvents, "audit_events", rollout::AuditEventsRetention(config_.audit_retention)},
    };
    // Each part on its own: one that fails (a lock not had within 500 ms,
    // a table made by hand in the way) does not hold the others back.
    bool all_done = true;
    // A database that cannot be reached (not a lock or statement timeout)
    // ends the pass at once: the other parts would each wait out the same
    // watchdog or connect timeout, holding the fleet refresh (and its
    // drover_database_up) back for half a minute.
    auto unreachable = [&](const absl::Status& s) {
      if (!absl::IsUnavailable(s) || store::IsDatabaseTimeout(s)) return false;
      metrics_.SetDatabaseUp(false);
      return true;
    };
    for (const auto& t : tables) {
      absl::StatusOr<store::PartitionMaintenance> done = store_.MaintainPartitions(t.table, t.policy, now);
      if (!done.ok()) {
        all_done = false;
        metrics_.CountDatabaseError("retention");
        LogWarning(absl::StrCat("retention of ", t.name, ": ", done.status().message(), "; retried in a minute"));
        if (unreachable(done.status())) return;
        continue;
      }
      metrics_.CountPartitionsDropped(t.name, static_cast<int64_t>(done->dropped.size()));
      if (done->created > 0 || !done->dropped.empty() || done->rows_moved > 0 || done->rows_expired > 0) {
        LogInfo(absl::StrCat("retention of ", t.name, ": ", done->created, " partitions created, dropped [",
                             absl::StrJoin(done->dropped, ", "), "], ", done->rows_moved,
                             " rows moved out of the default partition, ", done->rows_expired, " deleted from it"));
      }
    }
    const std::string reason = absl::StrCat("not seen for ", absl::FormatDuration(config_.forget_agents_after));
    // At most 10,000 a pass (ten scans of agents: no index on last_seen)
    // so that this thread's fleet refresh never stalls for long; a full
    // pass comes back a minute later for the rest.
    constexpr int64_t kForgetBatch = 1000;
    constexpr int kForgetBatches = 10;
    absl::StatusOr<int64_t> forgotten = store_.ForgetAgentsNotSeenSince(
        rollout::ForgetAgentsCutoff(now, config_.forget_agents_after), reason, kForgetBatch, kForgetBatches,
        nullptr);
    if (!forgotten.ok()) {
      metrics_.CountDatabaseError("retention");
      LogWarning(absl::StrCat("forgetting agents ", reason, ": ", forgotten.status().message(),
                              "; retried in a minute"));
      return;
    }
    metrics_.CountAgentsForgotten(*forgotten);
    if (*forgotten > 0) LogInfo(absl::StrCat("forgot ", *forgotten, " agents ", reason));
    if (!all_done) return;  // again in a minute
    metrics_.SetRetentionSuccess(now);
    next_retention_ = now + (*forgotten == kForgetBatch * kForgetBatches ? absl::Minutes(1)
                                                                        : config_.maintenance_interval);
  }

  // Rollouts that hold hosts back or were rolled back: their state, groups
  // and budgets (rollouts that finished have no series).
  void RefreshRolloutMetrics(const std::vector<store::RolloutInputs>& inputs) {
    std::vector<store::RolloutStatusView> views;
    for (const store::RolloutInputs& in : inputs) {
      if (in.channel.rollout_mode == rollout::Channel::RolloutMode::kNone) continue;
      absl::StatusOr<store::RolloutStatusView> view = store_.GetRolloutStatus(in.channel.id, clock_.Now());
      if (!view.ok()) {
        if (absl::IsNotFound(view.status())) continue;
        metrics_.CountDatabaseError("rollout_refresh");
        LogWarning(absl::StrCat("refreshing rollout metrics of channel \"", in.channel.id, "\": ",
                                view.status().message()));
        return;  // keep the previous figures rather than drop this channel's
      }
      views.push_back(*std::move(view));
    }
    rollout_metrics_.Update(views);
  }

  const CoordinatorConfig config_;
  RealClock clock_;
  absl::Time next_retention_ = absl::InfinitePast();  // RefreshLoop's thread only
  metrics::FleetMetrics metrics_;
  store::PgStore store_;
  store::ChannelCache cache_;
  store::RolloutCache rollout_cache_;
  store::PgLeaderLock leader_lock_;
  engine::RolloutEngine engine_;
  metrics::RolloutMetrics rollout_metrics_;
  ingest::LivenessTracker liveness_;
  ingest::ReportBatcher batcher_;
  KeyedRateLimiter report_limiter_;
  KeyedRateLimiter target_limiter_;
  api::RefusalAuditGate refusal_audit_;
  api::RpcLog rpc_log_;
  api::RevocationList revocations_;
  std::unique_ptr<api::HostAuthenticator> hosts_;  // not used with --insecure
  api::UpdaterService updater_service_;
  api::Authorizer authorizer_;
  api::OperatorService operator_service_;
  std::unique_ptr<pki::CertificateAuthority> ca_;
  std::unique_ptr<api::EnrollmentService> enrollment_;
  std::unique_ptr<api::TargetSigner> signer_;
  std::unique_ptr<api::TrustService> trust_service_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<watch::CachedAnswerTags> watch_tags_;
  std::unique_ptr<watch::WatchServer> watch_;
  std::unique_ptr<watch::VersionServer> version_server_;
  std::unique_ptr<grpc::Server> health_server_;
  std::string health_address_;
  std::vector<prometheus::Counter*> version_answers_;
  uint64_t version_seen_[6] = {};
  std::unique_ptr<store::PgChangeListener> change_listener_;
  prometheus::Gauge* watch_waiting_ = nullptr;
  std::vector<prometheus::Counter*> watch_answers_;  // changed, held, refused, closed
  uint64_t watch_seen_[4] = {};
  std::string grpc_address_;
  std::string metrics_address_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  std::thread refresher_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(const CoordinatorConfig& config) {
  wire::RouteProtobufLogs();
  if (absl::Status s = CheckTransportConfig(config); !s.ok()) return s;
  absl::StatusOr<std::string> migrated = RunMigrations(config.database_url, config.startup_timeout);
  if (!migrated.ok()) return migrated.status();
  LogInfo(absl::StrCat("migrations applied: ", *migrated));
  if (config.insecure) {
    LogWarning("--insecure: operator API calls without a token act as admin (\"anonymous\"); never use this "
               "outside a test or a local experiment");
  }
  auto server = std::make_unique<CoordinatorServerImpl>(config);
  if (absl::Status s = server->Init(); !s.ok()) return s;
  return server;
}

}  // namespace drover
