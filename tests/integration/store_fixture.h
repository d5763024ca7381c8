// The setting most store tests start from: a new database, migrated, with
// one channel "prod" (control plane 15.2.0), and a PgStore on it.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "coordinator/rollout/model.h"
#include "coordinator/server.h"
#include "coordinator/store/pg_store.h"
#include "tests/support/test_env.h"

namespace drover::testing {

class StoreWithChannelTest : public ::testing::Test {
 protected:
  void SetUp() override { SetUpStore("15.2.0"); }

  // `target`: prod's target version.
  void SetUpStore(const std::string& target) {
    db_ = NewTestDatabase();
    ASSERT_TRUE(RunMigrations(db_, absl::Seconds(10)).ok());
    store_ = std::make_unique<store::PgStore>(store::PgStoreOptions{.url = db_});
    rollout::Channel c;
    c.id = "prod";
    c.control_plane_version = "15.2.0";
    c.target_version = target;
    ASSERT_TRUE(store_->CreateChannel(c).ok());
  }

  std::string db_;
  std::unique_ptr<store::PgStore> store_;
};

}  // namespace drover::testing
