// drover-artifact: the release side of signed artifact manifests.
//   drover-artifact sign --key_file=KEY --name=N --version=V FILE
//     writes FILE.manifest binding N, V, FILE's size and SHA-256, signed
//     with the Ed25519 private key in KEY (a file: never on a command line).
//   drover-artifact verify --public_key_file=PUB --name=N --version=V FILE
//     checks FILE.manifest and FILE as the updater does.
// FILE must be named <name>-<version>.tar.gz: the updater fetches it and its
// manifest by that name.
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "agent-updater/install/artifact_manifest.h"
#include "agent-updater/install/signature.h"
#include "common/atomic_file.h"
#include "common/semver.h"

ABSL_FLAG(std::string, key_file, "", "sign: PEM file of the Ed25519 release private key");
ABSL_FLAG(std::string, public_key_file, "", "verify: PEM file of the pinned Ed25519 public key");
ABSL_FLAG(std::string, name, "", "The agent name (agent.name in the updater's configuration)");
ABSL_FLAG(std::string, version, "", "The artifact's semantic version, e.g. 1.2.0");
ABSL_FLAG(std::string, out, "", "sign: where to write the manifest (default FILE.manifest)");

namespace {

constexpr int kExitUsage = 2;

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "drover-artifact: %s\n", message.c_str());
  return code;
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

int main(int argc, char** argv) {
  using drover::updater::ArtifactFacts;
  absl::SetProgramUsageMessage(
      "drover-artifact signs and checks artifact manifests.\n"
      "Usage: drover-artifact sign --key_file=KEY --name=NAME --version=VERSION FILE\n"
      "       drover-artifact verify --public_key_file=PUB --name=NAME --version=VERSION FILE\n"
      "FILE is NAME-VERSION.tar.gz; the manifest is FILE.manifest.");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() != 3 || (std::string(args[1]) != "sign" && std::string(args[1]) != "verify")) {
    return Fail(kExitUsage, "usage: drover-artifact sign|verify [flags] FILE (see --help)");
  }
  const std::string command = args[1];
  const std::string file = args[2];
  const std::string name = absl::GetFlag(FLAGS_name);
  absl::StatusOr<drover::Semver> version = drover::Semver::Parse(absl::GetFlag(FLAGS_version));
  if (name.empty()) return Fail(kExitUsage, "--name is required");
  if (!version.ok()) return Fail(kExitUsage, absl::StrCat("--version: ", version.status().message()));
  const std::string expected_file = absl::StrCat(name, "-", version->ToString(), ".tar.gz");
  if (BaseName(file) != expected_file) {
    return Fail(kExitUsage, absl::StrCat(file, " is not named ", expected_file,
                                         ": the updater fetches the artifact of ", name, " ", version->ToString(),
                                         " by that name"));
  }
  const std::string manifest_path = absl::GetFlag(FLAGS_out).empty() ? file + ".manifest" : absl::GetFlag(FLAGS_out);

  absl::StatusOr<std::string> data = drover::ReadFile(file);
  if (!data.ok()) return Fail(1, std::string(data.status().message()));
  drover::updater::Sha256 hash;
  hash.Update(*data);
  const ArtifactFacts facts{name, version->ToString(), data->size(), hash.Finish()};

  if (command == "sign") {
    if (absl::GetFlag(FLAGS_key_file).empty()) return Fail(kExitUsage, "sign needs --key_file (the private key's PEM file)");
    absl::StatusOr<drover::updater::Ed25519Signer> signer =
        drover::updater::Ed25519Signer::FromPemFile(absl::GetFlag(FLAGS_key_file));
    if (!signer.ok()) return Fail(1, std::string(signer.status().message()));
    absl::StatusOr<std::string> manifest = drover::updater::SignArtifactManifest(facts, *signer);
    if (!manifest.ok()) return Fail(1, std::string(manifest.status().message()));
    absl::Status s = drover::WriteFileAtomically(manifest_path, *manifest, 0644);
    if (!s.ok()) return Fail(1, std::string(s.message()));
    std::printf("%s: %s %s, %zu bytes, sha256 %s\n", manifest_path.c_str(), name.c_str(), facts.version.c_str(),
                data->size(), drover::updater::HexEncode(facts.sha256).c_str());
    return 0;
  }

  if (absl::GetFlag(FLAGS_public_key_file).empty()) return Fail(kExitUsage, "verify needs --public_key_file");
  absl::StatusOr<drover::updater::Ed25519Verifier> verifier =
      drover::updater::Ed25519Verifier::FromPemFile(absl::GetFlag(FLAGS_public_key_file));
  if (!verifier.ok()) return Fail(1, std::string(verifier.status().message()));
  absl::StatusOr<std::string> manifest = drover::ReadFile(manifest_path);
  if (!manifest.ok()) return Fail(1, std::string(manifest.status().message()));
  absl::StatusOr<ArtifactFacts> signed_facts =
      drover::updater::VerifyArtifactManifest(*manifest, name, facts.version, *verifier, manifest_path);
  if (!signed_facts.ok()) return Fail(1, std::string(signed_facts.status().message()));
  if (signed_facts->size_bytes != facts.size_bytes || signed_facts->sha256 != facts.sha256) {
    return Fail(1, absl::StrCat(file, " (", facts.size_bytes, " bytes, sha256 ", drover::updater::HexEncode(facts.sha256),
                                ") does not match its manifest (", signed_facts->size_bytes, " bytes, sha256 ",
                                drover::updater::HexEncode(signed_facts->sha256), ")"));
  }
  std::printf("%s: OK, %s %s, %zu bytes, sha256 %s\n", file.c_str(), name.c_str(), facts.version.c_str(),
              data->size(), drover::updater::HexEncode(facts.sha256).c_str());
  return 0;
}
