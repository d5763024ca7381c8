// The text helpers everything untrusted passes through: the UTF-8 decoder
// (common/text.h), the cuts and the sanitiser the updater applies before it
// reports (proto/wire/report_text.h), the log escaping (common/log.h), and
// the one-line result a pass hands the daemon (daemon/pass_report.h).
// Differential where there is a reference: protobuf decides what UTF-8 is,
// the coordinator's validation what is acceptable.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "agent-updater/daemon/pass_report.h"
#include "common/api_limits.h"
#include "common/log.h"
#include "common/text.h"
#include "coordinator/api/proto_convert.h"
#include "drover/v1/updater_service.pb.h"
#include "proto/wire/proto_utf8.h"
#include "proto/wire/report_text.h"
#include "proto/wire/time.h"
#include "tests/fuzz/fuzz_check.h"

namespace drover::fuzz {
namespace {

namespace v1 = ::drover::v1;
using wire::TextLines;

const absl::Time kNow = absl::FromUnixSeconds(1798761600);  // 2027-01-01T00:00:00Z

std::string EncodeUtf8(uint32_t c) {
  std::string out;
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
  }
  return out;
}

bool Within(absl::string_view inner, absl::string_view outer) {
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

void CheckUtf8(absl::string_view s) {
  // Decoding then encoding each character gives back the bytes.
  bool valid = true;
  std::string rebuilt;
  for (absl::string_view rest = s; !rest.empty();) {
    uint32_t c = 0;
    const size_t n = DecodeUtf8(rest, &c);
    if (n == 0) {
      valid = false;
      break;
    }
    FUZZ_CHECK(n <= 4 && n <= rest.size(), Show(s));
    FUZZ_CHECK(c <= 0x10ffff && !(c >= 0xd800 && c <= 0xdfff), absl::StrCat(c));
    const std::string encoded = EncodeUtf8(c);
    FUZZ_CHECK(encoded == rest.substr(0, n), Show(rest.substr(0, n)));
    rebuilt += encoded;
    rest.remove_prefix(n);
  }
  FUZZ_CHECK(IsValidUtf8(s) == valid, Show(s));
  if (valid) FUZZ_CHECK(rebuilt == s, Show(s));

  // protobuf is the reference: a string field holding `s` parses exactly
  // when IsValidUtf8 says so, and FindInvalidUtf8 names the field otherwise.
  v1::UpdateOutcome o;
  o.set_error(std::string(s));
  std::string wire_bytes;
  o.SerializeToString(&wire_bytes);
  v1::UpdateOutcome parsed;
  const bool protobuf_valid = parsed.ParseFromString(wire_bytes);
  FUZZ_CHECK(protobuf_valid == valid, absl::StrCat("protobuf says ", protobuf_valid, " for ", Show(s)));
  std::optional<std::string> bad = wire::FindInvalidUtf8(o.GetDescriptor(), wire_bytes);
  FUZZ_CHECK(bad.has_value() == !valid, Show(s));
  if (bad) FUZZ_CHECK(absl::StartsWith(*bad, "error \""), *bad);

  // Blank trimming: a piece of `s`, stable, and IsBlank agrees.
  const absl::string_view trimmed = TrimBlank(s);
  FUZZ_CHECK(Within(trimmed, s), Show(s));
  FUZZ_CHECK(TrimBlank(trimmed) == trimmed, Show(s));
  FUZZ_CHECK(IsBlank(s) == trimmed.empty(), Show(s));
  if (valid) FUZZ_CHECK(IsValidUtf8(trimmed), Show(s));
}

void CheckCuts(absl::string_view s, size_t max) {
  const bool valid = IsValidUtf8(s);
  const absl::string_view prefix = wire::Utf8Prefix(s, max);
  FUZZ_CHECK(prefix.size() <= max && prefix.data() == s.data(), Show(s));
  const absl::string_view suffix = wire::Utf8Suffix(s, max);
  FUZZ_CHECK(suffix.size() <= max && suffix.data() + suffix.size() == s.data() + s.size(), Show(s));
  if (s.size() <= max) FUZZ_CHECK(prefix == s && suffix == s, Show(s));
  if (valid) {
    // On a character boundary: nothing longer than a character is lost.
    FUZZ_CHECK(IsValidUtf8(prefix) && IsValidUtf8(suffix), absl::StrCat(max, " ", Show(s)));
    if (s.size() > max) FUZZ_CHECK(prefix.size() + 3 >= max && suffix.size() + 3 >= max, absl::StrCat(max, " ", Show(s)));
  }
}

void CheckSanitized(absl::string_view s, size_t max, TextLines lines) {
  const std::string clean = wire::SanitizeText(s, max, lines);
  const std::string what = absl::StrCat("SanitizeText(", Show(s), ", ", max, ", ", lines == TextLines::kOne ? "one" : "many",
                                        ") = ", Show(clean));
  FUZZ_CHECK(clean.size() <= max, what);
  FUZZ_CHECK(IsValidUtf8(clean), what);
  for (absl::string_view rest = clean; !rest.empty();) {
    uint32_t c = 0;
    const size_t n = DecodeUtf8(rest, &c);
    const bool space = c == '\n' || c == '\t';
    FUZZ_CHECK(!(c < 0x20 || (c >= 0x7f && c <= 0x9f)) || (space && lines == TextLines::kMany), what);
    rest.remove_prefix(n);
  }
  FUZZ_CHECK(wire::SanitizeText(clean, max, lines) == clean, what);
  // What the updater sends as an outcome's error (or a one-line field) the
  // coordinator accepts.
  if (lines == TextLines::kOne) {
    FUZZ_CHECK(api::ValidateSingleLine("field", clean, max).ok(), what);
  }
}

// A report as the updater builds it: its error sanitised, its times clamped.
void CheckUpdaterReportAccepted(absl::string_view s, int64_t start_s, int64_t finish_s) {
  v1::ReportStatusRequest req;
  req.set_host_id("host-1");
  req.set_channel("channels/stable");
  req.set_current_version("1.2.3");
  req.set_health(v1::HEALTH_HEALTHY);
  req.set_sequence(1);
  v1::UpdateOutcome* o = req.add_outcomes();
  o->set_to_version("1.2.3");
  o->set_result(v1::UPDATE_RESULT_FAILED);
  o->set_error(wire::SanitizeText(s, kMaxErrorLength, TextLines::kMany));
  const absl::Time start = wire::ClampReportTime(absl::FromUnixSeconds(start_s), kNow);
  const absl::Time finish = std::max(start, wire::ClampReportTime(absl::FromUnixSeconds(finish_s), kNow));
  wire::TimeToProto(start, o->mutable_start_time());
  wire::TimeToProto(finish, o->mutable_finish_time());
  absl::StatusOr<rollout::AgentReport> r = api::ReportFromProto(req, kNow);
  FUZZ_CHECK(r.ok(), r.status().ToString());
}

void CheckLogText(absl::string_view s) {
  const std::string escaped = EscapeLogText(s);
  for (unsigned char c : escaped) FUZZ_CHECK(!((c < 0x20 && c != '\t') || c == 0x7f), Show(escaped));
  const std::string line = FormatLogLine(kNow, "INFO", s);
  FUZZ_CHECK(!line.empty() && line.back() == '\n' && line.find('\n') == line.size() - 1, Show(line));
}

void CheckPassReport(absl::string_view s) {
  absl::StatusOr<updater::PassReport> r = updater::ParsePassReport(s);
  if (r.ok()) {
    // A report read back is the report written.
    absl::StatusOr<updater::PassReport> again = updater::ParsePassReport(updater::FormatPassReport(*r));
    FUZZ_CHECK(again.ok(), again.status().ToString());
    FUZZ_CHECK(again->ok == r->ok && again->coordinator_reachable == r->coordinator_reachable &&
                   again->poll_interval == r->poll_interval && again->backoff_initial == r->backoff_initial &&
                   again->backoff_max == r->backoff_max,
               Show(s));
    // The line a pass writes has no line break: one in the summary became a space.
    std::string summary = r->summary;
    std::replace(summary.begin(), summary.end(), '\n', ' ');
    FUZZ_CHECK(again->summary == absl::StripTrailingAsciiWhitespace(summary), Show(s));
  }
  // Whatever the summary holds, the line a pass writes parses.
  updater::PassReport p;
  p.ok = true;
  p.summary = std::string(s);
  const std::string line = updater::FormatPassReport(p);
  FUZZ_CHECK(line.find('\n') == line.size() - 1, Show(line));
  absl::StatusOr<updater::PassReport> back = updater::ParsePassReport(line);
  FUZZ_CHECK(back.ok(), back.status().ToString());
  std::string summary(s);
  std::replace(summary.begin(), summary.end(), '\n', ' ');
  FUZZ_CHECK(back->summary == absl::StripTrailingAsciiWhitespace(summary), Show(s));
}

}  // namespace
}  // namespace drover::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) { return drover::fuzz::Initialize(); }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace drover;
  using namespace drover::fuzz;
  const absl::string_view s = AsText(data, size);
  CheckUtf8(s);
  // Limits from the input's own size (so short inputs get cut too) and the
  // API's.
  for (size_t max : {size_t{0}, size_t{1}, size_t{3}, size_t{4}, size / 2, size > 0 ? size - 1 : 0,
                     kMaxUpdaterVersionLength}) {
    CheckCuts(s, max);
    CheckSanitized(s, max, TextLines::kOne);
    CheckSanitized(s, max, TextLines::kMany);
  }
  CheckSanitized(s, kMaxErrorLength, TextLines::kMany);
  // Times from the first 16 bytes, so that the fuzzer reaches the clamps.
  int64_t t[2] = {0, 0};
  std::memcpy(t, data, std::min(size, sizeof(t)));
  CheckUpdaterReportAccepted(s, t[0], t[1]);
  CheckLogText(s);
  CheckPassReport(s);
  return 0;
}
