// What GetTarget answers one host, as plain fields (common/answer_tag.h):
// the channel's target, or, under a staged rollout or with the catch-all
// off, the host's own answer (TargetFor). The watch endpoint tags it so a
// host is woken only when its own answer changes.
#pragma once

#include "absl/strings/string_view.h"
#include "common/answer_tag.h"
#include "coordinator/rollout/model.h"
#include "coordinator/rollout/staged.h"

namespace drover::rollout {

// True when the channel answers per host, so a RolloutView is needed.
bool AnswersPerHost(const Channel& channel);

// `view` is used only when AnswersPerHost(channel); it may be null otherwise.
AnswerFields HostAnswer(const Channel& channel, const RolloutView* view, absl::string_view host_id,
                        absl::string_view group);

}  // namespace drover::rollout
