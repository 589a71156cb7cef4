#!/usr/bin/env bash
# Bind cost with and without enforcement, in one run, as an unprivileged uid
# in a scratch cgroup: no policy, a 1-rule policy and a 100 000-rule policy;
# then the same bind through authbind (LD_PRELOAD + setuid helper) for
# comparison, and the time `portauth apply` takes for 10 000 rules.
# Needs root. Prints a table; leaves nothing behind.
#   usage: bench/bind_bench.sh [BINDS_PER_RUN] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
[ "$(id -u)" = 0 ] || { echo "bind_bench: needs root" >&2; exit 1; }
binds=${1:-100000}
runs=${2:-5}
build=${BUILD_DIR:-build}
[ -x "$build/bench/bind_worker" ] && [ -x "$build/bench/bpf_stats_hold" ] && [ -x "$build/tests/portauth-sandbox" ] || ./scripts/build.sh >/dev/null
PORTAUTH=$root/$build/tools/portauth/portauth
WORKER=$root/$build/bench/bind_worker
UID_BENCH=51090

# In the test suite's sandbox (tests/sandbox/main.cpp): a private network
# namespace, so the host's ports are not touched, a scratch cgroup (the three
# measured cgroups are its children), a bpffs and a temp dir, all removed at
# the end however the bench ends.
if [ -z "${PORTAUTH_SANDBOX_DIR:-}" ]; then
  [ -x "$build/tests/portauth-sandbox" ] || ./scripts/build.sh >/dev/null
  exec "$build/tests/portauth-sandbox" "$root/bench/bind_bench.sh" "$@"
fi

scratch=$PORTAUTH_SANDBOX_DIR
cg_none=$PORTAUTH_SANDBOX_CGROUP/none
cg_one=$PORTAUTH_SANDBOX_CGROUP/one
cg_big=$PORTAUTH_SANDBOX_CGROUP/big
pins=$(dirname "$PORTAUTH_SANDBOX_PIN_DIR")   # the sandbox's bpffs
authbind_entry=
cleanup() {   # the rest is the sandbox's
  set +e
  for p in one big ten; do "$PORTAUTH" unload --pin-dir "$pins/$p" >/dev/null 2>&1; done
  for cg in "$cg_none" "$cg_one" "$cg_big"; do
    for _ in $(seq 50); do rmdir "$cg" 2>/dev/null && break; sleep 0.1; done
  done
  [ -n "$authbind_entry" ] && rm -f "$authbind_entry"
}
trap cleanup EXIT
mkdir "$cg_none" "$cg_one" "$cg_big"

# policy DIR NRULES: byport/80 for the bench uid, then NRULES-1 other entries
# (byaddr grants on 10.x.y.z for ports 2000-2999, tcp and udp reservations from port 10000 on 127.0.0.1).
make_policy() {
  local dir=$1 n=$2
  mkdir -p "$dir/byport" "$dir/byaddr" "$dir/reserve/tcp" "$dir/reserve/udp"
  chmod 755 "$dir" "$dir/byport" "$dir/byaddr" "$dir/reserve" "$dir/reserve/tcp" "$dir/reserve/udp"
  install -m 0500 -o $UID_BENCH /dev/null "$dir/byport/80"
  python3 - "$dir" "$n" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2]) - 1
half = n // 2
for i in range(half):
    p = os.path.join(d, "byaddr", "10.%d.%d.%d,%d" % (i >> 16 & 255, i >> 8 & 255, i & 255, 2000 + i % 1000))
    open(p, "w").close(); os.chown(p, 51091, 0); os.chmod(p, 0o500)
for i in range(n - half):
    # one reservation per proto/port: tcp and udp 10000 and up, on 127.0.0.1
    p = os.path.join(d, "reserve", "tcp" if i % 2 == 0 else "udp", "%d@127.0.0.1" % (10000 + i // 2))
    open(p, "w").close(); os.chmod(p, 0o400)
PY
}

# one CGROUP PROTO PORT: ns per socket+bind+close, one run, as the bench uid in CGROUP, on CPU 1
one() {
  sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$1" \
    taskset -c 1 setpriv --reuid=$UID_BENCH --regid=$UID_BENCH --clear-groups "$WORKER" "$2" "$3" "$binds"
}
median() { sort -g | awk '{a[NR]=$1} END {print (a[int((NR+1)/2)] ~ /^[0-9.]+$/) ? a[int((NR+1)/2)] : "n/a"}'; }

make_policy "$scratch/p1" 1
make_policy "$scratch/p100k" 100000
"$PORTAUTH" apply --policy-dir "$scratch/p1" --pin-dir "$pins/one" --cgroup "$cg_one" >/dev/null
t0=$(date +%s%N)
apply_100k=$("$PORTAUTH" apply --json --policy-dir "$scratch/p100k" --pin-dir "$pins/big" --cgroup "$cg_big" |
  sed -E 's/.*"load_ms":([0-9]+)[.0-9]*,"total_ms":([0-9]+).*/load \1 ms, total \2 ms/')
t1=$(date +%s%N)

echo "bind_bench: $binds binds per run, median of $runs interleaved runs, uid $UID_BENCH, kernel $(uname -r), $(nproc) cores"
echo "(ns per socket()+bind()+close() on 127.0.0.1; port 8080 is in no policy, port 80 is granted by byport/80;"
echo " three sibling cgroups measured round-robin: no program attached, a 1-rule policy, a 100000-rule policy)"
echo

# BPF run-time statistics for the duration of the measurements (fd-scoped, nothing global stays on).
mkfifo "$scratch/stats.fifo"
"$root/$build/bench/bpf_stats_hold" < "$scratch/stats.fifo" > "$scratch/stats.out" &
exec 9> "$scratch/stats.fifo"
for _ in $(seq 50); do grep -q ready "$scratch/stats.out" 2>/dev/null && break; sleep 0.1; done

declare -A samples
for _ in $(seq "$runs"); do
  samples[none_8080]+="$(one "$cg_none" tcp 8080) "
  samples[one_8080]+="$(one "$cg_one" tcp 8080) "
  samples[big_8080]+="$(one "$cg_big" tcp 8080) "
  samples[one_80]+="$(one "$cg_one" tcp 80) "
  samples[big_80]+="$(one "$cg_big" tcp 80) "
  samples[none_udp]+="$(one "$cg_none" udp 8080) "
  samples[big_udp]+="$(one "$cg_big" udp 8080) "
done
exec 9>&-
wait
# prog_runtime PIN_DIR LINK: "mean ns per run (runs)" of the program behind a pinned link
prog_runtime() {
  local id
  id=$(bpftool link show pinned "$1/$2" | sed -n 's/.*prog \([0-9]*\).*/\1/p' | head -1)
  bpftool prog show id "$id" | sed -n 's/.*run_time_ns \([0-9]*\) run_cnt \([0-9]*\).*/\1 \2/p' |
    awk '{ if ($2 > 0) printf "%.0f ns per run (%d runs)", $1 / $2, $2; else print "no runs" }'
}
rt_one=$(prog_runtime "$pins/one" link_bind4)
rt_big=$(prog_runtime "$pins/big" link_bind4)
med() { printf '%s\n' ${samples[$1]} | median; }
base_8080=$(med none_8080) one_8080=$(med one_8080) big_8080=$(med big_8080)
one_80=$(med one_80) big_80=$(med big_80) base_udp=$(med none_udp) big_udp=$(med big_udp)

# apply time for 10 000 rules, into a fresh pin dir each time
make_policy "$scratch/p10k" 10000
apply10k_ms=()
for _ in 1 2 3; do
  s=$(date +%s%N); "$PORTAUTH" apply --policy-dir "$scratch/p10k" --pin-dir "$pins/ten" --cgroup "$cg_none" >/dev/null; e=$(date +%s%N)
  apply10k_ms+=($(( (e - s) / 1000000 )))
  "$PORTAUTH" unload --pin-dir "$pins/ten" >/dev/null
done

pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a ~ /^[0-9.]+$/) printf "%+.1f%%", (a - b) / b * 100; else print "n/a" }'; }
printf '%-46s %12s %10s\n' "scenario" "ns/bind" "vs none"
printf '%-46s %12s %10s\n' "tcp, no enforcement, port 8080" "$base_8080" ""
printf '%-46s %12s %10s\n' "tcp, 1 rule, port 8080 (in no policy)" "$one_8080" "$(pct "$one_8080" "$base_8080")"
printf '%-46s %12s %10s\n' "tcp, 100000 rules, port 8080 (in no policy)" "$big_8080" "$(pct "$big_8080" "$base_8080")"
printf '%-46s %12s %10s\n' "tcp, 1 rule, port 80 (granted)" "$one_80" "$(pct "$one_80" "$base_8080")"
printf '%-46s %12s %10s\n' "tcp, 100000 rules, port 80 (granted)" "$big_80" "$(pct "$big_80" "$base_8080")"
printf '%-46s %12s %10s\n' "udp, no enforcement, port 8080" "$base_udp" ""
printf '%-46s %12s %10s\n' "udp, 100000 rules, port 8080 (in no policy)" "$big_udp" "$(pct "$big_udp" "$base_udp")"

# authbind: its helper reads /etc/authbind; add byport/80 for the bench uid only if no such entry exists.
if command -v authbind >/dev/null && [ ! -e /etc/authbind/byport/80 ]; then
  authbind_entry=/etc/authbind/byport/80
  install -m 0500 -o $UID_BENCH /dev/null "$authbind_entry"
  ab_binds=$(( binds / 20 ))
  ab=$(sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg_none" \
       setpriv --reuid=$UID_BENCH --regid=$UID_BENCH --clear-groups authbind "$WORKER" tcp 80 "$ab_binds")
  rm -f "$authbind_entry"; authbind_entry=
  printf '%-46s %12s %10s\n' "tcp, authbind, port 80 ($ab_binds binds, 1 run)" "$ab" "$(pct "$ab" "$base_8080")"
else
  echo "authbind: not measured (not installed, or /etc/authbind/byport/80 exists and is not ours to change)"
fi
echo
echo "BPF program cost (kernel run-time statistics, all binds above on port 80 and 8080):"
echo "  bind4, 1 rule:        $rt_one"
echo "  bind4, 100000 rules:  $rt_big"
echo
echo "portauth apply, 100000 rules: $(( (t1 - t0) / 1000000 )) ms wall (engine: $apply_100k; the rest reads 100000 files)"
echo "portauth apply, 10000 rules: ${apply10k_ms[*]} ms wall (3 runs, fresh load each)"
