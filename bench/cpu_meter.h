// Where a benchmark machine's CPU went: per process, the rest, and what the
// hypervisor stole. Shared by drover-bench and drover-store-bench.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace drover::bench {

// VmRSS (or another /proc/PID/status field given in kB) of a process in MiB;
// 0 when it cannot be read.
double ResidentMib(int pid, const char* field = "VmRSS:");

// CPU time of a process in clock ticks (utime + stime); 0 if unreadable.
// `pid` may be "self".
int64_t ProcessTicks(const std::string& pid);

// A process and its direct children, living or ended: PostgreSQL's
// postmaster and backends.
int64_t ProcessTreeTicks(int pid);

// The machine's ticks from /proc/stat: busy (all but idle and iowait), of
// which stolen by the hypervisor, and total.
struct MachineTickCounts {
  int64_t busy = 0, steal = 0, total = 0;
};
MachineTickCounts MachineTicks();

// CPU use over the intervals between Start and Stop, summed: a phase may run
// in several rounds.
class CpuMeter {
 public:
  struct Watched {
    std::string name;  // as printed, e.g. "coordinator"
    int pid = 0;       // 0: not watched (left out of the summary)
    bool with_children = false;
  };
  // `self_name` names this process in the summary.
  CpuMeter(std::string self_name, std::vector<Watched> watched);

  void Start();
  void Stop();

  // "cpu: machine 197% of 200%: bench 48%, coordinator 66%, postgres 80%, other 3%; stolen 1%", where
  // "stolen" is time the hypervisor gave to other guests: a noisy neighbour, not our load (a process's
  // own figure may include some of it, so it is not a part of "other").
  std::string Summary() const;

  // "cpu per call: machine 49.2 us (bench 14.7, coordinator 17.0, postgres 17.0)": what `calls`
  // calls cost, for comparing phases whose rates differ. "machine" is all busy
  // time but what the hypervisor stole.
  std::string PerCall(int64_t calls) const;

  // CPU seconds of watched process `i` (or of this process, i = -1) over the
  // measured intervals.
  double CpuSeconds(int i) const;

 private:
  struct Sample {
    int64_t self = 0;
    std::vector<int64_t> watched;
    MachineTickCounts machine;
    std::chrono::steady_clock::time_point at{};
  };
  Sample Take() const;

  const std::string self_name_;
  const std::vector<Watched> watched_;
  Sample at_start_;
  Sample sum_;
  std::chrono::steady_clock::duration elapsed_{};
};

}  // namespace drover::bench
