#include "coordinator/api/proto_convert.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "common/status_testing.h"
#include "proto/wire/report_text.h"

namespace drover::api {
namespace {

using ::drover::testing::IsError;

const absl::Time kNow = absl::FromCivil(absl::CivilSecond(2026, 11, 23, 12, 0, 0), absl::UTCTimeZone());

void SetTime(absl::Time t, google::protobuf::Timestamp* out) { TimeToProto(t, out); }

v1::ReportStatusRequest GoodReport() {
  v1::ReportStatusRequest r;
  r.set_host_id("web-01.example.com");
  r.set_channel("channels/stable");
  r.set_group("web");
  r.set_current_version("v1.2.3");
  r.set_health(v1::HEALTH_HEALTHY);
  r.set_updater_version("0.1.0");
  r.set_sequence(7);
  v1::UpdateOutcome* o = r.add_outcomes();
  o->set_from_version("1.2.2");
  o->set_to_version("v1.2.3");
  o->set_result(v1::UPDATE_RESULT_SUCCEEDED);
  SetTime(kNow - absl::Minutes(2), o->mutable_start_time());
  SetTime(kNow - absl::Minutes(1), o->mutable_finish_time());
  return r;
}

absl::Status Convert(const v1::ReportStatusRequest& r) { return ReportFromProto(r, kNow).status(); }

TEST(ReportFromProtoTest, AcceptsAndNormalisesAGoodReport) {
  absl::StatusOr<rollout::AgentReport> r = ReportFromProto(GoodReport(), kNow);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->host_id, "web-01.example.com");
  EXPECT_EQ(r->channel, "stable");
  EXPECT_EQ(r->group, "web");
  EXPECT_EQ(r->current_version, "1.2.3");
  EXPECT_EQ(r->health, rollout::Health::kHealthy);
  EXPECT_EQ(r->updater_version, "0.1.0");
  EXPECT_EQ(r->sequence, 7);
  ASSERT_EQ(r->outcomes.size(), 1u);
  const rollout::UpdateOutcome& o = r->outcomes[0];
  EXPECT_EQ(o.from_version, "1.2.2");
  EXPECT_EQ(o.to_version, "1.2.3");
  EXPECT_EQ(o.result, rollout::UpdateResult::kSucceeded);
  EXPECT_EQ(o.error, "");
  EXPECT_EQ(o.start_time, kNow - absl::Minutes(2));
  EXPECT_EQ(o.finish_time, kNow - absl::Minutes(1));
}

TEST(ReportFromProtoTest, MapsEnumsAndOptionalFields) {
  v1::ReportStatusRequest req = GoodReport();
  req.set_health(v1::HEALTH_UNHEALTHY);
  req.set_channel("channels/stable/cloud");
  req.set_group("");
  req.mutable_outcomes(0)->set_from_version("");  // first install
  req.mutable_outcomes(0)->set_result(v1::UPDATE_RESULT_ROLLED_BACK);
  req.mutable_outcomes(0)->set_error("health check failed:\n\texit 1");
  v1::UpdateOutcome* failed = req.add_outcomes();
  *failed = req.outcomes(0);
  failed->set_result(v1::UPDATE_RESULT_FAILED);
  absl::StatusOr<rollout::AgentReport> r = ReportFromProto(req, kNow);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->health, rollout::Health::kUnhealthy);
  EXPECT_EQ(r->channel, "stable/cloud");
  EXPECT_EQ(r->group, "");
  ASSERT_EQ(r->outcomes.size(), 2u);
  EXPECT_EQ(r->outcomes[0].from_version, "");
  EXPECT_EQ(r->outcomes[0].result, rollout::UpdateResult::kRolledBack);
  EXPECT_EQ(r->outcomes[0].error, "health check failed:\n\texit 1");
  EXPECT_EQ(r->outcomes[1].result, rollout::UpdateResult::kFailed);
}

TEST(ReportFromProtoTest, AcceptsBoundaryValues) {
  v1::ReportStatusRequest req = GoodReport();
  req.set_host_id(std::string(kMaxHostIdLength, 'h'));
  req.mutable_outcomes(0)->set_error(std::string(kMaxErrorLength, 'e'));
  SetTime(kNow + kMaxClockSkew, req.mutable_outcomes(0)->mutable_finish_time());
  req.set_sequence(1);
  while (req.outcomes_size() < kMaxOutcomesPerReport) *req.add_outcomes() = req.outcomes(0);
  EXPECT_TRUE(Convert(req).ok()) << Convert(req);
  // Zero-length updates are fine.
  v1::ReportStatusRequest instant = GoodReport();
  *instant.mutable_outcomes(0)->mutable_finish_time() = instant.outcomes(0).start_time();
  EXPECT_TRUE(Convert(instant).ok()) << Convert(instant);
}

// An updater newer than its coordinator may send states this one does not know.
TEST(ReportFromProtoTest, TakesUnknownScheduleStateAsUnspecified) {
  v1::ReportStatusRequest req = GoodReport();
  req.set_schedule_state(static_cast<v1::ScheduleState>(rollout::kScheduleStateCount + 3));
  const int64_t before = UnknownScheduleStates();
  absl::StatusOr<rollout::AgentReport> r = ReportFromProto(req, kNow);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->schedule_state, rollout::ScheduleState::kUnspecified);
  EXPECT_EQ(UnknownScheduleStates(), before + 1);
  // Everything else is still checked.
  req.set_sequence(0);
  EXPECT_EQ(Convert(req).code(), absl::StatusCode::kInvalidArgument);
  req = GoodReport();
  req.set_schedule_state(v1::SCHEDULE_STATE_MISSING);
  r = ReportFromProto(req, kNow);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->schedule_state, rollout::ScheduleState::kMissing);
}

TEST(ReportFromProtoTest, RejectsBadHostId) {
  v1::ReportStatusRequest req = GoodReport();
  req.set_host_id("");
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"host_id"}));
  req.set_host_id(std::string(kMaxHostIdLength + 1, 'h'));
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"host_id \"hhhh", "129"}));
  req.set_host_id("web 01");
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"host_id \"web 01\""}));
  req.set_host_id("web/01");
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"host_id \"web/01\""}));
  req.set_host_id(std::string("web\0", 4));
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"host_id \"web\\x00\""}));
}

TEST(ReportFromProtoTest, RejectsBadChannel) {
  v1::ReportStatusRequest req = GoodReport();
  req.set_channel("stable");
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"channel \"stable\"", "channels/"}));
  req.set_channel("");
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"channel"}));
  req.set_channel("channel/stable");
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"\"channel/stable\""}));
  req.set_channel("channels/");
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"channel"}));
  req.set_channel("channels/Stable");
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"channel \"Stable\""}));
  req.set_channel("channels/stable//cloud");
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"\"stable//cloud\""}));
  req.set_channel("channels/stable/");
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"\"stable/\""}));
}

TEST(ReportFromProtoTest, RejectsBadGroup) {
  v1::ReportStatusRequest req = GoodReport();
  req.set_group("web tier");
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"group \"web tier\""}));
  req.set_group(std::string(kMaxGroupLength + 1, 'g'));
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"group"}));
}

TEST(ReportFromProtoTest, RejectsBadVersion) {
  v1::ReportStatusRequest req = GoodReport();
  req.set_current_version("1.2");
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"current_version", "\"1.2\""}));
  req.set_current_version("");
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"current_version"}));
  req.set_current_version("01.2.3");
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"current_version", "\"01.2.3\""}));
}

TEST(ReportFromProtoTest, UpdatingToIsAVersionNormalisedOrEmpty) {
  v1::ReportStatusRequest req = GoodReport();
  absl::StatusOr<rollout::AgentReport> r = ReportFromProto(req, kNow);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->updating_to, "");
  req.set_updating_to("v1.3.0");
  r = ReportFromProto(req, kNow);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->updating_to, "1.3.0");
  req.set_updating_to("1.3");
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"updating_to", "\"1.3\""}));
  req.set_updating_to("1.3.0\n");
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"updating_to"}));
}

TEST(AgentToProtoTest, CarriesUpdatingTo) {
  store::AgentView a;
  a.state.host_id = "web-01";
  a.state.channel = "stable";
  a.state.current_version = "1.2.0";
  a.state.updating_to = "1.3.0";
  v1::Agent out;
  AgentToProto(a, &out);
  EXPECT_EQ(out.updating_to(), "1.3.0");
  EXPECT_EQ(out.current_version(), "1.2.0");
}

TEST(ReportFromProtoTest, RejectsUnspecifiedOrUnknownHealth) {
  v1::ReportStatusRequest req = GoodReport();
  req.set_health(v1::HEALTH_UNSPECIFIED);
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"health 0"}));
  req.set_health(static_cast<v1::Health>(7));
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"health 7"}));
}

TEST(ReportFromProtoTest, RejectsBadUpdaterVersion) {
  v1::ReportStatusRequest req = GoodReport();
  req.set_updater_version(std::string(kMaxUpdaterVersionLength + 1, 'u'));
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"updater_version"}));
  req.set_updater_version("0.1\x1b[31m");
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"updater_version", "control"}));
  // One line: no newline, tab or DEL either (an error text may hold the first two).
  for (const char* bad : {"0.1\nx", "0.1\tx", "0.1\x7f"}) {
    req.set_updater_version(bad);
    EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"updater_version", "single line"})) << bad;
  }
}

TEST(ReportFromProtoTest, RejectsDelInAnOutcomeError) {
  v1::ReportStatusRequest req = GoodReport();
  req.mutable_outcomes(0)->set_error("failed\x7f");
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"outcomes[0].error", "\\x7f"}));
}

TEST(ValidateTest, GroupAndSingleLine) {
  EXPECT_TRUE(ValidateGroup("group", "").ok());
  EXPECT_TRUE(ValidateGroup("group", "Canary-1.eu_west").ok());
  EXPECT_TRUE(IsError(ValidateGroup("group", "a b"), absl::StatusCode::kInvalidArgument, {"group \"a b\""}));
  EXPECT_TRUE(IsError(ValidateGroup("group", std::string(kMaxGroupLength + 1, 'g')),
                      absl::StatusCode::kInvalidArgument, {"group", "longer than"}));
  EXPECT_TRUE(ValidateSingleLine("reason", "CVE-2026-1234: patch now", 64).ok());
  EXPECT_TRUE(IsError(ValidateSingleLine("reason", "two\nlines", 64), absl::StatusCode::kInvalidArgument,
                      {"reason \"two\\nlines\""}));
  EXPECT_TRUE(IsError(ValidateSingleLine("reason", std::string(65, 'r'), 64), absl::StatusCode::kInvalidArgument,
                      {"reason", "longer than 64"}));
}

TEST(ReportFromProtoTest, RejectsNonPositiveSequence) {
  v1::ReportStatusRequest req = GoodReport();
  req.set_sequence(0);
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"sequence 0"}));
  req.set_sequence(-1);
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"sequence -1"}));
}

TEST(ReportFromProtoTest, PreviousSequenceMustBeBelowSequence) {
  v1::ReportStatusRequest req = GoodReport();
  req.set_previous_sequence(6);
  absl::StatusOr<rollout::AgentReport> r = ReportFromProto(req, kNow);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->previous_sequence, 6);
  req.set_previous_sequence(7);
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"previous_sequence 7", "below sequence 7"}));
  req.set_previous_sequence(-2);
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"previous_sequence -2"}));
}

TEST(ReportFromProtoTest, RejectsTooManyOutcomes) {
  v1::ReportStatusRequest req = GoodReport();
  while (req.outcomes_size() < kMaxOutcomesPerReport + 1) *req.add_outcomes() = req.outcomes(0);
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument,
                      {"outcomes", absl::StrCat(kMaxOutcomesPerReport + 1)}));
}

TEST(ReportFromProtoTest, RejectsFinishBeforeStart) {
  v1::ReportStatusRequest req = GoodReport();
  SetTime(kNow - absl::Minutes(3), req.mutable_outcomes(0)->mutable_finish_time());
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument,
                      {"outcomes[0].finish_time", "2026-11-23T11:57:00", "start_time", "2026-11-23T11:58:00"}));
}

TEST(ReportFromProtoTest, RejectsFinishFarInTheFuture) {
  v1::ReportStatusRequest req = GoodReport();
  SetTime(kNow + kMaxClockSkew + absl::Seconds(1), req.mutable_outcomes(0)->mutable_finish_time());
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument,
                      {"outcomes[0].finish_time", "2026-11-23T12:05:01"}));
}

TEST(ReportFromProtoTest, RejectsImplausiblyOldTimes) {
  v1::ReportStatusRequest req = GoodReport();
  req.mutable_outcomes(0)->mutable_start_time()->set_seconds(0);
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"outcomes[0].start_time", "1970"}));
}

TEST(ReportFromProtoTest, RejectsMissingTimes) {
  v1::ReportStatusRequest req = GoodReport();
  req.mutable_outcomes(0)->clear_start_time();
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"outcomes[0].start_time is required"}));
  req = GoodReport();
  req.mutable_outcomes(0)->clear_finish_time();
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"outcomes[0].finish_time is required"}));
}

TEST(ReportFromProtoTest, RejectsBadNanos) {
  v1::ReportStatusRequest req = GoodReport();
  req.mutable_outcomes(0)->mutable_start_time()->set_nanos(-1);
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"outcomes[0].start_time", "-1"}));
  req.mutable_outcomes(0)->mutable_start_time()->set_nanos(1000000000);
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"outcomes[0].start_time", "1000000000"}));
}

TEST(ReportFromProtoTest, RejectsUnknownResult) {
  v1::ReportStatusRequest req = GoodReport();
  req.mutable_outcomes(0)->set_result(v1::UPDATE_RESULT_UNSPECIFIED);
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"outcomes[0].result 0"}));
  req.mutable_outcomes(0)->set_result(static_cast<v1::UpdateResult>(9));
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"outcomes[0].result 9"}));
}

TEST(ReportFromProtoTest, RejectsOversizedOrControlCharacterError) {
  v1::ReportStatusRequest req = GoodReport();
  req.mutable_outcomes(0)->set_error(std::string(kMaxErrorLength + 1, 'e'));
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument,
                      {"outcomes[0].error", absl::StrCat(kMaxErrorLength + 1, " bytes"),
                       absl::StrCat(kMaxErrorLength)}));
  req.mutable_outcomes(0)->set_error("bad\x07");
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"outcomes[0].error"}));
}

TEST(ReportFromProtoTest, RejectsBadOutcomeVersions) {
  v1::ReportStatusRequest req = GoodReport();
  req.mutable_outcomes(0)->set_to_version("");
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"outcomes[0].to_version"}));
  req = GoodReport();
  req.mutable_outcomes(0)->set_from_version("latest");
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"outcomes[0].from_version", "\"latest\""}));
}

TEST(ReportFromProtoTest, NamesTheIndexOfTheBadOutcome) {
  v1::ReportStatusRequest req = GoodReport();
  *req.add_outcomes() = req.outcomes(0);
  req.mutable_outcomes(1)->set_to_version("x");
  EXPECT_TRUE(IsError(Convert(req), absl::StatusCode::kInvalidArgument, {"outcomes[1].to_version", "\"x\""}));
}

v1::MaintenanceWindow ProtoWindow(std::vector<v1::Weekday> weekdays, uint32_t hour, int64_t seconds,
                                  int32_t nanos = 0) {
  v1::MaintenanceWindow w;
  for (v1::Weekday d : weekdays) w.add_weekdays(d);
  w.set_utc_start_hour(hour);
  w.mutable_duration()->set_seconds(seconds);
  w.mutable_duration()->set_nanos(nanos);
  return w;
}

google::protobuf::RepeatedPtrField<v1::MaintenanceWindow> Windows(std::vector<v1::MaintenanceWindow> in) {
  google::protobuf::RepeatedPtrField<v1::MaintenanceWindow> out;
  for (v1::MaintenanceWindow& w : in) *out.Add() = std::move(w);
  return out;
}

TEST(WindowsFromProtoTest, ConvertsWindows) {
  absl::StatusOr<std::vector<MaintenanceWindow>> w = WindowsFromProto(
      "maintenance_windows",
      Windows({ProtoWindow({v1::WEEKDAY_MONDAY, v1::WEEKDAY_WEDNESDAY}, 2, 3600), ProtoWindow({}, 22, 1800)}));
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->size(), 2u);
  EXPECT_EQ((*w)[0].weekdays, (std::vector<int>{1, 3}));
  EXPECT_EQ((*w)[0].utc_start_hour, 2);
  EXPECT_EQ((*w)[0].duration, absl::Hours(1));
  EXPECT_TRUE((*w)[1].weekdays.empty());
  EXPECT_EQ((*w)[1].duration, absl::Minutes(30));
}

TEST(WindowsFromProtoTest, RoundTripsThroughWindowsToProto) {
  std::vector<MaintenanceWindow> windows(2);
  windows[0].weekdays = {1, 7};
  windows[0].utc_start_hour = 23;
  windows[0].duration = absl::Hours(24);
  windows[1].utc_start_hour = 0;
  windows[1].duration = absl::Minutes(1);
  google::protobuf::RepeatedPtrField<v1::MaintenanceWindow> proto;
  WindowsToProto(windows, &proto);
  ASSERT_EQ(proto.size(), 2);
  EXPECT_EQ(proto[0].weekdays(1), v1::WEEKDAY_SUNDAY);
  EXPECT_EQ(proto[0].duration().seconds(), 86400);
  absl::StatusOr<std::vector<MaintenanceWindow>> back = WindowsFromProto("w", proto);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, windows);
}

TEST(WindowsFromProtoTest, RejectsInvalidWindowsNamingFieldAndValue) {
  EXPECT_TRUE(IsError(WindowsFromProto("maintenance_windows", Windows({ProtoWindow({}, 2, 3600),
                                                                       ProtoWindow({}, 24, 3600)}))
                          .status(),
                      absl::StatusCode::kInvalidArgument, {"maintenance_windows[1]", "24"}));
  EXPECT_TRUE(IsError(WindowsFromProto("mw", Windows({ProtoWindow({v1::WEEKDAY_UNSPECIFIED}, 2, 3600)})).status(),
                      absl::StatusCode::kInvalidArgument, {"mw[0]", "weekday 0"}));
  EXPECT_TRUE(IsError(WindowsFromProto("mw", Windows({ProtoWindow({v1::WEEKDAY_FRIDAY, v1::WEEKDAY_MONDAY}, 2,
                                                                  3600)}))
                          .status(),
                      absl::StatusCode::kInvalidArgument, {"mw[0]", "Mon"}));
  EXPECT_TRUE(IsError(WindowsFromProto("mw", Windows({ProtoWindow({}, 2, 90)})).status(),
                      absl::StatusCode::kInvalidArgument, {"mw[0]", "1m30s"}));
  EXPECT_TRUE(IsError(WindowsFromProto("mw", Windows({ProtoWindow({}, 2, 60, 1)})).status(),
                      absl::StatusCode::kInvalidArgument, {"mw[0]", "duration"}));
  EXPECT_TRUE(IsError(WindowsFromProto("mw", Windows({ProtoWindow({}, 2, 0)})).status(),
                      absl::StatusCode::kInvalidArgument, {"mw[0]", "duration"}));
}

TEST(WindowsFromProtoTest, HugeHourIsNamedAsSent) {
  EXPECT_TRUE(IsError(WindowsFromProto("mw", Windows({ProtoWindow({}, 5000, 3600)})).status(),
                      absl::StatusCode::kInvalidArgument, {"mw[0]", "5000"}));
  EXPECT_TRUE(IsError(WindowsFromProto("mw", Windows({ProtoWindow({}, 4294967295u, 3600)})).status(),
                      absl::StatusCode::kInvalidArgument, {"mw[0]", "4294967295"}));
}

TEST(WindowsFromProtoTest, RequiresDuration) {
  v1::MaintenanceWindow w = ProtoWindow({}, 2, 3600);
  w.clear_duration();
  EXPECT_TRUE(IsError(WindowsFromProto("mw", Windows({w})).status(), absl::StatusCode::kInvalidArgument,
                      {"mw[0].duration is required"}));
}

TEST(WindowsFromProtoTest, RejectsTooManyWindows) {
  std::vector<v1::MaintenanceWindow> many(kMaxWindows, ProtoWindow({}, 2, 3600));
  EXPECT_TRUE(WindowsFromProto("mw", Windows(many)).ok());
  many.push_back(ProtoWindow({}, 2, 3600));
  EXPECT_TRUE(IsError(WindowsFromProto("mw", Windows(many)).status(), absl::StatusCode::kInvalidArgument,
                      {"mw", absl::StrCat(kMaxWindows + 1)}));
}

absl::StatusOr<absl::Duration> Poll(absl::Duration d) {
  v1::CreateChannelRequest req;
  DurationToProto(d, req.mutable_poll_interval());
  return PollIntervalFromProto(req);
}

TEST(PollIntervalFromProtoTest, DefaultsWhenAbsent) {
  absl::StatusOr<absl::Duration> d = PollIntervalFromProto(v1::CreateChannelRequest());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(*d, kDefaultPollInterval);
}

TEST(PollIntervalFromProtoTest, AcceptsWholeMillisecondsInRange) {
  for (absl::Duration want : {kMinPollInterval, absl::Seconds(30), absl::Milliseconds(1500), kMaxPollInterval}) {
    absl::StatusOr<absl::Duration> d = Poll(want);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(*d, want);
  }
}

TEST(PollIntervalFromProtoTest, RejectsOutOfRangeOrSubMillisecond) {
  EXPECT_TRUE(IsError(Poll(kMinPollInterval - absl::Milliseconds(1)).status(), absl::StatusCode::kInvalidArgument,
                      {"poll_interval"}));
  EXPECT_TRUE(IsError(Poll(kMaxPollInterval + absl::Seconds(1)).status(), absl::StatusCode::kInvalidArgument,
                      {"poll_interval 24h"}));
  EXPECT_TRUE(IsError(Poll(absl::ZeroDuration()).status(), absl::StatusCode::kInvalidArgument, {"poll_interval 0"}));
  EXPECT_TRUE(IsError(Poll(-absl::Seconds(60)).status(), absl::StatusCode::kInvalidArgument, {"poll_interval -1m"}));
  EXPECT_TRUE(IsError(Poll(absl::Seconds(30) + absl::Microseconds(1)).status(), absl::StatusCode::kInvalidArgument,
                      {"poll_interval 30.000001s"}));
}

TEST(PageSizeFromProtoTest, DefaultsAndBounds) {
  EXPECT_EQ(PageSizeFromProto(0).value_or(-1), kDefaultPageSize);
  EXPECT_EQ(PageSizeFromProto(1).value_or(-1), 1);
  EXPECT_EQ(PageSizeFromProto(kMaxPageSize).value_or(-1), kMaxPageSize);
  EXPECT_TRUE(IsError(PageSizeFromProto(kMaxPageSize + 1).status(), absl::StatusCode::kInvalidArgument,
                      {"page_size", absl::StrCat(kMaxPageSize + 1)}));
  EXPECT_TRUE(IsError(PageSizeFromProto(-1).status(), absl::StatusCode::kInvalidArgument, {"page_size -1"}));
}

TEST(PageTokenTest, RoundTrips) {
  for (const std::string& key : std::vector<std::string>{"web-01", "a:b/c", "", "h\xc3\xa9"}) {
    std::string token = EncodePageToken("agents", "f", key);
    absl::StatusOr<std::string> back = DecodePageToken("agents", "f", token);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, key);
  }
}

TEST(PageTokenTest, RejectsGarbageAndTokensOfAnotherKind) {
  EXPECT_TRUE(IsError(DecodePageToken("agents", "", "!!not a token!!").status(), absl::StatusCode::kInvalidArgument,
                      {"page_token", "!!not a token!!", "not a page token"}));
  EXPECT_TRUE(IsError(DecodePageToken("agents", "", EncodePageToken("events", "", "5")).status(),
                      absl::StatusCode::kInvalidArgument, {"page_token", "another list"}));
  // A kind that merely starts with the expected one is still another kind.
  EXPECT_FALSE(DecodePageToken("agents", "", EncodePageToken("agentsx", "", "k")).ok());
  EXPECT_FALSE(DecodePageToken("agent", "", EncodePageToken("agents", "", "k")).ok());
  EXPECT_FALSE(DecodePageToken("agents", "", "").ok());
}

TEST(PageTokenTest, IsBoundToTheFiltersOfItsList) {
  const std::string token = EncodePageToken("agents", "channel=a", "web-01");
  EXPECT_TRUE(DecodePageToken("agents", "channel=a", token).ok());
  EXPECT_TRUE(IsError(DecodePageToken("agents", "channel=b", token).status(), absl::StatusCode::kInvalidArgument,
                      {"page_token", "other filters"}));
}

TEST(PageTokenTest, KeysThatAreNotUtf8AreRefusedNotPassedOn) {
  // Issue 12: the format before tokens were bound, holding byte 0xff, went
  // to PostgreSQL and came back as its encoding error.
  const std::string old_format = absl::WebSafeBase64Escape(std::string("agents:\xff", 8));
  EXPECT_TRUE(IsError(DecodePageToken("agents", "", old_format).status(), absl::StatusCode::kInvalidArgument,
                      {"page_token", "not a page token"}));
  const std::string bad_key = EncodePageToken("agents", "", "\xff");
  EXPECT_TRUE(IsError(DecodePageToken("agents", "", bad_key).status(), absl::StatusCode::kInvalidArgument,
                      {"page_token", "not UTF-8"}));
  // PostgreSQL refuses surrogates and NUL too.
  for (const std::string& key : {std::string("\xed\xa0\x80"), std::string("a\0b", 3)}) {
    EXPECT_TRUE(IsError(DecodePageToken("agents", "", EncodePageToken("agents", "", key)).status(),
                        absl::StatusCode::kInvalidArgument, {"page_token", "not UTF-8"}))
        << absl::CHexEscape(key);
  }
}

TEST(ParseChannelNameTest, AcceptsNestedIds) {
  EXPECT_EQ(ParseChannelName("name", "channels/stable/cloud").value_or("?"), "stable/cloud");
  EXPECT_EQ(ParseChannelName("name", "channels/stable").value_or("?"), "stable");
  EXPECT_EQ(ParseChannelName("name", "channels/a-b_c.d/0").value_or("?"), "a-b_c.d/0");
  EXPECT_EQ(ParseChannelName("name", ChannelName("edge/eu")).value_or("?"), "edge/eu");
  EXPECT_EQ(ChannelName("stable/cloud"), "channels/stable/cloud");
}

TEST(ParseChannelNameTest, RejectsBadNamesNamingTheField) {
  for (const std::string& name : std::vector<std::string>{"", "stable", "channel/stable", "Channels/stable", "channels/", "channels/UP",
                           "channels//x", "channels/x/", "channels/a//b", "channels/a b",
                           "channels/" + std::string(kMaxChannelIdLength + 1, 'c')}) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(IsError(ParseChannelName("name", name).status(), absl::StatusCode::kInvalidArgument, {"name"}));
  }
  EXPECT_TRUE(ParseChannelName("name", "channels/" + std::string(kMaxChannelIdLength, 'c')).ok());
}

TEST(ToGrpcStatusTest, KeepsCodeAndMessage) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  grpc::Status s = ToGrpcStatus(absl::InvalidArgumentError("host_id \"x y\": bad"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "host_id \"x y\": bad");
  EXPECT_EQ(ToGrpcStatus(absl::FailedPreconditionError("x")).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ToGrpcStatus(absl::UnavailableError("x")).error_code(), grpc::StatusCode::UNAVAILABLE);
}

// What the updater makes of hostile text and skewed times (wire/report_text)
// is what the coordinator accepts.
TEST(ReportFromProtoTest, AcceptsWhatTheUpdaterSanitized) {
  const absl::Time now = absl::FromUnixSeconds(1764000000);
  v1::ReportStatusRequest req;
  req.set_host_id("h");
  req.set_channel("channels/c");
  req.set_current_version("1.0.0");
  req.set_health(v1::HEALTH_HEALTHY);
  req.set_sequence(1);
  req.set_updater_version(
      wire::SanitizeText(std::string(100, 'v') + "\n", kMaxUpdaterVersionLength, wire::TextLines::kOne));
  std::string hostile = "\033[31mnot ready\033[0m\r\n\x01\xff";
  while (hostile.size() < 3 * kMaxErrorLength) hostile.append("\xe2\x80\x98\xe4\xb8\xad\xf0\x9f\x92\xa5");
  v1::UpdateOutcome* o = req.add_outcomes();
  o->set_to_version("1.1.0");
  o->set_result(v1::UPDATE_RESULT_FAILED);
  o->set_error(wire::SanitizeText(hostile, kMaxErrorLength, wire::TextLines::kMany));
  o->mutable_start_time()->set_seconds(absl::ToUnixSeconds(wire::ClampReportTime(absl::FromUnixSeconds(5), now)));
  o->mutable_finish_time()->set_seconds(absl::ToUnixSeconds(wire::ClampReportTime(now + absl::Hours(2), now)));
  absl::StatusOr<rollout::AgentReport> r = ReportFromProto(req, now);
  EXPECT_TRUE(r.ok()) << r.status();
}

}  // namespace
}  // namespace drover::api
