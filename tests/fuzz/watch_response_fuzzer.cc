// The daemon's reader of watch answers (agent-updater/daemon/watch_client.h):
// bytes from the network, parsed by hand. Invariants: it never reads past
// the buffer, never accepts more than its limits, and a complete answer
// stays the same answer whatever bytes follow it (pipelined answers).
#include <cstddef>
#include <cstdint>
#include <string>

#include "agent-updater/daemon/watch_client.h"
#include "tests/fuzz/fuzz_check.h"

namespace drover::fuzz {
namespace {

void CheckParse(absl::string_view in) {
  const updater::WatchParse p = updater::ParseWatchResponse(in);
  if (p.state == updater::WatchParse::kBad) {
    FUZZ_CHECK(!p.error.empty(), Show(in));
    return;
  }
  if (p.state == updater::WatchParse::kIncomplete) {
    FUZZ_CHECK(in.size() <= updater::kMaxWatchHeaderBytes + updater::kMaxWatchBodyBytes + 4, Show(in));
    return;
  }
  const updater::WatchResponse& r = p.response;
  FUZZ_CHECK(r.consumed > 0 && r.consumed <= in.size(), Show(in));
  FUZZ_CHECK(r.status >= 100 && r.status <= 599, Show(in));
  FUZZ_CHECK(r.body.size() <= updater::kMaxWatchBodyBytes, Show(in));
  FUZZ_CHECK(in.substr(r.consumed - r.body.size(), r.body.size()) == r.body, Show(in));
  FUZZ_CHECK(r.retry_after >= absl::ZeroDuration() && r.retry_after <= absl::Hours(1), Show(in));
  // The same answer with anything after it.
  const std::string more = std::string(in) + "HTTP/1.1 204 No Content\r\n\r\n";
  const updater::WatchParse q = updater::ParseWatchResponse(more);
  FUZZ_CHECK(q.state == updater::WatchParse::kDone && q.response.consumed == r.consumed &&
                 q.response.status == r.status && q.response.body == r.body && q.response.close == r.close,
             Show(in));
  (void)updater::TagOfWatchBody(r.body);
}

}  // namespace
}  // namespace drover::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) { return drover::fuzz::Initialize(); }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  drover::fuzz::CheckParse(drover::fuzz::AsText(data, size));
  return 0;
}
