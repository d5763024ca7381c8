#include "coordinator/api/operator_service.h"

#include <functional>
#include <system_error>
#include <thread>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/log.h"
#include "common/text.h"
#include "common/version_policy.h"
#include "coordinator/api/operator_token.h"
#include "coordinator/api/proto_convert.h"
#include "coordinator/rollout/channel_rules.h"
#include "coordinator/rollout/rollout_status.h"
#include "proto/wire/names.h"

namespace drover::api {

namespace {
// "alice at ipv4:10.0.0.5:51234" for the log's change lines.
std::string WhoOf(const store::AuditRecord& audit) {
  return audit.actor.empty() ? audit.peer : absl::StrCat(audit.actor, " at ", audit.peer);
}

const google::protobuf::ServiceDescriptor* OperatorServiceDescriptor() {
  return v1::CreateChannelRequest::descriptor()->file()->FindServiceByName("OperatorService");
}

// Runs `work` on a thread of its own: the handlers block on the database,
// and gRPC's callback threads must not block. The synchronous server this
// replaces also ran each call on a thread of its pool.
void RunDetached(std::function<void()> work) {
  try {
    std::thread(work).detach();
  } catch (const std::system_error&) {
    work();  // no thread to be had: answer late rather than never
  }
}

// What a refused mutation was aimed at, from the request's own fields.
std::string AuditObject(absl::string_view method, const google::protobuf::Message& request) {
  const google::protobuf::Descriptor* d = request.GetDescriptor();
  const google::protobuf::Reflection* r = request.GetReflection();
  for (const char* field : {"name", "channel_id", "host_id"}) {
    const google::protobuf::FieldDescriptor* f = d->FindFieldByName(field);
    if (f == nullptr || f->type() != google::protobuf::FieldDescriptor::TYPE_STRING || f->is_repeated()) continue;
    const std::string value = r->GetString(request, f);
    if (value.empty()) continue;
    if (absl::EndsWith(method, "Operator")) return absl::StrCat("operators/", value);
    if (std::string(field) == "channel_id") return absl::StrCat("channels/", value);
    if (std::string(field) == "host_id") return absl::StrCat("hosts/", value);
    return value;
  }
  return "";
}

std::string RequestJson(const google::protobuf::Message& request) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(request, &out, options).ok()) return "";
  return out;
}

const char* StatusCodeName(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument: return "INVALID_ARGUMENT";
    case absl::StatusCode::kNotFound: return "NOT_FOUND";
    case absl::StatusCode::kAlreadyExists: return "ALREADY_EXISTS";
    case absl::StatusCode::kPermissionDenied: return "PERMISSION_DENIED";
    case absl::StatusCode::kFailedPrecondition: return "FAILED_PRECONDITION";
    case absl::StatusCode::kUnauthenticated: return "UNAUTHENTICATED";
    case absl::StatusCode::kResourceExhausted: return "RESOURCE_EXHAUSTED";
    case absl::StatusCode::kUnavailable: return "UNAVAILABLE";
    case absl::StatusCode::kAborted: return "ABORTED";
    case absl::StatusCode::kInternal: return "INTERNAL";
    default: return "ERROR";
  }
}
}  // namespace

template <typename Request, typename Response>
grpc::ServerUnaryReactor* OperatorService::Serve(
    const char* method, grpc::Status (OperatorService::*fn)(grpc::ServerContextBase*, const Request*, Response*),
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes, grpc::ByteBuffer* response_bytes) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  RunDetached([this, method, fn, context, request_bytes, response_bytes, reactor] {
    grpc::Status status;
    const std::string full_method = absl::StrCat(OperatorServiceDescriptor()->full_name(), ".", method);
    const MethodPolicy* policy = FindMethodPolicy(full_method);
    std::string actor;  // "" until authenticated
    std::optional<Request> parsed;
    // Nothing may escape: on this thread an exception would end the process,
    // and the call must be finished whatever happens (gRPC's synchronous
    // handlers turned an exception into UNKNOWN the same way).
    try {
      std::optional<absl::string_view> authorization;
      const auto& metadata = context->client_metadata();
      if (auto it = metadata.find("authorization"); it != metadata.end()) {
        authorization = absl::string_view(it->second.data(), it->second.size());
      }
      const std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
      absl::StatusOr<Caller> caller =
          authz_->Authorize(full_method, auth.get(), authorization, context->peer(), &actor);
      Request request;
      if (!caller.ok()) {
        status = Done(method, caller.status());
        // Parsed only for the audit trail: what was attempted.
        if (policy != nullptr && policy->mutates &&
            ParseRequest(*request_bytes, max_request_bytes_, &request).ok()) {
          parsed = std::move(request);
        }
      } else if (absl::Status s = ParseRequest(*request_bytes, max_request_bytes_, &request); !s.ok()) {
        status = Done(method, s);
      } else {
        {
          absl::MutexLock lock(&callers_mu_);
          callers_[context] = *caller;
        }
        Response response;
        status = (this->*fn)(context, &request, &response);
        {
          absl::MutexLock lock(&callers_mu_);
          callers_.erase(context);
        }
        parsed = std::move(request);
        if (status.ok()) status = SerializeResponse(response, response_bytes);
      }
    } catch (const std::exception& e) {
      // The detail is logged, not returned: it may quote the database.
      LogError(absl::StrCat("OperatorService/", method, ": unexpected exception: ", e.what()));
      status = Done(method, absl::InternalError(absl::StrCat("unexpected error in ", method)));
    } catch (...) {
      status = Done(method, absl::InternalError(absl::StrCat("unexpected error in ", method)));
    }
    // A refused mutation leaves a row of its own (a successful one wrote
    // its row in the transaction of the change). Unknown methods and
    // unparsable requests are recorded too: someone tried something.
    if (!status.ok() && (policy == nullptr || policy->mutates) &&
        (refusal_audit_ == nullptr || refusal_audit_->Admit(context->peer()))) {
      store::AuditRecord record{.actor = actor,
                                .peer = context->peer(),
                                .method = full_method,
                                .object = parsed ? AuditObject(method, *parsed) : "",
                                .new_value = parsed ? RequestJson(*parsed) : "",
                                .ok = false,
                                .reason = absl::StrCat(StatusCodeName(static_cast<absl::StatusCode>(
                                                           status.error_code())),
                                                       ": ", status.error_message())};
      if (absl::Status s = audit_->RecordAudit(record); !s.ok()) {
        metrics_->CountDatabaseError("audit");
        LogError(absl::StrCat("could not record refused ", full_method, " by \"", actor, "\" from ",
                              context->peer(), " in the audit trail: ", s.message()));
      }
    }
    if (!status.ok()) {
      // Every refusal and failure of the operator API, in one place.
      log_->Failed(absl::StrCat(OperatorServiceDescriptor()->full_name(), "/", method),
                   absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message()),
                   context->peer());
    }
    // The last use of the call and of this service: either may be gone once
    // the call is finished.
    reactor->Finish(status);
  });
  return reactor;
}

#define DROVER_RAW_METHOD(rpc, request, response)                                                            \
  grpc::ServerUnaryReactor* OperatorService::rpc(grpc::CallbackServerContext* context,                        \
                                                 const grpc::ByteBuffer* request_bytes,                       \
                                                 grpc::ByteBuffer* response_bytes) {                          \
    return Serve<v1::request, v1::response>(#rpc, &OperatorService::rpc, context, request_bytes, response_bytes); \
  }
DROVER_OPERATOR_RPCS(DROVER_RAW_METHOD)
#undef DROVER_RAW_METHOD

OperatorService::OperatorService(store::ChannelStore* channels, store::AgentStore* agents,
                                 store::ChannelCache* cache, metrics::FleetMetrics* metrics, const Clock* clock,
                                 size_t max_request_bytes, RpcLog* log, Authorizer* authz,
                                 store::AuditStore* audit, store::OperatorStore* operators,
                                 store::IdentityStore* identities, RevocationList* revocations)
    : channels_(channels),
      agents_(agents),
      cache_(cache),
      metrics_(metrics),
      clock_(clock),
      max_request_bytes_(max_request_bytes),
      log_(log),
      authz_(authz),
      audit_(audit),
      operators_(operators),
      identities_(identities),
      revocations_(revocations) {
  // Every RPC of the API is served here, with the types the API declares: a
  // mismatch would otherwise show only when called.
  const google::protobuf::ServiceDescriptor* service = OperatorServiceDescriptor();
  int served = 0;
#define DROVER_CHECK_METHOD(rpc, request, response)                                        \
  {                                                                                       \
    const google::protobuf::MethodDescriptor* m = service->FindMethodByName(#rpc);        \
    GPR_ASSERT(m != nullptr && m->input_type() == v1::request::descriptor() &&             \
               m->output_type() == v1::response::descriptor());                           \
    ++served;                                                                             \
  }
  DROVER_OPERATOR_RPCS(DROVER_CHECK_METHOD)
#undef DROVER_CHECK_METHOD
  GPR_ASSERT(served == service->method_count());
}

store::AuditRecord OperatorService::AuditOf(grpc::ServerContextBase* context, const char* method) {
  store::AuditRecord record{.method = absl::StrCat(OperatorServiceDescriptor()->full_name(), ".", method)};
  absl::MutexLock lock(&callers_mu_);
  if (auto it = callers_.find(context); it != callers_.end()) {
    record.actor = it->second.actor;
    record.peer = it->second.peer;
  }
  return record;
}

grpc::Status OperatorService::Done(const char* method, const absl::Status& status) {
  metrics_->CountRpc(method, static_cast<int>(status.code()));
  return ToGrpcStatus(status);
}

absl::Status OperatorService::Mutate(grpc::ServerContextBase* context, const char* method, const std::string& name,
                                     const store::ChannelMutation& mutate, v1::Channel* out) {
  absl::StatusOr<std::string> id = ParseChannelName("name", name);
  if (!id.ok()) return id.status();
  // What the committed attempt changed (the store may run the mutation again
  // after a lost connection).
  std::vector<rollout::ChannelChange> recorded;
  const store::AuditRecord audit = AuditOf(context, method);
  absl::StatusOr<rollout::Channel> updated = channels_->UpdateChannel(
      *id, [&](rollout::Channel& c, std::vector<rollout::ChannelChange>& changes) {
        absl::Status s = mutate(c, changes);
        recorded = changes;
        return s;
      },
      &audit);
  if (!updated.ok()) return updated.status();
  for (rollout::ChannelChange& c : recorded) c.channel = *id;
  log_->Changed(WhoOf(audit), recorded);
  cache_->Invalidate();
  ChannelToProto(*updated, out);
  return absl::OkStatus();
}

grpc::Status OperatorService::CreateChannel(grpc::ServerContextBase* context, const v1::CreateChannelRequest* req,
                                            v1::Channel* out) {
  return Done("CreateChannel", [&]() -> absl::Status {
    if (absl::Status s = ValidateChannelId("channel_id", req->channel_id()); !s.ok()) return s;
    rollout::Channel c;
    c.id = req->channel_id();
    absl::StatusOr<Semver> cp = ParseVersionField("control_plane_version", req->control_plane_version());
    if (!cp.ok()) return cp.status();
    c.control_plane_version = cp->ToString();
    if (!req->target_version().empty() && req->target_version() != "none") {
      absl::StatusOr<Semver> target = ParseVersionField("target_version", req->target_version());
      if (!target.ok()) return target.status();
      if (absl::Status s = CheckVersionPolicy(*target, *cp, "target version"); !s.ok()) return s;
      c.target_version = target->ToString();
    }
    c.follows_control_plane = req->follows_control_plane();
    if (absl::Status s = rollout::ValidateNewFollowingChannel(c); !s.ok()) return s;
    absl::StatusOr<std::vector<MaintenanceWindow>> windows =
        WindowsFromProto("maintenance_windows", req->maintenance_windows());
    if (!windows.ok()) return windows.status();
    c.maintenance_windows = *std::move(windows);
    absl::StatusOr<absl::Duration> poll = PollIntervalFromProto(*req);
    if (!poll.ok()) return poll.status();
    c.poll_interval = *poll;
    if (max_channels_ > 0) {
      // Checked before the insert, not in its transaction: replicas racing
      // may pass the cap by a few, which is all it needs to bound.
      absl::StatusOr<std::vector<rollout::Channel>> existing = channels_->ListChannels();
      if (!existing.ok()) return existing.status();
      if (existing->size() >= max_channels_) {
        metrics_->CountRefusal("max_channels");
        return absl::ResourceExhaustedError(
            absl::StrCat("channel \"", c.id, "\" refused: the coordinator already holds ", existing->size(),
                         " channels, its limit (--max_channels=", max_channels_,
                         "); delete unused channels or raise --max_channels"));
      }
    }
    const store::AuditRecord audit = AuditOf(context, "CreateChannel");
    absl::StatusOr<rollout::Channel> created = channels_->CreateChannel(c, &audit);
    if (!created.ok()) return created.status();
    log_->Changed(WhoOf(audit),
                  {{.channel = c.id,
                    .field = "created",
                    .new_value = absl::StrCat("target=", created->target_version.value_or("none"),
                                              " control_plane=", c.control_plane_version,
                                              c.follows_control_plane ? " (followed)" : "",
                                              " poll_interval=", absl::FormatDuration(c.poll_interval),
                                              " windows=", rollout::WindowsToString(c.maintenance_windows))}});
    cache_->Invalidate();
    ChannelToProto(*created, out);
    return absl::OkStatus();
  }());
}

grpc::Status OperatorService::ForgetAgent(grpc::ServerContextBase* context, const v1::ForgetAgentRequest* req,
                                          v1::ForgetAgentResponse* out) {
  return Done("ForgetAgent", [&]() -> absl::Status {
    if (absl::Status s = ValidateHostId("host_id", req->host_id()); !s.ok()) return s;
    const store::AuditRecord audit = AuditOf(context, "ForgetAgent");
    absl::StatusOr<store::ForgottenAgent> gone = agents_->ForgetAgent(req->host_id(), &audit);
    if (!gone.ok()) return gone.status();
    log_->Changed(WhoOf(audit), {{.channel = gone->channel,
                                     .field = "agent_forgotten",
                                     .old_value = absl::StrCat(req->host_id(), " sequence=", gone->sequence)}});
    if (!gone->channel.empty()) out->set_channel(wire::ChannelName(gone->channel));
    out->set_forgotten_sequence(gone->sequence);
    return absl::OkStatus();
  }());
}

grpc::Status OperatorService::ListChannels(grpc::ServerContextBase*, const v1::ListChannelsRequest*,
                                           v1::ListChannelsResponse* out) {
  return Done("ListChannels", [&]() -> absl::Status {
    absl::StatusOr<std::vector<rollout::Channel>> channels = channels_->ListChannels();
    if (!channels.ok()) return channels.status();
    for (const rollout::Channel& c : *channels) ChannelToProto(c, out->add_channels());
    return absl::OkStatus();
  }());
}

grpc::Status OperatorService::GetChannel(grpc::ServerContextBase*, const v1::GetChannelRequest* req, v1::Channel* out) {
  return Done("GetChannel", [&]() -> absl::Status {
    absl::StatusOr<std::string> id = ParseChannelName("name", req->name());
    if (!id.ok()) return id.status();
    absl::StatusOr<rollout::Channel> c = channels_->GetChannel(*id);
    if (!c.ok()) return c.status();
    ChannelToProto(*c, out);
    return absl::OkStatus();
  }());
}

grpc::Status OperatorService::DeleteChannel(grpc::ServerContextBase* context, const v1::DeleteChannelRequest* req,
                                            v1::DeleteChannelResponse* out) {
  return Done("DeleteChannel", [&]() -> absl::Status {
    absl::StatusOr<std::string> id = ParseChannelName("name", req->name());
    if (!id.ok()) return id.status();
    const store::AuditRecord audit = AuditOf(context, "DeleteChannel");
    absl::StatusOr<int64_t> removed = channels_->DeleteChannel(*id, req->force(), &audit);
    if (!removed.ok()) return removed.status();
    log_->Changed(WhoOf(audit), {{.channel = *id,
                                     .field = "deleted",
                                     .new_value = absl::StrCat("agents_removed=", *removed,
                                                               req->force() ? " (force)" : "")}});
    cache_->Invalidate();
    out->set_agents_removed(*removed);
    return absl::OkStatus();
  }());
}

grpc::Status OperatorService::SetTargetVersion(grpc::ServerContextBase* context, const v1::SetTargetVersionRequest* req,
                                               v1::Channel* out) {
  return Done("SetTargetVersion", [&]() -> absl::Status {
    if (!req->force_reason().empty()) {
      if (absl::Status s = ValidateSingleLine("force_reason", req->force_reason(), kMaxReasonLength); !s.ok()) return s;
      if (IsBlank(req->force_reason())) return absl::InvalidArgumentError("force_reason is blank: say why canaries are skipped");
    }
    std::optional<Semver> target;
    if (req->version() != "none") {
      absl::StatusOr<Semver> v = ParseVersionField("version", req->version());
      if (!v.ok()) {
        if (req->version().empty()) {
          return absl::InvalidArgumentError("version is required (a semver such as 1.2.3, or \"none\" to clear)");
        }
        return v.status();
      }
      target = *v;
    }
    return Mutate(
        context, "SetTargetVersion", req->name(),
        [&](rollout::Channel& c, std::vector<rollout::ChannelChange>& changes) {
          if (absl::Status s = rollout::SetTarget(c, target, req->allow_downgrade(), changes); !s.ok()) return s;
          if (!req->force_reason().empty()) {
            // Forced: the rollout this target starts has no canaries.
            bool starts = false;
            for (rollout::ChannelChange& change : changes) {
              if (!change.starts_rollout) continue;
              starts = true;
              change.rollout_skip_canaries = true;
              change.rollout_force_reason = std::string(TrimBlank(req->force_reason()));
              change.new_value = absl::StrCat(change.new_value, " (forced: ", change.rollout_force_reason, ")");
            }
            if (!starts) {
              return absl::FailedPreconditionError(absl::StrCat(
                  "force_reason is given but setting version \"", req->version(), "\" on channel \"", c.id,
                  "\" starts no rollout (the target is cleared or unchanged)"));
            }
          }
          return absl::OkStatus();
        },
        out);
  }());
}

grpc::Status OperatorService::SetCritical(grpc::ServerContextBase* context, const v1::SetCriticalRequest* req, v1::Channel* out) {
  return Done("SetCritical", [&]() -> absl::Status {
    if (absl::Status s = ValidateSingleLine("reason", req->reason(), kMaxReasonLength); !s.ok()) return s;
    return Mutate(
        context, "SetCritical", req->name(),
        [&](rollout::Channel& c, std::vector<rollout::ChannelChange>& changes) {
          return rollout::SetCritical(c, req->critical(), req->reason(), changes);
        },
        out);
  }());
}

grpc::Status OperatorService::SetControlPlaneVersion(grpc::ServerContextBase* context,
                                                     const v1::SetControlPlaneVersionRequest* req,
                                                     v1::Channel* out) {
  return Done("SetControlPlaneVersion", [&]() -> absl::Status {
    std::optional<Semver> cp;
    if (!req->version().empty() || !req->has_follows_control_plane()) {
      absl::StatusOr<Semver> v = ParseVersionField("version", req->version());
      if (!v.ok()) return v.status();
      cp = *v;
    }
    return Mutate(
        context, "SetControlPlaneVersion", req->name(),
        [&](rollout::Channel& c, std::vector<rollout::ChannelChange>& changes) {
          // Following first: with both given, the target that the new
          // control plane is checked against is the one following leaves.
          if (req->has_follows_control_plane()) {
            if (absl::Status s = rollout::SetFollowsControlPlane(c, req->follows_control_plane(), changes); !s.ok()) {
              return s;
            }
          }
          if (cp.has_value()) return rollout::SetControlPlane(c, *cp, changes);
          return absl::OkStatus();
        },
        out);
  }());
}

grpc::Status OperatorService::SetMaintenanceWindows(grpc::ServerContextBase* context,
                                                    const v1::SetMaintenanceWindowsRequest* req,
                                                    v1::Channel* out) {
  return Done("SetMaintenanceWindows", [&]() -> absl::Status {
    absl::StatusOr<std::vector<MaintenanceWindow>> windows =
        WindowsFromProto("maintenance_windows", req->maintenance_windows());
    if (!windows.ok()) return windows.status();
    return Mutate(
        context, "SetMaintenanceWindows", req->name(),
        [&](rollout::Channel& c, std::vector<rollout::ChannelChange>& changes) {
          return rollout::SetWindows(c, *windows, changes);
        },
        out);
  }());
}

grpc::Status OperatorService::SetPollInterval(grpc::ServerContextBase* context, const v1::SetPollIntervalRequest* req,
                                              v1::Channel* out) {
  return Done("SetPollInterval", [&]() -> absl::Status {
    absl::StatusOr<absl::Duration> interval = PollIntervalFromProto(*req);
    if (!interval.ok()) return interval.status();
    return Mutate(
        context, "SetPollInterval", req->name(),
        [&](rollout::Channel& c, std::vector<rollout::ChannelChange>& changes) {
          return rollout::SetPollInterval(c, *interval, changes);
        },
        out);
  }());
}

grpc::Status OperatorService::GetRolloutStatus(grpc::ServerContextBase*, const v1::GetRolloutStatusRequest* req,
                                               v1::RolloutStatus* out) {
  return Done("GetRolloutStatus", [&]() -> absl::Status {
    absl::StatusOr<std::string> id = ParseChannelName("name", req->name());
    if (!id.ok()) return id.status();
    absl::StatusOr<store::RolloutInputs> in = agents_->GetRolloutInputs(*id);
    if (!in.ok()) return in.status();
    rollout::RolloutStatus status =
        rollout::ComputeRolloutStatus(in->channel, in->counts, in->outcomes_since_target, in->stale_agents);
    RolloutStatusToProto(status, clock_->Now(), out);
    VisibilityToProto(*in, out);
    return absl::OkStatus();
  }());
}

grpc::Status OperatorService::ListAgents(grpc::ServerContextBase*, const v1::ListAgentsRequest* req,
                                         v1::ListAgentsResponse* out) {
  return Done("ListAgents", [&]() -> absl::Status {
    store::AgentFilter filter;
    if (!req->channel().empty()) {
      absl::StatusOr<std::string> id = ParseChannelName("channel", req->channel());
      if (!id.ok()) return id.status();
      filter.channel = *id;
    }
    if (!req->version().empty()) {
      absl::StatusOr<Semver> v = ParseVersionField("version", req->version());
      if (!v.ok()) return v.status();
      filter.version = v->ToString();
    }
    switch (req->health()) {
      case v1::HEALTH_UNSPECIFIED: break;
      case v1::HEALTH_HEALTHY: filter.health = rollout::Health::kHealthy; break;
      case v1::HEALTH_UNHEALTHY: filter.health = rollout::Health::kUnhealthy; break;
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            "health ", static_cast<int>(req->health()), " is not HEALTH_UNSPECIFIED (any), HEALTHY or UNHEALTHY"));
    }
    filter.stale_only = req->stale_only();
    filter.out_of_policy_only = req->out_of_policy_only();
    if (absl::Status s = ValidateGroup("group", req->group()); !s.ok()) return s;
    filter.group = req->group();
    filter.instance_conflict_only = req->instance_conflict_only();
    switch (req->last_result()) {
      case v1::UPDATE_RESULT_UNSPECIFIED: break;
      case v1::UPDATE_RESULT_SUCCEEDED: filter.last_result = rollout::UpdateResult::kSucceeded; break;
      case v1::UPDATE_RESULT_FAILED: filter.last_result = rollout::UpdateResult::kFailed; break;
      case v1::UPDATE_RESULT_ROLLED_BACK: filter.last_result = rollout::UpdateResult::kRolledBack; break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("last_result ", static_cast<int>(req->last_result()),
                         " is not UPDATE_RESULT_UNSPECIFIED (any), SUCCEEDED, FAILED or ROLLED_BACK"));
    }
    filter.orphaned_only = req->orphaned_only();
    if (filter.orphaned_only) {
      // Orphans have no stored agent state to filter on.
      const char* other = !filter.version.empty()         ? "version"
                          : filter.health.has_value()     ? "health"
                          : filter.stale_only             ? "stale_only"
                          : filter.out_of_policy_only     ? "out_of_policy_only"
                          : filter.instance_conflict_only ? "instance_conflict_only"
                          : filter.last_result.has_value() ? "last_result"
                                                           : nullptr;
      if (other != nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(
            "orphaned_only combines only with channel and group, not with ", other));
      }
    }
    absl::StatusOr<int> page_size = PageSizeFromProto(req->page_size());
    if (!page_size.ok()) return page_size.status();
    // Every filter, as the store sees it: a token is only good for these.
    const std::string filters = absl::StrCat(
        filter.channel, "\n", filter.version, "\n", filter.health ? static_cast<int>(*filter.health) : 0, "\n",
        filter.stale_only, filter.out_of_policy_only, filter.instance_conflict_only, filter.orphaned_only, "\n",
        filter.group, "\n", filter.last_result ? static_cast<int>(*filter.last_result) : 0);
    const char* kind = filter.orphaned_only ? "orphans" : "agents";
    std::string after;
    if (!req->page_token().empty()) {
      absl::StatusOr<std::string> key = DecodePageToken(kind, filters, req->page_token());
      if (!key.ok()) return key.status();
      if (absl::Status s = ValidateHostId("page_token", *key); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("page_token \"", req->page_token(),
                                                       "\" is damaged; start again without one"));
      }
      after = *std::move(key);
    }
    absl::StatusOr<std::vector<store::AgentView>> agents = agents_->ListAgents(filter, after, *page_size + 1);
    if (!agents.ok()) return agents.status();
    const bool more = static_cast<int>(agents->size()) > *page_size;
    if (more) agents->resize(*page_size);
    for (const store::AgentView& a : *agents) AgentToProto(a, out->add_agents());
    if (more) out->set_next_page_token(EncodePageToken(kind, filters, agents->back().state.host_id));
    return absl::OkStatus();
  }());
}

grpc::Status OperatorService::GetAgent(grpc::ServerContextBase*, const v1::GetAgentRequest* req, v1::Agent* out) {
  return Done("GetAgent", [&]() -> absl::Status {
    if (absl::Status s = ValidateHostId("host_id", req->host_id()); !s.ok()) return s;
    absl::StatusOr<store::AgentView> a = agents_->GetAgent(req->host_id());
    if (!a.ok()) return a.status();
    AgentToProto(*a, out);
    return absl::OkStatus();
  }());
}

namespace {
absl::StatusOr<int64_t> DecodeIdToken(absl::string_view kind, absl::string_view filters, const std::string& token) {
  if (token.empty()) return 0;
  absl::StatusOr<std::string> key = DecodePageToken(kind, filters, token);
  if (!key.ok()) return key.status();
  int64_t id = 0;
  if (!absl::SimpleAtoi(*key, &id) || id <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("page_token \"", token, "\" is damaged; start again without one"));
  }
  return id;
}
}  // namespace

grpc::Status OperatorService::ListUpdateEvents(grpc::ServerContextBase*, const v1::ListUpdateEventsRequest* req,
                                               v1::ListUpdateEventsResponse* out) {
  return Done("ListUpdateEvents", [&]() -> absl::Status {
    if (absl::Status s = ValidateHostId("host_id", req->host_id()); !s.ok()) return s;
    absl::StatusOr<int> page_size = PageSizeFromProto(req->page_size());
    if (!page_size.ok()) return page_size.status();
    absl::StatusOr<int64_t> before = DecodeIdToken("events", req->host_id(), req->page_token());
    if (!before.ok()) return before.status();
    absl::StatusOr<std::vector<store::StoredUpdateEvent>> events =
        agents_->ListUpdateEvents(req->host_id(), *before, *page_size + 1);
    if (!events.ok()) return events.status();
    const bool more = static_cast<int>(events->size()) > *page_size;
    if (more) events->resize(*page_size);
    for (const store::StoredUpdateEvent& e : *events) EventToProto(e, out->add_events());
    if (more) out->set_next_page_token(EncodePageToken("events", req->host_id(), absl::StrCat(events->back().id)));
    return absl::OkStatus();
  }());
}

grpc::Status OperatorService::ListChannelChanges(grpc::ServerContextBase*, const v1::ListChannelChangesRequest* req,
                                                 v1::ListChannelChangesResponse* out) {
  return Done("ListChannelChanges", [&]() -> absl::Status {
    absl::StatusOr<std::string> id = ParseChannelName("name", req->name());
    if (!id.ok()) return id.status();
    absl::StatusOr<int> page_size = PageSizeFromProto(req->page_size());
    if (!page_size.ok()) return page_size.status();
    absl::StatusOr<int64_t> before = DecodeIdToken("changes", *id, req->page_token());
    if (!before.ok()) return before.status();
    absl::StatusOr<std::vector<rollout::ChannelChange>> changes =
        channels_->ListChannelChanges(*id, *before, *page_size + 1);
    if (!changes.ok()) return changes.status();
    const bool more = static_cast<int>(changes->size()) > *page_size;
    if (more) changes->resize(*page_size);
    for (const rollout::ChannelChange& c : *changes) ChangeToProto(c, out->add_changes());
    if (more) out->set_next_page_token(EncodePageToken("changes", *id, absl::StrCat(changes->back().id)));
    return absl::OkStatus();
  }());
}

}  // namespace drover::api
