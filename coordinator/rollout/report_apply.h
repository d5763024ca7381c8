// How a batch of reports is applied: the rules the ingest statement relies on,
// kept as pure logic so they are unit-tested without a database.
//
// The store writes a batch in rounds. Each round holds at most one report per
// host and is one SQL statement; a report whose host already appeared waits for
// the next round, so two reports of one host behave as if sent one after the
// other. The statement applies a report when its sequence is above the stored
// one and tells, for every report it did not apply, what it found.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "coordinator/rollout/model.h"

namespace drover::rollout {

enum class ReportDisposition { kAccepted, kDuplicate, kOutOfOrder, kSequenceTooFarAhead };

// How far a report's sequence may run ahead of what its host can have sent.
// Updaters take max(last sequence + 1, their clock in Unix microseconds)
// (drover-updater's NextSequence), so a real host's sequence is near the
// coordinator's clock, or counts up by one per report from the stored one.
// A report whose sequence is more than a day's worth of microseconds above
// both is refused: a forged INT64_MAX would otherwise lock the real host
// out for good (every later report of it OUT_OF_ORDER). A day also covers a
// host clock up to a day fast, and a day of reports at the fastest poll
// interval (one per kMinPollInterval) counting up by one each. A first
// report (no stored sequence) is held to the clock alone.
inline constexpr absl::Duration kMaxSequenceLead = absl::Hours(24);

// The highest sequence accepted from a host whose stored sequence is
// `stored` (none: unknown host) when the coordinator's clock reads `now`.
// Saturates at INT64_MAX.
int64_t MaxAcceptedSequence(std::optional<int64_t> stored, absl::Time now);

struct Round {
  std::vector<size_t> now;    // indexes into the batch, at most one per host
  std::vector<size_t> later;  // the rest, in their original order
};

// Splits `pending` (indexes into `hosts`, in arrival order) into the reports
// that go in this round (the first pending report of each host) and the rest.
Round NextRound(const std::vector<std::string>& hosts, const std::vector<size_t>& pending);

// What became of a report the statement did not apply.
enum class NotApplied {
  kUnknownChannel,
  kDuplicate,   // the stored sequence equals the report's
  kOutOfOrder,  // the stored sequence is above the report's
  kSequenceTooFarAhead,  // above MaxAcceptedSequence
  kRetry,       // another writer changed or created the host first: try again
};

// `stored_sequence`: the host's sequence in the statement's snapshot, none
// when the host had no row; `now`: the time the statement was given.
NotApplied ClassifyNotApplied(bool channel_known, int64_t sequence, std::optional<int64_t> stored_sequence,
                              absl::Time now);

// The update attempt a report leaves as its host's last one: the one that
// finished last (ties: the later in the report); none without outcomes.
const UpdateOutcome* LastOutcome(const AgentReport& report);

// The instance ids stored for a host after a report, and whether the report
// shows two instances sharing the host id (see kInstanceConflictPollIntervals).
// The ingest statement (coordinator/store/sql/ingest_round.sql) applies this
// rule in SQL to a whole round at once, row by row as it updates agents;
// tests/integration/store_test.cc checks that the two agree.
struct InstanceUpdate {
  std::string instance_id;
  std::string previous_instance_id;
  bool conflict = false;
};
InstanceUpdate ApplyInstance(const std::string& stored_instance, const std::string& stored_previous,
                             const std::string& reported);

}  // namespace drover::rollout
