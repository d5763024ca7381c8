#include "coordinator/rollout/heartbeat.h"

#include <gtest/gtest.h>

#include "coordinator/rollout/report_apply.h"

namespace drover::rollout {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

AgentReport Report() {
  AgentReport r;
  r.host_id = "host-1";
  r.channel = "stable";
  r.group = "prod";
  r.current_version = "1.2.3";
  r.health = Health::kHealthy;
  r.updater_version = "0.4.0";
  r.sequence = 20;
  r.previous_sequence = 10;
  r.instance_id = "abc";
  r.schedule_state = ScheduleState::kUnspecified;
  return r;
}

TEST(HeartbeatTest, AnUnchangedReportAfterTheOneHandledIsAHeartbeat) {
  EXPECT_TRUE(IsHeartbeat(Report(), {.sequence = 10, .same_durable_fields = true}, kNow));
}

TEST(HeartbeatTest, AnythingElseIsCommitted) {
  const LastHandled last{.sequence = 10, .same_durable_fields = true};
  AgentReport r = Report();
  EXPECT_FALSE(IsHeartbeat(r, {.sequence = 10, .same_durable_fields = false}, kNow)) << "fields changed";
  r.outcomes.push_back({});
  EXPECT_FALSE(IsHeartbeat(r, last, kNow)) << "an outcome";
  r = Report();
  r.previous_sequence = 0;
  EXPECT_FALSE(IsHeartbeat(r, last, kNow)) << "previous report not acknowledged";
  r.previous_sequence = 9;
  EXPECT_FALSE(IsHeartbeat(r, last, kNow)) << "another replica handled a report in between";
  r = Report();
  EXPECT_FALSE(IsHeartbeat(r, {.sequence = 0, .same_durable_fields = true}, kNow)) << "nothing handled";
  r.sequence = 10;
  r.previous_sequence = 10;
  EXPECT_FALSE(IsHeartbeat(r, last, kNow)) << "not above the last one";
  r = Report();
  r.sequence = MaxAcceptedSequence(10, kNow) + 1;
  EXPECT_FALSE(IsHeartbeat(r, last, kNow)) << "too far ahead";
  r.sequence = MaxAcceptedSequence(10, kNow);
  EXPECT_TRUE(IsHeartbeat(r, last, kNow));
}

TEST(HeartbeatTest, DurableFieldsTellEveryStoredFieldApart) {
  const std::string base = DurableFields(Report());
  EXPECT_EQ(DurableFields(Report()), base);
  AgentReport r = Report();
  r.sequence = 99;
  r.previous_sequence = 98;
  EXPECT_EQ(DurableFields(r), base) << "sequences are not state";
  const std::vector<void (*)(AgentReport&)> changes = {
      [](AgentReport& a) { a.host_id = "host-2"; },
      [](AgentReport& a) { a.channel = "edge"; },
      [](AgentReport& a) { a.group = "dev"; },
      [](AgentReport& a) { a.current_version = "1.2.4"; },
      [](AgentReport& a) { a.health = Health::kUnhealthy; },
      [](AgentReport& a) { a.updater_version = "0.4.1"; },
      [](AgentReport& a) { a.instance_id = ""; },
      [](AgentReport& a) { a.schedule_state = ScheduleState::kOk; },
      [](AgentReport& a) { a.updating_to = "1.3.0"; },
      // Boundaries move between fields: still different.
      [](AgentReport& a) {
        a.channel = "stablep";
        a.group = "rod";
      },
  };
  for (size_t i = 0; i < changes.size(); ++i) {
    AgentReport c = Report();
    changes[i](c);
    EXPECT_NE(DurableFields(c), base) << "change " << i;
  }
}

}  // namespace
}  // namespace drover::rollout
