#include "agent-updater/oci/registry_client.h"

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "agent-updater/oci/digest.h"
#include "agent-updater/oci/image_reference.h"
#include "agent-updater/oci/www_authenticate.h"
#include "common/atomic_file.h"

namespace drover::oci {
namespace {

// The distribution spec's default token lifetime when a server names none.
constexpr int64_t kDefaultTokenSeconds = 60;
// A token is renewed this long before its stated expiry (at most half its life).
constexpr int64_t kTokenRenewMarginSeconds = 10;
constexpr size_t kMaxTokenReplyBytes = 1u << 20;

std::string AcceptHeader() {
  return absl::StrCat("Accept: ", absl::StrJoin({kOciManifest, kOciIndex, kDockerManifest, kDockerManifestList}, ", "));
}

// "(registry said MANIFEST_UNKNOWN: manifest unknown)" from a distribution
// error body, short; empty when the body is not one.
std::string RegistrySaid(const HttpReply& reply) {
  const nlohmann::json body = nlohmann::json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.contains("errors") || !body["errors"].is_array() || body["errors"].empty()) {
    return "";
  }
  const nlohmann::json& first = body["errors"][0];
  if (!first.is_object()) return "";
  const std::string code = first.value("code", "");
  const std::string message = first.contains("message") && first["message"].is_string()
                                  ? first["message"].get<std::string>()
                                  : std::string();
  std::string said = code.substr(0, 64);
  if (!message.empty()) absl::StrAppend(&said, said.empty() ? "" : ": ", message.substr(0, 160));
  if (said.empty()) return "";
  return absl::StrCat(" (registry said ", absl::CHexEscape(said), ")");
}

// The status for an answer that is not what the call wanted.
absl::Status StatusForReply(const HttpReply& reply, absl::string_view what) {
  const std::string said = RegistrySaid(reply);
  if (reply.status == 404) return absl::NotFoundError(absl::StrCat(what, " not found (HTTP 404)", said));
  if (reply.status == 429) {
    return absl::UnavailableError(absl::StrCat(what, ": the registry is rate limiting (HTTP 429)", said));
  }
  if (reply.status >= 500) {
    return absl::UnavailableError(absl::StrCat(what, ": registry error HTTP ", reply.status, said));
  }
  return absl::FailedPreconditionError(absl::StrCat(what, ": unexpected HTTP ", reply.status, said));
}

bool IsHeaderSafe(absl::string_view value) {
  return std::all_of(value.begin(), value.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

}  // namespace

std::string Where(absl::string_view registry, absl::string_view repository, absl::string_view reference) {
  std::string out;
  if (!reference.empty()) {
    absl::StrAppend(&out, IsSha256Digest(reference) ? "manifest " : "tag ", reference, " of ");
  }
  absl::StrAppend(&out, registry, "/", repository);
  return out;
}

absl::StatusOr<std::unique_ptr<RegistryClient>> RegistryClient::Create(absl::string_view registry,
                                                                       RegistryClientOptions options) {
  if (registry.empty() || registry.find_first_of("/ \t\r\n@?#") != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("bad registry ", QuoteShort(registry), "; expected host[:port]"));
  }
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("registry timeout must be positive, not ", absl::FormatDuration(options.timeout)));
  }
  std::string password;
  if (!options.password_file.empty()) {
    if (options.username.empty()) {
      return absl::InvalidArgumentError("a registry password file needs a username too");
    }
    absl::StatusOr<std::string> read = ReadFile(options.password_file);
    if (!read.ok()) {
      return absl::Status(read.status().code(), absl::StrCat("cannot read the registry password file ",
                                                             options.password_file, ": ", read.status().message()));
    }
    password = std::string(absl::StripTrailingAsciiWhitespace(*read));
  }
  return std::unique_ptr<RegistryClient>(new RegistryClient(std::string(registry), std::move(options),
                                                            std::move(password)));
}

RegistryClient::RegistryClient(std::string registry, RegistryClientOptions options, std::string password)
    : registry_(std::move(registry)), options_(std::move(options)), password_(std::move(password)) {}

RegistryClientStats RegistryClient::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

std::string RegistryClient::Scope(absl::string_view repository) const {
  return absl::StrCat("repository:", repository, ":pull");
}

HttpTransportOptions RegistryClient::Transport() const {
  HttpTransportOptions t;
  t.timeout = options_.timeout;
  t.ca_file = options_.ca_file;
  t.allow_plain_http = options_.plain_http;
  return t;
}

absl::StatusOr<HttpReply> RegistryClient::Send(absl::string_view method, absl::string_view repository,
                                               absl::string_view path, std::vector<std::string> headers,
                                               size_t max_body, bool follow_redirects, absl::string_view what) {
  HttpRequest request;
  request.method = std::string(method);
  request.url = absl::StrCat(options_.plain_http ? "http://" : "https://", registry_, "/v2/", repository, "/", path);
  request.headers = std::move(headers);
  request.max_body_bytes = max_body;
  request.follow_redirects = follow_redirects;
  const std::string scope = Scope(repository);
  for (int attempt = 0;; ++attempt) {
    HttpRequest r = request;
    {
      absl::MutexLock lock(&mu_);
      ++stats_.requests;
      auto it = tokens_.find(scope);
      if (it != tokens_.end() && clock().Now() < it->second.expires) {
        r.headers.push_back(absl::StrCat("Authorization: Bearer ", it->second.token));
      } else if (use_basic_) {
        r.basic_user = options_.username;
        r.basic_password = password_;
      }
    }
    absl::StatusOr<HttpReply> reply = HttpExchange(r, Transport());
    if (!reply.ok()) {
      return absl::Status(reply.status().code(), absl::StrCat(what, ": ", reply.status().message()));
    }
    if (reply->status == 401 && attempt == 0) {
      if (absl::Status s = Authenticate(*reply, repository, what); !s.ok()) return s;
      absl::MutexLock lock(&mu_);
      ++stats_.auth_retries;
      continue;
    }
    if (reply->status == 401 || reply->status == 403) {
      return absl::PermissionDeniedError(absl::StrCat(
          what, ": access refused (HTTP ", reply->status, ")", attempt > 0 ? " after authenticating" : "",
          RegistrySaid(*reply), options_.username.empty() ? "; no credentials are configured"
                                                          : absl::StrCat("; as user ", options_.username)));
    }
    return reply;
  }
}

absl::Status RegistryClient::Authenticate(const HttpReply& reply, absl::string_view repository,
                                          absl::string_view what) {
  const std::string header = reply.Header("www-authenticate");
  if (header.empty()) {
    return absl::PermissionDeniedError(absl::StrCat(what, ": HTTP 401 without a WWW-Authenticate challenge"));
  }
  absl::StatusOr<AuthChallenge> challenge = ParseAuthChallenge(header);
  if (!challenge.ok()) {
    return absl::PermissionDeniedError(absl::StrCat(what, ": HTTP 401 and ", challenge.status().message()));
  }
  if (challenge->scheme == "bearer") {
    absl::StatusOr<CachedToken> token = FetchToken(challenge->params, Scope(repository), what);
    if (!token.ok()) return token.status();
    absl::MutexLock lock(&mu_);
    tokens_[Scope(repository)] = *std::move(token);
    ++stats_.token_fetches;
    return absl::OkStatus();
  }
  if (challenge->scheme == "basic") {
    if (options_.username.empty()) {
      return absl::PermissionDeniedError(absl::StrCat(
          what, ": the registry wants basic credentials (HTTP 401); configure a username and password file"));
    }
    absl::MutexLock lock(&mu_);
    use_basic_ = true;
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      absl::StrCat(what, ": HTTP 401 with unsupported auth scheme ", QuoteShort(challenge->scheme)));
}

absl::StatusOr<RegistryClient::CachedToken> RegistryClient::FetchToken(
    const std::map<std::string, std::string>& params, absl::string_view fallback_scope, absl::string_view what) {
  auto realm = params.find("realm");
  if (realm == params.end() || realm->second.empty()) {
    return absl::PermissionDeniedError(absl::StrCat(what, ": bearer challenge without a realm"));
  }
  const std::string& realm_url = realm->second;
  if (!absl::StartsWithIgnoreCase(realm_url, "https://") &&
      !(options_.plain_http && absl::StartsWithIgnoreCase(realm_url, "http://"))) {
    return absl::PermissionDeniedError(absl::StrCat(what, ": token realm ", QuoteShort(realm_url),
                                                    " is not https (plain HTTP needs the plain_http option)"));
  }
  auto service = params.find("service");
  auto scope = params.find("scope");
  HttpRequest request;
  request.url = absl::StrCat(realm_url, absl::StrContains(realm_url, '?') ? "&" : "?");
  if (service != params.end()) absl::StrAppend(&request.url, "service=", UrlEscape(service->second), "&");
  absl::StrAppend(&request.url, "scope=", UrlEscape(scope != params.end() ? scope->second : fallback_scope));
  request.max_body_bytes = kMaxTokenReplyBytes;
  request.basic_user = options_.username;
  request.basic_password = password_;
  const std::string who = options_.username.empty() ? "anonymous" : absl::StrCat("user ", options_.username);
  const absl::Time now = clock().Now();
  absl::StatusOr<HttpReply> reply = HttpExchange(request, Transport());
  if (!reply.ok()) {
    return absl::Status(reply.status().code(),
                        absl::StrCat(what, ": cannot get a token from ", realm_url, ": ", reply.status().message()));
  }
  if (reply->status == 401 || reply->status == 403) {
    return absl::PermissionDeniedError(absl::StrCat(what, ": token server ", realm_url, " refused ", who, " (HTTP ",
                                                    reply->status, "); check the username and password file"));
  }
  if (reply->status != 200) {
    absl::Status s = StatusForReply(*reply, absl::StrCat("token from ", realm_url));
    return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
  }
  const nlohmann::json body = nlohmann::json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
  std::string token;
  if (body.is_object()) {
    for (const char* key : {"token", "access_token"}) {
      if (body.contains(key) && body[key].is_string() && !body[key].get<std::string>().empty()) {
        token = body[key].get<std::string>();
        break;
      }
    }
  }
  if (token.empty() || !IsHeaderSafe(token)) {
    return absl::PermissionDeniedError(
        absl::StrCat(what, ": token server ", realm_url, " answered without a usable token"));
  }
  int64_t seconds = kDefaultTokenSeconds;
  if (body.contains("expires_in") && body["expires_in"].is_number_integer() &&
      body["expires_in"].get<int64_t>() > 0) {
    seconds = body["expires_in"].get<int64_t>();
  }
  const int64_t margin = std::min(kTokenRenewMarginSeconds, seconds / 2);
  return CachedToken{std::move(token), now + absl::Seconds(seconds - margin)};
}

absl::StatusOr<std::string> RegistryClient::ResolveTag(absl::string_view repository, absl::string_view tag) {
  if (absl::Status s = CheckRepository(repository); !s.ok()) return s;
  if (absl::Status s = CheckTag(tag); !s.ok()) return s;
  const std::string what = Where(registry_, repository, tag);
  absl::StatusOr<HttpReply> head =
      Send("HEAD", repository, absl::StrCat("manifests/", tag), {AcceptHeader()}, 0, false, what);
  if (!head.ok()) return head.status();
  if (head->status == 200) {
    const std::string digest = head->Header("docker-content-digest");
    if (!digest.empty()) {
      if (!IsSha256Digest(digest)) {
        return absl::FailedPreconditionError(absl::StrCat(what, ": the registry names digest ", QuoteShort(digest),
                                                          "; only sha256:<64 hex> is accepted"));
      }
      return digest;
    }
  } else if (head->status == 404 || head->status == 429 || head->status >= 500) {
    return StatusForReply(*head, what);
  }
  // No digest from HEAD (or HEAD not allowed): GET, and hash the body.
  {
    absl::MutexLock lock(&mu_);
    ++stats_.head_fallbacks;
  }
  absl::StatusOr<Manifest> manifest = GetManifest(repository, tag);
  if (!manifest.ok()) return manifest.status();
  return manifest->digest;
}

absl::StatusOr<Manifest> RegistryClient::GetManifest(absl::string_view repository, absl::string_view reference) {
  if (absl::Status s = CheckRepository(repository); !s.ok()) return s;
  const bool by_digest = absl::StrContains(reference, ':');
  if (by_digest) {
    if (absl::Status s = CheckSha256Digest(reference, "manifest digest"); !s.ok()) return s;
  } else if (absl::Status s = CheckTag(reference); !s.ok()) {
    return s;
  }
  const std::string what = Where(registry_, repository, reference);
  absl::StatusOr<HttpReply> reply = Send("GET", repository, absl::StrCat("manifests/", reference), {AcceptHeader()},
                                         options_.max_manifest_bytes, false, what);
  if (!reply.ok()) return reply.status();
  if (reply->status != 200) return StatusForReply(*reply, what);
  Manifest out;
  out.digest = Sha256Digest(reply->body);
  out.media_type = std::string(absl::StripAsciiWhitespace(reply->Header("content-type").substr(
      0, reply->Header("content-type").find(';'))));
  const std::string header = reply->Header("docker-content-digest");
  const std::string& expected = by_digest ? std::string(reference) : header;
  if (!by_digest && !header.empty() && !IsSha256Digest(header)) {
    return absl::FailedPreconditionError(absl::StrCat(what, ": the registry names digest ", QuoteShort(header),
                                                      "; only sha256:<64 hex> is accepted"));
  }
  if (!expected.empty() && out.digest != expected) {
    {
      absl::MutexLock lock(&mu_);
      ++stats_.digest_mismatches;
    }
    return absl::DataLossError(absl::StrCat(what, ": the manifest received hashes to ", out.digest, ", not ", expected,
                                            "; refusing it (altered in transit or by the registry)"));
  }
  out.body = std::move(reply->body);
  return out;
}

absl::StatusOr<std::string> RegistryClient::GetBlob(absl::string_view repository, absl::string_view digest,
                                                    size_t max_bytes) {
  if (absl::Status s = CheckRepository(repository); !s.ok()) return s;
  if (absl::Status s = CheckSha256Digest(digest, "blob digest"); !s.ok()) return s;
  const std::string what = absl::StrCat("blob ", digest, " of ", registry_, "/", repository);
  absl::StatusOr<HttpReply> reply = Send("GET", repository, absl::StrCat("blobs/", digest), {},
                                         max_bytes == 0 ? options_.max_blob_bytes : max_bytes, true, what);
  if (!reply.ok()) return reply.status();
  if (reply->status != 200) return StatusForReply(*reply, what);
  const std::string actual = Sha256Digest(reply->body);
  if (actual != digest) {
    {
      absl::MutexLock lock(&mu_);
      ++stats_.digest_mismatches;
    }
    return absl::DataLossError(
        absl::StrCat(what, ": the blob received hashes to ", actual, "; refusing it (altered in transit or storage)"));
  }
  return std::move(reply->body);
}

}  // namespace drover::oci
