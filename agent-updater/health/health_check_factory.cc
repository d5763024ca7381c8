#include "agent-updater/health/health_check_factory.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "agent-updater/health/command_health_check.h"
#include "agent-updater/health/http_health_check.h"
#include "agent-updater/health/systemd_health_check.h"
#include "agent-updater/install/http_fetch.h"
#include "proto/wire/time.h"

namespace drover::updater {
namespace {

constexpr absl::Duration kDefaultTimeout = absl::Seconds(5);
constexpr absl::Duration kMaxTimeout = absl::Minutes(10);

// Unit names as systemd accepts them (letters, digits, ":-_.\@"), which also
// keeps them from being read as options.
bool ValidUnitName(absl::string_view unit) {
  if (unit.empty() || unit.size() > 256 || unit.front() == '-') return false;
  for (char c : unit) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && std::string_view(":-_.\\@").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<HealthCheck>> MakeHealthCheck(const drover::v1::HealthCheck& config,
                                                             absl::string_view field_path) {
  absl::Duration timeout = kDefaultTimeout;
  if (config.has_timeout()) {
    timeout = wire::DurationFromProto(config.timeout());
    if (timeout <= absl::ZeroDuration() || timeout > kMaxTimeout) {
      return absl::InvalidArgumentError(absl::StrCat(field_path, ".timeout is ", absl::FormatDuration(timeout),
                                                     "; it must be above 0 and at most ",
                                                     absl::FormatDuration(kMaxTimeout)));
    }
  }

  switch (config.check_case()) {
    case drover::v1::HealthCheck::kHttp: {
      const std::string field = absl::StrCat(field_path, ".http.url");
      if (config.http().url().empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, " is required, e.g. \"http://127.0.0.1:3000/readyz\""));
      }
      absl::StatusOr<HttpUrl> url = ParseHttpUrl(config.http().url());
      if (!url.ok()) return absl::InvalidArgumentError(absl::StrCat(field, ": ", url.status().message()));
      int expected = config.http().expected_status();
      if (expected == 0) expected = 200;
      if (expected < 100 || expected > 599) {
        return absl::InvalidArgumentError(absl::StrCat(field_path, ".http.expected_status is ", expected,
                                                       "; it must be an HTTP status code (100-599)"));
      }
      return std::make_unique<HttpHealthCheck>(config.http().url(), expected, timeout);
    }
    case drover::v1::HealthCheck::kSystemd: {
      const std::string& unit = config.systemd().unit();
      if (!ValidUnitName(unit)) {
        return absl::InvalidArgumentError(absl::StrCat(field_path, ".systemd.unit \"", unit,
                                                       "\" is not a unit name, e.g. \"teleport.service\""));
      }
      return std::make_unique<SystemdHealthCheck>(unit, timeout);
    }
    case drover::v1::HealthCheck::kCommand: {
      const auto& argv = config.command().argv();
      if (argv.empty() || argv[0].empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            field_path, ".command.argv is required: the program and its arguments, e.g. [\"/usr/bin/agent\", \"check\"]"));
      }
      return std::make_unique<CommandHealthCheck>(std::vector<std::string>(argv.begin(), argv.end()), timeout);
    }
    case drover::v1::HealthCheck::CHECK_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field_path, " must set one of http, systemd or command"));
}

}  // namespace drover::updater
