#!/usr/bin/env bash
# CI: build the Debian package from a copy of the tree, lint it, install it,
# try it in portauth-sandbox, purge it, and check that the machine is as clean
# as before. Run as root after the build (scripts/build.sh: the sandbox comes
# from it) on a machine without portauth installed.
#
# It never applies a policy to the root cgroup: the installed portauth is
# tried in the test suite's sandbox (tests/sandbox/main.cpp: a private network
# namespace, a scratch child cgroup and bpffs, all removed however it ends)
# with --cgroup <its cgroup> --pin-dir <its bpffs> only, and the package's own
# unit does nothing while /etc/portauth has no entries.
#
#   BUILD_DIR              the build with portauth-sandbox (default: build)
#   PORTAUTH_PKG_TESTS=1   also build and run the unit tests in the package build
#                          (default: nocheck; scripts/test.sh has run them already)
#   PORTAUTH_PKG_KEEP=DIR  copy the built .deb and the lintian report to DIR
set -euo pipefail

self=$(readlink -f "$0")
src=$(cd "$(dirname "$self")/.." && pwd)
log() { echo "ci-package: $*"; }
fail() { echo "ci-package: FAIL: $*" >&2; exit 1; }

pa=/usr/sbin/portauth
expect() {  # expect STATUS COMMAND...
  local want=$1 got=0
  shift
  "$@" >"$work/out" 2>&1 || got=$?
  [ "$got" = "$want" ] || { cat "$work/out" >&2; fail "'$*' exited $got, expected $want"; }
}

# The part in portauth-sandbox, run by the outer one after the install:
# portwatch scan (nothing of the host's network namespace is scanned); apply
# the policy to the sandbox's cgroup, bind(2) as uid 51000/51001 inside it
# (in a private namespace: enforcement covers the namespace apply runs in, so
# nothing, ip_local_reserved_ports included, touches the machine's own),
# unload. What is left when it ends is the sandbox's to remove.
if [ "${1:-}" = --in-sandbox ]; then
  [ -n "${PORTAUTH_SANDBOX_DIR:-}" ] || fail "--in-sandbox: run by the outer part in portauth-sandbox"
  policy=$2
  work=$PORTAUTH_SANDBOX_DIR scratch_cg=$PORTAUTH_SANDBOX_CGROUP pin_dir=$PORTAUTH_SANDBOX_PIN_DIR

  # portwatch scan by hand records in the package's /var/lib/portwatch.
  if [ -e /usr/sbin/portwatch ]; then
    /usr/sbin/portwatch scan --policy-dir "$policy" >"$work/out" 2>&1 ||
      { cat "$work/out" >&2; fail "portwatch scan failed"; }
    [ "$(stat -c '%U:%G %a' /var/lib/portwatch/portwatch.db)" = "root:root 640" ] ||
      fail "portwatch.db is $(stat -c '%U:%G %a' /var/lib/portwatch/portwatch.db 2>&1)"
    log "portwatch scan recorded in /var/lib/portwatch/portwatch.db (root:root 640)"
  fi

  try_bind() {  # try_bind UID PROTO PORT -> exit 0 bound, 13 refused
    sh -c 'echo $$ >"$1/cgroup.procs"; shift; exec "$@"' sh "$scratch_cg" \
      setpriv --reuid="$1" --regid="$1" --clear-groups --inh-caps=-all \
      /usr/bin/python3 -c '
import socket, sys
kind = socket.SOCK_STREAM if sys.argv[1] == "tcp" else socket.SOCK_DGRAM
try:
    socket.socket(socket.AF_INET, kind).bind(("0.0.0.0", int(sys.argv[2])))
except PermissionError:
    sys.exit(13)
' "$2" "$3"
  }
  expect 0 "$pa" apply --policy-dir "$policy" --cgroup "$scratch_cg" --pin-dir "$pin_dir"
  expect 0 "$pa" status --pin-dir "$pin_dir"
  expect 0  try_bind 51000 tcp 80      # granted by byport/80
  # portauth-authbind's /usr/bin/authbind, as a unit file written for authbind runs it.
  expect 0 sh -c 'echo $$ >"$1/cgroup.procs"; shift; exec "$@"' sh "$scratch_cg" \
    setpriv --reuid=51000 --regid=51000 --clear-groups --inh-caps=-all \
    env PORTAUTH_PIN_DIR="$pin_dir" /usr/bin/authbind --deep /usr/bin/python3 -c \
    'import socket; socket.socket().bind(("0.0.0.0", 80))'
  expect 111 env PORTAUTH_PIN_DIR="$pin_dir" /usr/bin/authbind /bin/true   # outside the scratch cgroup
  expect 13 try_bind 51001 tcp 80      # no grant, not root
  expect 0  try_bind 51001 udp 5060    # reserved for 51001
  expect 13 try_bind 51000 udp 5060    # reserved for someone else
  expect 0 "$pa" unload --pin-dir "$pin_dir"
  [ -z "$(ls -A "$pin_dir" 2>/dev/null)" ] || fail "portauth unload left pins in $pin_dir: $(ls -A "$pin_dir")"
  log "scratch enforcement: grants and reservations behave, unload cleans up"
  exit 0
fi

[ "$(id -u)" = 0 ] || fail "run as root (dpkg -i, a scratch cgroup, a bpffs mount, a network namespace)"
sandbox=$src/${BUILD_DIR:-build}/tests/portauth-sandbox
[ -x "$sandbox" ] || fail "no $sandbox; run scripts/build.sh first"

# --- preconditions: do not disturb an existing installation ------------------
for pkg in portauth portauth-authbind; do
  if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed\|config-files'; then
    fail "the $pkg package is installed on this machine; purging it afterwards would remove its policy"
  fi
done
# Debian's authbind (the benchmarks use it): portauth-authbind replaces it on
# install; it is installed again from Debian's archive after the purge.
had_authbind=no
if dpkg-query -W -f='${Status}' authbind 2>/dev/null | grep -q 'install ok installed'; then had_authbind=yes; fi
# The installed unit applies /etc/authbind too (to the root cgroup) when it has entries.
for e in /etc/authbind/byport/* /etc/authbind/byaddr/* /etc/authbind/byuid/* /etc/authbind/reserve/*/*; do
  [ ! -e "$e" ] || fail "$e exists: installing the package would enforce /etc/authbind on this machine"
done
# /run/portauth may hold state files of scratch engines pinned elsewhere (a
# test run that was killed); only the default engine's state means an install.
run_before=$({ ls -A /run/portauth 2>/dev/null || true; } | sort | tr '\n' ' ')
for p in /usr/sbin/portauth /usr/sbin/portreserve /usr/bin/dropto /etc/portauth /etc/default/portauth /etc/default/portwatch \
         /run/portauth/sys-fs-bpf-portauth.state /var/lib/portauth/sys-fs-bpf-portauth.policy /sys/fs/bpf/portauth \
         /lib/systemd/system/portauth.service; do
  [ ! -e "$p" ] || fail "$p exists before the test; this check needs a machine without portauth"
done

# --- packaging tools ----------------------------------------------------------
need=()
for p in debhelper dpkg-dev fakeroot lintian; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- scratch space and cleanup -----------------------------------------------
work=$(mktemp -d /tmp/portauth-ci-package.XXXXXX)
installed=no

cleanup() {   # the scratch cgroup, bpffs and namespace were portauth-sandbox's
  local rc=$?
  set +e
  if [ $installed = yes ]; then dpkg --purge portauth-authbind portauth >/dev/null 2>&1; fi
  if [ $had_authbind = yes ] && ! dpkg-query -W -f='${Status}' authbind 2>/dev/null | grep -q 'install ok installed'; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends authbind >/dev/null 2>&1 ||
      echo "ci-package: could not install Debian's authbind again" >&2
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT

# --- build the package from a copy of the tree ----------------------------------
log "copying the tree to $work/portauth"
mkdir -p "$work/portauth"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  # tracked files plus new ones not ignored, as a commit of the working tree would have them
  (cd "$src" && git ls-files -z --cached --others --exclude-standard |
     while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
     tar --null -T - -cf -) | tar -C "$work/portauth" -xf -
else
  tar -C "$src" --exclude='./build*' --exclude='./obj-*' --exclude='./.git' -cf - . | tar -C "$work/portauth" -xf -
fi

opts="parallel=$(nproc)"
[ "${PORTAUTH_PKG_TESTS:-0}" = 1 ] || opts="nocheck $opts"
log "dpkg-buildpackage -us -uc -b (DEB_BUILD_OPTIONS='$opts')"
start=$SECONDS
if ! (cd "$work/portauth" && DEB_BUILD_OPTIONS="$opts" dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1); then
  tail -n 60 "$work/build.log" >&2
  fail "dpkg-buildpackage failed (log above)"
fi
deb=$(ls "$work"/portauth_*.deb | head -n 1)
authbind_deb=$(ls "$work"/portauth-authbind_*.deb 2>/dev/null | head -n 1)
[ -n "$authbind_deb" ] || fail "dpkg-buildpackage built no portauth-authbind package"
log "built $(basename "$deb") and $(basename "$authbind_deb") in $((SECONDS - start)) s"

# portauth-authbind: authbind's place, and nothing of portauth's.
for field in "Provides: authbind" "Conflicts: authbind" "Replaces: authbind"; do
  dpkg-deb -f "$authbind_deb" "${field%%:*}" | grep -qx "${field#*: }" || fail "portauth-authbind has no '$field'"
done
dpkg-deb -f "$authbind_deb" Depends | grep -q 'portauth (= ' || fail "portauth-authbind does not depend on portauth (= version)"
# (the listings are read whole first: grep -q stopping early would kill dpkg-deb with SIGPIPE)
authbind_files=$(dpkg-deb -c "$authbind_deb")
portauth_files=$(dpkg-deb -c "$deb")
grep -q ' \./usr/bin/authbind$' <<<"$authbind_files" || fail "portauth-authbind has no /usr/bin/authbind"
! grep -q 'authbind' <<<"$portauth_files" || fail "the portauth package ships authbind's files: $(grep authbind <<<"$portauth_files")"

# --- lintian ---------------------------------------------------------------------
lintian --fail-on error --display-info "$deb" "$authbind_deb" >"$work/lintian.txt" 2>&1 || lint_rc=$?
cat "$work/lintian.txt"
log "lintian: $(grep -c '^E:' "$work/lintian.txt" || true) errors, $(grep -c '^W:' "$work/lintian.txt" || true) warnings, $(grep -c '^I:' "$work/lintian.txt" || true) info"
if [ -n "${PORTAUTH_PKG_KEEP:-}" ]; then
  mkdir -p "$PORTAUTH_PKG_KEEP" && cp "$deb" "$authbind_deb" "$work/lintian.txt" "$PORTAUTH_PKG_KEEP/"
fi
[ "${lint_rc:-0}" = 0 ] || fail "lintian reports errors"

# --- install ---------------------------------------------------------------------
log "dpkg -i $(basename "$deb") $(basename "$authbind_deb")"
installed=yes
dpkg -i "$deb" "$authbind_deb" >/dev/null || { apt-get install -f -y -qq >/dev/null; dpkg -i "$deb" "$authbind_deb" >/dev/null; } ||
  fail "dpkg -i failed"
! dpkg-query -W -f='${Status}' authbind 2>/dev/null | grep -q 'install ok installed' ||
  fail "Debian's authbind is still installed next to portauth-authbind"
[ "$(/usr/bin/authbind --version)" = "authbind $(/usr/sbin/portauth --version | awk '{print $2}')" ] ||
  fail "/usr/bin/authbind is not portauth's: $(/usr/bin/authbind --version 2>&1)"
for p in /usr/sbin/portauth /usr/sbin/portreserve /usr/bin/dropto /usr/bin/authbind \
         /usr/share/man/man1/authbind.1.gz /usr/share/portauth/nginx/portauth-unprivileged.conf \
         /usr/share/man/man8/portauth.8.gz /usr/share/man/man5/portauth.5.gz \
         /usr/share/bash-completion/completions/portauth /lib/systemd/system/portauth.service \
         /usr/share/portauth/policies/webserver/setup.sh /etc/default/portauth \
         /etc/portauth/byport /etc/portauth/byaddr /etc/portauth/byuid /etc/portauth/reserve; do
  [ -e "$p" ] || fail "$p is not installed"
done
[ "$(stat -c '%U:%G %a' /etc/portauth)" = "root:root 755" ] || fail "/etc/portauth is $(stat -c '%U:%G %a' /etc/portauth)"
for p in /etc/default/portwatch /usr/share/doc/portauth/examples/ansible/roles/portauth/tasks/main.yml; do
  [ -e "$p" ] || fail "$p is not installed"
done
if [ -e /usr/sbin/portwatch ]; then
  [ "$(stat -c '%U:%G %a' /var/lib/portwatch)" = "root:root 755" ] || fail "/var/lib/portwatch is $(stat -c '%U:%G %a' /var/lib/portwatch 2>&1)"
fi
[ ! -e /sys/fs/bpf/portauth ] || fail "installing the package loaded a policy (/sys/fs/bpf/portauth exists)"
/usr/sbin/portauth --version

# The installed units, as systemd will read them. systemd-analyze verify exits
# 0 after many warnings (an unknown key, a bad value, a missing command), so a
# line that names one of our units fails too; lines about other units (systemd's
# own, pulled in as dependencies) are only shown.
verify_unit() {  # verify_unit UNIT_FILE
  local unit=$1 name out rc=0
  name=$(basename "$unit")
  out=$(systemd-analyze verify --man=no "$unit" 2>&1) || rc=$?
  [ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/ci-package: systemd-analyze: /'
  [ "$rc" = 0 ] || fail "systemd-analyze verify $unit exited $rc"
  # portwatch.service pulls in portauth.service: a warning about either counts.
  if printf '%s\n' "$out" | grep -qE 'port(auth|watch)\.service'; then fail "systemd-analyze verify $name warns about our units (above)"; fi
}
if command -v systemd-analyze >/dev/null; then
  units=(/lib/systemd/system/portauth.service)
  [ ! -e /usr/sbin/portwatch ] || units+=(/lib/systemd/system/portwatch.service)
  for unit in "${units[@]}"; do
    [ -e "$unit" ] || fail "$unit is not installed"
    verify_unit "$unit"
  done
  log "systemd-analyze verify: ${units[*]##*/}: no warnings"
else
  log "systemd-analyze is not installed: the units were not verified"
fi

# --- try it: example policies, then in portauth-sandbox ---------------------------
policy="$work/policy"
/usr/share/portauth/policies/webserver/setup.sh "$policy" 51000 >/dev/null
/usr/share/portauth/policies/sip/setup.sh "$policy" 51001 >/dev/null
expect 0 "$pa" check --policy-dir "$policy" --user 51000 tcp/80
expect 1 "$pa" check --policy-dir "$policy" --user 51001 tcp/80
expect 0 "$pa" check --policy-dir "$policy" --user 51001 udp/5060
expect 1 "$pa" check --policy-dir "$policy" --user 51000 udp/5060

# portauth.service's ExecCondition follows PORTAUTH_POLICY_DIR: skipped (1)
# for a tree without entries, run (0) for one with entries.
# The unit's "/bin/sh -c '...'", unquoted for the shell and with systemd's $$ as $.
condition=$(sed -n "s/^ExecCondition=\/bin\/sh -c '\(.*\)'\$/\1/p" /lib/systemd/system/portauth.service | sed 's/\$\$/$/g')
[ -n "$condition" ] || fail "portauth.service has no ExecCondition=/bin/sh -c '...'"
mkdir -p "$work/empty/byport" "$work/empty/reserve/udp"
cond_rc() { local rc=0; PORTAUTH_POLICY_DIR="$1" /bin/sh -c "$condition" >/dev/null 2>&1 || rc=$?; echo $rc; }
[ "$(cond_rc "$work/empty")" = 1 ] || fail "portauth.service would apply an empty tree"
[ "$(cond_rc "$policy")" = 0 ] || fail "portauth.service would skip $policy"
[ "$(cond_rc "$work/empty:$policy")" = 0 ] || fail "portauth.service would skip $work/empty:$policy"
log "portauth.service: skipped for a tree without entries, run for $policy"

# portwatch scan, apply, binds and unload: in portauth-sandbox (above).
"$sandbox" "$self" --in-sandbox "$policy" || fail "the part in portauth-sandbox failed (exit $?)"

# --- purge, and check the machine is clean ------------------------------------------
left=()
log "dpkg --purge portauth-authbind portauth"
dpkg --purge portauth-authbind portauth >/dev/null
installed=no
[ $had_authbind = yes ] || [ ! -e /usr/bin/authbind ] || left+=(/usr/bin/authbind)
for p in /usr/sbin/portauth /usr/sbin/portreserve /usr/bin/dropto /usr/share/portauth /etc/portauth \
         /etc/default/portauth /etc/default/portwatch /run/portauth/sys-fs-bpf-portauth.state /sys/fs/bpf/portauth \
         /lib/systemd/system/portauth.service /etc/systemd/system/sysinit.target.wants/portauth.service /usr/share/doc/portauth \
         /usr/sbin/portwatch /lib/systemd/system/portwatch.service /var/lib/portauth /var/lib/portwatch /run/portwatch \
         /etc/systemd/system/multi-user.target.wants/portwatch.service; do
  [ ! -e "$p" ] && [ ! -L "$p" ] || left+=("$p")
done
run_after=$({ ls -A /run/portauth 2>/dev/null || true; } | sort | tr '\n' ' ')
[ "$run_after" = "$run_before" ] || left+=("/run/portauth (before: '${run_before}', after: '${run_after}')")
((${#left[@]} == 0)) || fail "left after purge: ${left[*]}"
for pkg in portauth portauth-authbind; do
  ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed\|config-files' || fail "dpkg still knows $pkg"
done
if [ $had_authbind = yes ]; then
  log "installing Debian's authbind again (portauth-authbind replaced it)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends authbind >/dev/null ||
    fail "could not install Debian's authbind again"
fi
log "OK: built, lint-clean of errors, installed, tried on a scratch cgroup, purged without a trace"
