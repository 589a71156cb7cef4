// What users type on the command line to name a grant, a reservation, a bind
// or a principal, and the policy-tree paths those map to. Every parser checks
// every character (no strtol) and its errors name the text and what is wrong:
//   'udp/5060-5000': port range 5060-5000 is backwards (write 5000-5060)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/user_database.hpp"
#include "policy/model.hpp"

namespace portauth {

// A reservation: "PROTO/PORT[-PORT][@ADDR]", e.g. "udp/5060", "tcp/6000-6099",
// "udp/5060@127.0.0.1", "tcp/443@[2001:db8::1]". PROTO is tcp or udp; IPv6
// addresses go in brackets; a wildcard address (0.0.0.0, [::]) is refused -
// omit @ADDR to reserve on every address.
struct ReserveSpec {
    Proto proto = Proto::tcp;
    uint16_t port_min = 0, port_max = 0;
    std::optional<Address> addr;   // nullopt: every local address
};
Result<ReserveSpec> parse_reserve_spec(std::string_view text);
// The entry in the policy tree, relative to the policy dir, in the one
// spelling the loader accepts: "reserve/udp/5060", "reserve/tcp/6000-6099",
// "reserve/udp/5060@127.0.0.1", "reserve/tcp/443@[2001:db8::1]".
std::string reserve_entry_path(const ReserveSpec& spec);
// "80", "6000-6099": a port, or a range as the specs and entry names spell it.
std::string format_port_range(uint16_t lo, uint16_t hi);
// "udp/5060@127.0.0.1" - parse_reserve_spec reads it back.
std::string format_reserve_spec(const ReserveSpec& spec);

// A grant (authbind's byport/byaddr): "PORT" or "PORT@ADDR" (IPv6 in
// brackets). Grants cover tcp and udp alike, so "tcp/80" is refused.
struct GrantSpec {
    uint16_t port = 0;
    std::optional<Address> addr;   // nullopt: byport (every address)
};
Result<GrantSpec> parse_grant_spec(std::string_view text);
// "byport/80", "byport/!600", "byaddr/127.0.0.1,80", "byaddr/!::1,600": the
// ',' form in inet_ntop spelling, which authbind consults for both families.
std::string grant_entry_path(const GrantSpec& spec);
// "80", "600@[::1]" - parse_grant_spec reads it back.
std::string format_grant_spec(const GrantSpec& spec);

// One bind(2) to ask about (`portauth check`): "PROTO/PORT[@ADDR]". Without
// @ADDR the address is 0.0.0.0; wildcards are allowed here.
struct BindSpec {
    Proto proto = Proto::tcp;
    uint16_t port = 0;
    Address addr;
};
Result<BindSpec> parse_bind_spec(std::string_view text);

// A user or a group named on the command line: "alice", "1001", "%staff",
// "%50", by common/user_database.hpp's rules: names must exist; numbers need
// no passwd/group entry (their name is looked up for display only); digits
// that are also the name of another user (group) are refused as ambiguous.
struct Principal {
    enum class Kind { user, group } kind = Kind::user;
    uint32_t id = 0;
    std::string name;   // the resolved name, or the number when there is none
    friend bool operator==(const Principal&, const Principal&) = default;
};
Result<Principal> parse_principal(std::string_view text, UserDatabase& db);
Result<Principal> parse_principal(std::string_view text);   // the system's database
// The principal for a uid or gid, with its name when the database knows one.
Principal user_principal(uint32_t uid, UserDatabase& db);
Principal group_principal(uint32_t gid, UserDatabase& db);
Principal user_principal(uint32_t uid);
Principal group_principal(uint32_t gid);
// What a bind by user `uid` is judged with (`portauth check --user`,
// portwatch's squatters): credentials_for()'s gid and groups, the gid assumed
// for a uid without a passwd entry.
Result<Credentials> judged_credentials(uint32_t uid, UserDatabase& db);
// "alice (uid 1001)", "%staff (gid 50)"; "uid 51001" / "gid 51001" when the
// id has no name.
std::string format_principal(const Principal& p);

}  // namespace portauth
