// Signed target metadata against a real PostgreSQL: the metadata version
// grows with every change and every re-signing, replicas re-signing at once
// stay consistent, and only material chaining to the pinned root is stored.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "common/clock.h"
#include "common/status_testing.h"
#include "coordinator/api/target_signer.h"
#include "coordinator/api/trust_service.h"
#include "coordinator/server.h"
#include "coordinator/store/pg_store.h"
#include "proto/wire/time.h"
#include "tests/integration/store_fixture.h"
#include "tests/support/test_env.h"
#include "common/trust/metadata.h"

namespace drover {
namespace {

using ::drover::testing::IsError;
using ::drover::testing::NewTestDatabase;
using store::PgStore;
using store::PgStoreOptions;

const absl::Time kStart = absl::FromUnixSeconds(1800000000);

v1::SignedEnvelope Delegation(const trust::SigningKey& root, const trust::SigningKey& targets, absl::Time expires,
                              int64_t version = 1) {
  v1::TargetsDelegation d;
  d.set_root_key_id(root.key_id());
  *d.mutable_targets_key() = trust::PublicKeyProto(targets.public_key());
  d.set_version(version);
  wire::TimeToProto(expires, d.mutable_expires());
  return *trust::Sign(trust::Role::kDelegation, d, {&root});
}

class MetadataStoreTest : public ::drover::testing::StoreWithChannelTest {
 protected:
  void SetUp() override { SetUpStore("15.1.0"); }

  std::unique_ptr<api::TargetSigner> Signer(PgStore* store, const Clock* clock,
                                            const v1::SignedEnvelope* delegation = nullptr) {
    absl::StatusOr<std::unique_ptr<api::TargetSigner>> s =
        api::TargetSigner::Create(store, clock, targets_, trust::TrustedRootFromRaw(root_.public_key()),
                                  {.cache_ttl = absl::ZeroDuration()}, delegation);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }

  // Verifies as an updater would, returning the payload.
  v1::TargetMetadata Verified(const v1::SignedTargetMetadata& m, absl::Time now, int64_t last_seen = 0) {
    absl::StatusOr<trust::VerifiedTarget> v =
        trust::VerifyTargetMetadata(m, trust::TrustedRootFromRaw(root_.public_key()), "prod", last_seen, now);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? v->target : v1::TargetMetadata();
  }

  void SetTarget(const std::string& version) {
    ASSERT_TRUE(store_
                    ->UpdateChannel("prod",
                                    [&](rollout::Channel& c, std::vector<rollout::ChannelChange>& changes) {
                                      c.target_version = version;
                                      c.target_allows_downgrade = true;
                                      changes.push_back({.field = "target_version", .starts_target_epoch = true});
                                      return absl::OkStatus();
                                    })
                    .ok());
  }

  int64_t StoredVersion() {
    return std::stoll(testing::QueryValue(db_, "SELECT version FROM channel_metadata WHERE channel = 'prod'"));
  }

  trust::SigningKey root_ = *trust::SigningKey::Generate();
  trust::SigningKey targets_ = *trust::SigningKey::Generate();
  FakeClock clock_{kStart};
};

TEST_F(MetadataStoreTest, WithoutADelegationTheSignerSaysWhatToDo) {
  absl::StatusOr<std::unique_ptr<api::TargetSigner>> s = api::TargetSigner::Create(
      store_.get(), &clock_, targets_, trust::TrustedRootFromRaw(root_.public_key()), {});
  EXPECT_TRUE(IsError(s.status(), absl::StatusCode::kFailedPrecondition,
                      {targets_.key_id(), "none is published", "droverctl keys create-targets"}));
}

TEST_F(MetadataStoreTest, VersionGrowsOnEveryChangeAndEveryResignOnly) {
  const v1::SignedEnvelope d = Delegation(root_, targets_, kStart + absl::Hours(24 * 365));
  std::unique_ptr<api::TargetSigner> signer = Signer(store_.get(), &clock_, &d);
  ASSERT_NE(signer, nullptr);

  absl::StatusOr<v1::SignedTargetMetadata> a = signer->Get("prod");
  ASSERT_TRUE(a.ok()) << a.status();
  v1::TargetMetadata t = Verified(*a, clock_.Now());
  EXPECT_EQ(t.version(), 1);
  EXPECT_EQ(t.target_version(), "15.1.0");
  EXPECT_EQ(t.control_plane_version(), "15.2.0");
  EXPECT_EQ(wire::TimeFromProto(t.expires()), kStart + trust::kTargetMetadataLifetime);

  // Asked again, nothing changed: the same signed answer.
  clock_.Advance(absl::Hours(1));
  absl::StatusOr<v1::SignedTargetMetadata> same = signer->Get("prod");
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->target().SerializeAsString(), a->target().SerializeAsString());
  EXPECT_EQ(StoredVersion(), 1);

  // A change: version 2, with the new target.
  SetTarget("15.2.0");
  t = Verified(*signer->Get("prod"), clock_.Now(), 1);
  EXPECT_EQ(t.version(), 2);
  EXPECT_EQ(t.target_version(), "15.2.0");

  // Just before the re-signing point: unchanged. Past it: re-signed as 3.
  clock_.Set(kStart + absl::Hours(1) + trust::kTargetMetadataLifetime - trust::kResignWhenLeft - absl::Minutes(1));
  EXPECT_EQ(Verified(*signer->Get("prod"), clock_.Now(), 2).version(), 2);
  clock_.Advance(absl::Minutes(2));
  t = Verified(*signer->Get("prod"), clock_.Now(), 2);
  EXPECT_EQ(t.version(), 3);
  EXPECT_EQ(wire::TimeFromProto(t.expires()), clock_.Now() + trust::kTargetMetadataLifetime);
  EXPECT_EQ(StoredVersion(), 3);

  // Deleted and made again: the version keeps counting up.
  ASSERT_TRUE(store_->DeleteChannel("prod", true).ok());
  EXPECT_TRUE(IsError(signer->Get("prod").status(), absl::StatusCode::kNotFound));
  rollout::Channel c;
  c.id = "prod";
  c.control_plane_version = "15.2.0";
  ASSERT_TRUE(store_->CreateChannel(c).ok());
  t = Verified(*signer->Get("prod"), clock_.Now(), 3);
  EXPECT_EQ(t.version(), 4);
  EXPECT_EQ(t.target_version(), "");
}

TEST_F(MetadataStoreTest, ReplicasResigningAtOnceStayConsistent) {
  const v1::SignedEnvelope d = Delegation(root_, targets_, kStart + absl::Hours(24 * 365));
  PgStore replica_b(PgStoreOptions{.url = db_});
  std::unique_ptr<api::TargetSigner> a = Signer(store_.get(), &clock_, &d);
  std::unique_ptr<api::TargetSigner> b = Signer(&replica_b, &clock_);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(a->Get("prod").ok());
  ASSERT_EQ(StoredVersion(), 1);

  // Both replicas find the answer due for re-signing at the same moment.
  clock_.Advance(trust::kTargetMetadataLifetime - trust::kResignWhenLeft + absl::Minutes(1));
  std::mutex mu;
  std::map<int64_t, std::string> payload_of_version;
  bool conflict = false;
  auto poll = [&](api::TargetSigner* s) {
    for (int i = 0; i < 20; ++i) {
      absl::StatusOr<v1::SignedTargetMetadata> m = s->Get("prod");
      ASSERT_TRUE(m.ok()) << m.status();
      v1::TargetMetadata t = Verified(*m, clock_.Now());
      std::lock_guard<std::mutex> lock(mu);
      auto [it, inserted] = payload_of_version.emplace(t.version(), m->target().payload());
      if (!inserted && it->second != m->target().payload()) conflict = true;
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back(poll, i % 2 == 0 ? a.get() : b.get());
  for (std::thread& t : threads) t.join();
  // Re-signed exactly once, whoever did it; one payload per version.
  EXPECT_EQ(StoredVersion(), 2);
  EXPECT_FALSE(conflict);
  EXPECT_EQ(payload_of_version.count(2), 1u);

  // Changes made while both replicas serve: every version still has one
  // payload, and the stored version counts the changes exactly.
  threads.clear();
  std::atomic<bool> stop{false};
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      while (!stop.load()) {
        absl::StatusOr<v1::SignedTargetMetadata> m = (i == 0 ? a : b)->Get("prod");
        ASSERT_TRUE(m.ok()) << m.status();
        v1::TargetMetadata t = Verified(*m, clock_.Now());
        std::lock_guard<std::mutex> lock(mu);
        auto [it, inserted] = payload_of_version.emplace(t.version(), m->target().payload());
        if (!inserted && it->second != m->target().payload()) conflict = true;
      }
    });
  }
  for (const char* v : {"15.0.0", "15.1.0", "15.2.0"}) {
    SetTarget(v);
    ASSERT_TRUE(a->Get("prod").ok());
  }
  stop = true;
  for (std::thread& t : threads) t.join();
  EXPECT_FALSE(conflict);
  EXPECT_EQ(StoredVersion(), 5);
  EXPECT_EQ(Verified(*b->Get("prod"), clock_.Now(), 5).target_version(), "15.2.0");
}

TEST_F(MetadataStoreTest, PublishStoresOnlyWhatChainsToThePinnedRoot) {
  const v1::SignedEnvelope d = Delegation(root_, targets_, kStart + absl::Hours(24 * 365));
  std::unique_ptr<api::TargetSigner> signer = Signer(store_.get(), &clock_, &d);
  ASSERT_NE(signer, nullptr);
  google::protobuf::RepeatedPtrField<v1::SignedEnvelope> none;

  // A delegation signed by a key that is not the root.
  trust::SigningKey impostor = *trust::SigningKey::Generate();
  trust::SigningKey next_targets = *trust::SigningKey::Generate();
  v1::SignedEnvelope forged = Delegation(impostor, next_targets, kStart + absl::Hours(24));
  EXPECT_TRUE(IsError(signer->Publish(none, &forged), absl::StatusCode::kPermissionDenied,
                      {"refusing the delegation", "not signed by key"}));
  // An expired one.
  v1::SignedEnvelope expired = Delegation(root_, next_targets, kStart - absl::Seconds(1));
  EXPECT_TRUE(IsError(signer->Publish(none, &expired), absl::StatusCode::kPermissionDenied, {"metadata expired"}));
  EXPECT_EQ(testing::QueryValue(db_, "SELECT count(*) FROM trust_delegations"), "1");

  // A forged root successor (signed only by the new key).
  trust::SigningKey root2 = *trust::SigningKey::Generate();
  v1::RootMetadata r;
  r.set_version(2);
  *r.mutable_key() = trust::PublicKeyProto(root2.public_key());
  r.set_previous_key_id(root_.key_id());
  google::protobuf::RepeatedPtrField<v1::SignedEnvelope> roots;
  *roots.Add() = *trust::Sign(trust::Role::kRoot, r, {&root2});
  EXPECT_TRUE(IsError(signer->Publish(roots, nullptr), absl::StatusCode::kPermissionDenied,
                      {"refusing the root chain"}));
  EXPECT_EQ(testing::QueryValue(db_, "SELECT count(*) FROM trust_roots"), "0");

  // Root rotation: the successor signed by both, then the targets key
  // delegated again by the new root. Updaters pinned on the old root follow.
  *roots.Mutable(0) = *trust::Sign(trust::Role::kRoot, r, {&root_, &root2});
  v1::SignedEnvelope by_new_root = Delegation(root2, targets_, kStart + absl::Hours(24 * 30), 2);
  ASSERT_TRUE(signer->Publish(roots, &by_new_root).ok());
  // Publishing the same again changes nothing.
  ASSERT_TRUE(signer->Publish(roots, &by_new_root).ok());
  EXPECT_EQ(testing::QueryValue(db_, "SELECT count(*) FROM trust_roots"), "1");
  absl::StatusOr<v1::SignedTargetMetadata> m = signer->Get("prod");
  ASSERT_TRUE(m.ok()) << m.status();
  absl::StatusOr<trust::VerifiedTarget> v =
      trust::VerifyTargetMetadata(*m, trust::TrustedRootFromRaw(root_.public_key()), "prod", 0, clock_.Now());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->root.key_id, root2.key_id());

  // Another version 2 root is refused.
  trust::SigningKey root2b = *trust::SigningKey::Generate();
  r.mutable_key()->CopyFrom(trust::PublicKeyProto(root2b.public_key()));
  google::protobuf::RepeatedPtrField<v1::SignedEnvelope> other;
  *other.Add() = *trust::Sign(trust::Role::kRoot, r, {&root_, &root2b});
  EXPECT_FALSE(signer->Publish(other, nullptr).ok());
}

// A publication and its audit row are one transaction: a delegation the
// store refuses leaves neither the root published with it nor an ok row, a
// failing audit insert undoes the publication, and TrustService records a
// refusal as a row of its own.
TEST_F(MetadataStoreTest, PublishAndItsAuditRowCommitTogether) {
  const v1::SignedEnvelope d = Delegation(root_, targets_, kStart + absl::Hours(24 * 365), 1);
  std::unique_ptr<api::TargetSigner> signer = Signer(store_.get(), &clock_, &d);
  ASSERT_NE(signer, nullptr);
  api::RpcLog log(&clock_, {});
  api::TrustService service(signer.get(), store_.get(), &log, /*authz=*/nullptr, store_.get());
  trust::SigningKey root2 = *trust::SigningKey::Generate();
  v1::RootMetadata r;
  r.set_version(2);
  *r.mutable_key() = trust::PublicKeyProto(root2.public_key());
  r.set_previous_key_id(root_.key_id());
  trust::SigningKey next_targets = *trust::SigningKey::Generate();
  auto publish = [&](int64_t delegation_version) {
    v1::PublishTrustMetadataRequest req;
    *req.add_roots() = *trust::Sign(trust::Role::kRoot, r, {&root_, &root2});
    *req.mutable_delegation() = Delegation(root2, next_targets, kStart + absl::Hours(24 * 30), delegation_version);
    grpc::ServerContext ctx;
    v1::TrustMetadata out;
    return service.PublishTrustMetadata(&ctx, &req, &out);
  };
  auto audit = [&](const std::string& result, const std::string& column) {
    return testing::QueryValue(db_, absl::StrCat("SELECT coalesce(string_agg(", column, ", ' | ' ORDER BY id), 'none') "
                                                 "FROM audit_events WHERE method LIKE '%PublishTrustMetadata' AND "
                                                 "result = '", result, "'"));
  };

  // The delegation's version does not grow (1 is published): refused by the
  // store after the root was inserted in the same transaction, so nothing.
  grpc::Status refused = publish(1);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(refused.error_message(), "not above the highest published (1)"))
      << refused.error_message();
  EXPECT_TRUE(absl::StrContains(refused.error_message(), "--version=2")) << refused.error_message();
  EXPECT_EQ(testing::QueryValue(db_, "SELECT count(*) FROM trust_roots"), "0");
  EXPECT_EQ(testing::QueryValue(db_, "SELECT count(*) FROM trust_delegations"), "1");
  EXPECT_EQ(audit("ok", "object"), "none");
  EXPECT_TRUE(absl::StartsWith(audit("refused", "reason"), "FAILED_PRECONDITION: delegation version 1"))
      << audit("refused", "reason");

  // The audit insert fails: the publication is undone whole.
  testing::QueryValue(db_, "ALTER TABLE audit_events ADD CONSTRAINT no_trust CHECK (object <> 'trust' OR "
                           "result <> 'ok') NOT VALID");
  grpc::Status failed = publish(2);
  EXPECT_FALSE(failed.ok());
  EXPECT_FALSE(absl::StrContains(failed.error_message(), "no_trust")) << "database text leaked";
  EXPECT_EQ(testing::QueryValue(db_, "SELECT count(*) FROM trust_roots"), "0");
  EXPECT_EQ(testing::QueryValue(db_, "SELECT count(*) FROM trust_delegations"), "1");
  testing::QueryValue(db_, "ALTER TABLE audit_events DROP CONSTRAINT no_trust");

  // Published: one ok row with what it replaced and what it published.
  grpc::Status ok = publish(2);
  ASSERT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(testing::QueryValue(db_, "SELECT count(*) FROM trust_roots"), "1");
  EXPECT_EQ(testing::QueryValue(db_, "SELECT count(*) FROM trust_delegations"), "2");
  EXPECT_EQ(audit("ok", "object || ' ' || old_value"),
            absl::StrCat("trust root version 1; delegation version 1 of targets key ", targets_.key_id()));
  const std::string published = audit("ok", "new_value");
  EXPECT_TRUE(absl::StrContains(published, absl::StrCat("root version 2 (key ", root2.key_id(), ")"))) << published;
  EXPECT_TRUE(absl::StrContains(published, absl::StrCat("delegation version 2 of targets key ", next_targets.key_id())))
      << published;
}

}  // namespace
}  // namespace drover
