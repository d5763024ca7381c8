#include "agent-updater/health/command_health_check.h"

#include "absl/strings/str_cat.h"
#include "agent-updater/health/output_line.h"
#include "common/subprocess.h"

namespace drover::updater {

absl::Status CommandHealthCheck::Check() {
  CommandOptions options;
  options.timeout = timeout_;
  absl::StatusOr<CommandOutput> out = RunCommand(argv_, options);
  const std::string command = CommandLineForLog(argv_);
  if (!out.ok()) {
    return absl::UnavailableError(absl::StrCat("health command ", command, " could not run: ", out.status().message()));
  }
  if (out->timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat("health command ", command, " timed out after ", absl::FormatDuration(timeout_), " (killed)"));
  }
  if (out->exit_code != 0) {
    const std::string tail = OutputOneLine(out->output);
    return absl::UnavailableError(absl::StrCat(
        "health command ", command, " ",
        out->exit_code < 0 ? std::string("was killed by a signal") : absl::StrCat("exited with code ", out->exit_code),
        tail.empty() ? std::string() : absl::StrCat(": ", tail)));
  }
  return absl::OkStatus();
}

}  // namespace drover::updater
