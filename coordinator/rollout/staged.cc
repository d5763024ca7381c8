#include "coordinator/rollout/staged.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <system_error>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/api_limits.h"
#include "common/text.h"

namespace drover::rollout {
namespace {

// Percent arithmetic in doubles: 10 % of 30 is 3.0000000000000004, which
// must not round up to 4.
constexpr double kEpsilon = 1e-9;
constexpr absl::Duration kMaxPolicyDuration = absl::Hours(24 * 30);

std::string Quote(absl::string_view value) {
  constexpr size_t kShown = 40;
  return absl::StrCat("\"", absl::CHexEscape(value.substr(0, kShown)), value.size() > kShown ? "...\"" : "\"");
}

absl::Status Invalid(absl::string_view field, absl::string_view value, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(field, " ", Quote(value), ": ", why));
}

// The shortest text that reads back as `value`, without an exponent.
std::string FormatNumber(double value) {
  char buf[64];
  std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::fixed);
  if (r.ec != std::errc()) return absl::StrCat(value);
  return std::string(buf, r.ptr);
}

std::string Rfc3339(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone()); }

absl::Status ValidateAmount(absl::string_view field, const Amount& a) {
  if (a.is_percent) {
    if (!std::isfinite(a.percent) || a.percent < 0 || a.percent > 100) {
      return Invalid(field, a.ToString(), "a percentage must lie in 0..100");
    }
  } else if (a.count < 0 || a.count > kMaxAmountCount) {
    return Invalid(field, a.ToString(), absl::StrCat("a count must lie in 0..", kMaxAmountCount));
  }
  return absl::OkStatus();
}

absl::Status ValidateDuration(absl::string_view field, absl::Duration d, bool may_be_zero) {
  if (d < absl::ZeroDuration() || (!may_be_zero && d == absl::ZeroDuration()) || d > kMaxPolicyDuration) {
    return Invalid(field, absl::FormatDuration(d),
                   absl::StrCat(may_be_zero ? "must lie in 0..30 days" : "must be positive and at most 30 days"));
  }
  return absl::OkStatus();
}

}  // namespace

// ---------------------------------------------------------------- Amount

absl::StatusOr<Amount> Amount::Parse(absl::string_view field, absl::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is empty: give a count (\"3\") or a percentage (\"10%\")"));
  const bool percent = text.back() == '%';
  absl::string_view number = percent ? text.substr(0, text.size() - 1) : text;
  // Digits (and one point for a percentage) only: SimpleAtod would take
  // "nan", "1e3" and surrounding spaces.
  int points = 0;
  bool digits = false;
  for (char c : number) {
    if (c == '.') {
      ++points;
    } else if (absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      digits = true;
    } else {
      return Invalid(field, text, "not a count (\"3\") nor a percentage (\"10%\")");
    }
  }
  if (!digits || points > (percent ? 1 : 0)) {
    return Invalid(field, text, "not a count (\"3\") nor a percentage (\"10%\")");
  }
  if (percent) {
    double p = 0;
    if (!absl::SimpleAtod(number, &p) || p > 100) return Invalid(field, text, "a percentage must lie in 0..100");
    return Amount::Percent(p);
  }
  int64_t n = 0;
  if (!absl::SimpleAtoi(number, &n) || n > kMaxAmountCount) {
    return Invalid(field, text, absl::StrCat("a count must lie in 0..", kMaxAmountCount));
  }
  return Amount::Count(n);
}

std::string Amount::ToString() const {
  if (is_percent) return absl::StrCat(FormatNumber(percent), "%");
  return absl::StrCat(count);
}

int64_t Amount::CanariesOf(int64_t total) const {
  if (total <= 0) return 0;
  if (!is_percent) return std::clamp<int64_t>(count, 0, total);
  if (!(percent > 0)) return 0;
  const double exact = percent * static_cast<double>(total) / 100;
  const int64_t n = static_cast<int64_t>(std::ceil(exact - kEpsilon));
  return std::clamp<int64_t>(n, 1, total);
}

int64_t Amount::ToleratedOf(int64_t total) const {
  if (!is_percent) return std::max<int64_t>(count, 0);
  if (total <= 0 || !(percent > 0)) return 0;
  return static_cast<int64_t>(std::floor(percent * static_cast<double>(total) / 100 + kEpsilon));
}

// ---------------------------------------------------------------- policy

const char* CatchAllName(CatchAll c) {
  switch (c) {
    case CatchAll::kLastGroup: return "last-group";
    case CatchAll::kOff: return "off";
  }
  return "unknown";
}

absl::StatusOr<CatchAll> ParseCatchAll(absl::string_view text) {
  if (text == "last-group") return CatchAll::kLastGroup;
  if (text == "off") return CatchAll::kOff;
  return Invalid("catch_all", text, "expected \"last-group\" or \"off\"");
}

absl::Status RolloutPolicy::Validate() const {
  if (groups.size() > static_cast<size_t>(kMaxRolloutGroups)) {
    return absl::InvalidArgumentError(
        absl::StrCat("groups: ", groups.size(), " groups given, at most ", kMaxRolloutGroups));
  }
  absl::flat_hash_map<std::string, size_t> seen;
  for (size_t i = 0; i < groups.size(); ++i) {
    const std::string field = absl::StrCat("groups[", i, "].name");
    const std::string& name = groups[i].name;
    if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is empty: a group needs a name"));
    if (name.size() > kMaxGroupLength) {
      return Invalid(field, name, absl::StrCat("longer than ", kMaxGroupLength, " characters"));
    }
    for (char c : name) {
      if (!IsGroupNameChar(c)) return Invalid(field, name, "a group holds only letters, digits and \"-._\"");
    }
    auto [it, inserted] = seen.emplace(name, i);
    if (!inserted) return Invalid(field, name, absl::StrCat("repeats groups[", it->second, "]"));
    for (size_t w = 0; w < groups[i].windows.size(); ++w) {
      if (absl::Status s = groups[i].windows[w].Validate(); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("groups[", i, "] (", name, ").windows[", w, "]: ", s.message()));
      }
    }
  }
  if (absl::Status s = ValidateAmount("canaries", canaries); !s.ok()) return s;
  if (absl::Status s = ValidateAmount("canary_budget", canary_budget); !s.ok()) return s;
  if (absl::Status s = ValidateAmount("group_budget", group_budget); !s.ok()) return s;
  if (!std::isfinite(done_percent) || done_percent <= 0 || done_percent > 100) {
    return Invalid("done_percent", FormatNumber(done_percent), "must lie in (0, 100]");
  }
  if (absl::Status s = ValidateDuration("bake_time", bake_time, true); !s.ok()) return s;
  if (absl::Status s = ValidateDuration("canary_watch", canary_watch, true); !s.ok()) return s;
  if (absl::Status s = ValidateDuration("period", period, false); !s.ok()) return s;
  if (absl::Status s = ValidateDuration("silent_timeout", silent_timeout, false); !s.ok()) return s;
  if (max_in_flight < 0 || max_in_flight > kMaxAmountCount) {
    return Invalid("max_in_flight", absl::StrCat(max_in_flight), absl::StrCat("must lie in 0..", kMaxAmountCount));
  }
  if (max_per_period < 0 || max_per_period > kMaxAmountCount) {
    return Invalid("max_per_period", absl::StrCat(max_per_period), absl::StrCat("must lie in 0..", kMaxAmountCount));
  }
  if (catch_all != CatchAll::kLastGroup && catch_all != CatchAll::kOff) {
    return Invalid("catch_all", absl::StrCat(static_cast<int>(catch_all)), "expected last-group or off");
  }
  return absl::OkStatus();
}

std::optional<int> GroupIndexOf(const RolloutPolicy& policy, absl::string_view reported_group) {
  if (policy.groups.empty()) return 0;
  for (size_t i = 0; i < policy.groups.size(); ++i) {
    if (policy.groups[i].name == reported_group) return static_cast<int>(i);
  }
  if (policy.catch_all == CatchAll::kOff) return std::nullopt;
  return static_cast<int>(policy.groups.size()) - 1;
}

std::vector<std::string> GroupNames(const RolloutPolicy& policy) {
  std::vector<std::string> names;
  if (policy.groups.empty()) {
    names.emplace_back(kDefaultGroupName);
    return names;
  }
  names.reserve(policy.groups.size());
  for (const RolloutGroupSpec& g : policy.groups) names.push_back(g.name);
  return names;
}

// ---------------------------------------------------------------- states

const char* RolloutStateName(RolloutState s) {
  switch (s) {
    case RolloutState::kActive: return "active";
    case RolloutState::kPaused: return "paused";
    case RolloutState::kHalted: return "halted";
    case RolloutState::kRolledBack: return "rolled_back";
    case RolloutState::kDone: return "done";
    case RolloutState::kSuperseded: return "superseded";
  }
  return "unknown";
}

const char* GroupStateName(GroupState s) {
  switch (s) {
    case GroupState::kUnstarted: return "unstarted";
    case GroupState::kCanary: return "canary";
    case GroupState::kActive: return "active";
    case GroupState::kBaking: return "baking";
    case GroupState::kDone: return "done";
    case GroupState::kHalted: return "halted";
    case GroupState::kRolledBack: return "rolled_back";
  }
  return "unknown";
}

bool IsLive(RolloutState s) {
  return s == RolloutState::kActive || s == RolloutState::kPaused || s == RolloutState::kHalted;
}

const char* OperatorActionName(OperatorAction a) {
  switch (a) {
    case OperatorAction::kPause: return "pause";
    case OperatorAction::kResume: return "resume";
    case OperatorAction::kHalt: return "halt";
    case OperatorAction::kRollback: return "rollback";
    case OperatorAction::kStartGroup: return "start-group";
    case OperatorAction::kMarkDone: return "mark-done";
    case OperatorAction::kSkipCanaries: return "skip-canaries";
  }
  return "unknown";
}

// ---------------------------------------------------------------- start

Rollout StartRollout(const std::string& channel, const std::string& previous_target,
                     const std::optional<Rollout>& previous, const std::string& target,
                     const RolloutPolicy& policy, bool skip_canaries, const std::string& force_reason,
                     absl::Time now) {
  Rollout r;
  r.channel = channel;
  // Hosts an unfinished rollout did not let in still run its start version
  // (and those it let in are held there until this one lets them in).
  const bool unfinished =
      previous.has_value() && (IsLive(previous->state) || previous->state == RolloutState::kRolledBack);
  r.start_version = unfinished ? previous->start_version : previous_target;
  r.target_version = target;
  r.state = RolloutState::kActive;
  r.created_at = now;
  r.state_since = now;
  r.skip_canaries = skip_canaries;
  r.force_reason = force_reason;
  const std::vector<std::string> names = GroupNames(policy);
  for (size_t i = 0; i < names.size(); ++i) {
    GroupProgress g;
    g.name = names[i];
    g.state = GroupState::kUnstarted;
    g.state_since = now;
    g.reason = i == 0 ? "starting" : absl::StrCat("waiting for group ", names[i - 1]);
    r.groups.push_back(std::move(g));
  }
  if (r.start_version == target) {
    // Back to the version every host not let in runs (a re-set, or the
    // target set back before anyone took the new one): nothing to stage.
    r.state = RolloutState::kDone;
    r.reason = absl::StrCat("nothing to roll out: every host not let in already runs ", target);
    for (GroupProgress& g : r.groups) {
      g.state = GroupState::kDone;
      g.done_at = now;
      g.reason = "done: the start version is the target";
    }
  }
  return r;
}

std::optional<int> GroupIndexIn(const Rollout& rollout, const RolloutPolicy& policy,
                                absl::string_view reported_group) {
  if (rollout.groups.empty()) return std::nullopt;
  const std::vector<std::string> names = GroupNames(policy);
  bool same = names.size() == rollout.groups.size();
  for (size_t i = 0; same && i < names.size(); ++i) same = names[i] == rollout.groups[i].name;
  if (same) return GroupIndexOf(policy, reported_group);
  // The policy changed after the rollout started: the rollout's groups stand.
  if (!reported_group.empty()) {
    for (size_t i = 0; i < rollout.groups.size(); ++i) {
      if (rollout.groups[i].name == reported_group) return static_cast<int>(i);
    }
  }
  if (policy.catch_all == CatchAll::kOff) return std::nullopt;
  return static_cast<int>(rollout.groups.size()) - 1;
}

// ---------------------------------------------------------------- hosts

bool OnTargetHealthy(const AdmittedHost& host, const std::string& target) {
  return host.current_version == target && host.health == Health::kHealthy;
}

std::optional<std::string> HostFailure(const AdmittedHost& host, const std::string& target,
                                       const RolloutPolicy& policy, absl::Time now) {
  // Sticky: a host that failed and recovered still counts, once.
  if (host.failed) return host.failure;
  if (host.reported_failure) {
    return host.reported_error.empty() ? absl::StrCat("install of ", target, " failed")
                                       : absl::StrCat("install of ", target, " failed: ", host.reported_error);
  }
  if (host.current_version == target && host.health == Health::kUnhealthy) {
    return absl::StrCat("unhealthy on ", target);
  }
  // Silent: only a host seen after it was let in took the update (its
  // updater fetched the target, then announced the install); one never seen
  // since was switched off or lost its network first, and is withdrawn, not
  // blamed (Step).
  if (!OnTargetHealthy(host, target) && host.last_seen > host.admitted_at) {
    const absl::Time cutoff = now - policy.silent_timeout;
    if (host.last_seen < cutoff) {
      return absl::StrCat("silent for ", absl::FormatDuration(now - host.last_seen), " after being let in");
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- step

namespace {

// One group while Step works on it.
struct GroupWork {
  const GroupInputs* in = nullptr;
  std::vector<AdmittedHost> hosts;  // let in, failures of this step applied
  absl::flat_hash_set<std::string> let_in;
  int64_t present() const { return std::max<int64_t>(in->present, 0); }
  // Hosts, but none seen recently: nothing to judge the group on.
  bool unseen() const { return present() == 0 && in->hosts > 0; }
};

// A group's reason while none of its hosts was seen lately.
std::string UnseenReason(const GroupInputs& in) {
  return absl::StrCat("waiting: none of its ", in.hosts,
                      " hosts was seen recently (they, the reports or the coordinator were down)");
}

// Counts a budget only with failures after the last resume: resuming
// accepted the ones before.
bool CountsForBudget(const AdmittedHost& h, const Rollout& r) {
  if (!h.failed) return false;
  if (!r.resumed_at.has_value() || !h.failed_at.has_value()) return true;
  return *h.failed_at > *r.resumed_at;
}

std::string BudgetText(const Amount& budget, int64_t tolerated) {
  if (budget.is_percent) return absl::StrCat("budget ", tolerated, " (", budget.ToString(), ")");
  return absl::StrCat("budget ", tolerated);
}

const RolloutGroupSpec* SpecOf(const RolloutPolicy& policy, const std::string& name) {
  for (const RolloutGroupSpec& g : policy.groups) {
    if (g.name == name) return &g;
  }
  return nullptr;
}

class Stepper {
 public:
  explicit Stepper(const StepInputs& in) : in_(in), r_(out_.rollout) {
    out_.rollout = in.rollout;
    static const GroupInputs kNone;
    work_.resize(r_.groups.size());
    for (size_t i = 0; i < work_.size(); ++i) {
      work_[i].in = i < in.groups.size() ? &in.groups[i] : &kNone;
      work_[i].hosts = work_[i].in->admitted;
      for (const AdmittedHost& h : work_[i].hosts) work_[i].let_in.insert(h.host_id);
    }
  }

  StepResult Run() {
    const RolloutState state = r_.state;
    if (state == RolloutState::kActive || state == RolloutState::kPaused || state == RolloutState::kHalted) {
      RecordFailures();
    }
    if (state == RolloutState::kActive || state == RolloutState::kPaused) Brake();
    if (r_.state == RolloutState::kHalted && !out_.withdraw_not_updated) WithdrawNotUpdated();
    if (r_.state == RolloutState::kActive) {
      WithdrawStaleNeverSeen();
      Advance();
    }
    out_.changed = !(out_.rollout == in_.rollout) || !out_.admit.empty() || !out_.failed.empty() ||
                   !out_.withdraw.empty() || out_.withdraw_not_updated;
    return std::move(out_);
  }

 private:
  absl::Time now() const { return in_.now; }
  const std::string& target() const { return r_.target_version; }

  void SetGroupState(GroupProgress& g, GroupState s) {
    if (g.state == s) return;
    out_.events.push_back(
        absl::StrCat("group ", g.name, ": ", GroupStateName(g.state), " -> ", GroupStateName(s)));
    g.state = s;
    g.state_since = now();
    if (s != GroupState::kBaking) g.bake_until.reset();
    if (s == GroupState::kDone) g.done_at = now();
  }

  void SetRolloutState(RolloutState s, std::string reason) {
    out_.events.push_back(absl::StrCat("rollout ", RolloutStateName(r_.state), " -> ", RolloutStateName(s),
                                       reason.empty() ? "" : ": ", reason));
    r_.state = s;
    r_.state_since = now();
    r_.reason = std::move(reason);
  }

  void RecordFailures() {
    for (GroupWork& w : work_) {
      for (AdmittedHost& h : w.hosts) {
        if (h.failed) continue;
        // Silent at most since the engine has been listening; a host never
        // seen since it was let in stays so (it never took the update).
        AdmittedHost judged = h;
        if (h.last_seen > h.admitted_at) judged.last_seen = std::max(h.last_seen, in_.watching_since);
        std::optional<std::string> why = HostFailure(judged, target(), in_.policy, now());
        if (!why.has_value()) continue;
        h.failed = true;
        h.failure = *why;
        h.failed_at = now();
        out_.failed.push_back({h.host_id, *why});
        out_.events.push_back(absl::StrCat("host ", h.host_id, " failed: ", *why));
      }
    }
  }

  // The first failure among `hosts` that the budget counts (canaries only
  // when asked), for the halt's reason.
  std::string FirstFailure(const std::vector<AdmittedHost>& hosts, bool canaries_only) const {
    for (const AdmittedHost& h : hosts) {
      if (canaries_only && !h.canary) continue;
      if (CountsForBudget(h, r_)) return absl::StrCat("; first: host ", h.host_id, ": ", h.failure);
    }
    return "";
  }

  void Brake() {
    for (size_t i = 0; i < work_.size(); ++i) {
      const GroupWork& w = work_[i];
      int64_t canaries = 0, canaries_failed = 0, failed = 0;
      for (const AdmittedHost& h : w.hosts) {
        if (h.canary) ++canaries;
        if (!CountsForBudget(h, r_)) continue;
        ++failed;
        if (h.canary) ++canaries_failed;
      }
      std::string figures;
      if (canaries > 0) {
        const int64_t tolerated = in_.policy.canary_budget.ToleratedOf(canaries);
        if (canaries_failed > tolerated) {
          figures = absl::StrCat(canaries_failed, " of ", canaries, " canaries failed, ",
                                 BudgetText(in_.policy.canary_budget, tolerated),
                                 r_.groups.size() > 1 ? absl::StrCat(" (group ", r_.groups[i].name, ")") : "",
                                 FirstFailure(w.hosts, true));
        }
      }
      if (figures.empty() && failed > 0) {
        const int64_t hosts = std::max<int64_t>(w.present(), static_cast<int64_t>(w.hosts.size()));
        const int64_t tolerated = in_.policy.group_budget.ToleratedOf(hosts);
        if (failed > tolerated) {
          figures = absl::StrCat(failed, " of ", hosts, " hosts of group ", r_.groups[i].name, " failed, ",
                                 BudgetText(in_.policy.group_budget, tolerated), FirstFailure(w.hosts, false));
        }
      }
      if (figures.empty()) continue;
      const bool roll_back = in_.policy.auto_rollback && !r_.start_version.empty();
      std::string reason = absl::StrCat("halted: ", figures);
      if (roll_back) absl::StrAppend(&reason, "; rolled back to ", r_.start_version, " (auto-rollback)");
      GroupProgress& g = r_.groups[i];
      SetGroupState(g, roll_back ? GroupState::kRolledBack : GroupState::kHalted);
      g.reason = reason;
      SetRolloutState(roll_back ? RolloutState::kRolledBack : RolloutState::kHalted, reason);
      out_.withdraw_not_updated = true;
      return;  // one breach halts it; the first group's figures say why
    }
  }

  // A halt by an operator (ApplyOperatorAction) withdraws nobody itself:
  // the next step does, as the brake does at once. Once the store has
  // withdrawn them there are none left, so this asks only once.
  void WithdrawNotUpdated() {
    int64_t n = 0;
    for (const GroupWork& w : work_) {
      for (const AdmittedHost& h : w.hosts) {
        if (!h.failed && h.current_version != target()) ++n;
      }
    }
    if (n == 0) return;
    out_.withdraw_not_updated = true;
    out_.events.push_back(absl::StrCat("halted: ", n, " hosts let in that do not run ", target(),
                                       " yet are told the start version again"));
  }

  // A host let in but not seen since, and stale now, never got the target
  // (switched off, or its network gone, before its next poll): it is
  // withdrawn, so it neither holds a place in flight nor counts as failed,
  // and is let in again once it is back; a canary is replaced. One seen
  // after it was let in took the target, and counts as failed if it then
  // goes silent (HostFailure): a version that bricks hosts must not be
  // handed to one replacement after another.
  void WithdrawStaleNeverSeen() {
    const absl::Time stale_before = now() - in_.stale_after;
    for (size_t i = 0; i < work_.size(); ++i) {
      GroupWork& w = work_[i];
      std::vector<AdmittedHost> kept;
      kept.reserve(w.hosts.size());
      int64_t others = 0;
      for (AdmittedHost& h : w.hosts) {
        if (!h.failed && !OnTargetHealthy(h, target()) && h.last_seen < stale_before &&
            h.last_seen <= h.admitted_at && h.admitted_at < stale_before) {
          out_.withdraw.push_back(h.host_id);
          if (h.canary) {
            out_.events.push_back(absl::StrCat("canary ", h.host_id, " of group ", r_.groups[i].name,
                                               " withdrawn: not seen since it was let in"));
          } else {
            ++others;
          }
          continue;
        }
        kept.push_back(std::move(h));
      }
      if (others > 0) {
        out_.events.push_back(absl::StrCat("group ", r_.groups[i].name, ": ", others,
                                           others == 1 ? " host" : " hosts",
                                           " withdrawn: not seen since let in (let in again once back)"));
      }
      w.hosts = std::move(kept);
    }
  }

  // Room left under the rollout's limits for `w`.
  int64_t Room(const GroupWork& w) const {
    int64_t room = INT64_MAX;
    if (in_.policy.max_in_flight > 0) {
      int64_t in_flight = 0;
      for (const AdmittedHost& h : w.hosts) {
        if (!h.failed && !OnTargetHealthy(h, target())) ++in_flight;
      }
      room = std::min(room, in_.policy.max_in_flight - in_flight);
    }
    if (in_.policy.max_per_period > 0) {
      room = std::min(room, in_.policy.max_per_period - in_.admitted_in_period -
                                static_cast<int64_t>(out_.admit.size()));
    }
    return std::max<int64_t>(room, 0);
  }

  std::string LimitText(const GroupWork& w) const {
    if (in_.policy.max_in_flight > 0) {
      int64_t in_flight = 0;
      for (const AdmittedHost& h : w.hosts) {
        if (!h.failed && !OnTargetHealthy(h, target())) ++in_flight;
      }
      if (in_flight >= in_.policy.max_in_flight) {
        return absl::StrCat("; ", in_flight, " in flight, at most ", in_.policy.max_in_flight);
      }
    }
    if (in_.policy.max_per_period > 0 &&
        in_.admitted_in_period + static_cast<int64_t>(out_.admit.size()) >= in_.policy.max_per_period) {
      return absl::StrCat("; ", in_.policy.max_per_period, " let in per ", absl::FormatDuration(in_.policy.period),
                          " already");
    }
    return "";
  }

  void Admit(size_t group, GroupWork& w, const std::string& host, bool canary) {
    w.let_in.insert(host);
    AdmittedHost h;
    h.host_id = host;
    h.group = static_cast<int>(group);
    h.canary = canary;
    h.admitted_at = now();
    h.last_seen = now();  // candidates are seen recently; not stale this step
    w.hosts.push_back(std::move(h));
    out_.admit.push_back({host, static_cast<int>(group), canary});
  }

  bool Canaries(size_t i) const {
    return !r_.skip_canaries && in_.policy.canaries.CanariesOf(work_[i].present()) > 0;
  }

  bool DoneEnough(const GroupWork& w) const {
    return static_cast<double>(w.in->present_on_target_healthy) * 100 >=
           in_.policy.done_percent * static_cast<double>(w.present()) - kEpsilon;
  }

  void Finish(GroupProgress& g, std::string reason) {
    SetGroupState(g, GroupState::kDone);
    g.reason = std::move(reason);
  }

  void Advance() {
    for (size_t i = 0; i < r_.groups.size(); ++i) {
      GroupProgress& g = r_.groups[i];
      if (g.state == GroupState::kUnstarted && !TryStart(i)) continue;
      if (g.state == GroupState::kCanary) StepCanary(i);
      if (g.state == GroupState::kActive) StepActive(i);
      if (g.state == GroupState::kBaking) StepBaking(i);
      if (g.state == GroupState::kDone && g.reason.empty()) g.reason = "done";
    }
    bool all_done = !r_.groups.empty();
    for (const GroupProgress& g : r_.groups) all_done = all_done && g.state == GroupState::kDone;
    if (all_done) SetRolloutState(RolloutState::kDone, "done");
  }

  // Starts group i if it may; says why not otherwise.
  bool TryStart(size_t i) {
    GroupProgress& g = r_.groups[i];
    for (size_t j = 0; j < i; ++j) {
      if (r_.groups[j].state != GroupState::kDone) {
        g.reason = absl::StrCat("waiting for group ", r_.groups[j].name);
        return false;
      }
    }
    if (work_[i].unseen()) {
      g.reason = UnseenReason(*work_[i].in);
      return false;
    }
    if (work_[i].present() == 0) {
      g.started_at = now();
      Finish(g, "done: no hosts present");
      return false;
    }
    const RolloutGroupSpec* spec = SpecOf(in_.policy, g.name);
    if (!in_.critical && spec != nullptr && !spec->windows.empty() && !InAnyWindow(spec->windows, now())) {
      absl::Time next = absl::InfiniteFuture();
      for (const MaintenanceWindow& mw : spec->windows) next = std::min(next, mw.NextOccurrence(now()).start);
      g.reason = absl::StrCat("waiting for a maintenance window (next ", Rfc3339(next), ")");
      return false;
    }
    g.started_at = now();
    SetGroupState(g, Canaries(i) ? GroupState::kCanary : GroupState::kActive);
    return true;
  }

  // A group under way whose hosts were all silent lately waits for them; one
  // without any host left is done. True when either holds: nothing else to
  // do for it in this step.
  bool WaitsOrEmpty(size_t i) {
    GroupProgress& g = r_.groups[i];
    const GroupWork& w = work_[i];
    if (w.unseen()) {
      g.reason = UnseenReason(*w.in);
      return true;
    }
    if (w.present() == 0) {
      Finish(g, "done: no hosts present");
      return true;
    }
    return false;
  }

  void StepCanary(size_t i) {
    if (WaitsOrEmpty(i)) return;
    GroupProgress& g = r_.groups[i];
    GroupWork& w = work_[i];
    if (!Canaries(i)) {
      SetGroupState(g, GroupState::kActive);
      return;
    }
    const int64_t needed = in_.policy.canaries.CanariesOf(w.present());
    // Healthy: on the target, healthy, and heard from lately. A canary
    // that went quiet (a crash, power, its network) proves nothing and stops
    // the watch until it is back (or counts as failed once silent too long).
    const absl::Time stale_before = now() - in_.stale_after;
    auto count_live = [&](int64_t& live, int64_t& healthy) {
      live = healthy = 0;
      for (const AdmittedHost& h : w.hosts) {
        if (!h.canary || h.failed) continue;
        ++live;
        if (OnTargetHealthy(h, target()) && h.last_seen >= stale_before) ++healthy;
      }
    };
    int64_t live = 0, healthy = 0;
    count_live(live, healthy);
    // Failed canaries (within the budget) are replaced, as are stale ones.
    bool candidates_left = false;
    int64_t admitted_now = 0;
    if (live < needed) {
      int64_t room = std::min(Room(w), needed - live);
      for (const std::string& host : w.in->canary_candidates) {
        if (w.let_in.contains(host)) continue;
        if (room == 0) {
          candidates_left = true;
          break;
        }
        Admit(i, w, host, true);
        --room;
        ++admitted_now;
      }
      count_live(live, healthy);
    }
    if (admitted_now > 0) out_.events.push_back(absl::StrCat("group ", g.name, ": ", admitted_now, " canaries let in"));
    if (live == 0 && !candidates_left && w.in->canary_candidates.empty() && Room(w) > 0) {
      // Hosts are present but none is healthy: nobody to prove the version
      // on, and an unhealthy agent is one the update may repair. The group
      // goes on without canaries; the failure brake still applies.
      out_.events.push_back(absl::StrCat("group ", g.name,
                                         ": no healthy host seen recently to pick as a canary; going on without"));
      SetGroupState(g, GroupState::kActive);
      StepActive(i);
      return;
    }
    // Fewer healthy hosts than canaries wanted: the ones there are will do,
    // once no more can be picked.
    const bool enough = live >= needed || (!candidates_left && live > 0);
    if (enough && healthy == live) {
      // Every canary runs the target healthy: watch them for a while (a
      // version can pass the updater's health watch and break later), then
      // let the group in. The watch starts again whenever a canary is
      // replaced or not yet healthy.
      if (in_.critical || in_.policy.canary_watch <= absl::ZeroDuration()) {
        SetGroupState(g, GroupState::kActive);
        return;
      }
      if (!g.bake_until.has_value()) g.bake_until = now() + in_.policy.canary_watch;
      if (now() >= *g.bake_until) {
        SetGroupState(g, GroupState::kActive);
        return;
      }
      g.reason = absl::StrCat("watching ", healthy, " canaries healthy on ", target(), " until ", Rfc3339(*g.bake_until));
      return;
    }
    g.bake_until.reset();
    g.reason = absl::StrCat("waiting for canaries ", healthy, "/", needed, LimitText(w));
    if (live == 0 && !candidates_left) {
      absl::StrAppend(&g.reason, ": no healthy host seen recently to pick");
    }
  }

  void StepActive(size_t i) {
    if (WaitsOrEmpty(i)) return;
    GroupProgress& g = r_.groups[i];
    GroupWork& w = work_[i];
    if (DoneEnough(w)) {
      if (in_.critical || in_.policy.bake_time <= absl::ZeroDuration()) {
        Finish(g, in_.critical ? "done (critical: no bake time)" : "done");
        return;
      }
      SetGroupState(g, GroupState::kBaking);
      g.bake_until = now() + in_.policy.bake_time;
      return;  // StepBaking says so
    }
    int64_t room = Room(w);
    int64_t admitted_now = 0;
    for (const std::string& host : w.in->waiting) {
      if (room == 0) break;
      if (w.let_in.contains(host)) continue;
      Admit(i, w, host, false);
      --room;
      ++admitted_now;
    }
    if (admitted_now > 0) out_.events.push_back(absl::StrCat("group ", g.name, ": ", admitted_now, " hosts let in"));
    g.reason = absl::StrCat("letting hosts in: ", w.in->present_on_target_healthy, " of ", w.present(),
                            " on target, ", FormatNumber(in_.policy.done_percent), "% needed", LimitText(w));
  }

  void StepBaking(size_t i) {
    GroupProgress& g = r_.groups[i];
    GroupWork& w = work_[i];
    if (in_.critical) {
      Finish(g, "done (critical: no bake time)");
      return;
    }
    const absl::Time until = g.bake_until.value_or(now());
    if (now() < until) {
      g.reason = absl::StrCat("baking until ", Rfc3339(until));
      return;
    }
    if (w.unseen()) {
      g.reason = UnseenReason(*w.in);
      return;
    }
    if (w.present() == 0 || DoneEnough(w)) {
      Finish(g, "done");
      return;
    }
    // Fewer hosts on target healthy than needed when the bake ended: let
    // hosts in again, and bake anew once there.
    SetGroupState(g, GroupState::kActive);
    StepActive(i);
  }

  const StepInputs& in_;
  StepResult out_;
  Rollout& r_;
  std::vector<GroupWork> work_;
};

}  // namespace

StepResult Step(const StepInputs& in) { return Stepper(in).Run(); }

// ---------------------------------------------------------------- operators

namespace {

std::string Who(const std::string& actor) { return actor.empty() ? "an operator" : actor; }

std::string ByActor(absl::string_view what, const std::string& actor, const std::string& reason) {
  std::string out = absl::StrCat(what, " by ", Who(actor));
  if (!IsBlank(reason)) absl::StrAppend(&out, ": ", TrimBlank(reason));
  return out;
}

std::string Describe(const Rollout& r) {
  return absl::StrCat("the rollout of channel \"", r.channel, "\" to ", r.target_version, " is ",
                      RolloutStateName(r.state));
}

}  // namespace

absl::Status ApplyOperatorAction(Rollout& rollout, OperatorAction action, const std::string& group,
                                 const std::string& reason, const std::string& actor, absl::Time now) {
  const char* name = OperatorActionName(action);
  GroupProgress* g = nullptr;
  const bool needs_group = action == OperatorAction::kStartGroup || action == OperatorAction::kMarkDone;
  if (needs_group && group.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(name, " needs a group"));
  }
  if (!group.empty()) {
    if (!needs_group && action != OperatorAction::kSkipCanaries) {
      return absl::InvalidArgumentError(absl::StrCat(name, " applies to the whole rollout, not to group \"", group, "\""));
    }
    for (GroupProgress& candidate : rollout.groups) {
      if (candidate.name == group) g = &candidate;
    }
    if (g == nullptr) {
      std::vector<std::string> names;
      for (const GroupProgress& p : rollout.groups) names.push_back(p.name);
      return absl::InvalidArgumentError(absl::StrCat("the rollout of channel \"", rollout.channel, "\" has no group ",
                                                     Quote(group), "; its groups: ", absl::StrJoin(names, ", ")));
    }
  }
  if (!IsLive(rollout.state)) {
    return absl::FailedPreconditionError(
        absl::StrCat(Describe(rollout), ": ", name, " applies only to an active, paused or halted rollout"));
  }
  auto set_state = [&](RolloutState s, std::string why) {
    rollout.state = s;
    rollout.state_since = now;
    rollout.reason = std::move(why);
  };
  auto set_group = [&](GroupProgress& p, GroupState s, std::string why) {
    if (p.state != s) p.state_since = now;
    p.state = s;
    p.reason = std::move(why);
    if (s != GroupState::kBaking) p.bake_until.reset();
    if (s == GroupState::kDone) p.done_at = now;
  };

  switch (action) {
    case OperatorAction::kPause:
      if (rollout.state != RolloutState::kActive) {
        return absl::FailedPreconditionError(absl::StrCat(Describe(rollout), ": only an active rollout can be paused"));
      }
      set_state(RolloutState::kPaused, ByActor("paused", actor, reason));
      return absl::OkStatus();

    case OperatorAction::kResume:
      if (rollout.state == RolloutState::kActive) {
        return absl::FailedPreconditionError(
            absl::StrCat(Describe(rollout), ": only a paused or halted rollout can be resumed"));
      }
      if (rollout.state == RolloutState::kHalted) {
        // The operator accepts the failures so far (see resumed_at); a
        // halted group proves itself with canaries again (Step moves it on
        // at once when it has none to wait for).
        rollout.resumed_at = now;
        for (GroupProgress& p : rollout.groups) {
          if (p.state == GroupState::kHalted) {
            set_group(p, rollout.skip_canaries ? GroupState::kActive : GroupState::kCanary,
                      ByActor("resumed", actor, reason));
          }
        }
      }
      // Canaries watched before the pause or halt are watched in full again:
      // the time stopped proved nothing to the operator who stopped it.
      for (GroupProgress& p : rollout.groups) {
        if (p.state == GroupState::kCanary) p.bake_until.reset();
      }
      set_state(RolloutState::kActive, "");
      return absl::OkStatus();

    case OperatorAction::kHalt:
      if (IsBlank(reason)) {
        return absl::InvalidArgumentError("halt needs a reason: say why the rollout stops, for the people who resume it");
      }
      if (rollout.state == RolloutState::kHalted) {
        return absl::FailedPreconditionError(absl::StrCat(Describe(rollout), " already (", rollout.reason, ")"));
      }
      set_state(RolloutState::kHalted, ByActor("halted", actor, reason));
      return absl::OkStatus();

    case OperatorAction::kRollback:
      if (rollout.start_version.empty()) {
        return absl::FailedPreconditionError(
            absl::StrCat("the rollout of channel \"", rollout.channel, "\" to ", rollout.target_version,
                         " has no start version to roll back to (the channel had no target before): set an "
                         "earlier target instead"));
      }
      if (IsBlank(reason)) {
        return absl::InvalidArgumentError(
            "rollback needs a reason: say why every host goes back, for the people who roll forward again");
      }
      for (GroupProgress& p : rollout.groups) {
        if (p.state != GroupState::kUnstarted) {
          set_group(p, GroupState::kRolledBack, ByActor(absl::StrCat("rolled back to ", rollout.start_version), actor, reason));
        }
      }
      set_state(RolloutState::kRolledBack,
                ByActor(absl::StrCat("rolled back to ", rollout.start_version), actor, reason));
      return absl::OkStatus();

    case OperatorAction::kStartGroup:
      if (g->state != GroupState::kUnstarted) {
        return absl::FailedPreconditionError(absl::StrCat("group ", g->name, " is ", GroupStateName(g->state),
                                                          ": only an unstarted group can be started"));
      }
      g->started_at = now;
      set_group(*g, rollout.skip_canaries ? GroupState::kActive : GroupState::kCanary,
                ByActor("started", actor, reason));
      return absl::OkStatus();

    case OperatorAction::kMarkDone:
      if (g->state == GroupState::kDone || g->state == GroupState::kRolledBack) {
        return absl::FailedPreconditionError(absl::StrCat("group ", g->name, " is ", GroupStateName(g->state),
                                                          ": it cannot be marked done"));
      }
      if (!g->started_at.has_value()) g->started_at = now;
      set_group(*g, GroupState::kDone, ByActor("marked done", actor, reason));
      return absl::OkStatus();

    case OperatorAction::kSkipCanaries:
      if (g == nullptr) {
        if (rollout.skip_canaries) {
          return absl::FailedPreconditionError(
              absl::StrCat("the rollout of channel \"", rollout.channel, "\" skips canaries already"));
        }
        rollout.skip_canaries = true;
        rollout.force_reason = ByActor("canaries skipped", actor, reason);
        for (GroupProgress& p : rollout.groups) {
          if (p.state == GroupState::kCanary) set_group(p, GroupState::kActive, ByActor("canaries skipped", actor, reason));
        }
        return absl::OkStatus();
      }
      if (g->state != GroupState::kCanary) {
        return absl::FailedPreconditionError(
            absl::StrCat("group ", g->name, " is ", GroupStateName(g->state),
                         ": only a group in canary can skip its canaries (name no group to skip them in every "
                         "group to come)"));
      }
      set_group(*g, GroupState::kActive, ByActor("canaries skipped", actor, reason));
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown operator action ", static_cast<int>(action)));
}

// ---------------------------------------------------------------- answers

HostTarget TargetFor(const Channel& channel, const RolloutView& view, absl::string_view host_id,
                     absl::string_view reported_group) {
  HostTarget channel_target;
  channel_target.version = channel.target_version.value_or("");
  channel_target.downgrade_allowed = channel_target.version.empty() ? false : channel.target_allows_downgrade;
  // The catch-all turned off: updates are off for hosts in no listed group
  // (and for updaters that send no host id), rollout or not; they are told
  // nothing to install and stay as they are. The signed answer lists the
  // groups, so an updater in a listed group never takes this answer.
  HostTarget off;
  off.held_back = true;
  const Rollout* r = view.rollout;
  const bool live = r != nullptr && (IsLive(r->state) || r->state == RolloutState::kRolledBack);
  if (!live) {
    if (view.policy != nullptr && view.policy->catch_all == CatchAll::kOff &&
        (host_id.empty() || !GroupIndexOf(*view.policy, reported_group).has_value())) {
      return off;
    }
    return channel_target;
  }
  static const RolloutPolicy kDefaultPolicy;
  const RolloutPolicy& policy = view.policy != nullptr ? *view.policy : kDefaultPolicy;
  // No host id: one of the catch-all, whatever group it names.
  const std::optional<int> index =
      GroupIndexIn(*r, policy, host_id.empty() ? absl::string_view() : reported_group);
  // Let in, it took the target (whatever group it names now).
  const bool admitted = !host_id.empty() && view.admitted != nullptr && view.admitted->contains(host_id);

  HostTarget held;
  held.version = r->start_version;
  held.held_back = true;
  if (r->state == RolloutState::kRolledBack) {
    // Everyone back to the start version, but a host whose updates are off
    // and never took the target stays as it is.
    if (!index.has_value() && !admitted) return off;
    held.downgrade_allowed = !held.version.empty();
    return held;
  }
  if (!index.has_value()) return admitted ? channel_target : off;
  // A rollout to something the channel no longer targets (the target was
  // cleared since) holds nobody back.
  if (channel.target_version != r->target_version) return channel_target;
  if (r->groups[*index].state == GroupState::kDone) return channel_target;
  if (admitted) return channel_target;
  return held;
}

// ---------------------------------------------------------------- forecast

std::optional<absl::Time> ForecastDone(const Rollout& rollout, const RolloutPolicy& policy, bool critical,
                                       absl::Time now) {
  if (rollout.state == RolloutState::kDone) return rollout.state_since;
  if (rollout.state != RolloutState::kActive) return std::nullopt;
  absl::Time t = now;
  const absl::Duration bake = critical ? absl::ZeroDuration() : policy.bake_time;
  const bool canaries = !rollout.skip_canaries && policy.canaries.CanariesOf(1) > 0;
  const absl::Duration watch = critical || !canaries ? absl::ZeroDuration() : policy.canary_watch;
  for (const GroupProgress& g : rollout.groups) {
    switch (g.state) {
      case GroupState::kDone:
        break;
      case GroupState::kHalted:
      case GroupState::kRolledBack:
        return std::nullopt;
      case GroupState::kBaking:
        if (!critical && g.bake_until.has_value()) t = std::max(t, *g.bake_until);
        break;
      case GroupState::kCanary:
        // The watch still to come (all of it if it has not begun).
        t = g.bake_until.has_value() && !critical ? std::max(t, *g.bake_until) : t + watch;
        t += bake;
        break;
      case GroupState::kActive:
        t += bake;
        break;
      case GroupState::kUnstarted: {
        const RolloutGroupSpec* spec = SpecOf(policy, g.name);
        if (!critical && spec != nullptr && !spec->windows.empty() && !InAnyWindow(spec->windows, t)) {
          absl::Time next = absl::InfiniteFuture();
          for (const MaintenanceWindow& w : spec->windows) next = std::min(next, w.NextOccurrence(t).start);
          t = std::max(t, next);
        }
        t += watch + bake;
        break;
      }
    }
  }
  return t;
}

}  // namespace drover::rollout
