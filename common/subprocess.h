// Runs a command (argv, never a shell) with a timeout and captures its output.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace drover {

struct CommandOutput {
  int exit_code = -1;      // -1 when killed by a signal or the timeout
  bool timed_out = false;
  std::string output;      // stdout and stderr, interleaved, truncated to 64 KiB
};

struct CommandOptions {
  absl::Duration timeout = absl::Minutes(5);
  // Added to (or replacing) the inherited environment.
  std::map<std::string, std::string> env;
  // Start in a new session and leave it running in the background: the call
  // returns at once with exit_code 0 (used to start a long-running agent).
  bool detach = false;
};

// InvalidArgument for an empty argv; Internal when the process cannot start.
// A non-zero exit is not an error here: callers judge exit_code.
absl::StatusOr<CommandOutput> RunCommand(const std::vector<std::string>& argv, const CommandOptions& options = {});

// "argv[0] arg1 ..." quoted for messages.
std::string CommandLineForLog(const std::vector<std::string>& argv);

}  // namespace drover
