// AnswerTags from the caches GetTarget answers from, so a watcher is told
// exactly when what GetTarget would answer it changes.
#pragma once

#include <functional>

#include "coordinator/store/channel_cache.h"
#include "coordinator/store/rollout_cache.h"
#include "coordinator/watch/answer_tags.h"

namespace drover::watch {

class CachedAnswerTags final : public AnswerTags, public HostAnswers {
 public:
  CachedAnswerTags(store::ChannelCache* channels, store::RolloutCache* rollouts)
      : channels_(channels), rollouts_(rollouts) {}

  absl::Status TagsFor(const std::string& channel, const std::vector<HostKey>& hosts,
                       std::vector<std::string>* tags) override;
  absl::StatusOr<std::string> ChannelVersion(const std::string& channel) override;
  void Invalidate(const std::string& channel) override;
  absl::StatusOr<AnswerFields> AnswerFor(const std::string& channel, const HostKey& host) override;

 private:
  // Each host's answer, in order, to `out`.
  absl::Status ForEachAnswer(const std::string& channel, const std::vector<HostKey>& hosts,
                             const std::function<void(AnswerFields)>& out);

  store::ChannelCache* const channels_;
  store::RolloutCache* const rollouts_;
};

}  // namespace drover::watch
