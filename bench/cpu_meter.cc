#include "bench/cpu_meter.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace drover::bench {

double ResidentMib(int pid, const char* field) {
  if (pid <= 0) return 0;
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, field)) {
      int64_t kib = 0;
      absl::string_view rest = absl::StripAsciiWhitespace(absl::string_view(line).substr(std::strlen(field)));
      if (absl::ConsumeSuffix(&rest, "kB")) rest = absl::StripTrailingAsciiWhitespace(rest);
      if (absl::SimpleAtoi(rest, &kib)) return kib / 1024.0;
    }
  }
  return 0;
}

namespace {

// Fields of /proc/PID/stat from the third (state) on: the command name before
// them may hold spaces, so they are counted after its ')'. Empty if unreadable.
struct ProcStat {
  int ppid = 0;
  int64_t ticks = 0;           // utime + stime
  int64_t reaped_ticks = 0;    // cutime + cstime: children that exited and were waited for
};
std::optional<ProcStat> ReadProcStat(const std::string& pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return std::nullopt;
  std::vector<absl::string_view> f = absl::StrSplit(absl::string_view(stat).substr(paren + 2), ' ');
  // stat(5) fields 4 (ppid), 14-17 (utime, stime, cutime, cstime).
  ProcStat out;
  int64_t utime = 0, stime = 0, cutime = 0, cstime = 0;
  if (f.size() < 15 || !absl::SimpleAtoi(f[1], &out.ppid) || !absl::SimpleAtoi(f[11], &utime) ||
      !absl::SimpleAtoi(f[12], &stime) || !absl::SimpleAtoi(f[13], &cutime) || !absl::SimpleAtoi(f[14], &cstime)) {
    return std::nullopt;
  }
  out.ticks = utime + stime;
  out.reaped_ticks = cutime + cstime;
  return out;
}

}  // namespace

int64_t ProcessTicks(const std::string& pid) {
  std::optional<ProcStat> s = ReadProcStat(pid);
  return s ? s->ticks : 0;
}

int64_t ProcessTreeTicks(int pid) {
  // Children that ended (a backend, an autovacuum worker) count through the
  // parent once it has waited for them.
  std::optional<ProcStat> root = ReadProcStat(std::to_string(pid));
  int64_t sum = root ? root->ticks + root->reaped_ticks : 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    int child = 0;
    if (!absl::SimpleAtoi(name, &child) || child == pid) continue;
    std::optional<ProcStat> s = ReadProcStat(name);
    if (s && s->ppid == pid) sum += s->ticks;
  }
  return sum;
}

MachineTickCounts MachineTicks() {
  std::ifstream in("/proc/stat");
  std::string line;
  std::getline(in, line);
  std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
  MachineTickCounts t;
  for (size_t i = 1; i < f.size() && i <= 8; ++i) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(f[i], &v)) continue;
    t.total += v;
    if (i != 4 && i != 5) t.busy += v;  // idle, iowait
    if (i == 8) t.steal = v;
  }
  return t;
}

CpuMeter::CpuMeter(std::string self_name, std::vector<Watched> watched)
    : self_name_(std::move(self_name)), watched_(std::move(watched)) {
  sum_.watched.assign(watched_.size(), 0);
}

void CpuMeter::Start() { at_start_ = Take(); }

void CpuMeter::Stop() {
  const Sample now = Take();
  sum_.self += now.self - at_start_.self;
  for (size_t i = 0; i < watched_.size(); ++i) sum_.watched[i] += now.watched[i] - at_start_.watched[i];
  sum_.machine.busy += now.machine.busy - at_start_.machine.busy;
  sum_.machine.steal += now.machine.steal - at_start_.machine.steal;
  sum_.machine.total += now.machine.total - at_start_.machine.total;
  elapsed_ += now.at - at_start_.at;
}

double CpuMeter::CpuSeconds(int i) const {
  const int64_t ticks = i < 0 ? sum_.self : sum_.watched[static_cast<size_t>(i)];
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string CpuMeter::Summary() const {
  const double elapsed = std::max(1e-9, std::chrono::duration<double>(elapsed_).count());
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  auto share = [&](int64_t ticks) {
    return sum_.machine.total > 0 ? 100.0 * cores * static_cast<double>(ticks) / static_cast<double>(sum_.machine.total)
                                  : 0.0;
  };
  const double machine = share(sum_.machine.busy);
  const double self = 100.0 * CpuSeconds(-1) / elapsed;
  std::string out = absl::StrFormat("cpu: machine %.0f%% of %u%%: %s %.0f%%", machine, cores * 100, self_name_, self);
  double other = machine - self;
  for (size_t i = 0; i < watched_.size(); ++i) {
    if (watched_[i].pid <= 0) continue;
    const double p = 100.0 * CpuSeconds(static_cast<int>(i)) / elapsed;
    absl::StrAppendFormat(&out, ", %s %.0f%%", watched_[i].name, p);
    other -= p;
  }
  absl::StrAppendFormat(&out, ", other %.0f%%; stolen %.0f%%", std::max(0.0, other), share(sum_.machine.steal));
  return out;
}

std::string CpuMeter::PerCall(int64_t calls) const {
  const double n = static_cast<double>(std::max<int64_t>(1, calls));
  // Busy, less what the hypervisor gave to other guests.
  const double machine =
      static_cast<double>(sum_.machine.busy - sum_.machine.steal) / static_cast<double>(sysconf(_SC_CLK_TCK));
  std::string out = absl::StrFormat("cpu per call: machine %.1f us (%s %.1f", 1e6 * machine / n, self_name_,
                                    1e6 * CpuSeconds(-1) / n);
  for (size_t i = 0; i < watched_.size(); ++i) {
    if (watched_[i].pid <= 0) continue;
    absl::StrAppendFormat(&out, ", %s %.1f", watched_[i].name, 1e6 * CpuSeconds(static_cast<int>(i)) / n);
  }
  out += ")";
  return out;
}

CpuMeter::Sample CpuMeter::Take() const {
  Sample s;
  s.self = ProcessTicks("self");
  for (const Watched& w : watched_) {
    s.watched.push_back(w.pid <= 0 ? 0 : w.with_children ? ProcessTreeTicks(w.pid) : ProcessTicks(std::to_string(w.pid)));
  }
  s.machine = MachineTicks();
  s.at = std::chrono::steady_clock::now();
  return s;
}

}  // namespace drover::bench
