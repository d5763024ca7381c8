#include "common/trust/metadata.h"

#include <gtest/gtest.h>

#include "common/status_testing.h"

namespace drover::trust {
namespace {

using ::drover::testing::IsError;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

google::protobuf::Timestamp Ts(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  return ts;
}

SigningKey NewKey() { return *SigningKey::Generate(); }

v1::SignedEnvelope Delegate(const SigningKey& root, const SigningKey& targets, absl::Time expires, int64_t version = 1) {
  v1::TargetsDelegation d;
  d.set_root_key_id(root.key_id());
  *d.mutable_targets_key() = PublicKeyProto(targets.public_key());
  d.set_version(version);
  *d.mutable_expires() = Ts(expires);
  return *Sign(Role::kDelegation, d, {&root});
}

v1::TargetMetadata Target(const std::string& channel, int64_t version, const std::string& target = "1.2.0") {
  v1::TargetMetadata t;
  t.set_channel(channel);
  t.set_version(version);
  *t.mutable_signed_time() = Ts(kNow);
  *t.mutable_expires() = Ts(kNow + kTargetMetadataLifetime);
  t.set_target_version(target);
  t.set_control_plane_version("1.3.0");
  return t;
}

v1::SignedEnvelope Successor(const SigningKey& old_root, const SigningKey& next, int64_t version) {
  v1::RootMetadata r;
  r.set_version(version);
  *r.mutable_key() = PublicKeyProto(next.public_key());
  r.set_previous_key_id(old_root.key_id());
  return *Sign(Role::kRoot, r, {&old_root, &next});
}

class VerifyTest : public ::testing::Test {
 protected:
  v1::SignedTargetMetadata Good(int64_t version = 5, const std::string& channel = "stable") {
    v1::SignedTargetMetadata m;
    *m.mutable_delegation() = Delegate(root_, targets_, kNow + absl::Hours(24 * 30));
    *m.mutable_target() = *Sign(Role::kTarget, Target(channel, version), {&targets_});
    return m;
  }
  TrustedRoot Pinned() const { return TrustedRootFromRaw(root_.public_key()); }

  SigningKey root_ = NewKey();
  SigningKey targets_ = NewKey();
};

TEST_F(VerifyTest, GoodAnswerVerifies) {
  absl::StatusOr<VerifiedTarget> v = VerifyTargetMetadata(Good(), Pinned(), "stable", 5, kNow);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->target.target_version(), "1.2.0");
  EXPECT_EQ(v->target.version(), 5);
  EXPECT_EQ(v->root.key_id, root_.key_id());
  EXPECT_EQ(v->targets_key_id, targets_.key_id());
  // The bytes entry point agrees.
  EXPECT_TRUE(VerifyTargetMetadata(Good().SerializeAsString(), Pinned(), "stable", 0, kNow).ok());
  EXPECT_TRUE(IsError(VerifyTargetMetadata(absl::string_view("\xff\xff"), Pinned(), "stable", 0, kNow).status(),
                      absl::StatusCode::kInvalidArgument, {"does not parse"}));
}

TEST_F(VerifyTest, RolloutStartVersionIsSignedAndMustBeAVersion) {
  v1::TargetMetadata t = Target("stable", 5, "2.0.0");
  t.set_control_plane_version("2.0.0");
  t.set_rollout_mode(v1::TargetMetadata::ROLLOUT_MODE_HOLDING);
  t.set_rollout_start_version("1.9.0");
  v1::SignedTargetMetadata m = Good();
  *m.mutable_target() = *Sign(Role::kTarget, t, {&targets_});
  absl::StatusOr<VerifiedTarget> v = VerifyTargetMetadata(m, Pinned(), "stable", 0, kNow);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->target.rollout_start_version(), "1.9.0");
  EXPECT_EQ(v->target.rollout_mode(), v1::TargetMetadata::ROLLOUT_MODE_HOLDING);

  // Changed on the way: the signature covers it.
  v1::TargetMetadata changed = t;
  changed.set_rollout_mode(v1::TargetMetadata::ROLLOUT_MODE_ROLLED_BACK);
  v1::SignedTargetMetadata tampered = m;
  tampered.mutable_target()->set_payload(changed.SerializeAsString());
  EXPECT_TRUE(IsError(VerifyTargetMetadata(tampered, Pinned(), "stable", 0, kNow).status(),
                      absl::StatusCode::kPermissionDenied, {"bad signature"}));

  // Signed, but not a version.
  t.set_rollout_start_version("1.9");
  *m.mutable_target() = *Sign(Role::kTarget, t, {&targets_});
  EXPECT_TRUE(IsError(VerifyTargetMetadata(m, Pinned(), "stable", 0, kNow).status(),
                      absl::StatusCode::kPermissionDenied, {"signed rollout start version", "1.9"}));
}

TEST_F(VerifyTest, UnsignedAnswerRefused) {
  EXPECT_TRUE(IsError(VerifyTargetMetadata(v1::SignedTargetMetadata(), Pinned(), "stable", 0, kNow).status(),
                      absl::StatusCode::kPermissionDenied, {"not signed"}));
}

TEST_F(VerifyTest, TamperedPayloadRefused) {
  v1::SignedTargetMetadata m = Good();
  v1::TargetMetadata t;
  ASSERT_TRUE(t.ParseFromString(m.target().payload()));
  t.set_target_version("1.3.0");
  m.mutable_target()->set_payload(t.SerializeAsString());
  EXPECT_TRUE(IsError(VerifyTargetMetadata(m, Pinned(), "stable", 0, kNow).status(),
                      absl::StatusCode::kPermissionDenied, {"bad signature"}));
}

TEST_F(VerifyTest, AnswerSignedByAnUndelegatedKeyRefused) {
  SigningKey other = NewKey();
  v1::SignedTargetMetadata m = Good();
  *m.mutable_target() = *Sign(Role::kTarget, Target("stable", 5), {&other});
  EXPECT_TRUE(IsError(VerifyTargetMetadata(m, Pinned(), "stable", 0, kNow).status(),
                      absl::StatusCode::kPermissionDenied, {"target metadata is not signed by key"}));
}

TEST_F(VerifyTest, DelegationByANonRootKeyRefused) {
  SigningKey impostor = NewKey();
  v1::SignedTargetMetadata m = Good();
  *m.mutable_delegation() = Delegate(impostor, targets_, kNow + absl::Hours(24));
  EXPECT_TRUE(IsError(VerifyTargetMetadata(m, Pinned(), "stable", 0, kNow).status(),
                      absl::StatusCode::kPermissionDenied, {"delegation metadata is not signed by key"}));
}

TEST_F(VerifyTest, PayloadOfAnotherRoleDoesNotVerify) {
  // A delegation's signed bytes presented as a target answer.
  v1::SignedTargetMetadata m = Good();
  *m.mutable_target() = Delegate(targets_, targets_, kNow + absl::Hours(24));
  EXPECT_TRUE(IsError(VerifyTargetMetadata(m, Pinned(), "stable", 0, kNow).status(),
                      absl::StatusCode::kPermissionDenied, {"bad signature"}));
}

TEST_F(VerifyTest, ExpiredDelegationIsExpired) {
  v1::SignedTargetMetadata m = Good();
  *m.mutable_delegation() = Delegate(root_, targets_, kNow - absl::Seconds(1));
  absl::Status s = VerifyTargetMetadata(m, Pinned(), "stable", 0, kNow).status();
  EXPECT_TRUE(IsError(s, absl::StatusCode::kFailedPrecondition, {"metadata expired", "delegation"}));
  EXPECT_TRUE(IsMetadataExpired(s));
}

TEST_F(VerifyTest, AnotherChannelsAnswerRefused) {
  EXPECT_TRUE(IsError(VerifyTargetMetadata(Good(5, "beta"), Pinned(), "stable", 0, kNow).status(),
                      absl::StatusCode::kPermissionDenied, {"channel \"beta\"", "not \"stable\""}));
}

TEST_F(VerifyTest, OlderVersionRefusedAsReplay) {
  EXPECT_TRUE(IsError(VerifyTargetMetadata(Good(4), Pinned(), "stable", 5, kNow).status(),
                      absl::StatusCode::kPermissionDenied, {"version 4", "(5)", "replayed"}));
  // The same version again is the same answer: accepted.
  EXPECT_TRUE(VerifyTargetMetadata(Good(5), Pinned(), "stable", 5, kNow).ok());
}

TEST_F(VerifyTest, ARetiredTargetsKeyIsRefusedOnceANewerDelegationWasAccepted) {
  // The targets key is rotated: delegation 2 certifies a new key.
  SigningKey next = NewKey();
  v1::SignedTargetMetadata rotated;
  *rotated.mutable_delegation() = Delegate(root_, next, kNow + absl::Hours(24 * 30), 2);
  *rotated.mutable_target() = *Sign(Role::kTarget, Target("stable", 6), {&next});
  absl::StatusOr<VerifiedTarget> v = VerifyTargetMetadata(rotated, Pinned(), "stable", 5, kNow, 1);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->delegation_version, 2);
  // The retired (stolen) key still has a valid, unexpired delegation 1: what
  // it signs is refused, whatever metadata version it claims, and as a
  // refusal, not as an expiry.
  v1::SignedTargetMetadata stolen = Good(1000);
  absl::Status s = VerifyTargetMetadata(stolen, Pinned(), "stable", 6, kNow, v->delegation_version).status();
  EXPECT_TRUE(IsError(s, absl::StatusCode::kPermissionDenied,
                      {"delegation version 1", "below the highest accepted (2)", "retired targets key"}));
  *stolen.mutable_delegation() = Delegate(root_, targets_, kNow - absl::Seconds(1), 1);
  s = VerifyTargetMetadata(stolen, Pinned(), "stable", 6, kNow, 2).status();
  EXPECT_TRUE(IsError(s, absl::StatusCode::kPermissionDenied, {"delegation version 1"}));
  EXPECT_FALSE(IsMetadataExpired(s));
  // The accepted delegation itself stays acceptable (same version).
  EXPECT_TRUE(VerifyTargetMetadata(rotated, Pinned(), "stable", 6, kNow, 2).ok());
}

TEST_F(VerifyTest, ExpiredAnswerIsExpired) {
  absl::Status s =
      VerifyTargetMetadata(Good(), Pinned(), "stable", 0, kNow + kTargetMetadataLifetime).status();
  EXPECT_TRUE(IsError(s, absl::StatusCode::kFailedPrecondition, {"metadata expired", "channel \"stable\""}));
  EXPECT_TRUE(IsMetadataExpired(s));
  EXPECT_FALSE(IsMetadataExpired(absl::FailedPreconditionError("other")));
}

TEST_F(VerifyTest, TargetAboveItsControlPlaneRefused) {
  v1::SignedTargetMetadata m = Good();
  v1::TargetMetadata t = Target("stable", 5, "1.4.0");
  *m.mutable_target() = *Sign(Role::kTarget, t, {&targets_});
  EXPECT_TRUE(IsError(VerifyTargetMetadata(m, Pinned(), "stable", 0, kNow).status(),
                      absl::StatusCode::kPermissionDenied, {"1.4.0", "1.3.0"}));
}

TEST_F(VerifyTest, RootRotationChainIsWalkedAndPinned) {
  SigningKey root2 = NewKey();
  SigningKey root3 = NewKey();
  v1::SignedTargetMetadata m = Good();
  *m.add_root_chain() = Successor(root_, root2, 2);
  *m.add_root_chain() = Successor(root2, root3, 3);
  *m.mutable_delegation() = Delegate(root3, targets_, kNow + absl::Hours(24));
  absl::StatusOr<VerifiedTarget> v = VerifyTargetMetadata(m, Pinned(), "stable", 0, kNow);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->root.key_id, root3.key_id());
  EXPECT_EQ(v->root.version, 3);
  // From the newest root on, the walked links are skipped.
  EXPECT_TRUE(VerifyTargetMetadata(m, v->root, "stable", 0, kNow).ok());
  // The old root no longer certifies delegations once the updater moved on.
  v1::SignedTargetMetadata old = Good();
  EXPECT_TRUE(IsError(VerifyTargetMetadata(old, v->root, "stable", 0, kNow).status(),
                      absl::StatusCode::kPermissionDenied, {"delegation metadata is not signed"}));
}

TEST_F(VerifyTest, ForgedRootSuccessorRefused) {
  SigningKey attacker = NewKey();
  v1::SignedTargetMetadata m = Good();
  // Signed only by the attacker's key, claiming to succeed the pinned root.
  v1::RootMetadata r;
  r.set_version(2);
  *r.mutable_key() = PublicKeyProto(attacker.public_key());
  r.set_previous_key_id(root_.key_id());
  *m.add_root_chain() = *Sign(Role::kRoot, r, {&attacker});
  *m.mutable_delegation() = Delegate(attacker, targets_, kNow + absl::Hours(24));
  EXPECT_TRUE(IsError(VerifyTargetMetadata(m, Pinned(), "stable", 0, kNow).status(),
                      absl::StatusCode::kPermissionDenied, {"root version 2", "not signed by key"}));
  // Signed by the old root but not by the new key itself.
  *m.mutable_root_chain(0) = *Sign(Role::kRoot, r, {&root_});
  EXPECT_TRUE(IsError(VerifyTargetMetadata(m, Pinned(), "stable", 0, kNow).status(),
                      absl::StatusCode::kPermissionDenied, {"root version 2"}));
  // A gap in the chain.
  SigningKey root3 = NewKey();
  m.clear_root_chain();
  *m.add_root_chain() = Successor(root_, root3, 3);
  EXPECT_TRUE(IsError(VerifyTargetMetadata(m, Pinned(), "stable", 0, kNow).status(),
                      absl::StatusCode::kPermissionDenied, {"jumps from version 1 to 3"}));
}

TEST_F(VerifyTest, KeyIdMustMatchTheKey) {
  v1::TargetsDelegation d;
  d.set_root_key_id(root_.key_id());
  *d.mutable_targets_key() = PublicKeyProto(targets_.public_key());
  d.mutable_targets_key()->set_key_id(root_.key_id());
  *d.mutable_expires() = Ts(kNow + absl::Hours(1));
  v1::SignedTargetMetadata m = Good();
  *m.mutable_delegation() = *Sign(Role::kDelegation, d, {&root_});
  EXPECT_TRUE(IsError(VerifyTargetMetadata(m, Pinned(), "stable", 0, kNow).status(),
                      absl::StatusCode::kPermissionDenied, {"does not match its key"}));
}

}  // namespace
}  // namespace drover::trust
