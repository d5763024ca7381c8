// droverctl end to end: the real binary, run as a subprocess, against a real
// coordinator on a real PostgreSQL. Covers every command in table and JSON
// form, paging, `status --watch`, every exit code and the help.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "drover/v1/updater_service.grpc.pb.h"
#include "tests/support/test_env.h"

namespace drover {
namespace {

using ::drover::testing::BinaryPath;
using ::drover::testing::CoordinatorProcess;
using ::drover::testing::FreePort;
using ::drover::testing::NewTestDatabase;
using ::drover::testing::PollUntil;

// Exit codes droverctl documents.
constexpr int kOk = 0, kError = 1, kUsage = 2, kNotFound = 3, kRefused = 4, kInvalid = 5, kUnavailable = 6, kExists = 7;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Where droverctl's stdout and stderr go; removed after the suite.
const std::string& OutputDir() {
  static const std::string* const dir = [] {
    std::string tmpl = "/tmp/droverctl-test-XXXXXX";
    return new std::string(mkdtemp(tmpl.data()));
  }();
  return *dir;
}

// A droverctl process: stdout and stderr to their own files.
struct Ctl {
  pid_t pid = -1;
  std::string out_path, err_path;

  static Ctl Start(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
    static int n = 0;
    Ctl c;
    c.out_path = absl::StrCat(OutputDir(), "/", ++n, ".out");
    c.err_path = absl::StrCat(OutputDir(), "/", n, ".err");
    c.pid = fork();
    if (c.pid == 0) {
      int out = open(c.out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int err = open(c.err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(out, 1);
      dup2(err, 2);
      // Never the test's terminal: droverctl would ask questions there.
      int null_in = open("/dev/null", O_RDONLY);
      dup2(null_in, 0);
      unsetenv("DROVER_COORDINATOR");
      unsetenv("DROVER_CA_FILE");
      for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
      // The test coordinator serves plaintext (--insecure); TLS: tls_test.cc.
      std::vector<std::string> argv = {BinaryPath("droverctl"), "--insecure"};
      argv.insert(argv.end(), args.begin(), args.end());
      std::vector<char*> raw;
      for (std::string& a : argv) raw.push_back(a.data());
      raw.push_back(nullptr);
      execv(raw[0], raw.data());
      _exit(127);
    }
    return c;
  }

  // Exit code, or -1 if it did not end in time (then it is killed).
  int Wait(absl::Duration timeout) {
    int status = 0;
    bool done = PollUntil(timeout, [&] { return waitpid(pid, &status, WNOHANG) == pid; });
    if (!done) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  std::string Out() const { return ReadFile(out_path); }
  std::string Err() const { return ReadFile(err_path); }
};

struct CtlResult {
  int code = -1;
  std::string out, err;
  std::string Describe() const { return absl::StrCat("exit ", code, "\nstdout:\n", out, "\nstderr:\n", err); }
};

// The value of the first "key" in `json`, in document order (nested objects
// included), with the quotes of a string removed; "<absent>" when the key is
// not there.
std::optional<std::string> FindJsonField(const nlohmann::ordered_json& doc, const std::string& key) {
  if (doc.is_object()) {
    for (const auto& [name, value] : doc.items()) {
      if (name == key) return value.is_string() ? value.get<std::string>() : value.dump();
      if (std::optional<std::string> found = FindJsonField(value, key)) return found;
    }
  } else if (doc.is_array()) {
    for (const nlohmann::ordered_json& item : doc) {
      if (std::optional<std::string> found = FindJsonField(item, key)) return found;
    }
  }
  return std::nullopt;
}

std::string JsonField(const std::string& json, const std::string& key) {
  nlohmann::ordered_json doc = nlohmann::ordered_json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::StrCat("<not JSON: ", json, ">");
  return FindJsonField(doc, key).value_or("<absent>");
}

int Occurrences(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

// Every value of `"key": "value"` in a JSON document, in order.
std::vector<std::string> JsonStrings(const std::string& json, const std::string& key) {
  std::vector<std::string> out;
  const std::string needle = absl::StrCat("\"", key, "\": \"");
  for (size_t at = json.find(needle); at != std::string::npos; at = json.find(needle, at + 1)) {
    size_t start = at + needle.size();
    out.push_back(json.substr(start, json.find('"', start) - start));
  }
  return out;
}

// One well-formed JSON value, nothing after it.
bool LooksLikeOneJsonDocument(const std::string& text) { return nlohmann::json::accept(text); }

class DroverctlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    database_ = new std::string(NewTestDatabase());
    absl::StatusOr<std::unique_ptr<CoordinatorProcess>> c = CoordinatorProcess::Start(*database_);
    ASSERT_TRUE(c.ok()) << c.status();
    coordinator_ = c->release();
  }
  static void TearDownTestSuite() {
    delete coordinator_;
    coordinator_ = nullptr;
    testing::RunCommand({"rm", "-rf", OutputDir()});
  }

  void SetUp() override {
    ASSERT_NE(coordinator_, nullptr);
    updater_ = v1::UpdaterService::NewStub(
        grpc::CreateChannel(coordinator_->grpc_address(), grpc::InsecureChannelCredentials()));
  }

  static const std::string& Address() { return coordinator_->grpc_address(); }

  // droverctl against the test coordinator (unless `args` names another).
  static CtlResult Run(std::vector<std::string> args, const std::map<std::string, std::string>& env = {},
                       bool add_address = true) {
    if (add_address) args.insert(args.begin(), "--coordinator=" + Address());
    Ctl c = Ctl::Start(args, env);
    CtlResult r;
    r.code = c.Wait(absl::Seconds(60));
    r.out = c.Out();
    r.err = c.Err();
    return r;
  }

  static CtlResult Json(std::vector<std::string> args) {
    args.insert(args.begin(), "--output=json");
    CtlResult r = Run(args);
    EXPECT_TRUE(r.code != kOk || LooksLikeOneJsonDocument(r.out)) << r.Describe();
    return r;
  }

  void Report(const std::string& host, const std::string& channel, const std::string& version, int64_t seq,
              v1::Health health = v1::HEALTH_HEALTHY, std::vector<v1::UpdateOutcome> outcomes = {}) {
    v1::ReportStatusRequest r;
    r.set_host_id(host);
    r.set_channel("channels/" + channel);
    r.set_current_version(version);
    r.set_health(health);
    r.set_updater_version("0.1.0");
    r.set_sequence(seq);
    for (v1::UpdateOutcome& o : outcomes) *r.add_outcomes() = std::move(o);
    v1::ReportStatusResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status s = updater_->ReportStatus(&ctx, r, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(resp.disposition(), v1::ReportStatusResponse::DISPOSITION_ACCEPTED);
  }

  static v1::UpdateOutcome Outcome(const std::string& from, const std::string& to, v1::UpdateResult result,
                                   const std::string& error = "") {
    v1::UpdateOutcome o;
    o.set_from_version(from);
    o.set_to_version(to);
    o.set_result(result);
    o.set_error(error);
    const int64_t now = absl::ToUnixSeconds(absl::Now());
    o.mutable_start_time()->set_seconds(now - 30);
    o.mutable_finish_time()->set_seconds(now - 10);
    return o;
  }

  static void Create(const std::string& id, const std::string& cp, const std::string& target = "",
                     std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"channels", "create", id, "--control-plane=" + cp};
    if (!target.empty()) args.push_back("--target=" + target);
    args.insert(args.end(), extra.begin(), extra.end());
    CtlResult r = Run(args);
    ASSERT_EQ(r.code, kOk) << r.Describe();
  }

  static std::string* database_;
  static CoordinatorProcess* coordinator_;
  std::unique_ptr<v1::UpdaterService::Stub> updater_;
};

std::string* DroverctlTest::database_ = nullptr;
CoordinatorProcess* DroverctlTest::coordinator_ = nullptr;

// --- Help --------------------------------------------------------------------------

TEST_F(DroverctlTest, HelpListsEveryCommandTheExitCodesAndTheJsonShape) {
  CtlResult r = Run({"help"}, {}, false);
  ASSERT_EQ(r.code, kOk) << r.Describe();
  for (const char* cmd :
       {"channels list", "channels show ID", "channels create ID", "channels delete ID", "channels history ID",
        "target set ID VERSION", "target clear ID", "critical raise ID", "critical lower ID",
        "control-plane set ID [VERSION]", "windows set ID SPEC...", "windows clear ID", "status ID", "agents list",
        "agents show HOST_ID", "agents forget HOST_ID", "help [COMMAND]", "--coordinator=ADDR", "DROVER_COORDINATOR", "--output=FORMAT",
        "poll-interval set ID DURATION", "-o json", "--version"}) {
    EXPECT_TRUE(absl::StrContains(r.out, cmd)) << cmd << "\n" << r.out;
  }
  for (const char* code : {"  0  success", "  2  usage", "  3  not found", "  4  refused by policy",
                           "  5  invalid argument", "  6  unavailable", "  7  already exists"}) {
    EXPECT_TRUE(absl::StrContains(r.out, code)) << code;
  }
  EXPECT_TRUE(absl::StrContains(r.out, "snake_case")) << r.out;
  EXPECT_EQ(r.err, "");

  // Per command, both ways.
  CtlResult a = Run({"help", "channels", "create"}, {}, false);
  CtlResult b = Run({"channels", "create", "--help"}, {}, false);
  ASSERT_EQ(a.code, kOk) << a.Describe();
  ASSERT_EQ(b.code, kOk) << b.Describe();
  EXPECT_EQ(a.out, b.out);
  EXPECT_TRUE(absl::StrContains(
      a.out, "Usage: droverctl channels create ID --control-plane=V [--target=V] [--follow-control-plane] "
             "[--poll-interval=DURATION] "
             "[--window=SPEC...]"))
      << a.out;
  EXPECT_TRUE(absl::StrContains(a.out, "daily 02:00 1h")) << a.out;
  EXPECT_TRUE(absl::StrContains(a.out, "JSON (--output=json): the created drover.v1.Channel")) << a.out;

  CtlResult status = Run({"status", "--help"}, {}, false);
  EXPECT_EQ(status.code, kOk);
  EXPECT_TRUE(absl::StrContains(status.out, "--watch")) << status.out;
  EXPECT_TRUE(absl::StrContains(status.out, "\"percent_on_target\"")) << status.out;

  CtlResult group = Run({"agents", "--help"}, {}, false);
  EXPECT_EQ(group.code, kOk);
  EXPECT_TRUE(absl::StrContains(group.out, "agents list")) << group.out;
  EXPECT_TRUE(absl::StrContains(group.out, "agents show HOST_ID")) << group.out;

  CtlResult unknown = Run({"help", "frobnicate"}, {}, false);
  EXPECT_EQ(unknown.code, kUsage);
  EXPECT_TRUE(absl::StrContains(unknown.err, "frobnicate")) << unknown.err;
}

// --- Channels ----------------------------------------------------------------------

TEST_F(DroverctlTest, ChannelsCreateShowListHistoryDelete) {
  CtlResult created = Run({"channels", "create", "ch/one", "--control-plane=v15.2.0", "--target=15.1.0",
                           "--poll-interval=30s", "--window=daily 02:00 1h", "--window", "mon,thu 22:00 90m"});
  ASSERT_EQ(created.code, kOk) << created.Describe();
  EXPECT_TRUE(absl::StrContains(created.out, "Created channel ch/one.")) << created.out;
  EXPECT_TRUE(absl::StrContains(created.out, "15.1.0")) << created.out;
  EXPECT_TRUE(absl::StrContains(created.out, "mon,thu 22:00 1h30m UTC")) << created.out;

  CtlResult show = Run({"channels", "show", "ch/one"});
  ASSERT_EQ(show.code, kOk) << show.Describe();
  EXPECT_TRUE(absl::StrContains(show.out, "Control plane:  15.2.0")) << show.out;
  EXPECT_TRUE(absl::StrContains(show.out, "Poll interval:  30s")) << show.out;
  EXPECT_TRUE(absl::StrContains(show.out, "daily 02:00 1h UTC")) << show.out;
  EXPECT_TRUE(absl::StrContains(show.out, "Critical:       no")) << show.out;

  CtlResult json = Json({"channels", "show", "ch/one"});
  ASSERT_EQ(json.code, kOk) << json.Describe();
  EXPECT_EQ(JsonField(json.out, "name"), "channels/ch/one");
  EXPECT_EQ(JsonField(json.out, "target_version"), "15.1.0");
  EXPECT_EQ(JsonField(json.out, "control_plane_version"), "15.2.0");
  EXPECT_EQ(JsonField(json.out, "critical"), "false");  // defaults are printed
  EXPECT_EQ(JsonField(json.out, "critical_reason"), "");
  EXPECT_EQ(JsonField(json.out, "poll_interval"), "30s");
  EXPECT_EQ(JsonField(json.out, "utc_start_hour"), "2");
  EXPECT_TRUE(absl::StrContains(json.out, "\"WEEKDAY_MONDAY\"")) << json.out;
  // The JSON name can be fed back.
  EXPECT_EQ(Run({"channels", "show", "channels/ch/one"}).code, kOk);

  Create("ch/two", "16.0.0");
  CtlResult list = Run({"channels", "list"});
  ASSERT_EQ(list.code, kOk) << list.Describe();
  EXPECT_TRUE(absl::StrContains(list.out, "CHANNEL")) << list.out;
  EXPECT_TRUE(absl::StrContains(list.out, "ch/one")) << list.out;
  EXPECT_TRUE(absl::StrContains(list.out, "ch/two")) << list.out;
  CtlResult list_json = Json({"channels", "list"});
  ASSERT_EQ(list_json.code, kOk);
  std::vector<std::string> names = JsonStrings(list_json.out, "name");
  EXPECT_TRUE(std::count(names.begin(), names.end(), "channels/ch/one") == 1) << list_json.out;
  EXPECT_TRUE(std::count(names.begin(), names.end(), "channels/ch/two") == 1) << list_json.out;

  CtlResult again = Run({"channels", "create", "ch/one", "--control-plane=15.2.0"});
  EXPECT_EQ(again.code, kExists) << again.Describe();
  EXPECT_TRUE(absl::StrContains(again.err, "already exists")) << again.err;
  EXPECT_TRUE(absl::StrContains(again.err, "droverctl channels show ch/one")) << again.err;
  EXPECT_EQ(again.out, "");

  ASSERT_EQ(Run({"target", "set", "ch/one", "15.2.0"}).code, kOk);
  CtlResult history = Run({"channels", "history", "ch/one"});
  ASSERT_EQ(history.code, kOk) << history.Describe();
  EXPECT_TRUE(absl::StrContains(history.out, "target_version")) << history.out;
  EXPECT_TRUE(absl::StrContains(history.out, "created")) << history.out;
  CtlResult history_json = Json({"channels", "history", "ch/one"});
  ASSERT_EQ(history_json.code, kOk);
  EXPECT_EQ(JsonField(history_json.out, "field"), "target_version");  // newest first
  EXPECT_EQ(JsonField(history_json.out, "old_value"), "15.1.0");
  EXPECT_EQ(JsonField(history_json.out, "new_value"), "15.2.0");
  EXPECT_EQ(JsonField(history_json.out, "next_page_token"), "");

  CtlResult del = Run({"channels", "delete", "ch/two"});
  ASSERT_EQ(del.code, kOk) << del.Describe();
  EXPECT_TRUE(absl::StrContains(del.out, "Deleted channel ch/two")) << del.out;
  CtlResult gone = Run({"channels", "show", "ch/two"});
  EXPECT_EQ(gone.code, kNotFound) << gone.Describe();
  EXPECT_TRUE(absl::StrContains(gone.err, "ch/two")) << gone.err;
  EXPECT_TRUE(absl::StrContains(gone.err, "droverctl channels list")) << gone.err;
}

// Issue 12 item 17: the poll interval changes after creation; history has
// --limit; requests that change nothing are not recorded.
TEST_F(DroverctlTest, PollIntervalSetAndHistoryLimit) {
  Create("poll", "15.2.0", "15.1.0");
  CtlResult set = Run({"poll-interval", "set", "poll", "30s"});
  ASSERT_EQ(set.code, kOk) << set.Describe();
  EXPECT_TRUE(absl::StrContains(set.out, "now polls every 30s")) << set.out;
  CtlResult json = Json({"channels", "show", "poll"});
  EXPECT_EQ(JsonField(json.out, "poll_interval"), "30s");
  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {"poll-interval", "set", "poll", "30"}, {"poll-interval", "set", "poll", "25h"},
           {"poll-interval", "set", "poll", "0s"},
           // Was rounded to 1s; the coordinator refuses sub-millisecond intervals.
           {"poll-interval", "set", "poll", "1.0005s"}}) {
    CtlResult r = Run(bad);
    EXPECT_EQ(r.code, kUsage) << r.Describe();
    EXPECT_TRUE(absl::StrContains(r.err, bad[3])) << r.Describe();
  }
  EXPECT_EQ(Run({"poll-interval", "set", "no-such-channel", "30s"}).code, kNotFound);

  // No-ops: the same interval, a lowered toggle lowered again.
  ASSERT_EQ(Run({"poll-interval", "set", "poll", "30s"}).code, kOk);
  ASSERT_EQ(Run({"critical", "lower", "poll"}).code, kOk);
  ASSERT_EQ(Run({"critical", "lower", "poll", "--reason=nothing raised"}).code, kOk);
  ASSERT_EQ(Run({"target", "set", "poll", "15.2.0"}).code, kOk);
  CtlResult all = Json({"channels", "history", "poll"});
  ASSERT_EQ(all.code, kOk) << all.Describe();
  EXPECT_EQ(JsonStrings(all.out, "field"), (std::vector<std::string>{"target_version", "poll_interval", "created"}))
      << all.out;

  CtlResult newest = Json({"channels", "history", "poll", "--limit=2"});
  ASSERT_EQ(newest.code, kOk) << newest.Describe();
  EXPECT_EQ(JsonStrings(newest.out, "field"), (std::vector<std::string>{"target_version", "poll_interval"}))
      << newest.out;
  CtlResult table = Run({"channels", "history", "poll", "--limit", "1"});
  ASSERT_EQ(table.code, kOk) << table.Describe();
  EXPECT_TRUE(absl::StrContains(table.out, "target_version")) << table.out;
  EXPECT_FALSE(absl::StrContains(table.out, "poll_interval")) << table.out;
  EXPECT_TRUE(absl::StrContains(table.out, "raise --limit")) << table.out;
  EXPECT_EQ(Run({"channels", "history", "poll", "--limit=0"}).code, kUsage);
}

// Issue 12 item 15: refusals and operator changes are in the coordinator's
// log, one line each.
TEST_F(DroverctlTest, CoordinatorLogsRefusalsAndOperatorChanges) {
  // A coordinator of its own: the log keeps at most 20 failures per (method,
  // code) a minute, and the suite's earlier tests spend that budget.
  delete coordinator_;
  absl::StatusOr<std::unique_ptr<CoordinatorProcess>> fresh = CoordinatorProcess::Start(*database_);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  coordinator_ = fresh->release();
  updater_ = v1::UpdaterService::NewStub(
      grpc::CreateChannel(coordinator_->grpc_address(), grpc::InsecureChannelCredentials()));
  Create("logged", "15.2.0", "15.1.0");
  ASSERT_EQ(Run({"target", "set", "logged", "15.2.0"}).code, kOk);
  ASSERT_EQ(Run({"target", "set", "logged", "16.0.0"}).code, kRefused);
  {
    v1::ReportStatusRequest r;
    r.set_host_id("orphan-1");
    r.set_channel("channels/not-there");
    r.set_current_version("15.1.0");
    r.set_health(v1::HEALTH_HEALTHY);
    r.set_updater_version("0.1.0");
    r.set_sequence(1);
    v1::ReportStatusResponse resp;
    grpc::ClientContext ctx;
    ASSERT_EQ(updater_->ReportStatus(&ctx, r, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  const std::vector<std::string> want = {
      // The actor, then the peer (--insecure: calls without a token are "anonymous").
      "INFO channel \"logged\" created by anonymous at ipv4:127.0.0.1:",
      "INFO channel \"logged\" changed by anonymous at ipv4:127.0.0.1:",
      ": target_version 15.1.0 -> 15.2.0",
      "WARN rpc drover.v1.OperatorService/SetTargetVersion from ipv4:127.0.0.1:",
      "failed: FAILED_PRECONDITION: target version 16.0.0",
      "WARN rpc drover.v1.UpdaterService/ReportStatus from ipv4:127.0.0.1:",
      "failed: NOT_FOUND: channel \"not-there\" not found",
  };
  std::string log;
  EXPECT_TRUE(PollUntil(absl::Seconds(10), [&] {
    log = coordinator_->Log();
    for (const std::string& w : want) {
      if (!absl::StrContains(log, w)) return false;
    }
    return true;
  })) << log;
  // Each a line of its own.
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (absl::StrContains(line, "target version 16.0.0")) {
      EXPECT_TRUE(absl::StrContains(line, "SetTargetVersion")) << line;
    }
  }
  // No secrets: the database password (tests/run.sh's URL has one) never shows.
  const size_t at = database_->find('@');
  const size_t colon = at == std::string::npos ? std::string::npos : database_->rfind(':', at);
  if (colon != std::string::npos && database_->compare(colon, 3, "://") != 0) {
    const std::string password = database_->substr(colon + 1, at - colon - 1);
    EXPECT_FALSE(absl::StrContains(log, password)) << "the log shows the database password";
  }
}

TEST_F(DroverctlTest, DeletingAChannelWithAgentsNeedsForce) {
  Create("del", "15.0.0", "15.0.0");
  Report("del-h1", "del", "15.0.0", 1);
  CtlResult refused = Run({"channels", "delete", "del"});
  EXPECT_EQ(refused.code, kRefused) << refused.Describe();
  EXPECT_TRUE(absl::StrContains(refused.err, "--force")) << refused.err;
  CtlResult forced = Json({"channels", "delete", "del", "--force"});
  ASSERT_EQ(forced.code, kOk) << forced.Describe();
  EXPECT_EQ(JsonField(forced.out, "agents_removed"), "1");
}

// Runs droverctl on a terminal (script(1) gives it a pty) typing `input`.
testing::CommandResult RunOnTerminal(const std::string& address, const std::string& args, const std::string& input) {
  const std::string command = absl::StrCat(BinaryPath("droverctl"), " --insecure --coordinator=", address, " ", args);
  return testing::RunCommand(
      {"bash", "-c", absl::StrCat("printf '", input, "' | script -qec '", command, "' /dev/null")});
}

TEST_F(DroverctlTest, ForcedDeleteAsksOnATerminalUnlessYes) {
  Create("ask", "15.0.0", "15.0.0");
  Report("ask-h1", "ask", "15.0.0", 1);
  testing::CommandResult no = RunOnTerminal(Address(), "channels delete ask --force", "n\n");
  EXPECT_EQ(no.exit_code, kError) << no.output;
  EXPECT_TRUE(absl::StrContains(no.output, "Delete channel ask and forget its agents")) << no.output;
  EXPECT_TRUE(absl::StrContains(no.output, "not confirmed")) << no.output;
  EXPECT_EQ(Run({"channels", "show", "ask"}).code, kOk);

  testing::CommandResult yes = RunOnTerminal(Address(), "channels delete ask --force", "y\n");
  EXPECT_EQ(yes.exit_code, kOk) << yes.output;
  EXPECT_TRUE(absl::StrContains(yes.output, "Deleted channel ask (1 agents forgotten)")) << yes.output;

  Create("ask2", "15.0.0", "15.0.0");
  testing::CommandResult skip = RunOnTerminal(Address(), "channels delete ask2 --force --yes", "");
  EXPECT_EQ(skip.exit_code, kOk) << skip.output;
  EXPECT_FALSE(absl::StrContains(skip.output, "[y/N]")) << skip.output;
}

TEST_F(DroverctlTest, AgentsForgetRemovesAHostAndAsksOnATerminal) {
  Create("fg", "15.0.0", "15.0.0");
  Report("fg-h1", "fg", "15.0.0", 7);
  testing::CommandResult no = RunOnTerminal(Address(), "agents forget fg-h1", "n\n");
  EXPECT_EQ(no.exit_code, kError) << no.output;
  EXPECT_TRUE(absl::StrContains(no.output, "Forget agent fg-h1")) << no.output;
  EXPECT_EQ(Run({"agents", "show", "fg-h1"}).code, kOk) << "not confirmed: still there";

  CtlResult forgot = Run({"agents", "forget", "fg-h1", "--yes"});
  ASSERT_EQ(forgot.code, kOk) << forgot.Describe();
  EXPECT_TRUE(absl::StrContains(forgot.out, "Forgot agent fg-h1 of channel fg (stored sequence 7)")) << forgot.out;
  EXPECT_EQ(Run({"agents", "show", "fg-h1"}).code, kNotFound);
  CtlResult again = Run({"agents", "forget", "fg-h1", "--yes"});
  EXPECT_EQ(again.code, kNotFound) << again.Describe();
  EXPECT_TRUE(absl::StrContains(again.err, "agents list")) << again.err;
  // It reports again from any sequence, as a new host.
  Report("fg-h1", "fg", "15.0.0", 1);
  CtlResult json = Json({"agents", "show", "fg-h1"});
  ASSERT_EQ(json.code, kOk) << json.Describe();
}

TEST_F(DroverctlTest, AgentsListFindsOrphansClonesGroupsAndFailures) {
  Create("vis", "15.2.0", "15.2.0");
  auto send = [&](const std::string& host, const std::string& channel, const std::string& instance, int64_t seq,
                  const std::string& group, std::vector<v1::UpdateOutcome> outcomes) {
    v1::ReportStatusRequest r;
    r.set_host_id(host);
    r.set_channel("channels/" + channel);
    r.set_current_version("15.1.0");
    r.set_health(v1::HEALTH_HEALTHY);
    r.set_sequence(seq);
    r.set_group(group);
    r.set_instance_id(instance);
    r.set_schedule_state(v1::SCHEDULE_STATE_OK);
    for (v1::UpdateOutcome& o : outcomes) *r.add_outcomes() = std::move(o);
    v1::ReportStatusResponse resp;
    grpc::ClientContext ctx;
    return updater_->ReportStatus(&ctx, r, &resp);
  };
  ASSERT_TRUE(send("vis-rolled", "vis", "i1", 1, "canary",
                   {Outcome("15.1.0", "15.2.0", v1::UPDATE_RESULT_ROLLED_BACK, "unhealthy")})
                  .ok());
  ASSERT_TRUE(send("vis-failed", "vis", "i2", 1, "", {Outcome("15.1.0", "15.2.0", v1::UPDATE_RESULT_FAILED, "sig")}).ok());
  ASSERT_TRUE(send("vis-clone", "vis", "i3", 1, "", {}).ok());
  ASSERT_TRUE(send("vis-clone", "vis", "i4", 2, "", {}).ok());
  ASSERT_TRUE(send("vis-clone", "vis", "i3", 3, "", {}).ok());
  EXPECT_EQ(send("vis-lost", "vsi", "i5", 1, "", {}).error_code(), grpc::StatusCode::NOT_FOUND);

  // Issue 12: the NOTES column was empty for a rolled-back agent.
  CtlResult all = Run({"agents", "list", "--channel=vis"});
  ASSERT_EQ(all.code, kOk) << all.Describe();
  EXPECT_TRUE(absl::StrContains(all.out, "update to 15.2.0 rolled back")) << all.out;
  EXPECT_TRUE(absl::StrContains(all.out, "update to 15.2.0 failed")) << all.out;
  EXPECT_TRUE(absl::StrContains(all.out, "host id shared by two updaters")) << all.out;

  CtlResult rolled = Run({"agents", "list", "--last-result=rolled-back"});
  ASSERT_EQ(rolled.code, kOk) << rolled.Describe();
  EXPECT_TRUE(absl::StrContains(rolled.out, "vis-rolled")) << rolled.out;
  EXPECT_FALSE(absl::StrContains(rolled.out, "vis-failed")) << rolled.out;
  CtlResult failed = Run({"agents", "list", "--channel=vis", "--last-result=failed"});
  EXPECT_TRUE(absl::StrContains(failed.out, "vis-failed")) << failed.out;
  EXPECT_FALSE(absl::StrContains(failed.out, "vis-rolled")) << failed.out;
  CtlResult bad = Run({"agents", "list", "--last-result=broken"});
  EXPECT_EQ(bad.code, kUsage) << bad.Describe();
  EXPECT_TRUE(absl::StrContains(bad.err, "--last-result=broken")) << bad.err;

  CtlResult group = Run({"agents", "list", "--group=canary"});
  ASSERT_EQ(group.code, kOk) << group.Describe();
  EXPECT_TRUE(absl::StrContains(group.out, "vis-rolled")) << group.out;
  EXPECT_FALSE(absl::StrContains(group.out, "vis-clone")) << group.out;

  CtlResult clones = Run({"agents", "list", "--conflicts"});
  ASSERT_EQ(clones.code, kOk) << clones.Describe();
  EXPECT_TRUE(absl::StrContains(clones.out, "vis-clone")) << clones.out;
  EXPECT_FALSE(absl::StrContains(clones.out, "vis-rolled")) << clones.out;
  CtlResult show = Run({"agents", "show", "vis-clone"});
  EXPECT_TRUE(absl::StrContains(show.out, "CONFLICT")) << show.out;

  CtlResult orphans = Run({"agents", "list", "--orphaned"});
  ASSERT_EQ(orphans.code, kOk) << orphans.Describe();
  EXPECT_TRUE(absl::StrContains(orphans.out, "vis-lost")) << orphans.out;
  EXPECT_TRUE(absl::StrContains(orphans.out, "vsi")) << orphans.out;
  EXPECT_TRUE(absl::StrContains(orphans.out, "channel does not exist")) << orphans.out;
  EXPECT_FALSE(absl::StrContains(orphans.out, "vis-clone")) << orphans.out;
}

// --- Target, critical, control plane, windows ---------------------------------------

TEST_F(DroverctlTest, TargetCriticalControlPlane) {
  Create("tgt", "15.2.0", "15.1.0");
  CtlResult set = Run({"target", "set", "tgt", "v15.2.0"});
  ASSERT_EQ(set.code, kOk) << set.Describe();
  EXPECT_TRUE(absl::StrContains(set.out, "Channel tgt now targets 15.2.0.")) << set.out;

  // Above the control plane: refused by the version rules, naming both.
  CtlResult above = Run({"target", "set", "tgt", "15.3.0"});
  EXPECT_EQ(above.code, kRefused) << above.Describe();
  EXPECT_TRUE(absl::StrContains(above.err, "15.3.0")) << above.err;
  EXPECT_TRUE(absl::StrContains(above.err, "refused")) << above.err;

  // A roll-back needs --allow-downgrade.
  CtlResult down = Run({"target", "set", "tgt", "15.1.0"});
  EXPECT_EQ(down.code, kRefused) << down.Describe();
  EXPECT_TRUE(absl::StrContains(down.err, "--allow-downgrade")) << down.err;
  CtlResult rollback = Json({"target", "set", "tgt", "15.1.0", "--allow-downgrade"});
  ASSERT_EQ(rollback.code, kOk) << rollback.Describe();
  EXPECT_EQ(JsonField(rollback.out, "target_version"), "15.1.0");
  EXPECT_EQ(JsonField(rollback.out, "target_allows_downgrade"), "true");

  // Not semver: rejected by the coordinator.
  CtlResult bad = Run({"target", "set", "tgt", "fifteen"});
  EXPECT_EQ(bad.code, kInvalid) << bad.Describe();
  EXPECT_TRUE(absl::StrContains(bad.err, "fifteen")) << bad.err;

  CtlResult cleared = Json({"target", "clear", "tgt"});
  ASSERT_EQ(cleared.code, kOk) << cleared.Describe();
  EXPECT_EQ(JsonField(cleared.out, "target_version"), "");
  ASSERT_EQ(Run({"target", "set", "tgt", "15.2.0"}).code, kOk);

  // Critical: a reason is required, checked before sending.
  CtlResult no_reason = Run({"critical", "raise", "tgt"});
  EXPECT_EQ(no_reason.code, kUsage) << no_reason.Describe();
  EXPECT_TRUE(absl::StrContains(no_reason.err, "--reason")) << no_reason.err;
  // Bytes that are not UTF-8: the coordinator names the field.
  CtlResult not_text = Run({"critical", "raise", "tgt", "--reason=CVE\xff"});
  EXPECT_EQ(not_text.code, kInvalid) << not_text.Describe();
  EXPECT_TRUE(absl::StrContains(not_text.err, "reason \"CVE\\xff\": not valid UTF-8")) << not_text.err;
  EXPECT_FALSE(absl::StrContains(not_text.err, "String field")) << not_text.err;  // protobuf's own line, dropped
  CtlResult raised = Run({"critical", "raise", "tgt", "--reason=CVE-2026-1234"});
  ASSERT_EQ(raised.code, kOk) << raised.Describe();
  EXPECT_TRUE(absl::StrContains(raised.out, "RAISED: CVE-2026-1234")) << raised.out;
  CtlResult status = Run({"status", "tgt"});
  ASSERT_EQ(status.code, kOk) << status.Describe();
  EXPECT_TRUE(absl::StrContains(status.out, "15.2.0  CRITICAL: CVE-2026-1234")) << status.out;
  CtlResult status_json = Json({"status", "tgt"});
  EXPECT_EQ(JsonField(status_json.out, "critical"), "true");
  CtlResult lowered = Json({"critical", "lower", "tgt", "--reason", "patched"});
  ASSERT_EQ(lowered.code, kOk) << lowered.Describe();
  EXPECT_EQ(JsonField(lowered.out, "critical"), "false");

  // Control plane: a change stranding the target is refused.
  CtlResult cp = Run({"control-plane", "set", "tgt", "15.3.0"});
  ASSERT_EQ(cp.code, kOk) << cp.Describe();
  EXPECT_TRUE(absl::StrContains(cp.out, "control plane 15.3.0")) << cp.out;
  CtlResult strand = Run({"control-plane", "set", "tgt", "15.0.0"});
  EXPECT_EQ(strand.code, kRefused) << strand.Describe();
  EXPECT_TRUE(absl::StrContains(strand.err, "droverctl target set tgt")) << strand.err;

  CtlResult missing = Run({"target", "set", "no-such-channel", "1.0.0"});
  EXPECT_EQ(missing.code, kNotFound) << missing.Describe();
  EXPECT_TRUE(absl::StrContains(missing.err, "no-such-channel")) << missing.err;
}

TEST_F(DroverctlTest, MaintenanceWindows) {
  Create("win", "15.0.0");
  CtlResult set = Json({"windows", "set", "win", "daily 02:00 1h", "mon-fri 22:00 90m"});
  ASSERT_EQ(set.code, kOk) << set.Describe();
  EXPECT_EQ(Occurrences(set.out, "\"utc_start_hour\""), 2) << set.out;
  EXPECT_EQ(Occurrences(set.out, "WEEKDAY_"), 5) << set.out;
  EXPECT_EQ(JsonField(set.out, "duration"), "3600s");
  const std::string generation = JsonField(set.out, "generation");

  // A bad SPEC is a usage error and nothing changes.
  CtlResult bad = Run({"windows", "set", "win", "daily 02:30 1h"});
  EXPECT_EQ(bad.code, kUsage) << bad.Describe();
  EXPECT_TRUE(absl::StrContains(bad.err, "daily 02:30 1h")) << bad.err;
  EXPECT_TRUE(absl::StrContains(bad.err, "HH:00")) << bad.err;
  EXPECT_EQ(Run({"windows", "set", "win", "daily 02:00 25h"}).code, kUsage);
  EXPECT_EQ(Run({"windows", "set", "win", "someday 02:00 1h"}).code, kUsage);
  EXPECT_EQ(JsonField(Json({"channels", "show", "win"}).out, "generation"), generation);

  // Unquoted, as a shell splits it.
  CtlResult split = Run({"windows", "set", "win", "sat,sun", "10:00", "4h"});
  ASSERT_EQ(split.code, kOk) << split.Describe();
  EXPECT_TRUE(absl::StrContains(split.out, "sat,sun 10:00 4h UTC")) << split.out;

  CtlResult cleared = Json({"windows", "clear", "win"});
  ASSERT_EQ(cleared.code, kOk) << cleared.Describe();
  EXPECT_TRUE(absl::StrContains(cleared.out, "\"maintenance_windows\": []")) << cleared.out;
}

// --- Status and agents ---------------------------------------------------------------

TEST_F(DroverctlTest, StatusShowsBarsHealthAndOutcomes) {
  Create("st", "15.2.0", "15.1.0");
  CtlResult empty = Run({"status", "st"});
  ASSERT_EQ(empty.code, kOk) << empty.Describe();
  EXPECT_TRUE(absl::StrContains(empty.out, "No agents have reported")) << empty.out;

  for (int i = 0; i < 6; ++i) Report(absl::StrCat("st-a", i), "st", "15.1.0", 1);
  Report("st-b0", "st", "15.1.0", 1, v1::HEALTH_UNHEALTHY);
  Report("st-c0", "st", "15.0.0", 1, v1::HEALTH_HEALTHY,
         {Outcome("15.0.0", "15.1.0", v1::UPDATE_RESULT_ROLLED_BACK, "health check failed"),
          Outcome("15.0.0", "15.1.0", v1::UPDATE_RESULT_FAILED, "download failed")});
  Report("st-c1", "st", "15.0.0", 1);
  Report("st-d0", "st", "15.3.0", 1);  // above the control plane

  CtlResult st = Run({"status", "st"});
  ASSERT_EQ(st.code, kOk) << st.Describe();
  EXPECT_TRUE(absl::StrContains(st.out, "Agents:         10")) << st.out;
  EXPECT_TRUE(absl::StrContains(st.out, "7 of 10 (70.0%)")) << st.out;
  EXPECT_TRUE(absl::StrContains(st.out, "9 healthy, 1 unhealthy")) << st.out;
  EXPECT_TRUE(absl::StrContains(st.out, "1 failed, 1 rolled back")) << st.out;
  EXPECT_TRUE(absl::StrContains(st.out, "Out of policy:  1")) << st.out;
  // One bar per version, newest first, 30 cells: 7/10 is 21 filled.
  std::string bar;
  for (int i = 0; i < 30; ++i) bar += i < 21 ? "\u2588" : "\u2591";
  EXPECT_TRUE(absl::StrContains(st.out, absl::StrCat("15.1.0  ", bar, "  7  (70.0%)  on target, 1 unhealthy")))
      << st.out;
  EXPECT_TRUE(absl::StrContains(st.out, "OUT OF POLICY")) << st.out;
  EXPECT_LT(st.out.find("\n15.3.0  "), st.out.find("\n15.1.0  "));
  EXPECT_LT(st.out.find("\n15.1.0  "), st.out.find("\n15.0.0  "));

  CtlResult json = Json({"status", "st"});
  ASSERT_EQ(json.code, kOk) << json.Describe();
  EXPECT_EQ(JsonField(json.out, "channel"), "channels/st");
  EXPECT_EQ(JsonField(json.out, "total_agents"), "10");
  EXPECT_TRUE(absl::StrContains(json.out, "\"on_target\": \"7\"")) << json.out;  // the total, after the versions
  EXPECT_EQ(JsonField(json.out, "failed_since_target"), "1");
  EXPECT_EQ(JsonField(json.out, "rolled_back_since_target"), "1");
  EXPECT_EQ(JsonField(json.out, "stale"), "0");
  EXPECT_EQ(JsonField(json.out, "percent_on_target"), "70");
  EXPECT_EQ(Occurrences(json.out, "\"version\":"), 3) << json.out;

  CtlResult missing = Run({"status", "nope"});
  EXPECT_EQ(missing.code, kNotFound) << missing.Describe();
}

TEST_F(DroverctlTest, StatusWatchPrintsSnapshotsUntilSigint) {
  Create("watch", "15.0.0", "15.0.0");
  Report("watch-h1", "watch", "15.0.0", 1);
  Ctl ctl = Ctl::Start({"--coordinator=" + Address(), "status", "watch", "--watch", "--interval=200ms"}, {});
  // stdout is a file, not a terminal: successive snapshots, no screen codes.
  EXPECT_TRUE(PollUntil(absl::Seconds(30), [&] { return Occurrences(ctl.Out(), "Channel:") >= 2; })) << ctl.Out();
  Report("watch-h2", "watch", "15.0.0", 1);
  EXPECT_TRUE(PollUntil(absl::Seconds(30), [&] { return absl::StrContains(ctl.Out(), "Agents:         2"); }))
      << ctl.Out();
  kill(ctl.pid, SIGINT);
  EXPECT_EQ(ctl.Wait(absl::Seconds(20)), 0) << ctl.Err();
  const std::string out = ctl.Out();
  EXPECT_FALSE(absl::StrContains(out, "\033[")) << out;
  EXPECT_TRUE(absl::StrContains(out, "Every 200ms")) << out;
  EXPECT_TRUE(absl::StrContains(out, "\u2588")) << out;
  EXPECT_EQ(ctl.Err(), "");

  // JSON: one document per line per refresh.
  Ctl json = Ctl::Start({"--coordinator=" + Address(), "--output=json", "status", "watch", "--watch",
                         "--interval=100ms"},
                        {});
  EXPECT_TRUE(PollUntil(absl::Seconds(30), [&] { return Occurrences(json.Out(), "\n") >= 2; })) << json.Out();
  kill(json.pid, SIGINT);
  EXPECT_EQ(json.Wait(absl::Seconds(20)), 0) << json.Err();
  for (absl::string_view line : absl::StrSplit(json.Out(), '\n', absl::SkipEmpty())) {
    EXPECT_TRUE(LooksLikeOneJsonDocument(std::string(line))) << line;
    EXPECT_TRUE(absl::StrContains(line, "\"total_agents\":\"2\"")) << line;
  }

  CtlResult bad = Run({"status", "watch", "--watch", "--interval=soon"});
  EXPECT_EQ(bad.code, kUsage) << bad.Describe();
  EXPECT_TRUE(absl::StrContains(bad.err, "--interval=soon")) << bad.err;
}

TEST_F(DroverctlTest, StatusWatchSurvivesACoordinatorRestart) {
  Create("restart", "15.0.0", "15.0.0");
  // A second coordinator on the same database, on a port it can take again.
  const std::string address = absl::StrCat("127.0.0.1:", FreePort());
  auto start = [&] {
    absl::StatusOr<std::unique_ptr<CoordinatorProcess>> c =
        CoordinatorProcess::Start(*database_, {"--grpc_listen=" + address});
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  };
  std::unique_ptr<CoordinatorProcess> second = start();
  ASSERT_NE(second, nullptr);
  Ctl ctl = Ctl::Start({"--coordinator=" + address, "status", "restart", "--watch", "--interval=100ms"}, {});
  ASSERT_TRUE(PollUntil(absl::Seconds(30), [&] { return Occurrences(ctl.Out(), "Channel:") >= 1; })) << ctl.Out();
  second->Signal(SIGKILL);
  ASSERT_NE(second->WaitForExit(absl::Seconds(10)), -1);
  EXPECT_TRUE(PollUntil(absl::Seconds(30), [&] { return absl::StrContains(ctl.Out(), "(retrying)"); })) << ctl.Out();
  const int before = Occurrences(ctl.Out(), "Channel:");
  second = start();
  ASSERT_NE(second, nullptr);
  // Back within a few refreshes, not after gRPC's reconnect backoff.
  EXPECT_TRUE(PollUntil(absl::Seconds(10), [&] { return Occurrences(ctl.Out(), "Channel:") > before; })) << ctl.Out();
  kill(ctl.pid, SIGINT);
  EXPECT_EQ(ctl.Wait(absl::Seconds(20)), 0) << ctl.Err();
  EXPECT_TRUE(absl::StrContains(ctl.Out(), "is unavailable")) << ctl.Out();
}

TEST_F(DroverctlTest, AgentsListFiltersAndPages) {
  Create("pg", "15.2.0", "15.2.0");
  Create("pg-quick", "15.2.0", "15.2.0", {"--poll-interval=1s"});
  std::set<std::string> hosts;
  for (int i = 0; i < 25; ++i) {
    const std::string host = absl::StrCat("pg-host-", i < 10 ? "0" : "", i);
    hosts.insert(host);
    Report(host, "pg", i < 20 ? "15.2.0" : "15.1.0", 1, i == 3 ? v1::HEALTH_UNHEALTHY : v1::HEALTH_HEALTHY);
  }
  Report("pg-quick-1", "pg-quick", "13.0.0", 1);  // two majors behind: out of policy

  // Table, one page at a time.
  CtlResult first = Run({"agents", "list", "--channel=pg", "--limit=10"});
  ASSERT_EQ(first.code, kOk) << first.Describe();
  EXPECT_TRUE(absl::StrContains(first.out, "HOST")) << first.out;
  EXPECT_EQ(Occurrences(first.out, "pg-host-"), 10) << first.out;
  const size_t at = first.out.find("--page-token=");
  ASSERT_NE(at, std::string::npos) << first.out;
  const std::string token = first.out.substr(at + 13, first.out.find('\n', at) - at - 13);
  CtlResult second = Run({"agents", "list", "--channel=pg", "--limit=10", "--page-token=" + token});
  ASSERT_EQ(second.code, kOk) << second.Describe();
  EXPECT_EQ(Occurrences(second.out, "pg-host-"), 10) << second.out;
  EXPECT_TRUE(absl::StrContains(second.out, "pg-host-10")) << second.out;
  EXPECT_FALSE(absl::StrContains(second.out, "pg-host-09")) << second.out;

  // Without --limit: everything.
  CtlResult all_table = Run({"agents", "list", "--channel", "pg"});
  ASSERT_EQ(all_table.code, kOk) << all_table.Describe();
  EXPECT_EQ(Occurrences(all_table.out, "pg-host-"), 25) << all_table.out;
  EXPECT_FALSE(absl::StrContains(all_table.out, "--page-token")) << all_table.out;

  // JSON, every page in one document.
  CtlResult all = Json({"agents", "list", "--channel=pg"});
  ASSERT_EQ(all.code, kOk) << all.Describe();
  std::vector<std::string> listed = JsonStrings(all.out, "host_id");
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()), hosts);
  EXPECT_EQ(listed.size(), 25u);
  EXPECT_EQ(JsonField(all.out, "next_page_token"), "");
  EXPECT_EQ(JsonField(all.out, "health"), "HEALTH_HEALTHY");
  EXPECT_EQ(JsonField(all.out, "stale"), "false");

  // JSON, paged by hand with --limit and --page-token.
  std::vector<std::string> paged;
  std::string next;
  for (int pages = 0; pages < 10; ++pages) {
    std::vector<std::string> args = {"agents", "list", "--channel=pg", "--limit=7"};
    if (!next.empty()) args.push_back("--page-token=" + next);
    CtlResult page = Json(args);
    ASSERT_EQ(page.code, kOk) << page.Describe();
    for (const std::string& h : JsonStrings(page.out, "host_id")) paged.push_back(h);
    next = JsonField(page.out, "next_page_token");
    if (next.empty()) break;
  }
  EXPECT_EQ(paged, listed);

  // Filters.
  CtlResult unhealthy = Json({"agents", "list", "--channel=pg", "--health=unhealthy"});
  EXPECT_EQ(JsonStrings(unhealthy.out, "host_id"), std::vector<std::string>{"pg-host-03"}) << unhealthy.out;
  CtlResult old = Json({"agents", "list", "--channel=pg", "--version=15.1.0"});
  EXPECT_EQ(JsonStrings(old.out, "host_id").size(), 5u) << old.out;
  CtlResult oop = Run({"agents", "list", "--out-of-policy"});
  ASSERT_EQ(oop.code, kOk) << oop.Describe();
  EXPECT_TRUE(absl::StrContains(oop.out, "pg-quick-1")) << oop.out;
  EXPECT_TRUE(absl::StrContains(oop.out, "out of policy")) << oop.out;
  EXPECT_FALSE(absl::StrContains(oop.out, "pg-host-")) << oop.out;
  // Silent for 3 poll intervals of 1 s: stale soon.
  EXPECT_TRUE(PollUntil(absl::Seconds(40), [&] {
    CtlResult stale = Json({"agents", "list", "--stale", "--channel=pg-quick"});
    return JsonStrings(stale.out, "host_id") == std::vector<std::string>{"pg-quick-1"};
  }));
  CtlResult none = Run({"agents", "list", "--channel=pg", "--stale"});
  EXPECT_TRUE(absl::StrContains(none.out, "No agents match.")) << none.out;
  // A channel that does not exist is an error, not an empty list.
  CtlResult ghost = Run({"agents", "list", "--channel=ghost"});
  EXPECT_EQ(ghost.code, kNotFound) << ghost.Describe();
  EXPECT_TRUE(absl::StrContains(ghost.err, "\"ghost\"")) << ghost.err;

  // Bad values: checked locally, or rejected by the coordinator.
  CtlResult health = Run({"agents", "list", "--health=sick"});
  EXPECT_EQ(health.code, kUsage) << health.Describe();
  EXPECT_TRUE(absl::StrContains(health.err, "--health=sick")) << health.err;
  EXPECT_EQ(Run({"agents", "list", "--limit=0"}).code, kUsage);
  EXPECT_EQ(Run({"agents", "list", "--limit=5000"}).code, kUsage);
  CtlResult token_bad = Run({"agents", "list", "--page-token=garbage!"});
  EXPECT_EQ(token_bad.code, kInvalid) << token_bad.Describe();
  EXPECT_TRUE(absl::StrContains(token_bad.err, "page_token")) << token_bad.err;
}

TEST_F(DroverctlTest, AgentsShowWithHistory) {
  Create("show", "15.2.0", "15.1.0");
  Report("show-h1", "show", "15.0.0", 1, v1::HEALTH_HEALTHY,
         {Outcome("15.0.0", "15.1.0", v1::UPDATE_RESULT_FAILED, "download failed")});
  Report("show-h1", "show", "15.1.0", 2, v1::HEALTH_HEALTHY,
         {Outcome("15.0.0", "15.1.0", v1::UPDATE_RESULT_SUCCEEDED)});

  CtlResult table = Run({"agents", "show", "show-h1"});
  ASSERT_EQ(table.code, kOk) << table.Describe();
  EXPECT_TRUE(absl::StrContains(table.out, "Version:        15.1.0")) << table.out;
  EXPECT_TRUE(absl::StrContains(table.out, "Health:         healthy")) << table.out;
  EXPECT_TRUE(absl::StrContains(table.out, "Update history")) << table.out;
  EXPECT_TRUE(absl::StrContains(table.out, "download failed")) << table.out;
  EXPECT_LT(table.out.find("succeeded"), table.out.find("failed"));  // newest first

  CtlResult json = Json({"agents", "show", "show-h1"});
  ASSERT_EQ(json.code, kOk) << json.Describe();
  EXPECT_EQ(JsonField(json.out, "host_id"), "show-h1");
  EXPECT_EQ(JsonField(json.out, "current_version"), "15.1.0");
  EXPECT_EQ(JsonField(json.out, "sequence"), "2");
  EXPECT_EQ(Occurrences(json.out, "\"outcome\":"), 2) << json.out;
  EXPECT_EQ(JsonField(json.out, "result"), "UPDATE_RESULT_SUCCEEDED");

  CtlResult one = Json({"agents", "show", "show-h1", "--history=1"});
  EXPECT_EQ(Occurrences(one.out, "\"outcome\":"), 1) << one.out;
  CtlResult none = Json({"agents", "show", "show-h1", "--history=0"});
  EXPECT_TRUE(absl::StrContains(none.out, "\"events\": []")) << none.out;

  CtlResult missing = Run({"agents", "show", "no-such-host"});
  EXPECT_EQ(missing.code, kNotFound) << missing.Describe();
  EXPECT_TRUE(absl::StrContains(missing.err, "no-such-host")) << missing.err;
  EXPECT_TRUE(absl::StrContains(missing.err, "droverctl agents list")) << missing.err;
}

// --- Errors and the coordinator address ---------------------------------------------------

TEST_F(DroverctlTest, UsageErrorsAreCheckedLocallyAndNameTheProblem) {
  struct Case {
    std::vector<std::string> args;
    std::string mentions;
  };
  for (const Case& c : std::vector<Case>{
           {{}, "no command"},
           {{"chanels", "list"}, "unknown command \"chanels\""},
           {{"channels"}, "needs a subcommand"},
           {{"channels", "list", "--bogus"}, "unknown flag --bogus"},
           {{"channels", "show"}, "needs ID"},
           {{"channels", "show", "a", "b"}, "unexpected argument \"b\""},
           {{"channels", "create", "x"}, "--control-plane"},
           {{"channels", "create", "x", "--control-plane=1.0.0", "--poll-interval=60"}, "--poll-interval=60"},
           {{"channels", "create", "x", "--control-plane=1.0.0", "--window=daily 2:00"}, "three words"},
           {{"--output=yaml", "channels", "list"}, "--output=yaml"},
       }) {
    // A closed port: a usage error must not even try to connect.
    std::vector<std::string> args = c.args;
    args.insert(args.begin(), absl::StrCat("--coordinator=127.0.0.1:", FreePort()));
    CtlResult r = Run(args, {}, false);
    EXPECT_EQ(r.code, kUsage) << r.Describe();
    EXPECT_TRUE(absl::StrContains(r.err, c.mentions)) << r.Describe();
    EXPECT_TRUE(absl::StrContains(r.err, "droverctl help")) << r.Describe();
  }
}

// Issue 12 item 17: --version, -o as the short --output, "did you mean",
// help without "(required) (required)", and a blank reason caught locally.
TEST_F(DroverctlTest, VersionShortOutputSuggestionsAndHelp) {
  CtlResult version = Run({"--version"}, {}, false);
  EXPECT_EQ(version.code, kOk) << version.Describe();
  EXPECT_TRUE(absl::StartsWith(version.out, "droverctl ")) << version.out;

  Create("short", "15.2.0", "15.1.0");
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"-o", "json", "channels", "show", "short"}, {"channels", "show", "short", "-o=json"},
           {"channels", "show", "-ojson", "short"}}) {
    CtlResult r = Run(args);
    ASSERT_EQ(r.code, kOk) << r.Describe();
    EXPECT_TRUE(LooksLikeOneJsonDocument(r.out)) << r.out;
    EXPECT_EQ(JsonField(r.out, "target_version"), "15.1.0");
  }
  EXPECT_EQ(Run({"-o", "yaml", "channels", "list"}).code, kUsage);

  struct Case {
    std::vector<std::string> args;
    std::string mentions;
  };
  for (const Case& c : std::vector<Case>{
           {{"chanels", "list"}, "did you mean \"channels\"?"},
           {{"stauts", "x"}, "did you mean \"status\"?"},
           {{"channels", "lsit"}, "did you mean \"channels list\"?"},
           {{"target", "st", "x", "1.0.0"}, "did you mean \"target set\"?"},
           {{"channels", "delete", "x", "--froce"}, "did you mean \"--force\"?"},
           {{"critical", "raise", "x", "--reason=   "}, "only blanks"},
       }) {
    std::vector<std::string> args = c.args;
    args.insert(args.begin(), absl::StrCat("--coordinator=127.0.0.1:", FreePort()));
    CtlResult r = Run(args, {}, false);
    EXPECT_EQ(r.code, kUsage) << r.Describe();
    EXPECT_TRUE(absl::StrContains(r.err, c.mentions)) << r.Describe();
  }
  CtlResult far = Run({"frobnicate"}, {}, false);
  EXPECT_EQ(far.code, kUsage);
  EXPECT_FALSE(absl::StrContains(far.err, "did you mean")) << far.err;

  CtlResult help = Run({"help", "critical", "raise"}, {}, false);
  ASSERT_EQ(help.code, kOk) << help.Describe();
  EXPECT_TRUE(absl::StrContains(help.out, "why, e.g. a CVE id (required)")) << help.out;
  EXPECT_FALSE(absl::StrContains(help.out, "(required) (required)")) << help.out;
}

TEST_F(DroverctlTest, InvalidArgumentFromTheCoordinator) {
  CtlResult r = Run({"channels", "create", "Bad_ID", "--control-plane=1.0.0"});
  EXPECT_EQ(r.code, kInvalid) << r.Describe();
  EXPECT_TRUE(absl::StrContains(r.err, "Bad_ID")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "rejected")) << r.err;
}

TEST_F(DroverctlTest, UnavailableNamesTheAddressAndDoesNotHang) {
  const std::string closed = absl::StrCat("127.0.0.1:", FreePort());
  const absl::Time start = absl::Now();
  CtlResult r = Run({"--coordinator=" + closed, "channels", "list"}, {}, false);
  EXPECT_EQ(r.code, kUnavailable) << r.Describe();
  EXPECT_TRUE(absl::StrContains(r.err, closed)) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "--coordinator")) << r.err;
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));

  // Also with a short --timeout and for the watch's first snapshot.
  CtlResult w = Run({"--coordinator=" + closed, "--timeout=2s", "status", "x", "--watch"}, {}, false);
  EXPECT_EQ(w.code, kUnavailable) << w.Describe();
}

TEST_F(DroverctlTest, DatabaseDownIsUnavailable) {
  // Its own PostgreSQL, so stopping it disturbs no other test.
  absl::StatusOr<std::unique_ptr<testing::TestPostgres>> pg = testing::TestPostgres::StartPrivate();
  ASSERT_TRUE(pg.ok()) << pg.status();
  ASSERT_TRUE((*pg)->CreateDatabase("dbdown").ok());
  absl::StatusOr<std::unique_ptr<CoordinatorProcess>> c = CoordinatorProcess::Start((*pg)->Url("dbdown"));
  ASSERT_TRUE(c.ok()) << c.status();
  const std::string address = (*c)->grpc_address();
  ASSERT_EQ(Run({"--coordinator=" + address, "channels", "create", "db", "--control-plane=1.0.0"}, {}, false).code,
            kOk);
  ASSERT_TRUE((*pg)->Stop("immediate").ok());
  CtlResult r = Run({"--coordinator=" + address, "channels", "show", "db"}, {}, false);
  EXPECT_EQ(r.code, kUnavailable) << r.Describe();
  EXPECT_TRUE(absl::StrContains(r.err, address)) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "PostgreSQL")) << r.err << "\n" << (*c)->Log();  // the coordinator's own words
}

TEST_F(DroverctlTest, CoordinatorFromEnvironment) {
  Create("env", "15.0.0");
  CtlResult r = Run({"channels", "show", "env"}, {{"DROVER_COORDINATOR", Address()}}, false);
  EXPECT_EQ(r.code, kOk) << r.Describe();
  const std::string closed = absl::StrCat("127.0.0.1:", FreePort());
  CtlResult down = Run({"channels", "show", "env"}, {{"DROVER_COORDINATOR", closed}}, false);
  EXPECT_EQ(down.code, kUnavailable) << down.Describe();
  EXPECT_TRUE(absl::StrContains(down.err, closed)) << down.err;
  // The flag wins over the environment.
  CtlResult flag = Run({"--coordinator=" + Address(), "channels", "show", "env"}, {{"DROVER_COORDINATOR", closed}},
                       false);
  EXPECT_EQ(flag.code, kOk) << flag.Describe();
  // Flags may follow the command words.
  CtlResult after = Run({"channels", "show", "env", "--coordinator", Address(), "--output", "json"}, {}, false);
  EXPECT_EQ(after.code, kOk) << after.Describe();
  EXPECT_EQ(JsonField(after.out, "name"), "channels/env");
}

}  // namespace
}  // namespace drover
