#include "coordinator/watch/cached_answer_tags.h"

#include "coordinator/rollout/host_answer.h"

namespace drover::watch {

absl::Status CachedAnswerTags::TagsFor(const std::string& channel, const std::vector<HostKey>& hosts,
                                       std::vector<std::string>* tags) {
  tags->clear();
  absl::StatusOr<rollout::Channel> ch = channels_->Get(channel);
  if (!ch.ok()) return ch.status();
  std::shared_ptr<const store::RolloutSnapshot> snap;
  rollout::RolloutView view;
  if (rollout::AnswersPerHost(*ch)) {
    absl::StatusOr<std::shared_ptr<const store::RolloutSnapshot>> s = rollouts_->Get(channel, ch->rollout_id);
    if (!s.ok()) return s.status();
    snap = *std::move(s);
    view = {snap->rollout.id == 0 ? nullptr : &snap->rollout, &snap->policy, &snap->admitted};
  }
  tags->reserve(hosts.size());
  for (const HostKey& h : hosts) {
    tags->push_back(AnswerTag(rollout::HostAnswer(*ch, snap == nullptr ? nullptr : &view, h.host_id, h.group)));
  }
  return absl::OkStatus();
}

void CachedAnswerTags::Invalidate(const std::string& channel) {
  channels_->Invalidate();
  rollouts_->Invalidate(channel);
}

}  // namespace drover::watch
