#!/usr/bin/env bash
# The end-to-end demo: real kernel enforcement in a scratch cgroup, a scratch
# bpffs and a private network namespace. Needs root. Leaves nothing behind.
#
#   1. uid 51080 cannot serve on port 80 (the kernel's classic rule);
#   2. portauth allow 80 51080, portreserve add udp/5060 51060, portauth apply;
#   3. uid 51080 serves HTTP on port 80; curl fetches the page;
#   4. uid 51999 tries to squat udp/5060 and is refused; its owner binds it;
#   5. portauth status shows what happened, then everything is removed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if [ "$(id -u)" != 0 ]; then
  echo "demo: needs root (cgroups, BPF); run: sudo $0" >&2
  exit 1
fi

build=${BUILD_DIR:-build}
# Run the rest in the test suite's sandbox (tests/sandbox/main.cpp): a private
# network namespace (port 80 of the host is not touched), a scratch cgroup,
# bpffs and policy dir, all removed when the demo ends, however it ends.
if [ -z "${PORTAUTH_SANDBOX_DIR:-}" ]; then
  if [ ! -x "$build/tests/portauth-sandbox" ] || [ -n "${PORTAUTH_DEMO_REBUILD:-}" ]; then
    ./scripts/build.sh
  fi
  exec "$build/tests/portauth-sandbox" "$root/scripts/demo.sh" "$@"
fi

PORTAUTH=$root/$build/tools/portauth/portauth
PORTRESERVE=$root/$build/tools/portauth/portreserve
DROPTO=$root/$build/tools/dropto/dropto
SERVER_UID=51080 OWNER_UID=51060 SQUATTER_UID=51999

scratch=$PORTAUTH_SANDBOX_DIR
cgroup=$PORTAUTH_SANDBOX_CGROUP
policy=$PORTAUTH_SANDBOX_POLICY_DIR
pins=$PORTAUTH_SANDBOX_PIN_DIR
server_pid=

cleanup() {   # the rest is the sandbox's
  set +e
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
}
trap cleanup EXIT

mkdir -p "$scratch/www"
chmod 755 "$scratch/www"
echo "<h1>served by uid $SERVER_UID on port 80, granted by portauth</h1>" > "$scratch/www/index.html"
chmod 644 "$scratch/www/index.html"

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold= plain=; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
# Runs a command inside the scratch cgroup as a numeric uid, no supplementary groups.
as_user() { local uid=$1; shift; sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cgroup" \
  setpriv --reuid="$uid" --regid="$uid" --clear-groups "$@"; }
try_bind() {  # uid proto port
  as_user "$1" /usr/bin/python3 -c '
import socket, sys
kind = socket.SOCK_STREAM if sys.argv[1] == "tcp" else socket.SOCK_DGRAM
s = socket.socket(socket.AF_INET, kind)
try:
    s.bind(("0.0.0.0", int(sys.argv[2]))); print("   bind %s/%s: OK" % (sys.argv[1], sys.argv[2]))
except OSError as e:
    print("   bind %s/%s: refused (%s)" % (sys.argv[1], sys.argv[2], e.strerror)); sys.exit(1)' "$2" "$3"
}

say "scratch: cgroup $cgroup, pins $pins, policy $policy, a private network namespace"

say "1. Without portauth, uid $SERVER_UID may not bind TCP port 80"
try_bind $SERVER_UID tcp 80 || true

say "2. Grant TCP/UDP 80 to uid $SERVER_UID, reserve UDP 5060 for uid $OWNER_UID, apply"
"$PORTAUTH" allow --policy-dir "$policy" --no-apply 80 $SERVER_UID
"$PORTRESERVE" add --policy-dir "$policy" --no-apply udp/5060 $OWNER_UID
"$PORTAUTH" list --policy-dir "$policy"
"$PORTRESERVE" list --policy-dir "$policy"
"$PORTAUTH" apply --policy-dir "$policy" --pin-dir "$pins" --cgroup "$cgroup"

say "3. root starts a web server as uid $SERVER_UID on port 80: dropto $SERVER_UID:$SERVER_UID portauth python3 -m http.server 80"
echo "   (dropto drops to the user; the portauth adverb checks that grants are enforced here, then execs the server)"
sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cgroup" \
  "$DROPTO" $SERVER_UID:$SERVER_UID "$PORTAUTH" --deep --pin-dir "$pins" \
  /usr/bin/python3 -m http.server 80 --bind 127.0.0.1 --directory "$scratch/www" >"$scratch/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:80/ && break; sleep 0.1; done
echo "   curl http://127.0.0.1:80/ ->"
curl -sS http://127.0.0.1:80/ | sed 's/^/     /'
echo "   listening: $(ps -o uid=,comm= -u $SERVER_UID | awk '{print $2 " as uid " $1}')"

say "4. uid $SQUATTER_UID tries to squat UDP 5060, reserved for uid $OWNER_UID"
if try_bind $SQUATTER_UID udp 5060; then echo "demo: the squatter got the port - enforcement failed" >&2; exit 1; fi
echo "   and its owner:"
try_bind $OWNER_UID udp 5060
echo "   why, according to portauth check:"
"$PORTAUTH" check --policy-dir "$policy" --pin-dir "$pins" --user $SQUATTER_UID udp/5060 | sed 's/^/     /' || true

say "5. portauth status"
"$PORTAUTH" status --pin-dir "$pins"

say "done: the kernel enforced the grant and the reservation; cleaning up"
