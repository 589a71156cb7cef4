#!/usr/bin/env bash
# portwatch's scan cost at 1 000, 10 000 and 100 000 open sockets, next to
# `ss -tuan` and `ss -tuanp` on the same sockets. In a private network
# namespace (unshare --net): helpers (bench/portwatch_sockets.cpp, as uid
# 51091, at most 15 000 sockets each so a modest RLIMIT_NOFILE hard limit
# suffices) hold half TCP listeners, half UDP sockets on 127.0.0.1; two of
# their ports are reserved for another uid, so each scan finds two squatters
# and maps them to a helper through /proc.
# Needs root. Prints a table (best of RUNS: wall ms, user+sys CPU ms); leaves
# nothing behind.
#   usage: bench/portwatch_scan.sh [RUNS] [COUNTS...]     e.g. bench/portwatch_scan.sh 5 1000 10000 100000
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
[ "$(id -u)" = 0 ] || { echo "portwatch_scan: needs root" >&2; exit 1; }
runs=${1:-5}
shift || true
counts=("${@:-}")
[ -n "${counts[0]}" ] || counts=(1000 10000 100000)
build=${BUILD_DIR:-build}
PORTWATCH=$root/$build/tools/portwatch/portwatch
SOCKETS=$root/$build/tools/portwatch/portwatch_sockets
[ -x "$PORTWATCH" ] && [ -x "$SOCKETS" ] || { echo "portwatch_scan: build portwatch and portwatch_sockets in $build first" >&2; exit 1; }
UID_BENCH=51091
BASE=10000
PER_HELPER=15000

if [ -z "${PORTWATCH_BENCH_NETNS:-}" ]; then
  PORTWATCH_BENCH_NETNS=1 exec unshare --net -- "$0" "$runs" "${counts[@]}"
fi
ip link set lo up
ulimit -n "$(ulimit -Hn)"

scratch=$(mktemp -d /tmp/portwatch-bench.XXXXXX)
export PORTAUTH_RUNTIME_DIR=$scratch/run PORTAUTH_STATE_DIR=$scratch/state   # state stays in the scratch dir
export PORTAUTH_JOURNAL_SOCKET=   # and nothing goes to the host's journal
chmod 755 "$scratch"
holders=()
cleanup() {
  exec 3>&- 2>/dev/null || true
  for h in "${holders[@]}"; do kill "$h" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT

policy=$scratch/policy
mkdir -p "$policy/reserve/tcp" "$policy/reserve/udp"
chmod -R 755 "$policy"
for e in tcp/$BASE udp/$((BASE + 1)); do
  : > "$policy/reserve/$e"
  chmod 0400 "$policy/reserve/$e"
  setfacl -m u:51000:x,m::x "$policy/reserve/$e"
done

# The same shape, but the one reserved port is free: the filtered dump alone.
free=$scratch/free
mkdir -p "$free/reserve/tcp"
chmod -R 755 "$free"
: > "$free/reserve/tcp/$((BASE - 1))"
chmod 0400 "$free/reserve/tcp/$((BASE - 1))"
setfacl -m u:51000:x,m::x "$free/reserve/tcp/$((BASE - 1))"

# Runs "$@" RUNS times; prints the best wall and CPU (user+sys) milliseconds.
measure() {
  local best_wall= best_cpu= i t0 t1 c0 c1 wall cpu st
  for ((i = 0; i < runs; i++)); do
    # This shell's reaped children's CPU (cutime + cstime, fields 16 and 17),
    # in clock ticks; `read` is a builtin, so no subshell gets in the way.
    read -r -a st < /proc/$BASHPID/stat
    c0=$((st[15] + st[16]))
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    t1=$(date +%s%N)
    read -r -a st < /proc/$BASHPID/stat
    c1=$((st[15] + st[16]))
    wall=$(( (t1 - t0) / 1000000 ))
    cpu=$(( (c1 - c0) * 1000 / $(getconf CLK_TCK) ))
    if [ -z "$best_wall" ] || [ "$wall" -lt "$best_wall" ]; then best_wall=$wall; fi
    if [ -z "$best_cpu" ] || [ "$cpu" -lt "$best_cpu" ]; then best_cpu=$cpu; fi
  done
  printf '%8s %8s' "$best_wall" "$best_cpu"
}

printf '%-8s  %-26s %8s %8s  %s\n' sockets tool wall_ms cpu_ms note
for n in "${counts[@]}"; do
  mkfifo "$scratch/hold"
  left=$n
  chunk=0
  while ((left > 0)); do
    k=$((left < PER_HELPER ? left : PER_HELPER))
    setpriv --reuid $UID_BENCH --regid $UID_BENCH --clear-groups \
      "$SOCKETS" "$k" $((BASE + chunk * PER_HELPER / 2)) < "$scratch/hold" > "$scratch/ready.$chunk" &
    holders+=($!)
    left=$((left - k))
    chunk=$((chunk + 1))
  done
  exec 3> "$scratch/hold"
  for ((c = 0; c < chunk; c++)); do
    for _ in $(seq 300); do grep -q ready "$scratch/ready.$c" 2>/dev/null && break; sleep 0.1; done
  done
  made=$(cat "$scratch"/ready.* | awk '{s += $2} END {print s}')
  total=$(ss -tuan | tail -n +2 | wc -l)
  rm -f "$scratch/db"*
  squat=$(("$PORTWATCH" check --policy-dir "$policy" --db "$scratch/none.db" || true) | sed 's/.*| //')
  printf '%-8s  %-26s %s  %s\n' "$made" "portwatch scan" "$(measure "$PORTWATCH" scan --policy-dir "$policy" --db "$scratch/db")" "$squat"
  printf '%-8s  %-26s %s  %s\n' "$made" "portwatch check" "$(measure "$PORTWATCH" check --policy-dir "$policy" --db "$scratch/none.db")" ""
  printf '%-8s  %-26s %s  %s\n' "$made" "portwatch check, no squat" "$(measure "$PORTWATCH" check --policy-dir "$free" --db "$scratch/none.db")" "dump only, no /proc walk"
  printf '%-8s  %-26s %s  %s\n' "$made" "ss -tuan" "$(measure ss -tuan)" "$total lines"
  printf '%-8s  %-26s %s  %s\n' "$made" "ss -tuanp" "$(measure ss -tuanp)" ""
  exec 3>&-
  wait "${holders[@]}" 2>/dev/null || true
  holders=()
  rm -f "$scratch/hold" "$scratch"/ready.*
done
