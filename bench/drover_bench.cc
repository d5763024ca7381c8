// drover-bench: a simulated fleet that loads a running coordinator over gRPC.
//
// Phases: populate (one acknowledged report per host), then three taking
// turns for --rounds: noop (grpc.health.v1 Health/Check through the very same
// channels, concurrency and async loop, as the ceiling this machine allows
// for any unary RPC), heartbeat (a steady fleet: each report repeats the
// host's state and names its acknowledged predecessor in previous_sequence)
// and change (a rollout storm: each report moves the host's version, some
// carry an outcome); then GetRolloutStatus timings, then handshakes (a new
// connection per call, as the updater's pass opens one per poll: the polls/s
// that pattern sustains). The last stdout line is the machine-readable
// summary.
//
// With --tls_ca_file every simulated host has its own client certificate
// (minted here with the fleet's CA) and its own connection, as real updaters
// do: the coordinator takes a report's host id from the certificate, so one
// connection reports for one host. --one_connection_per_host gives plaintext
// the same shape, to compare the two like with like.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bench/bench_tls.h"
#include "bench/cpu_meter.h"
#include "bench/fleet.h"
#include "bench/percentile.h"
#include "bench/report_chain.h"
#include "common/log.h"
#include "proto/wire/names.h"
#include "proto/wire/time.h"
#include "drover/v1/operator_service.grpc.pb.h"
#include "drover/v1/updater_service.grpc.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:7600", "Coordinator gRPC address, HOST:PORT");
ABSL_FLAG(int64_t, hosts, 1000000, "Simulated hosts (distinct host ids)");
ABSL_FLAG(int, channels, 4, "gRPC channels (separate TCP connections)");
ABSL_FLAG(int, threads, 2, "Client threads, each with its own completion queue");
ABSL_FLAG(int, concurrency, 256, "RPCs kept outstanding at once (over all threads)");
ABSL_FLAG(int, duration, 20, "Seconds each measured report phase (heartbeat, change) lasts");
ABSL_FLAG(int, noop_duration, 10, "Seconds the no-op (Health/Check) phase lasts; 0 skips it");
ABSL_FLAG(int, warmup_ms, 3000,
          "Milliseconds each turn runs before it is measured (not counted, CPU not metered): at least the "
          "coordinator's --liveness_flush plus one flush, so that heartbeats a turn answered are flushed in "
          "the next turn's warm-up, and each measured window pays for the flushes of its own heartbeats");
ABSL_FLAG(int, rounds, 5,
          "The no-op, heartbeat and change phases take turns this many times, splitting their durations");
ABSL_FLAG(int, populate_timeout, 900, "Seconds the populate phase may take before the bench gives up");
ABSL_FLAG(int, populate_retries, 3, "Attempts per host in the populate phase before it counts as failed");
ABSL_FLAG(int, rpc_timeout_ms, 10000, "Deadline of each RPC, in milliseconds");
ABSL_FLAG(int, connect_timeout, 10, "Seconds to wait for the coordinator to accept connections");
ABSL_FLAG(int, status_calls, 5, "GetRolloutStatus calls timed at the end (the median is reported)");
ABSL_FLAG(double, outcome_fraction, 0.5,
          "Change phase: fraction of the moves 15.1.0 -> 15.2.0 that carry their update outcome (a history row each)");
ABSL_FLAG(std::string, channel_id, "bench", "Channel the simulated hosts report in (created if missing)");
ABSL_FLAG(std::string, host_prefix, "host-",
          "Host ids are this prefix and a 7-digit number; vary it to run again against the same database");
ABSL_FLAG(int, coordinator_pid, 0, "Coordinator process id, to read its resident memory at the end; 0: unknown");
ABSL_FLAG(int, postgres_pid, 0,
          "PostgreSQL postmaster process id, to tell its CPU use (with its backends) from other load; 0: unknown");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the random host and event choices");
ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM file: the CA that signed the coordinator's certificate. Set: TLS, one connection per host, each host "
          "with its own certificate (needs --host_ca_cert_file, --host_ca_key_file, --fleet); empty: plaintext");
ABSL_FLAG(std::string, host_ca_cert_file, "", "PEM file: the fleet's CA, to mint each simulated host's certificate");
ABSL_FLAG(std::string, host_ca_key_file, "", "PEM file: that CA's private key (refused when others may read it)");
ABSL_FLAG(std::string, fleet, "drover", "Fleet name in the hosts' certificates (spiffe://<fleet>/host/<id>)");
ABSL_FLAG(std::string, operator_token_file, "",
          "File holding an operator token (admin: the bench creates its channel), sent as \"authorization: Bearer\"; "
          "required with TLS");
ABSL_FLAG(bool, one_connection_per_host, false,
          "Plaintext: one connection per host (the shape TLS forces), instead of --channels shared ones");
ABSL_FLAG(int, handshake_duration, 5,
          "Seconds each handshake phase lasts (GetTarget over a new connection; an updater pass, GetTarget and "
          "ReportStatus, over a new connection); 0 skips them");
ABSL_FLAG(int, handshake_concurrency, 8,
          "New connections being made at once in the handshake phases (threads; at most --hosts are used)");

namespace {

namespace v1 = ::drover::v1;
using ::drover::bench::CpuMeter;
using ::drover::bench::ResidentMib;
using Clock = std::chrono::steady_clock;

using ::drover::bench::HostCycle;
using ::drover::bench::HostId;
using ::drover::bench::kCurrent;
using ::drover::bench::kTarget;
using ::drover::bench::kVersions;
using ::drover::bench::ReportChains;
constexpr const char* kHealthMethod = "/grpc.health.v1.Health/Check";
// One connection per host beyond this measures the bench's and the kernel's
// connection bookkeeping more than the coordinator; the million-host runs use
// plaintext over --channels shared connections.
constexpr int64_t kMaxConnections = 5000;

int Fail(const std::string& message) {
  std::fprintf(stderr, "drover-bench: %s\n", message.c_str());
  return 1;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Connections, shared by every phase so the no-op and report phases compare
// like with like.
struct Connections {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::UpdaterService::Stub>> updater;
  std::vector<std::unique_ptr<grpc::GenericStub>> generic;
  // Host h reports on connection h (its certificate's); otherwise on any.
  bool per_host = false;
  // Operators' calls: a connection of its own, without a host certificate
  // (host identities may call no operator RPC).
  std::shared_ptr<grpc::Channel> op_channel;
  std::unique_ptr<v1::OperatorService::Stub> op;
  std::string token;

  int ForHost(int64_t host, int slot_channel) const { return per_host ? static_cast<int>(host) : slot_channel; }
  void Authorize(grpc::ClientContext& ctx) const {
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
  }
};

// What a new connection is made with: plaintext, or TLS with no client
// certificate (kNoHost) or host h's.
struct Credentials {
  static constexpr int64_t kNoHost = -1;
  const drover::bench::BenchTls* tls = nullptr;  // null: plaintext
  std::shared_ptr<grpc::ChannelCredentials> For(int64_t host) const {
    if (tls == nullptr) return grpc::InsecureChannelCredentials();
    return host == kNoHost ? tls->server_only : tls->host[host];
  }
};

std::shared_ptr<grpc::Channel> NewChannel(const std::string& target, const std::shared_ptr<grpc::ChannelCredentials>& creds,
                                          int64_t distinct) {
  grpc::ChannelArguments args;
  // A distinct argument per channel keeps gRPC from sharing one subchannel
  // (one TCP connection) among them.
  args.SetInt("drover.bench.channel", static_cast<int>(distinct % 2000000000));
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // The bench counts a failed call as an error; gRPC's transparent retries
  // would also make every call keep a copy of what it sent.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  return grpc::CreateCustomChannel(target, creds, args);
}

Connections Connect(const std::string& target, int count, bool per_host, const Credentials& creds, std::string token) {
  Connections c;
  c.per_host = per_host;
  c.token = std::move(token);
  for (int i = 0; i < count; ++i) {
    c.channels.push_back(NewChannel(target, creds.For(creds.tls != nullptr ? i : Credentials::kNoHost), i));
    c.updater.push_back(v1::UpdaterService::NewStub(c.channels.back()));
    c.generic.push_back(std::make_unique<grpc::GenericStub>(c.channels.back()));
  }
  c.op_channel = NewChannel(target, creds.For(Credentials::kNoHost), count);
  c.op = v1::OperatorService::NewStub(c.op_channel);
  return c;
}

// What one worker thread owns: a completion queue, a random source and its
// counters. Hosts are partitioned among workers (host % workers == index), so
// per-host state needs no locks.
struct alignas(64) Worker {
  int index = 0;
  grpc::CompletionQueue cq;
  std::mt19937_64 rng;
  std::vector<int> channel_indexes;
  size_t next_channel = 0;  // the no-op's rotation over channel_indexes
  std::atomic<int64_t> ok{0};  // read by the progress printer
  std::array<int64_t, 17> codes{};
  std::vector<uint32_t> latencies_us;
};

struct PhaseResult {
  int64_t ok = 0;
  std::array<int64_t, 17> codes{};
  double elapsed_s = 0;
  std::vector<uint32_t> latencies_us;
  bool timed_out = false;
};

// One outstanding RPC. The slot is reused for the next call once this one
// completes; the ClientContext cannot be, so it is re-created each time.
template <typename Workload>
struct Call {
  std::optional<grpc::ClientContext> context;
  std::unique_ptr<grpc::ClientAsyncResponseReader<typename Workload::Response>> reader;
  typename Workload::Request request;
  typename Workload::Response response;
  grpc::Status status;
  Clock::time_point start;
  int channel = 0;
  int64_t host = -1;
  int attempt = 0;
};

struct PhaseOptions {
  const char* name = "";
  // Until when new calls are started and completions are counted.
  Clock::duration window{};
  // A time-bounded phase ends at the window; otherwise the workload ends it,
  // and reaching the window means it took too long.
  bool until_window = true;
  int concurrency = 1;
  std::chrono::milliseconds rpc_timeout{10000};
  bool record_latency = false;
};

// Runs `concurrency` calls at a time on every worker, each completion starting
// the next call, until the window closes or the workload has nothing more to
// send; then waits for the stragglers (bounded by the RPC deadline).
template <typename Workload>
void RunWorker(Workload& workload, Worker& w, const PhaseOptions& opt, int slots, Clock::time_point end) {
  using CallT = Call<Workload>;
  std::vector<std::unique_ptr<CallT>> calls;
  calls.reserve(slots);
  // The completion queue takes system_clock deadlines.
  const auto sys_end = std::chrono::system_clock::now() +
                       std::chrono::duration_cast<std::chrono::system_clock::duration>(end - Clock::now());
  int in_flight = 0;
  bool issuing = true;
  auto issue = [&](CallT& call) -> bool {
    call.context.emplace();
    call.context->set_deadline(std::chrono::system_clock::now() + opt.rpc_timeout);
    call.reader = workload.Prepare(w, call, &*call.context, &w.cq);
    if (call.reader == nullptr) return false;
    call.start = Clock::now();
    call.reader->StartCall();
    call.reader->Finish(&call.response, &call.status, &call);
    ++in_flight;
    return true;
  };
  for (int i = 0; i < slots; ++i) {
    calls.push_back(std::make_unique<CallT>());
    calls.back()->channel = w.channel_indexes[i % w.channel_indexes.size()];
    if (!issue(*calls.back())) break;
  }
  while (in_flight > 0) {
    void* tag = nullptr;
    bool ok = false;
    if (issuing) {
      grpc::CompletionQueue::NextStatus s = w.cq.AsyncNext(&tag, &ok, sys_end);
      if (s == grpc::CompletionQueue::TIMEOUT) {
        issuing = false;
        continue;
      }
      if (s == grpc::CompletionQueue::SHUTDOWN) break;
    } else if (!w.cq.Next(&tag, &ok)) {
      break;
    }
    --in_flight;
    CallT& call = *static_cast<CallT*>(tag);
    const Clock::time_point now = Clock::now();
    const bool counted = now < end;
    if (counted) {
      ++w.codes[std::min<int>(static_cast<int>(call.status.error_code()), 16)];
      if (call.status.ok()) {
        w.ok.fetch_add(1, std::memory_order_relaxed);
        if (opt.record_latency) {
          w.latencies_us.push_back(static_cast<uint32_t>(
              std::chrono::duration_cast<std::chrono::microseconds>(now - call.start).count()));
        }
      }
    }
    workload.Done(w, call, counted);
    if (!counted) issuing = false;
    if (issuing) issue(call);
  }
}

template <typename Workload>
PhaseResult RunPhase(Workload& workload, std::vector<std::unique_ptr<Worker>>& workers, const PhaseOptions& opt) {
  for (auto& w : workers) {
    w->ok.store(0);
    w->codes.fill(0);
    w->latencies_us.clear();
  }
  const Clock::time_point start = Clock::now();
  const Clock::time_point end = start + opt.window;
  const int n = static_cast<int>(workers.size());
  std::mutex mu;
  std::condition_variable cv;
  int running = n;
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    const int slots = opt.concurrency / n + (i < opt.concurrency % n ? 1 : 0);
    threads.emplace_back([&, i, slots] {
      RunWorker(workload, *workers[i], opt, slots, end);
      std::lock_guard<std::mutex> lock(mu);
      --running;
      cv.notify_all();
    });
  }
  // Progress once a second; the wait ends as soon as the workers do.
  {
    std::unique_lock<std::mutex> lock(mu);
    Clock::time_point next = start + std::chrono::seconds(1);
    while (!cv.wait_until(lock, next, [&] { return running == 0; })) {
      int64_t ok = 0;
      for (auto& w : workers) ok += w->ok.load(std::memory_order_relaxed);
      drover::LogInfo(absl::StrFormat("%s: %d ok after %.0f s (%.0f/s)", opt.name, ok, Seconds(Clock::now() - start),
                                      ok / Seconds(Clock::now() - start)));
      next += std::chrono::seconds(1);
    }
  }
  const Clock::time_point finish = Clock::now();
  for (auto& t : threads) t.join();
  PhaseResult r;
  r.elapsed_s = opt.until_window ? Seconds(opt.window) : Seconds(std::min(finish, end) - start);
  // A phase the workload ends must end inside its window.
  r.timed_out = !opt.until_window && finish >= end;
  for (int i = 0; i < n; ++i) {
    Worker& w = *workers[i];
    r.ok += w.ok.load();
    for (size_t c = 0; c < r.codes.size(); ++c) r.codes[c] += w.codes[c];
    r.latencies_us.insert(r.latencies_us.end(), w.latencies_us.begin(), w.latencies_us.end());
  }
  return r;
}

std::string CodeName(int code) {
  static constexpr std::array<const char*, 17> kNames = {
      "OK",          "CANCELLED",          "UNKNOWN",        "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",         "UNAVAILABLE",    "DATA_LOSS",        "UNAUTHENTICATED"};
  return code >= 0 && code < static_cast<int>(kNames.size()) ? kNames[code] : absl::StrCat("CODE_", code);
}

// "errors: none" or "errors: UNAVAILABLE=12 DEADLINE_EXCEEDED=3".
std::string ErrorSummary(const std::array<int64_t, 17>& codes) {
  std::vector<std::string> parts;
  for (size_t c = 1; c < codes.size(); ++c) {
    if (codes[c] > 0) parts.push_back(absl::StrCat(CodeName(static_cast<int>(c)), "=", codes[c]));
  }
  return parts.empty() ? "none" : absl::StrJoin(parts, " ");
}

double PercentileMs(std::vector<uint32_t>& samples_us, double p) {
  return drover::bench::Percentile(samples_us, p) / 1000.0;
}

void SetTimestamp(std::chrono::system_clock::time_point t, google::protobuf::Timestamp* out) {
  drover::wire::TimeToProto(absl::FromChrono(t), out);
}

// What the simulated hosts know about themselves between reports: 10 bytes
// a host (a million fit in 10 MB beside the coordinator and PostgreSQL).
struct Fleet {
  Fleet(std::string prefix, int64_t n) : host_prefix(std::move(prefix)), chains(n), version(n), healthy(n) {
    for (int64_t h = 0; h < n; ++h) {
      version[h] = drover::bench::InitialVersion(h);
      healthy[h] = !drover::bench::Unhealthy(h);
    }
  }
  int64_t size() const { return static_cast<int64_t>(version.size()); }
  const std::string host_prefix;
  // Sequences, and whether the last report may be named as previous.
  ReportChains chains;
  std::vector<uint8_t> version;
  std::vector<uint8_t> healthy;
};

// Host `host`'s report of what it holds now (no outcomes), as its next
// report in the chain; the caller answers it with Acknowledged.
void FillReport(const std::string& channel, int64_t host, Fleet& fleet, v1::ReportStatusRequest* req) {
  const ReportChains::Next next = fleet.chains.Send(host);
  req->set_host_id(HostId(fleet.host_prefix, host));
  req->set_channel(channel);
  req->set_current_version(kVersions[fleet.version[host]]);
  req->set_health(fleet.healthy[host] ? v1::HEALTH_HEALTHY : v1::HEALTH_UNHEALTHY);
  req->set_updater_version("0.1.0");
  req->set_sequence(next.sequence);
  req->set_previous_sequence(next.previous_sequence);
  req->clear_outcomes();
}

// As the updater decides (Updater::Deliver): a report counts as
// acknowledged, and the next may name it, when it was stored or already was.
bool Acknowledged(const grpc::Status& status, const v1::ReportStatusResponse& response) {
  return status.ok() && (response.disposition() == v1::ReportStatusResponse::DISPOSITION_ACCEPTED ||
                         response.disposition() == v1::ReportStatusResponse::DISPOSITION_DUPLICATE);
}

// Phase 1: every host reports once; a report not acknowledged is retried (a
// new report, with the next sequence), so each host ends with an
// acknowledged last report: the heartbeat phase starts as a chain.
class PopulateWorkload {
 public:
  using Request = v1::ReportStatusRequest;
  using Response = v1::ReportStatusResponse;

  PopulateWorkload(const Connections* conns, Fleet* fleet, std::string channel, int workers, int retries)
      : conns_(conns), fleet_(fleet), channel_(std::move(channel)), next_(workers), retry_(workers),
        retries_(retries), stride_(workers) {
    for (int i = 0; i < workers; ++i) next_[i] = i;
  }

  std::unique_ptr<grpc::ClientAsyncResponseReader<Response>> Prepare(Worker& w, Call<PopulateWorkload>& call,
                                                                     grpc::ClientContext* ctx,
                                                                     grpc::CompletionQueue* cq) {
    std::vector<std::pair<int64_t, int>>& retry = retry_[w.index];
    if (!retry.empty()) {
      call.host = retry.back().first;
      call.attempt = retry.back().second;
      retry.pop_back();
    } else if (next_[w.index] < fleet_->size()) {
      call.host = next_[w.index];
      call.attempt = 1;
      next_[w.index] += stride_;
    } else {
      return nullptr;
    }
    FillReport(channel_, call.host, *fleet_, &call.request);
    return conns_->updater[conns_->ForHost(call.host, call.channel)]->PrepareAsyncReportStatus(ctx, call.request, cq);
  }

  void Done(Worker& w, Call<PopulateWorkload>& call, bool counted) {
    const bool acknowledged = Acknowledged(call.status, call.response);
    fleet_->chains.Answered(call.host, call.request.sequence(), acknowledged);
    if (acknowledged) return;
    if (call.status.ok()) not_acknowledged_.fetch_add(1, std::memory_order_relaxed);
    if (call.attempt < retries_) {
      retry_[w.index].emplace_back(call.host, call.attempt + 1);
    } else {
      failed_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  int64_t failed() const { return failed_.load(); }
  // Answered, but neither ACCEPTED nor DUPLICATE (e.g. OUT_OF_ORDER: the
  // database already holds these hosts with higher sequences).
  int64_t not_acknowledged() const { return not_acknowledged_.load(); }

 private:
  const Connections* conns_;
  Fleet* fleet_;
  const std::string channel_;
  std::vector<int64_t> next_;
  std::vector<std::vector<std::pair<int64_t, int>>> retry_;
  const int retries_;
  const int stride_;
  std::atomic<int64_t> failed_{0};
  std::atomic<int64_t> not_acknowledged_{0};
};

// Phase 2: the cheapest unary RPC the server has, through the same machinery.
class NoopWorkload {
 public:
  using Request = grpc::ByteBuffer;
  using Response = grpc::ByteBuffer;

  explicit NoopWorkload(const Connections* conns) : conns_(conns), method_(kHealthMethod) {
    // An empty HealthCheckRequest serializes to zero bytes.
    grpc::Slice empty("");
    request_ = grpc::ByteBuffer(&empty, 1);
  }

  std::unique_ptr<grpc::ClientAsyncResponseReader<Response>> Prepare(Worker& w, Call<NoopWorkload>& call,
                                                                     grpc::ClientContext* ctx,
                                                                     grpc::CompletionQueue* cq) {
    // Round the worker's connections, as the reports spread over every
    // host's connection.
    call.channel = w.channel_indexes[w.next_channel++ % w.channel_indexes.size()];
    return conns_->generic[call.channel]->PrepareUnaryCall(ctx, method_, request_, cq);
  }
  void Done(Worker& w, Call<NoopWorkload>& call, bool counted) {}

 private:
  const Connections* conns_;
  const std::string method_;
  grpc::ByteBuffer request_;
};

enum class ReportKind {
  // A steady fleet: each report repeats the host's stored state and names
  // its acknowledged predecessor (a heartbeat, heartbeat.h).
  kHeartbeat,
  // A rollout storm: each report moves the host between 15.1.0 and 15.2.0;
  // some of the moves up carry their update outcome.
  kChange,
};

// Phases 3 and 4: each worker's hosts in a scattered order (HostCycle), every
// host once before any twice, as a fleet polling at one interval does.
class ReportWorkload {
 public:
  using Request = v1::ReportStatusRequest;
  using Response = v1::ReportStatusResponse;
  static constexpr int kDispositions = 5;

  ReportWorkload(ReportKind kind, const Connections* conns, Fleet* fleet, std::string channel, int workers,
                 double outcome_fraction, uint64_t seed)
      : kind_(kind), conns_(conns), fleet_(fleet), channel_(std::move(channel)), workers_(workers),
        outcome_fraction_(outcome_fraction) {
    for (int i = 0; i < workers; ++i) {
      // Hosts of worker i: i, i + workers, ...
      cycles_.emplace_back((fleet->size() - i + workers - 1) / workers, seed * 7919 + i);
    }
  }

  std::unique_ptr<grpc::ClientAsyncResponseReader<Response>> Prepare(Worker& w, Call<ReportWorkload>& call,
                                                                     grpc::ClientContext* ctx,
                                                                     grpc::CompletionQueue* cq) {
    if (w.index >= fleet_->size()) return nullptr;  // more workers than hosts
    // One report at a time per host, as an updater sends them: hosts whose
    // report is in flight are skipped. When all of this worker's are (more
    // calls outstanding than hosts), the slot retires for this turn.
    HostCycle& cycle = cycles_[w.index];
    int64_t host = -1;
    for (int64_t tried = 0; tried < cycle.size() && host < 0; ++tried) {
      const int64_t h = w.index + workers_ * cycle.Next();
      if (!fleet_->chains.InFlight(h)) host = h;
    }
    if (host < 0) return nullptr;
    call.host = host;
    uint8_t& version = fleet_->version[host];
    const uint8_t from = version;
    if (kind_ == ReportKind::kChange) version = version == kTarget ? kCurrent : kTarget;
    FillReport(channel_, host, *fleet_, &call.request);
    Counters& c = counters_[w.index];
    c.sent.fetch_add(1, std::memory_order_relaxed);
    if (call.request.previous_sequence() != 0) c.chained.fetch_add(1, std::memory_order_relaxed);
    if (kind_ == ReportKind::kChange && from == kCurrent &&
        std::uniform_real_distribution<double>(0, 1)(w.rng) < outcome_fraction_) {
      v1::UpdateOutcome* o = call.request.add_outcomes();
      o->set_from_version(kVersions[kCurrent]);
      o->set_to_version(kVersions[kTarget]);
      o->set_result(v1::UPDATE_RESULT_SUCCEEDED);
      const auto now = std::chrono::system_clock::now();
      SetTimestamp(now - std::chrono::seconds(5), o->mutable_start_time());
      SetTimestamp(now - std::chrono::seconds(1), o->mutable_finish_time());
      c.outcomes.fetch_add(1, std::memory_order_relaxed);
    }
    return conns_->updater[conns_->ForHost(host, call.channel)]->PrepareAsyncReportStatus(ctx, call.request, cq);
  }

  // `counted`: completed inside the measured window. A change that was not
  // acknowledged may or may not be stored; the host keeps its new version,
  // and its next report (previous_sequence 0) is committed either way.
  void Done(Worker& w, Call<ReportWorkload>& call, bool counted) {
    fleet_->chains.Answered(call.host, call.request.sequence(), Acknowledged(call.status, call.response));
    if (counted && call.status.ok()) {
      const int d = static_cast<int>(call.response.disposition());
      counters_[w.index].dispositions[std::clamp(d, 0, kDispositions - 1)].fetch_add(1, std::memory_order_relaxed);
    }
  }

  int64_t outcomes() const { return Sum(&Counters::outcomes); }
  // Reports sent, stragglers answered after the turn's window included.
  int64_t sent() const { return Sum(&Counters::sent); }
  // Reports sent naming their predecessor (previous_sequence set).
  int64_t chained() const { return Sum(&Counters::chained); }
  std::array<int64_t, kDispositions> dispositions() const {
    std::array<int64_t, kDispositions> sum{};
    for (const Counters& c : counters_) {
      for (int d = 0; d < kDispositions; ++d) sum[d] += c.dispositions[d].load();
    }
    return sum;
  }

 private:
  static constexpr int kMaxWorkers = 64;
  struct alignas(64) Counters {
    std::atomic<int64_t> sent{0};
    std::atomic<int64_t> outcomes{0};
    std::atomic<int64_t> chained{0};
    std::array<std::atomic<int64_t>, kDispositions> dispositions{};
  };
  int64_t Sum(std::atomic<int64_t> Counters::*field) const {
    int64_t sum = 0;
    for (const Counters& c : counters_) sum += (c.*field).load();
    return sum;
  }

  const ReportKind kind_;
  const Connections* conns_;
  Fleet* fleet_;
  const std::string channel_;
  const int workers_;
  const double outcome_fraction_;
  std::vector<HostCycle> cycles_;
  std::array<Counters, kMaxWorkers> counters_{};
};

// Adds one round of a phase to its running total.
void Accumulate(PhaseResult& total, PhaseResult&& round) {
  total.ok += round.ok;
  for (size_t c = 0; c < total.codes.size(); ++c) total.codes[c] += round.codes[c];
  total.elapsed_s += round.elapsed_s;
  total.latencies_us.insert(total.latencies_us.end(), round.latencies_us.begin(), round.latencies_us.end());
  total.timed_out = total.timed_out || round.timed_out;
}

// What one handshake phase's calls do on their new connection.
enum class HandshakeKind {
  // GetTarget, server-authenticated TLS only: a host without a (working)
  // certificate recovering, and the cheapest new-connection call.
  kTarget,
  // What the updater's pass does each poll: a new connection with the host's
  // certificate (a full mTLS handshake), one Sync (report and target).
  kPass,
};

struct HandshakeOptions {
  HandshakeKind kind = HandshakeKind::kTarget;
  std::string target;
  const Credentials* creds = nullptr;
  Fleet* fleet = nullptr;
  std::string channel_name;
  int concurrency = 1;
  Clock::duration window{};
  std::chrono::milliseconds rpc_timeout{10000};
};

// GetTarget only, as a host without a (working) certificate asks.
grpc::Status TargetCall(v1::UpdaterService::Stub& stub, const HandshakeOptions& o, int64_t host) {
  v1::GetTargetRequest req;
  req.set_channel(o.channel_name);
  req.set_host_id(HostId(o.fleet->host_prefix, host));
  v1::GetTargetResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + o.rpc_timeout);
  return stub.GetTarget(&ctx, req, &resp);
}

// One updater poll, as drover-updater-pass makes it on its own connection:
// GetTarget, then its report (the host's state, a heartbeat when its last
// report was acknowledged). The one place to change when the updater moves
// to the one-round-trip Sync RPC.
grpc::Status UpdaterPoll(v1::UpdaterService::Stub& stub, const HandshakeOptions& o, int64_t host) {
  // As the updater polls: its report and its target in one Sync.
  v1::SyncRequest req;
  FillReport(o.channel_name, host, *o.fleet, req.mutable_report());
  v1::SyncResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + o.rpc_timeout);
  grpc::Status s = stub.Sync(&ctx, req, &resp);
  if (s.ok() && resp.report_error_code() != 0) {
    s = grpc::Status(static_cast<grpc::StatusCode>(resp.report_error_code()), resp.report_error());
  } else if (s.ok() && resp.target_error_code() != 0) {
    s = grpc::Status(static_cast<grpc::StatusCode>(resp.target_error_code()), resp.target_error());
  }
  o.fleet->chains.Answered(host, req.report().sequence(), Acknowledged(s, resp.report()));
  return s;
}

// Every call opens a brand-new connection (a new TCP connection and, with
// TLS, a full handshake: gRPC keeps no TLS session cache unless asked, and
// the local subchannel pool shares nothing), makes its calls and drops it.
// Thread t owns hosts t, t + concurrency, ..., so sequences need no lock.
PhaseResult RunHandshakes(const HandshakeOptions& o) {
  const int n = o.concurrency;
  const int64_t hosts = o.fleet->size();
  std::vector<PhaseResult> per(n);
  std::atomic<int64_t> distinct{1};
  const Clock::time_point start = Clock::now(), end = start + o.window;
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t) {
    threads.emplace_back([&, t] {
      PhaseResult& r = per[t];
      int64_t host = t;
      while (Clock::now() < end) {
        const Clock::time_point t0 = Clock::now();
        grpc::Status s;
        {
          std::shared_ptr<grpc::Channel> channel = NewChannel(
              o.target, o.creds->For(o.kind == HandshakeKind::kPass ? host : Credentials::kNoHost),
              distinct.fetch_add(1, std::memory_order_relaxed));
          std::unique_ptr<v1::UpdaterService::Stub> stub = v1::UpdaterService::NewStub(channel);
          s = o.kind == HandshakeKind::kPass ? UpdaterPoll(*stub, o, host) : TargetCall(*stub, o, host);
        }  // The channel goes, and its connection with it.
        const Clock::time_point now = Clock::now();
        if (now < end) {
          ++r.codes[std::min<int>(static_cast<int>(s.error_code()), 16)];
          if (s.ok()) {
            ++r.ok;
            r.latencies_us.push_back(
                static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(now - t0).count()));
          }
        }
        host += n;
        if (host >= hosts) host = t;
      }
    });
  }
  for (auto& t : threads) t.join();
  PhaseResult total;
  for (PhaseResult& r : per) Accumulate(total, std::move(r));
  total.elapsed_s = Seconds(o.window);
  return total;
}

// Open file descriptors of a process (its connections among them); -1 when
// unreadable. Shows that the handshake phases leave no connection behind.
int64_t OpenFds(int pid) {
  if (pid <= 0) return -1;
  std::error_code ec;
  int64_t n = 0;
  for (std::filesystem::directory_iterator it(absl::StrCat("/proc/", pid, "/fd"), ec), last; !ec && it != last;
       it.increment(ec)) {
    ++n;
  }
  return ec ? -1 : n;
}

// Where the machine's CPU went during a phase, to tell a saturated machine
// (or a noisy neighbour) from a slow coordinator.
CpuMeter MakeCpuMeter(int coordinator_pid, int postgres_pid) {
  return CpuMeter("bench", {{"coordinator", coordinator_pid, false}, {"postgres", postgres_pid, true}});
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Load generator for drover-coordinator: populates N simulated hosts, then measures\n"
      "ReportStatus throughput and latency (heartbeats of a steady fleet, changes of a rollout storm)\n"
      "against a Health/Check no-op baseline, then what updater polls over new connections (a TLS\n"
      "handshake each with --tls_ca_file) cost the coordinator and how many a second it sustains.\n"
      "Usage: drover-bench --target=HOST:PORT [--hosts=N] [flags]\n"
      "       drover-bench --target=HOST:PORT --tls_ca_file=F --host_ca_cert_file=F --host_ca_key_file=F\n"
      "                    --fleet=NAME --operator_token_file=F [--hosts=N<=5000] [flags]");
  // As in the coordinator: Debian's abseil checks every Mutex acquisition,
  // gRPC's included, for lock-order cycles; the load generator spent ~5% of
  // its CPU there, time taken from the processes it measures.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::ParseCommandLine(argc, argv);
  const std::string target = absl::GetFlag(FLAGS_target);
  const int64_t hosts = absl::GetFlag(FLAGS_hosts);
  int nchannels = absl::GetFlag(FLAGS_channels);
  const int nthreads = absl::GetFlag(FLAGS_threads);
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  const int duration = absl::GetFlag(FLAGS_duration);
  const int noop_duration = absl::GetFlag(FLAGS_noop_duration);
  const std::string channel_id = absl::GetFlag(FLAGS_channel_id);
  const std::string channel_name = drover::wire::ChannelName(channel_id);
  const auto rpc_timeout = std::chrono::milliseconds(std::max(1, absl::GetFlag(FLAGS_rpc_timeout_ms)));
  if (hosts < 1 || hosts > 9999999) return Fail(absl::StrCat("--hosts=", hosts, " must be in 1..9999999"));
  if (nchannels < 1) return Fail(absl::StrCat("--channels=", nchannels, " must be at least 1"));
  if (nthreads < 1 || nthreads > 64) return Fail(absl::StrCat("--threads=", nthreads, " must be in 1..64"));
  if (concurrency < nthreads) {
    return Fail(absl::StrCat("--concurrency=", concurrency, " must be at least --threads (", nthreads, ")"));
  }
  const double outcome_fraction = absl::GetFlag(FLAGS_outcome_fraction);
  if (!(outcome_fraction >= 0 && outcome_fraction <= 1)) {
    return Fail(absl::StrCat("--outcome_fraction=", outcome_fraction, " must be in 0..1"));
  }
  if (duration < 1) return Fail(absl::StrCat("--duration=", duration, " must be at least 1 second"));
  const int rounds = absl::GetFlag(FLAGS_rounds);
  const int warmup_ms = absl::GetFlag(FLAGS_warmup_ms);
  if (warmup_ms < 0 || warmup_ms > 600000) {
    return Fail(absl::StrCat("--warmup_ms=", warmup_ms, " must be in 0..600000"));
  }
  // A turn shorter than this would mostly measure the ramp-up.
  constexpr int kMinTurnMs = 200;
  if (rounds < 1 || duration * 1000 / rounds < kMinTurnMs) {
    return Fail(absl::StrCat("--rounds=", rounds, " must be at least 1 and leave each turn of --duration=", duration,
                             " s at least ", kMinTurnMs, " ms"));
  }
  if (noop_duration > 0 && noop_duration * 1000 / rounds < kMinTurnMs) {
    return Fail(absl::StrCat("--rounds=", rounds, " must leave each turn of --noop_duration=", noop_duration,
                             " s at least ", kMinTurnMs, " ms"));
  }
  const int handshake_duration = absl::GetFlag(FLAGS_handshake_duration);
  // Each handshake thread owns its own hosts (their report sequences): no
  // more threads than hosts.
  const int handshake_concurrency =
      static_cast<int>(std::min<int64_t>(absl::GetFlag(FLAGS_handshake_concurrency), hosts));
  if (handshake_duration < 0) {
    return Fail(absl::StrCat("--handshake_duration=", handshake_duration, " must be 0 (skip) or more seconds"));
  }
  if (absl::GetFlag(FLAGS_handshake_concurrency) < 1 || absl::GetFlag(FLAGS_handshake_concurrency) > 256) {
    return Fail(absl::StrCat("--handshake_concurrency=", absl::GetFlag(FLAGS_handshake_concurrency),
                             " must be in 1..256"));
  }

  // TLS: the hosts' certificates, one connection each.
  const bool tls = !absl::GetFlag(FLAGS_tls_ca_file).empty();
  if (!tls && (!absl::GetFlag(FLAGS_host_ca_cert_file).empty() || !absl::GetFlag(FLAGS_host_ca_key_file).empty())) {
    return Fail("--host_ca_cert_file and --host_ca_key_file mint certificates for TLS: they need --tls_ca_file");
  }
  const bool per_host = tls || absl::GetFlag(FLAGS_one_connection_per_host);
  if (per_host && hosts > kMaxConnections) {
    return Fail(absl::StrCat("--hosts=", hosts, ": with ", tls ? "TLS" : "--one_connection_per_host",
                             " every simulated host has its own connection (as real updaters do), and at most ",
                             kMaxConnections, " are made; for more hosts use plaintext over --channels shared "
                             "connections"));
  }
  if (per_host) {
    // A connection is a descriptor here and one in the coordinator; the
    // handshake phases hold a few more while old ones close.
    const rlim_t need = static_cast<rlim_t>(hosts + 2 * handshake_concurrency + 64);
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < need) {
      lim.rlim_cur = std::min(need, lim.rlim_max);
      setrlimit(RLIMIT_NOFILE, &lim);
      if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur < need) {
        return Fail(absl::StrCat("--hosts=", hosts, " needs ", need, " open files, above this process's limit of ",
                                 lim.rlim_cur, " (hard ", lim.rlim_max,
                                 "): raise it (ulimit -n) for the bench and the coordinator, or use fewer hosts"));
      }
    }
  }
  if (per_host) nchannels = static_cast<int>(hosts);
  std::string token;
  if (!absl::GetFlag(FLAGS_operator_token_file).empty()) {
    absl::StatusOr<std::string> t = drover::bench::ReadTokenFile(absl::GetFlag(FLAGS_operator_token_file));
    if (!t.ok()) return Fail(std::string(t.status().message()));
    token = *std::move(t);
  } else if (tls) {
    return Fail("--operator_token_file is required with TLS: the bench creates its channel (an admin call)");
  }
  drover::bench::BenchTls bench_tls;
  Credentials creds;
  if (tls) {
    const Clock::time_point t0 = Clock::now();
    absl::StatusOr<drover::bench::BenchTls> made = drover::bench::MakeBenchTls({
        .server_ca_file = absl::GetFlag(FLAGS_tls_ca_file),
        .host_ca_cert_file = absl::GetFlag(FLAGS_host_ca_cert_file),
        .host_ca_key_file = absl::GetFlag(FLAGS_host_ca_key_file),
        .fleet = absl::GetFlag(FLAGS_fleet),
        .channel_id = channel_id,
        .host_prefix = absl::GetFlag(FLAGS_host_prefix),
        .hosts = hosts,
    });
    if (!made.ok()) return Fail(std::string(made.status().message()));
    bench_tls = *std::move(made);
    creds.tls = &bench_tls;
    std::printf("tls: %lld host certificates minted in %.1f s\n", static_cast<long long>(hosts),
                Seconds(Clock::now() - t0));
    std::fflush(stdout);
  }

  // Reachability first: a benchmark against nothing should say so at once.
  // All connections are started together; with TLS each is a handshake
  // (the bench's side costs it several ms of CPU), so the deadline grows
  // with their number: 2,001 took 16-29 s on a busy 2-core machine.
  const Clock::time_point connect_start = Clock::now();
  Connections conns = Connect(target, nchannels, per_host, creds, token);
  for (auto& c : conns.channels) c->GetState(/*try_to_connect=*/true);
  conns.op_channel->GetState(true);
  const int connect_timeout_s = absl::GetFlag(FLAGS_connect_timeout) + nchannels / 40;
  const auto connect_deadline = std::chrono::system_clock::now() + std::chrono::seconds(connect_timeout_s);
  for (int i = 0; i <= nchannels; ++i) {
    grpc::Channel& c = i < nchannels ? *conns.channels[i] : *conns.op_channel;
    if (!c.WaitForConnected(connect_deadline)) {
      // Exits without tearing down channels still trying to connect: their
      // teardown raced gRPC's own threads and crashed (exit 139) under load.
      Fail(absl::StrCat("cannot connect to the coordinator at ", target, " within ", connect_timeout_s,
                               " s (connection ", i, " of ", nchannels + 1, tls ? ", TLS" : ", plaintext",
                               "): is it running, is --target right", tls ? ", and does --tls_ca_file match?" : "?"));
      std::fflush(nullptr);
      std::_Exit(1);
    }
  }
  std::printf("connections: %d %s in %.1f s\n", nchannels + 1, tls ? "TLS" : "plaintext",
              Seconds(Clock::now() - connect_start));

  {
    v1::CreateChannelRequest req;
    req.set_channel_id(channel_id);
    req.set_control_plane_version(kVersions[kTarget]);
    req.set_target_version(kVersions[kTarget]);
    v1::Channel resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + rpc_timeout);
    conns.Authorize(ctx);
    grpc::Status s = conns.op->CreateChannel(&ctx, req, &resp);
    if (!s.ok() && s.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
      return Fail(absl::StrCat("CreateChannel ", channel_id, ": ", CodeName(s.error_code()), ": ", s.error_message()));
    }
  }

  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < nthreads; ++i) {
    workers.push_back(std::make_unique<Worker>());
    workers[i]->index = i;
    workers[i]->rng.seed(absl::GetFlag(FLAGS_seed) * 1000003 + i);
    // Spread the channels over the threads; with fewer channels than
    // threads, threads share them.
    for (int c = i % nchannels; c < nchannels; c += nthreads) workers[i]->channel_indexes.push_back(c);
  }
  std::printf(
      "drover-bench: target=%s hosts=%lld tls=%d channels=%d%s threads=%d concurrency=%d duration=%ds noop=%ds "
      "rounds=%d handshakes=%ds x2 at %d\n",
      target.c_str(), static_cast<long long>(hosts), tls ? 1 : 0, nchannels, per_host ? " (one per host)" : "",
      nthreads, concurrency, duration, noop_duration, rounds, handshake_duration, handshake_concurrency);
  std::fflush(stdout);

  Fleet fleet(absl::GetFlag(FLAGS_host_prefix), hosts);

  // Phase 1: populate.
  const int pid = absl::GetFlag(FLAGS_coordinator_pid);
  const int pg_pid = absl::GetFlag(FLAGS_postgres_pid);
  CpuMeter populate_cpu = MakeCpuMeter(pid, pg_pid);
  populate_cpu.Start();
  PopulateWorkload populate(&conns, &fleet, channel_name, nthreads, std::max(1, absl::GetFlag(FLAGS_populate_retries)));
  PhaseResult pop = RunPhase(populate, workers,
                             {.name = "populate",
                              .window = std::chrono::seconds(absl::GetFlag(FLAGS_populate_timeout)),
                              .until_window = false,
                              .concurrency = concurrency,
                              .rpc_timeout = rpc_timeout});
  populate_cpu.Stop();
  std::printf("populate: %lld hosts in %.1f s = %.0f reports/s; failed hosts %lld; not acknowledged %lld; errors: %s\n",
              static_cast<long long>(pop.ok), pop.elapsed_s, pop.ok / pop.elapsed_s,
              static_cast<long long>(populate.failed()), static_cast<long long>(populate.not_acknowledged()),
              ErrorSummary(pop.codes).c_str());
  std::printf("populate %s\n", populate_cpu.Summary().c_str());
  std::fflush(stdout);
  if (pop.timed_out) {
    return Fail(absl::StrCat("populate did not finish within --populate_timeout=", absl::GetFlag(FLAGS_populate_timeout),
                             " s (", pop.ok, " of ", hosts, " hosts reported)"));
  }
  if (pop.ok == 0) return Fail("populate: no report succeeded; see the errors above");

  // Phases 2-4, taking turns: the no-op baseline, the steady fleet's
  // heartbeats and the rollout storm's changes. The machine's speed drifts
  // over a run; alternating lets every phase see the same drift, so their
  // ratios compare like with like.
  NoopWorkload noop(&conns);
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  ReportWorkload heartbeats(ReportKind::kHeartbeat, &conns, &fleet, channel_name, nthreads, 0, seed);
  ReportWorkload changes(ReportKind::kChange, &conns, &fleet, channel_name, nthreads,
                         outcome_fraction, seed + 1);
  CpuMeter noop_cpu = MakeCpuMeter(pid, pg_pid), heartbeat_cpu = MakeCpuMeter(pid, pg_pid),
           change_cpu = MakeCpuMeter(pid, pg_pid);
  PhaseResult nop, hb, chg;
  // One turn of a phase: its share of the phase's seconds, added to its totals.
  // The warm-up is what makes the turns fair to each other: a heartbeat is
  // answered at once and written by the liveness flush up to one flush
  // interval later. Without it the flush of a heartbeat turn ran in the
  // change turn after it and was billed to changes (at 200,000 hosts about
  // 25 us of PostgreSQL CPU per heartbeat moved from one phase to the other).
  // With it each measured window holds the flushes of the heartbeats
  // answered just before it, the steady state of a fleet that heartbeats
  // all the time.
  const auto warmup = std::chrono::milliseconds(warmup_ms);
  auto take_turn = [&](auto& workload, const char* name, int seconds, CpuMeter& meter, PhaseResult& total) {
    if (warmup_ms > 0) {
      const std::string warm_name = absl::StrCat(name, " (warm-up)");
      RunPhase(workload, workers,
               {.name = warm_name.c_str(), .window = warmup, .concurrency = concurrency, .rpc_timeout = rpc_timeout});
    }
    meter.Start();
    Accumulate(total, RunPhase(workload, workers,
                               {.name = name,
                                .window = std::chrono::milliseconds(seconds * 1000 / rounds),
                                .concurrency = concurrency,
                                .rpc_timeout = rpc_timeout,
                                .record_latency = true}));
    meter.Stop();
  };
  for (int round = 0; round < rounds; ++round) {
    if (noop_duration > 0) take_turn(noop, "noop", noop_duration, noop_cpu, nop);
    take_turn(heartbeats, "heartbeat", duration, heartbeat_cpu, hb);
    take_turn(changes, "change", duration, change_cpu, chg);
  }
  double noop_rate = 0;
  if (noop_duration > 0) {
    noop_rate = nop.ok / nop.elapsed_s;
    std::printf("noop (Health/Check): %lld ok in %.1f s = %.0f rpc/s; p50 %.2f ms, p99 %.2f ms; errors: %s\n",
                static_cast<long long>(nop.ok), nop.elapsed_s, noop_rate, PercentileMs(nop.latencies_us, 0.50),
                PercentileMs(nop.latencies_us, 0.99), ErrorSummary(nop.codes).c_str());
    std::printf("noop %s\n", noop_cpu.Summary().c_str());
    std::printf("noop %s\n", noop_cpu.PerCall(nop.ok).c_str());
  }
  // One summary per report phase; returns its rate.
  auto report_summary = [&](const char* name, const char* what, PhaseResult& r, const ReportWorkload& w,
                            const CpuMeter& meter) {
    const double rate = r.ok / r.elapsed_s;
    const auto disp = w.dispositions();
    std::printf(
        "%s (%s): %lld ok in %.1f s = %.0f reports/s (%.3f of the no-op); p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, "
        "max %.2f ms; accepted %lld, duplicate %lld, out_of_order %lld, too_far_ahead %lld; sent %lld (%lld naming "
        "their previous report); outcomes sent %lld; errors: %s\n",
        name, what, static_cast<long long>(r.ok), r.elapsed_s, rate, noop_rate > 0 ? rate / noop_rate : 0.0,
        PercentileMs(r.latencies_us, 0.50), PercentileMs(r.latencies_us, 0.99), PercentileMs(r.latencies_us, 0.999),
        PercentileMs(r.latencies_us, 1.0), static_cast<long long>(disp[1]), static_cast<long long>(disp[2]),
        static_cast<long long>(disp[3]), static_cast<long long>(disp[4]), static_cast<long long>(w.sent()),
        static_cast<long long>(w.chained()),
        static_cast<long long>(w.outcomes()), ErrorSummary(r.codes).c_str());
    std::printf("%s %s\n", name, meter.Summary().c_str());
    std::printf("%s %s\n", name, meter.PerCall(r.ok).c_str());
    return rate;
  };
  const double heartbeat_rate =
      report_summary("heartbeat", "steady fleet: same state, previous_sequence set", hb, heartbeats, heartbeat_cpu);
  const double change_rate = report_summary("change", "rollout storm: 15.1.0 <-> 15.2.0, some outcomes", chg, changes,
                                            change_cpu);
  // The last line's latency: every report of both phases.
  std::vector<uint32_t> report_latencies_us = hb.latencies_us;
  report_latencies_us.insert(report_latencies_us.end(), chg.latencies_us.begin(), chg.latencies_us.end());
  const double p50 = PercentileMs(report_latencies_us, 0.50);
  const double p99 = PercentileMs(report_latencies_us, 0.99);
  std::printf("reports (heartbeat and change together): p50 %.2f ms, p99 %.2f ms\n", p50, p99);
  std::fflush(stdout);

  // Rollout status: what an operator dashboard would ask.
  std::vector<double> status_ms;
  int64_t total_agents = -1;
  for (int i = 0; i < std::max(1, absl::GetFlag(FLAGS_status_calls)); ++i) {
    v1::GetRolloutStatusRequest req;
    req.set_name(channel_name);
    v1::RolloutStatus resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    conns.Authorize(ctx);
    const Clock::time_point t0 = Clock::now();
    grpc::Status s = conns.op->GetRolloutStatus(&ctx, req, &resp);
    const double ms = Seconds(Clock::now() - t0) * 1000;
    if (!s.ok()) {
      std::fprintf(stderr, "drover-bench: warning: GetRolloutStatus %s: %s: %s\n", channel_name.c_str(),
                   CodeName(s.error_code()).c_str(), s.error_message().c_str());
      continue;
    }
    status_ms.push_back(ms);
    total_agents = resp.total_agents();
    if (i == 0) {
      std::printf("status: total_agents %lld, on_target %lld (%.1f%%), healthy %lld, unhealthy %lld, "
                  "out_of_policy %lld, succeeded_since_target %lld\n",
                  static_cast<long long>(resp.total_agents()), static_cast<long long>(resp.on_target()),
                  resp.percent_on_target(), static_cast<long long>(resp.healthy()),
                  static_cast<long long>(resp.unhealthy()), static_cast<long long>(resp.out_of_policy()),
                  static_cast<long long>(resp.succeeded_since_target()));
    }
  }
  double status_median = 0;
  if (!status_ms.empty()) {
    std::sort(status_ms.begin(), status_ms.end());
    status_median = status_ms[status_ms.size() / 2];
    std::printf("status: %zu calls, ms: %s\n", status_ms.size(),
                absl::StrJoin(status_ms, " ", [](std::string* out, double v) { absl::StrAppendFormat(out, "%.1f", v); })
                    .c_str());
  }
  if (total_agents != hosts) {
    std::fprintf(stderr, "drover-bench: warning: channel %s reports total_agents=%lld, expected --hosts=%lld\n",
                 channel_name.c_str(), static_cast<long long>(total_agents), static_cast<long long>(hosts));
  }

  // RSS before the handshake phases: what the long-lived connections cost.
  const double rss = ResidentMib(pid);
  if (pid > 0) std::printf("coordinator: VmRSS %.1f MiB, VmHWM %.1f MiB\n", rss, ResidentMib(pid, "VmHWM:"));
  std::fflush(stdout);

  // Phases 4 and 5: new connections, as the updater's pass opens one per
  // poll. The coordinator's CPU per handshake bounds how many it can take on
  // this machine's cores; the measured rate is lower, since the bench pays
  // the client side of each handshake on the same cores.
  struct HandshakeFigures {
    double per_s = 0, coordinator_cpu_ms = 0;
  };
  auto handshakes = [&](HandshakeKind kind) -> HandshakeFigures {
    const char* name = kind == HandshakeKind::kTarget ? "handshakes (new connection, GetTarget)"
                                                      : "handshakes (new connection, pass: one Sync)";
    const char* auth = !tls ? "plaintext" : kind == HandshakeKind::kTarget ? "server-auth TLS" : "mTLS";
    const int64_t fds_before = OpenFds(pid);
    CpuMeter meter = MakeCpuMeter(pid, pg_pid);
    meter.Start();
    PhaseResult r = RunHandshakes({.kind = kind,
                                   .target = target,
                                   .creds = &creds,
                                   .fleet = &fleet,
                                   .channel_name = channel_name,
                                   .concurrency = handshake_concurrency,
                                   .window = std::chrono::seconds(handshake_duration),
                                   .rpc_timeout = rpc_timeout});
    meter.Stop();
    HandshakeFigures f;
    f.per_s = r.ok / r.elapsed_s;
    f.coordinator_cpu_ms = r.ok > 0 && pid > 0 ? meter.CpuSeconds(0) * 1000 / r.ok : 0;
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    std::printf("%s, %s: %lld ok in %.1f s = %.0f/s; p50 %.2f ms, p99 %.2f ms; errors: %s\n", name, auth,
                static_cast<long long>(r.ok), r.elapsed_s, f.per_s, PercentileMs(r.latencies_us, 0.50),
                PercentileMs(r.latencies_us, 0.99), ErrorSummary(r.codes).c_str());
    std::printf("handshakes %s\n", meter.Summary().c_str());
    std::printf("handshakes %s\n", meter.PerCall(r.ok).c_str());
    if (f.coordinator_cpu_ms > 0) {
      std::printf("handshakes: coordinator %.3f CPU-ms each: at most %.0f/s on all %u cores of this machine\n",
                  f.coordinator_cpu_ms, cores * 1000 / f.coordinator_cpu_ms, cores);
    }
    if (pid > 0) {
      std::printf("handshakes: coordinator open files %lld before, %lld after\n", static_cast<long long>(fds_before),
                  static_cast<long long>(OpenFds(pid)));
    }
    std::fflush(stdout);
    return f;
  };
  HandshakeFigures target_hs, pass_hs;
  if (handshake_duration > 0) {
    target_hs = handshakes(HandshakeKind::kTarget);
    pass_hs = handshakes(HandshakeKind::kPass);
    // The real connection pattern: every poll of every updater on a new
    // connection. A fleet polling every I seconds makes hosts / I polls a
    // second, so the rate sustained is the fleet size over I.
    const char* mode = tls ? "mTLS" : "plaintext";
    std::printf("polls (updater pattern: new %s connection, one Sync): %.0f polls/s measured; "
                "sustains %.0f hosts at a 60 s poll interval, %.0f at 5 min\n",
                mode, pass_hs.per_s, pass_hs.per_s * 60, pass_hs.per_s * 300);
    if (pass_hs.coordinator_cpu_ms > 0) {
      // Without the bench on the same cores: what the coordinator's CPU per
      // poll alone allows on all of this machine's cores.
      const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
      const double bound = cores * 1000 / pass_hs.coordinator_cpu_ms;
      std::printf("polls (%s): coordinator %.3f CPU-ms each: at most %.0f polls/s on %u cores, %.0f hosts at 60 s, "
                  "%.0f at 5 min\n",
                  mode, pass_hs.coordinator_cpu_ms, bound, cores, bound * 60, bound * 300);
    }
    std::fflush(stdout);
  }

  // Extra keys after the ten the issue fixes: the connection shape and the
  // new-connection phases.
  std::printf("hosts=%lld heartbeat_per_s=%.0f change_per_s=%.0f noop_rpc_per_s=%.0f heartbeat_ratio=%.3f "
              "change_ratio=%.3f p50_ms=%.2f p99_ms=%.2f status_ms=%.1f coordinator_rss_mib=%.1f tls=%d "
              "connections=%d handshakes_per_s=%.0f coordinator_cpu_ms_per_handshake=%.3f "
              "target_handshakes_per_s=%.0f target_coordinator_cpu_ms_per_handshake=%.3f\n",
              static_cast<long long>(hosts), heartbeat_rate, change_rate, noop_rate,
              noop_rate > 0 ? heartbeat_rate / noop_rate : 0.0, noop_rate > 0 ? change_rate / noop_rate : 0.0, p50,
              p99, status_median, rss, tls ? 1 : 0, nchannels, pass_hs.per_s, pass_hs.coordinator_cpu_ms,
              target_hs.per_s, target_hs.coordinator_cpu_ms);
  std::fflush(stdout);

  if (hb.ok == 0) return Fail("heartbeat: no report succeeded; see the errors above");
  if (chg.ok == 0) return Fail("change: no report succeeded; see the errors above");
  for (auto& w : workers) {
    w->cq.Shutdown();
    void* tag;
    bool ok;
    while (w->cq.Next(&tag, &ok)) {
    }
  }
  return 0;
}
