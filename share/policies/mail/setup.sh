#!/usr/bin/env bash
# Example policy "mail": PRINCIPALs (default mail) may bind SMTP 25,
# submissions 465, submission 587 and IMAPS 993, on every address, without root
# or CAP_NET_BIND_SERVICE. See README.md.
USAGE="setup.sh [--print] TARGET [PRINCIPAL...]   (default PRINCIPAL: mail)"
. "$(dirname "$(readlink -f "$0")")/../common.sh"
parse_args mail -- "$@"

# authbind's naming: ports 512-1023 take a '!' before the number.
for name in 25 465 '!587' '!993'; do
  entry "byport/$name" "${PRINCIPALS[@]}"
done

build_tree
