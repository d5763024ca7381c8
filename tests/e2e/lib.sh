# Helpers the e2e shell tests share: source it after setting `set -euo pipefail`.
#   fail MSG...               print FAIL: MSG to stderr, exit 1
#   free_port                 a free TCP port on 127.0.0.1
#   wait_for SECONDS WHAT CMD...  run CMD until it succeeds, polling every 0.2 s
#   stop_pid PID              SIGTERM, up to 10 s, then SIGKILL; reaps it
fail() { echo "FAIL: $*" >&2; exit 1; }
# Below the ephemeral range (32768-60999), where an outgoing connection can
# take a port found free before the process meant for it binds it.
free_port() {
  python3 -c 'import random, socket
for _ in range(100):
    p = random.randint(20000, 31999)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break'
}
wait_for() {
  local seconds=$1 what=$2 end
  shift 2
  end=$((SECONDS + seconds))
  until "$@"; do
    [[ $SECONDS -lt $end ]] || fail "$what not within ${seconds}s"
    sleep 0.2
  done
}
stop_pid() {
  local pid=$1 i
  [[ -n "$pid" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
