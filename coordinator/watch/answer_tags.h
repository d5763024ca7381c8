// Where the watch endpoint gets hosts' current answer tags from.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/answer_tag.h"

namespace drover::watch {

struct HostKey {
  std::string host_id;
  std::string group;
};

class AnswerTags {
 public:
  virtual ~AnswerTags() = default;
  // The current tag of each host of `channel`, in order, into `tags`.
  // NotFound for an unknown channel; Unavailable when the answer cannot be
  // read (the caller must not guess).
  virtual absl::Status TagsFor(const std::string& channel, const std::vector<HostKey>& hosts,
                               std::vector<std::string>* tags) = 0;
  // A digest of everything the tags of `channel` depend on, less the host:
  // while it stays the same no tag of the channel can change, so the
  // periodic re-check skips the channel. NotFound/Unavailable as TagsFor.
  virtual absl::StatusOr<std::string> ChannelVersion(const std::string& channel) = 0;
  // Drops what is cached of `channel` (a change was announced), so the next
  // TagsFor reads it afresh.
  virtual void Invalidate(const std::string& channel) = 0;
};

// Where the version server gets one host's answer from.
class HostAnswers {
 public:
  virtual ~HostAnswers() = default;
  // What GetTarget would answer `host` of `channel`. NotFound for an
  // unknown channel; Unavailable when the answer cannot be read.
  virtual absl::StatusOr<AnswerFields> AnswerFor(const std::string& channel, const HostKey& host) = 0;
};

}  // namespace drover::watch
