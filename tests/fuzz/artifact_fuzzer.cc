// What the updater trusts about an artifact before and while unpacking it:
// the signed manifest (install/artifact_manifest.h), each tarball member and
// the archive's budget (install/tar_member.h), the signed-by options of an
// apt source list and the fingerprints in gpg's output. The first byte picks
// which, the rest is its input:
//   'm' V manifest bytes      VerifyArtifactManifest for "demo-agent", version
//                             kVersions[V % 3], with the fixed release key
//   't' "MAX_BYTES MAX_MEMBERS\n" then one member a line:
//       TYPE\tMODE(octal)\tSIZE\tPATH[\tLINK]   (TYPE: f d l h c b p s o)
//                             CheckTarMember on each, TarBudget over the
//                             accepted ones, stopping at the first refusal
//   'a' / 'A' P list          SignedByKeyrings (one-line / deb822), pinned
//                             keyring kPinned when P is odd
//   'g' output                PrimaryFingerprints
// Invariants: an accepted manifest names exactly the expected name and
// version, a 32-byte digest and a size; changing any byte of its signed part
// makes it refused. An accepted member is a regular file, directory, symlink
// or hard link whose path is relative, NUL-free, without "..", whose mode
// keeps only rwxr-xr-x, whose symlink target resolved from the member's
// directory stays inside; refusals are one-line PermissionDenied. The budget
// refuses exactly when a limit is passed.
//
// DROVER_FUZZ_WRITE_SEEDS=<dir> bin/artifact_fuzzer writes the signed
// manifest seeds (deterministic: Ed25519) and exits.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <unordered_set>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent-updater/install/apt_installer.h"
#include "agent-updater/install/artifact_manifest.h"
#include "agent-updater/install/dnf_installer.h"
#include "agent-updater/install/signature.h"
#include "agent-updater/install/tar_member.h"
#include "drover/artifact/v1/manifest.pb.h"
#include "google/protobuf/stubs/logging.h"
#include "tests/fuzz/fuzz_check.h"

namespace drover::fuzz {
namespace {

using updater::TarMemberType;

// A test release key (`openssl genpkey -algorithm ed25519`), for this corpus only.
constexpr char kReleasePrivatePem[] = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIPUi6TBGDdxf99qswvgvfgR9XB6Teq8KdV4l6EG5I6VD\n-----END PRIVATE KEY-----\n";
constexpr char kReleasePublicPem[] = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAlRvFaaZk3MmtvzbsaqxMCgYanqXQzwjEsVIbLAqgKIs=\n-----END PUBLIC KEY-----\n";

constexpr char kName[] = "demo-agent";
constexpr const char* kVersions[] = {"14.0.0", "13.0.0", "14.0.0-rc.1"};
constexpr char kPinned[] = "/usr/share/keyrings/drover.gpg";

const updater::Ed25519Verifier& Key() {
  static const updater::Ed25519Verifier* key = [] {
    absl::StatusOr<updater::Ed25519Verifier> k = updater::Ed25519Verifier::FromPem(kReleasePublicPem, "release key");
    if (!k.ok()) std::abort();
    return new updater::Ed25519Verifier(*std::move(k));
  }();
  return *key;
}

void CheckOneLine(const absl::Status& s) {
  FUZZ_CHECK(!absl::StrContains(s.message(), '\n'), Show(s.message()));
}

// --- Manifests ---------------------------------------------------------------

void FuzzManifest(absl::string_view expected_version, absl::string_view file) {
  absl::StatusOr<updater::ArtifactFacts> facts =
      updater::VerifyArtifactManifest(file, kName, expected_version, Key(), "fuzz.manifest");
  if (!facts.ok()) {
    FUZZ_CHECK(absl::IsPermissionDenied(facts.status()), facts.status().ToString());
    FUZZ_CHECK(absl::StrContains(facts.status().message(), "fuzz.manifest"), facts.status().ToString());
    return;
  }
  FUZZ_CHECK(facts->name == kName, Show(facts->name));
  FUZZ_CHECK(facts->version == expected_version, Show(facts->version));
  FUZZ_CHECK(facts->sha256.size() == updater::kSha256Size, updater::HexEncode(facts->sha256));
  FUZZ_CHECK(facts->size_bytes > 0, "size 0");
  FUZZ_CHECK(file.size() <= updater::kMaxArtifactManifestBytes, absl::StrCat(file.size()));
  // The signed bytes cannot change, nor can the signature (checked once per
  // signed content: the fuzzer keeps mutating the unsigned rest).
  artifact::v1::SignedArtifactManifest envelope;
  FUZZ_CHECK(envelope.ParseFromArray(file.data(), static_cast<int>(file.size())), "accepted, does not parse");
  static auto* seen = new std::unordered_set<std::string>();
  if (seen->size() > 100000) seen->clear();
  if (!seen->insert(absl::StrCat(envelope.manifest(), "\0", envelope.signature())).second) return;
  for (std::string* bytes : {envelope.mutable_manifest(), envelope.mutable_signature()}) {
    for (size_t i = 0; i < bytes->size(); ++i) {
      (*bytes)[i] = static_cast<char>((*bytes)[i] ^ (1 + i % 255));
      absl::StatusOr<updater::ArtifactFacts> changed = updater::VerifyArtifactManifest(
          envelope.SerializeAsString(), kName, expected_version, Key(), "fuzz.manifest");
      (*bytes)[i] = static_cast<char>((*bytes)[i] ^ (1 + i % 255));
      FUZZ_CHECK(absl::IsPermissionDenied(changed.status()), absl::StrCat("byte ", i, " changed: ",
                                                                          changed.status().ToString()));
    }
  }
}

// --- Tarball members ---------------------------------------------------------

TarMemberType TypeOf(absl::string_view t) {
  if (t == "f") return TarMemberType::kRegular;
  if (t == "d") return TarMemberType::kDirectory;
  if (t == "l") return TarMemberType::kSymlink;
  if (t == "h") return TarMemberType::kHardlink;
  if (t == "c") return TarMemberType::kCharDevice;
  if (t == "b") return TarMemberType::kBlockDevice;
  if (t == "p") return TarMemberType::kFifo;
  if (t == "s") return TarMemberType::kSocket;
  return TarMemberType::kOther;
}

// The components of a relative, checked path ("." and empty ones dropped).
void CheckComponents(const std::vector<std::string>& components, absl::string_view path) {
  std::vector<absl::string_view> expected;
  for (absl::string_view c : absl::StrSplit(path, '/')) {
    if (!c.empty() && c != ".") expected.push_back(c);
  }
  FUZZ_CHECK(absl::StrJoin(components, "/") == absl::StrJoin(expected, "/") && components.size() == expected.size(),
             Show(path) + " -> " + Show(absl::StrJoin(components, "|")));
  for (const std::string& c : components) {
    FUZZ_CHECK(!c.empty() && c != "." && c != ".." && !absl::StrContains(c, '/') && !absl::StrContains(c, '\0') &&
                   c.size() <= updater::kMaxTarComponentBytes,
               Show(c));
  }
}

void CheckMember(const updater::TarMember& m, const updater::CheckedTarMember& c) {
  FUZZ_CHECK(m.type == TarMemberType::kRegular || m.type == TarMemberType::kDirectory ||
                 m.type == TarMemberType::kSymlink || m.type == TarMemberType::kHardlink,
             std::string(updater::TarMemberTypeName(m.type)));
  FUZZ_CHECK(c.type == m.type, "type changed");
  FUZZ_CHECK(!m.path.empty() && m.path.front() != '/' && !absl::StrContains(m.path, '\0') &&
                 m.path.size() <= updater::kMaxTarPathBytes,
             Show(m.path));
  for (absl::string_view part : absl::StrSplit(m.path, '/')) FUZZ_CHECK(part != "..", Show(m.path));
  CheckComponents(c.components, m.path);
  FUZZ_CHECK(!c.components.empty() || m.type == TarMemberType::kDirectory, Show(m.path));
  FUZZ_CHECK(c.mode == (m.mode & updater::kTarModeMask), absl::StrCat(c.mode));
  FUZZ_CHECK((c.mode & 07022) == 0, absl::StrCat("mode ", c.mode));
  FUZZ_CHECK(c.size >= 0 && (m.type != TarMemberType::kRegular || c.size == m.size), absl::StrCat(c.size));
  if (m.type == TarMemberType::kSymlink) {
    const std::string& target = c.symlink_target;
    FUZZ_CHECK(target == m.link_target, Show(target));
    FUZZ_CHECK(!target.empty() && target.front() != '/' && !absl::StrContains(target, '\0'), Show(target));
    // Resolve from the link's directory: never above the version directory.
    std::vector<std::string> at(c.components.begin(), c.components.end() - 1);
    for (absl::string_view part : absl::StrSplit(target, '/')) {
      if (part.empty() || part == ".") continue;
      if (part == "..") {
        FUZZ_CHECK(!at.empty(), Show(m.path) + " -> " + Show(target) + " leaves the root");
        at.pop_back();
      } else {
        at.emplace_back(part);
      }
    }
  }
  if (m.type == TarMemberType::kHardlink) {
    FUZZ_CHECK(!c.hardlink_components.empty(), Show(m.link_target));
    FUZZ_CHECK(m.link_target.front() != '/' && !absl::StrContains(m.link_target, '\0'), Show(m.link_target));
    CheckComponents(c.hardlink_components, m.link_target);
  }
}

void FuzzTar(absl::string_view text) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  updater::TarLimits limits;
  {
    std::vector<absl::string_view> l = absl::StrSplit(lines[0], ' ');
    int64_t v = 0;
    if (l.size() > 0 && absl::SimpleAtoi(l[0], &v)) limits.max_bytes = v;
    if (l.size() > 1 && absl::SimpleAtoi(l[1], &v)) limits.max_members = v;
  }
  updater::TarBudget budget(limits);
  int64_t bytes = 0, members = 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<absl::string_view> f = absl::StrSplit(lines[i], '\t');
    if (f.size() < 4) continue;
    updater::TarMember m;
    m.type = TypeOf(f[0]);
    uint32_t mode = 0;
    if (absl::numbers_internal::safe_strtou32_base(f[1], &mode, 8)) m.mode = mode;
    int64_t size = 0;
    if (absl::SimpleAtoi(f[2], &size)) m.size = size;
    m.path = std::string(f[3]);
    if (f.size() > 4) m.link_target = std::string(f[4]);
    absl::StatusOr<updater::CheckedTarMember> c = updater::CheckTarMember(m);
    if (!c.ok()) {
      FUZZ_CHECK(absl::IsPermissionDenied(c.status()), c.status().ToString());
      CheckOneLine(c.status());
      FUZZ_CHECK(absl::StrContains(c.status().message(), absl::CEscape(m.path.substr(0, 100))),
                 c.status().ToString());
      continue;
    }
    CheckMember(m, *c);
    // The budget, as the extractor applies it: stop at the first refusal.
    const bool fits = members + 1 <= limits.max_members && c->size <= limits.max_bytes - bytes;
    absl::Status s = budget.Add(m.path, c->size);
    FUZZ_CHECK(s.ok() == fits, absl::StrCat(s.ToString(), " members ", members, " bytes ", bytes, " + ", c->size,
                                            " limits ", limits.max_bytes, "/", limits.max_members));
    if (!s.ok()) {
      FUZZ_CHECK(absl::IsResourceExhausted(s), s.ToString());
      CheckOneLine(s);
      return;
    }
    ++members;
    bytes += c->size;
    FUZZ_CHECK(budget.bytes() == bytes && budget.members() == members,
               absl::StrCat(budget.bytes(), " ", budget.members()));
    FUZZ_CHECK(bytes <= limits.max_bytes && members <= limits.max_members, absl::StrCat(bytes, " ", members));
  }
}

// --- apt source lists, gpg output --------------------------------------------

void FuzzApt(absl::string_view content, bool deb822, absl::string_view pinned) {
  absl::StatusOr<std::vector<std::string>> keyrings =
      updater::SignedByKeyrings(content, "/etc/apt/sources.list.d/drover.list", deb822, pinned);
  if (!keyrings.ok()) {
    FUZZ_CHECK(absl::IsPermissionDenied(keyrings.status()) || absl::IsInvalidArgument(keyrings.status()),
               keyrings.status().ToString());
    return;
  }
  FUZZ_CHECK(!keyrings->empty(), Show(content));
  for (const std::string& k : *keyrings) {
    FUZZ_CHECK(!k.empty() && absl::StrContains(content, k), Show(k));
    FUZZ_CHECK(pinned.empty() || k == pinned, Show(k));
  }
}

void FuzzGpg(absl::string_view output) {
  const std::vector<std::string> fprs = updater::PrimaryFingerprints(output);
  size_t pubs = 0;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    pubs += std::vector<absl::string_view>(absl::StrSplit(line, ':'))[0] == "pub";
  }
  FUZZ_CHECK(fprs.size() <= pubs, absl::StrCat(fprs.size(), " > ", pubs));
  for (const std::string& f : fprs) {
    FUZZ_CHECK(!absl::StrContains(f, ':') && !absl::StrContains(f, '\n') && f == absl::AsciiStrToUpper(f), Show(f));
  }
}

// --- Seeds -------------------------------------------------------------------

void WriteSeeds(const std::string& dir) {
  absl::StatusOr<updater::Ed25519Signer> signer = updater::Ed25519Signer::FromPem(kReleasePrivatePem);
  if (!signer.ok()) std::abort();
  auto write = [&](const std::string& name, absl::string_view version, const updater::ArtifactFacts& facts) {
    absl::StatusOr<std::string> file = updater::SignArtifactManifest(facts, *signer);
    if (!file.ok()) std::abort();
    // A seed is what its name says: "manifest-valid*" verifies, the others do not.
    if (updater::VerifyArtifactManifest(*file, kName, version, Key(), name).ok() !=
        absl::StartsWith(name, "manifest-valid")) {
      std::abort();
    }
    char v = 0;
    for (int i = 0; i < 3; ++i) v = kVersions[i] == version ? static_cast<char>(i) : v;
    std::ofstream(dir + "/" + name, std::ios::binary) << "m" << v << *file;
  };
  const std::string digest(32, '\x5a');
  write("manifest-valid", "14.0.0", {kName, "14.0.0", 4096, digest});
  write("manifest-valid-rc", "14.0.0-rc.1", {kName, "14.0.0-rc.1", 1, digest});
  // The renamed-tarball attack: 13.0.0's manifest offered as 14.0.0.
  write("manifest-renamed", "14.0.0", {kName, "13.0.0", 4096, digest});
  write("manifest-other-name", "13.0.0", {"other-agent", "13.0.0", 4096, digest});
}

}  // namespace
}  // namespace drover::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) { return drover::fuzz::Initialize(drover::fuzz::WriteSeeds); }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace drover::fuzz;
  if (size < 2) return 0;
  const absl::string_view rest = AsText(data + 2, size - 2);
  switch (data[0]) {
    case 'm': FuzzManifest(kVersions[data[1] % 3], rest); break;
    case 't': FuzzTar(AsText(data + 1, size - 1)); break;
    case 'a': FuzzApt(rest, false, data[1] % 2 ? kPinned : ""); break;
    case 'A': FuzzApt(rest, true, data[1] % 2 ? kPinned : ""); break;
    case 'g': FuzzGpg(AsText(data + 1, size - 1)); break;
    default: break;
  }
  return 0;
}
