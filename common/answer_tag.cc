#include "common/answer_tag.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace drover {
namespace {

// FNV-1a, 64 bit (a published, fixed hash: both sides must agree across
// builds, which absl::Hash does not promise).
class Fnv64 {
 public:
  void Bytes(absl::string_view s) {
    for (unsigned char c : s) {
      h_ ^= c;
      h_ *= 0x100000001b3ULL;
    }
  }
  // Length first, so "ab"+"c" and "a"+"bc" differ.
  void Field(absl::string_view s) {
    // AlphaNum formats into its own buffer: no allocation per field (the
    // watch endpoint tags every waiting host of a channel on a change).
    Bytes(absl::AlphaNum(s.size()).Piece());
    Bytes(":");
    Bytes(s);
  }
  void Int(int64_t v) { Field(absl::AlphaNum(v).Piece()); }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 0xcbf29ce484222325ULL;
};

}  // namespace

std::string AnswerTag(const AnswerFields& a) {
  Fnv64 h;
  h.Field("drover-answer-v1");
  h.Field(a.target_version);
  h.Int(a.critical ? 1 : 0);
  h.Int(a.downgrade_allowed ? 1 : 0);
  h.Int(a.held_back ? 1 : 0);
  h.Field(a.control_plane_version);
  h.Int(static_cast<int64_t>(a.maintenance_windows.size()));
  for (const MaintenanceWindow& w : a.maintenance_windows) {
    h.Int(static_cast<int64_t>(w.weekdays.size()));
    for (int d : w.weekdays) h.Int(d);
    h.Int(w.utc_start_hour);
    h.Int(absl::ToInt64Seconds(w.duration));
  }
  h.Int(absl::ToInt64Milliseconds(a.poll_interval));
  h.Int(a.channel_generation);
  return absl::StrFormat("%016x", h.value());
}

bool IsAnswerTagSyntax(absl::string_view tag) {
  if (tag.empty() || tag.size() > 64) return false;
  for (char c : tag) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace drover
