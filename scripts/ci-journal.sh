#!/usr/bin/env bash
# CI: portauth's and portwatch's events in a real systemd-journald, read back
# and filtered with journalctl -o json, as a fleet's log pipeline would.
#
# This machine runs no journald (the tests' own fake journal checks the
# native protocol datagram; docs/journal.md). Here Debian's
# systemd-journald runs in a private mount namespace, on tmpfs mounts over
# /run/systemd, /run/log and /var/log/journal, so it sees none of the host's
# journal and the host sees none of this one; it is stopped and the mounts go
# away with the namespace, however the script ends.
#
#   1. the integration tests written for a real journal run and must pass,
#      not skip (integration.Portwatch.ASquatReachesTheRealJournal);
#   2. in portauth-sandbox: a grant and a reservation edited, applied, a bind
#      refused, a squatter found by portwatch scan; then
#      journalctl PORTAUTH_PORT=... finds each event by its port.
#
#   BUILD_DIR   the build with the tools and tests (default: build)
set -euo pipefail

self=$(readlink -f "$0")
src=$(cd "$(dirname "$self")/.." && pwd)
log() { echo "ci-journal: $*"; }
fail() { echo "ci-journal: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (a mount namespace, a scratch cgroup, BPF)"
build=$src/${BUILD_DIR:-build}
PORTAUTH=$build/tools/portauth/portauth
PORTRESERVE=$build/tools/portauth/portreserve
PORTWATCH=$build/tools/portwatch/portwatch
SANDBOX=$build/tests/portauth-sandbox
for t in "$PORTAUTH" "$PORTRESERVE" "$PORTWATCH" "$SANDBOX" "$build/tests/portwatch_integration_tests"; do
  [ -x "$t" ] || fail "no $t; run scripts/build.sh first"
done
JOURNALD=/lib/systemd/systemd-journald
[ -x "$JOURNALD" ] && command -v journalctl >/dev/null || fail "no $JOURNALD or journalctl (Debian's systemd package)"

case "${1:-}" in
'')
  # The mount points must exist to mount over them; made here (empty) and
  # removed again if this script made them.
  made=()
  for d in /run/systemd /run/log; do
    [ -d "$d" ] || { mkdir "$d"; made+=("$d"); }
  done
  rc=0
  unshare --mount --propagation private "$self" --namespace || rc=$?
  for d in "${made[@]}"; do rmdir "$d" 2>/dev/null || true; done
  [ "$rc" = 0 ] && log "OK"
  exit "$rc"
  ;;
--namespace)
  for d in /run/systemd /run/log; do mount -t tmpfs -o mode=0755 tmpfs "$d"; done
  [ -d /var/log/journal ] && mount -t tmpfs -o mode=2755 tmpfs /var/log/journal
  mkdir -p /run/systemd/journal
  "$JOURNALD" &
  journald=$!
  trap 'kill "$journald" 2>/dev/null; wait "$journald" 2>/dev/null || true' EXIT
  for _ in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
  [ -S /run/systemd/journal/socket ] || fail "systemd-journald made no socket"
  log "a private systemd-journald runs (pid $journald)"

  # 1. The tests that need a real journal: they must run, not skip.
  out=$("$build/tests/portwatch_integration_tests" --gtest_filter='*RealJournal*' 2>&1) || { echo "$out" >&2; fail "the real-journal tests"; }
  echo "$out" | grep -q '^\[  PASSED  \] [1-9]' || { echo "$out" >&2; fail "no real-journal test ran"; }
  ! echo "$out" | grep -q 'SKIPPED' || { echo "$out" >&2; fail "a real-journal test skipped with a journal running"; }
  log "1. $(echo "$out" | grep '^\[  PASSED  \]')"

  # 2. The events of a small story, each found by its port.
  "$SANDBOX" "$self" --sandbox
  q() { journalctl --no-pager -o json "$@"; }
  has() {  # has DESCRIPTION JOURNALCTL-MATCHES... -- NEEDLE...
    local what=$1; shift
    local matches=()
    while [ "$1" != -- ]; do matches+=("$1"); shift; done
    shift
    local got
    got=$(q "${matches[@]}")
    [ -n "$got" ] || fail "journalctl ${matches[*]}: nothing ($what)"
    for needle in "$@"; do
      grep -qF -- "$needle" <<<"$got" || { echo "$got" >&2; fail "journalctl ${matches[*]}: no $needle ($what)"; }
    done
    log "2. journalctl ${matches[*]}: $what"
  }
  has "the grant of port 80, and who it names" PORTAUTH_EVENT=edited PORTAUTH_PORT=80 -- \
    '"PORTAUTH_EDIT":"granted"' '"PORTAUTH_UID":"52080"' '"SYSLOG_IDENTIFIER":"portauth"'
  has "the reservation of udp/5060" PORTAUTH_EVENT=edited PORTAUTH_PORT=5060 -- \
    '"PORTAUTH_ENTRY":"reserve/udp/5060"' '"SYSLOG_IDENTIFIER":"portreserve"'
  has "the apply" SYSLOG_IDENTIFIER=portauth PORTAUTH_EVENT=applied -- '"PORTAUTH_RULES":"2"'
  has "the squatter on udp/5060" SYSLOG_IDENTIFIER=portwatch PORTAUTH_EVENT=squat PORTAUTH_PORT=5060 -- \
    '"PORTAUTH_UID":"52099"' '"MESSAGE_ID":"02a0613bcef543389a5906e1dc635c55"'
  has "the unload" SYSLOG_IDENTIFIER=portauth PORTAUTH_EVENT=unloaded -- '"PRIORITY":"5"'
  ;;
--sandbox)
  # In portauth-sandbox, which points the tools at a socket nobody reads: the real one here.
  unset PORTAUTH_JOURNAL_SOCKET
  policy=$PORTAUTH_SANDBOX_POLICY_DIR pins=$PORTAUTH_SANDBOX_PIN_DIR cgroup=$PORTAUTH_SANDBOX_CGROUP
  "$PORTAUTH" allow --policy-dir "$policy" --no-apply 80 52080 >/dev/null
  "$PORTRESERVE" add --policy-dir "$policy" --no-apply udp/5060 52060 >/dev/null
  # A squatter bound before enforcement, outside the governed cgroup: portwatch's to find.
  setpriv --reuid=52099 --regid=52099 --clear-groups /usr/bin/python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 5060))
time.sleep(60)' &
  squatter=$!
  trap 'kill "$squatter" 2>/dev/null; wait "$squatter" 2>/dev/null || true' EXIT
  sleep 0.5
  "$PORTAUTH" apply --policy-dir "$policy" --pin-dir "$pins" --cgroup "$cgroup" >/dev/null 2>&1 || fail "portauth apply"
  rc=0
  "$PORTWATCH" scan --policy-dir "$policy" --db "$PORTAUTH_SANDBOX_DIR/portwatch.db" 2>/dev/null || rc=$?
  [ "$rc" = 1 ] || fail "portwatch scan exited $rc, expected 1 (a squatter)"
  "$PORTAUTH" unload --pin-dir "$pins" >/dev/null 2>&1 || fail "portauth unload"
  ;;
*)
  fail "usage: $0"
  ;;
esac
