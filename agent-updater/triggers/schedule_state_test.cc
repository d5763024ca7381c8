#include "agent-updater/triggers/schedule_state.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent-updater/state/state_store.h"
#include "common/atomic_file.h"

namespace drover::updater {
namespace {

class ScheduleStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/drover-schedule-state-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = absl::StrCat(dir_, "/", name);
    EXPECT_TRUE(WriteFileAtomically(path, text, 0644).ok());
    return path;
  }

  // What a pass would load: the file's schedule when it parses.
  std::optional<Schedule> Loaded(const std::string& path) {
    absl::StatusOr<std::string> text = ReadFile(path);
    if (!text.ok()) return std::nullopt;
    absl::StatusOr<Schedule> s = ParseTeleportSchedule(*text);
    if (!s.ok()) return std::nullopt;
    return *s;
  }

  std::string dir_;
  const absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
};

TEST_F(ScheduleStateTest, EachKindOfScheduleHasItsState) {
  const std::string ok = Write("ok", "# next window\n1800000100 1800003700\n");
  EXPECT_EQ(ScheduleStateOf(ok, Loaded(ok), now_), v1::SCHEDULE_STATE_OK);
  const std::string past = Write("past", "1700000000 1700003600\n");
  EXPECT_EQ(ScheduleStateOf(past, Loaded(past), now_), v1::SCHEDULE_STATE_ONLY_PAST_WINDOWS);
  const std::string nop = Write("nop", "nop\n");
  EXPECT_EQ(ScheduleStateOf(nop, Loaded(nop), now_), v1::SCHEDULE_STATE_NOP);
  const std::string bad = Write("bad", "tomorrow at noon\n");
  EXPECT_EQ(ScheduleStateOf(bad, Loaded(bad), now_), v1::SCHEDULE_STATE_UNREADABLE);
  const std::string missing = absl::StrCat(dir_, "/absent");
  EXPECT_EQ(ScheduleStateOf(missing, Loaded(missing), now_), v1::SCHEDULE_STATE_MISSING);
  // A directory where the file should be cannot be read.
  EXPECT_EQ(ScheduleStateOf(dir_, std::nullopt, now_), v1::SCHEDULE_STATE_UNREADABLE);
}

TEST_F(ScheduleStateTest, WithoutAFileTheChannelWindowsDecide) {
  EXPECT_EQ(ScheduleStateOf("", std::nullopt, now_), v1::SCHEDULE_STATE_NONE);
  Schedule recurring;
  recurring.recurring.push_back(MaintenanceWindow{{}, 2, absl::Hours(1)});
  EXPECT_EQ(ScheduleStateOf("", recurring, now_), v1::SCHEDULE_STATE_OK);
}

TEST_F(ScheduleStateTest, CheckWarnsAboutAMissingOrMalformedFileOnly) {
  EXPECT_EQ(ScheduleFileWarning("", now_), std::nullopt);
  EXPECT_EQ(ScheduleFileWarning(Write("ok", "1800000100 1800003700\n"), now_), std::nullopt);
  EXPECT_EQ(ScheduleFileWarning(Write("nop", "nop\n"), now_), std::nullopt);

  const std::string missing = absl::StrCat(dir_, "/absent");
  std::optional<std::string> w = ScheduleFileWarning(missing, now_);
  ASSERT_TRUE(w.has_value());
  EXPECT_TRUE(absl::StrContains(*w, missing)) << *w;
  EXPECT_TRUE(absl::StrContains(*w, "does not exist")) << *w;
  EXPECT_TRUE(absl::StrContains(*w, "outside any window")) << *w;

  w = ScheduleFileWarning(Write("bad", "1800000100\n"), now_);
  ASSERT_TRUE(w.has_value());
  EXPECT_TRUE(absl::StrContains(*w, "malformed")) << *w;
  EXPECT_TRUE(absl::StrContains(*w, "line 1")) << *w;

  w = ScheduleFileWarning(Write("past", "1700000000 1700003600\n"), now_);
  ASSERT_TRUE(w.has_value());
  EXPECT_TRUE(absl::StrContains(*w, "no current or future window")) << *w;
}

TEST_F(ScheduleStateTest, EachStateDirectoryKeepsOneRandomInstanceId) {
  StateStore a(absl::StrCat(dir_, "/a"));
  StateStore b(absl::StrCat(dir_, "/b"));
  ASSERT_TRUE(a.Init().ok());
  ASSERT_TRUE(b.Init().ok());
  absl::StatusOr<UpdaterState> first = a.Load();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->instance_id().size(), 32u);
  ASSERT_TRUE(a.Save(*first).ok());
  absl::StatusOr<UpdaterState> again = a.Load();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->instance_id(), first->instance_id());
  absl::StatusOr<UpdaterState> other = b.Load();
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->instance_id(), first->instance_id());
}

}  // namespace
}  // namespace drover::updater
