// Table renderings of the coordinator's resources that several commands share.
#pragma once

#include <string>

#include "absl/time/time.h"
#include "cli/command.h"
#include "drover/v1/agent.pb.h"
#include "drover/v1/channel.pb.h"

namespace drover::cli {

// A channel as a key/value block: target, critical toggle, control plane,
// windows, poll interval, times.
std::string RenderChannel(const v1::Channel& channel, absl::Time now);

// The maintenance windows line(s): "daily 02:00 1h (open now, until ...)".
std::string RenderWindows(const v1::Channel& channel, absl::Time now);

std::string RenderAgent(const v1::Agent& agent, absl::Time now);

// What a command that changed a channel prints: the headline and the channel
// (table), or the Channel message (json).
Result PrintChannel(CommandContext& ctx, const v1::Channel& channel, const std::string& headline);

}  // namespace drover::cli
