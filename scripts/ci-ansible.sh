#!/usr/bin/env bash
# CI: the Ansible role (share/ansible/roles/portauth) against localhost, on a
# scratch policy dir, a scratch child cgroup, a scratch bpffs and a private
# network namespace. Run as root after the build (scripts/build.sh).
#
#   1. a first run reports changes and the kernel enforces the data;
#   2. a second run reports changed=0; --check reports a change and makes none;
#   3. a run with one grant removed from the data revokes it: gone from
#      'portauth list --json', and the kernel refuses that bind as its user;
#      a grant made by hand survives portauth_manage_unlisted: keep and is
#      revoked by the default (revoke);
#   4. a bad policy (overlapping reservations in the data, a broken byuid
#      file in the tree, an apply the kernel side refuses) fails the play with
#      portauth's own message, and what was enforced stays enforced.
#
# Installs Debian's ansible-core with apt-get when ansible-playbook is missing.
# Runs in portauth-sandbox: never touches the root cgroup, /etc/portauth or the
# host's network namespace; everything it made is removed, also on failure.
#
#   BUILD_DIR   the build with the tools (default: build)
set -euo pipefail

self=$(readlink -f "$0")
src=$(cd "$(dirname "$self")/.." && pwd)
log() { echo "ci-ansible: $*"; }
fail() { echo "ci-ansible: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (a scratch cgroup, a bpffs mount, a network namespace)"

build=$src/${BUILD_DIR:-build}
PORTAUTH=$build/tools/portauth/portauth
PORTRESERVE=$build/tools/portauth/portreserve
[ -x "$PORTAUTH" ] && [ -x "$PORTRESERVE" ] || fail "no tools in $build; run scripts/build.sh first"

# Everything below in the test suite's sandbox (tests/sandbox/main.cpp): a
# private network namespace (apply governs the namespace it runs in, and the
# binds must not touch the host's ports), a scratch child cgroup, bpffs,
# policy dir and state dirs, all removed when the script ends, however it ends.
if [ -z "${PORTAUTH_SANDBOX_DIR:-}" ]; then
  if ! command -v ansible-playbook >/dev/null; then
    log "installing ansible-core"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends ansible-core >/dev/null
  fi
  [ -x "$build/tests/portauth-sandbox" ] || fail "no $build/tests/portauth-sandbox; run scripts/build.sh first"
  exec "$build/tests/portauth-sandbox" "$self" "$@"
fi

scratch=$PORTAUTH_SANDBOX_DIR
cgroup=$PORTAUTH_SANDBOX_CGROUP
policy=$PORTAUTH_SANDBOX_POLICY_DIR
pins=$PORTAUTH_SANDBOX_PIN_DIR
export PORTAUTH_JOURNAL_SOCKET=   # nothing to the host's journal

# Ansible's own state too, and no ansible.cfg from elsewhere.
export HOME=$scratch/home ANSIBLE_HOME=$scratch/home/.ansible ANSIBLE_LOCAL_TEMP=$scratch/ansible-tmp \
  ANSIBLE_REMOTE_TMP=$scratch/ansible-tmp ANSIBLE_CONFIG=$scratch/ansible.cfg ANSIBLE_NOCOLOR=1 \
  ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_ROLES_PATH=$src/share/ansible/roles

cleanup() {   # the rest is the sandbox's
  local rc=$?
  ((rc == 0)) || echo "ci-ansible: FAILED (exit $rc); the sandbox (cgroup, bpffs, files) is removed" >&2
  exit $rc
}
trap cleanup EXIT

mkdir -p "$HOME" "$ANSIBLE_LOCAL_TEMP"
printf '[defaults]\n' >"$ANSIBLE_CONFIG"
cat >"$scratch/site.yml" <<'EOF'
- hosts: localhost
  connection: local
  gather_facts: false
  roles: [portauth]
EOF

# The role's variables for a run: the scratch paths, then the data ($1: a YAML file).
run_play() {  # run_play DATA_FILE [ansible-playbook options...]; output in $scratch/play.out
  local data=$1
  shift
  cat >"$scratch/paths.yml" <<EOF
portauth_policy_dir: $policy
portauth_pin_dir: $pins
portauth_cgroup: $cgroup
portauth_command: $PORTAUTH
portreserve_command: $PORTRESERVE
portauth_environment:
  PORTAUTH_RUNTIME_DIR: $PORTAUTH_RUNTIME_DIR
  PORTAUTH_STATE_DIR: $PORTAUTH_STATE_DIR
  PORTAUTH_JOURNAL_SOCKET: ""
EOF
  (cd "$scratch" && ansible-playbook -i localhost, -e ansible_python_interpreter=/usr/bin/python3 \
     -e "@$scratch/paths.yml" -e "@$data" "$@" site.yml) >"$scratch/play.out" 2>&1
}
recap() {  # recap KEY: the number after KEY= in the play recap
  sed -n "s/^localhost *:.* $1=\([0-9]*\).*/\1/p" "$scratch/play.out" | tail -n 1
}
expect_play() {  # expect_play ok|failed DATA_FILE [options...]
  local want=$1 rc=0
  shift
  run_play "$@" || rc=$?
  if [ "$want" = ok ] && [ $rc != 0 ]; then cat "$scratch/play.out" >&2; fail "the play failed"; fi
  if [ "$want" = failed ] && [ $rc = 0 ]; then cat "$scratch/play.out" >&2; fail "the play succeeded"; fi
  return 0
}

# bind(2) as UID in the scratch cgroup: exit 0 bound, 13 refused (EACCES/EPERM).
try_bind() {  # try_bind UID PROTO PORT [ADDR]
  sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cgroup" \
    setpriv --reuid="$1" --regid="$1" --clear-groups --inh-caps=-all /usr/bin/python3 -c '
import socket, sys
kind = socket.SOCK_STREAM if sys.argv[1] == "tcp" else socket.SOCK_DGRAM
try:
    socket.socket(socket.AF_INET, kind).bind((sys.argv[3], int(sys.argv[2])))
except PermissionError:
    sys.exit(13)
' "$2" "$3" "${4:-0.0.0.0}"
}
expect_bind() {  # expect_bind 0|13 UID PROTO PORT [ADDR]
  local want=$1 got=0
  shift
  try_bind "$@" || got=$?
  [ "$got" = "$want" ] || fail "bind $2/$3 as uid $1: exit $got, expected $want (0 bound, 13 refused)"
}
entries() {  # the entries of 'portauth list --json' and 'portreserve list --json', one a line
  { "$PORTAUTH" list --json --policy-dir "$policy"; "$PORTRESERVE" list --json --policy-dir "$policy"; } |
    /usr/bin/python3 -c 'import json, sys; [print(e["entry"], *sorted(e["principals"])) for l in sys.stdin for e in json.loads(l)]'
}
expect_entries() {  # expect_entries LINE... (sorted)
  local want got
  want=$(printf '%s\n' "$@" | sort)
  got=$(entries | sort)
  [ "$got" = "$want" ] || fail "the tree holds:"$'\n'"$got"$'\n'"expected:"$'\n'"$want"
}

cat >"$scratch/full.yml" <<'EOF'
portauth_grants:
  - {port: 80, principals: [51080]}
  - {port: 443, address: 127.0.0.1, principals: [51081, "%51082"]}
portauth_reservations:
  - {proto: udp, port: 5060, owners: [51060]}
  - {proto: tcp, port: "6000-6099", owners: ["%51061"]}
EOF
# The same without byport/80.
cat >"$scratch/less.yml" <<'EOF'
portauth_grants:
  - {port: 443, address: 127.0.0.1, principals: [51081, "%51082"]}
portauth_reservations:
  - {proto: udp, port: 5060, owners: [51060]}
  - {proto: tcp, port: "6000-6099", owners: ["%51061"]}
EOF
full_entries=("byaddr/127.0.0.1,443 gid 51082 uid 51081" "byport/80 uid 51080"
              "tcp/6000-6099 gid 51061" "udp/5060 uid 51060")

log "scratch: policy $policy, cgroup $cgroup, pins $pins, a private network namespace"

# --- 1. first run: changes, enforced -------------------------------------------
expect_play ok "$scratch/full.yml"
[ "$(recap changed)" -gt 0 ] || { cat "$scratch/play.out" >&2; fail "the first run reported no change"; }
grep -q 'RUNNING HANDLER \[portauth : portauth apply\]' "$scratch/play.out" || fail "the first run did not apply"
expect_entries "${full_entries[@]}"
"$PORTAUTH" status --pin-dir "$pins" >/dev/null || fail "enforcement is not active after the first run"
expect_bind 0 51080 tcp 80
expect_bind 13 51081 tcp 80
expect_bind 0 51081 tcp 443 127.0.0.1
expect_bind 13 51999 udp 5060
expect_bind 0 51060 udp 5060
log "1. first run: changed=$(recap changed), the grants and reservations are enforced"

# --- 2. second run: nothing to do -------------------------------------------------
expect_play ok "$scratch/full.yml"
[ "$(recap changed)" = 0 ] || { cat "$scratch/play.out" >&2; fail "the second run reported changed=$(recap changed)"; }
! grep -q 'RUNNING HANDLER' "$scratch/play.out" || fail "the second run applied again"
log "2. second run: changed=0"

# --check rehearses on a copy and says what would change; the tree stays.
expect_play ok "$scratch/less.yml" --check
[ "$(recap changed)" -gt 0 ] || fail "--check with a grant removed reported no change"
expect_entries "${full_entries[@]}"
log "2. --check: changed=$(recap changed), the tree untouched"

# --- 3. a grant removed from the data is revoked ------------------------------------
expect_play ok "$scratch/less.yml"
[ "$(recap changed)" -gt 0 ] || fail "removing a grant reported no change"
expect_entries "byaddr/127.0.0.1,443 gid 51082 uid 51081" "tcp/6000-6099 gid 51061" "udp/5060 uid 51060"
expect_bind 13 51080 tcp 80
expect_bind 0 51081 tcp 443 127.0.0.1
log "3. byport/80 removed from the data: revoked, and the kernel refuses uid 51080 on tcp/80"

# A grant made by hand: kept with portauth_manage_unlisted: keep, revoked by default.
"$PORTAUTH" allow --no-apply --policy-dir "$policy" 888 51085 >/dev/null
{ cat "$scratch/less.yml"; echo 'portauth_manage_unlisted: keep'; } >"$scratch/keep.yml"
expect_play ok "$scratch/keep.yml"
[[ $(entries) == *"byport/!888 uid 51085"* ]] || fail "keep revoked byport/888"
expect_bind 0 51085 tcp 888   # not listed, kept, and applied (the tree changed)
expect_play ok "$scratch/less.yml"
[[ $(entries) != *byport/888* ]] || fail "revoke kept byport/888"
expect_bind 13 51085 tcp 888
log "3. a grant made by hand: kept with portauth_manage_unlisted=keep, revoked by the default"

# --- 4. a bad policy fails the play with portauth's message ---------------------------
cat >"$scratch/overlap.yml" <<'EOF'
portauth_reservations:
  - {proto: udp, port: 5060, owners: [51060]}
  - {proto: tcp, port: "6000-6099", owners: ["%51061"]}
  - {proto: tcp, port: "6050-6150", owners: [51062]}
EOF
expect_play failed "$scratch/overlap.yml"
grep -q 'overlaps .*remove one or narrow its range' "$scratch/play.out" ||
  { cat "$scratch/play.out" >&2; fail "the failed play does not say portreserve's reason"; }
less_entries=("byaddr/127.0.0.1,443 gid 51082 uid 51081" "tcp/6000-6099 gid 51061" "udp/5060 uid 51060")
expect_entries "${less_entries[@]}"   # rehearsed on a copy: the grant it would revoke is still there
log "4. overlapping reservations: the play fails with portreserve's message, the tree is untouched"

mkdir -p "$policy/byuid"
echo 'not a byuid line' >"$policy/byuid/51090"
chmod 644 "$policy/byuid/51090"
expect_play failed "$scratch/less.yml"
grep -q "byuid/51090:1: expected" "$scratch/play.out" ||
  { cat "$scratch/play.out" >&2; fail "the failed play does not say portauth's reason"; }
expect_bind 0 51081 tcp 443 127.0.0.1   # the enforced policy stays
rm "$policy/byuid/51090"
log "4. a broken byuid file: the play fails with portauth's message; the enforced policy stays"

# The apply handler: a cgroup apply cannot attach to fails the play with apply's own message.
expect_play failed "$scratch/less.yml" -e portauth_cgroup="$cgroup/missing"
grep -q 'RUNNING HANDLER \[portauth : portauth apply refused\]' "$scratch/play.out" ||
  { cat "$scratch/play.out" >&2; fail "the play did not fail in the apply handler"; }
grep -q "portauth: .*$cgroup/missing" "$scratch/play.out" ||
  { cat "$scratch/play.out" >&2; fail "the failed apply does not say portauth's message"; }
expect_bind 0 51081 tcp 443 127.0.0.1
expect_play ok "$scratch/less.yml"
[ "$(recap changed)" = 0 ] || fail "after a refused apply, a run with the enforced paths reported changed=$(recap changed)"
log "4. a refused apply: the play fails with portauth's message; the policy in force stays, and matches the data"

log "OK"
