#include "tests/support/test_env.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>

#include <curl/curl.h>
#include <pqxx/pqxx>

#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/subprocess.h"

namespace drover::testing {
namespace {

std::string SourceDir() { return DROVER_SOURCE_DIR; }

std::string MakeTempDir(const std::string& prefix) {
  std::string tmpl = absl::StrCat("/tmp/", prefix, "XXXXXX");
  char* dir = mkdtemp(tmpl.data());
  return dir == nullptr ? "" : std::string(dir);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string UniqueName(const std::string& prefix) {
  static std::mutex mu;
  static std::mt19937_64 rng(std::random_device{}());
  std::lock_guard<std::mutex> lock(mu);
  return absl::StrCat(prefix, "_", getpid(), "_", rng() % 1000000000);
}

// URL with its database name replaced.
std::string WithDatabase(const std::string& url, const std::string& db) {
  std::string base = url.substr(0, url.find('?'));
  return base.substr(0, base.rfind('/') + 1) + db;
}

}  // namespace

int FreePort() {
  // Drawn below the kernel's ephemeral range (32768-60999): a port found
  // free there can be taken by any outgoing connection before the process
  // it is meant for binds it.
  static std::mt19937 rng{std::random_device{}()};
  std::uniform_int_distribution<int> pick(20000, 31999);
  int port = 0;
  for (int attempt = 0; attempt < 100 && port == 0; ++attempt) {
    const int candidate = pick(rng);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(candidate));
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) port = candidate;
    close(fd);
  }
  return port;
}

CommandResult RunCommand(const std::vector<std::string>& argv, absl::Duration timeout) {
  // The project's own runner (common/subprocess.h), so tests run commands
  // exactly as the updater does.
  CommandResult result;
  absl::StatusOr<CommandOutput> out = drover::RunCommand(argv, {.timeout = timeout});
  if (!out.ok()) {
    result.output = std::string(out.status().message());
    return result;
  }
  result.exit_code = out->exit_code;
  result.output = out->output + (out->timed_out ? "\n[timed out]" : "");
  return result;
}

bool PollUntil(absl::Duration timeout, const std::function<bool()>& ready) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Duration pause = absl::Milliseconds(1);
  for (;;) {
    if (ready()) return true;
    if (absl::Now() > deadline) return false;
    absl::SleepFor(pause);  // pacing between checks of a condition, bounded by the deadline
    pause = std::min(pause * 2, absl::Milliseconds(50));
  }
}

// --- PostgreSQL ------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<TestPostgres>> TestPostgres::StartPrivate() {
  std::string dir = MakeTempDir("drover-pg-");
  if (dir.empty()) return absl::InternalError("mkdtemp failed");
  int port = FreePort();
  const std::string script = SourceDir() + "/deploy/lib/pg.sh";
  for (const std::vector<std::string>& cmd :
       {std::vector<std::string>{script, "init", dir}, {script, "start", dir, absl::StrCat(port)}}) {
    CommandResult r = RunCommand(cmd, absl::Seconds(120));
    if (r.exit_code != 0) return absl::UnavailableError(absl::StrCat(cmd[1], " failed: ", r.output));
  }
  return std::unique_ptr<TestPostgres>(new TestPostgres(dir, port));
}

TestPostgres::~TestPostgres() {
  Stop("immediate").IgnoreError();
  RunCommand({"rm", "-rf", dir_});
}

std::string TestPostgres::Url(const std::string& db) const {
  CommandResult r = RunCommand({SourceDir() + "/deploy/lib/pg.sh", "url", dir_, absl::StrCat(port_), db});
  return std::string(absl::StripAsciiWhitespace(r.output));
}

absl::Status TestPostgres::CreateDatabase(const std::string& db) {
  CommandResult r = RunCommand({SourceDir() + "/deploy/lib/pg.sh", "createdb", dir_, absl::StrCat(port_), db});
  if (r.exit_code != 0) return absl::InternalError(r.output);
  return absl::OkStatus();
}

absl::Status TestPostgres::Stop(const std::string& mode) {
  CommandResult r = RunCommand({SourceDir() + "/deploy/lib/pg.sh", "stop", dir_, mode});
  if (r.exit_code != 0) return absl::InternalError(r.output);
  return absl::OkStatus();
}

absl::Status TestPostgres::Start() {
  CommandResult r =
      RunCommand({SourceDir() + "/deploy/lib/pg.sh", "start", dir_, absl::StrCat(port_)}, absl::Seconds(120));
  if (r.exit_code != 0) return absl::InternalError(r.output);
  return absl::OkStatus();
}

std::string NewTestDatabase() {
  static std::mutex mu;
  static std::string admin_url;
  static std::unique_ptr<TestPostgres> own;
  std::lock_guard<std::mutex> lock(mu);
  if (admin_url.empty()) {
    if (const char* env = std::getenv("DROVER_TEST_DATABASE_URL"); env != nullptr && *env != '\0') {
      admin_url = env;
    } else {
      absl::StatusOr<std::unique_ptr<TestPostgres>> pg = TestPostgres::StartPrivate();
      if (!pg.ok()) {
        std::fprintf(stderr, "cannot start PostgreSQL for tests: %s\n", std::string(pg.status().message()).c_str());
        std::abort();
      }
      own = *std::move(pg);
      admin_url = own->Url("postgres");
    }
  }
  const std::string db = UniqueName("t");
  if (const char* create = std::getenv("DROVER_TEST_CREATEDB_COMMAND"); create != nullptr && *create != '\0') {
    // A database that needs more than CREATE DATABASE, e.g. one on every
    // node of a Citus cluster (tests/citus.sh): the command gets its name.
    const std::string command = absl::StrCat(create, " ", db);
    if (std::system(command.c_str()) != 0) {
      std::fprintf(stderr, "DROVER_TEST_CREATEDB_COMMAND failed: %s\n", command.c_str());
      std::abort();
    }
    return WithDatabase(admin_url, db);
  }
  pqxx::connection conn(admin_url);
  pqxx::nontransaction tx(conn);
  tx.exec(absl::StrCat("CREATE DATABASE ", db));
  return WithDatabase(admin_url, db);
}

std::vector<std::string> QueryColumn(const std::string& url, const std::string& sql) {
  pqxx::connection conn(url);
  pqxx::nontransaction tx(conn);
  std::vector<std::string> out;
  for (const pqxx::row& row : tx.exec(sql)) out.push_back(row[0].is_null() ? "NULL" : row[0].as<std::string>());
  return out;
}

std::string QueryValue(const std::string& url, const std::string& sql) {
  std::vector<std::string> col = QueryColumn(url, sql);
  return col.empty() ? "" : col[0];
}

int64_t FleetCounterMismatches(const std::string& url) {
  return std::stoll(QueryValue(
      url,
      "SELECT count(*) FROM (SELECT channel, current_version, health, count(*) AS n FROM agents GROUP BY 1, 2, 3) a "
      "FULL JOIN (SELECT channel, version, health, sum(agents) AS agents FROM fleet_counts GROUP BY 1, 2, 3 "
      "HAVING sum(agents) <> 0) f "
      "ON a.channel = f.channel AND a.current_version = f.version AND a.health = f.health "
      "WHERE a.n IS DISTINCT FROM f.agents")) +
         std::stoll(QueryValue(
             url,
             "SELECT count(*) FROM (SELECT channel, to_timestamp(floor(extract(epoch FROM last_seen) / 10) * 10) AS "
             "bucket, count(*) AS n FROM agents GROUP BY 1, 2) a "
             "FULL JOIN (SELECT channel, bucket, sum(agents) AS agents FROM seen_counts GROUP BY 1, 2 "
             "HAVING sum(agents) <> 0) s "
             "ON a.channel = s.channel AND a.bucket = s.bucket WHERE a.n IS DISTINCT FROM s.agents")) +
         std::stoll(QueryValue(
             url,
             "SELECT count(*) FROM (SELECT channel, schedule_state, count(*) AS n FROM agents GROUP BY 1, 2) a "
             "FULL JOIN (SELECT channel, state, sum(agents) AS agents FROM schedule_counts GROUP BY 1, 2 "
             "HAVING sum(agents) <> 0) s "
             "ON a.channel = s.channel AND a.schedule_state = s.state WHERE a.n IS DISTINCT FROM s.agents"));
}

std::string BinaryPath(const std::string& name) { return absl::StrCat(DROVER_BIN_DIR, "/", name); }

// --- Coordinator process ---------------------------------------------------------

std::string DatabaseUrlFlag(const std::string& database_url) {
  const std::string file = MakeTempDir("drover-dburl-") + "/database.url";
  const int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  const std::string line = database_url + "\n";
  const bool written = fd >= 0 && write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  if (fd >= 0) close(fd);
  // A test that cannot write /tmp cannot run; the coordinator then says it
  // cannot read the file.
  if (!written) std::fprintf(stderr, "cannot write %s\n", file.c_str());
  return "--database_url_file=" + file;
}

absl::StatusOr<std::unique_ptr<CoordinatorProcess>> CoordinatorProcess::Start(
    const std::string& database_url, const std::vector<std::string>& extra_flags) {
  auto p = std::unique_ptr<CoordinatorProcess>(new CoordinatorProcess());
  p->dir_ = MakeTempDir("drover-coord-");
  const std::string ready = p->dir_ + "/ready";
  const std::string log = p->dir_ + "/log";
  std::vector<std::string> argv = {BinaryPath("drover-coordinator"), DatabaseUrlFlag(database_url),
                                   "--grpc_listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
                                   "--ready_file=" + ready, "--fleet_refresh=200ms"};
  // Plaintext unless the test brings TLS files (the coordinator refuses to
  // start with neither). Insecure also lets operator calls without a token
  // act as admin; a later --insecure=false (auth_test) turns that off.
  bool tls = false;
  for (const std::string& f : extra_flags) tls = tls || absl::StartsWith(f, "--tls_cert_file");
  if (!tls) argv.push_back("--insecure");
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  p->pid_ = fork();
  if (p->pid_ == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  bool up = PollUntil(absl::Seconds(60), [&] { return access(ready.c_str(), F_OK) == 0 || !p->Alive(); });
  if (!up || !p->Alive()) {
    // An empty log alone says nothing: how it ended tells a binary that
    // could not be run (127, e.g. relinked meanwhile) from a crash.
    std::string how = "not ready within 60 s";
    if (p->exited_) {
      const int st = p->wait_status_;
      how = WIFEXITED(st)     ? absl::StrCat("exited with status ", WEXITSTATUS(st),
                                             WEXITSTATUS(st) == 127 ? " (the binary could not be executed)" : "")
            : WIFSIGNALED(st) ? absl::StrCat("killed by signal ", WTERMSIG(st))
                              : absl::StrCat("wait status ", st);
    }
    return absl::UnavailableError(absl::StrCat("coordinator did not start (", how, "): ", p->Log()));
  }
  for (absl::string_view line : absl::StrSplit(ReadFile(ready), '\n')) {
    if (absl::ConsumePrefix(&line, "grpc=")) p->grpc_address_ = std::string(line);
    if (absl::ConsumePrefix(&line, "metrics=")) p->metrics_address_ = std::string(line);
    if (absl::ConsumePrefix(&line, "watch=")) p->watch_address_ = std::string(line);
  }
  return p;
}

CoordinatorProcess::~CoordinatorProcess() {
  if (pid_ > 0 && Alive()) {
    kill(pid_, SIGKILL);
    WaitForExit(absl::Seconds(10));
  }
  RunCommand({"rm", "-rf", dir_});
}

void CoordinatorProcess::Signal(int sig) { kill(pid_, sig); }

bool CoordinatorProcess::Alive() {
  if (exited_) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exited_ = true;
    wait_status_ = status;
    return false;
  }
  return true;
}

int CoordinatorProcess::WaitForExit(absl::Duration timeout) {
  int status = -1;
  bool done = PollUntil(timeout, [&] {
    int s = 0;
    pid_t r = waitpid(pid_, &s, WNOHANG);
    if (r == pid_) {
      status = s;
      exited_ = true;
      wait_status_ = s;
      return true;
    }
    return false;
  });
  return done ? status : -1;
}

std::string CoordinatorProcess::Log() const { return ReadFile(dir_ + "/log"); }

// --- HTTP ---------------------------------------------------------------------------

absl::StatusOr<std::string> HttpGet(const std::string& host_port, const std::string& path) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  const std::string url = absl::StrCat("http://", host_port, path);
  std::string body;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION,
                   +[](char* data, size_t size, size_t n, void* out) -> size_t {
                     static_cast<std::string*>(out)->append(data, size * n);
                     return size * n;
                   });
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  if (CURLcode code = curl_easy_perform(curl.get()); code != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat("GET ", url, " failed: ", curl_easy_strerror(code)));
  }
  return body;
}

double MetricValue(const std::string& body, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    if (line.size() > series.size() && line.substr(0, series.size()) == series && line[series.size()] == ' ') {
      double v = 0;
      if (absl::SimpleAtod(line.substr(series.size() + 1), &v)) return v;
    }
  }
  return -1;
}

}  // namespace drover::testing
