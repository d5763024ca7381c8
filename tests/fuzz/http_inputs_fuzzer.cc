// Text that reaches Drover over HTTP from outside, parsed by Drover's own
// code: the version server's request line (coordinator/watch/
// version_server.h: path and query from any client) and a registry's
// WWW-Authenticate challenge (agent-updater/oci/www_authenticate.h, hand
// written: libcurl has no public parser for it). The first byte picks the
// parser. Invariants: no crash or overread; a parsed request names a valid
// channel and is answered with a bare body; a challenge has a lowercase
// scheme and parameter names.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "agent-updater/oci/www_authenticate.h"
#include "coordinator/api/proto_convert.h"
#include "coordinator/watch/version_server.h"
#include "tests/fuzz/fuzz_check.h"

namespace drover::fuzz {
namespace {

void CheckVersionRequest(absl::string_view in) {
  const size_t q = in.find('?');
  const absl::string_view path = in.substr(0, q);
  const absl::string_view query = q == absl::string_view::npos ? absl::string_view() : in.substr(q + 1);
  absl::StatusOr<watch::VersionRequest> r = watch::ParseVersionRequest(path, query);
  if (!r.ok()) {
    FUZZ_CHECK(!r.status().message().empty(), Show(in));
    return;
  }
  FUZZ_CHECK(api::ValidateChannelId("channel", r->channel).ok(), Show(in));
  FUZZ_CHECK(r->host.host_id.empty() || api::ValidateHostId("host_id", r->host.host_id).ok(), Show(in));
  FUZZ_CHECK(api::ValidateGroup("group", r->host.group).ok(), Show(in));
  AnswerFields a;
  a.target_version = r->channel;  // any text: the body must stay one line
  const std::string body = watch::VersionBody(r->kind, a);
  FUZZ_CHECK(body.find('\n') == std::string::npos, Show(in));
}

void CheckChallenge(absl::string_view in) {
  absl::StatusOr<oci::AuthChallenge> c = oci::ParseAuthChallenge(in);
  if (!c.ok()) {
    FUZZ_CHECK(!c.status().message().empty(), Show(in));
    return;
  }
  FUZZ_CHECK(!c->scheme.empty() && c->scheme == absl::AsciiStrToLower(c->scheme), Show(in));
  for (const auto& [name, value] : c->params) {
    FUZZ_CHECK(!name.empty() && name == absl::AsciiStrToLower(name), Show(in));
    FUZZ_CHECK(value.size() <= in.size(), Show(in));
  }
}

}  // namespace
}  // namespace drover::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) { return drover::fuzz::Initialize(); }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view rest = drover::fuzz::AsText(data + 1, size - 1);
  if (data[0] & 1) {
    drover::fuzz::CheckChallenge(rest);
  } else {
    drover::fuzz::CheckVersionRequest(rest);
  }
  return 0;
}
