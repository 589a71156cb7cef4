// The names of the policy tree's entries (docs/policy-tree.md): authbind's
// spellings under byport/, byaddr/ and byuid/, portauth's under reserve/, and
// what the policy dir itself may hold. A name is accepted only in the
// spelling that is looked up (authbind builds the name it looks for from the
// bind(2) and never tries another), so a name nobody would look up is an
// error that says how to spell it instead.
//
// Pure: each parser takes a leaf name (the entry's name inside its
// directory) and returns what it means, or the error the loader prints after
// "PATH: ", e.g. "ports 512-1023 need the '!' prefix (byport/!600), as in authbind".
#pragma once

#include <cstdint>
#include <string_view>

#include "common/result.hpp"
#include "policy/model.hpp"
#include "policy/spec.hpp"

namespace portauth {

// What the policy dir holds: the four entry directories, portauth.conf and
// README (or README.md), nothing else.
enum class PolicyDirEntry { byport, byaddr, byuid, reserve, conf, readme };
Result<PolicyDirEntry> parse_policy_dir_name(std::string_view name);

// byport/PORT and byport/!PORT: PORT in plain decimal (1-65535), '!' exactly
// for ports 512-1023. Returns the port.
Result<uint16_t> parse_byport_name(std::string_view name);

// byaddr/[!]ADDR,PORT, byaddr/[!]ADDR4:PORT; IPv6 in inet_ntop's spelling
// or uncompressed (8 groups). `rank` is the order in which authbind looks the
// spellings up for one address and port (model.hpp, AddrGrant): for IPv4
// ADDR:PORT 0 and ADDR,PORT 1; for IPv6 the inet_ntop spelling 0 and the
// uncompressed one 1; IPv4-mapped IPv6 spellings (::ffff:1.2.3.4,80) are
// the IPv4 address with ranks 2 and 3.
struct ByaddrName {
    Address addr;
    uint16_t port = 0;
    int rank = 0;
};
Result<ByaddrName> parse_byaddr_name(std::string_view name);

// byuid/UID and byuid/!UID: UID in plain decimal (0-4294967294).
struct ByuidName {
    uint32_t uid = 0;
    bool bang = false;   // the "!" file: its lines count only for ports 512-1023
};
Result<ByuidName> parse_byuid_name(std::string_view name);

// reserve/tcp and reserve/udp.
Result<Proto> parse_reserve_dir_name(std::string_view name);

// reserve/PROTO/NAME: NAME as reserve_entry_path (spec.hpp) spells it,
// PORT[-PORT][@ADDR] ("5060", "6000-6099", "443@[2001:db8::1]").
Result<ReserveSpec> parse_reserve_name(Proto proto, std::string_view name);

}  // namespace portauth
