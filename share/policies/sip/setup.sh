#!/usr/bin/env bash
# Example policy "sip": TCP and UDP port 5060 (SIP) on every address belong to
# PRINCIPALs (default _sipd): nobody else may bind them. See README.md.
USAGE="setup.sh [--print] TARGET [PRINCIPAL...]   (default PRINCIPAL: _sipd)"
. "$(dirname "$(readlink -f "$0")")/../common.sh"
parse_args _sipd -- "$@"

entry reserve/tcp/5060 "${PRINCIPALS[@]}"
entry reserve/udp/5060 "${PRINCIPALS[@]}"

build_tree
