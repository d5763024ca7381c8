// drover-rollout-sim: a simulated fleet of updaters living through a staged
// rollout against a real coordinator over gRPC (plaintext: the coordinator
// runs with --insecure; bench/run.sh measures what TLS costs).
//
// Each simulated host does what drover-updater does on every pass: GetTarget
// with its host id and group, the real updater's decision
// (agent-updater/triggers/decision.cc, linked here), and when that says
// update: a report with updating_to, an install that takes a simulated delay,
// a health watch, a local roll-back when the new version is unhealthy during
// the watch (outcome ROLLED_BACK, back on the old version, healthy; the
// version is not retried while it is the target), else SUCCEEDED; then a
// report with the outcome, kept until the coordinator takes it. A version
// named by --broken_version breaks every host that installs it: during the
// watch (--broken_mode=watch: every such host rolls back) or only after it
// (--broken_mode=late: healthy for --late_after, unhealthy for good, on the
// target: what the group's bake time must catch).
//
// Hosts are spread over workers (host % threads); each worker keeps a heap of
// its hosts' next events and makes blocking calls, so at most --threads RPCs
// are in flight however many hosts there are.
//
// The run: every host polls and reports on the channel's start version; once
// each has reported once, --settled_file is written (the caller then sets the
// new target). The rollout is watched with GetRollout until it is done,
// halted or rolled back, then hosts finish what they are doing; the last
// stdout line is the machine-readable summary.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent-updater/triggers/decision.h"
#include "bench/fleet.h"
#include "proto/wire/names.h"
#include "proto/wire/time.h"
#include "drover/v1/operator_service.grpc.pb.h"
#include "drover/v1/updater_service.grpc.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:7600", "Coordinator gRPC address, HOST:PORT (plaintext: --insecure)");
ABSL_FLAG(int64_t, hosts, 1000, "Simulated hosts");
ABSL_FLAG(std::string, channel_id, "sim", "The channel (created by the caller, with its start version as target)");
ABSL_FLAG(std::string, host_prefix, "sim-", "Host ids are this prefix and a 7-digit number");
ABSL_FLAG(std::string, groups, "canary:1,dev:19,prod:80",
          "Groups the hosts report, NAME:SHARE in percent, in order; shares add up to 100");
ABSL_FLAG(std::string, start_version, "1.0.0", "The version every host runs at the start");
ABSL_FLAG(std::string, target_version, "1.1.0", "The version the rollout goes to (set by the caller)");
ABSL_FLAG(std::string, broken_version, "", "A version that breaks every host installing it (empty: none)");
ABSL_FLAG(std::string, broken_mode, "watch",
          "watch: unhealthy during the updater's health watch (local roll-back); late: healthy during the "
          "watch, unhealthy --late_after the install, for good");
ABSL_FLAG(double, late_after, 3, "broken_mode=late: seconds after the install the host turns unhealthy");
ABSL_FLAG(double, install_min, 1, "Shortest simulated install, seconds");
ABSL_FLAG(double, install_max, 4, "Longest simulated install, seconds");
ABSL_FLAG(double, watch, 3, "Simulated health watch after an install, seconds");
ABSL_FLAG(double, first_poll_spread, 5, "Seconds over which the hosts' first polls are spread");
ABSL_FLAG(double, jitter, 0.2, "Poll jitter: each wait is the poll interval times 1 +- this");
ABSL_FLAG(int, threads, 64, "Worker threads (the most RPCs in flight at once)");
ABSL_FLAG(int, channels, 4, "gRPC channels (TCP connections) shared by the hosts");
ABSL_FLAG(int, rpc_timeout_ms, 10000, "Deadline of each RPC, in milliseconds");
ABSL_FLAG(std::string, settled_file, "", "Written once every host has reported on the start version");
ABSL_FLAG(std::string, progress_file, "",
          "Rewritten every second: the rollout's id, state and group states (for the caller to act mid-rollout)");
ABSL_FLAG(double, settle_timeout, 300, "Seconds every host may take to report once");
ABSL_FLAG(double, rollout_timeout, 1800, "Seconds from settling for the rollout to start and finish");
ABSL_FLAG(double, drain_timeout, 300, "Seconds hosts may take to finish after the rollout is done or halted");
ABSL_FLAG(std::string, scenario, "", "Label for the summary line (default: broken with --broken_version, else good)");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the simulated delays and jitter");

namespace {

namespace v1 = ::drover::v1;
using DeadlineClock = std::chrono::system_clock;  // what gRPC deadlines take

int Fail(const std::string& message) {
  std::fprintf(stderr, "drover-rollout-sim: %s\n", message.c_str());
  return 1;
}

struct GroupShare {
  std::string name;
  int64_t hosts = 0;
};

// Versions are interned: a host keeps a small index.
class Versions {
 public:
  uint16_t Intern(const std::string& v) {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < names_.size(); ++i) {
      if (names_[i] == v) return static_cast<uint16_t>(i);
    }
    names_.push_back(v);
    return static_cast<uint16_t>(names_.size() - 1);
  }
  std::string Name(uint16_t i) const {
    std::lock_guard<std::mutex> lock(mu_);
    return names_[i];
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> names_;
};

struct Host {
  uint16_t version = 0;
  uint16_t group = 0;
  bool busy = false;  // installing or watching: the pass is blocked, as in the updater
  bool reported = false;
  bool ever_broken = false;
  bool rolled_back = false;
  uint16_t installing_to = 0;
  std::string rolled_back_version;  // not retried while it is the target
  absl::Time installed_at = absl::InfinitePast();
  absl::Time install_started = absl::InfinitePast();
  int64_t sequence = 0;
  absl::Duration poll = absl::Seconds(60);
  std::optional<v1::UpdateOutcome> outbox;  // kept until the coordinator takes it
};

struct Shared {
  std::string channel;
  std::vector<GroupShare> groups;
  Versions versions;
  uint16_t broken = UINT16_MAX;
  bool broken_late = false;
  absl::Duration late_after;
  double install_min = 0, install_max = 0;
  absl::Duration watch;
  double jitter = 0;
  std::string prefix;
  int rpc_timeout_ms = 10000;
  std::vector<std::unique_ptr<v1::UpdaterService::Stub>> stubs;
  std::vector<Host> hosts;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> reported{0}, busy{0}, broken_installs{0}, rolled_back{0};
  std::atomic<int64_t> rpc_errors{0}, get_target{0}, reports{0}, installs{0};
  std::atomic<int64_t> longest_poll_ms{1000};  // the poll interval the coordinator gave, for the drain
  double first_poll_spread = 5;
};

bool Healthy(const Shared& s, const Host& h, absl::Time now) {
  if (h.version != s.broken) return true;
  // Watch mode never leaves a host on the broken version; late mode breaks
  // once the watch is long over.
  return s.broken_late && now < h.installed_at + s.late_after;
}

class Worker {
 public:
  Worker(Shared& s, int index, int count, uint64_t seed) : s_(s), rng_(seed) {
    for (size_t h = index; h < s_.hosts.size(); h += count) {
      // As a fleet that has been running: first polls spread out.
      queue_.push({absl::Now() + absl::Seconds(Uniform(0, s_.first_poll_spread)), static_cast<int64_t>(h)});
    }
  }

  void Run() {
    while (!s_.stop.load(std::memory_order_relaxed) && !queue_.empty()) {
      const Event e = queue_.top();
      const absl::Time now = absl::Now();
      if (e.at > now) {
        absl::SleepFor(std::min(e.at - now, absl::Milliseconds(100)));
        continue;
      }
      queue_.pop();
      Host& h = s_.hosts[e.host];
      const absl::Time next = h.busy ? Finish(e.host, h) : Poll(e.host, h);
      queue_.push({next, e.host});
    }
  }

 private:
  struct Event {
    absl::Time at;
    int64_t host;
    bool operator>(const Event& o) const { return at > o.at; }
  };

  double Uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng_); }
  absl::Time NextPoll(const Host& h) {
    return absl::Now() + h.poll * Uniform(1 - s_.jitter, 1 + s_.jitter);
  }
  v1::UpdaterService::Stub& Stub(int64_t host) { return *s_.stubs[host % s_.stubs.size()]; }
  void Deadline(grpc::ClientContext& ctx) {
    ctx.set_deadline(DeadlineClock::now() + std::chrono::milliseconds(s_.rpc_timeout_ms));
  }

  // One updater pass: the target, the decision, maybe the start of an install.
  absl::Time Poll(int64_t id, Host& h) {
    v1::GetTargetRequest req;
    req.set_channel(s_.channel);
    req.set_host_id(drover::bench::HostId(s_.prefix, id));
    req.set_group(s_.groups[h.group].name);
    v1::GetTargetResponse resp;
    grpc::ClientContext ctx;
    Deadline(ctx);
    s_.get_target.fetch_add(1, std::memory_order_relaxed);
    const grpc::Status st = Stub(id).GetTarget(&ctx, req, &resp);
    const absl::Time now = absl::Now();
    if (!st.ok()) {
      // The coordinator is away (restarting, overloaded): a healthy host
      // waits for a fresh answer, and still reports (its outbox too).
      s_.rpc_errors.fetch_add(1, std::memory_order_relaxed);
      Report(id, h, "");
      return NextPoll(h);
    }
    if (resp.has_poll_interval()) {
      h.poll = std::max(absl::Seconds(1), drover::wire::DurationFromProtoOr(resp.poll_interval(), h.poll));
      const int64_t ms = absl::ToInt64Milliseconds(h.poll);
      int64_t seen = s_.longest_poll_ms.load(std::memory_order_relaxed);
      while (ms > seen && !s_.longest_poll_ms.compare_exchange_weak(seen, ms)) {
      }
    }
    const std::string installed = s_.versions.Name(h.version);
    if (!resp.held_back() && !h.rolled_back_version.empty() && h.rolled_back_version != resp.target_version()) {
      h.rolled_back_version.clear();  // the target moved on: it may be tried again
    }
    drover::updater::DecisionInput in;
    in.installed = installed;
    if (!resp.target_version().empty()) in.target = resp.target_version();
    in.critical = resp.critical();
    in.downgrade_allowed = resp.downgrade_allowed();
    in.control_plane_version = resp.control_plane_version();
    in.healthy = Healthy(s_, h, now);
    in.rolled_back_version = h.rolled_back_version;
    in.now = now;
    const drover::updater::Decision d = drover::updater::Decide(in);
    if (d.action != drover::updater::Action::kUpdate) {
      Report(id, h, "");
      return NextPoll(h);
    }
    // As the updater: say what it is updating to, then install.
    Report(id, h, resp.target_version());
    h.busy = true;
    h.installing_to = s_.versions.Intern(resp.target_version());
    h.install_started = now;
    s_.busy.fetch_add(1, std::memory_order_relaxed);
    s_.installs.fetch_add(1, std::memory_order_relaxed);
    if (h.installing_to == s_.broken && !h.ever_broken) {
      h.ever_broken = true;
      s_.broken_installs.fetch_add(1, std::memory_order_relaxed);
    }
    return absl::Now() + absl::Seconds(Uniform(s_.install_min, s_.install_max)) + s_.watch;
  }

  // The install and the health watch are over.
  absl::Time Finish(int64_t id, Host& h) {
    const absl::Time now = absl::Now();
    v1::UpdateOutcome o;
    o.set_from_version(s_.versions.Name(h.version));
    o.set_to_version(s_.versions.Name(h.installing_to));
    drover::wire::TimeToProto(h.install_started, o.mutable_start_time());
    drover::wire::TimeToProto(now, o.mutable_finish_time());
    const bool fails_watch = h.installing_to == s_.broken && !s_.broken_late;
    if (fails_watch) {
      o.set_result(v1::UPDATE_RESULT_ROLLED_BACK);
      o.set_error("simulated: unhealthy during the health watch; restored the previous version");
      h.rolled_back_version = o.to_version();
      if (!h.rolled_back) {
        h.rolled_back = true;
        s_.rolled_back.fetch_add(1, std::memory_order_relaxed);
      }
    } else {
      o.set_result(v1::UPDATE_RESULT_SUCCEEDED);
      h.version = h.installing_to;
      h.installed_at = now;
    }
    h.busy = false;
    s_.busy.fetch_sub(1, std::memory_order_relaxed);
    h.outbox = std::move(o);
    Report(id, h, "");
    return NextPoll(h);
  }

  void Report(int64_t id, Host& h, const std::string& updating_to) {
    v1::ReportStatusRequest req;
    req.set_host_id(drover::bench::HostId(s_.prefix, id));
    req.set_channel(s_.channel);
    req.set_group(s_.groups[h.group].name);
    req.set_current_version(s_.versions.Name(h.version));
    req.set_health(Healthy(s_, h, absl::Now()) ? v1::HEALTH_HEALTHY : v1::HEALTH_UNHEALTHY);
    req.set_updater_version("rollout-sim");
    // As the updater: above the last one, and at least the clock in
    // microseconds (what the coordinator accepts after a lost state).
    h.sequence = std::max(h.sequence + 1, absl::ToUnixMicros(absl::Now()));
    req.set_sequence(h.sequence);
    if (h.outbox.has_value()) *req.add_outcomes() = *h.outbox;
    req.set_updating_to(updating_to);
    v1::ReportStatusResponse resp;
    grpc::ClientContext ctx;
    Deadline(ctx);
    s_.reports.fetch_add(1, std::memory_order_relaxed);
    const grpc::Status st = Stub(id).ReportStatus(&ctx, req, &resp);
    if (!st.ok()) {
      s_.rpc_errors.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    h.outbox.reset();
    if (!h.reported) {
      h.reported = true;
      s_.reported.fetch_add(1, std::memory_order_relaxed);
    }
  }

  Shared& s_;
  std::mt19937_64 rng_;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> queue_;
};

absl::StatusOr<std::vector<GroupShare>> ParseGroups(const std::string& spec, int64_t hosts) {
  std::vector<GroupShare> out;
  std::vector<double> shares;
  double total = 0;
  for (absl::string_view part : absl::StrSplit(spec, ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(part, absl::MaxSplits(':', 1));
    double share = 0;
    if (kv.first.empty() || !absl::SimpleAtod(kv.second, &share) || share <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("--groups: \"", part, "\" is not NAME:SHARE with SHARE > 0"));
    }
    out.push_back({kv.first, 0});
    shares.push_back(share);
    total += share;
  }
  if (out.empty()) return absl::InvalidArgumentError("--groups: no group given");
  if (std::abs(total - 100) > 1e-6) {
    return absl::InvalidArgumentError(absl::StrCat("--groups=", spec, ": the shares add up to ", total, ", not 100"));
  }
  int64_t given = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    out[i].hosts = i + 1 == out.size() ? hosts - given : static_cast<int64_t>(hosts * shares[i] / 100 + 0.5);
    given += out[i].hosts;
  }
  return out;
}

void WriteFile(const std::string& path, const std::string& text) {
  if (path.empty()) return;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << text;
  }
  std::rename(tmp.c_str(), path.c_str());
}

std::string GroupStates(const v1::Rollout& r) {
  std::vector<std::string> parts;
  for (const v1::RolloutGroupStatus& g : r.groups()) {
    parts.push_back(absl::StrFormat("%s:%s(%d/%d,failed %d)", g.name(), g.state(), g.on_target(), g.hosts(),
                                    g.failed()));
  }
  return absl::StrJoin(parts, " ");
}

bool Terminal(const std::string& state) { return state == "done" || state == "halted" || state == "rolled_back"; }

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("drover-rollout-sim --target=HOST:PORT --hosts=N --channel_id=ID [flags]");
  absl::ParseCommandLine(argc, argv);
  const int64_t host_count = absl::GetFlag(FLAGS_hosts);
  if (host_count < 1 || host_count > 9'999'999) return Fail(absl::StrCat("--hosts=", host_count, ": want 1..9999999"));
  const int threads = absl::GetFlag(FLAGS_threads);
  if (threads < 1) return Fail(absl::StrCat("--threads=", threads, ": want at least 1"));
  if (absl::GetFlag(FLAGS_channels) < 1) return Fail("--channels: want at least 1");
  const std::string mode = absl::GetFlag(FLAGS_broken_mode);
  if (mode != "watch" && mode != "late") return Fail(absl::StrCat("--broken_mode=", mode, ": want watch or late"));
  if (absl::GetFlag(FLAGS_install_min) < 0 || absl::GetFlag(FLAGS_install_max) < absl::GetFlag(FLAGS_install_min)) {
    return Fail("--install_min/--install_max: want 0 <= min <= max");
  }
  absl::StatusOr<std::vector<GroupShare>> groups = ParseGroups(absl::GetFlag(FLAGS_groups), host_count);
  if (!groups.ok()) return Fail(std::string(groups.status().message()));

  Shared s;
  s.channel = drover::wire::ChannelName(absl::GetFlag(FLAGS_channel_id));
  s.groups = *groups;
  s.prefix = absl::GetFlag(FLAGS_host_prefix);
  const uint16_t start = s.versions.Intern(absl::GetFlag(FLAGS_start_version));
  const std::string target_version = absl::GetFlag(FLAGS_target_version);
  const uint16_t target = s.versions.Intern(target_version);
  const std::string broken_version = absl::GetFlag(FLAGS_broken_version);
  if (!broken_version.empty()) s.broken = s.versions.Intern(broken_version);
  s.broken_late = mode == "late";
  s.late_after = absl::Seconds(absl::GetFlag(FLAGS_late_after));
  s.install_min = absl::GetFlag(FLAGS_install_min);
  s.install_max = absl::GetFlag(FLAGS_install_max);
  s.watch = absl::Seconds(absl::GetFlag(FLAGS_watch));
  s.jitter = std::clamp(absl::GetFlag(FLAGS_jitter), 0.0, 0.9);
  s.rpc_timeout_ms = absl::GetFlag(FLAGS_rpc_timeout_ms);
  s.first_poll_spread = std::max(0.001, absl::GetFlag(FLAGS_first_poll_spread));
  s.hosts.resize(host_count);
  {
    size_t h = 0;
    for (size_t g = 0; g < s.groups.size(); ++g) {
      for (int64_t i = 0; i < s.groups[g].hosts; ++i, ++h) {
        s.hosts[h].group = static_cast<uint16_t>(g);
        s.hosts[h].version = start;
      }
    }
  }
  const std::string scenario =
      !absl::GetFlag(FLAGS_scenario).empty() ? absl::GetFlag(FLAGS_scenario) : broken_version.empty() ? "good" : "broken";

  const std::string address = absl::GetFlag(FLAGS_target);
  for (int i = 0; i < absl::GetFlag(FLAGS_channels); ++i) {
    grpc::ChannelArguments args;
    // A distinct argument per channel: its own TCP connection.
    args.SetInt("drover.rollout_sim.channel", i);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    // Reconnect quickly when the coordinator comes back after a kill.
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    s.stubs.push_back(
        v1::UpdaterService::NewStub(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args)));
  }
  grpc::ChannelArguments op_args;
  op_args.SetInt("drover.rollout_sim.channel", -1);
  op_args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  std::unique_ptr<v1::OperatorService::Stub> op =
      v1::OperatorService::NewStub(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), op_args));

  std::fprintf(stderr,
               "drover-rollout-sim: %lld hosts in %zu groups (%s), %d workers, %d connections, plaintext to %s "
               "(the coordinator runs with --insecure)\n",
               static_cast<long long>(host_count), s.groups.size(), absl::GetFlag(FLAGS_groups).c_str(), threads,
               absl::GetFlag(FLAGS_channels), address.c_str());

  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::thread> running;
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  for (int i = 0; i < threads; ++i) workers.push_back(std::make_unique<Worker>(s, i, threads, seed * 1000003 + i));
  for (auto& w : workers) running.emplace_back([&w] { w->Run(); });
  auto stop_workers = [&] {
    s.stop = true;
    for (std::thread& t : running) t.join();
    running.clear();
  };

  auto progress = [&](const std::string& phase, const std::string& extra) {
    std::fprintf(stderr,
                 "drover-rollout-sim: [%s] reported %lld, installing %lld, broken installs %lld, rolled back %lld, "
                 "GetTarget %lld, reports %lld, RPC errors %lld%s%s\n",
                 phase.c_str(), static_cast<long long>(s.reported.load()), static_cast<long long>(s.busy.load()),
                 static_cast<long long>(s.broken_installs.load()), static_cast<long long>(s.rolled_back.load()),
                 static_cast<long long>(s.get_target.load()), static_cast<long long>(s.reports.load()),
                 static_cast<long long>(s.rpc_errors.load()), extra.empty() ? "" : "; ", extra.c_str());
  };

  // 1. Settle: every host known to the coordinator on the start version.
  const absl::Time settle_deadline = absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_settle_timeout));
  absl::Time last_print = absl::Now();
  while (s.reported.load() < host_count) {
    if (absl::Now() > settle_deadline) {
      stop_workers();
      return Fail(absl::StrCat("only ", s.reported.load(), " of ", host_count, " hosts reported within --settle_timeout=",
                               absl::GetFlag(FLAGS_settle_timeout), "s (RPC errors: ", s.rpc_errors.load(), ")"));
    }
    if (absl::Now() - last_print > absl::Seconds(5)) {
      progress("settling", "");
      last_print = absl::Now();
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  progress("settled", "");
  WriteFile(absl::GetFlag(FLAGS_settled_file), "settled\n");

  // 2. The rollout, from GetRollout once a second.
  const absl::Time rollout_deadline = absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_rollout_timeout));
  v1::Rollout r;
  int64_t rollout_id = 0;
  std::vector<int64_t> ids_seen;
  std::optional<absl::Time> halted_at;
  int64_t watch_errors = 0;
  while (true) {
    if (absl::Now() > rollout_deadline) {
      stop_workers();
      return Fail(absl::StrCat("the rollout to ", target_version, " did not finish within --rollout_timeout=",
                               absl::GetFlag(FLAGS_rollout_timeout), "s; last: state ", r.state(), ", ",
                               GroupStates(r), ", reason: ", r.reason()));
    }
    v1::GetRolloutRequest req;
    req.set_channel(s.channel);
    v1::Rollout got;
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineClock::now() + std::chrono::seconds(5));
    const grpc::Status st = op->GetRollout(&ctx, req, &got);
    if (st.ok() && got.target_version() == target_version) {
      r = std::move(got);
      if (r.id() != rollout_id) {
        rollout_id = r.id();
        ids_seen.push_back(rollout_id);
      }
      if (!halted_at && (r.state() == "halted" || r.state() == "rolled_back")) {
        halted_at = drover::wire::TimeFromProto(r.state_since());
      }
      WriteFile(absl::GetFlag(FLAGS_progress_file),
                absl::StrCat("id=", r.id(), " state=", r.state(), " groups=", GroupStates(r), "\n"));
      if (absl::Now() - last_print > absl::Seconds(5)) {
        progress("rollout", absl::StrCat("rollout ", r.id(), " ", r.state(), ": ", GroupStates(r),
                                         r.reason().empty() ? "" : " -- ", r.reason()));
        last_print = absl::Now();
      }
      if (Terminal(r.state())) break;
    } else if (!st.ok() && st.error_code() != grpc::StatusCode::NOT_FOUND) {
      ++watch_errors;  // the coordinator restarting: keep watching
    }
    absl::SleepFor(absl::Seconds(1));
  }
  const absl::Time created = drover::wire::TimeFromProto(r.created_at());
  const absl::Time finished = drover::wire::TimeFromProto(r.state_since());
  std::fprintf(stderr, "drover-rollout-sim: rollout %lld %s -> %s: %s after %.1f s%s%s\n",
               static_cast<long long>(r.id()), r.start_version().c_str(), r.target_version().c_str(),
               r.state().c_str(), absl::ToDoubleSeconds(finished - created), r.reason().empty() ? "" : ": ",
               r.reason().c_str());
  std::fprintf(stderr, "drover-rollout-sim: groups: %s\n", GroupStates(r).c_str());
  std::fprintf(stderr, "drover-rollout-sim: rollout ids seen: %s; GetRollout failures while watching: %lld\n",
               absl::StrJoin(ids_seen, ",").c_str(), static_cast<long long>(watch_errors));
  WriteFile(absl::GetFlag(FLAGS_progress_file),
            absl::StrCat("id=", r.id(), " state=", r.state(), " groups=", GroupStates(r), "\n"));

  // 3. Drain: hosts let in finish installing, watching, rolling back; hosts
  // of a group let in late take the target at their next poll. At least two
  // poll intervals and an install, then until nobody is busy.
  const absl::Duration poll = absl::Milliseconds(s.longest_poll_ms.load());
  const absl::Duration min_drain = 2 * poll * (1 + s.jitter) + absl::Seconds(s.install_max) + s.watch +
                                   (s.broken_late ? s.late_after : absl::ZeroDuration());
  const absl::Time drain_start = absl::Now();
  const absl::Time drain_deadline = drain_start + absl::Seconds(absl::GetFlag(FLAGS_drain_timeout));
  while (absl::Now() < drain_deadline && (absl::Now() - drain_start < min_drain || s.busy.load() > 0)) {
    absl::SleepFor(absl::Milliseconds(200));
  }
  progress("drained", "");
  stop_workers();

  int64_t left_broken = 0, on_target = 0, busy = 0;
  const absl::Time now = absl::Now();
  for (const Host& h : s.hosts) {
    if (h.version == target) ++on_target;
    if (h.version == s.broken && !Healthy(s, h, now)) ++left_broken;
    if (h.busy) ++busy;
  }
  if (busy > 0) std::fprintf(stderr, "drover-rollout-sim: %lld hosts still busy at the end\n", static_cast<long long>(busy));
  const bool halted = halted_at.has_value();
  std::printf("hosts=%lld scenario=%s groups=%zu broken_version_hosts=%lld halted=%d time_to_halt_s=%s rolled_back=%lld "
              "left_broken=%lld on_target=%lld rollout_s=%.1f\n",
              static_cast<long long>(host_count), scenario.c_str(), s.groups.size(),
              static_cast<long long>(s.broken_installs.load()), halted ? 1 : 0,
              halted ? absl::StrFormat("%.1f", absl::ToDoubleSeconds(*halted_at - created)).c_str() : "-",
              static_cast<long long>(s.rolled_back.load()), static_cast<long long>(left_broken),
              static_cast<long long>(on_target), absl::ToDoubleSeconds(finished - created));
  return 0;
}
