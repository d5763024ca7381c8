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
  // AlreadyExists when another root holds that version; OK when the same
  // envelope is there already.
  virtual absl::Status AddRoot(const RootRecord& root) = 0;
  // Newest first.
  virtual absl::StatusOr<std::vector<DelegationRecord>> ListDelegations() = 0;
  // OK (and nothing written) when the same envelope is there already.
  virtual absl::Status AddDelegation(const DelegationRecord& delegation) = 0;

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
