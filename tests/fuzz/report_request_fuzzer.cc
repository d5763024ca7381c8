// ReportStatus as the coordinator receives it: bytes from anyone who reaches
// the port -> drover.v1.ReportStatusRequest -> api::ReportFromProto. What it
// accepts must lie within common/api_limits.h, be normalised, and not
// depend on how the request was encoded; what protobuf refuses for its
// UTF-8 our own UTF-8 rules (common/text.h) must refuse too.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/api_limits.h"
#include "common/semver.h"
#include "common/text.h"
#include "coordinator/api/proto_convert.h"
#include "drover/v1/updater_service.pb.h"
#include "proto/wire/proto_utf8.h"
#include "tests/fuzz/fuzz_check.h"

namespace drover::fuzz {
namespace {

namespace v1 = ::drover::v1;

// A fixed coordinator clock: outcome times are judged against it.
const absl::Time kNow = absl::FromUnixSeconds(1798761600);  // 2027-01-01T00:00:00Z

bool AllUtf8(const v1::ReportStatusRequest& r) {
  bool ok = IsValidUtf8(r.host_id()) && IsValidUtf8(r.channel()) && IsValidUtf8(r.group()) &&
            IsValidUtf8(r.current_version()) && IsValidUtf8(r.updater_version()) && IsValidUtf8(r.instance_id());
  for (const v1::UpdateOutcome& o : r.outcomes()) {
    ok = ok && IsValidUtf8(o.from_version()) && IsValidUtf8(o.to_version()) && IsValidUtf8(o.error());
  }
  return ok;
}

bool NoControl(absl::string_view s, bool many_lines) {
  for (unsigned char c : s) {
    if (c == 0x7f || (c < 0x20 && !(many_lines && (c == '\n' || c == '\t')))) return false;
  }
  return true;
}

// A normalised version: parses, and prints as it is.
void CheckNormalVersion(absl::string_view field, const std::string& v) {
  absl::StatusOr<Semver> parsed = Semver::Parse(v);
  FUZZ_CHECK(parsed.ok(), absl::StrCat(field, " ", Show(v), " was accepted but does not parse again"));
  FUZZ_CHECK(parsed->ToString() == v, absl::StrCat(field, " ", Show(v), " is not in normal form"));
}

void CheckAccepted(const v1::ReportStatusRequest& req, const rollout::AgentReport& r) {
  FUZZ_CHECK(!r.host_id.empty() && r.host_id.size() <= kMaxHostIdLength, Show(r.host_id));
  FUZZ_CHECK(r.host_id == req.host_id(), Show(r.host_id));
  FUZZ_CHECK(!r.channel.empty() && r.channel.size() <= kMaxChannelIdLength, Show(r.channel));
  FUZZ_CHECK(req.channel() == api::ChannelName(r.channel), Show(req.channel()));
  FUZZ_CHECK(api::ValidateChannelId("channel", r.channel).ok(), Show(r.channel));
  FUZZ_CHECK(r.group.size() <= kMaxGroupLength, Show(r.group));
  FUZZ_CHECK(r.updater_version.size() <= kMaxUpdaterVersionLength, Show(r.updater_version));
  FUZZ_CHECK(NoControl(r.updater_version, false), Show(r.updater_version));
  FUZZ_CHECK(r.instance_id.size() <= kMaxInstanceIdLength, Show(r.instance_id));
  FUZZ_CHECK(r.sequence > 0, absl::StrCat(r.sequence));
  CheckNormalVersion("current_version", r.current_version);
  FUZZ_CHECK(r.outcomes.size() <= static_cast<size_t>(kMaxOutcomesPerReport), absl::StrCat(r.outcomes.size()));
  FUZZ_CHECK(r.outcomes.size() == static_cast<size_t>(req.outcomes_size()), absl::StrCat(r.outcomes.size()));
  for (const rollout::UpdateOutcome& o : r.outcomes) {
    if (!o.from_version.empty()) CheckNormalVersion("from_version", o.from_version);
    CheckNormalVersion("to_version", o.to_version);
    FUZZ_CHECK(o.error.size() <= kMaxErrorLength, absl::StrCat(o.error.size()));
    FUZZ_CHECK(NoControl(o.error, true), Show(o.error));
    FUZZ_CHECK(kEarliestReportTime <= o.start_time && o.start_time <= o.finish_time &&
                   o.finish_time <= kNow + kMaxClockSkew,
               absl::StrCat(absl::FormatTime(o.start_time), " .. ", absl::FormatTime(o.finish_time)));
  }
  FUZZ_CHECK(static_cast<int>(r.schedule_state) >= 0 &&
                 static_cast<int>(r.schedule_state) < rollout::kScheduleStateCount,
             absl::StrCat(static_cast<int>(r.schedule_state)));
}

bool SameReport(const rollout::AgentReport& a, const rollout::AgentReport& b) {
  if (a.host_id != b.host_id || a.channel != b.channel || a.group != b.group ||
      a.current_version != b.current_version || a.health != b.health || a.updater_version != b.updater_version ||
      a.sequence != b.sequence || a.instance_id != b.instance_id || a.schedule_state != b.schedule_state ||
      a.outcomes.size() != b.outcomes.size()) {
    return false;
  }
  for (size_t i = 0; i < a.outcomes.size(); ++i) {
    const rollout::UpdateOutcome& x = a.outcomes[i];
    const rollout::UpdateOutcome& y = b.outcomes[i];
    if (x.from_version != y.from_version || x.to_version != y.to_version || x.result != y.result ||
        x.error != y.error || x.start_time != y.start_time || x.finish_time != y.finish_time) {
      return false;
    }
  }
  return true;
}

}  // namespace
}  // namespace drover::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) { return drover::fuzz::Initialize(); }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace drover;
  using namespace drover::fuzz;
  const absl::string_view bytes = AsText(data, size);

  v1::ReportStatusRequest req;
  if (!req.ParseFromArray(data, static_cast<int>(size))) {
    // What api::ParseRequest answers: names the field when it is UTF-8.
    std::optional<std::string> bad = wire::FindInvalidUtf8(req.GetDescriptor(), bytes);
    if (bad) FUZZ_CHECK(absl::StrContains(*bad, "not valid UTF-8"), *bad);
    return 0;
  }
  // protobuf took every string field as UTF-8: the project's decoder, which
  // claims protobuf's rules, must agree, and so must FindInvalidUtf8.
  FUZZ_CHECK(AllUtf8(req), req.ShortDebugString());
  std::optional<std::string> bad = wire::FindInvalidUtf8(req.GetDescriptor(), bytes);
  FUZZ_CHECK(!bad.has_value(), *bad);

  absl::StatusOr<rollout::AgentReport> report = api::ReportFromProto(req, kNow);
  if (!report.ok()) {
    FUZZ_CHECK(report.status().code() == absl::StatusCode::kInvalidArgument, report.status().ToString());
    // Errors reach updaters' logs and gRPC status: one line of UTF-8.
    FUZZ_CHECK(IsValidUtf8(report.status().message()), Show(report.status().message()));
    FUZZ_CHECK(!absl::StrContains(report.status().message(), "\n"), Show(report.status().message()));
    return 0;
  }
  CheckAccepted(req, *report);

  // The same request encoded again (canonically) is judged the same.
  std::string again;
  FUZZ_CHECK(req.SerializeToString(&again), "serialise");
  v1::ReportStatusRequest req2;
  FUZZ_CHECK(req2.ParseFromString(again), "reparse");
  absl::StatusOr<rollout::AgentReport> report2 = api::ReportFromProto(req2, kNow);
  FUZZ_CHECK(report2.ok(), report2.status().ToString());
  FUZZ_CHECK(SameReport(*report, *report2), req.ShortDebugString());
  return 0;
}
