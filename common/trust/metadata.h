// Signing and verifying Drover's target metadata (proto/drover/v1/metadata.proto).
// Verification is a pure function over bytes, a trusted root and the time:
// no I/O, no gRPC, so a fuzzer can drive it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "drover/v1/metadata.pb.h"
#include "common/trust/keys.h"

namespace drover::trust {

// How long a signed target answer is valid, and when it is signed again.
inline constexpr absl::Duration kTargetMetadataLifetime = absl::Hours(7 * 24);
inline constexpr absl::Duration kResignWhenLeft = absl::Hours(2 * 24);
// A delegation made by `droverctl keys create-targets` without --expires.
inline constexpr absl::Duration kDefaultDelegationLifetime = absl::Hours(365 * 24);

enum class Role { kRoot, kDelegation, kTarget };
const char* RoleName(Role role);

// What a signature covers: a fixed prefix, the role, the payload.
std::string SigningInput(Role role, absl::string_view payload);

// `payload` serialized and signed by each of `keys`.
absl::StatusOr<v1::SignedEnvelope> Sign(Role role, const google::protobuf::MessageLite& payload,
                                        const std::vector<const SigningKey*>& keys);

// OK when `envelope` carries a valid signature by `raw_public_key`.
absl::Status CheckSignature(Role role, const v1::SignedEnvelope& envelope, absl::string_view raw_public_key);

v1::MetadataPublicKey PublicKeyProto(absl::string_view raw_public_key);

// The root an updater trusts: the pinned key (version 1), or the newest
// successor it reached from it.
struct TrustedRoot {
  std::string public_key;  // raw 32 bytes
  std::string key_id;
  int64_t version = 1;
};
absl::StatusOr<TrustedRoot> TrustedRootFromPem(absl::string_view pem, absl::string_view origin);
TrustedRoot TrustedRootFromRaw(absl::string_view raw_public_key, int64_t version = 1);

// Walks `chain` (successors, oldest first) from `trusted`: each successor of
// version trusted+1 must name the trusted key as previous and be signed by
// it and by its own key. Older entries are skipped. PermissionDenied for a
// forged or broken link.
absl::StatusOr<TrustedRoot> WalkRootChain(const TrustedRoot& trusted,
                                          const google::protobuf::RepeatedPtrField<v1::SignedEnvelope>& chain);

// A delegation signed by `root`, not expired at `now`, of version
// `min_version` or above. Below it is PermissionDenied (checked before the
// expiry): a delegation older than one already accepted is a retired, maybe
// stolen, targets key, and must not even freeze an updater.
absl::StatusOr<v1::TargetsDelegation> VerifyDelegation(const v1::SignedEnvelope& envelope, const TrustedRoot& root,
                                                       absl::Time now, int64_t min_version = 0);

struct VerifiedTarget {
  v1::TargetMetadata target;
  // The newest root reached (to pin from now on).
  TrustedRoot root;
  std::string targets_key_id;
  // The delegation's version (to keep as the highest accepted).
  int64_t delegation_version = 0;
};

// Verifies a channel's signed answer. Refuses (PermissionDenied) anything
// not signed along root -> delegation -> targets key, a delegation below
// `last_delegation_version` (the targets key was rotated since), an answer
// for another channel, a version below `last_seen_version`, a target above its own
// control-plane version, a rollout start version that is not a version;
// FailedPrecondition ("metadata expired", see
// IsMetadataExpired) for an expired delegation or answer; InvalidArgument
// for bytes that do not parse.
absl::StatusOr<VerifiedTarget> VerifyTargetMetadata(const v1::SignedTargetMetadata& metadata,
                                                    const TrustedRoot& root, absl::string_view channel,
                                                    int64_t last_seen_version, absl::Time now,
                                                    int64_t last_delegation_version = 0);
// The same over serialized SignedTargetMetadata bytes (for fuzzing).
absl::StatusOr<VerifiedTarget> VerifyTargetMetadata(absl::string_view serialized, const TrustedRoot& root,
                                                    absl::string_view channel, int64_t last_seen_version,
                                                    absl::Time now, int64_t last_delegation_version = 0);

bool IsMetadataExpired(const absl::Status& status);

}  // namespace drover::trust
