#include "agent-updater/updater.h"

#include <algorithm>
#include <limits>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent-updater/target/answer_tag_of.h"
#include "agent-updater/triggers/schedule_state.h"
#include "common/api_limits.h"
#include "common/atomic_file.h"
#include "common/log.h"
#include "common/rpc_reason.h"
#include "common/semver.h"
#include "google/protobuf/util/message_differencer.h"
#include "proto/wire/names.h"
#include "proto/wire/report_text.h"
#include "proto/wire/time.h"

namespace drover::updater {
namespace {

using wire::ClampReportTime;
using wire::SanitizeText;
using wire::TextLines;
using wire::TimeFromProto;
using wire::TimeToProto;

std::string Format(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone()); }

// An outcome's error as the coordinator accepts it (whatever a health
// command or tar printed).
std::string ErrorText(absl::string_view text) { return SanitizeText(text, kMaxErrorLength, TextLines::kMany); }

// The coordinator's clock minus ours, as seen when the target was last
// fetched (zero when unknown).
absl::Duration ClockOffset(const UpdaterState& state) {
  if (!state.has_cached_target() || !state.cached_target().target().has_server_time()) return absl::ZeroDuration();
  return TimeFromProto(state.cached_target().target().server_time()) -
         TimeFromProto(state.cached_target().fetch_time());
}

// The coordinator's clock as best known: ours, corrected by that offset.
absl::Time CoordinatorNow(const UpdaterState& state, absl::Time local_now) {
  return local_now + ClockOffset(state);
}

// What to add to a local time to get the coordinator's: the offset when our
// clock is off by more than the coordinator allows (a host booting at the
// epoch), so that an outcome keeps its real place in time (the coordinator
// counts it for a target by when it finished); else nothing.
absl::Duration LocalTimeShift(const UpdaterState& state) {
  const absl::Duration offset = ClockOffset(state);
  return absl::AbsDuration(offset) > kMaxClockSkew ? offset : absl::ZeroDuration();
}

// `o` made acceptable to a coordinator whose clock reads `coordinator_now`:
// outcomes queued by an older updater, or timed by a clock that was wrong
// (a host booting at the epoch), must not be refused. Times are moved by
// `shift` first, then clamped as a last resort.
v1::UpdateOutcome Acceptable(v1::UpdateOutcome o, absl::Time coordinator_now, absl::Duration shift) {
  o.set_error(ErrorText(o.error()));
  const absl::Time start = ClampReportTime(TimeFromProto(o.start_time()) + shift, coordinator_now);
  const absl::Time finish = std::max(start, ClampReportTime(TimeFromProto(o.finish_time()) + shift, coordinator_now));
  TimeToProto(start, o.mutable_start_time());
  TimeToProto(finish, o.mutable_finish_time());
  return o;
}

// False while the coordinator, or its database, cannot serve: the daemon
// then backs off rather than polling on.
bool CanServe(const CoordinatorError& e) {
  return e.kind != CoordinatorError::Kind::kUnreachable && e.kind != CoordinatorError::Kind::kDatabaseUnavailable;
}

// Why there is no fresh target, in a few words for the decision.
std::string NoTargetWhy(const CoordinatorError& e, const std::string& channel) {
  switch (e.kind) {
    case CoordinatorError::Kind::kUnreachable: return "coordinator unreachable";
    case CoordinatorError::Kind::kDatabaseUnavailable: return "the coordinator's database is unavailable";
    case CoordinatorError::Kind::kChannelNotFound:
      return absl::StrCat("channel \"", channel, "\" does not exist on the coordinator");
    case CoordinatorError::Kind::kRefused: break;
  }
  return "the coordinator refused the request";
}

// The index i of "outcomes[i]" in a refusal naming one outcome, if any.
std::optional<int> RefusedOutcome(absl::string_view message, int outcomes) {
  const size_t at = message.find("outcomes[");
  if (at == absl::string_view::npos) return std::nullopt;
  absl::string_view rest = message.substr(at + 9);
  const size_t end = rest.find(']');
  int i = 0;
  if (end == absl::string_view::npos || !absl::SimpleAtoi(rest.substr(0, end), &i) || i < 0 || i >= outcomes) {
    return std::nullopt;
  }
  return i;
}

// One log line per outcome, with its reason.
void LogOutcome(const std::string& agent, const v1::UpdateOutcome& o) {
  const std::string what = absl::StrCat("update of ", agent, " from ", o.from_version().empty() ? "(none)" : o.from_version(),
                                        " to ", o.to_version());
  switch (o.result()) {
    case v1::UPDATE_RESULT_SUCCEEDED: LogInfo(absl::StrCat(what, " succeeded")); break;
    case v1::UPDATE_RESULT_ROLLED_BACK: LogError(absl::StrCat(what, " was rolled back: ", o.error())); break;
    default: LogError(absl::StrCat(what, " failed: ", o.error())); break;
  }
}

std::vector<MaintenanceWindow> WindowsFrom(const v1::GetTargetResponse& t) {
  std::vector<MaintenanceWindow> out;
  for (const v1::MaintenanceWindow& w : t.maintenance_windows()) {
    MaintenanceWindow m = wire::WindowFromProto(w);
    if (m.Validate().ok()) out.push_back(std::move(m));
  }
  return out;
}

// What this host is to run, as the signed payload allows it: the
// coordinator answers per host (a staged rollout holds hosts not let in yet
// on its start version), but signs per channel, naming the target, the start
// version and the rollout's mode. Its per-host answer `told` is accepted when
// it is the target (not once rolled back), or, while the rollout holds hosts,
// the start version (empty: nothing to install), or, rolled back, the start
// version with downgrade allowed; or nothing to install, in any mode, when
// the signed answer says the catch-all is off and this host's group is not
// one it lists (its updates are off). Anything else is refused: a
// coordinator (or whoever sits between) cannot steer a host to a version the
// signed answer does not name. Only the answer that is the target is
// critical.
struct HostAnswer {
  std::string version;
  bool critical = false;
  bool downgrade_allowed = false;
  bool held_back = false;  // told the start version, not the target
};

absl::StatusOr<HostAnswer> AnswerForHost(const v1::TargetMetadata& t, const std::string& told,
                                         const std::string& my_group) {
  const std::string& start = t.rollout_start_version();
  if (told.empty() && !t.target_version().empty() && t.catch_all_off() &&
      std::find(t.listed_groups().begin(), t.listed_groups().end(), my_group) == t.listed_groups().end()) {
    return HostAnswer{"", false, false, true};
  }
  switch (t.rollout_mode()) {
    case v1::TargetMetadata::ROLLOUT_MODE_ROLLED_BACK:
      if (told == start) return HostAnswer{start, false, true, true};
      break;
    case v1::TargetMetadata::ROLLOUT_MODE_HOLDING:
      if (told == t.target_version()) return HostAnswer{told, t.critical(), t.downgrade_allowed(), false};
      if (told == start) return HostAnswer{start, false, false, true};
      break;
    default:
      // No rollout holds hosts back (or a mode this updater does not know:
      // then only the target is safe to take).
      if (told == t.target_version()) return HostAnswer{told, t.critical(), t.downgrade_allowed(), false};
      break;
  }
  auto name = [](const std::string& v) { return v.empty() ? std::string("none") : v; };
  std::string mode;
  switch (t.rollout_mode()) {
    case v1::TargetMetadata::ROLLOUT_MODE_UNSPECIFIED: mode = "no rollout holding hosts back"; break;
    case v1::TargetMetadata::ROLLOUT_MODE_HOLDING: mode = "rollout holding hosts back"; break;
    case v1::TargetMetadata::ROLLOUT_MODE_ROLLED_BACK: mode = "rollout rolled back: start only"; break;
    default: mode = absl::StrCat("unknown rollout mode ", static_cast<int>(t.rollout_mode())); break;
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "coordinator told this host to run ", name(told), ", which its signed metadata for channel \"", t.channel(),
      "\" (version ", t.version(), ") does not name (target ", name(t.target_version()), ", start ",
      name(start), "; ", mode, ")"));
}

// The protocol needs a version; an agent that is not installed reports 0.0.0
// (which the coordinator lists as out of policy: missing agents stand out).
constexpr char kNotInstalled[] = "0.0.0";

}  // namespace

Updater::Updater(v1::UpdaterConfig config, UpdaterDeps deps) : config_(std::move(config)), deps_(std::move(deps)) {}

Updater::Health Updater::CheckHealth() {
  absl::Status s = deps_.health->Check();
  return {s.ok(), std::string(s.message()), absl::IsAborted(s)};
}

Updater::Health Updater::WatchHealth(absl::Duration grace, absl::Duration watch) {
  constexpr absl::Duration kEvery = absl::Milliseconds(500);
  const absl::Time grace_end = deps_.clock->Now() + grace;
  Health h = CheckHealth();
  while (!h.healthy) {
    if (h.final) return h;
    if (deps_.clock->Now() >= grace_end) {
      h.reason = absl::StrCat("not healthy within ", absl::FormatDuration(grace), ": ", h.reason);
      return h;
    }
    deps_.pause(kEvery);
    h = CheckHealth();
  }
  const absl::Time watch_end = deps_.clock->Now() + watch;
  while (deps_.clock->Now() < watch_end) {
    deps_.pause(kEvery);
    h = CheckHealth();
    if (!h.healthy) {
      h.reason = absl::StrCat("became unhealthy while watched: ", h.reason);
      return h;
    }
  }
  return h;
}

int64_t Updater::NextSequence(UpdaterState& state) {
  // Time-based floor: an updater whose state was wiped still sends sequences
  // above the ones the coordinator stored.
  // Saturates at INT64_MAX rather than overflowing into negative sequences,
  // which the coordinator refuses: a state holding INT64_MAX (a coordinator
  // that once stored a forged one told us so) repeats it and is a duplicate.
  const int64_t last = state.last_sequence();
  const int64_t after = last == std::numeric_limits<int64_t>::max() ? last : last + 1;
  const int64_t next = std::max(after, absl::ToUnixMicros(deps_.clock->Now()));
  state.set_last_sequence(next);
  return next;
}

absl::Status Updater::Deliver(UpdaterState& state, const std::optional<std::string>& installed, bool healthy,
                              const std::string& updating_to, SyncCall* sync) {
  StateStore& store = *deps_.state;
  bool fresh_sent = false;
  // The sequence of the fresh status this call built (once built).
  int64_t fresh_sequence = 0;
  bool out_of_order = false;
  int out_of_order_rounds = 0;
  // After a refusal that names no outcome: one outcome per report, so that
  // only the refused one is set aside.
  bool one_per_report = false;
  absl::Status refused;
  constexpr int kRounds = 8;
  for (int round = 0; round < kRounds; ++round) {
    out_of_order = false;
    absl::StatusOr<std::optional<PendingReport>> pending = store.LoadPendingReport();
    if (!pending.ok()) {
      LogWarning(absl::StrCat("dropping damaged pending report: ", pending.status().message()));
      // It was sent, maybe, and never acknowledged: the chain of
      // acknowledged reports is broken (saved before it leaves the outbox).
      if (absl::Status s = BreakChain(state, store); !s.ok()) return s;
      if (absl::Status s = store.ClearPendingReport(); !s.ok()) return s;
      continue;
    }
    absl::StatusOr<std::vector<std::pair<std::string, v1::UpdateOutcome>>> queued = store.QueuedOutcomes();
    if (!queued.ok()) return queued.status();
    if (pending->has_value()) {
      // Made acceptable again when resent: one an older updater saved may
      // hold what the coordinator refuses. (Same sequence: were it stored
      // already, it is a duplicate whatever it holds.)
      for (v1::UpdateOutcome& o : *(*pending)->mutable_request()->mutable_outcomes()) {
        // Times already shifted when it was built: only clamped.
        o = Acceptable(o, CoordinatorNow(state, deps_.clock->Now()), absl::ZeroDuration());
      }
      if (updating_to.empty() && !(*pending)->request().updating_to().empty()) {
        // Saved just before an install (and not delivered then): the
        // install is over, and the coordinator must not count this host as
        // updating on the strength of an old report. Same sequence: if it
        // was stored after all, this is a duplicate, and the fresh status
        // below clears it.
        (*pending)->mutable_request()->clear_updating_to();
        if (absl::Status s = store.SavePendingReport(**pending); !s.ok()) return s;
      }
      // A fold interrupted between saving the report and removing its files.
      if (absl::Status s = store.RemoveQueued({(*pending)->consumed_files().begin(), (*pending)->consumed_files().end()});
          !s.ok()) {
        return s;
      }
    } else {
      if (fresh_sent && queued->empty()) break;
      PendingReport report;
      v1::ReportStatusRequest& r = *report.mutable_request();
      r.set_host_id(config_.host_id());
      r.set_channel(wire::ChannelName(config_.channel()));
      r.set_group(config_.group());
      r.set_current_version(installed.value_or(kNotInstalled));
      r.set_health(healthy ? v1::HEALTH_HEALTHY : v1::HEALTH_UNHEALTHY);
      r.set_updater_version(kUpdaterVersion);
      r.set_instance_id(state.instance_id());
      r.set_schedule_state(state.schedule_state());
      // Why this host acts on none of the coordinator's answers: its
      // operators should hear it there, not only on the host.
      r.set_metadata_problem(ErrorText(state.metadata_problem()));
      r.set_updating_to(updating_to);
      // The coordinator already has this very status from this pass (the
      // report that went with the target): one round trip is enough.
      if (queued->empty() && acknowledged_status_.has_value() &&
          google::protobuf::util::MessageDifferencer::Equals(r, *acknowledged_status_)) {
        break;
      }
      r.set_sequence(NextSequence(state));
      // Names the previous report only when it was acknowledged and nothing
      // was sent since (the heartbeat contract, coordinator/rollout/heartbeat.h).
      if (state.acknowledged_sequence() > 0 && state.acknowledged_sequence() < r.sequence()) {
        r.set_previous_sequence(state.acknowledged_sequence());
      }
      for (const auto& [name, outcome] : *queued) {
        if (r.outcomes_size() >= (one_per_report ? 1 : kMaxOutcomesPerReport)) break;
        *r.add_outcomes() = Acceptable(outcome, CoordinatorNow(state, deps_.clock->Now()), LocalTimeShift(state));
        if (r.outcomes_size() > 1 && r.ByteSizeLong() > kMaxReportBytes) {
          // The coordinator refuses messages over its size limit: the rest
          // goes in the next report.
          r.mutable_outcomes()->RemoveLast();
          break;
        }
        report.add_consumed_files(name);
      }
      // Sequence first, then the report, then drop the folded files: a crash
      // anywhere leaves every outcome in exactly one place.
      if (absl::Status s = store.Save(state); !s.ok()) return s;
      if (absl::Status s = store.SavePendingReport(report); !s.ok()) return s;
      if (absl::Status s = store.RemoveQueued({report.consumed_files().begin(), report.consumed_files().end()});
          !s.ok()) {
        return s;
      }
      pending = std::optional<PendingReport>(report);
      fresh_sent = true;
      fresh_sequence = r.sequence();
    }
    absl::StatusOr<v1::ReportStatusResponse> resp = Send((*pending)->request(), sync);
    const bool acknowledged =
        resp.ok() && (resp->disposition() == v1::ReportStatusResponse::DISPOSITION_ACCEPTED ||
                      resp->disposition() == v1::ReportStatusResponse::DISPOSITION_DUPLICATE);
    // Any other answer, or none, breaks the chain: the next report built
    // names no predecessor. (An unanswered report stays in the outbox and
    // is resent as it was built; nothing else is built before it is
    // acknowledged or set aside.)
    if (!acknowledged) state.set_acknowledged_sequence(0);
    // Rate limited: the report is fine, only too soon; it stays for the next pass.
    if (absl::IsResourceExhausted(resp.status()) && ReasonOf(resp.status()) == kReasonRateLimited) {
      return resp.status();
    }
    if (absl::IsInvalidArgument(resp.status()) || absl::IsResourceExhausted(resp.status())) {
      // Refused for what it holds (or its size): sent again it would be
      // refused again, and hold up every later report of this host for good.
      const std::string reason(resp.status().message());
      const v1::ReportStatusRequest& req = (*pending)->request();
      if (req.outcomes_size() > 1) {
        // Only the refused outcome is set aside; the others are queued again
        // (queued before the report goes: a crash in between may send one
        // twice, never lose one).
        // -1: no single outcome to blame. (Not a std::optional: GCC 12 warns
        // falsely that it "may be used uninitialized" in the loop below.)
        const int bad = absl::IsInvalidArgument(resp.status())
                            ? RefusedOutcome(reason, req.outcomes_size()).value_or(-1)
                            : -1;
        PendingReport aside = **pending;
        aside.mutable_request()->clear_outcomes();
        for (int i = 0; i < req.outcomes_size(); ++i) {
          if (i == bad) {
            *aside.mutable_request()->add_outcomes() = req.outcomes(i);
          } else if (absl::Status s = store.AddOutcome(req.outcomes(i)); !s.ok()) {
            return s;
          }
        }
        if (bad < 0) {
          LogWarning(absl::StrCat("the coordinator refused report ", req.sequence(), " (", req.outcomes_size(),
                                  " outcomes): ", reason, "; sending its outcomes one per report"));
          if (absl::Status s = store.Save(state); !s.ok()) return s;
          if (absl::Status s = store.ClearPendingReport(); !s.ok()) return s;
          one_per_report = true;
          fresh_sent = false;
          continue;
        }
        LogWarning(absl::StrCat("report ", req.sequence(), " was refused for outcomes[", bad, "] alone: setting it aside, ",
                                "the other ", req.outcomes_size() - 1, " outcomes are queued again"));
        pending = std::optional<PendingReport>(aside);
      }
      state.set_rejected_reports(state.rejected_reports() + 1);
      state.set_last_rejection(reason);
      state.set_acknowledged_sequence(0);
      LogError(absl::StrCat("the coordinator refused report ", (*pending)->request().sequence(), " (",
                            (*pending)->request().outcomes_size(), " outcomes): ", reason, "; moved it to ",
                            store.dir(), "/outbox/rejected/ so that later reports go through (",
                            state.rejected_reports(), " refused so far)"));
      if (absl::Status s = store.Save(state); !s.ok()) return s;
      if (absl::Status s = store.RejectPendingReport(**pending, reason); !s.ok()) return s;
      refused = resp.status();
      // Refused for an outcome, a fresh status without it still tells the
      // coordinator how the host is (a bare status refused once would be
      // refused again).
      if ((*pending)->request().outcomes_size() > 0) fresh_sent = false;
      continue;
    }
    if (!resp.ok()) return resp.status();
    if (resp->disposition() == v1::ReportStatusResponse::DISPOSITION_OUT_OF_ORDER) {
      out_of_order = true;
      ++out_of_order_rounds;
      // The coordinator holds a newer sequence (our state was lost or
      // restored): resend the same content above it.
      state.set_last_sequence(std::max(state.last_sequence(), resp->stored_sequence()));
      PendingReport again = **pending;
      const bool fresh = again.request().sequence() == fresh_sequence;
      again.mutable_request()->set_sequence(NextSequence(state));
      if (fresh) fresh_sequence = again.request().sequence();
      // A report was sent since its predecessor and not acknowledged.
      again.mutable_request()->set_previous_sequence(0);
      if (absl::Status s = store.Save(state); !s.ok()) return s;
      if (absl::Status s = store.SavePendingReport(again); !s.ok()) return s;
      continue;
    }
    if (resp->disposition() == v1::ReportStatusResponse::DISPOSITION_SEQUENCE_TOO_FAR_AHEAD) {
      // Our last sequence is further ahead than the coordinator believes a
      // host can be (a state written under a clock far ahead, or a host the
      // operator made the coordinator forget): continue above what it holds,
      // from our clock.
      LogWarning(absl::StrCat("the coordinator refused sequence ", (*pending)->request().sequence(),
                              " as too far ahead (it holds ", resp->stored_sequence(),
                              "): continuing above that from the clock"));
      out_of_order = true;
      ++out_of_order_rounds;
      state.set_last_sequence(resp->stored_sequence());
      PendingReport again = **pending;
      const bool fresh = again.request().sequence() == fresh_sequence;
      again.mutable_request()->set_sequence(NextSequence(state));
      if (fresh) fresh_sequence = again.request().sequence();
      // A report was sent since its predecessor and not acknowledged.
      again.mutable_request()->set_previous_sequence(0);
      if (absl::Status s = store.Save(state); !s.ok()) return s;
      if (absl::Status s = store.SavePendingReport(again); !s.ok()) return s;
      continue;
    }
    // Acknowledged: the next report may name it. Saved before the report
    // leaves the outbox, so that a pass killed in between resends it rather
    // than name an older one.
    state.set_acknowledged_sequence((*pending)->request().sequence());
    if (absl::Status s = store.Save(state); !s.ok()) return s;
    if ((*pending)->request().sequence() == fresh_sequence) {
      v1::ReportStatusRequest status = (*pending)->request();
      status.clear_sequence();
      status.clear_previous_sequence();
      status.clear_outcomes();
      acknowledged_status_ = std::move(status);
    }
    if (absl::Status s = store.ClearPendingReport(); !s.ok()) return s;
  }
  if (out_of_order) {
    const std::string message = absl::StrCat(
        "gave up delivering after ", kRounds, " rounds: the coordinator answered OUT_OF_ORDER to ",
        out_of_order_rounds, " of them, the last one included (it held a newer report of host \"", config_.host_id(),
        "\", last sequence ", state.last_sequence(), "): another updater probably reports under the same host id (a cloned /etc/machine-id or state "
        "directory); give each host its own host_id. The report stays in the outbox and is sent again next pass");
    LogError(message);
    return absl::AbortedError(message);
  }
  if (!refused.ok()) return absl::InvalidArgumentError(absl::StrCat("report refused: ", refused.message()));
  return absl::OkStatus();
}

absl::StatusOr<v1::ReportStatusResponse> Updater::Send(const v1::ReportStatusRequest& request, SyncCall* sync) {
  // Sync asks for the target of the report's own channel, host and group:
  // a report left in the outbox under another configuration goes alone.
  if (sync == nullptr || sync->done || request.channel() != sync->request.channel() ||
      request.host_id() != sync->request.host_id() || request.group() != sync->request.group()) {
    return deps_.coordinator->ReportStatus(request);
  }
  sync->done = true;
  if (!sync_unimplemented_) {
    absl::StatusOr<SyncAnswer> answer = deps_.coordinator->Sync(request);
    if (answer.ok()) {
      sync->target = std::move(answer->target);
      sync->next_sync = answer->next_sync;
      sync->synced = true;
      return std::move(answer->report);
    }
    if (!absl::IsUnimplemented(answer.status())) {
      // Neither half was answered.
      sync->target = answer.status();
      return answer.status();
    }
    sync_unimplemented_ = true;
    LogInfo(absl::StrCat("the coordinator does not know Sync (", answer.status().message(),
                         "): fetching the target and reporting in two calls"));
  }
  sync->target = deps_.coordinator->GetTarget(sync->request);
  return deps_.coordinator->ReportStatus(request);
}

absl::Status Updater::BreakChain(UpdaterState& state, StateStore& store) {
  if (state.acknowledged_sequence() == 0) return absl::OkStatus();
  state.set_acknowledged_sequence(0);
  return store.Save(state);
}

std::optional<Schedule> Updater::LoadSchedule(const UpdaterState& state, std::string* note) {
  if (!config_.schedule_file().empty()) {
    absl::StatusOr<std::string> text = ReadFile(config_.schedule_file());
    if (!text.ok()) {
      *note = absl::StrCat("schedule file: ", text.status().message());
      return std::nullopt;
    }
    absl::StatusOr<Schedule> s = ParseTeleportSchedule(*text);
    if (!s.ok()) {
      *note = absl::StrCat("schedule file ", config_.schedule_file(), ": ", s.status().message());
      return std::nullopt;
    }
    return *s;
  }
  if (!state.has_cached_target()) return std::nullopt;
  Schedule s;
  s.recurring = WindowsFrom(state.cached_target().target());
  if (s.recurring.empty()) return std::nullopt;
  return s;
}

v1::UpdateOutcome Updater::RollBack(const std::string& from, const std::string& to, const std::string& why,
                                    absl::Time started, UpdaterState& state) {
  v1::UpdateOutcome o;
  o.set_from_version(from);
  o.set_to_version(to);
  TimeToProto(started, o.mutable_start_time());
  std::string detail;
  if (absl::Status s = deps_.installer->Rollback(from); !s.ok()) {
    detail = absl::StrCat("; roll-back to ", from, " failed: ", s.message());
  } else if (absl::Status r = deps_.restart(); !r.ok()) {
    detail = absl::StrCat("; rolled back to ", from, " but restart failed: ", r.message());
  } else {
    Health h = WatchHealth(wire::DurationFromProtoOr(config_.agent().health_grace(), absl::Seconds(60)), absl::ZeroDuration());
    detail = h.healthy ? absl::StrCat("; rolled back to ", from, ", healthy again")
                       : absl::StrCat("; rolled back to ", from, ", still unhealthy: ", h.reason);
  }
  o.set_result(v1::UPDATE_RESULT_ROLLED_BACK);
  o.set_error(ErrorText(absl::StrCat(why, detail)));
  TimeToProto(deps_.clock->Now(), o.mutable_finish_time());
  state.set_rolled_back_version(to);
  state.set_rolled_back_reason(o.error());
  return o;
}

v1::UpdateOutcome Updater::Update(const std::optional<std::string>& from, const std::string& to,
                                  UpdaterState& state) {
  const absl::Time started = deps_.clock->Now();
  UpdateInProgress* marker = state.mutable_in_progress();
  marker->set_from_version(from.value_or(""));
  marker->set_to_version(to);
  TimeToProto(started, marker->mutable_start_time());
  if (absl::Status s = deps_.state->Save(state); !s.ok()) {
    LogError(absl::StrCat("cannot record the update before starting it: ", s.message()));
  }
  v1::UpdateOutcome o;
  o.set_from_version(from.value_or(""));
  o.set_to_version(to);
  TimeToProto(started, o.mutable_start_time());
  auto finish = [&](v1::UpdateResult result, const std::string& error) {
    o.set_result(result);
    o.set_error(ErrorText(error));
    TimeToProto(deps_.clock->Now(), o.mutable_finish_time());
  };

  LogInfo(absl::StrCat("updating ", config_.agent().name(), " from ", from.value_or("(none)"), " to ", to));
  if (absl::Status s = deps_.installer->Install(to); !s.ok()) {
    finish(v1::UPDATE_RESULT_FAILED, absl::StrCat("install of ", to, " failed: ", s.message()));
  } else if (absl::Status r = deps_.restart(); !r.ok()) {
    if (from) {
      o = RollBack(*from, to, absl::StrCat("restart after installing ", to, " failed: ", r.message()), started, state);
    } else {
      finish(v1::UPDATE_RESULT_FAILED, absl::StrCat("restart failed: ", r.message()));
    }
  } else {
    Health h = WatchHealth(wire::DurationFromProtoOr(config_.agent().health_grace(), absl::Seconds(60)),
                           wire::DurationFromProtoOr(config_.agent().health_watch(), absl::Seconds(30)));
    if (h.healthy) {
      finish(v1::UPDATE_RESULT_SUCCEEDED, "");
      MarkGood(to);
    } else if (from) {
      o = RollBack(*from, to, absl::StrCat(to, " is unhealthy: ", h.reason), started, state);
    } else {
      finish(v1::UPDATE_RESULT_FAILED, absl::StrCat(to, " is unhealthy and there is no earlier version: ", h.reason));
    }
  }
  state.clear_in_progress();
  return o;
}

std::optional<v1::UpdateOutcome> Updater::Recover(UpdaterState& state) {
  if (!state.has_in_progress()) return std::nullopt;
  const UpdateInProgress marker = state.in_progress();
  const absl::Time started = TimeFromProto(marker.start_time());
  absl::StatusOr<std::optional<std::string>> installed = deps_.installer->InstalledVersion();
  LogWarning(absl::StrCat("the previous pass was interrupted while updating to ", marker.to_version(),
                          "; installed now: ", installed.ok() ? installed->value_or("(none)") : "unknown"));
  v1::UpdateOutcome o;
  o.set_from_version(marker.from_version());
  o.set_to_version(marker.to_version());
  TimeToProto(started, o.mutable_start_time());
  if (installed.ok() && *installed == marker.to_version()) {
    // The new version is in place: finish the job (restart, watch).
    if (absl::Status r = deps_.restart(); !r.ok()) LogWarning(absl::StrCat("restart: ", r.message()));
    Health h = WatchHealth(wire::DurationFromProtoOr(config_.agent().health_grace(), absl::Seconds(60)),
                           wire::DurationFromProtoOr(config_.agent().health_watch(), absl::Seconds(30)));
    if (h.healthy) {
      o.set_result(v1::UPDATE_RESULT_SUCCEEDED);
      o.set_error("");
      TimeToProto(deps_.clock->Now(), o.mutable_finish_time());
      MarkGood(marker.to_version());
    } else if (!marker.from_version().empty()) {
      o = RollBack(marker.from_version(), marker.to_version(),
                   absl::StrCat(marker.to_version(), " is unhealthy after an interrupted update: ", h.reason), started,
                   state);
    } else {
      o.set_result(v1::UPDATE_RESULT_FAILED);
      o.set_error(ErrorText(absl::StrCat("unhealthy after an interrupted update: ", h.reason)));
      TimeToProto(deps_.clock->Now(), o.mutable_finish_time());
    }
  } else {
    // Still on the old version: the installers never leave a half-install.
    // Make sure the old version runs; the normal decision retries the update.
    if (absl::Status r = deps_.restart(); !r.ok()) LogWarning(absl::StrCat("restart: ", r.message()));
    o.set_result(v1::UPDATE_RESULT_FAILED);
    o.set_error(ErrorText(absl::StrCat("interrupted before ", marker.to_version(), " was in place; still on ",
                                       installed.ok() ? installed->value_or("(none)") : "an unknown version")));
    TimeToProto(deps_.clock->Now(), o.mutable_finish_time());
  }
  state.clear_in_progress();
  return o;
}

void Updater::MarkGood(const std::string& version) {
  if (absl::Status s = deps_.installer->MarkGood(version); !s.ok()) {
    LogWarning(absl::StrCat("cannot record ", version, " as the last good version: ", s.message()));
  }
}

absl::Status Updater::RecordOutcome(UpdaterState& state, const v1::UpdateOutcome& outcome) {
  *state.mutable_last_outcome() = outcome;
  state.set_last_outcome_queued(false);
  if (absl::Status s = deps_.state->Save(state); !s.ok()) return s;
  if (absl::Status s = deps_.state->AddOutcome(outcome); !s.ok()) return s;
  state.set_last_outcome_queued(true);
  return deps_.state->Save(state);
}

absl::StatusOr<PassResult> Updater::RunPass() {
  StateStore& store = *deps_.state;
  std::string warning;
  absl::StatusOr<UpdaterState> loaded = store.Load(&warning);
  if (!loaded.ok()) return loaded.status();
  if (!warning.empty()) LogWarning(warning);
  UpdaterState state = *std::move(loaded);
  PassResult result;
  sync_unimplemented_ = false;
  acknowledged_status_.reset();

  if (state.has_last_outcome() && !state.last_outcome_queued()) {
    // Killed between recording an outcome and queuing it.
    if (absl::Status s = RecordOutcome(state, v1::UpdateOutcome(state.last_outcome())); !s.ok()) return s;
  }
  if (std::optional<v1::UpdateOutcome> recovered = Recover(state)) {
    LogOutcome(config_.agent().name(), *recovered);
    // Like a finished update: a killed attempt is parked like a failed one.
    if (absl::Status s = RecordUpdateOutcome(state, *recovered); !s.ok()) return s;
    result.outcome = recovered;
  }

  // 1. What runs now, and the schedule known so far: the status this host
  // reports with the target fetch.
  absl::StatusOr<std::optional<std::string>> installed = deps_.installer->InstalledVersion();
  Health health = CheckHealth();
  {
    std::string note;
    const std::optional<Schedule> known_schedule = LoadSchedule(state, &note);
    state.set_schedule_state(ScheduleStateOf(config_.schedule_file(), known_schedule, deps_.clock->Now()));
  }

  // 2. The report and the target (or, without the coordinator, the last one
  // we saw) in one round trip: Sync, or GetTarget and ReportStatus from a
  // coordinator that predates it.
  SyncCall sync;
  sync.request.set_channel(wire::ChannelName(config_.channel()));
  sync.request.set_host_id(config_.host_id());
  sync.request.set_group(config_.group());
  const absl::Status first_delivery =
      Deliver(state, installed.ok() ? *installed : std::nullopt, health.healthy, "", &sync);
  if (!sync.done) {
    // Nothing went out with it (the outbox could not be read, or held a
    // report of another configuration).
    sync.target = deps_.coordinator->GetTarget(sync.request);
  }
  result.synced = sync.synced;
  absl::StatusOr<v1::GetTargetResponse> target = std::move(sync.target);
  result.coordinator_reachable = target.ok();
  std::string no_target_why;
  if (!deps_.pinned_root) {
    LogWarning("insecure_unsigned_targets: acting on the coordinator's answers WITHOUT checking their signatures "
               "(test setups only: anyone who can reach or impersonate the coordinator controls this host)");
  } else if (target.ok()) {
    absl::StatusOr<v1::GetTargetResponse> verified = Authenticate(*target, state);
    if (verified.ok()) {
      state.clear_metadata_problem();
      target = *std::move(verified);
    } else {
      // Nothing in a refused answer is used; the last verified one stays in
      // force (and, as with an unreachable coordinator, only repairs an
      // unhealthy agent).
      const bool expired = trust::IsMetadataExpired(verified.status());
      result.metadata_expired = expired;
      result.metadata_refused = !expired;
      no_target_why = expired ? absl::StrCat("metadata expired (", verified.status().message(),
                                             "): frozen on the last valid answer")
                              : absl::StrCat("refused the coordinator's answer: ", verified.status().message());
      result.coordinator_problem = no_target_why;
      state.set_metadata_problem(no_target_why);
      LogError(no_target_why);
      target = verified.status();
    }
  }
  if (target.ok()) {
    *state.mutable_cached_target()->mutable_target() = *target;
    state.set_cached_target_verified(deps_.pinned_root.has_value());
    TimeToProto(deps_.clock->Now(), state.mutable_cached_target()->mutable_fetch_time());
    // Held back by a staged rollout (told its start version, not the
    // channel's target), the target has not moved on: what this host learnt
    // about it (rolled back, failed to install) still holds when the rollout
    // lets it in again.
    if (!target->held_back() && !state.rolled_back_version().empty() &&
        state.rolled_back_version() != target->target_version()) {
      // The target moved on: the rolled-back version may be tried again later.
      state.clear_rolled_back_version();
      state.clear_rolled_back_reason();
    }
    if (!target->held_back() && !state.failed_version().empty() &&
        state.failed_version() != target->target_version()) {
      ClearFailedInstall(state);
    }
  } else if (!no_target_why.empty()) {
    // The coordinator answered; its answer was refused (logged above).
  } else {
    const CoordinatorError e = DescribeCoordinatorError(target.status(), config_.channel());
    // Polling on is right when it answered (a channel is found again as soon
    // as it exists); backing off when it, or its database, cannot serve.
    result.coordinator_reachable = CanServe(e);
    result.coordinator_problem = e.text;
    no_target_why = NoTargetWhy(e, config_.channel());
    if (e.answered) {
      LogError(e.text);
    } else {
      LogWarning(e.text);
    }
  }
  // With a pinned root, only an answer that was verified is acted on (a
  // target cached before signing was configured is not).
  const v1::GetTargetResponse* known =
      state.has_cached_target() && (!deps_.pinned_root || state.cached_target_verified())
          ? &state.cached_target().target()
          : nullptr;
  if (known) result.answer_tag = AnswerTagOf(*known);
  result.poll_interval = wire::DurationFromProtoOr(config_.poll_interval(),
                                   known ? wire::DurationFromProtoOr(known->poll_interval(), kDefaultPollInterval) : kDefaultPollInterval);
  if (result.poll_interval < kMinPollInterval || result.poll_interval > kMaxPollInterval) {
    // Whatever a coordinator sends, a host neither spins nor goes silent.
    const absl::Duration clamped = std::clamp(result.poll_interval, kMinPollInterval, kMaxPollInterval);
    LogWarning(absl::StrCat("poll interval ", absl::FormatDuration(result.poll_interval), " is outside [",
                            absl::FormatDuration(kMinPollInterval), ", ", absl::FormatDuration(kMaxPollInterval),
                            "]: using ", absl::FormatDuration(clamped)));
    result.poll_interval = clamped;
  }
  if (sync.next_sync > absl::ZeroDuration() && target.ok()) {
    // The coordinator sets the pace (it stretches the interval as its fleet
    // grows or when it is overloaded); a configured interval may only make
    // this host poll less often. Whatever it sends, a host neither spins
    // nor goes silent.
    absl::Duration next = std::clamp(sync.next_sync, kMinPollInterval, kMaxPollInterval);
    if (next != sync.next_sync) {
      LogWarning(absl::StrCat("the coordinator's next sync in ", absl::FormatDuration(sync.next_sync),
                              " is outside [", absl::FormatDuration(kMinPollInterval), ", ",
                              absl::FormatDuration(kMaxPollInterval), "]: using ", absl::FormatDuration(next)));
    }
    if (config_.has_poll_interval()) {
      next = std::max(next, std::clamp(wire::DurationFromProtoOr(config_.poll_interval(), next), kMinPollInterval,
                                       kMaxPollInterval));
    }
    result.next_sync = next;
  }

  // 3. The schedule, with the windows just fetched.
  std::string schedule_note;
  std::optional<Schedule> schedule = LoadSchedule(state, &schedule_note);
  state.set_no_schedule(!schedule.has_value());
  state.set_schedule_state(ScheduleStateOf(config_.schedule_file(), schedule, deps_.clock->Now()));

  // 4. Decide.
  if (!installed.ok()) {
    result.decision = {Action::kWait, absl::StrCat("cannot tell the installed version: ", installed.status().message())};
  } else {
    DecisionInput in;
    in.installed = *installed;
    if (known && !known->target_version().empty()) in.target = known->target_version();
    in.critical = known && known->critical();
    in.downgrade_allowed = known && known->downgrade_allowed();
    in.held_back = known && known->held_back();
    in.control_plane_version = known ? known->control_plane_version() : "";
    in.healthy = health.healthy;
    in.coordinator_reachable = target.ok();
    in.coordinator_problem = no_target_why;
    in.schedule = schedule;
    in.rolled_back_version = state.rolled_back_version();
    in.failed_version = state.failed_version();
    in.failed_attempts = state.failed_attempts();
    in.failed_retry_time = state.has_failed_retry_time() ? TimeFromProto(state.failed_retry_time()) : absl::InfinitePast();
    in.now = deps_.clock->Now();
    if (!in.failed_version.empty() &&
        in.failed_retry_time > in.now + FailedInstallRetryDelay(std::max(1, in.failed_attempts))) {
      // Further ahead than any wait we set: the clock was stepped back since.
      // Parked for the size of the step otherwise.
      LogWarning(absl::StrCat("the retry time of ", in.failed_version, " (", Format(in.failed_retry_time),
                              ") is further ahead than its backoff: the clock went back; retrying now"));
      in.failed_retry_time = absl::InfinitePast();
    }
    result.decision = Decide(in);
  }
  if (deps_.policy) {
    const UpdatePolicy policy = deps_.policy();
    if (policy.mode == UpdatePolicy::Mode::kDisabled) {
      result.decision = {Action::kNothing, absl::StrCat("updates disabled (", policy.source, "): reporting only; ",
                                                        ActionName(result.decision.action), " would be: ",
                                                        result.decision.reason)};
    } else if (policy.mode == UpdatePolicy::Mode::kReportOnly && result.decision.action == Action::kUpdate) {
      result.decision = {Action::kWait, absl::StrCat("report-only (", policy.source, "): would update to ",
                                                     known->target_version(), " (", result.decision.reason, ")")};
    }
  }

  // 5. Act.
  if (result.decision.action == Action::kUpdate) {
    LogInfo(absl::StrCat("update triggered: ", result.decision.reason));
    if (target.ok()) {
      // So that the coordinator counts this host as updating (in flight)
      // for the length of the install, not as still on the old version.
      // Best effort: the install goes ahead either way, and the report after
      // it (a higher sequence, without updating_to) supersedes this one.
      // Not tried when the coordinator did not answer this pass: it would
      // only hold up the install.
      if (absl::Status s = Deliver(state, *installed, health.healthy, known->target_version()); !s.ok()) {
        LogWarning(absl::StrCat("could not tell the coordinator that this host is updating to ",
                                known->target_version(), " (updating anyway): ", s.message()));
      }
    }
    v1::UpdateOutcome o = Update(*installed, known->target_version(), state);
    LogOutcome(config_.agent().name(), o);
    // The outcome goes to disk before anything else can fail.
    if (absl::Status s = RecordUpdateOutcome(state, o); !s.ok()) return s;
    result.outcome = o;
    installed = deps_.installer->InstalledVersion();
    health = CheckHealth();
  } else if (result.decision.action == Action::kRefuse) {
    LogWarning(absl::StrCat("refusing target: ", result.decision.reason));
  }

  // 6. Report what changed since the first report (the outbox keeps
  // whatever cannot be delivered now). Nothing when nothing did: the
  // status went with the target. When that first report could not be
  // delivered and nothing happened since, trying again at once is no use.
  absl::Status delivered = first_delivery;
  if (first_delivery.ok() || result.decision.action == Action::kUpdate) {
    delivered = Deliver(state, installed.ok() ? *installed : std::nullopt, health.healthy);
  }
  result.delivered = delivered.ok();
  std::string delivery = "report delivered";
  if (absl::IsInvalidArgument(delivered) || absl::IsAborted(delivered)) {
    // Logged by Deliver, with what to do.
    delivery = std::string(delivered.message());
  } else if (!delivered.ok()) {
    const CoordinatorError e = DescribeCoordinatorError(delivered, config_.channel());
    if (!CanServe(e)) result.coordinator_reachable = false;
    delivery = absl::StrCat("report kept in the outbox: ", e.text);
    LogWarning(delivery);
  }

  // One line saying how the pass went.
  result.summary = absl::StrCat(ActionName(result.decision.action), ": ", result.decision.reason,
                                schedule_note.empty() ? "" : absl::StrCat(" (", schedule_note, ")"));
  if (result.outcome) {
    absl::StrAppend(&result.summary, "; ", v1::UpdateResult_Name(result.outcome->result()), " ",
                    result.outcome->from_version().empty() ? "(none)" : result.outcome->from_version(), " -> ",
                    result.outcome->to_version());
  }
  if (!result.coordinator_problem.empty()) absl::StrAppend(&result.summary, "; ", result.coordinator_problem);
  absl::StrAppend(&result.summary, "; ", delivery);
  const bool update_failed = result.outcome && result.outcome->result() != v1::UPDATE_RESULT_SUCCEEDED;
  result.summary_level = update_failed || result.decision.action == Action::kRefuse ? "ERROR"
                         : !result.coordinator_problem.empty() || !delivered.ok() ? "WARN"
                                                                                  : "INFO";
  state.set_last_pass_summary(result.summary);
  TimeToProto(deps_.clock->Now(), state.mutable_last_pass_time());
  if (absl::Status s = store.Save(state); !s.ok()) return s;
  return result;
}

absl::StatusOr<v1::GetTargetResponse> Updater::Authenticate(const v1::GetTargetResponse& answer,
                                                             UpdaterState& state) {
  trust::TrustedRoot root = *deps_.pinned_root;
  // What was accepted under another pinned root (a reinstall with a new
  // one) says nothing about this one's delegations.
  const bool same_pin = state.trusted_root_pinned_key_id() == root.key_id;
  if (same_pin && !state.trusted_root_key().empty()) {
    root = trust::TrustedRootFromRaw(state.trusted_root_key(), state.trusted_root_version());
  }
  const int64_t last_delegation = same_pin ? state.delegation_version() : 0;
  const auto seen = state.metadata_versions().find(config_.channel());
  const int64_t last_seen = seen == state.metadata_versions().end() ? 0 : seen->second;
  absl::StatusOr<trust::VerifiedTarget> v = trust::VerifyTargetMetadata(
      answer.signed_metadata(), root, config_.channel(), last_seen, deps_.clock->Now(), last_delegation);
  if (!v.ok()) return v.status();
  // Before anything of it is kept: a refused answer changes nothing.
  absl::StatusOr<HostAnswer> host = AnswerForHost(v->target, answer.target_version(), config_.group());
  if (!host.ok()) return host.status();
  if (v->root.version > root.version) {
    LogInfo(absl::StrCat("root key rotated: now trusting root ", v->root.key_id, " (version ", v->root.version,
                         ")"));
  }
  if (v->delegation_version > last_delegation && last_delegation > 0) {
    LogInfo(absl::StrCat("targets key rotated: now trusting targets key ", v->targets_key_id, " (delegation version ",
                         v->delegation_version, "); older delegations are refused from now on"));
  }
  // Saved with the rest of the state at the end of the pass (one atomic
  // write, like the metadata versions).
  state.set_delegation_version(std::max(last_delegation, v->delegation_version));
  state.set_trusted_root_key(v->root.public_key);
  state.set_trusted_root_version(v->root.version);
  state.set_trusted_root_pinned_key_id(deps_.pinned_root->key_id);
  (*state.mutable_metadata_versions())[config_.channel()] = v->target.version();
  // Only the signed payload, plus the coordinator's clock (used to place
  // report times, never to decide an update) and the proof itself.
  const v1::TargetMetadata& t = v->target;
  v1::GetTargetResponse out;
  out.set_target_version(host->version);
  out.set_critical(host->critical);
  out.set_downgrade_allowed(host->downgrade_allowed);
  out.set_held_back(host->held_back);
  out.set_control_plane_version(t.control_plane_version());
  *out.mutable_maintenance_windows() = t.maintenance_windows();
  *out.mutable_poll_interval() = t.poll_interval();
  *out.mutable_server_time() = answer.server_time();
  out.set_channel_generation(t.version());
  *out.mutable_signed_metadata() = answer.signed_metadata();
  return out;
}

absl::Status Updater::RecordUpdateOutcome(UpdaterState& state, const v1::UpdateOutcome& o) {
  if (o.result() == v1::UPDATE_RESULT_FAILED) return ParkFailedInstall(state, o);
  if (state.failed_version() == o.to_version()) ClearFailedInstall(state);
  return RecordOutcome(state, o);
}

void Updater::ClearFailedInstall(UpdaterState& state) {
  state.clear_failed_version();
  state.clear_failed_reason();
  state.clear_failed_attempts();
  state.clear_failed_retry_time();
}

absl::Status Updater::ParkFailedInstall(UpdaterState& state, const v1::UpdateOutcome& o) {
  const bool reported = state.failed_version() == o.to_version();
  const int attempts = reported ? state.failed_attempts() + 1 : 1;
  const absl::Time retry = deps_.clock->Now() + FailedInstallRetryDelay(attempts);
  state.set_failed_version(o.to_version());
  state.set_failed_reason(o.error());
  state.set_failed_attempts(attempts);
  TimeToProto(retry, state.mutable_failed_retry_time());
  LogError(absl::StrCat(o.to_version(), " is parked after ", attempts, attempts == 1 ? " failed attempt" : " failed attempts",
                        ": next try after ", Format(retry), ", or when the target changes, or after "
                        "`drover-updater clear`",
                        reported ? "; this failure is not reported again (the coordinator has the first)" : ""));
  if (!reported) return RecordOutcome(state, o);
  // Kept as the last outcome for `status`, but not queued: one failure per
  // host and version reaches the coordinator, not one per attempt.
  *state.mutable_last_outcome() = o;
  state.set_last_outcome_queued(true);
  return deps_.state->Save(state);
}

std::string Updater::StatusText() {
  std::string warning;
  absl::StatusOr<UpdaterState> state = deps_.state->Load(&warning);
  std::string out;
  absl::StatusOr<std::optional<std::string>> installed = deps_.installer->InstalledVersion();
  absl::StrAppend(&out, "agent:            ", config_.agent().name(), " (", deps_.installer->Name(), ")\n");
  absl::StrAppend(&out, "installed:        ",
                  installed.ok() ? installed->value_or("(not installed)") : std::string(installed.status().message()),
                  "\n");
  Health h = CheckHealth();
  absl::StrAppend(&out, "health:           ", h.healthy ? "healthy" : absl::StrCat("unhealthy: ", h.reason), "\n");
  absl::StrAppend(&out, "channel:          ", config_.channel(), config_.group().empty() ? "" : " group " + config_.group(),
                  " via ", config_.coordinator(), "\n");
  if (!state.ok()) return absl::StrCat(out, "state:            ", state.status().message(), "\n");
  if (state->has_cached_target()) {
    const v1::GetTargetResponse& t = state->cached_target().target();
    absl::StrAppend(&out, "target:           ", t.target_version().empty() ? "none" : t.target_version(),
                    t.critical() ? " (CRITICAL)" : "", t.downgrade_allowed() ? " (roll-back allowed)" : "",
                    t.held_back() ? " (held on the rollout's start version)" : "",
                    ", control plane ", t.control_plane_version(), ", fetched ",
                    Format(TimeFromProto(state->cached_target().fetch_time())), "\n");
  } else {
    absl::StrAppend(&out, "target:           unknown (never reached the coordinator)\n");
  }
  if (!state->metadata_versions().empty() || !state->metadata_problem().empty()) {
    const auto v = state->metadata_versions().find(config_.channel());
    absl::StrAppend(&out, "metadata:         version ", v == state->metadata_versions().end() ? 0 : v->second,
                    state->trusted_root_key().empty()
                        ? ""
                        : absl::StrCat(", root ", trust::KeyId(state->trusted_root_key()), " (version ",
                                       state->trusted_root_version(), ")"),
                    state->delegation_version() == 0
                        ? ""
                        : absl::StrCat(", targets key delegation version ", state->delegation_version()),
                    state->metadata_problem().empty() ? "" : absl::StrCat("; ", state->metadata_problem()), "\n");
  }
  std::string note;
  std::optional<Schedule> schedule = LoadSchedule(*state, &note);
  const absl::Time now = deps_.clock->Now();
  if (!schedule) {
    absl::StrAppend(&out, "window:           no schedule known (updates apply at once)", note.empty() ? "" : " - " + note,
                    "\n");
  } else if (schedule->nop) {
    absl::StrAppend(&out, "window:           nop (this updater does nothing)\n");
  } else {
    std::optional<TimeRange> next = schedule->Next(now);
    absl::StrAppend(&out, "window:           ",
                    schedule->InWindow(now) ? "inside a window now"
                    : next                  ? absl::StrCat("next ", Format(next->start), " - ", Format(next->end))
                                            : "no current or future window (updates apply at once)",
                    "\n");
  }
  if (state->has_last_outcome()) {
    const v1::UpdateOutcome& o = state->last_outcome();
    absl::StrAppend(&out, "last outcome:     ", v1::UpdateResult_Name(o.result()), " ", o.from_version(), " -> ",
                    o.to_version(), " at ", Format(TimeFromProto(o.finish_time())),
                    o.error().empty() ? "" : ": " + o.error(), "\n");
  }
  if (!state->rolled_back_version().empty()) {
    absl::StrAppend(&out, "rolled back:      ", state->rolled_back_version(),
                    " (not retried until the target changes or `drover-updater clear`)\n");
  }
  if (!state->failed_version().empty()) {
    absl::StrAppend(&out, "failed install:   ", state->failed_version(), " (", state->failed_attempts(),
                    state->failed_attempts() == 1 ? " attempt" : " attempts", "; next try after ",
                    Format(TimeFromProto(state->failed_retry_time())),
                    ", or when the target changes, or after `drover-updater clear`): ", state->failed_reason(), "\n");
  }
  absl::StatusOr<std::vector<std::pair<std::string, v1::UpdateOutcome>>> queued = deps_.state->QueuedOutcomes();
  absl::StatusOr<std::optional<PendingReport>> pending = deps_.state->LoadPendingReport();
  absl::StrAppend(&out, "pending outbox:   ", queued.ok() ? queued->size() : 0, " outcomes",
                  pending.ok() && pending->has_value()
                      ? absl::StrCat(", 1 report (sequence ", (*pending)->request().sequence(), ", ",
                                     (*pending)->request().outcomes_size(), " outcomes)")
                      : "",
                  "\n");
  if (state->rejected_reports() > 0) {
    absl::StrAppend(&out, "rejected reports: ", state->rejected_reports(), " refused by the coordinator (kept in ",
                    deps_.state->dir(), "/outbox/rejected/); last: ", state->last_rejection(), "\n");
  }
  if (state->has_last_pass_time()) {
    absl::StrAppend(&out, "last pass:        ", Format(TimeFromProto(state->last_pass_time())), " ",
                    state->last_pass_summary(), "\n");
  }
  if (!warning.empty()) absl::StrAppend(&out, "warning:          ", warning, "\n");
  return out;
}

}  // namespace drover::updater
