// drover-push-watchers: N simulated updaters, each holding one long poll on
// the coordinator's watch endpoint (one TCP connection each, keep-alive),
// for bench/push.sh. Commands on stdin, one answer line on stdout each:
//
//   connected            -> "connected n=N errors=E s=S" once every watcher
//                           has (re)connected and is waiting (S: seconds
//                           since the first one lost its connection, or
//                           since start)
//   change <unix_ns>     -> "push n=N p50_ms=.. p99_ms=.. max_ms=.." once
//                           every watcher was told of a change since the
//                           previous push line (or 15 s passed: n says how
//                           many were); latencies from <unix_ns>, the
//                           instant the change call returned
//
// A watcher (re)connects with an empty tag (the answer is the current tag
// at once: from then on it waits), then polls with the tag it holds; a 200
// is a push, a 204 a hold that expired. Errors are HTTP statuses other than
// 200/204 (refused connections during a restart are not: they back off,
// jittered, and retry).
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "bench/percentile.h"

ABSL_FLAG(std::string, watch, "", "The coordinator's watch endpoint, host:port");
ABSL_FLAG(std::string, channel, "push", "Channel id the watchers are in");
ABSL_FLAG(int, watchers, 10000, "Simulated updaters, one connection each");
ABSL_FLAG(std::string, host_prefix, "push-", "Host ids are this plus a number");

namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Fleet;

struct Watcher {
  Fleet* fleet = nullptr;
  int index = 0;
  evhttp_connection* conn = nullptr;
  std::string tag;      // empty: (re)connecting
  bool waiting = false;  // holds a poll with a known tag
  int failures = 0;
  int64_t pushed_at = 0;  // last 200 with a new tag while waiting
  event* retry = nullptr;
};

struct Fleet {
  event_base* base = nullptr;
  std::string host;
  int port = 0;
  std::vector<std::unique_ptr<Watcher>> watchers;
  int waiting = 0;
  int64_t errors = 0;
  int64_t first_lost_ns = 0;  // since the last `connected`
  std::mt19937_64 rng{std::random_device{}()};
  // Pending command.
  enum class Wait { kNone, kConnected, kPush } wait = Wait::kNone;
  int64_t change_ns = 0;
  int64_t wait_started_ns = 0;
  std::vector<double> all_ms;  // every push latency so far
};

void Poll(Watcher* w);

void Lost(Watcher* w, bool error) {
  Fleet* f = w->fleet;
  if (error) ++f->errors;
  if (w->waiting) --f->waiting;
  w->waiting = false;
  w->tag.clear();
  if (f->first_lost_ns == 0) f->first_lost_ns = NowNs();
  // Jittered exponential backoff: 100 ms doubling to 2 s, times [0.5, 1].
  const int64_t base_ms = std::min<int64_t>(2000, int64_t{100} << std::min(w->failures, 5));
  ++w->failures;
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  const int64_t ms = static_cast<int64_t>(base_ms * jitter(f->rng));
  timeval tv{ms / 1000, static_cast<suseconds_t>((ms % 1000) * 1000)};
  evtimer_add(w->retry, &tv);
}

void OnAnswer(evhttp_request* req, void* arg) {
  auto* w = static_cast<Watcher*>(arg);
  Fleet* f = w->fleet;
  const int code = req == nullptr ? 0 : evhttp_request_get_response_code(req);
  if (code == 200) {
    evbuffer* body = evhttp_request_get_input_buffer(req);
    std::string text(evbuffer_get_length(body), '\0');
    evbuffer_copyout(body, text.data(), text.size());
    absl::string_view t = absl::StripAsciiWhitespace(text);
    if (!absl::ConsumePrefix(&t, "tag=") || t.empty()) {
      ++f->errors;
      return Lost(w, false);
    }
    if (w->waiting) {
      w->pushed_at = NowNs();
    } else {
      w->waiting = true;
      ++f->waiting;
    }
    w->tag = std::string(t);
    w->failures = 0;
  } else if (code == 204) {
    w->failures = 0;
  } else {
    // 0: the connection failed or closed (a restart); else an HTTP error.
    return Lost(w, code != 0);
  }
  Poll(w);
}

void Poll(Watcher* w) {
  Fleet* f = w->fleet;
  evhttp_request* req = evhttp_request_new(&OnAnswer, w);
  evhttp_add_header(evhttp_request_get_output_headers(req), "Host", f->host.c_str());
  const std::string uri = absl::StrCat("/v1/watch?channel=", absl::GetFlag(FLAGS_channel), "&host_id=",
                                       absl::GetFlag(FLAGS_host_prefix), w->index, "&group=&tag=", w->tag);
  if (evhttp_make_request(w->conn, req, EVHTTP_REQ_GET, uri.c_str()) != 0) Lost(w, false);
}

void OnRetry(evutil_socket_t, short, void* arg) { Poll(static_cast<Watcher*>(arg)); }

// Answers the pending command once its condition holds (or times out).
void OnCheck(evutil_socket_t, short, void* arg) {
  auto* f = static_cast<Fleet*>(arg);
  const int n = static_cast<int>(f->watchers.size());
  if (f->wait == Fleet::Wait::kConnected && f->waiting == n) {
    const int64_t from = f->first_lost_ns != 0 ? f->first_lost_ns : f->wait_started_ns;
    const int64_t now = NowNs();
    std::printf("connected n=%d errors=%lld s=%.2f at_ns=%lld\n", f->waiting, static_cast<long long>(f->errors),
                (now - from) / 1e9, static_cast<long long>(now));
    std::fflush(stdout);
    f->first_lost_ns = 0;
    f->errors = 0;
    f->wait = Fleet::Wait::kNone;
  } else if (f->wait == Fleet::Wait::kPush) {
    std::vector<double> ms;
    for (const auto& w : f->watchers) {
      if (w->pushed_at != 0) {
        ms.push_back(std::max<double>(0, (w->pushed_at - f->change_ns) / 1e6));
      }
    }
    if (static_cast<int>(ms.size()) == n || NowNs() - f->wait_started_ns > 15'000'000'000LL) {
      std::sort(ms.begin(), ms.end());
      f->all_ms.insert(f->all_ms.end(), ms.begin(), ms.end());
      std::vector<double> all = f->all_ms;
      std::printf("push n=%zu p50_ms=%.1f p99_ms=%.1f max_ms=%.1f errors=%lld all_p50_ms=%.1f all_p99_ms=%.1f\n",
                  ms.size(), drover::bench::Percentile(ms, 0.50), drover::bench::Percentile(ms, 0.99),
                  ms.empty() ? 0.0 : ms.back(), static_cast<long long>(f->errors),
                  drover::bench::Percentile(all, 0.50), drover::bench::Percentile(all, 0.99));
      std::fflush(stdout);
      f->wait = Fleet::Wait::kNone;
      // Pushes from here on belong to the next change.
      for (auto& w : f->watchers) w->pushed_at = 0;
    }
  }
}

void OnStdin(evutil_socket_t fd, short, void* arg) {
  auto* f = static_cast<Fleet*>(arg);
  char buf[256];
  const ssize_t n = read(fd, buf, sizeof(buf) - 1);
  if (n <= 0) {
    event_base_loopbreak(f->base);
    return;
  }
  for (absl::string_view line : absl::StrSplit(absl::string_view(buf, n), '\n', absl::SkipEmpty())) {
    std::vector<std::string> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (words.empty()) continue;
    f->wait_started_ns = NowNs();
    if (words[0] == "connected") {
      f->wait = Fleet::Wait::kConnected;
    } else if (words[0] == "change" && words.size() == 2 && absl::SimpleAtoi(words[1], &f->change_ns)) {
      f->wait = Fleet::Wait::kPush;
    } else {
      std::printf("error: unknown command \"%s\"\n", std::string(line).c_str());
      std::fflush(stdout);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string watch = absl::GetFlag(FLAGS_watch);
  const int n = absl::GetFlag(FLAGS_watchers);
  Fleet fleet;
  const size_t colon = watch.rfind(':');
  if (colon == std::string::npos || !absl::SimpleAtoi(watch.substr(colon + 1), &fleet.port) || n < 1) {
    std::fprintf(stderr, "usage: drover-push-watchers --watch=HOST:PORT --watchers=N (got --watch=\"%s\")\n",
                 watch.c_str());
    return 2;
  }
  fleet.host = watch.substr(0, colon);
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < static_cast<rlim_t>(n) + 64) {
    std::fprintf(stderr, "drover-push-watchers: %d watchers need %d descriptors; the limit is %llu\n", n, n + 64,
                 static_cast<unsigned long long>(lim.rlim_cur));
    return 2;
  }
  fleet.base = event_base_new();
  for (int i = 0; i < n; ++i) {
    auto w = std::make_unique<Watcher>();
    w->fleet = &fleet;
    w->index = i;
    w->conn = evhttp_connection_base_new(fleet.base, nullptr, fleet.host.c_str(), static_cast<uint16_t>(fleet.port));
    evhttp_connection_set_timeout(w->conn, 120);
    w->retry = evtimer_new(fleet.base, &OnRetry, w.get());
    fleet.watchers.push_back(std::move(w));
  }
  // Spread the first connections over ~1 s, as a fleet starting up would.
  std::uniform_int_distribution<int> spread(0, 999);
  for (auto& w : fleet.watchers) {
    const int ms = spread(fleet.rng);
    timeval tv{0, ms * 1000};
    evtimer_add(w->retry, &tv);
  }
  event* in = event_new(fleet.base, STDIN_FILENO, EV_READ | EV_PERSIST, &OnStdin, &fleet);
  event_add(in, nullptr);
  event* check = event_new(fleet.base, -1, EV_PERSIST, &OnCheck, &fleet);
  timeval tick{0, 20'000};
  event_add(check, &tick);
  fleet.wait_started_ns = NowNs();
  event_base_dispatch(fleet.base);
  return 0;
}
