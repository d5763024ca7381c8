#include "proto/wire/proto_utf8.h"

#include <gtest/gtest.h>

#include "drover/v1/operator_service.pb.h"
#include "drover/v1/updater_service.pb.h"

namespace drover::wire {
namespace {

TEST(FindInvalidUtf8Test, AValidMessageHasNone) {
  v1::ReportStatusRequest r;
  r.set_host_id("host-1");
  r.set_channel("channels/stable");
  r.set_updater_version("0.1.0 \xc3\xa9");  // é is fine
  r.add_outcomes()->set_error("failed:\n\texit 1");
  EXPECT_EQ(FindInvalidUtf8(r.GetDescriptor(), r.SerializeAsString()), std::nullopt);
}

TEST(FindInvalidUtf8Test, NamesTheFieldAndShowsTheBytes) {
  v1::ReportStatusRequest r;
  r.set_host_id("host-1");
  r.set_updater_version("0.1\xff");
  EXPECT_EQ(FindInvalidUtf8(r.GetDescriptor(), r.SerializeAsString()),
            "updater_version \"0.1\\xff\": not valid UTF-8");
}

TEST(FindInvalidUtf8Test, FindsItInsideARepeatedNestedMessage) {
  v1::ReportStatusRequest r;
  r.set_host_id("host-1");
  r.add_outcomes()->set_error("fine");
  r.add_outcomes()->set_error("boom \xc3(");  // a broken two-byte sequence
  EXPECT_EQ(FindInvalidUtf8(r.GetDescriptor(), r.SerializeAsString()),
            "outcomes[1].error \"boom \\xc3(\": not valid UTF-8");
}

TEST(FindInvalidUtf8Test, RefusesOverlongAndSurrogateEncodings) {
  v1::SetCriticalRequest r;
  r.set_reason("\xc0\xaf");  // overlong "/"
  EXPECT_NE(FindInvalidUtf8(r.GetDescriptor(), r.SerializeAsString()), std::nullopt);
  r.set_reason("\xed\xa0\x80");  // a UTF-16 surrogate
  EXPECT_NE(FindInvalidUtf8(r.GetDescriptor(), r.SerializeAsString()), std::nullopt);
}

TEST(FindInvalidUtf8Test, DamagedEncodingAndUnknownFieldsAreNotMistakenForText) {
  EXPECT_EQ(FindInvalidUtf8(v1::ReportStatusRequest::descriptor(), "\x0a\x7f"), std::nullopt);  // truncated
  // Field 99 is unknown to the type: its bytes are not text of ours.
  EXPECT_EQ(FindInvalidUtf8(v1::ReportStatusRequest::descriptor(), std::string("\x9a\x06\x01\xff", 4)),
            std::nullopt);
}

}  // namespace
}  // namespace drover::wire
