#include "coordinator/rollout/heartbeat.h"

#include "absl/strings/str_cat.h"
#include "coordinator/rollout/report_apply.h"

namespace drover::rollout {
namespace {

void Field(std::string* out, absl::string_view value) {
  absl::StrAppend(out, value.size(), ":", value, ";");
}

}  // namespace

std::string DurableFields(const AgentReport& r) {
  std::string out;
  out.reserve(r.host_id.size() + r.channel.size() + r.group.size() + r.current_version.size() +
              r.updater_version.size() + r.instance_id.size() + r.updating_to.size() + 40);
  Field(&out, r.host_id);
  Field(&out, r.channel);
  Field(&out, r.group);
  Field(&out, r.current_version);
  Field(&out, absl::StrCat(static_cast<int>(r.health)));
  Field(&out, r.updater_version);
  Field(&out, r.instance_id);
  Field(&out, absl::StrCat(static_cast<int>(r.schedule_state)));
  Field(&out, r.updating_to);
  return out;
}

bool IsHeartbeat(const AgentReport& r, const LastHandled& last, absl::Time now) {
  return r.outcomes.empty() && last.same_durable_fields && last.sequence > 0 && r.previous_sequence == last.sequence &&
         r.sequence > last.sequence && r.sequence <= MaxAcceptedSequence(last.sequence, now);
}

}  // namespace drover::rollout
