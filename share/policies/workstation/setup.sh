#!/usr/bin/env bash
# Example policy "workstation": each developer gets a block of 1000 TCP ports
# on every address that nobody else may bind: the first USER 20000-20999, the
# second 21000-21999, and so on (at most 12 users, so that the blocks stay
# below the kernel's default ephemeral range 32768-60999). See README.md.
USAGE="setup.sh [--print] TARGET USER [USER...]   (USER: name or uid; one block of 1000 ports each, from tcp/20000)"
. "$(dirname "$(readlink -f "$0")")/../common.sh"
parse_args -- "$@"

((${#PRINCIPALS[@]} <= 12)) || usage "at most 12 users (tcp/20000-31999); give the others a policy of their own"
base=20000
for user in "${PRINCIPALS[@]}"; do
  case $user in %*) usage "'$user': a block belongs to one user, not a group" ;; esac
  entry "reserve/tcp/$base-$((base + 999))" "$user"
  base=$((base + 1000))
done

build_tree
