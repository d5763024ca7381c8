#include "tests/support/demo_agent_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "tests/support/test_env.h"

namespace drover::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

pid_t ReadPidFile(const std::string& path) {
  int pid = -1;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(Slurp(path)), &pid)) return -1;
  return pid;
}

absl::StatusOr<std::unique_ptr<DemoAgentProcess>> DemoAgentProcess::Start(const std::string& binary) {
  auto p = std::unique_ptr<DemoAgentProcess>(new DemoAgentProcess());
  std::string tmpl = "/tmp/drover-demo-agent-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return absl::InternalError("mkdtemp failed");
  p->dir_ = tmpl;
  p->pid_file_ = p->dir_ + "/agent.pid";
  const std::string ready = p->dir_ + "/ready";
  const std::string log = p->dir_ + "/log";
  std::vector<std::string> argv = {binary, "--listen=127.0.0.1:0", "--pid_file=" + p->pid_file_,
                                   "--ready_file=" + ready};
  p->pid_ = fork();
  if (p->pid_ == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  const bool up = PollUntil(absl::Seconds(20), [&] {
    if (waitpid(p->pid_, &status, WNOHANG) == p->pid_) {
      p->exited_ = true;
      return true;
    }
    return !absl::StripAsciiWhitespace(Slurp(ready)).empty();
  });
  if (!up || p->exited_) {
    return absl::UnavailableError(absl::StrCat(binary, " did not start: ", Slurp(log)));
  }
  p->address_ = std::string(absl::StripAsciiWhitespace(Slurp(ready)));
  return p;
}

int DemoAgentProcess::Stop(int sig, absl::Duration timeout) {
  if (exited_) return -1;
  kill(pid_, sig);
  int status = -1;
  const bool done = PollUntil(timeout, [&] { return waitpid(pid_, &status, WNOHANG) == pid_; });
  if (!done) return -1;
  exited_ = true;
  return status;
}

DemoAgentProcess::~DemoAgentProcess() {
  if (!exited_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace drover::testing
