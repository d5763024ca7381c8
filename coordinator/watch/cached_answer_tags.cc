#include "coordinator/watch/cached_answer_tags.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "coordinator/rollout/host_answer.h"

namespace drover::watch {

absl::Status CachedAnswerTags::TagsFor(const std::string& channel, const std::vector<HostKey>& hosts,
                                       std::vector<std::string>* tags) {
  tags->clear();
  tags->reserve(hosts.size());
  return ForEachAnswer(channel, hosts, [&](const AnswerFields& a) { tags->push_back(AnswerTag(a)); });
}

absl::StatusOr<AnswerFields> CachedAnswerTags::AnswerFor(const std::string& channel, const HostKey& host) {
  AnswerFields answer;
  absl::Status s = ForEachAnswer(channel, {host}, [&](AnswerFields a) { answer = std::move(a); });
  if (!s.ok()) return s;
  return answer;
}

absl::Status CachedAnswerTags::ForEachAnswer(const std::string& channel, const std::vector<HostKey>& hosts,
                                             const std::function<void(AnswerFields)>& out) {
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
  for (const HostKey& h : hosts) out(rollout::HostAnswer(*ch, snap == nullptr ? nullptr : &view, h.host_id, h.group));
  return absl::OkStatus();
}

absl::StatusOr<std::string> CachedAnswerTags::ChannelVersion(const std::string& channel) {
  absl::StatusOr<rollout::Channel> ch = channels_->Get(channel);
  if (!ch.ok()) return ch.status();
  // The channel's own answer covers its fields; a rollout's answers change
  // only with a write, which bumps its generation.
  std::string version = AnswerTag(rollout::HostAnswer(*ch, nullptr, "", ""));
  absl::StrAppend(&version, "/", ch->rollout_id, "/", static_cast<int>(ch->rollout_mode), "/",
                  ch->rollout_catch_all_off ? 1 : 0, "/", absl::StrJoin(ch->rollout_listed_groups, ","));
  if (rollout::AnswersPerHost(*ch)) {
    absl::StatusOr<std::shared_ptr<const store::RolloutSnapshot>> s = rollouts_->Get(channel, ch->rollout_id);
    if (!s.ok()) return s.status();
    const store::RolloutSnapshot& snap = **s;
    absl::StrAppend(&version, "/", snap.rollout.id, "/", snap.rollout.generation, "/", snap.admitted.size(), "/",
                    static_cast<int>(snap.policy.catch_all), "/", snap.policy.groups.size());
  }
  return version;
}

void CachedAnswerTags::Invalidate(const std::string& channel) {
  channels_->Invalidate();
  rollouts_->Invalidate(channel);
}

}  // namespace drover::watch
