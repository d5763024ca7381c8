// droverctl keys: the keys behind signed target metadata. create-root,
// create-targets and sign-root work offline on key files (never on argv);
// publish and show talk to the coordinator.
#include <sys/stat.h>

#include <algorithm>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cli/command.h"
#include "cli/output.h"
#include "common/atomic_file.h"
#include "proto/wire/time.h"
#include "common/trust/metadata.h"

namespace drover::cli {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Writes files that do not exist yet: a key is never overwritten by mistake.
Result WriteNew(const std::string& path, const std::string& content, int mode) {
  if (Exists(path)) return Result::Error(absl::StrCat(path, " exists already: refusing to overwrite it"));
  if (absl::Status s = WriteFileAtomically(path, content, mode); !s.ok()) {
    return Result::Error(absl::StrCat("writing ", path, ": ", s.message()));
  }
  return Result::Ok();
}

absl::StatusOr<trust::SigningKey> LoadKey(const std::string& flag, const std::string& path) {
  absl::StatusOr<trust::SigningKey> key = trust::SigningKey::FromPemFile(path);
  if (!key.ok()) return absl::Status(key.status().code(), absl::StrCat("--", flag, ": ", key.status().message()));
  return key;
}

Result WriteKeyPair(const trust::SigningKey& key, const std::string& dir, const std::string& name) {
  absl::StatusOr<std::string> pem = key.PrivatePem();
  if (!pem.ok()) return Result::Error(std::string(pem.status().message()));
  if (Result r = WriteNew(absl::StrCat(dir, "/", name, ".key"), *pem, 0600); !r.ok()) return r;
  return WriteNew(absl::StrCat(dir, "/", name, ".pub"), trust::PublicKeyPem(key.public_key()), 0644);
}

Result CreateRoot(const Invocation& inv, CommandContext& ctx) {
  const std::string dir = inv.Get("out-dir");
  absl::StatusOr<trust::SigningKey> key = trust::SigningKey::Generate();
  if (!key.ok()) return Result::Error(std::string(key.status().message()));
  if (Result r = WriteKeyPair(*key, dir, "root"); !r.ok()) return r;
  *ctx.out << "Created root key " << key->key_id() << ":\n"
           << "  " << dir << "/root.key  private: keep it OFFLINE (it certifies every targets key)\n"
           << "  " << dir << "/root.pub  public: pin it on every updater (root_public_key_file) and the "
           << "coordinator (--root_public_key_file)\n";
  return Result::Ok();
}

absl::StatusOr<v1::SignedEnvelope> ReadEnvelope(const std::string& flag, const std::string& path);

Result CreateTargets(const Invocation& inv, CommandContext& ctx) {
  const std::string dir = inv.Get("out-dir");
  absl::StatusOr<trust::SigningKey> root = LoadKey("root-key", inv.Get("root-key"));
  if (!root.ok()) return Result::Usage(std::string(root.status().message()));
  absl::Duration lifetime = trust::kDefaultDelegationLifetime;
  if (inv.Has("expires-in") && (!absl::ParseDuration(inv.Get("expires-in"), &lifetime) || lifetime <= absl::ZeroDuration())) {
    return Result::Usage(absl::StrCat("--expires-in=", inv.Get("expires-in"), ": want a positive duration, e.g. 8760h"));
  }
  const absl::Time now = absl::Now();
  // Updaters refuse a delegation older than one they accepted (that is what
  // retires the old key), so the version must grow: the clock by default,
  // above the delegation published now when it is given.
  int64_t version = absl::ToUnixSeconds(now);
  int64_t previous = 0;
  if (inv.Has("previous")) {
    absl::StatusOr<v1::SignedEnvelope> e = ReadEnvelope("previous", inv.Get("previous"));
    v1::TargetsDelegation p;
    if (!e.ok()) return Result::Usage(std::string(e.status().message()));
    if (!p.ParseFromString(e->payload()) || !p.has_targets_key()) {
      return Result::Usage(absl::StrCat("--previous=", inv.Get("previous"), " is not a delegation (delegation.pb)"));
    }
    previous = p.version();
    version = std::max(version, previous + 1);
  }
  if (inv.Has("version")) {
    if (!absl::SimpleAtoi(inv.Get("version"), &version) || version < 1) {
      return Result::Usage(absl::StrCat("--version=", inv.Get("version"), ": want a positive integer"));
    }
    if (version <= previous) {
      return Result::Usage(absl::StrCat("--version=", version, " is not above the previous delegation's version ",
                                        previous, ": updaters that accepted that one would refuse this one"));
    }
  }
  absl::StatusOr<trust::SigningKey> key = trust::SigningKey::Generate();
  if (!key.ok()) return Result::Error(std::string(key.status().message()));
  v1::TargetsDelegation d;
  d.set_root_key_id(root->key_id());
  *d.mutable_targets_key() = trust::PublicKeyProto(key->public_key());
  d.set_version(version);
  wire::TimeToProto(now, d.mutable_created());
  wire::TimeToProto(now + lifetime, d.mutable_expires());
  absl::StatusOr<v1::SignedEnvelope> e = trust::Sign(trust::Role::kDelegation, d, {&*root});
  if (!e.ok()) return Result::Error(std::string(e.status().message()));
  if (Result r = WriteKeyPair(*key, dir, "targets"); !r.ok()) return r;
  if (Result r = WriteNew(absl::StrCat(dir, "/delegation.pb"), e->SerializeAsString(), 0644); !r.ok()) return r;
  *ctx.out << "Created targets key " << key->key_id() << ", delegation version " << version << " by root "
           << root->key_id() << " until "
           << absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", now + lifetime, absl::UTCTimeZone()) << ":\n"
           << "  " << dir << "/targets.key     the coordinator's --targets_key_file (online, mode 0600)\n"
           << "  " << dir << "/delegation.pb   publish it: droverctl keys publish --delegation=" << dir
           << "/delegation.pb (or --delegation_file)\n";
  return Result::Ok();
}

Result SignRoot(const Invocation& inv, CommandContext& ctx) {
  absl::StatusOr<trust::SigningKey> old_root = LoadKey("root-key", inv.Get("root-key"));
  if (!old_root.ok()) return Result::Usage(std::string(old_root.status().message()));
  absl::StatusOr<trust::SigningKey> next = LoadKey("new-root-key", inv.Get("new-root-key"));
  if (!next.ok()) return Result::Usage(std::string(next.status().message()));
  int64_t version = 0;
  if (!absl::SimpleAtoi(inv.Get("version"), &version) || version < 2) {
    return Result::Usage(absl::StrCat("--version=", inv.Get("version"),
                                      ": want the new root's version, 2 for the first successor of the pinned root"));
  }
  v1::RootMetadata r;
  r.set_version(version);
  *r.mutable_key() = trust::PublicKeyProto(next->public_key());
  r.set_previous_key_id(old_root->key_id());
  wire::TimeToProto(absl::Now(), r.mutable_created());
  absl::StatusOr<v1::SignedEnvelope> e = trust::Sign(trust::Role::kRoot, r, {&*old_root, &*next});
  if (!e.ok()) return Result::Error(std::string(e.status().message()));
  if (Result w = WriteNew(inv.Get("out"), e->SerializeAsString(), 0644); !w.ok()) return w;
  *ctx.out << "Signed root version " << version << " (key " << next->key_id() << ") with root " << old_root->key_id()
           << ": publish it with droverctl keys publish --root=" << inv.Get("out")
           << ", then a delegation signed by the new root\n";
  return Result::Ok();
}

absl::StatusOr<v1::SignedEnvelope> ReadEnvelope(const std::string& flag, const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFile(path);
  if (!bytes.ok()) return absl::Status(bytes.status().code(), absl::StrCat("--", flag, ": ", bytes.status().message()));
  v1::SignedEnvelope e;
  if (!e.ParseFromString(*bytes) || e.signatures().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, "=", path, " is not a signed file made by droverctl keys"));
  }
  return e;
}

void PrintTrust(CommandContext& ctx, const v1::TrustMetadata& t) {
  if (ctx.options.output == OutputFormat::kJson) {
    *ctx.out << ToJson(t) << "\n";
    return;
  }
  *ctx.out << "pinned root:     " << t.pinned_root_key_id() << " (version 1)\n";
  for (const v1::TrustMetadata::Key& k : t.roots()) {
    *ctx.out << "root successor:  " << k.key_id() << " (version " << k.version() << ", signed by " << k.signed_by()
             << ")\n";
  }
  *ctx.out << "signing with:    targets key " << t.serving_targets_key_id() << "\n";
  for (const v1::TrustMetadata::Key& k : t.delegations()) {
    *ctx.out << "delegation:      targets key " << k.key_id() << " version " << k.version() << ", expires "
             << FormatTime(k.expires()) << ", signed by root " << k.signed_by() << "\n";
  }
}

Result Publish(const Invocation& inv, CommandContext& ctx) {
  v1::PublishTrustMetadataRequest req;
  for (const std::string& path : inv.GetAll("root")) {
    absl::StatusOr<v1::SignedEnvelope> e = ReadEnvelope("root", path);
    if (!e.ok()) return Result::Usage(std::string(e.status().message()));
    *req.add_roots() = *std::move(e);
  }
  if (inv.Has("delegation")) {
    absl::StatusOr<v1::SignedEnvelope> e = ReadEnvelope("delegation", inv.Get("delegation"));
    if (!e.ok()) return Result::Usage(std::string(e.status().message()));
    *req.mutable_delegation() = *std::move(e);
  }
  if (req.roots().empty() && !req.has_delegation()) return Result::Usage("give --root=FILE, --delegation=FILE or both");
  v1::TrustMetadata out;
  grpc::Status s = ctx.client->PublishTrustMetadata(req, &out);
  if (!s.ok()) return RpcFailure(s, "publish signed keys", ctx.client->address());
  PrintTrust(ctx, out);
  return Result::Ok();
}

Result Show(const Invocation&, CommandContext& ctx) {
  v1::TrustMetadata out;
  grpc::Status s = ctx.client->GetTrustMetadata(v1::GetTrustMetadataRequest(), &out);
  if (!s.ok()) return RpcFailure(s, "show the signing keys", ctx.client->address());
  PrintTrust(ctx, out);
  return Result::Ok();
}

}  // namespace

std::vector<CommandSpec> KeyCommands() {
  std::vector<CommandSpec> out;
  out.push_back({.words = {"keys", "create-root"},
                 .summary = "offline: create the root key pair (root.key, root.pub) in a directory",
                 .description = "Keep root.key offline: it signs delegations of targets keys and successor roots. "
                                "Pin root.pub on every updater (root_public_key_file) and the coordinator.",
                 .flags = {{"out-dir", "DIR", "where to write root.key (mode 0600) and root.pub", false, true}},
                 .run = CreateRoot});
  out.push_back({.words = {"keys", "create-targets"},
                 .summary = "offline: create a targets key and its delegation signed by the root key",
                 .description = "Writes targets.key (the coordinator's --targets_key_file), targets.pub and "
                                "delegation.pb (publish it with `keys publish`). Rotating the targets key: make a "
                                "new one, publish its delegation, restart every coordinator with the new key. The "
                                "delegation's version must be above every published one: an updater that accepted "
                                "it refuses older delegations from then on, so the retired (maybe stolen) key is "
                                "useless at once, not only when its delegation expires. The version is the current "
                                "Unix time, or above --previous (the delegation published now; `keys show` lists "
                                "versions); the coordinator refuses one that does not grow and says which to use.",
                 .flags = {{"root-key", "FILE", "the root private key (mode 0600)", false, true},
                           {"out-dir", "DIR", "where to write the files", false, true},
                           {"expires-in", "DURATION", "delegation lifetime, default 8760h", false, false},
                           {"previous", "FILE", "the delegation published now: the new version is above its one",
                            false, false},
                           {"version", "N", "delegation version, default the current Unix time (above --previous)",
                            false, false}},
                 .run = CreateTargets});
  out.push_back({.words = {"keys", "sign-root"},
                 .summary = "offline: sign a successor root key with the current root key",
                 .description = "The successor is signed by both keys. Updaters walk the chain from the root they "
                                "pinned and trust the newest from then on.",
                 .flags = {{"root-key", "FILE", "the current root private key", false, true},
                           {"new-root-key", "FILE", "the new root private key (keys create-root)", false, true},
                           {"version", "N", "the new root's version (2 for the first successor)", false, true},
                           {"out", "FILE", "where to write the signed successor", false, true}},
                 .run = SignRoot});
  out.push_back({.words = {"keys", "publish"},
                 .summary = "admin: publish successor roots and/or a delegation to the coordinator",
                 .json = "drover.v1.TrustMetadata",
                 .flags = {{"root", "FILE", "a signed successor root (keys sign-root), oldest first", true, false},
                           {"delegation", "FILE", "a signed delegation (keys create-targets)", false, false}},
                 .run = Publish});
  out.push_back({.words = {"keys", "show"},
                 .summary = "show the pinned root, successors, delegations and their expiries",
                 .json = "drover.v1.TrustMetadata",
                 .run = Show});
  return out;
}

}  // namespace drover::cli
