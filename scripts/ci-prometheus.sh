#!/usr/bin/env bash
# CI: the shipped Prometheus alerting rules and portwatch's metrics, checked by
# Prometheus's own promtool:
#   1. promtool check rules share/prometheus/portauth-alerts.yml;
#   2. promtool test rules share/prometheus/portauth-alerts.test.yml (each
#      alert fires on what should fire it and stays quiet on a healthy host);
#   3. a real metrics file: in portauth-sandbox (a private netns, a scratch
#      cgroup, bpffs and policy dir), a reservation is applied, a bind is
#      refused, `portwatch run --metrics-file` writes the file, and promtool
#      check metrics lints it; the values the alerts key on must be there.
#
# promtool comes from Debian's prometheus package: the one on PATH, else the
# package is downloaded (apt-get download) and unpacked into a temp dir, so
# no Prometheus server is installed or started on this machine.
#
#   BUILD_DIR   the build with the tools (default: build)
set -euo pipefail
self=$(readlink -f "$0")
src=$(cd "$(dirname "$self")/.." && pwd)
log() { echo "ci-prometheus: $*"; }
fail() { echo "ci-prometheus: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "run as root (a scratch cgroup, a bpffs mount, a network namespace)"
build=$src/${BUILD_DIR:-build}
PORTAUTH=$build/tools/portauth/portauth
PORTRESERVE=$build/tools/portauth/portreserve
PORTWATCH=$build/tools/portwatch/portwatch
SANDBOX=$build/tests/portauth-sandbox
for t in "$PORTAUTH" "$PORTRESERVE" "$PORTWATCH" "$SANDBOX"; do
  [ -x "$t" ] || fail "no $t; run scripts/build.sh first"
done

if [ -z "${PORTAUTH_SANDBOX_DIR:-}" ]; then
  work=$(mktemp -d /tmp/portauth-ci-prometheus.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  promtool=$(command -v promtool || true)
  if [ -z "$promtool" ]; then
    log "downloading Debian's prometheus package for promtool"
    (cd "$work" && apt-get download prometheus >/dev/null 2>&1) ||
      { apt-get update -qq && (cd "$work" && apt-get download prometheus >/dev/null); } ||
      fail "cannot download the prometheus package with apt-get"
    dpkg-deb -x "$work"/prometheus_*.deb "$work/pkg"
    promtool=$work/pkg/usr/bin/promtool
  fi
  log "$("$promtool" --version 2>&1 | head -n 1)"
  (cd "$src/share/prometheus" && "$promtool" check rules portauth-alerts.yml) || fail "promtool check rules"
  (cd "$src/share/prometheus" && "$promtool" test rules portauth-alerts.test.yml) || fail "promtool test rules"
  # The unit test that feeds hostile entry names to the metrics file, with promtool's parser this time.
  PORTAUTH_PROMTOOL=$promtool "$build/tests/portwatch_unit_tests" --gtest_filter='PortwatchMetrics.HostileEntryNamesCannotBreakTheFile' \
    --gtest_brief=1 || fail "hostile entry names in the metrics file"
  PROMTOOL=$promtool "$SANDBOX" "$self" "$@"
  exit
fi

# In the sandbox.
scratch=$PORTAUTH_SANDBOX_DIR
policy=$PORTAUTH_SANDBOX_POLICY_DIR
pins=$PORTAUTH_SANDBOX_PIN_DIR
cgroup=$PORTAUTH_SANDBOX_CGROUP
metrics=$scratch/portwatch.prom
watch_pid=
cleanup() {   # the rest is the sandbox's
  [ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null && wait "$watch_pid" 2>/dev/null
  return 0
}
trap cleanup EXIT

"$PORTRESERVE" add --no-apply --policy-dir "$policy" udp/5060 51060 >/dev/null
"$PORTAUTH" apply --policy-dir "$policy" --pin-dir "$pins" --cgroup "$cgroup" >/dev/null
# A bind the reservation refuses, made in the governed cgroup by another uid:
# exit 13 only for EACCES from bind(2) itself (not a python3 it cannot run).
rc=0
sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cgroup" setpriv --reuid=51999 --regid=51999 --clear-groups \
  /usr/bin/python3 -c '
import errno, socket, sys
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).bind(("0.0.0.0", 5060))
except OSError as e:
    sys.exit(13 if e.errno == errno.EACCES else 1)' || rc=$?
[ "$rc" = 13 ] || fail "uid 51999's bind of the reserved udp/5060: exit $rc, not refused with EACCES"
"$PORTWATCH" run --interval 0.5 --policy-dir "$policy" --pin-dir "$pins" --db "$scratch/portwatch.db" \
  --metrics-file "$metrics" >"$scratch/portwatch.log" 2>&1 &
watch_pid=$!
for _ in $(seq 100); do [ -s "$metrics" ] && break; sleep 0.1; done
sleep 1
[ -s "$metrics" ] || { cat "$scratch/portwatch.log" >&2; fail "portwatch run wrote no $metrics"; }
"$PROMTOOL" check metrics <"$metrics" || { cat "$metrics" >&2; fail "promtool check metrics"; }
for want in 'portwatch_enforcement_active 1' 'portwatch_squatters 0' 'portwatch_record_writable 1' \
            'portwatch_refusal_events_dropped_total 0' 'portwatch_policy_generation 1' \
            'portwatch_entry_denied_binds_total{entry="reserve/udp/5060",proto="udp",port="5060"} 1'; do
  grep -qxF "$want" "$metrics" || { cat "$metrics" >&2; fail "the metrics lack '$want'"; }
done
log "promtool check metrics: $(grep -c '^portwatch_' "$metrics") series, lint clean; the alerts' series are there"
log "OK"
