// drover-bench's TLS material: the coordinator's CA to verify it, one client
// certificate per simulated host minted in-process with the fleet's CA (as
// enrolment would issue it: URI SAN spiffe://<fleet>/host/<id>, OU = channel),
// and the operator token. Everything comes from files, nothing from argv.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"

namespace drover::bench {

struct BenchTlsOptions {
  std::string server_ca_file;  // --tls_ca_file
  std::string host_ca_cert_file;
  std::string host_ca_key_file;
  std::string fleet;
  std::string channel_id;  // the OU of every host certificate
  std::string host_prefix;
  int64_t hosts = 0;
};

struct BenchTls {
  // Server-authenticated TLS only: the operator connection and GetTarget
  // without a certificate (the recovery path).
  std::shared_ptr<grpc::ChannelCredentials> server_only;
  // mTLS, one per host: host h's certificate and key.
  std::vector<std::shared_ptr<grpc::ChannelCredentials>> host;
};

// Reads the CA files and mints the hosts' keys and certificates. Errors name
// the flag and the file.
absl::StatusOr<BenchTls> MakeBenchTls(const BenchTlsOptions& options);

// The operator token in `path` (first line, trimmed); InvalidArgument when the
// file is empty, NotFound / PermissionDenied naming it when unreadable.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

}  // namespace drover::bench
