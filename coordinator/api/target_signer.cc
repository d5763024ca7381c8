#include "coordinator/api/target_signer.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "coordinator/api/proto_convert.h"
#include "proto/wire/time.h"

namespace drover::api {
namespace {

std::string Format(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone()); }

}  // namespace

v1::TargetMetadata TargetSigner::ContentOf(const rollout::Channel& c, const std::string& fleet) {
  v1::TargetMetadata t;
  t.set_fleet(fleet);
  t.set_channel(c.id);
  t.set_target_version(c.target_version.value_or(""));
  t.set_critical(c.critical);
  t.set_downgrade_allowed(c.target_allows_downgrade);
  t.set_control_plane_version(c.control_plane_version);
  WindowsToProto(c.maintenance_windows, t.mutable_maintenance_windows());
  wire::DurationToProto(c.poll_interval, t.mutable_poll_interval());
  // Part of the content: a change of mode (a rollout starts, finishes, is
  // rolled back) signs a new answer, without which updaters refuse the new
  // per-host answers.
  if (c.rollout_catch_all_off) {
    t.set_catch_all_off(true);
    for (const std::string& g : c.rollout_listed_groups) t.add_listed_groups(g);
  }
  switch (c.rollout_mode) {
    case rollout::Channel::RolloutMode::kNone: break;
    case rollout::Channel::RolloutMode::kHolding:
      t.set_rollout_mode(v1::TargetMetadata::ROLLOUT_MODE_HOLDING);
      t.set_rollout_start_version(c.rollout_start_version);
      break;
    case rollout::Channel::RolloutMode::kRolledBack:
      t.set_rollout_mode(v1::TargetMetadata::ROLLOUT_MODE_ROLLED_BACK);
      t.set_rollout_start_version(c.rollout_start_version);
      break;
  }
  return t;
}

TargetSigner::TargetSigner(store::MetadataStore* store, const Clock* clock, trust::SigningKey key,
                           trust::TrustedRoot pinned_root, TargetSignerOptions options)
    : store_(store),
      clock_(clock),
      key_(std::move(key)),
      pinned_root_(std::move(pinned_root)),
      options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<TargetSigner>> TargetSigner::Create(store::MetadataStore* store, const Clock* clock,
                                                                   trust::SigningKey key,
                                                                   trust::TrustedRoot pinned_root,
                                                                   TargetSignerOptions options,
                                                                   const v1::SignedEnvelope* delegation) {
  std::unique_ptr<TargetSigner> signer(
      new TargetSigner(store, clock, std::move(key), std::move(pinned_root), std::move(options)));
  if (delegation != nullptr) {
    if (absl::Status s = signer->Publish({}, delegation); !s.ok()) return s;
  }
  if (absl::Status s = signer->ReloadTrust(); !s.ok()) return s;
  return signer;
}

absl::StatusOr<TargetSigner::Trust> TargetSigner::LoadTrust() {
  absl::StatusOr<std::vector<store::RootRecord>> roots = store_->ListRoots();
  if (!roots.ok()) return roots.status();
  Trust t;
  for (const store::RootRecord& r : *roots) {
    if (!t.chain.Add()->ParseFromString(r.envelope)) return absl::DataLossError("a stored root does not parse");
  }
  absl::StatusOr<trust::TrustedRoot> newest = trust::WalkRootChain(pinned_root_, t.chain);
  if (!newest.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the stored root chain does not start at the pinned root ", pinned_root_.key_id, ": ",
                     newest.status().message()));
  }
  t.newest_root = *newest;
  absl::StatusOr<std::vector<store::DelegationRecord>> delegations = store_->ListDelegations();
  if (!delegations.ok()) return delegations.status();
  const absl::Time now = clock_->Now();
  std::string why = "none is published";
  for (const store::DelegationRecord& d : *delegations) {
    if (d.targets_key_id != key_.key_id()) continue;
    v1::SignedEnvelope envelope;
    if (!envelope.ParseFromString(d.envelope)) continue;
    absl::StatusOr<v1::TargetsDelegation> ok = trust::VerifyDelegation(envelope, t.newest_root, now);
    if (!ok.ok()) {
      why = std::string(ok.status().message());
      continue;
    }
    t.delegation = std::move(envelope);
    t.delegation_expires = d.expires_at;
    t.loaded_at = now;
    return t;
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "no valid delegation certifies targets key ", key_.key_id(), " under root ", t.newest_root.key_id, " (", why,
      "): make one with `droverctl keys create-targets` and publish it (`droverctl keys publish` or the "
      "coordinator's --delegation_file)"));
}

absl::Status TargetSigner::ReloadTrust() {
  absl::StatusOr<Trust> t = LoadTrust();
  if (!t.ok()) return t.status();
  const absl::Duration left = t->delegation_expires - clock_->Now();
  if (left < options_.lifetime) {
    LogWarning(absl::StrCat("the delegation of targets key ", key_.key_id(), " expires at ",
                            Format(t->delegation_expires), ": publish a new one before then, or updaters freeze"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  trust_ = std::make_shared<const Trust>(*std::move(t));
  return absl::OkStatus();
}

std::shared_ptr<const TargetSigner::Trust> TargetSigner::CurrentTrust() {
  std::shared_ptr<const Trust> t;
  {
    std::lock_guard<std::mutex> lock(mu_);
    t = trust_;
  }
  if (clock_->Now() - t->loaded_at >= options_.trust_refresh) {
    // Keep serving what we have when the reload fails (database down, the
    // delegation gone): the updaters judge expiry themselves.
    if (absl::Status s = ReloadTrust(); !s.ok()) {
      LogWarning(absl::StrCat("reloading signing keys: ", s.message()));
      std::lock_guard<std::mutex> lock(mu_);
      auto again = std::make_shared<Trust>(*trust_);
      again->loaded_at = clock_->Now();
      trust_ = again;
    }
    std::lock_guard<std::mutex> lock(mu_);
    t = trust_;
  }
  return t;
}

absl::StatusOr<v1::SignedTargetMetadata> TargetSigner::Get(const std::string& channel_id,
                                                           const rollout::Channel* seen) {
  std::shared_ptr<const Trust> t = CurrentTrust();
  v1::SignedTargetMetadata out;
  *out.mutable_root_chain() = t->chain;
  *out.mutable_delegation() = t->delegation;
  const absl::Time now = clock_->Now();
  const std::string seen_content = seen != nullptr ? ContentOf(*seen, options_.fleet).SerializeAsString() : "";
  auto usable = [&](const Entry& e) {
    return now - e.fetched_at < options_.cache_ttl && e.expires - now > options_.resign_when_left &&
           (seen == nullptr || e.content == seen_content);
  };
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(channel_id);
    if (it != entries_.end() && usable(it->second)) {
      *out.mutable_target() = it->second.target;
      return out;
    }
  }
  std::lock_guard<std::mutex> refresh(refresh_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(channel_id);
    if (it != entries_.end() && usable(it->second)) {
      *out.mutable_target() = it->second.target;
      return out;
    }
  }
  absl::StatusOr<store::ChannelMetadataRecord> record = store_->EnsureChannelMetadata(
      channel_id,
      [&](const rollout::Channel& c, const store::ChannelMetadataRecord& stored) {
        return stored.content == ContentOf(c, options_.fleet).SerializeAsString() &&
               stored.targets_key_id == key_.key_id() && stored.expires_at - clock_->Now() > options_.resign_when_left;
      },
      [&](const rollout::Channel& c, int64_t version) -> absl::StatusOr<store::ChannelMetadataRecord> {
        v1::TargetMetadata m = ContentOf(c, options_.fleet);
        store::ChannelMetadataRecord r;
        r.content = m.SerializeAsString();
        r.version = version;
        r.signed_at = clock_->Now();
        r.expires_at = r.signed_at + options_.lifetime;
        r.targets_key_id = key_.key_id();
        m.set_version(version);
        wire::TimeToProto(r.signed_at, m.mutable_signed_time());
        wire::TimeToProto(r.expires_at, m.mutable_expires());
        absl::StatusOr<v1::SignedEnvelope> e = trust::Sign(trust::Role::kTarget, m, {&key_});
        if (!e.ok()) return e.status();
        r.envelope = e->SerializeAsString();
        return r;
      });
  if (!record.ok()) return record.status();
  Entry entry;
  if (!entry.target.ParseFromString(record->envelope)) return absl::DataLossError("a stored signed answer does not parse");
  entry.content = record->content;
  entry.expires = record->expires_at;
  entry.fetched_at = now;
  *out.mutable_target() = entry.target;
  std::lock_guard<std::mutex> lock(mu_);
  entries_[channel_id] = std::move(entry);
  return out;
}

absl::Status TargetSigner::Publish(const google::protobuf::RepeatedPtrField<v1::SignedEnvelope>& roots,
                                   const v1::SignedEnvelope* delegation, const store::AuditRecord* audit) {
  // Checked against the pinned root, not the delegation this replica
  // serves: a delegation for another key is how a rotation starts.
  google::protobuf::RepeatedPtrField<v1::SignedEnvelope> chain;
  absl::StatusOr<std::vector<store::RootRecord>> stored = store_->ListRoots();
  if (!stored.ok()) return stored.status();
  for (const store::RootRecord& r : *stored) chain.Add()->ParseFromString(r.envelope);
  for (const v1::SignedEnvelope& r : roots) *chain.Add() = r;
  absl::StatusOr<trust::TrustedRoot> newest = trust::WalkRootChain(pinned_root_, chain);
  if (!newest.ok()) {
    return absl::PermissionDeniedError(absl::StrCat("refusing the root chain: ", newest.status().message()));
  }
  std::vector<store::RootRecord> new_roots;
  for (const v1::SignedEnvelope& r : roots) {
    v1::RootMetadata m;
    m.ParseFromString(r.payload());
    new_roots.push_back({m.version(), m.key().key_id(), r.SerializeAsString(), absl::Time()});
  }
  std::optional<store::DelegationRecord> new_delegation;
  if (delegation != nullptr) {
    absl::StatusOr<v1::TargetsDelegation> d = trust::VerifyDelegation(*delegation, *newest, clock_->Now());
    if (!d.ok()) {
      return absl::PermissionDeniedError(
          absl::StrCat("refusing the delegation (it must be signed by the newest root, ", newest->key_id,
                       "): ", d.status().message()));
    }
    new_delegation = store::DelegationRecord{d->targets_key().key_id(),        d->root_key_id(), d->version(),
                                             wire::TimeFromProto(d->expires()), delegation->SerializeAsString(),
                                             absl::Time()};
  }
  if (absl::Status s = store_->PublishTrust(new_roots, new_delegation, audit); !s.ok()) return s;
  if (absl::Status s = ReloadTrust(); !s.ok()) LogWarning(absl::StrCat("after publishing: ", s.message()));
  return absl::OkStatus();
}

}  // namespace drover::api
