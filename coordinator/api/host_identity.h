// Who is calling the updater API: the host named by the client certificate
// (URI SAN spiffe://<fleet>/host/<host_id>, channel in its OU), checked
// against the revocation list. gRPC has already verified the chain against
// the host CA and the validity period during the TLS handshake.
#pragma once

#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace drover::api {

// Serials of revoked, unexpired host certificates. Refreshed from the store
// every few seconds by the server (so a revocation made on another replica
// applies here within one refresh) and at once for revocations made here.
class RevocationList {
 public:
  bool IsRevoked(const std::string& serial_hex) const ABSL_LOCKS_EXCLUDED(mu_);
  void Replace(const std::vector<std::string>& serials) ABSL_LOCKS_EXCLUDED(mu_);
  void Add(const std::vector<std::string>& serials) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> revoked_ ABSL_GUARDED_BY(mu_);
};

struct PeerHost {
  std::string host_id;
  std::string channel;  // the channel the host enrolled for
  std::string serial_hex;
};

// Why reports are refused, the label of drover_reports_refused_total.
enum class RefusalReason { kNoCertificate, kBadCertificate, kRevoked, kWrongHost, kWrongChannel };

class HostAuthenticator {
 public:
  HostAuthenticator(std::string fleet, const RevocationList* revoked, prometheus::Registry& registry);

  // The host of the call's client certificate. Unauthenticated without one
  // (or with one naming no host of this fleet), PermissionDenied when it is
  // revoked; `reason` says which.
  absl::StatusOr<PeerHost> Authenticate(const grpc::ServerContextBase& context, RefusalReason* reason) const;

  // A report from `peer` about `host_id` in `channel`: PermissionDenied
  // unless they are the certificate's.
  static absl::Status CheckReport(const PeerHost& peer, const std::string& host_id, const std::string& channel,
                                  RefusalReason* reason);

  void CountRefused(RefusalReason reason);

  // Identities read from distinct certificates kept at most; past it the
  // cache starts again empty.
  static constexpr size_t kMaxCachedIdentities = 65536;

 private:
  // The host a certificate names, without the revocation check.
  absl::StatusOr<PeerHost> ReadIdentity(absl::string_view pem, RefusalReason* reason) const;

  const std::string fleet_;
  const RevocationList* const revoked_;
  prometheus::Family<prometheus::Counter>& refused_;
  std::vector<prometheus::Counter*> by_reason_;
  // Every call on a connection carries the same verified certificate, and
  // parsing it (OpenSSL's PEM and X.509 decoders) cost more coordinator CPU
  // than the rest of a report: what it names is kept by the certificate's
  // SHA-256, bounded. Revocation is still checked on every call.
  mutable absl::Mutex cache_mu_;
  mutable absl::flat_hash_map<std::string, PeerHost> identities_ ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace drover::api
