#include "common/trust/metadata.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/semver.h"
#include "common/version_policy.h"

namespace drover::trust {
namespace {

constexpr absl::string_view kExpiredPrefix = "metadata expired";

absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

std::string Format(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone()); }

std::string Short(absl::string_view id) { return std::string(id.substr(0, 16)); }

template <typename M>
absl::StatusOr<M> ParsePayload(Role role, const v1::SignedEnvelope& envelope) {
  M m;
  if (!m.ParseFromString(envelope.payload())) {
    return absl::InvalidArgumentError(absl::StrCat("signed ", RoleName(role), " payload does not parse"));
  }
  return m;
}

absl::Status CheckKeyProto(const v1::MetadataPublicKey& key, absl::string_view what) {
  if (key.ed25519().size() != kEd25519PublicKeySize) {
    return absl::PermissionDeniedError(absl::StrCat(what, " key is ", key.ed25519().size(), " bytes, not ",
                                                    kEd25519PublicKeySize));
  }
  if (key.key_id() != KeyId(key.ed25519())) {
    return absl::PermissionDeniedError(absl::StrCat(what, " key id \"", absl::CHexEscape(key.key_id()),
                                                    "\" does not match its key"));
  }
  return absl::OkStatus();
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kRoot: return "root";
    case Role::kDelegation: return "delegation";
    case Role::kTarget: return "target";
  }
  return "?";
}

std::string SigningInput(Role role, absl::string_view payload) {
  std::string input("drover-metadata-v1");
  input.push_back('\0');
  input.append(RoleName(role));
  input.push_back('\0');
  input.append(payload.data(), payload.size());
  return input;
}

absl::StatusOr<v1::SignedEnvelope> Sign(Role role, const google::protobuf::MessageLite& payload,
                                        const std::vector<const SigningKey*>& keys) {
  v1::SignedEnvelope envelope;
  if (!payload.SerializeToString(envelope.mutable_payload())) return absl::InternalError("serializing payload");
  const std::string input = SigningInput(role, envelope.payload());
  for (const SigningKey* key : keys) {
    absl::StatusOr<std::string> sig = key->Sign(input);
    if (!sig.ok()) return sig.status();
    v1::MetadataSignature* s = envelope.add_signatures();
    s->set_key_id(key->key_id());
    s->set_signature(*std::move(sig));
  }
  return envelope;
}

absl::Status CheckSignature(Role role, const v1::SignedEnvelope& envelope, absl::string_view raw_public_key) {
  const std::string id = KeyId(raw_public_key);
  const std::string input = SigningInput(role, envelope.payload());
  bool present = false;
  for (const v1::MetadataSignature& s : envelope.signatures()) {
    if (s.key_id() != id) continue;
    present = true;
    if (VerifyEd25519(raw_public_key, input, s.signature()).ok()) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat(RoleName(role), " metadata ",
                                                  present ? "has a bad signature by key " : "is not signed by key ",
                                                  Short(id)));
}

v1::MetadataPublicKey PublicKeyProto(absl::string_view raw_public_key) {
  v1::MetadataPublicKey k;
  k.set_ed25519(std::string(raw_public_key));
  k.set_key_id(KeyId(raw_public_key));
  return k;
}

TrustedRoot TrustedRootFromRaw(absl::string_view raw_public_key, int64_t version) {
  return {std::string(raw_public_key), KeyId(raw_public_key), version};
}

absl::StatusOr<TrustedRoot> TrustedRootFromPem(absl::string_view pem, absl::string_view origin) {
  absl::StatusOr<std::string> raw = RawPublicKeyFromPem(pem, origin);
  if (!raw.ok()) return raw.status();
  return TrustedRootFromRaw(*raw);
}

absl::StatusOr<TrustedRoot> WalkRootChain(const TrustedRoot& trusted,
                                          const google::protobuf::RepeatedPtrField<v1::SignedEnvelope>& chain) {
  TrustedRoot current = trusted;
  for (int i = 0; i < chain.size(); ++i) {
    absl::StatusOr<v1::RootMetadata> root = ParsePayload<v1::RootMetadata>(Role::kRoot, chain[i]);
    if (!root.ok()) return root.status();
    if (root->version() <= current.version) continue;  // walked already
    if (root->version() != current.version + 1) {
      return absl::PermissionDeniedError(absl::StrCat("root chain jumps from version ", current.version, " to ",
                                                      root->version()));
    }
    if (root->previous_key_id() != current.key_id) {
      return absl::PermissionDeniedError(absl::StrCat("root version ", root->version(), " succeeds key ",
                                                      Short(absl::CHexEscape(root->previous_key_id())),
                                                      ", not the trusted root ", Short(current.key_id)));
    }
    if (absl::Status s = CheckKeyProto(root->key(), "root"); !s.ok()) return s;
    if (absl::Status s = CheckSignature(Role::kRoot, chain[i], current.public_key); !s.ok()) {
      return absl::PermissionDeniedError(absl::StrCat("root version ", root->version(), ": ", s.message()));
    }
    if (absl::Status s = CheckSignature(Role::kRoot, chain[i], root->key().ed25519()); !s.ok()) {
      return absl::PermissionDeniedError(absl::StrCat("root version ", root->version(), ": ", s.message()));
    }
    current = TrustedRootFromRaw(root->key().ed25519(), root->version());
  }
  return current;
}

absl::StatusOr<v1::TargetsDelegation> VerifyDelegation(const v1::SignedEnvelope& envelope, const TrustedRoot& root,
                                                       absl::Time now, int64_t min_version) {
  if (absl::Status s = CheckSignature(Role::kDelegation, envelope, root.public_key); !s.ok()) return s;
  absl::StatusOr<v1::TargetsDelegation> d = ParsePayload<v1::TargetsDelegation>(Role::kDelegation, envelope);
  if (!d.ok()) return d.status();
  if (d->root_key_id() != root.key_id) {
    return absl::PermissionDeniedError("delegation names another root key than the one that signed it");
  }
  if (absl::Status s = CheckKeyProto(d->targets_key(), "targets"); !s.ok()) return s;
  if (d->version() < min_version) {
    return absl::PermissionDeniedError(absl::StrCat(
        "delegation version ", d->version(), " of targets key ", Short(d->targets_key().key_id()),
        " is below the highest accepted (", min_version,
        "): a retired targets key, or a replayed delegation; the coordinator must sign with the key of the newest "
        "delegation"));
  }
  const absl::Time expires = TimeOf(d->expires());
  if (now >= expires) {
    return absl::FailedPreconditionError(absl::StrCat(kExpiredPrefix, ": the delegation of targets key ",
                                                      Short(d->targets_key().key_id()), " expired at ",
                                                      Format(expires), " (now ", Format(now), ")"));
  }
  return d;
}

absl::StatusOr<VerifiedTarget> VerifyTargetMetadata(const v1::SignedTargetMetadata& metadata,
                                                    const TrustedRoot& root, absl::string_view channel,
                                                    int64_t last_seen_version, absl::Time now,
                                                    int64_t last_delegation_version) {
  if (!metadata.has_target() || metadata.target().signatures().empty()) {
    return absl::PermissionDeniedError("the answer is not signed");
  }
  VerifiedTarget out;
  absl::StatusOr<TrustedRoot> newest = WalkRootChain(root, metadata.root_chain());
  if (!newest.ok()) return newest.status();
  out.root = *newest;
  absl::StatusOr<v1::TargetsDelegation> d =
      VerifyDelegation(metadata.delegation(), out.root, now, last_delegation_version);
  if (!d.ok()) return d.status();
  out.targets_key_id = d->targets_key().key_id();
  out.delegation_version = d->version();
  if (absl::Status s = CheckSignature(Role::kTarget, metadata.target(), d->targets_key().ed25519()); !s.ok()) {
    return s;
  }
  absl::StatusOr<v1::TargetMetadata> t = ParsePayload<v1::TargetMetadata>(Role::kTarget, metadata.target());
  if (!t.ok()) return t.status();
  if (t->channel() != channel) {
    return absl::PermissionDeniedError(absl::StrCat("the signed answer is for channel \"",
                                                    absl::CHexEscape(t->channel()), "\", not \"", channel, "\""));
  }
  if (t->version() < last_seen_version) {
    return absl::PermissionDeniedError(absl::StrCat("metadata version ", t->version(),
                                                    " is below the highest seen for channel \"", channel, "\" (",
                                                    last_seen_version, "): a replayed or rolled-back answer"));
  }
  const absl::Time expires = TimeOf(t->expires());
  if (now >= expires) {
    return absl::FailedPreconditionError(absl::StrCat(kExpiredPrefix, ": the answer for channel \"", channel,
                                                      "\" (version ", t->version(), ") expired at ", Format(expires),
                                                      " (now ", Format(now), ")"));
  }
  if (!t->target_version().empty()) {
    absl::StatusOr<Semver> target = Semver::Parse(t->target_version());
    if (!target.ok()) return absl::PermissionDeniedError(absl::StrCat("signed target: ", target.status().message()));
    absl::StatusOr<Semver> cp = Semver::Parse(t->control_plane_version());
    if (!cp.ok()) {
      return absl::PermissionDeniedError(absl::StrCat("signed control-plane version: ", cp.status().message()));
    }
    if (absl::Status s = CheckVersionPolicy(*target, *cp, "signed target version"); !s.ok()) {
      return absl::PermissionDeniedError(s.message());
    }
  }
  if (!t->rollout_start_version().empty()) {
    // A version hosts may be told to run, or rolled back to. Its policy
    // against the control plane is judged like the target's, by whoever acts
    // on it (the updater's decision).
    if (absl::StatusOr<Semver> start = Semver::Parse(t->rollout_start_version()); !start.ok()) {
      return absl::PermissionDeniedError(absl::StrCat("signed rollout start version: ", start.status().message()));
    }
  }
  out.target = *std::move(t);
  return out;
}

absl::StatusOr<VerifiedTarget> VerifyTargetMetadata(absl::string_view serialized, const TrustedRoot& root,
                                                    absl::string_view channel, int64_t last_seen_version,
                                                    absl::Time now, int64_t last_delegation_version) {
  v1::SignedTargetMetadata m;
  if (!m.ParseFromArray(serialized.data(), static_cast<int>(serialized.size()))) {
    return absl::InvalidArgumentError("signed metadata does not parse");
  }
  return VerifyTargetMetadata(m, root, channel, last_seen_version, now, last_delegation_version);
}

bool IsMetadataExpired(const absl::Status& status) {
  return absl::IsFailedPrecondition(status) && absl::StartsWith(status.message(), kExpiredPrefix);
}

}  // namespace drover::trust
