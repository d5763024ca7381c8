// SanitizeText and ClampReportTime (proto/wire/) against the coordinator's own
// validation (api::ReportFromProto): here because it needs the API layer,
// which common_test must not link.
#include <string>

#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "common/api_limits.h"
#include "proto/wire/report_text.h"
#include "coordinator/api/proto_convert.h"

namespace drover {
namespace {

using wire::ClampReportTime;
using wire::SanitizeText;
using wire::TextLines;

// The point of it all: what comes out is what the coordinator accepts.
TEST(SanitizeTextTest, WhatComesOutTheCoordinatorAccepts) {
  const absl::Time now = absl::FromUnixSeconds(1764000000);
  v1::ReportStatusRequest req;
  req.set_host_id("h");
  req.set_channel("channels/c");
  req.set_current_version("1.0.0");
  req.set_health(v1::HEALTH_HEALTHY);
  req.set_sequence(1);
  req.set_updater_version(SanitizeText(std::string(100, 'v') + "\n", kMaxUpdaterVersionLength, TextLines::kOne));
  std::string hostile = "\033[31mnot ready\033[0m\r\n\x01\xff";
  while (hostile.size() < 3 * kMaxErrorLength) hostile.append("\xe2\x80\x98\xe4\xb8\xad\xf0\x9f\x92\xa5");
  v1::UpdateOutcome* o = req.add_outcomes();
  o->set_to_version("1.1.0");
  o->set_result(v1::UPDATE_RESULT_FAILED);
  o->set_error(SanitizeText(hostile, kMaxErrorLength, TextLines::kMany));
  o->mutable_start_time()->set_seconds(absl::ToUnixSeconds(ClampReportTime(absl::FromUnixSeconds(5), now)));
  o->mutable_finish_time()->set_seconds(absl::ToUnixSeconds(ClampReportTime(now + absl::Hours(2), now)));
  absl::StatusOr<rollout::AgentReport> r = api::ReportFromProto(req, now);
  EXPECT_TRUE(r.ok()) << r.status();
}

}  // namespace
}  // namespace drover
