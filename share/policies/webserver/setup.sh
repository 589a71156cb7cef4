#!/usr/bin/env bash
# Example policy "webserver": PRINCIPALs (default www-data) may bind ports 80
# and 443, TCP and UDP (HTTP/3), on every address, without root or
# CAP_NET_BIND_SERVICE. See README.md.
USAGE="setup.sh [--print] TARGET [PRINCIPAL...]   (default PRINCIPAL: www-data)"
. "$(dirname "$(readlink -f "$0")")/../common.sh"
parse_args www-data -- "$@"

entry byport/80  "${PRINCIPALS[@]}"
entry byport/443 "${PRINCIPALS[@]}"

build_tree
