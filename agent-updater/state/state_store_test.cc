#include "agent-updater/state/state_store.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/atomic_file.h"

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
  absl::StatusOr<UpdaterState> first = store.Load();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->machine_id(), "0123456789abcdef0123456789abcdef");
  ASSERT_TRUE(store.Save(*first).ok());

  // Same machine: same id.
  absl::StatusOr<UpdaterState> again = store.Load();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->instance_id(), first->instance_id());

  // The directory in a golden image, booted as another machine.
  WriteMachineId("fedcba9876543210fedcba9876543210");
  absl::StatusOr<UpdaterState> clone = store.Load();
  ASSERT_TRUE(clone.ok());
  EXPECT_EQ(clone->instance_id().size(), 32u);
  EXPECT_NE(clone->instance_id(), first->instance_id());
  EXPECT_EQ(clone->machine_id(), "fedcba9876543210fedcba9876543210");
  ASSERT_TRUE(store.Save(*clone).ok());
  absl::StatusOr<UpdaterState> kept = store.Load();
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->instance_id(), clone->instance_id());
}

TEST_F(StateStoreMachineIdTest, NoMachineIdFileSkipsTheCheck) {
  machine_id_ = dir_ + "/machine-id";
  WriteMachineId("0123456789abcdef0123456789abcdef");
  StateStore store(dir_ + "/state", machine_id_);
  ASSERT_TRUE(store.Init().ok());
  absl::StatusOr<UpdaterState> first = store.Load();
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(store.Save(*first).ok());
  std::filesystem::remove(machine_id_);
  absl::StatusOr<UpdaterState> again = store.Load();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->instance_id(), first->instance_id());
  EXPECT_EQ(again->machine_id(), "0123456789abcdef0123456789abcdef");
}

// A state directory written by drover-updater before its state messages
// moved out of drover.v1: testdata/ holds the drover.v1 messages of commit
// b42aa83, every field set, encoded as its StateStore::Save
// (TextFormat::PrintToString) and SavePendingReport (SerializeAsString) do.
// They load as they were, and are written back byte for byte the same.
TEST_F(StateStoreMachineIdTest, LoadsAStateDirectoryWrittenBeforeTheMove) {
  const std::string testdata = std::string(DROVER_SOURCE_DIR) + "/agent-updater/state/testdata";
  absl::StatusOr<std::string> text = ReadFile(testdata + "/state.txtpb");
  ASSERT_TRUE(text.ok()) << text.status();
  absl::StatusOr<std::string> report = ReadFile(testdata + "/report.pb");
  ASSERT_TRUE(report.ok()) << report.status();
  machine_id_ = dir_ + "/machine-id";
  WriteMachineId("4c4c4544004e3510804cb7c04f4e3232");  // the one recorded
  StateStore store(dir_ + "/state", machine_id_);
  ASSERT_TRUE(store.Init().ok());
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/state/state.txtpb", *text, 0600).ok());
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/state/outbox/report.pb", *report, 0600).ok());

  std::string warning;
  absl::StatusOr<UpdaterState> state = store.Load(&warning);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(warning, "");
  EXPECT_EQ(state->cached_target().target().target_version(), "1.1.0");
  EXPECT_TRUE(state->cached_target().target().critical());
  ASSERT_EQ(state->cached_target().target().maintenance_windows_size(), 2);
  EXPECT_EQ(state->cached_target().target().maintenance_windows(0).weekdays(1), v1::WEEKDAY_THURSDAY);
  EXPECT_EQ(state->cached_target().target().poll_interval().nanos(), 500000000);
  EXPECT_EQ(state->cached_target().target().channel_generation(), 7);
  EXPECT_EQ(state->cached_target().fetch_time().seconds(), 1764000099);
  EXPECT_EQ(state->last_sequence(), 41);
  EXPECT_EQ(state->in_progress().to_version(), "1.1.0");
  EXPECT_EQ(state->in_progress().start_time().nanos(), 123456789);
  EXPECT_EQ(state->last_outcome().result(), v1::UPDATE_RESULT_ROLLED_BACK);
  EXPECT_EQ(state->schedule_state(), v1::SCHEDULE_STATE_ONLY_PAST_WINDOWS);
  EXPECT_EQ(state->instance_id(), "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(state->failed_attempts(), 3);
  EXPECT_EQ(state->last_rejection(), "sequence 12: outcomes[0].to_version \"x\": invalid version");
  // Nothing unknown, nothing lost: written back, it is the same file.
  ASSERT_TRUE(store.Save(*state).ok());
  absl::StatusOr<std::string> saved = ReadFile(dir_ + "/state/state.txtpb");
  ASSERT_TRUE(saved.ok());
  EXPECT_EQ(*saved, *text);

  absl::StatusOr<std::optional<PendingReport>> pending = store.LoadPendingReport();
  ASSERT_TRUE(pending.ok()) << pending.status();
  ASSERT_TRUE(pending->has_value());
  const PendingReport& r = **pending;
  EXPECT_EQ(r.request().channel(), "channels/stable/cloud");
  EXPECT_EQ(r.request().sequence(), 42);
  EXPECT_EQ(r.request().health(), v1::HEALTH_UNHEALTHY);
  ASSERT_EQ(r.request().outcomes_size(), 2);
  EXPECT_EQ(r.request().outcomes(1).finish_time().nanos(), 5);
  ASSERT_EQ(r.consumed_files_size(), 2);
  EXPECT_EQ(r.consumed_files(1), "outcome-001764000042-000000005-1.pb");
  EXPECT_EQ(r.GetReflection()->GetUnknownFields(r).field_count(), 0);
  EXPECT_EQ(r.SerializeAsString(), *report);
}

}  // namespace
}  // namespace drover::updater
