// A demo agent (build/bin/demo-agent-<version>) run as a child process of
// the test, on a free port, stopped when this object goes away.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace drover::testing {

class DemoAgentProcess {
 public:
  // Starts `binary` with --listen=127.0.0.1:0 and waits (with a deadline)
  // until it listens.
  static absl::StatusOr<std::unique_ptr<DemoAgentProcess>> Start(const std::string& binary);
  ~DemoAgentProcess();

  // "127.0.0.1:<port>".
  const std::string& address() const { return address_; }
  std::string Url(const std::string& path) const { return "http://" + address_ + path; }
  pid_t pid() const { return pid_; }
  const std::string& pid_file() const { return pid_file_; }
  // Sends `sig` and waits for exit; returns the raw wait status, -1 on timeout.
  int Stop(int sig, absl::Duration timeout);

 private:
  DemoAgentProcess() = default;
  pid_t pid_ = -1;
  bool exited_ = false;
  std::string dir_;
  std::string address_;
  std::string pid_file_;
};

// Reads a pid file; -1 when missing or malformed.
pid_t ReadPidFile(const std::string& path);

}  // namespace drover::testing
