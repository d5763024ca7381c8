#include "agent-updater/oci/www_authenticate.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent-updater/oci/digest.h"

namespace drover::oci {
namespace {

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || absl::string_view("!#$%&'*+-.^_`|~").find(c) !=
                                                                     absl::string_view::npos;
}

void SkipSpace(absl::string_view& s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
}

absl::string_view TakeToken(absl::string_view& s) {
  size_t n = 0;
  while (n < s.size() && IsTokenChar(s[n])) ++n;
  absl::string_view token = s.substr(0, n);
  s.remove_prefix(n);
  return token;
}

}  // namespace

absl::StatusOr<AuthChallenge> ParseAuthChallenge(absl::string_view header) {
  const auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("cannot parse WWW-Authenticate ", QuoteShort(header), ": ", why));
  };
  absl::string_view s = header;
  SkipSpace(s);
  AuthChallenge out;
  out.scheme = absl::AsciiStrToLower(TakeToken(s));
  if (out.scheme.empty()) return bad("no auth scheme");
  SkipSpace(s);
  while (!s.empty()) {
    const std::string name = absl::AsciiStrToLower(TakeToken(s));
    SkipSpace(s);
    if (name.empty() || s.empty() || s.front() != '=') {
      // A second challenge ("Bearer ..., Basic ...") or token68: stop at the first.
      if (!out.params.empty() || name.empty()) break;
      return bad("expected name=value parameters");
    }
    s.remove_prefix(1);
    SkipSpace(s);
    std::string value;
    if (!s.empty() && s.front() == '"') {
      s.remove_prefix(1);
      bool closed = false;
      while (!s.empty()) {
        const char c = s.front();
        s.remove_prefix(1);
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\') {
          if (s.empty()) break;
          value.push_back(s.front());
          s.remove_prefix(1);
          continue;
        }
        value.push_back(c);
      }
      if (!closed) return bad(absl::StrCat("unterminated quoted value of ", name));
    } else {
      value = std::string(TakeToken(s));
    }
    out.params[name] = std::move(value);
    SkipSpace(s);
    if (s.empty()) break;
    if (s.front() != ',') return bad(absl::StrCat("unexpected text after ", name));
    s.remove_prefix(1);
    SkipSpace(s);
  }
  return out;
}

}  // namespace drover::oci
