# Shared by the example policies' setup.sh: a small declarative tree builder.
# Not run on its own; each setup.sh sources it, declares its entries with
# `entry PATH PRINCIPAL...` and then calls `build_tree`.
#
#   setup.sh [--print] TARGET [PRINCIPAL...]
#
# TARGET is a policy dir: /etc/portauth, or a scratch dir to try the policy
# with `portauth check --policy-dir TARGET`. PRINCIPALs are spelled as for
# `portauth allow`: user name, uid, %group or %gid. Names must exist (checked
# before anything is written); numeric ids are taken as they are.
#
# Every entry is created root:root, mode 0400 with a POSIX ACL (u:UID:--x,
# g:GID:--x, mask --x): the layout `portauth allow` and `portreserve add`
# write. Missing directories are created root:root 0755. Nothing is
# overwritten: when an entry exists already, nothing is written at all.
# --print shows the entries and ACLs instead of writing them.
#
# Exit status: 0 done, 100 usage, 111 failure (a principal does not exist, an
# entry exists, a command failed).

set -euo pipefail

PROG=${0##*/}
_entries=()       # "PATH<TAB>ACL" lines
_print_only=no
TARGET=
PRINCIPALS=()

die()   { echo "$PROG: $*" >&2; exit 111; }
usage() { echo "$PROG: $*" >&2; echo "usage: $USAGE" >&2; exit 100; }

# parse_args DEFAULT_PRINCIPAL... -- "$@": fills TARGET and PRINCIPALS.
parse_args() {
  local defaults=()
  while (($#)) && [ "$1" != -- ]; do defaults+=("$1"); shift; done
  shift || true
  case ${1:-} in
    -h|--help) echo "usage: $USAGE"; exit 0 ;;
    --print) _print_only=yes; shift ;;
  esac
  (($#)) || usage "no TARGET policy dir given"
  case $1 in -*) usage "unknown option '$1'" ;; /*) ;; *) usage "TARGET must be an absolute path, not '$1'" ;; esac
  TARGET=${1%/}
  [ -n "$TARGET" ] || usage "TARGET must not be /"
  shift
  if (($#)); then PRINCIPALS=("$@"); else PRINCIPALS=("${defaults[@]}"); fi
  ((${#PRINCIPALS[@]})) || usage "no PRINCIPAL given"
}

# acl_for PRINCIPAL: prints the ACL entry (u:UID:x or g:GID:x), or fails clearly.
acl_for() {
  local p=$1 id
  case $p in
    %*[!0-9]*|%) id=$(getent group "${p#%}" | cut -d: -f3) ||
                   die "group '${p#%}' does not exist; create it (addgroup --system ${p#%}) or name another one"
                 echo "g:$id:x" ;;
    %*)          echo "g:${p#%}:x" ;;
    *[!0-9]*|'') id=$(getent passwd "$p" | cut -d: -f3) ||
                   die "user '$p' does not exist; create it (adduser --system $p) or name another one"
                 echo "u:$id:x" ;;
    *)           echo "u:$p:x" ;;
  esac
}

# entry PATH PRINCIPAL...: declares one entry of the tree.
entry() {
  local path=$1 acl="" p a
  shift
  for p in "$@"; do a=$(acl_for "$p"); acl+=${acl:+,}$a; done
  _entries+=("$path"$'\t'"$acl")
}

build_tree() {
  local line path acl dir
  if [ $_print_only = yes ]; then
    for line in "${_entries[@]}"; do
      printf '%s/%s\troot:root 0400\tACL %s,m::x\n' "$TARGET" "${line%%$'\t'*}" "${line#*$'\t'}"
    done
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "must run as root: the entries are owned by root"
  command -v setfacl >/dev/null || die "setfacl not found; install the 'acl' package"
  [ ! -L "$TARGET" ] || die "$TARGET is a symbolic link; name the directory it points to"
  for line in "${_entries[@]}"; do
    path=$TARGET/${line%%$'\t'*}
    [ ! -e "$path" ] && [ ! -L "$path" ] || die "$path exists already; nothing written (remove it, or edit it with portauth allow / portreserve add)"
  done
  if [ ! -d "$TARGET" ]; then
    install -d -o root -g root -m 0755 "$TARGET" || die "cannot create $TARGET"
  fi
  for line in "${_entries[@]}"; do
    path=$TARGET/${line%%$'\t'*}
    acl=${line#*$'\t'}
    dir=${path%/*}
    while [ ! -d "$dir" ]; do
      # create parents one level at a time, each root:root 0755
      local missing=$dir
      while [ ! -d "${missing%/*}" ]; do missing=${missing%/*}; done
      install -d -o root -g root -m 0755 "$missing" || die "cannot create $missing"
    done
    install -o root -g root -m 0400 /dev/null "$path" || die "cannot create $path"
    setfacl -m "$acl,m::x" "$path" || die "cannot set the ACL $acl on $path"
    echo "$PROG: $path  $acl"
  done
  echo "$PROG: done; try it: portauth check --policy-dir $TARGET --user USER PROTO/PORT"
  if [ "$TARGET" = /etc/portauth ]; then
    echo "$PROG: it takes effect with: portauth apply (or: systemctl reload-or-restart portauth)"
  fi
}
