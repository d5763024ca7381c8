#include "agent-updater/config.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/api_limits.h"
#include "common/atomic_file.h"
#include "proto/wire/names.h"

namespace drover::updater {
namespace {

class Collector final : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first.empty()) first = absl::StrCat("line ", line + 1, " column ", column + 1, ": ", message);
  }
  std::string first;
};

absl::Status Bad(absl::string_view field, absl::string_view value, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("config ", field, " \"", value, "\": ", why));
}

absl::Status Missing(absl::string_view field, absl::string_view hint) {
  return absl::InvalidArgumentError(absl::StrCat("config ", field, " is required", hint.empty() ? "" : " (", hint,
                                                 hint.empty() ? "" : ")"));
}

bool AllOf(absl::string_view s, absl::string_view allowed_extra) {
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && allowed_extra.find(c) == absl::string_view::npos) {
      return false;
    }
  }
  return true;
}

absl::Status CheckDuration(absl::string_view field, const google::protobuf::Duration& d) {
  if (d.seconds() < 0 || d.nanos() < 0 || d.seconds() > 7 * 24 * 3600) {
    return Bad(field, absl::StrCat(d.seconds(), "s"), "must be between 0 and 7 days");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::UpdaterConfig> LoadConfigFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat("cannot read config ", path, ": ", text.status().message()));
  v1::UpdaterConfig config;
  if (absl::EndsWith(path, ".json")) {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    auto status = google::protobuf::util::JsonStringToMessage(*text, &config, options);
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("config ", path, ": ", status.message().as_string()));
    }
    return config;
  }
  google::protobuf::TextFormat::Parser parser;
  Collector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(*text, &config)) {
    return absl::InvalidArgumentError(absl::StrCat("config ", path, ": ", errors.first));
  }
  return config;
}

absl::Status CompleteConfig(v1::UpdaterConfig& c, const std::string& machine_id_path) {
  if (c.coordinator().empty()) return Missing("coordinator", "host:port of drover-coordinator");
  {
    size_t colon = c.coordinator().rfind(':');
    int port = 0;
    if (colon == std::string::npos || colon == 0 || !absl::SimpleAtoi(c.coordinator().substr(colon + 1), &port) ||
        port < 1 || port > 65535) {
      return Bad("coordinator", c.coordinator(), "want host:port, e.g. drover.example.com:7600");
    }
  }
  if (!c.watch().empty()) {
    size_t colon = c.watch().rfind(':');
    int port = 0;
    if (colon == std::string::npos || colon == 0 || !absl::SimpleAtoi(c.watch().substr(colon + 1), &port) ||
        port < 1 || port > 65535 || absl::StrContains(c.watch(), "/") || absl::StrContains(c.watch(), " ")) {
      return Bad("watch", c.watch(), "want host:port of the coordinator's --watch_listen, e.g. drover.example.com:7602");
    }
  }
  if (c.channel().empty()) return Missing("channel", "e.g. stable/cloud");
  if (std::optional<absl::string_view> id = wire::ChannelIdOfName(c.channel())) {
    // "channels/" alone names no channel (found by tests/fuzz/updater_config_fuzzer).
    if (id->empty()) return Bad("channel", c.channel(), "names no channel; want an id such as stable/cloud");
    c.set_channel(std::string(*id));
  }
  if (c.channel().size() > kMaxChannelIdLength || !AllOf(c.channel(), "-._/") || absl::StrContains(c.channel(), "//") ||
      c.channel().front() == '/' || c.channel().back() == '/' || absl::AsciiStrToLower(c.channel()) != c.channel()) {
    return Bad("channel", c.channel(),
               absl::StrCat("lowercase letters, digits and \"-._/\", up to ", kMaxChannelIdLength, " characters"));
  }
  if (c.group().size() > kMaxGroupLength || !AllOf(c.group(), "-._")) {
    return Bad("group", c.group(),
               absl::StrCat("letters, digits and \"-._\", up to ", kMaxGroupLength, " characters"));
  }
  if (c.host_id().empty()) {
    absl::StatusOr<std::string> id = ReadFile(machine_id_path);
    if (!id.ok()) return Missing("host_id", absl::StrCat("and ", machine_id_path, " is unreadable"));
    c.set_host_id(std::string(absl::StripAsciiWhitespace(*id)));
  }
  if (c.host_id().empty() || c.host_id().size() > kMaxHostIdLength || !AllOf(c.host_id(), "-._:@")) {
    return Bad("host_id", c.host_id(),
               absl::StrCat("letters, digits and \"-._:@\", 1 to ", kMaxHostIdLength, " characters"));
  }
  if (c.root_public_key_file().empty() && !c.insecure_unsigned_targets()) {
    return Missing("root_public_key_file",
                   "PEM file of the pinned root public key (droverctl keys create-root); only test setups may set "
                   "insecure_unsigned_targets: true instead");
  }
  if (!c.root_public_key_file().empty() && c.root_public_key_file().front() != '/') {
    return Bad("root_public_key_file", c.root_public_key_file(), "must be an absolute path");
  }
  if (!c.join_token_file().empty() && c.coordinator_ca_file().empty()) {
    // Enrolment needs TLS (the token and certificate travel over it): without
    // the CA the token would lie unused, and the updater talk plaintext.
    return Bad("join_token_file", c.join_token_file(),
               "needs coordinator_ca_file (the fleet CA's PEM) to trade the token for a host certificate over TLS; "
               "set coordinator_ca_file, or remove join_token_file for a coordinator run with --insecure");
  }
  if (c.state_dir().empty()) c.set_state_dir("/var/lib/drover-updater");
  if (c.state_dir().front() != '/') return Bad("state_dir", c.state_dir(), "must be an absolute path");
  for (auto [field, d] : {std::pair{"poll_interval", &c.poll_interval()}, {"backoff_initial", &c.backoff_initial()},
                          {"backoff_max", &c.backoff_max()}, {"rpc_timeout", &c.rpc_timeout()},
                          {"agent.health_watch", &c.agent().health_watch()},
                          {"agent.health_grace", &c.agent().health_grace()}}) {
    if (absl::Status s = CheckDuration(field, *d); !s.ok()) return s;
  }
  if (!c.schedule_file().empty() && c.schedule_file().front() != '/') {
    return Bad("schedule_file", c.schedule_file(), "must be an absolute path");
  }

  const v1::AgentConfig& a = c.agent();
  if (a.name().empty()) return Missing("agent.name", "the package or tarball name");
  if (a.name().size() > 64 || !AllOf(a.name(), "-._+")) {
    return Bad("agent.name", a.name(), "letters, digits and \"-._+\", up to 64 characters");
  }
  switch (a.installer_case()) {
    case v1::AgentConfig::kApt:
      if (a.apt().source_list().empty()) return Missing("agent.apt.source_list", "the agent's own apt source list");
      break;
    case v1::AgentConfig::kDnf:
      if (a.dnf().repo_id().empty()) return Missing("agent.dnf.repo_id", "the agent's dnf repository id");
      break;
    case v1::AgentConfig::kTarball:
      if (a.tarball().base().empty()) return Missing("agent.tarball.base", "http(s):// URL or directory of tarballs");
      if (a.tarball().public_key_file().empty()) {
        return Missing("agent.tarball.public_key_file", "PEM file of the pinned Ed25519 key");
      }
      if (a.tarball().install_dir().empty() || a.tarball().install_dir().front() != '/') {
        return Bad("agent.tarball.install_dir", a.tarball().install_dir(), "an absolute path is required");
      }
      break;
    case v1::AgentConfig::INSTALLER_NOT_SET:
      return Missing("agent installer", "set one of agent.apt, agent.dnf, agent.tarball");
  }
  if (a.restart_command().empty() || a.restart_command(0).empty()) {
    return Missing("agent.restart_command", "e.g. [\"systemctl\", \"try-restart\", \"teleport\"]");
  }
  if (!a.has_health_check()) return Missing("agent.health_check", "http, systemd or command");
  return absl::OkStatus();
}

}  // namespace drover::updater
