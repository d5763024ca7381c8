// Listening sockets for the coordinator's HTTP endpoints (the watch
// endpoint, the version server), on libevent.
#pragma once

#include <event2/util.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace drover::watch {

// "host:port" or "[v6]:port" -> a bound, listening, non-blocking socket.
// `flag` names the setting in errors ("--watch_listen"), `what` the
// endpoint ("the watch endpoint").
absl::StatusOr<evutil_socket_t> ListenHttp(absl::string_view flag, absl::string_view what, const std::string& listen);

// `listen` with the port actually bound.
std::string BoundAddress(const std::string& listen, evutil_socket_t fd);

}  // namespace drover::watch
