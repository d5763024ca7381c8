// drover-image-verify: resolves an image tag to a digest and verifies its
// cosign signature against a pinned key, as the Kubernetes updater will.
// Prints the pinned reference (host/repo@sha256:...) on success.
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "agent-updater/oci/image_verifier.h"

ABSL_FLAG(std::string, image, "", "Image reference host[:port]/repo[:tag][@sha256:...]");
ABSL_FLAG(std::string, public_key, "", "PEM file of the pinned cosign ECDSA P-256 public key");
ABSL_FLAG(std::string, ca_file, "", "PEM CA file for the registry's certificate (default: system store)");
ABSL_FLAG(bool, plain_http, false, "Talk plain HTTP to the registry (tests, loopback only)");
ABSL_FLAG(std::string, username, "", "Registry user name (basic auth or token realm)");
ABSL_FLAG(std::string, password_file, "", "File holding the registry password");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(30), "Timeout of each HTTP exchange");

namespace {

// Exit codes: 0 verified, 1 refused or failed, 2 usage.
constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;

int Fail(int code, const absl::Status& status) {
  std::fprintf(stderr, "drover-image-verify: %s: %s\n", absl::StatusCodeToString(status.code()).c_str(),
               std::string(status.message()).c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  namespace oci = drover::oci;
  absl::SetProgramUsageMessage(
      "drover-image-verify --image=HOST/REPO:TAG --public_key=cosign.pub [--ca_file=CA] [--plain_http]\n"
      "Resolves the tag to a digest, verifies its cosign signature and prints HOST/REPO@sha256:...");
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_image).empty() || absl::GetFlag(FLAGS_public_key).empty()) {
    return Fail(kExitUsage, absl::InvalidArgumentError("--image and --public_key are required (see --help)"));
  }
  absl::StatusOr<oci::ImageReference> image = oci::ParseImageReference(absl::GetFlag(FLAGS_image));
  if (!image.ok()) return Fail(kExitUsage, image.status());
  absl::StatusOr<oci::CosignVerifier> verifier = oci::CosignVerifier::FromPemFile(absl::GetFlag(FLAGS_public_key));
  if (!verifier.ok()) return Fail(kExitUsage, verifier.status());
  oci::RegistryClientOptions options;
  options.plain_http = absl::GetFlag(FLAGS_plain_http);
  options.ca_file = absl::GetFlag(FLAGS_ca_file);
  options.username = absl::GetFlag(FLAGS_username);
  options.password_file = absl::GetFlag(FLAGS_password_file);
  options.timeout = absl::GetFlag(FLAGS_timeout);
  absl::StatusOr<std::unique_ptr<oci::RegistryClient>> client = oci::RegistryClient::Create(image->registry, options);
  if (!client.ok()) return Fail(kExitUsage, client.status());
  absl::StatusOr<oci::VerifiedImage> verified = oci::VerifyImage(**client, *verifier, *image);
  if (!verified.ok()) return Fail(kExitRefused, verified.status());
  std::printf("%s\n", verified->pinned_reference.c_str());
  return 0;
}
