#include "coordinator/ca_command.h"

#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/pki/pki.h"

namespace drover {

absl::StatusOr<std::string> InitCa(const CaInitOptions& options, absl::Time now) {
  if (options.dir.empty()) return absl::InvalidArgumentError("--ca_dir is required");
  if (absl::Status s = pki::ValidateFleetName(options.fleet); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--fleet: ", s.message()));
  }
  if (mkdir(options.dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::PermissionDeniedError(absl::StrCat("cannot create --ca_dir \"", options.dir, "\""));
  }
  const std::string ca_cert = options.dir + "/ca.pem", ca_key = options.dir + "/ca.key";
  const std::string server_cert = options.dir + "/server.pem", server_key = options.dir + "/server.key";
  for (const std::string& f : {ca_cert, ca_key}) {
    if (access(f.c_str(), F_OK) == 0) {
      return absl::AlreadyExistsError(absl::StrCat(
          "\"", f, "\" exists: a CA is there already (every host certificate depends on it); use another --ca_dir"));
    }
  }
  absl::StatusOr<pki::KeyAndCertificate> ca_files = pki::CertificateAuthority::Create(options.fleet, options.ca_validity, now);
  if (!ca_files.ok()) return ca_files.status();
  absl::StatusOr<pki::CertificateAuthority> ca = pki::CertificateAuthority::Load(ca_files->cert_pem, ca_files->key_pem);
  if (!ca.ok()) return ca.status();
  std::vector<std::string> names = {"localhost", "127.0.0.1", "::1"};
  names.insert(names.end(), options.server_names.begin(), options.server_names.end());
  absl::StatusOr<pki::KeyAndCertificate> server = ca->IssueServerCertificate(names, options.server_validity, now);
  if (!server.ok()) return server.status();
  for (const auto& [path, content, mode] : std::vector<std::tuple<std::string, std::string, int>>{
           {ca_key, ca_files->key_pem, 0600},
           {ca_cert, ca_files->cert_pem, 0644},
           {server_key, server->key_pem, 0600},
           {server_cert, server->cert_pem, 0644}}) {
    if (absl::Status s = pki::WriteFileAtomically(path, content, mode); !s.ok()) return s;
  }
  return absl::StrCat("serve with: --tls_cert_file=", server_cert, " --tls_key_file=", server_key,
                      " --host_ca_cert_file=", ca_cert, " --host_ca_key_file=", ca_key, " --fleet=", options.fleet,
                      "\ngive updaters and droverctl ", ca_cert, " to verify the coordinator");
}

}  // namespace drover
