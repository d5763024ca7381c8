// OperatorService: staged rollouts (rollout.proto). The rules are
// rollout::ApplyOperatorAction's and RolloutPolicy::Validate's; storage is
// the RolloutStore's.
#include "absl/strings/str_cat.h"
#include "common/api_limits.h"
#include "coordinator/api/operator_service.h"
#include "coordinator/api/proto_convert.h"
#include "coordinator/api/rollout_convert.h"

namespace drover::api {
namespace {
// A rollout written by another replica or the engine between our read and
// our write: read again and apply the action to what is there, this often.
constexpr int kControlAttempts = 5;

absl::Status NoRolloutStore() {
  return absl::UnimplementedError("this coordinator serves no staged rollouts");
}
}  // namespace

grpc::Status OperatorService::GetRollout(grpc::ServerContextBase*, const v1::GetRolloutRequest* req,
                                         v1::Rollout* out) {
  return Done("GetRollout", [&]() -> absl::Status {
    if (rollouts_ == nullptr) return NoRolloutStore();
    absl::StatusOr<std::string> id = ParseChannelName("channel", req->channel());
    if (!id.ok()) return id.status();
    absl::StatusOr<rollout::Channel> channel = channels_->GetChannel(*id);
    if (!channel.ok()) return channel.status();
    const absl::Time now = clock_->Now();
    absl::StatusOr<store::RolloutStatusView> view = rollouts_->GetRolloutStatus(*id, now);
    if (!view.ok()) return view.status();
    RolloutToProto(*view, channel->critical, now, out);
    return absl::OkStatus();
  }());
}

grpc::Status OperatorService::ControlRollout(grpc::ServerContextBase* context, const v1::ControlRolloutRequest* req,
                                             v1::Rollout* out) {
  return Done("ControlRollout", [&]() -> absl::Status {
    if (rollouts_ == nullptr) return NoRolloutStore();
    absl::StatusOr<std::string> id = ParseChannelName("channel", req->channel());
    if (!id.ok()) return id.status();
    absl::StatusOr<rollout::OperatorAction> action = ParseOperatorAction(req->action());
    if (!action.ok()) return action.status();
    if (absl::Status s = ValidateSingleLine("reason", req->reason(), kMaxReasonLength); !s.ok()) return s;
    if (!req->group().empty()) {
      if (absl::Status s = ValidateGroup("group", req->group()); !s.ok()) return s;
    }
    store::AuditRecord audit = AuditOf(context, "ControlRollout");
    for (int attempt = 1;; ++attempt) {
      absl::StatusOr<std::optional<rollout::Rollout>> current = rollouts_->GetCurrentRollout(*id);
      if (!current.ok()) return current.status();
      if (!current->has_value()) {
        return absl::FailedPreconditionError(
            absl::StrCat("channel \"", *id, "\" has no rollout: one starts when its target is set"));
      }
      const absl::Time now = clock_->Now();
      rollout::StepResult result;
      result.rollout = **current;
      if (absl::Status s = rollout::ApplyOperatorAction(result.rollout, *action, req->group(), req->reason(),
                                                        audit.actor, now);
          !s.ok()) {
        return s;
      }
      result.changed = true;
      // A halt by hand holds back the hosts not updated yet, as the brake does.
      result.withdraw_not_updated = *action == rollout::OperatorAction::kHalt;
      result.events.push_back(absl::StrCat(rollout::OperatorActionName(*action),
                                           req->group().empty() ? "" : absl::StrCat(" ", req->group()), " by ",
                                           audit.actor.empty() ? audit.peer : audit.actor,
                                           req->reason().empty() ? "" : absl::StrCat(": ", req->reason())));
      audit.object = absl::StrCat("channels/", *id, "/rollouts/", result.rollout.id);
      audit.old_value = rollout::RolloutStateName((*current)->state);
      audit.new_value = absl::StrCat(rollout::RolloutStateName(result.rollout.state), " (", result.events.back(), ")");
      absl::StatusOr<int64_t> saved = rollouts_->SaveStep(result, now, &audit);
      if (saved.ok()) {
        log_->Changed(audit.actor.empty() ? audit.peer : audit.actor,
                      {{.channel = *id, .field = "rollout", .new_value = result.events.back()}});
        cache_->Invalidate();
        break;
      }
      const bool raced = absl::IsAborted(saved.status()) || absl::IsFailedPrecondition(saved.status());
      if (!raced || attempt == kControlAttempts) return saved.status();
    }
    absl::StatusOr<rollout::Channel> channel = channels_->GetChannel(*id);
    if (!channel.ok()) return channel.status();
    const absl::Time now = clock_->Now();
    absl::StatusOr<store::RolloutStatusView> view = rollouts_->GetRolloutStatus(*id, now);
    if (!view.ok()) return view.status();
    RolloutToProto(*view, channel->critical, now, out);
    return absl::OkStatus();
  }());
}

grpc::Status OperatorService::GetRolloutPolicy(grpc::ServerContextBase*, const v1::GetRolloutPolicyRequest* req,
                                               v1::RolloutPolicy* out) {
  return Done("GetRolloutPolicy", [&]() -> absl::Status {
    if (rollouts_ == nullptr) return NoRolloutStore();
    absl::StatusOr<std::string> id = ParseChannelName("channel", req->channel());
    if (!id.ok()) return id.status();
    absl::StatusOr<rollout::RolloutPolicy> policy = rollouts_->GetPolicy(*id);
    if (!policy.ok()) return policy.status();
    PolicyToProto(*policy, out);
    return absl::OkStatus();
  }());
}

grpc::Status OperatorService::SetRolloutPolicy(grpc::ServerContextBase* context,
                                               const v1::SetRolloutPolicyRequest* req, v1::RolloutPolicy* out) {
  return Done("SetRolloutPolicy", [&]() -> absl::Status {
    if (rollouts_ == nullptr) return NoRolloutStore();
    absl::StatusOr<std::string> id = ParseChannelName("channel", req->channel());
    if (!id.ok()) return id.status();
    absl::StatusOr<rollout::RolloutPolicy> policy = PolicyFromProto(req->policy());
    if (!policy.ok()) return policy.status();
    const store::AuditRecord audit = AuditOf(context, "SetRolloutPolicy");
    if (absl::Status s = rollouts_->SetPolicy(*id, *policy, &audit); !s.ok()) return s;
    // The channel row carries the catch-all (GetTarget, the signed answer).
    cache_->Invalidate();
    v1::RolloutPolicy stored;
    PolicyToProto(*policy, &stored);
    log_->Changed(audit.actor.empty() ? audit.peer : audit.actor,
                  {{.channel = *id, .field = "rollout_policy", .new_value = stored.ShortDebugString()}});
    *out = std::move(stored);
    return absl::OkStatus();
  }());
}

}  // namespace drover::api
