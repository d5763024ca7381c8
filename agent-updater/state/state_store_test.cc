#include "agent-updater/state/state_store.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace drover::updater {
namespace {

class StateStoreMachineIdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/drover-state-store-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void WriteMachineId(const std::string& id) {
    std::ofstream(machine_id_) << id << "\n";
  }

  std::string dir_;
  std::string machine_id_ = "";
};

TEST_F(StateStoreMachineIdTest, ACopiedStateDirectoryGetsANewInstanceIdOnAnotherMachine) {
  machine_id_ = dir_ + "/machine-id";
  WriteMachineId("0123456789abcdef0123456789abcdef");
  StateStore store(dir_ + "/state", machine_id_);
  ASSERT_TRUE(store.Init().ok());
  absl::StatusOr<v1::UpdaterState> first = store.Load();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->machine_id(), "0123456789abcdef0123456789abcdef");
  ASSERT_TRUE(store.Save(*first).ok());

  // Same machine: same id.
  absl::StatusOr<v1::UpdaterState> again = store.Load();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->instance_id(), first->instance_id());

  // The directory in a golden image, booted as another machine.
  WriteMachineId("fedcba9876543210fedcba9876543210");
  absl::StatusOr<v1::UpdaterState> clone = store.Load();
  ASSERT_TRUE(clone.ok());
  EXPECT_EQ(clone->instance_id().size(), 32u);
  EXPECT_NE(clone->instance_id(), first->instance_id());
  EXPECT_EQ(clone->machine_id(), "fedcba9876543210fedcba9876543210");
  ASSERT_TRUE(store.Save(*clone).ok());
  absl::StatusOr<v1::UpdaterState> kept = store.Load();
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->instance_id(), clone->instance_id());
}

TEST_F(StateStoreMachineIdTest, NoMachineIdFileSkipsTheCheck) {
  machine_id_ = dir_ + "/machine-id";
  WriteMachineId("0123456789abcdef0123456789abcdef");
  StateStore store(dir_ + "/state", machine_id_);
  ASSERT_TRUE(store.Init().ok());
  absl::StatusOr<v1::UpdaterState> first = store.Load();
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(store.Save(*first).ok());
  std::filesystem::remove(machine_id_);
  absl::StatusOr<v1::UpdaterState> again = store.Load();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->instance_id(), first->instance_id());
  EXPECT_EQ(again->machine_id(), "0123456789abcdef0123456789abcdef");
}

}  // namespace
}  // namespace drover::updater
