// Signed target metadata (common/trust/metadata.h): what an updater decides
// from the bytes the coordinator (or anyone between) sends. The keys are
// fixed (test keys, below), so the seeds hold VALID signed answers and the
// fuzzer works on everything around the signatures: extra or reordered
// signatures, root chains, unknown fields, the channel, `now` and the
// highest version seen.
//
// Input: 3 header bytes then a serialized drover.v1.SignedTargetMetadata.
//   byte 0: last_seen_version, as int8
//   byte 1: now = kBaseTime + int8 days
//   byte 2: the channel asked for, from kChannels
// Invariants: a refusal is PermissionDenied, InvalidArgument or "metadata
// expired" with a one-line valid UTF-8 message; an accepted answer is for
// the channel asked, at least last_seen_version, not expired (nor its
// delegation), its target within the signed control-plane version, its root
// reached from the pinned one; flipping any byte of an accepted answer's
// signed target or delegation payload, or of its target signature, makes it
// refused.
//
// DROVER_FUZZ_WRITE_SEEDS=<dir> bin/target_metadata_fuzzer writes the seed
// corpus (tests/fuzz/corpus/target_metadata_fuzzer/) and exits: Ed25519
// signatures are deterministic, so it writes the same files every time.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <unordered_set>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/semver.h"
#include "common/text.h"
#include "common/trust/keys.h"
#include "common/trust/metadata.h"
#include "drover/v1/metadata.pb.h"
#include "google/protobuf/stubs/logging.h"
#include "tests/fuzz/fuzz_check.h"

namespace drover::fuzz {
namespace {

using trust::Role;

// Test keys, generated once with `openssl genpkey -algorithm ed25519`; they
// sign nothing but this corpus.
constexpr char kRoot1Pem[] = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEID975SvQHh+HSd1C6e+pXFftYKdC1xD41VHqxZv8WXl3\n-----END PRIVATE KEY-----\n";
constexpr char kRoot2Pem[] = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIHCkWhUICkRaaRWpEVSScHelCdLLpGlr+qggjEDYJHHq\n-----END PRIVATE KEY-----\n";
constexpr char kTargetsPem[] = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIFo6i/LnzKah6z3eUcdfkWDwCCgu3xCBr9fE78Td+7ou\n-----END PRIVATE KEY-----\n";

const absl::Time kBaseTime = absl::FromUnixSeconds(1800000000);
constexpr const char* kChannels[] = {"stable", "beta", "", "stable-2"};
constexpr size_t kHeader = 3;

const trust::TrustedRoot& Pinned() {
  static const trust::TrustedRoot* root = [] {
    absl::StatusOr<trust::TrustedRoot> r = trust::TrustedRootFromPem(kRoot1Pem, "root1");
    if (!r.ok()) std::abort();
    return new trust::TrustedRoot(*r);
  }();
  return *root;
}

google::protobuf::Timestamp Ts(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  return ts;
}

absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// True the first time `key` is seen (remembering a bounded number).
bool FirstTime(const std::string& key) {
  static auto* seen = new std::unordered_set<std::string>();
  if (seen->size() > 100000) seen->clear();
  return seen->insert(key).second;
}

void CheckRefusal(const absl::Status& s) {
  FUZZ_CHECK(absl::IsPermissionDenied(s) || absl::IsInvalidArgument(s) || trust::IsMetadataExpired(s), s.ToString());
  FUZZ_CHECK(IsValidUtf8(s.message()), Show(s.message()));
  FUZZ_CHECK(!absl::StrContains(s.message(), '\n'), Show(s.message()));
}

// `m` with one byte of `bytes` (a field of it) changed must be refused.
void CheckEachFlipRefused(const v1::SignedTargetMetadata& accepted, std::string* bytes, const char* what,
                          const v1::SignedTargetMetadata& m, absl::string_view channel, int64_t last_seen,
                          absl::Time now) {
  for (size_t i = 0; i < bytes->size(); ++i) {
    (*bytes)[i] = static_cast<char>((*bytes)[i] ^ (1 + i % 255));
    absl::StatusOr<trust::VerifiedTarget> v = trust::VerifyTargetMetadata(m, Pinned(), channel, last_seen, now);
    (*bytes)[i] = static_cast<char>((*bytes)[i] ^ (1 + i % 255));
    FUZZ_CHECK(!v.ok(), absl::StrCat(what, " byte ", i, " changed, still accepted: ",
                                     Show(accepted.SerializeAsString())));
    CheckRefusal(v.status());
  }
}

void CheckAccepted(const trust::VerifiedTarget& v, absl::string_view input, absl::string_view channel,
                   int64_t last_seen, absl::Time now) {
  const v1::TargetMetadata& t = v.target;
  FUZZ_CHECK(t.channel() == channel, Show(t.channel()) + " asked " + Show(channel));
  FUZZ_CHECK(t.version() >= last_seen, absl::StrCat(t.version(), " < ", last_seen));
  FUZZ_CHECK(now < TimeOf(t.expires()), absl::StrCat("expired ", absl::FormatTime(TimeOf(t.expires()))));
  if (!t.target_version().empty()) {
    absl::StatusOr<Semver> target = Semver::Parse(t.target_version());
    absl::StatusOr<Semver> cp = Semver::Parse(t.control_plane_version());
    FUZZ_CHECK(target.ok() && cp.ok(), Show(t.target_version()) + " cp " + Show(t.control_plane_version()));
    FUZZ_CHECK(!(*target > *cp), t.target_version() + " above " + t.control_plane_version());
  }
  FUZZ_CHECK(v.root.version >= Pinned().version, absl::StrCat(v.root.version));
  FUZZ_CHECK(v.root.version != Pinned().version || v.root.key_id == Pinned().key_id, v.root.key_id);
  FUZZ_CHECK(v.root.key_id == trust::KeyId(v.root.public_key), v.root.key_id);

  v1::SignedTargetMetadata m;
  FUZZ_CHECK(m.ParseFromArray(input.data(), static_cast<int>(input.size())), "accepted, does not parse");
  v1::TargetsDelegation d;
  FUZZ_CHECK(d.ParseFromString(m.delegation().payload()), "delegation");
  FUZZ_CHECK(now < TimeOf(d.expires()), absl::StrCat("delegation expired ", absl::FormatTime(TimeOf(d.expires()))));
  FUZZ_CHECK(d.targets_key().key_id() == v.targets_key_id, v.targets_key_id);
  FUZZ_CHECK(d.root_key_id() == v.root.key_id, d.root_key_id());

  // Signed bytes cannot change: the target's and the delegation's payloads.
  // A few hundred verifications: once per signed content (the fuzzer keeps
  // mutating the unsigned rest of an accepted answer).
  if (!FirstTime(absl::StrCat(m.target().payload(), "\0", m.delegation().payload()))) return;
  const v1::SignedTargetMetadata accepted = m;
  CheckEachFlipRefused(accepted, m.mutable_target()->mutable_payload(), "target payload", m, channel, last_seen, now);
  CheckEachFlipRefused(accepted, m.mutable_delegation()->mutable_payload(), "delegation payload", m, channel,
                       last_seen, now);
  // Nor the signature, when it is the only one.
  if (m.target().signatures_size() == 1) {
    CheckEachFlipRefused(accepted, m.mutable_target()->mutable_signatures(0)->mutable_signature(),
                         "target signature", m, channel, last_seen, now);
  }
}

// --- Seeds -------------------------------------------------------------------

trust::SigningKey Key(const char* pem) {
  absl::StatusOr<trust::SigningKey> k = trust::SigningKey::FromPem(pem, "test key");
  if (!k.ok()) std::abort();
  return *std::move(k);
}

v1::SignedEnvelope Delegate(const trust::SigningKey& root, const trust::SigningKey& targets, absl::Time expires) {
  v1::TargetsDelegation d;
  d.set_root_key_id(root.key_id());
  *d.mutable_targets_key() = trust::PublicKeyProto(targets.public_key());
  d.set_version(1);
  *d.mutable_created() = Ts(kBaseTime - absl::Hours(24));
  *d.mutable_expires() = Ts(expires);
  return *trust::Sign(Role::kDelegation, d, {&root});
}

v1::TargetMetadata Target(const std::string& channel, int64_t version, const std::string& target,
                          const std::string& cp) {
  v1::TargetMetadata t;
  t.set_fleet("demo");
  t.set_channel(channel);
  t.set_version(version);
  *t.mutable_signed_time() = Ts(kBaseTime);
  *t.mutable_expires() = Ts(kBaseTime + trust::kTargetMetadataLifetime);
  t.set_target_version(target);
  t.set_control_plane_version(cp);
  return t;
}

void WriteSeed(const std::string& dir, const std::string& name, int8_t last_seen, int8_t days, uint8_t channel,
               const v1::SignedTargetMetadata& m) {
  std::string bytes;
  bytes.push_back(static_cast<char>(last_seen));
  bytes.push_back(static_cast<char>(days));
  bytes.push_back(static_cast<char>(channel));
  bytes += m.SerializeAsString();
  // A seed is what its name says: "valid-*" verifies, the others do not.
  absl::StatusOr<trust::VerifiedTarget> v =
      trust::VerifyTargetMetadata(m, Pinned(), kChannels[channel % 4], last_seen, kBaseTime + absl::Hours(24) * days);
  if (v.ok() != absl::StartsWith(name, "valid-")) {
    std::fprintf(stderr, "seed %s: %s\n", name.c_str(), v.status().ToString().c_str());
    std::abort();
  }
  std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
}

void WriteSeeds(const std::string& dir) {
  const trust::SigningKey root1 = Key(kRoot1Pem), root2 = Key(kRoot2Pem), targets = Key(kTargetsPem);
  const absl::Time year = kBaseTime + absl::Hours(24 * 365);
  auto answer = [&](const trust::SigningKey& root, const v1::TargetMetadata& t) {
    v1::SignedTargetMetadata m;
    *m.mutable_delegation() = Delegate(root, targets, year);
    *m.mutable_target() = *trust::Sign(Role::kTarget, t, {&targets});
    return m;
  };
  // Valid: a target, at the version seen so far.
  WriteSeed(dir, "valid-stable", 5, 0, 0, answer(root1, Target("stable", 5, "1.2.0", "1.3.0")));
  // Valid: critical, downgrade allowed, a window, a poll interval; beta.
  v1::TargetMetadata rich = Target("beta", 9, "1.3.0", "1.3.0");
  rich.set_critical(true);
  rich.set_downgrade_allowed(true);
  rich.add_maintenance_windows();
  rich.mutable_poll_interval()->set_seconds(60);
  WriteSeed(dir, "valid-beta-critical", 3, 1, 1, answer(root1, rich));
  // Valid: no target set.
  WriteSeed(dir, "valid-no-target", 0, 0, 0, answer(root1, Target("stable", 1, "", "")));
  // Valid: the root rotated to root2 (signed by both), which signs the delegation.
  {
    v1::RootMetadata r;
    r.set_version(2);
    *r.mutable_key() = trust::PublicKeyProto(root2.public_key());
    r.set_previous_key_id(root1.key_id());
    *r.mutable_created() = Ts(kBaseTime);
    v1::SignedTargetMetadata m = answer(root2, Target("stable", 7, "1.3.0", "1.3.0"));
    *m.add_root_chain() = *trust::Sign(Role::kRoot, r, {&root1, &root2});
    WriteSeed(dir, "valid-rotated-root", 6, 2, 0, m);
  }
  // Refused: expired (day 8), replayed (seen 6), another channel, target above
  // the control plane, delegation by an unpinned root. Then valid: a junk
  // signature by the targets key beside its good one.
  WriteSeed(dir, "expired", 5, 8, 0, answer(root1, Target("stable", 5, "1.2.0", "1.3.0")));
  WriteSeed(dir, "replayed", 6, 0, 0, answer(root1, Target("stable", 5, "1.2.0", "1.3.0")));
  WriteSeed(dir, "other-channel", 0, 0, 1, answer(root1, Target("stable", 5, "1.2.0", "1.3.0")));
  WriteSeed(dir, "above-control-plane", 0, 0, 0, answer(root1, Target("stable", 5, "1.4.0", "1.3.0")));
  WriteSeed(dir, "unpinned-root", 0, 0, 0, answer(root2, Target("stable", 5, "1.2.0", "1.3.0")));
  {
    v1::SignedTargetMetadata m = answer(root1, Target("stable", 5, "1.2.0", "1.3.0"));
    *m.mutable_target()->add_signatures() = m.target().signatures(0);
    m.mutable_target()->mutable_signatures(0)->set_signature(std::string(64, 'x'));
    WriteSeed(dir, "valid-two-signatures", 5, 0, 0, m);
  }
}

}  // namespace
}  // namespace drover::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) { return drover::fuzz::Initialize(drover::fuzz::WriteSeeds); }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace drover;
  if (size < fuzz::kHeader) return 0;
  const int64_t last_seen = static_cast<int8_t>(data[0]);
  const absl::Time now = fuzz::kBaseTime + absl::Hours(24) * static_cast<int8_t>(data[1]);
  const absl::string_view channel = fuzz::kChannels[data[2] % 4];
  const absl::string_view input = fuzz::AsText(data + fuzz::kHeader, size - fuzz::kHeader);
  absl::StatusOr<trust::VerifiedTarget> v = trust::VerifyTargetMetadata(input, fuzz::Pinned(), channel, last_seen, now);
  if (!v.ok()) {
    fuzz::CheckRefusal(v.status());
    return 0;
  }
  fuzz::CheckAccepted(*v, input, channel, last_seen, now);
  return 0;
}
