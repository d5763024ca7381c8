#include "agent-updater/kube/kube_schedule.h"

#include <gtest/gtest.h>

#include "common/status_testing.h"

namespace drover::updater::kube {
namespace {

using ::drover::testing::IsError;

absl::Time T(const char* rfc3339) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) << err;
  return t;
}

TEST(KubeScheduleTest, WindowsAsTeleportWritesThem) {
  absl::StatusOr<Schedule> s = ParseKubeSchedule(
      R"({"windows":[{"start":"2026-03-01T02:00:00Z","stop":"2026-03-01T03:00:00Z"},)"
      R"({"start":"2026-03-02T02:00:00+01:00","stop":"2026-03-02T03:00:00+01:00"}]})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE(s->nop);
  ASSERT_EQ(s->windows.size(), 2u);
  EXPECT_EQ(s->windows[0].start, T("2026-03-01T02:00:00Z"));
  EXPECT_EQ(s->windows[1].start, T("2026-03-02T01:00:00Z"));
  EXPECT_TRUE(s->InWindow(T("2026-03-01T02:30:00Z")));
  EXPECT_FALSE(s->InWindow(T("2026-03-01T04:00:00Z")));
  EXPECT_TRUE(s->HasCurrentOrFutureWindow(T("2026-03-01T04:00:00Z")));
  EXPECT_FALSE(s->HasCurrentOrFutureWindow(T("2026-03-03T00:00:00Z")));
}

TEST(KubeScheduleTest, NopAndBlank) {
  absl::StatusOr<Schedule> nop = ParseKubeSchedule(" nop\n");
  ASSERT_TRUE(nop.ok());
  EXPECT_TRUE(nop->nop);
  for (const char* blank : {"", "{}", R"({"windows":[]})", R"({"windows":null})"}) {
    absl::StatusOr<Schedule> s = ParseKubeSchedule(blank);
    ASSERT_TRUE(s.ok()) << blank << ": " << s.status();
    EXPECT_FALSE(s->nop);
    EXPECT_TRUE(s->windows.empty()) << blank;
    // No window at all: the rule is "update as soon as possible".
    EXPECT_FALSE(s->HasCurrentOrFutureWindow(absl::Now())) << blank;
  }
}

TEST(KubeScheduleTest, MalformedIsRefusedWithWhatIsWrong) {
  EXPECT_TRUE(IsError(ParseKubeSchedule("yes please").status(), absl::StatusCode::kInvalidArgument,
                      {"neither \"nop\" nor a JSON object", "yes please"}));
  EXPECT_TRUE(IsError(ParseKubeSchedule(R"({"windows":{}})").status(), absl::StatusCode::kInvalidArgument,
                      {"not an array"}));
  EXPECT_TRUE(IsError(ParseKubeSchedule(R"({"windows":[{"start":"tomorrow","stop":"2026-03-01T03:00:00Z"}]})").status(),
                      absl::StatusCode::kInvalidArgument, {"window 0", "\"start\"", "tomorrow", "RFC 3339"}));
  EXPECT_TRUE(IsError(ParseKubeSchedule(R"({"windows":[{"start":"2026-03-01T02:00:00Z"}]})").status(),
                      absl::StatusCode::kInvalidArgument, {"\"stop\" is missing"}));
  EXPECT_TRUE(IsError(
      ParseKubeSchedule(R"({"windows":[{"start":"2026-03-01T03:00:00Z","stop":"2026-03-01T02:00:00Z"}]})").status(),
      absl::StatusCode::kInvalidArgument, {"not after start"}));
}

TEST(KubeScheduleTest, ExportedFileReadsBackAsTheSameSchedule) {
  absl::StatusOr<Schedule> s =
      ParseKubeSchedule(R"({"windows":[{"start":"2026-03-01T02:00:00Z","stop":"2026-03-01T03:00:00Z"}]})");
  ASSERT_TRUE(s.ok());
  const std::string file = ToTeleportScheduleFile(*s, "Secret a-shared-state");
  absl::StatusOr<Schedule> back = ParseTeleportSchedule(file);
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << file;
  EXPECT_EQ(back->windows, s->windows);
  absl::StatusOr<Schedule> nop = ParseTeleportSchedule(ToTeleportScheduleFile(Schedule{.nop = true}, "x"));
  ASSERT_TRUE(nop.ok());
  EXPECT_TRUE(nop->nop);
  absl::StatusOr<Schedule> blank = ParseTeleportSchedule(ToTeleportScheduleFile(Schedule{}, "x"));
  ASSERT_TRUE(blank.ok());
  EXPECT_TRUE(blank->windows.empty());
}

}  // namespace
}  // namespace drover::updater::kube
