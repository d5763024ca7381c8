#include "agent-updater/health/systemd_health_check.h"

#include "absl/strings/str_cat.h"
#include "agent-updater/health/output_line.h"
#include "common/subprocess.h"

namespace drover::updater {

absl::Status SystemdHealthCheck::Check() {
  // Not --quiet: the state it prints ("inactive", "failed") is the reason a
  // person wants to read.
  const std::vector<std::string> argv = {systemctl_, "is-active", "--", unit_};
  CommandOptions options;
  options.timeout = timeout_;
  absl::StatusOr<CommandOutput> out = RunCommand(argv, options);
  if (!out.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot check systemd unit ", unit_, ": ", out.status().message()));
  }
  if (out->timed_out) {
    return absl::DeadlineExceededError(absl::StrCat("systemctl is-active ", unit_, " timed out after ",
                                                    absl::FormatDuration(timeout_)));
  }
  if (out->exit_code != 0) {
    const std::string tail = OutputOneLine(out->output);
    return absl::UnavailableError(absl::StrCat("systemd unit ", unit_, " is not active: ",
                                               tail.empty() ? std::string("(no output)") : tail,
                                               " (systemctl is-active exit code ", out->exit_code, ")"));
  }
  return absl::OkStatus();
}

}  // namespace drover::updater
