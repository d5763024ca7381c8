// `droverctl help`: the overview (commands, global flags, JSON, exit codes)
// and the help of each command and command group.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/command.h"

namespace drover::cli {

// The help text for a topic (command words; empty: the overview).
// InvalidArgument naming the words when no command or group matches.
absl::StatusOr<std::string> HelpText(const std::vector<CommandSpec>& commands, const std::vector<std::string>& topic);

// The short hint printed after a usage error.
std::string UsageHint(const std::vector<std::string>& words);

}  // namespace drover::cli
