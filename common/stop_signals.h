// SIGTERM and SIGINT taken synchronously (sigwait, sigtimedwait) instead of by
// a handler in whichever thread: blocked in the calling thread, and in every
// thread it starts afterwards. SIGPIPE is ignored, so a closed socket or pipe
// is an error return, not a death.
#pragma once

#include <pthread.h>
#include <signal.h>

namespace drover {

// Call before any thread exists. Returns the set, for sigwait/sigtimedwait.
inline sigset_t BlockStopSignals() {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return stop;
}

}  // namespace drover
