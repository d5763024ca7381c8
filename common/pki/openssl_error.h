// OpenSSL's thread-local error queue as text, for the libraries that call
// OpenSSL (common/pki, common/trust, the updater's signature checks). Header
// only: its users link OpenSSL themselves.
#pragma once

#include <openssl/err.h>

#include <string>

namespace drover {

// Every queued OpenSSL error on one line, "; "-separated; empties the queue
// so a later failure does not report this one.
inline std::string OpenSslError() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

}  // namespace drover
