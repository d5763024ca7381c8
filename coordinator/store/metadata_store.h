// Storage of signed target metadata: root successors, delegations of the
// online targets key, and each channel's signed answer with its growing
// version. Bytes are opaque here (serialized SignedEnvelope); what they mean
// is trust/metadata.h's business.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/rollout/model.h"
#include "coordinator/store/audit_store.h"

namespace drover::store {

struct RootRecord {
  int64_t version = 0;
  std::string key_id;
  std::string envelope;
  absl::Time published_at;
};

struct DelegationRecord {
  std::string targets_key_id;
  std::string root_key_id;
  int64_t version = 0;
  absl::Time expires_at;
  std::string envelope;
  absl::Time published_at;
};

struct ChannelMetadataRecord {
  int64_t version = 0;  // 0: a placeholder, never signed
  std::string content;
  std::string targets_key_id;
  absl::Time expires_at;
  std::string envelope;
  absl::Time signed_at;
};

class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  // Root successors, oldest first.
  virtual absl::StatusOr<std::vector<RootRecord>> ListRoots() = 0;
  // Newest first.
  virtual absl::StatusOr<std::vector<DelegationRecord>> ListDelegations() = 0;
  // Stores verified root successors and/or a delegation, and `audit` (when
  // set; object, old_value and new_value filled in here), in one
  // transaction: all of it or nothing. A root version held by another root
  // is AlreadyExists; a new delegation whose version is not above every
  // published one is FailedPrecondition (updaters refuse delegations older
  // than one they accepted, so versions must grow). Envelopes stored
  // already are OK and written again as nothing.
  virtual absl::Status PublishTrust(const std::vector<RootRecord>& roots,
                                    const std::optional<DelegationRecord>& delegation, const AuditRecord* audit) = 0;

  // Whether a stored answer can be served for `channel` as it is now.
  using IsCurrent = std::function<bool(const rollout::Channel& channel, const ChannelMetadataRecord& stored)>;
  // Signs `channel` as metadata version `version`.
  using SignAs = std::function<absl::StatusOr<ChannelMetadataRecord>(const rollout::Channel& channel, int64_t version)>;
  // The channel's signed answer: the stored one when `is_current` says so,
  // else a new one made by `sign` with the next version and stored, all
  // under the row's lock (replicas signing at once take turns; the later
  // one finds the earlier one's answer current). Reads the channel from the
  // database inside that transaction, not from a cache. NotFound for an
  // unknown channel.
  virtual absl::StatusOr<ChannelMetadataRecord> EnsureChannelMetadata(const std::string& channel_id,
                                                                      const IsCurrent& is_current,
                                                                      const SignAs& sign) = 0;
};

}  // namespace drover::store
