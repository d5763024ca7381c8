// The answer tag: a short digest of one host's own target answer, so a
// long-poll watcher (coordinator/watch/) can tell "your answer changed"
// without sending the answer, and the updater can name the answer it acted
// on. Both sides compute it from the same plain fields (the coordinator from
// its domain answer, the updater from the GetTargetResponse it received),
// hence here, with no protobuf.
//
// A change detector, not an integrity check: a collision only delays a
// pass to the next poll, and every pass verifies the signed answer anyway.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/maintenance_window.h"

namespace drover {

// What GetTarget answers one host, less the time and the signature.
struct AnswerFields {
  std::string target_version;  // empty: nothing to install
  bool critical = false;
  bool downgrade_allowed = false;
  bool held_back = false;
  std::string control_plane_version;
  std::vector<MaintenanceWindow> maintenance_windows;
  absl::Duration poll_interval = absl::ZeroDuration();
  int64_t channel_generation = 0;
};

inline constexpr size_t kAnswerTagLength = 16;

// 16 lower-case hex digits (FNV-1a 64 over a length-prefixed encoding of
// every field, so no two distinct answers share an encoding).
std::string AnswerTag(const AnswerFields& answer);

// True for 1..64 hex digits: what a watcher may send as its tag (an empty
// tag is valid too -- "I know nothing yet" -- and handled by the caller).
bool IsAnswerTagSyntax(absl::string_view tag);

}  // namespace drover
