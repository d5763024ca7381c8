#!/usr/bin/env bash
# drover-bench's and bench/run.sh's refusals of bad TLS and handshake settings:
# each must fail at once (no coordinator needed, none started) with a message
# naming the bad flag or value. The CA and server certificate are real ones,
# made by `drover-coordinator ca init` (OpenSSL).
# Environment: DROVER_BIN_DIR (default build/bin).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${DROVER_BIN_DIR:-$ROOT/build/bin}
fail() { echo "FAIL: $*" >&2; exit 1; }
for b in drover-coordinator drover-bench; do
  [[ -x "$BIN/$b" ]] || fail "$BIN/$b not built (set DROVER_BIN_DIR or build the $b target)"
done

TMP=$(mktemp -d /tmp/drover-bench-flags.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

"$BIN/drover-coordinator" ca init --ca_dir="$TMP/tls" --fleet=bench >/dev/null 2>&1 || fail "ca init failed"
CA="$TMP/tls/ca.pem" CA_KEY="$TMP/tls/ca.key"
(umask 077 && echo "drover_op_not-checked-before-connecting" >"$TMP/token")
printf 'not a certificate\n' >"$TMP/junk.pem"
(umask 077 && : >"$TMP/empty.token")
cp "$TMP/token" "$TMP/open.token" && chmod 644 "$TMP/open.token"
cp "$CA_KEY" "$TMP/open.key" && chmod 644 "$TMP/open.key"
TLS=(--tls_ca_file="$CA" --host_ca_cert_file="$CA" --host_ca_key_file="$CA_KEY" --fleet=bench
     --operator_token_file="$TMP/token")
# Port 1 on loopback: nothing listens, so a run that got past its checks fails to connect.
COMMON=(--target=127.0.0.1:1 --connect_timeout=1 --hosts=4)

checks=0
# expect_fail WANT ARGS...: drover-bench exits 1 and stderr contains WANT.
expect_fail() {
  local want=$1 rc=0
  shift
  timeout 60 "$BIN/drover-bench" "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
  [[ $rc -eq 1 ]] || { cat "$TMP/err" >&2; fail "drover-bench $* exited $rc, want 1"; }
  grep -qF -- "$want" "$TMP/err" || { cat "$TMP/err" >&2; fail "drover-bench $*: stderr lacks \"$want\""; }
  checks=$((checks + 1))
}

# One connection per host: capped, with TLS and in plaintext.
expect_fail "--hosts=5001: with TLS every simulated host has its own connection" "${COMMON[@]}" "${TLS[@]}" --hosts=5001
expect_fail "--hosts=6000: with --one_connection_per_host" "${COMMON[@]}" --one_connection_per_host --hosts=6000
# Missing and wrong files.
expect_fail "--tls_ca_file: \"$TMP/missing.pem\" does not exist" "${COMMON[@]}" "${TLS[@]}" --tls_ca_file="$TMP/missing.pem"
expect_fail "--tls_ca_file: \"$TMP/junk.pem\" holds no PEM certificate" "${COMMON[@]}" "${TLS[@]}" --tls_ca_file="$TMP/junk.pem"
expect_fail "--host_ca_cert_file is required with TLS" "${COMMON[@]}" "${TLS[@]}" --host_ca_cert_file=
expect_fail "--host_ca_key_file is required with TLS" "${COMMON[@]}" "${TLS[@]}" --host_ca_key_file=
expect_fail "--host_ca_key_file: key file \"$TMP/missing.key\" does not exist" "${COMMON[@]}" "${TLS[@]}" \
  --host_ca_key_file="$TMP/missing.key"
expect_fail "has mode 0644" "${COMMON[@]}" "${TLS[@]}" --host_ca_key_file="$TMP/open.key"
# The server's key is no key of the CA's certificate.
expect_fail "--host_ca_cert_file/--host_ca_key_file:" "${COMMON[@]}" "${TLS[@]}" --host_ca_key_file="$TMP/tls/server.key"
expect_fail "--fleet:" "${COMMON[@]}" "${TLS[@]}" --fleet="Not A Fleet"
expect_fail "they need --tls_ca_file" "${COMMON[@]}" --host_ca_cert_file="$CA" --host_ca_key_file="$CA_KEY"
# The operator token.
expect_fail "--operator_token_file is required with TLS" "${COMMON[@]}" "${TLS[@]}" --operator_token_file=
expect_fail "--operator_token_file: \"$TMP/missing.token\" does not exist" "${COMMON[@]}" "${TLS[@]}" \
  --operator_token_file="$TMP/missing.token"
expect_fail "--operator_token_file: \"$TMP/empty.token\" is empty" "${COMMON[@]}" "${TLS[@]}" \
  --operator_token_file="$TMP/empty.token"
expect_fail "\"$TMP/open.token\" has mode 0644, so any user may read the token" "${COMMON[@]}" "${TLS[@]}" \
  --operator_token_file="$TMP/open.token"
# The warm-up of each turn.
expect_fail "--warmup_ms=-1 must be in 0..600000" "${COMMON[@]}" --warmup_ms=-1
expect_fail "--warmup_ms=600001 must be in 0..600000" "${COMMON[@]}" --warmup_ms=600001
# Handshake phases.
expect_fail "--handshake_duration=-1 must be 0 (skip) or more seconds" "${COMMON[@]}" --handshake_duration=-1
expect_fail "--handshake_concurrency=0 must be in 1..256" "${COMMON[@]}" --handshake_concurrency=0
expect_fail "--handshake_concurrency=257 must be in 1..256" "${COMMON[@]}" --handshake_concurrency=257
# The change phase's outcomes.
expect_fail "--outcome_fraction=1.5 must be in 0..1" "${COMMON[@]}" --outcome_fraction=1.5
expect_fail "--outcome_fraction=-0.1 must be in 0..1" "${COMMON[@]}" --outcome_fraction=-0.1
# One connection per host needs a descriptor each: a limit (hard, so the bench
# cannot raise it) below that is named.
rc=0
(ulimit -n 100 && exec timeout 60 "$BIN/drover-bench" "${COMMON[@]}" --one_connection_per_host --hosts=200) \
  >"$TMP/out" 2>"$TMP/err" || rc=$?
[[ $rc -eq 1 ]] || fail "drover-bench with 200 connections under ulimit -n 100 exited $rc, want 1"
grep -qF -- "--hosts=200 needs 280 open files, above this process's limit of 100 (hard 100)" "$TMP/err" \
  || { cat "$TMP/err" >&2; fail "the open-file limit was not named"; }
checks=$((checks + 1))
# All of it right: the certificates are minted, then nothing answers.
expect_fail "cannot connect to the coordinator at 127.0.0.1:1 within 1 s (connection 0 of 5, TLS)" \
  "${COMMON[@]}" "${TLS[@]}"
grep -q "^tls: 4 host certificates minted" "$TMP/out" || fail "the TLS run did not say it minted 4 certificates"

# run.sh refuses before it starts PostgreSQL.
rc=0
DROVER_BUILD_DIR="$(dirname "$BIN")" DROVER_SKIP_BUILD=1 timeout 60 "$ROOT/bench/run.sh" 5001 >"$TMP/out" 2>"$TMP/err" || rc=$?
[[ $rc -eq 2 ]] || fail "bench/run.sh 5001 exited $rc, want 2"
grep -qF "5001 hosts with TLS" "$TMP/err" || { cat "$TMP/err" >&2; fail "bench/run.sh 5001: no reason given"; }
rc=0
DROVER_BUILD_DIR="$(dirname "$BIN")" DROVER_SKIP_BUILD=1 timeout 60 "$ROOT/bench/run.sh" --plaintext lots >"$TMP/out" 2>"$TMP/err" || rc=$?
[[ $rc -eq 2 ]] || fail "bench/run.sh --plaintext lots exited $rc, want 2"
grep -qF 'host count "lots" is not a number' "$TMP/err" || { cat "$TMP/err" >&2; fail "bench/run.sh lots: no reason given"; }
checks=$((checks + 2))
echo "bench_flags_test: $checks refusals checked"
