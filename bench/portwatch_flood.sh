#!/usr/bin/env bash
# portwatch under a bind flood (issue #10): one or two uids refused on udp/5060
# in a loop for N seconds against `portwatch run --interval 1 --exec HOOK
# --metrics-file F`. Root; everything private: a network namespace, a child
# cgroup, a bpffs, a policy dir and database in a temp dir (never the root cgroup).
# Usage: bench/portwatch_flood.sh [BUILD_DIR] [SECONDS] [USERS]
set -euo pipefail
BUILD=${1:-build}
SECS=${2:-30}
USERS=${3:-1}
PORTAUTH=$BUILD/tools/portauth/portauth
PORTWATCH=$BUILD/tools/portwatch/portwatch
FLOODER=$BUILD/bench/portwatch_flooder
[ "$(id -u)" = 0 ] || { echo "portwatch_flood: needs root" >&2; exit 2; }
if [ -z "${PORTAUTH_BENCH_NETNS:-}" ]; then
  PORTAUTH_BENCH_NETNS=1 exec unshare --net -- "$0" "$@"
fi
ip link set lo up
cg2=$(awk '$(NF-2)=="cgroup2"{print $5; exit}' /proc/self/mountinfo)
scratch=$(mktemp -d /tmp/portwatch-flood.XXXXXX)
export PORTAUTH_RUNTIME_DIR=$scratch/run PORTAUTH_STATE_DIR=$scratch/state   # state stays in the scratch dir
export PORTAUTH_JOURNAL_SOCKET=   # and nothing goes to the host's journal
chmod 755 "$scratch"
cg=$cg2/portwatch-flood-$$
pins=$scratch/bpffs
pw_pid=
cleanup() {
  set +e
  [ -n "$pw_pid" ] && kill -KILL "$pw_pid" 2>/dev/null
  "$PORTAUTH" unload --pin-dir "$pins/portauth" >/dev/null 2>&1
  for _ in $(seq 50); do rmdir "$cg" 2>/dev/null && break; sleep 0.1; done
  umount "$pins" 2>/dev/null
  rm -rf "$scratch"
}
trap cleanup EXIT
mkdir -p "$pins" && mount -t bpf bpf "$pins" && mkdir "$cg"
pol=$scratch/policy
mkdir -p "$pol/reserve/udp" "$pol/reserve/tcp"
chmod 755 "$pol" "$pol/reserve" "$pol/reserve/udp" "$pol/reserve/tcp"
install -m 0400 /dev/null "$pol/reserve/udp/5060"
install -m 0400 /dev/null "$pol/reserve/tcp/5070"
setfacl -m u:51000:x,m::x "$pol/reserve/udp/5060" "$pol/reserve/tcp/5070"
"$PORTAUTH" apply --policy-dir "$pol" --pin-dir "$pins/portauth" --cgroup "$cg" >/dev/null
hook=$scratch/hook.sh
printf '#!/bin/sh\necho run >> %s/hook.runs\n' "$scratch" > "$hook"; chmod 755 "$hook"
db=$scratch/pw.db
"$PORTWATCH" run --interval 1 --policy-dir "$pol" --pin-dir "$pins/portauth" --db "$db" --exec "$hook" \
  --metrics-file "$scratch/metrics.prom" 2>"$scratch/pw.log" &
pw_pid=$!
sleep 1.5
cpu() { awk '{print $14+$15}' /proc/$pw_pid/stat; }
cpu0=$(cpu); t0=$(date +%s%N)
as() { local uid=$1; shift; sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" setpriv --reuid="$uid" --regid="$uid" --clear-groups "$@"; }
for u in $(seq 1 "$USERS"); do as $((51000 + u)) "$FLOODER" udp 5060 "$SECS" > "$scratch/flood.$u" & done
# Mid-flood: a squat (tcp/5070 bound outside the cgroup) and a distinct refusal (tcp/5070 in the cgroup).
sleep "$(( SECS / 2 ))"
mid=$(date +%s%3N)
setpriv --reuid=51009 --regid=51009 --clear-groups /usr/bin/python3 -c 'import socket,time; s=socket.socket(); s.bind(("0.0.0.0",5070)); s.listen(); time.sleep(600)' &
sq=$!
as 51008 "$FLOODER" tcp 5070 0.001 >/dev/null
seen() { sqlite3 "$db" "select count(*) from events where $1" 2>/dev/null || echo 0; }
squat_ms=n/a; refusal_ms=n/a
for _ in $(seq 100); do
  now=$(date +%s%3N)
  [ "$squat_ms" = n/a ] && [ "$(seen "kind='squat' and port=5070")" != 0 ] && squat_ms=$((now - mid))
  [ "$refusal_ms" = n/a ] && [ "$(seen "kind='refused' and uid=51008")" != 0 ] && refusal_ms=$((now - mid))
  [ "$squat_ms" != n/a ] && [ "$refusal_ms" != n/a ] && break
  sleep 0.05
done
wait $(jobs -p | grep -v "^$pw_pid$" | grep -v "^$sq$") 2>/dev/null || true
t1=$(date +%s%N); cpu1=$(cpu)
kill "$sq" 2>/dev/null || true
s0=$(date +%s%N); kill -TERM "$pw_pid"; wait "$pw_pid" || true; s1=$(date +%s%N); pw_pid=
attempted=$(cat "$scratch"/flood.* | awk '{s+=$1} END {print s}')
metric() { awk -v k="$1" '$1==k {print $2}' "$scratch/metrics.prom"; }
hz=$(getconf CLK_TCK)
wall_ms=$(( (t1 - t0) / 1000000 ))
echo "portwatch flood: $USERS user(s), ${SECS}s, udp/5060, run --interval 1 --exec HOOK --metrics-file F"
echo "refusals attempted: $attempted ($(( attempted * 1000 / wall_ms )) /s)"
echo "delivered: $(metric portwatch_refusal_events_delivered_total)  suppressed: $(metric portwatch_refusal_events_suppressed_total)  dropped: $(metric portwatch_refusal_events_dropped_total)  (metrics at the last scan)"
echo "rows written: $(metric portwatch_rows_written_total)  rows in db: $(sqlite3 "$db" 'select count(*) from events')"
echo "database bytes: $(du -cb "$db"* | tail -1 | cut -f1)"
echo "hook runs: $(wc -l < "$scratch/hook.runs" 2>/dev/null || echo 0)"
echo "portwatch CPU: $(( (cpu1 - cpu0) * 1000 / hz )) ms in ${wall_ms} ms wall ($(( (cpu1 - cpu0) * 1000 / hz * 100 / wall_ms ))% of one core)"
echo "squat recorded after: ${squat_ms} ms; distinct refusal recorded after: ${refusal_ms} ms"
echo "SIGTERM to exit: $(( (s1 - s0) / 1000000 )) ms"
echo "log bytes: $(wc -c < "$scratch/pw.log")"
