// Staged rollouts: the rules. A new target starts a rollout from the
// channel's previous target (the start version) to the new one, through the
// channel's ordered groups; each group goes
//
//   unstarted -> canary -> active -> baking -> done
//                   |         |         |
//                   +---------+---------+--> halted (the rollout's failure
//                                             budget breached, or an operator)
//
// and the rollout as a whole is active, paused, halted, rolled back, done or
// superseded (a newer target started another). Everything here is a pure
// function of (rollout state, what the fleet reported, now): the engine
// around it (coordinator/rollout_engine/) reads the inputs from the store,
// calls Step, and writes the result back only if nobody else advanced the
// rollout in between. No gRPC, no SQL.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/maintenance_window.h"
#include "coordinator/rollout/model.h"

namespace drover::rollout {

// A number of hosts, given as a count ("3") or a share of a set ("10%").
struct Amount {
  int64_t count = 0;
  double percent = 0;  // used when is_percent
  bool is_percent = false;

  static Amount Count(int64_t n) { return Amount{n, 0, false}; }
  static Amount Percent(double p) { return Amount{0, p, true}; }
  // "3" or "2.5%": InvalidArgument naming `field` and the text otherwise
  // (negative, over 100 %, over kMaxAmountCount, not a number).
  static absl::StatusOr<Amount> Parse(absl::string_view field, absl::string_view text);
  // As Parse reads it back: "3", "2.5%".
  std::string ToString() const;

  // The hosts a canary set of this size takes from `total`: a percentage
  // rounds up (a 10 % canary of 3 hosts is 1 host), never more than total.
  int64_t CanariesOf(int64_t total) const;
  // The failures a budget of this size tolerates among `total` hosts: a
  // percentage rounds down (5 % of 10 hosts tolerates 0). A breach is one
  // failure more.
  int64_t ToleratedOf(int64_t total) const;

  friend bool operator==(const Amount&, const Amount&) = default;
};
inline constexpr int64_t kMaxAmountCount = 1'000'000'000;

// Where hosts whose reported group is not one of the channel's go.
enum class CatchAll : int16_t {
  kLastGroup = 1,  // they are part of the last group
  kOff = 2,        // they are never let in: they keep the start version
};
const char* CatchAllName(CatchAll c);  // "last-group", "off"
absl::StatusOr<CatchAll> ParseCatchAll(absl::string_view text);

struct RolloutGroupSpec {
  std::string name;  // a group name the updaters report (ValidateGroup)
  // Empty: any time. Otherwise the group starts only inside one of these
  // (the channel's own windows still govern when its hosts install).
  std::vector<MaintenanceWindow> windows;
  friend bool operator==(const RolloutGroupSpec&, const RolloutGroupSpec&) = default;
};

inline constexpr int kMaxRolloutGroups = 32;

// How a channel rolls a new target out. The defaults are what a channel
// without a policy of its own gets.
struct RolloutPolicy {
  // In order. Empty: one group holding every host of the channel.
  std::vector<RolloutGroupSpec> groups;
  CatchAll catch_all = CatchAll::kLastGroup;
  // Per group, chosen at random among its healthy hosts seen recently.
  Amount canaries = Amount::Count(5);
  // Failures tolerated among a group's canaries, and among all hosts of a
  // group let in (canaries included); one more halts the rollout.
  Amount canary_budget = Amount::Count(0);
  // How long a group's canaries must all stay on the target, healthy,
  // before the rest of the group is let in: a version that passes the
  // updater's health watch and breaks minutes later breaks on the canaries,
  // not on the whole group. 0: let the group in as soon as they are healthy.
  // The critical toggle skips it (not the canaries themselves).
  absl::Duration canary_watch = absl::Minutes(10);
  Amount group_budget = Amount::Percent(5);
  // A group is done when this share of its present (not stale) hosts runs
  // the target healthy and its bake time has passed without a breach.
  double done_percent = 90;
  absl::Duration bake_time = absl::Hours(1);
  // Hosts let in that have not yet reported the target healthy, per group.
  // 0: no limit.
  int64_t max_in_flight = 0;
  // Hosts let in per `period` over the whole rollout. 0: no limit.
  int64_t max_per_period = 0;
  absl::Duration period = absl::Hours(1);
  // A host let in that has not reported the target healthy and has been
  // silent this long counts as failed.
  absl::Duration silent_timeout = absl::Minutes(30);
  // On a breach, hosts that took the target are told the start version with
  // downgrade allowed.
  bool auto_rollback = false;

  // InvalidArgument naming the field and value: duplicate or invalid group
  // names, more than kMaxRolloutGroups groups, done_percent outside
  // (0, 100], bake/canary watch/period/silent timeout negative or over 30 days, a
  // window that does not validate, a percentage over 100.
  absl::Status Validate() const;
  friend bool operator==(const RolloutPolicy&, const RolloutPolicy&) = default;
};

// The name of the one group of a channel without groups.
inline constexpr absl::string_view kDefaultGroupName = "all";

// The rollout group index a host reporting `reported_group` belongs to;
// nullopt when the catch-all is off and the group is not listed. A policy
// without groups puts every host in group 0.
std::optional<int> GroupIndexOf(const RolloutPolicy& policy, absl::string_view reported_group);
// Names of the rollout's groups, in order (kDefaultGroupName when none).
std::vector<std::string> GroupNames(const RolloutPolicy& policy);

enum class RolloutState : int16_t {
  kActive = 1,
  kPaused = 2,      // by an operator: nothing advances, nobody new let in
  kHalted = 3,      // the brake, or an operator: nobody new let in
  kRolledBack = 4,  // every host told the start version, downgrade allowed
  kDone = 5,
  kSuperseded = 6,  // a newer target started another rollout
};
enum class GroupState : int16_t {
  kUnstarted = 1,
  kCanary = 2,
  kActive = 3,
  kBaking = 4,
  kDone = 5,
  kHalted = 6,
  kRolledBack = 7,
};
const char* RolloutStateName(RolloutState s);  // "active", "rolled_back", ...
const char* GroupStateName(GroupState s);      // "unstarted", "canary", ...
// A rollout in this state is still the engine's to advance or hold.
bool IsLive(RolloutState s);  // active, paused, halted

struct GroupProgress {
  std::string name;
  GroupState state = GroupState::kUnstarted;
  absl::Time state_since = absl::InfinitePast();
  std::optional<absl::Time> started_at;  // left unstarted
  std::optional<absl::Time> bake_until;  // while baking, or watching its canaries
  std::optional<absl::Time> done_at;
  // Why it is where it is, for people: "waiting for canaries 2/5",
  // "waiting for a maintenance window (next Tue 02:00 UTC)", "baking until
  // ...", "halted: 3 of 20 canaries failed, budget 1".
  std::string reason;
  friend bool operator==(const GroupProgress&, const GroupProgress&) = default;
};

struct Rollout {
  int64_t id = 0;
  std::string channel;
  // What hosts run until they are let in; empty when the channel had no
  // target before (they are then told nothing to install).
  std::string start_version;
  std::string target_version;
  RolloutState state = RolloutState::kActive;
  std::string reason;  // of the rollout's state (a halt's figures)
  absl::Time created_at = absl::InfinitePast();
  absl::Time state_since = absl::InfinitePast();
  // Set with --force and a reason: no canaries in any group.
  bool skip_canaries = false;
  std::string force_reason;
  std::vector<GroupProgress> groups;
  // When an operator last resumed it from a halt. Resuming accepts the
  // failures counted so far: the budgets count only hosts that failed after
  // this (AdmittedHost::failed_at), or the brake would halt it again at the
  // very next step.
  std::optional<absl::Time> resumed_at;
  // Bumped by every write; a write based on an older generation is refused
  // (two replicas never advance a rollout twice).
  int64_t generation = 0;
  friend bool operator==(const Rollout&, const Rollout&) = default;
};

// Starts the rollout a new target opens. `previous` is the channel's current
// rollout, if any: when it did not finish (live, rolled back), hosts not let
// in still run its start version, so that stays the start; otherwise the
// start is the channel's previous target (`previous_target`, empty if none).
// Every group starts unstarted; Step moves the first one on.
Rollout StartRollout(const std::string& channel, const std::string& previous_target,
                     const std::optional<Rollout>& previous, const std::string& target,
                     const RolloutPolicy& policy, bool skip_canaries, const std::string& force_reason,
                     absl::Time now);

// The index of the group of `rollout` that a host reporting `reported_group`
// belongs to (nullopt: it is never let in). A rollout keeps the groups it
// started with when the policy changes later: while the policy's groups are
// still the rollout's this is GroupIndexOf; otherwise hosts are placed by
// name among the rollout's groups, and the policy's catch-all takes the rest.
std::optional<int> GroupIndexIn(const Rollout& rollout, const RolloutPolicy& policy,
                                absl::string_view reported_group);

// One host the rollout let in (a canary or a member of an active group), as
// the engine sees it now.
struct AdmittedHost {
  std::string host_id;
  int group = 0;
  bool canary = false;
  absl::Time admitted_at = absl::InfinitePast();
  // From its agent row: what it runs and says now.
  std::string current_version;
  Health health = Health::kHealthy;
  absl::Time last_seen = absl::InfinitePast();
  // It reported a failed install or a roll-back of the target after it was
  // let in (from its update history; once is enough).
  bool reported_failure = false;
  std::string reported_error;  // that outcome's error, for the reason
  // Already counted as failed (sticky: a host that fails and recovers still
  // counts once), with why.
  bool failed = false;
  std::string failure;
  // When it was first counted failed (rollout_hosts.failed_at); unknown
  // counts as after any resume.
  std::optional<absl::Time> failed_at;
};

// Why a host let in counts as failed now; nullopt while it does not. The
// reasons, in this order: it reported a failed install or a roll-back of
// the target; it runs the target unhealthy (also long after its own health
// watch passed: during the group's bake time and after); it was seen after
// it was let in (so it took the update), has not reported the target
// healthy, and has been silent for the policy's silent_timeout. A host already counted failed keeps its failure.
std::optional<std::string> HostFailure(const AdmittedHost& host, const std::string& target,
                                       const RolloutPolicy& policy, absl::Time now);

// A host runs the target healthy.
bool OnTargetHealthy(const AdmittedHost& host, const std::string& target);

// What the engine knows of one group now.
struct GroupInputs {
  // Every host of the group the channel knows, stale or not: a group with
  // hosts none of which was seen recently (after an outage of the
  // coordinator or of the reports) waits for them instead of counting as
  // empty and done.
  int64_t hosts = 0;
  // Hosts of the group seen recently (not stale), let in or not.
  int64_t present = 0;
  // Of those, running the target healthy (let in or not: a host may get
  // there by itself).
  int64_t present_on_target_healthy = 0;
  std::vector<AdmittedHost> admitted;
  // Hosts that may become canaries, in random order: healthy, not stale,
  // not let in. At least as many as the group could still need.
  std::vector<std::string> canary_candidates;
  // Hosts not let in, in random order, any health: for an active group.
  // At least as many as the limits could let in now.
  std::vector<std::string> waiting;
  // Canaries that went stale before updating: dropped and replaced.
};

struct StepInputs {
  Rollout rollout;
  RolloutPolicy policy;
  // The channel as it is: critical skips windows and bake times.
  bool critical = false;
  absl::Duration stale_after = absl::Minutes(3);
  std::vector<GroupInputs> groups;  // one per rollout group, same order
  // Hosts let in, over the whole rollout, within the policy's period.
  int64_t admitted_in_period = 0;
  // Since when the engine stepping this has been watching the fleet (it
  // took the lead, or started): silence is counted from then at the
  // earliest, so hosts are not called silent for the time the coordinator
  // (or the leader) was away and could not hear them.
  absl::Time watching_since = absl::InfinitePast();
  absl::Time now;
};

struct Admission {
  std::string host_id;
  int group = 0;
  bool canary = false;
};
struct FailureMark {
  std::string host_id;
  std::string failure;
};

struct StepResult {
  Rollout rollout;  // the new state (generation unchanged: the store bumps it)
  std::vector<Admission> admit;
  std::vector<FailureMark> failed;
  // Canaries that went stale before reaching the target: their admission is
  // withdrawn (they are told the start version again) and others replace them.
  std::vector<std::string> withdraw;
  // When the rollout halts: hosts let in that do not run the target yet are
  // told the start version again ("hosts not yet updated keep the start
  // version").
  bool withdraw_not_updated = false;
  // Something to write (state, reason, admissions, failures).
  bool changed = false;
  // One line per thing that happened, for the coordinator's log and the
  // audit trail: "group canary: 5 canaries let in".
  std::vector<std::string> events;
};

// One step of the rollout: counts failures per host, brakes on a breached
// budget, lets hosts in within the limits, and moves groups on. Idempotent:
// a second Step on its own result with the same fleet changes nothing.
//
// By state: active does all of it; paused records failures and still brakes
// (a pause must not hide a breach) but moves nothing on; halted records
// failures and asks for the hosts not yet updated to be withdrawn;
// rolled back, done and superseded change nothing. Resuming accepts the
// failures counted before (Rollout::resumed_at). A host let in that has
// not been seen since and went stale is withdrawn (a canary is replaced; any
// host is let in again once back); one seen after it was let in took the
// target, and counts as failed if it then goes silent: a version that
// bricks hosts must not go to one replacement after another. A group without any host is done at once; one whose hosts were
// all silent lately waits for them (GroupInputs::hosts).
StepResult Step(const StepInputs& in);

// The operator's controls.
enum class OperatorAction {
  kPause,
  // Paused or halted -> active (a halt by the brake too: the failures so far
  // are accepted, and halted groups prove themselves with canaries again).
  kResume,
  kHalt,          // with a reason; the next Step withdraws hosts not updated
  // -> rolled back (needs a start version and a reason); every started
  // group too.
  kRollback,
  kStartGroup,    // a group starts now, whatever the previous one or its window
  kMarkDone,      // a group counts as done now
  // A group in canary goes on without waiting for its canaries; no group
  // named: every group, now and to come (Rollout::skip_canaries, with the
  // reason as force_reason).
  kSkipCanaries,
};
const char* OperatorActionName(OperatorAction a);  // "pause", "start-group", ...
// FailedPrecondition naming the state when the action does not apply (resume
// of an active rollout, rollback without a start version, mark-done of a
// finished rollout), InvalidArgument for an unknown group or an empty reason
// where one is needed (halt).
absl::Status ApplyOperatorAction(Rollout& rollout, OperatorAction action, const std::string& group,
                                 const std::string& reason, const std::string& actor, absl::Time now);

// What GetTarget tells one host. `admitted`: host ids let in and not
// withdrawn.
struct RolloutView {
  const Rollout* rollout = nullptr;  // the channel's current rollout; null: none
  const RolloutPolicy* policy = nullptr;
  const absl::flat_hash_set<std::string>* admitted = nullptr;
};
struct HostTarget {
  std::string version;  // empty: nothing to install
  bool downgrade_allowed = false;
  bool held_back = false;  // told the start version, not the target
};
// A host with no host id is treated as one of the catch-all. When the
// policy turns the catch-all off, hosts in no listed group are told nothing
// to install (empty version, held back), rollout or not: their updates are
// off. Otherwise, without a live rollout (none, done, superseded) every host
// gets the channel's target, as the channel's signed answer says then
// (rollout_mode kNone); nor does a rollout to a target the channel no longer
// has hold anyone back.
HostTarget TargetFor(const Channel& channel, const RolloutView& view, absl::string_view host_id,
                     absl::string_view reported_group);

// The earliest the rollout can be done: every group still to go waits for
// its next window (unless critical) and bakes; installing is taken as
// instant, so this is a lower bound. nullopt when halted, paused or rolled
// back.
std::optional<absl::Time> ForecastDone(const Rollout& rollout, const RolloutPolicy& policy, bool critical,
                                       absl::Time now);

}  // namespace drover::rollout
