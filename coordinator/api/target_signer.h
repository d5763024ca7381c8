// Signs each channel's target answer with the online targets key and keeps
// the signed answers of this replica in memory. The metadata version and the
// stored answer live in PostgreSQL (MetadataStore::EnsureChannelMetadata),
// so replicas agree on versions and re-sign each answer once.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "coordinator/rollout/model.h"
#include "coordinator/store/metadata_store.h"
#include "drover/v1/metadata.pb.h"
#include "common/trust/metadata.h"

namespace drover::api {

struct TargetSignerOptions {
  std::string fleet;
  absl::Duration lifetime = trust::kTargetMetadataLifetime;
  // Signed again once less than this is left.
  absl::Duration resign_when_left = trust::kResignWhenLeft;
  // How long a replica serves its copy before asking the database again
  // (another replica may have signed a newer version meanwhile).
  absl::Duration cache_ttl = absl::Seconds(1);
  // Root successors and delegations are read again this often.
  absl::Duration trust_refresh = absl::Seconds(10);
};

class TargetSigner {
 public:
  // Publishes `delegation` when given (see Publish), then loads the root
  // chain and the delegation of `key` from the store. FailedPrecondition,
  // saying what to do, when no valid delegation certifies `key` under
  // `pinned_root` (or a successor of it).
  static absl::StatusOr<std::unique_ptr<TargetSigner>> Create(store::MetadataStore* store, const Clock* clock,
                                                              trust::SigningKey key, trust::TrustedRoot pinned_root,
                                                              TargetSignerOptions options,
                                                              const v1::SignedEnvelope* delegation = nullptr);

  // The signed answer for `channel` as the store has it now. `seen`, when
  // given, is the channel as the caller's cache has it: a copy that does not
  // match it is not served (a change made through this replica shows at once).
  absl::StatusOr<v1::SignedTargetMetadata> Get(const std::string& channel_id, const rollout::Channel* seen = nullptr);

  // Verifies and stores root successors and/or a delegation (admin RPC),
  // all in one transaction with `audit` when given (see
  // MetadataStore::PublishTrust). PermissionDenied for anything that does
  // not chain to the pinned root.
  absl::Status Publish(const google::protobuf::RepeatedPtrField<v1::SignedEnvelope>& roots,
                       const v1::SignedEnvelope* delegation, const store::AuditRecord* audit = nullptr);

  // Reads roots and delegations again, picking the delegation of our key.
  absl::Status ReloadTrust();

  const trust::TrustedRoot& pinned_root() const { return pinned_root_; }
  const std::string& key_id() const { return key_.key_id(); }

  // The answer's content for `c`: what a change is judged on (no version or times).
  static v1::TargetMetadata ContentOf(const rollout::Channel& c, const std::string& fleet);

 private:
  TargetSigner(store::MetadataStore* store, const Clock* clock, trust::SigningKey key, trust::TrustedRoot pinned_root,
               TargetSignerOptions options);

  struct Trust {
    google::protobuf::RepeatedPtrField<v1::SignedEnvelope> chain;
    trust::TrustedRoot newest_root;
    v1::SignedEnvelope delegation;
    absl::Time delegation_expires;
    absl::Time loaded_at;
  };
  absl::StatusOr<Trust> LoadTrust();
  std::shared_ptr<const Trust> CurrentTrust();

  struct Entry {
    v1::SignedEnvelope target;
    std::string content;
    absl::Time expires;
    absl::Time fetched_at;
  };

  store::MetadataStore* const store_;
  const Clock* const clock_;
  const trust::SigningKey key_;
  const trust::TrustedRoot pinned_root_;
  const TargetSignerOptions options_;

  std::mutex refresh_mu_;  // one database round at a time
  std::mutex mu_;
  std::shared_ptr<const Trust> trust_;
  absl::flat_hash_map<std::string, Entry> entries_;
};

}  // namespace drover::api
