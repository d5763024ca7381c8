#include "agent-updater/oci/image_reference.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent-updater/oci/digest.h"

namespace drover::oci {
namespace {

// The distribution project's limit on a repository name.
constexpr size_t kMaxRepositoryLength = 255;
constexpr size_t kMaxTagLength = 128;

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// One path component: [a-z0-9]+ runs joined by ".", "_", "__" or "-"+.
bool IsValidComponent(absl::string_view c) {
  if (c.empty() || !IsLowerAlnum(c.front()) || !IsLowerAlnum(c.back())) return false;
  size_t i = 0;
  while (i < c.size()) {
    if (IsLowerAlnum(c[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < c.size() && !IsLowerAlnum(c[j])) ++j;
    const absl::string_view sep = c.substr(i, j - i);
    const bool dashes = sep.find_first_not_of('-') == absl::string_view::npos;
    if (sep != "." && sep != "_" && sep != "__" && !dashes) return false;
    i = j;
  }
  return true;
}

bool LooksLikeHost(absl::string_view first) {
  return absl::StrContains(first, '.') || absl::StrContains(first, ':') || first == "localhost";
}

absl::Status CheckHost(absl::string_view registry, absl::string_view text) {
  absl::string_view host = registry;
  absl::string_view port;
  if (absl::StartsWith(host, "[")) {
    const size_t close = host.find(']');
    if (close == absl::string_view::npos || close == 1) {
      return absl::InvalidArgumentError(absl::StrCat("image reference ", QuoteShort(text), ": bad IPv6 registry host ",
                                                     QuoteShort(registry)));
    }
    absl::string_view after = host.substr(close + 1);
    host = host.substr(1, close - 1);
    if (!after.empty()) {
      if (!absl::ConsumePrefix(&after, ":")) {
        return absl::InvalidArgumentError(
            absl::StrCat("image reference ", QuoteShort(text), ": bad registry ", QuoteShort(registry)));
      }
      port = after;
    }
    if (host.find_first_not_of("0123456789abcdefABCDEF:.") != absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("image reference ", QuoteShort(text), ": bad IPv6 registry host ", QuoteShort(registry)));
    }
  } else {
    const size_t colon = host.find(':');
    if (colon != absl::string_view::npos) {
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
    }
    if (host.empty() || host.front() == '-' || host.front() == '.' ||
        host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
            absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("image reference ", QuoteShort(text), ": bad registry host ",
                                                     QuoteShort(host), " (letters, digits, '.' and '-' only)"));
    }
  }
  if (registry.back() == ':' ||
      (!port.empty() && [&] {
        int p = 0;
        return port.find_first_not_of("0123456789") != absl::string_view::npos || !absl::SimpleAtoi(port, &p) ||
               p < 1 || p > 65535;
      }())) {
    return absl::InvalidArgumentError(absl::StrCat("image reference ", QuoteShort(text), ": bad registry port ",
                                                   QuoteShort(port), " (1 to 65535)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckTag(absl::string_view tag) {
  const auto word = [](char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  bool ok = !tag.empty() && tag.size() <= kMaxTagLength && word(tag.front());
  for (size_t i = 1; ok && i < tag.size(); ++i) ok = word(tag[i]) || tag[i] == '.' || tag[i] == '-';
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("bad tag ", QuoteShort(tag),
                                                 ": a tag is 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'"));
}

absl::Status CheckRepository(absl::string_view path) {
  if (path.empty()) return absl::InvalidArgumentError("no repository");
  if (path.size() > kMaxRepositoryLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("repository is ", path.size(), " characters, more than ", kMaxRepositoryLength));
  }
  for (absl::string_view component : absl::StrSplit(path, '/')) {
    if (!IsValidComponent(component)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad repository path component ", QuoteShort(component),
                       " (lowercase letters and digits, joined by '.', '_', '__' or '-')"));
    }
  }
  return absl::OkStatus();
}

std::string ImageReference::Name() const { return absl::StrCat(registry, "/", repository); }

std::string ImageReference::ToString() const {
  std::string out = Name();
  if (!tag.empty()) absl::StrAppend(&out, ":", tag);
  if (!digest.empty()) absl::StrAppend(&out, "@", digest);
  return out;
}

std::string ImageReference::PinnedTo(absl::string_view pinned) const { return absl::StrCat(Name(), "@", pinned); }

absl::StatusOr<ImageReference> ParseImageReference(absl::string_view text) {
  ImageReference ref;
  if (text.empty()) return absl::InvalidArgumentError("empty image reference; expected host[:port]/repository[:tag]");
  absl::string_view rest = text;
  const size_t at = rest.find('@');
  if (at != absl::string_view::npos) {
    ref.digest = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
    if (absl::Status s = CheckSha256Digest(ref.digest, absl::StrCat("image reference ", QuoteShort(text), ": digest"));
        !s.ok()) {
      return s;
    }
  }
  const size_t slash = rest.find('/');
  if (slash == absl::string_view::npos || !LooksLikeHost(rest.substr(0, slash))) {
    return absl::InvalidArgumentError(
        absl::StrCat("image reference ", QuoteShort(text),
                     " names no registry host; write host[:port]/repository[:tag] (e.g. registry.example.com/team/app:1.2.0)"));
  }
  ref.registry = std::string(rest.substr(0, slash));
  if (absl::Status s = CheckHost(ref.registry, text); !s.ok()) return s;
  absl::string_view path = rest.substr(slash + 1);
  // A ':' after the last '/' starts the tag (a port only comes before the first '/').
  const size_t last_slash = path.rfind('/');
  const size_t colon = path.find(':', last_slash == absl::string_view::npos ? 0 : last_slash);
  if (colon != absl::string_view::npos) {
    ref.tag = std::string(path.substr(colon + 1));
    path = path.substr(0, colon);
    if (absl::Status s = CheckTag(ref.tag); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("image reference ", QuoteShort(text), ": ", s.message()));
    }
  }
  if (absl::Status s = CheckRepository(path); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("image reference ", QuoteShort(text), ": ", s.message()));
  }
  ref.repository = std::string(path);
  return ref;
}

}  // namespace drover::oci
