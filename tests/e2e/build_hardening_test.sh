#!/usr/bin/env bash
# The shipped binaries carry the build hardening of the top CMakeLists.txt:
# full RELRO (GNU_RELRO + BIND_NOW), PIE, stack protector (__stack_chk_fail)
# and _FORTIFY_SOURCE (some __*_chk function). Usage: build_hardening_test.sh
# BIN_DIR [SANITIZE [BINARY...]]; under sanitizers _FORTIFY_SOURCE is off by
# design. Default binaries: the four programs Drover ships.
set -euo pipefail
BIN=${1:?bin dir}
SANITIZE=${2:-}
shift $(( $# < 2 ? $# : 2 ))
BINARIES=("$@")
[[ ${#BINARIES[@]} -gt 0 ]] || BINARIES=(drover-coordinator drover-updater drover-updater-pass droverctl)
fail() { echo "FAIL: $*" >&2; exit 1; }
for b in "${BINARIES[@]}"; do
  f="$BIN/$b"
  [[ -x $f ]] || fail "$f not built"
  # readelf's output is read whole before grep: `readelf | grep -q` under
  # pipefail fails whenever grep quits at a match before readelf has
  # written everything (SIGPIPE), as it did in CI on a larger binary.
  segments=$(readelf -lW "$f")
  dynamic=$(readelf -dW "$f")
  header=$(readelf -hW "$f")
  grep -q 'GNU_RELRO' <<<"$segments" || fail "$b: no GNU_RELRO segment (want -Wl,-z,relro)"
  grep -Eq '\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*NOW' <<<"$dynamic" || fail "$b: not linked with -z now (lazy binding)"
  grep -Eq 'Type:[[:space:]]+DYN' <<<"$header" || fail "$b: not a position-independent executable"
  syms=$(readelf --dyn-syms -W "$f")
  grep -q '__stack_chk_fail' <<<"$syms" || fail "$b: no __stack_chk_fail (want -fstack-protector-strong)"
  if [[ -z $SANITIZE ]]; then
    chk=$(grep -Eo '__[a-z0-9_]+_chk\b' <<<"$syms" | grep -v '__stack_chk' | sort -u | head -3 | tr '\n' ' ' || true)
    # A program whose libc calls all have sizes unknown at compile time (or
    # that prints through iostreams, as droverctl does) keeps none: then no
    # printf-family call may be left unfortified either.
    if [[ -z $chk ]]; then
      ! grep -Eq ' (printf|fprintf|sprintf|snprintf|vsnprintf|strcpy|strcat)(@|$)' <<<"$syms" \
        || fail "$b: printf/str* calls not fortified (want -D_FORTIFY_SOURCE=2 with optimisation)"
      chk="none needed"
    fi
    echo "$b: RELRO, BIND_NOW, PIE, stack protector, fortified ($chk)"
  else
    echo "$b: RELRO, BIND_NOW, PIE, stack protector (sanitizer build: no _FORTIFY_SOURCE)"
  fi
done
