// The updater's host certificate: enrolment with a join token, renewal
// before expiry, and the TLS credentials a pass uses. Kept in
// <state_dir>/identity/: host.key (0600, made here, never sent), host.pem
// (certificate + CA), used_token.sha256 (the last token traded, so a used
// token is not offered again every pass).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent-updater/target/coordinator_client.h"

namespace drover::updater {

struct HostIdentityOptions {
  std::string coordinator;
  std::string ca_file;
  std::string join_token_file;  // may be empty
  std::string state_dir;
  std::string host_id;
  absl::Duration timeout = absl::Seconds(10);
  // False for commands that only read (status): no renewal then.
  bool renew = true;
};

// A certificate is renewed once this share of its lifetime has passed.
inline constexpr double kRenewAfterLifetimeShare = 2.0 / 3.0;

struct HostIdentity {
  // Key and certificate set only while the certificate is valid.
  ClientTls tls;
  // What happened ("enrolled", "renewed", a warning); empty when nothing did.
  std::string note;
  bool warning = false;
};

// Enrols when there is no valid certificate (or an unused token is there),
// renews past kRenewAfterLifetimeShare of the lifetime. Failures to enrol
// or renew are notes, not errors: the pass still reads the target with
// server-authenticated TLS. An error only when the CA file is unusable.
absl::StatusOr<HostIdentity> PrepareHostIdentity(const HostIdentityOptions& options, absl::Time now);

}  // namespace drover::updater
