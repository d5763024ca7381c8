// A real OCI registry for tests: Debian's docker-registry (distribution 2.8)
// on a loopback port, the token server of tests/fixtures/oci, and pushes of
// images and cosign signatures made here (files, openssl, the upload API).
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace drover::testing {

// A child process with its output in a log file; killed when destroyed.
class ChildProcess {
 public:
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Spawn(const std::vector<std::string>& argv,
                                                            const std::string& log_file);
  ~ChildProcess();
  bool Alive();
  void Kill();
  // SIGTERM, then its exit code once it exits within `deadline` (-1 for
  // death by a signal); nullopt, and SIGKILL, when it does not.
  std::optional<int> Terminate(absl::Duration deadline);
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  std::string log_file_;
};

class RegistryProcess {
 public:
  // Serves `storage_dir` on 127.0.0.1:<free port>; `auth_yaml` is the
  // config's `auth:` section (indented two spaces) or empty for none. Waits
  // with a deadline until /v2/ answers; retries another port when the one
  // picked was taken meanwhile.
  static absl::StatusOr<std::unique_ptr<RegistryProcess>> Start(const std::string& work_dir,
                                                               const std::string& storage_dir,
                                                               const std::string& auth_yaml = "");
  const std::string& address() const { return address_; }
  std::string Log() const { return process_->Log(); }

 private:
  std::unique_ptr<ChildProcess> process_;
  std::string address_;
};

// tests/fixtures/oci/token_server.py: tokens for `user` (password in
// `password_file`), signed with `key_file`, whose certificate `cert_file`
// the registry trusts.
class TokenServerProcess {
 public:
  static absl::StatusOr<std::unique_ptr<TokenServerProcess>> Start(const std::string& work_dir,
                                                                  const std::string& cert_file,
                                                                  const std::string& key_file,
                                                                  const std::string& user,
                                                                  const std::string& password_file);
  std::string realm() const { return "http://" + address_ + "/token"; }
  static constexpr const char* kService = "drover-test-registry";
  static constexpr const char* kIssuer = "drover-test-token-server";

 private:
  std::unique_ptr<ChildProcess> process_;
  std::string address_;
};

// Pushes through the registry's upload API (no auth); returns the digest.
absl::StatusOr<std::string> PushBlob(const std::string& address, const std::string& repo, const std::string& bytes);
absl::StatusOr<std::string> PushManifest(const std::string& address, const std::string& repo,
                                         const std::string& reference, const std::string& media_type,
                                         const std::string& body);

// A one-layer OCI image (a tar holding version.txt = `content`) pushed as
// repo:tag; returns the manifest digest.
absl::StatusOr<std::string> PushImage(const std::string& address, const std::string& repo, const std::string& tag,
                                      const std::string& content, const std::string& work_dir);

// An ECDSA P-256 key pair made with the openssl CLI, as cosign's would be.
struct CosignKeyFiles {
  std::string private_key;
  std::string public_key;
};
absl::StatusOr<CosignKeyFiles> MakeCosignKey(const std::string& dir, const std::string& name);

// The simple-signing payload cosign writes for `digest` of `image_name`.
std::string SimpleSigningPayload(const std::string& image_name, const std::string& digest);

// base64(`openssl dgst -sha256 -sign KEY` over `payload`).
absl::StatusOr<std::string> SignPayload(const std::string& private_key, const std::string& payload,
                                        const std::string& work_dir);

// The signature manifest cosign pushes: tag sha256-<hex>.sig of
// `image_digest`, one simple-signing layer holding `payload`, annotated with
// `signature_base64`. Returns the signature manifest's digest.
absl::StatusOr<std::string> PushCosignSignature(const std::string& address, const std::string& repo,
                                                const std::string& image_digest, const std::string& payload,
                                                const std::string& signature_base64);

}  // namespace drover::testing
