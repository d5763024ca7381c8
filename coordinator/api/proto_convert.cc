#include "absl/strings/string_view.h"
#include "coordinator/api/proto_convert.h"

#include <grpc/slice.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/proto_buffer_writer.h>
#include <grpcpp/support/slice.h>

#include <atomic>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "proto/wire/proto_utf8.h"
#include "common/text.h"
#include "coordinator/rollout/channel_rules.h"

namespace drover::api {
namespace {
std::atomic<int64_t> unknown_schedule_states{0};

std::string CHexEscapeShort(absl::string_view v) { return absl::CHexEscape(v.substr(0, 40)); }

// Quotes a value for an error message, shortened when long.
std::string Quote(absl::string_view value) {
  constexpr size_t kShown = 40;
  std::string shown(value.substr(0, kShown));
  std::string escaped = absl::CHexEscape(shown);
  return absl::StrCat("\"", escaped, value.size() > kShown ? "...\"" : "\"",
                      value.size() > kShown ? absl::StrCat(" (", value.size(), " bytes)") : "");
}

absl::Status Invalid(absl::string_view field, absl::string_view value, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(field, " ", Quote(value), ": ", why));
}

bool IsLowerIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

bool IsHostIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == ':' || c == '@';
}

enum class Lines { kOne, kMany };

// Text for people: no control characters (nor DEL); a multi-line field may
// hold newlines and tabs.
absl::Status CheckPrintable(absl::string_view field, absl::string_view value, size_t max_len, Lines lines) {
  if (value.size() > max_len) return Invalid(field, value, absl::StrCat("longer than ", max_len, " bytes"));
  for (unsigned char c : value) {
    const bool allowed_space = lines == Lines::kMany && (c == '\n' || c == '\t');
    if ((c < 0x20 && !allowed_space) || c == 0x7f) {
      return Invalid(field, value,
                     lines == Lines::kOne ? "holds control characters (a single line of plain text is expected)"
                                          : "holds control characters other than newlines and tabs");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::Time> RequiredTime(absl::string_view field, const google::protobuf::Timestamp& t,
                                        bool present, absl::Time now) {
  if (!present) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  if (t.nanos() < 0 || t.nanos() > 999999999) {
    return absl::InvalidArgumentError(absl::StrCat(field, " has nanos ", t.nanos(), " outside 0..999999999"));
  }
  absl::Time value = wire::TimeFromProto(t);
  if (value < kEarliestReportTime || value > now + kMaxClockSkew) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " ", absl::FormatTime(absl::RFC3339_sec, value, absl::UTCTimeZone()),
        " is not plausible: it must lie between 2000-01-01 and 5 minutes past the coordinator's clock (",
        absl::FormatTime(absl::RFC3339_sec, now, absl::UTCTimeZone()), ")"));
  }
  return value;
}

}  // namespace

int64_t UnknownScheduleStates() { return unknown_schedule_states.load(std::memory_order_relaxed); }

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::Status ParseRequest(const grpc::ByteBuffer& in, size_t max_bytes, google::protobuf::Message* out) {
  if (in.Length() > max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat("request of ", in.Length(), " bytes is larger than the limit of ",
                                                     max_bytes, " bytes (--max_message_bytes)"));
  }
  // Small requests arrive as one slice: no copy then.
  grpc::Slice slice;
  if (!in.TrySingleSlice(&slice).ok() && !in.DumpToSingleSlice(&slice).ok()) {
    return absl::InvalidArgumentError("request could not be read");
  }
  const absl::string_view wire(reinterpret_cast<const char*>(slice.begin()), slice.size());
  if (out->ParseFromArray(wire.data(), static_cast<int>(wire.size()))) return absl::OkStatus();
  std::optional<std::string> bad = wire::FindInvalidUtf8(out->GetDescriptor(), wire);
  return absl::InvalidArgumentError(absl::StrCat("request is not a valid ", out->GetDescriptor()->full_name(), ": ",
                                                 bad.value_or("the encoding is damaged")));
}

grpc::Status SerializeResponse(const google::protobuf::Message& message, grpc::ByteBuffer* out) {
  // As gRPC's generated code does: a small message straight into one slice,
  // a larger one in blocks.
  const size_t size = message.ByteSizeLong();
  if (size <= GRPC_SLICE_INLINED_SIZE) {
    grpc::Slice slice(size);
    message.SerializeWithCachedSizesToArray(const_cast<uint8_t*>(slice.begin()));
    grpc::ByteBuffer buffer(&slice, 1);
    out->Swap(&buffer);
    return grpc::Status::OK;
  }
  grpc::ProtoBufferWriter writer(out, grpc::kProtoBufferWriterMaxBufferLength, static_cast<int>(size));
  if (!message.SerializeToZeroCopyStream(&writer)) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "Failed to serialize message");
  }
  return grpc::Status::OK;
}

absl::Status ValidateChannelId(absl::string_view field, absl::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  if (id.size() > kMaxChannelIdLength) {
    return Invalid(field, id, absl::StrCat("longer than ", kMaxChannelIdLength, " characters"));
  }
  for (char c : id) {
    if (!IsLowerIdChar(c) && c != '/') {
      return Invalid(field, id, "a channel id holds only lowercase letters, digits and \"-._/\"");
    }
  }
  if (id.front() == '/' || id.back() == '/' || absl::StrContains(id, "//")) {
    return Invalid(field, id, "a channel id must not start or end with \"/\" nor hold \"//\"");
  }
  return absl::OkStatus();
}

absl::Status ValidateGroup(absl::string_view field, absl::string_view group) {
  if (group.size() > kMaxGroupLength) {
    return Invalid(field, group, absl::StrCat("longer than ", kMaxGroupLength, " characters"));
  }
  for (char c : group) {
    if (!IsGroupNameChar(c)) {
      return Invalid(field, group, "a group holds only letters, digits and \"-._\"");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSingleLine(absl::string_view field, absl::string_view value, size_t max_len) {
  return CheckPrintable(field, value, max_len, Lines::kOne);
}

absl::Status ValidateHostId(absl::string_view field, absl::string_view host_id) {
  if (host_id.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  if (host_id.size() > kMaxHostIdLength) {
    return Invalid(field, host_id, absl::StrCat("longer than ", kMaxHostIdLength, " characters"));
  }
  for (char c : host_id) {
    if (!IsHostIdChar(c)) return Invalid(field, host_id, "a host id holds only letters, digits and \"-._:@\"");
  }
  return absl::OkStatus();
}

absl::Status ValidateInstanceId(absl::string_view field, absl::string_view id) {
  if (id.size() > kMaxInstanceIdLength) {
    return Invalid(field, id, absl::StrCat("longer than ", kMaxInstanceIdLength, " characters"));
  }
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return Invalid(field, id, "an instance id holds only letters, digits and \"-_\"");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ParseChannelName(absl::string_view field, absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required (\"channels/{channel}\")"));
  std::optional<absl::string_view> id = wire::ChannelIdOfName(name);
  if (!id) {
    return Invalid(field, name, "a channel name has the form \"channels/{channel}\", e.g. \"channels/stable/cloud\"");
  }
  if (absl::Status s = ValidateChannelId(field, *id); !s.ok()) return s;
  return std::string(*id);
}

absl::StatusOr<Semver> ParseVersionField(absl::string_view field, absl::string_view value) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  absl::StatusOr<Semver> v = Semver::Parse(value);
  if (!v.ok()) return absl::InvalidArgumentError(absl::StrCat(field, ": ", v.status().message()));
  return v;
}

absl::StatusOr<rollout::AgentReport> ReportFromProto(const v1::ReportStatusRequest& req, absl::Time now) {
  rollout::AgentReport r;
  if (absl::Status s = ValidateHostId("host_id", req.host_id()); !s.ok()) return s;
  r.host_id = req.host_id();
  absl::StatusOr<std::string> channel = ParseChannelName("channel", req.channel());
  if (!channel.ok()) return channel.status();
  r.channel = *std::move(channel);
  if (absl::Status s = ValidateGroup("group", req.group()); !s.ok()) return s;
  r.group = req.group();
  absl::StatusOr<Semver> version = ParseVersionField("current_version", req.current_version());
  if (!version.ok()) return version.status();
  r.current_version = version->ToString();
  switch (req.health()) {
    case v1::HEALTH_HEALTHY: r.health = rollout::Health::kHealthy; break;
    case v1::HEALTH_UNHEALTHY: r.health = rollout::Health::kUnhealthy; break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("health ", static_cast<int>(req.health()),
                                                     " is not HEALTH_HEALTHY (1) or HEALTH_UNHEALTHY (2)"));
  }
  if (absl::Status s = CheckPrintable("updater_version", req.updater_version(), kMaxUpdaterVersionLength, Lines::kOne); !s.ok()) {
    return s;
  }
  r.updater_version = req.updater_version();
  if (req.sequence() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sequence ", req.sequence(), " must be positive and grow with every report of the host"));
  }
  r.sequence = req.sequence();
  if (req.previous_sequence() < 0 || req.previous_sequence() >= req.sequence()) {
    return absl::InvalidArgumentError(absl::StrCat("previous_sequence ", req.previous_sequence(),
                                                   " must be 0 (unknown) or positive and below sequence ",
                                                   req.sequence()));
  }
  r.previous_sequence = req.previous_sequence();
  if (absl::Status s = ValidateInstanceId("instance_id", req.instance_id()); !s.ok()) return s;
  r.instance_id = req.instance_id();
  if (!req.updating_to().empty()) {
    absl::StatusOr<Semver> updating_to = ParseVersionField("updating_to", req.updating_to());
    if (!updating_to.ok()) return updating_to.status();
    r.updating_to = updating_to->ToString();
  }
  if (v1::ScheduleState_IsValid(req.schedule_state())) {
    r.schedule_state = static_cast<rollout::ScheduleState>(req.schedule_state());
  } else {
    // An updater newer than this coordinator (a rolling upgrade) may know
    // states this one does not: refusing would drop all of its reports.
    r.schedule_state = rollout::ScheduleState::kUnspecified;
    if (unknown_schedule_states.fetch_add(1, std::memory_order_relaxed) == 0) {
      LogWarning(absl::StrCat("host \"", r.host_id, "\" reported schedule_state ",
                              static_cast<int>(req.schedule_state()), ", unknown to this coordinator (0..",
                              rollout::kScheduleStateCount - 1,
                              "): stored as unspecified; logged once, counted in UnknownScheduleStates()"));
    }
  }
  if (req.outcomes_size() > kMaxOutcomesPerReport) {
    return absl::InvalidArgumentError(absl::StrCat("outcomes holds ", req.outcomes_size(),
                                                   " entries; at most ", kMaxOutcomesPerReport, " per report"));
  }
  for (int i = 0; i < req.outcomes_size(); ++i) {
    const v1::UpdateOutcome& in = req.outcomes(i);
    const std::string prefix = absl::StrCat("outcomes[", i, "].");
    rollout::UpdateOutcome o;
    if (!in.from_version().empty()) {
      absl::StatusOr<Semver> from = ParseVersionField(prefix + "from_version", in.from_version());
      if (!from.ok()) return from.status();
      o.from_version = from->ToString();
    }
    absl::StatusOr<Semver> to = ParseVersionField(prefix + "to_version", in.to_version());
    if (!to.ok()) return to.status();
    o.to_version = to->ToString();
    switch (in.result()) {
      case v1::UPDATE_RESULT_SUCCEEDED: o.result = rollout::UpdateResult::kSucceeded; break;
      case v1::UPDATE_RESULT_FAILED: o.result = rollout::UpdateResult::kFailed; break;
      case v1::UPDATE_RESULT_ROLLED_BACK: o.result = rollout::UpdateResult::kRolledBack; break;
      default:
        return absl::InvalidArgumentError(absl::StrCat(prefix, "result ", static_cast<int>(in.result()),
                                                       " is not SUCCEEDED (1), FAILED (2) or ROLLED_BACK (3)"));
    }
    if (absl::Status s = CheckPrintable(prefix + "error", in.error(), kMaxErrorLength, Lines::kMany); !s.ok()) return s;
    o.error = in.error();
    absl::StatusOr<absl::Time> start = RequiredTime(prefix + "start_time", in.start_time(), in.has_start_time(), now);
    if (!start.ok()) return start.status();
    absl::StatusOr<absl::Time> finish =
        RequiredTime(prefix + "finish_time", in.finish_time(), in.has_finish_time(), now);
    if (!finish.ok()) return finish.status();
    if (*finish < *start) {
      return absl::InvalidArgumentError(absl::StrCat(
          prefix, "finish_time ", absl::FormatTime(absl::RFC3339_full, *finish, absl::UTCTimeZone()),
          " is before start_time ", absl::FormatTime(absl::RFC3339_full, *start, absl::UTCTimeZone())));
    }
    o.start_time = *start;
    o.finish_time = *finish;
    r.outcomes.push_back(std::move(o));
  }
  return r;
}

absl::StatusOr<std::vector<MaintenanceWindow>> WindowsFromProto(
    absl::string_view field, const google::protobuf::RepeatedPtrField<v1::MaintenanceWindow>& windows) {
  if (windows.size() > kMaxWindows) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " holds ", windows.size(), " windows; at most ", kMaxWindows));
  }
  std::vector<MaintenanceWindow> out;
  for (int i = 0; i < windows.size(); ++i) {
    const v1::MaintenanceWindow& in = windows[i];
    const std::string prefix = absl::StrCat(field, "[", i, "]");
    // Checked here, before narrowing to int, so the message names the value sent.
    if (in.utc_start_hour() > 23) {
      return absl::InvalidArgumentError(absl::StrCat(prefix, ": maintenance window utc_start_hour ",
                                                     in.utc_start_hour(), " is not in 0..23"));
    }
    if (!in.has_duration()) {
      return absl::InvalidArgumentError(absl::StrCat(prefix, ".duration is required (e.g. 1h)"));
    }
    MaintenanceWindow w = wire::WindowFromProto(in);
    if (absl::Status s = w.Validate(); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(prefix, ": ", s.message()));
    }
    out.push_back(std::move(w));
  }
  return out;
}

void WindowsToProto(const std::vector<MaintenanceWindow>& windows,
                    google::protobuf::RepeatedPtrField<v1::MaintenanceWindow>* out) {
  for (const MaintenanceWindow& w : windows) wire::WindowToProto(w, out->Add());
}

namespace {
absl::StatusOr<absl::Duration> CheckedPollInterval(const google::protobuf::Duration& proto) {
  const absl::Duration d = wire::DurationFromProto(proto);
  if (absl::Status s = rollout::ValidatePollInterval(d); !s.ok()) return s;
  return d;
}
}  // namespace

absl::StatusOr<absl::Duration> PollIntervalFromProto(const v1::CreateChannelRequest& request) {
  if (!request.has_poll_interval()) return kDefaultPollInterval;
  return CheckedPollInterval(request.poll_interval());
}

absl::StatusOr<absl::Duration> PollIntervalFromProto(const v1::SetPollIntervalRequest& request) {
  if (!request.has_poll_interval()) {
    return absl::InvalidArgumentError("poll_interval is required (a duration from 1s to 24h, e.g. 30s)");
  }
  return CheckedPollInterval(request.poll_interval());
}

absl::StatusOr<int> PageSizeFromProto(int32_t page_size) {
  if (page_size < 0 || page_size > kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrCat("page_size ", page_size, " is not in 0..", kMaxPageSize));
  }
  return page_size == 0 ? kDefaultPageSize : page_size;
}

void ChannelToProto(const rollout::Channel& c, v1::Channel* out) {
  out->set_name(ChannelName(c.id));
  out->set_target_version(c.target_version.value_or(""));
  out->set_target_allows_downgrade(c.target_allows_downgrade);
  if (c.target_updated_at) TimeToProto(*c.target_updated_at, out->mutable_target_update_time());
  out->set_critical(c.critical);
  out->set_critical_reason(c.critical_reason);
  if (c.critical_updated_at) TimeToProto(*c.critical_updated_at, out->mutable_critical_update_time());
  out->set_control_plane_version(c.control_plane_version);
  WindowsToProto(c.maintenance_windows, out->mutable_maintenance_windows());
  DurationToProto(c.poll_interval, out->mutable_poll_interval());
  TimeToProto(c.created_at, out->mutable_create_time());
  TimeToProto(c.updated_at, out->mutable_update_time());
  out->set_generation(c.generation);
  out->set_last_target_version(c.last_target_version.value_or(""));
  out->set_follows_control_plane(c.follows_control_plane);
}

void TargetToProto(const rollout::Channel& c, absl::Time now, v1::GetTargetResponse* out) {
  out->set_target_version(c.target_version.value_or(""));
  out->set_critical(c.critical);
  out->set_downgrade_allowed(c.target_allows_downgrade);
  out->set_control_plane_version(c.control_plane_version);
  WindowsToProto(c.maintenance_windows, out->mutable_maintenance_windows());
  DurationToProto(c.poll_interval, out->mutable_poll_interval());
  TimeToProto(now, out->mutable_server_time());
  out->set_channel_generation(c.generation);
}

void AgentToProto(const store::AgentView& a, v1::Agent* out) {
  out->set_host_id(a.state.host_id);
  out->set_channel(ChannelName(a.state.channel));
  out->set_group(a.state.group);
  out->set_current_version(a.state.current_version);
  out->set_health(a.state.health == rollout::Health::kHealthy ? v1::HEALTH_HEALTHY : v1::HEALTH_UNHEALTHY);
  out->set_updater_version(a.state.updater_version);
  out->set_sequence(a.state.sequence);
  TimeToProto(a.state.first_seen, out->mutable_first_seen_time());
  TimeToProto(a.state.last_seen, out->mutable_last_seen_time());
  out->set_stale(a.stale);
  out->set_out_of_policy(a.out_of_policy);
  out->set_out_of_policy_reason(a.out_of_policy_reason);
  out->set_schedule_state(static_cast<v1::ScheduleState>(a.state.schedule_state));
  out->set_instance_id(a.state.instance_id);
  out->set_instance_conflict(a.instance_conflict);
  if (a.state.last_result) out->set_last_result(static_cast<v1::UpdateResult>(*a.state.last_result));
  out->set_last_result_version(a.state.last_result_version);
  out->set_updating_to(a.state.updating_to);
  out->set_orphaned(a.orphaned);
}

void EventToProto(const store::StoredUpdateEvent& e, v1::UpdateEvent* out) {
  out->set_id(e.id);
  out->set_host_id(e.host_id);
  out->set_channel(ChannelName(e.channel));
  v1::UpdateOutcome* o = out->mutable_outcome();
  o->set_from_version(e.outcome.from_version);
  o->set_to_version(e.outcome.to_version);
  o->set_result(static_cast<v1::UpdateResult>(e.outcome.result));
  o->set_error(e.outcome.error);
  TimeToProto(e.outcome.start_time, o->mutable_start_time());
  TimeToProto(e.outcome.finish_time, o->mutable_finish_time());
  TimeToProto(e.recorded_at, out->mutable_record_time());
}

void ChangeToProto(const rollout::ChannelChange& c, v1::ChannelChange* out) {
  out->set_id(c.id);
  out->set_channel(ChannelName(c.channel));
  out->set_field(c.field);
  out->set_old_value(c.old_value);
  out->set_new_value(c.new_value);
  out->set_actor(c.actor);
  TimeToProto(c.changed_at, out->mutable_change_time());
}

void RolloutStatusToProto(const rollout::RolloutStatus& s, absl::Time now, v1::RolloutStatus* out) {
  out->set_channel(ChannelName(s.channel));
  out->set_target_version(s.target_version.value_or(""));
  out->set_critical(s.critical);
  out->set_control_plane_version(s.control_plane_version);
  out->set_total_agents(s.total_agents);
  for (const rollout::VersionSummary& v : s.versions) {
    v1::VersionCount* p = out->add_versions();
    p->set_version(v.version);
    p->set_agents(v.agents);
    p->set_healthy(v.healthy);
    p->set_unhealthy(v.unhealthy);
    p->set_on_target(v.on_target);
    p->set_out_of_policy(v.out_of_policy);
  }
  out->set_on_target(s.on_target);
  out->set_healthy(s.healthy);
  out->set_unhealthy(s.unhealthy);
  out->set_stale(s.stale);
  out->set_out_of_policy(s.out_of_policy);
  out->set_failed_since_target(s.failed_since_target);
  out->set_rolled_back_since_target(s.rolled_back_since_target);
  out->set_succeeded_since_target(s.succeeded_since_target);
  out->set_percent_on_target(s.percent_on_target);
  if (s.target_updated_at) TimeToProto(*s.target_updated_at, out->mutable_target_update_time());
  TimeToProto(now, out->mutable_compute_time());
}

void VisibilityToProto(const store::RolloutInputs& in, v1::RolloutStatus* out) {
  for (const rollout::ScheduleStateCount& c : in.schedule_states) {
    v1::ScheduleStateCount* p = out->add_schedule_states();
    p->set_state(static_cast<v1::ScheduleState>(c.state));
    p->set_agents(c.agents);
  }
  out->set_instance_conflicts(in.instance_conflicts);
}

namespace {

constexpr absl::string_view kTokenVersion = "t1";

// FNV-1a: stable across processes and builds, so any replica checks a token
// another one issued. Binding, not secrecy: tokens are not signed.
std::string FiltersDigest(absl::string_view filters) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : filters) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return absl::StrCat(absl::Hex(h, absl::kZeroPad16));
}

}  // namespace

std::string EncodePageToken(absl::string_view kind, absl::string_view filters, absl::string_view last_key) {
  return absl::WebSafeBase64Escape(
      absl::StrCat(kTokenVersion, ":", kind, ":", FiltersDigest(filters), ":", last_key));
}

absl::StatusOr<std::string> DecodePageToken(absl::string_view kind, absl::string_view filters,
                                            absl::string_view token) {
  std::string raw;
  std::vector<absl::string_view> parts;
  if (absl::WebSafeBase64Unescape(token, &raw)) parts = absl::StrSplit(raw, absl::MaxSplits(':', 3));
  if (parts.size() != 4 || parts[0] != kTokenVersion) {
    return Invalid("page_token", token, "not a page token issued by this coordinator; start again without one");
  }
  if (parts[1] != kind) {
    return Invalid("page_token", token,
                   absl::StrCat("issued for another list (", CHexEscapeShort(parts[1]),
                                "), not this one; start again without one"));
  }
  if (parts[2] != FiltersDigest(filters)) {
    return Invalid("page_token", token,
                   "issued for other filters; repeat the request with the filters of the first page, or start "
                   "again without a page_token");
  }
  // PostgreSQL text holds neither malformed UTF-8 nor NUL.
  if (!IsValidUtf8(parts[3]) || absl::StrContains(parts[3], '\0')) {
    return Invalid("page_token", token, "damaged (its key is not UTF-8 text); start again without one");
  }
  return std::string(parts[3]);
}

}  // namespace drover::api
