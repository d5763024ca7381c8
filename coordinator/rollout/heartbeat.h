// Heartbeats: reports that change nothing durable, kept in memory and
// written to PostgreSQL in bulk instead of one synchronous row update each.
//
// A report is a heartbeat for a coordinator replica when
//   (a) it carries no outcome,
//   (b) every field a report stores (DurableFields) equals the last report
//       this replica handled for the host,
//   (c) its previous_sequence is that last report's sequence: the updater
//       says "my previous report was that one, and it was acknowledged", and
//   (d) its sequence is above that one and within MaxAcceptedSequence.
// Anything else (a first report after a restart, a report that went to
// another replica in between, an unanswered one resent) is committed before
// it is answered, as before.
//
// Why the ordering rule survives heartbeats that are never written (a
// replica SIGKILLed before its flush):
//   The rule is "nothing older than the stored state can overwrite it". The
//   danger is a report R of state B with sequence r, older than a heartbeat
//   H (sequence h > r, state A) that was answered but never written: after
//   the crash the stored sequence is below r, so R would be applied and
//   overwrite the newer A with the older B.
//   Such an R cannot exist. Take the host's last committed report C (the
//   stored state; c <= the stored sequence) and the heartbeats after it,
//   C -> H1 -> ... -> Hn = H. By (c) each Hi named its predecessor, and the
//   updater names a predecessor only when that report was acknowledged and
//   it sent nothing in between (agent-updater: Updater::Deliver; one report
//   at a time, sequences growing). So no report of the host has a sequence
//   between c and h other than the Hi. An older R is then C itself or older
//   than C (refused: the stored sequence is at least c), or one of the Hi,
//   whose state is C's by (b), and applying it again changes nothing. A
//   report whose answer was lost breaks the chain: the next one has
//   previous_sequence 0 and is committed, which raises the stored sequence
//   above the unanswered one before anything else is answered.
//   Several replicas: a replica holds the host's last report only if it
//   handled it; a report handled by another replica in between changes the
//   predecessor the host names, (c) fails, and the report is committed.
// What a crash loses is liveness alone: last_seen (and the sequence of
// heartbeats) lag by at most one flush interval plus the flush itself.
#pragma once

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "coordinator/rollout/model.h"

namespace drover::rollout {

// Every field of `r` that a committed report writes to the host's row, in
// one unambiguous byte string (length-prefixed): two reports store the same
// thing exactly when their DurableFields are equal. Outcomes are not in it
// (a report with outcomes is never a heartbeat).
std::string DurableFields(const AgentReport& r);

// What a replica remembers of the last report it handled for a host.
struct LastHandled {
  int64_t sequence = 0;
  // DurableFields of that report (or a digest of them: equal digests stand
  // for equal fields).
  bool same_durable_fields = false;
};

// Rules (a)-(d) above.
bool IsHeartbeat(const AgentReport& r, const LastHandled& last, absl::Time now);

}  // namespace drover::rollout
