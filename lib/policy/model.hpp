// The policy model: what the policy tree says, after parsing, before any kernel
// representation. Pure data; the loader (tree.hpp) fills it from files, the
// decision (decide.hpp) and the kernel compiler (engine/compile.hpp) read it.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace portauth {

enum class Proto : uint8_t { tcp = IPPROTO_TCP, udp = IPPROTO_UDP };

const char* proto_name(Proto p);

// An IP address, normalised: an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is
// stored as the IPv4 address, because that is the address the socket binds.
struct Address {
    int family = AF_INET;                // AF_INET or AF_INET6
    std::array<uint8_t, 16> bytes{};     // IPv4 uses bytes[0..3], network order

    static Address v4(uint32_t host_order);
    static Address any4();
    static Address any6();
    // Accepts anything inet_pton accepts (IPv4 dotted quad, IPv6 in any form,
    // optionally inside [brackets]); maps ::ffff:a.b.c.d to IPv4.
    static std::optional<Address> parse(std::string_view text);
    // From raw bytes as the kernel hands them over (IPv6 may be v4-mapped).
    static Address from_v6_bytes(const uint8_t bytes[16]);

    bool is_v4() const { return family == AF_INET; }
    bool is_wildcard() const;
    size_t length() const { return is_v4() ? 4 : 16; }
    std::string str() const;             // inet_ntop form
    std::string str_uncompressed() const;  // IPv6: 8 groups, no "::", leading zeroes dropped
    std::string str_bracketed() const;   // IPv6 in [brackets], IPv4 as is

    // The IPv4-mapped IPv6 address (::ffff:a.b.c.d) of this IPv4 address, in
    // family AF_INET6: what an IPv6 socket sees, and authbind looks up, for it.
    Address v4_mapped() const;
    // True when no bit past the first `prefix_len` is set: the address is
    // the network of that prefix (10.0.0.0/8 yes, 10.0.0.1/8 no).
    bool is_network_of_prefix(unsigned prefix_len) const;

    friend bool operator==(const Address&, const Address&) = default;
    friend auto operator<=>(const Address&, const Address&) = default;
};

// An inclusive address interval in one family (authbind's byuid lines: a
// prefix addr/len is the interval [addr, addr | ~mask]).
struct AddressRange {
    Address low, high;
    // Every address of the prefix `network`/`prefix_len`: [network, network
    // with all bits past the prefix set].
    static AddressRange of_prefix(const Address& network, unsigned prefix_len);
    bool contains(const Address& a) const;
    friend bool operator==(const AddressRange&, const AddressRange&) = default;
};

// Who a policy entry lets through: what access(2) with X_OK and AT_EACCESS
// would answer for a process, computed from the entry's owner, group, mode
// and POSIX ACL. Capabilities play no part (root gets no override here; the
// root exemption for reservations is a separate setting).
struct AclEntry {
    uint32_t id = 0;        // uid for named users, gid for named groups
    bool execute = false;   // the x bit as written in the entry, before the mask
    friend bool operator==(const AclEntry&, const AclEntry&) = default;
};

struct AccessSpec {
    uint32_t owner_uid = 0;
    uint32_t owner_gid = 0;
    bool owner_x = false;
    bool group_x = false;   // ACL_GROUP_OBJ when has_acl, else the mode's group bit
    bool other_x = false;
    bool has_acl = false;   // an extended ACL (named entries and a mask) is present
    bool mask_x = true;     // ACL_MASK's x bit; meaningful only when has_acl
    std::vector<AclEntry> users;   // ACL_USER entries (named users)
    std::vector<AclEntry> groups;  // ACL_GROUP entries (named groups)
    friend bool operator==(const AccessSpec&, const AccessSpec&) = default;
};

// The credentials the kernel sees at bind(2): effective uid, effective gid
// and the supplementary groups.
struct Credentials {
    uint32_t euid = 0;
    uint32_t egid = 0;
    std::vector<uint32_t> groups;
};

// The kernel engine looks at no more than this many supplementary groups (the
// lowest gids; the kernel keeps them sorted). The pure decision applies the
// same limit, so `portauth check` and the kernel never disagree.
inline constexpr size_t kMaxGroupsConsidered = 64;

// Where a rule came from: the file, relative to the policy dir ("byport/80",
// "byuid/1001" with line 3, "reserve/udp/5060"), or, for an entry of the
// authbind tree merged in (tree.hpp, PolicySources), its absolute path
// ("/etc/authbind/byport/80"): a name that says which tree it is in.
struct Origin {
    std::string file;
    int line = 0;           // byuid lines; 0 for whole-file entries
    std::string str() const;
    bool in_policy_dir() const { return file.empty() || file.front() != '/'; }
};

// byport/PORT, byport/!PORT (512-1023): the entry's permissions decide.
struct PortGrant {
    uint16_t port = 0;
    AccessSpec access;
    Origin origin;
};

// byaddr/ADDR,PORT, byaddr/ADDR:PORT (IPv4 only) and the uncompressed IPv6 form.
// When several spellings exist for one address and port, authbind consults
// them in a fixed order and the first that exists decides; `rank` records that
// order (0 = consulted first: "ADDR:PORT" for IPv4, inet_ntop form for IPv6;
// 2 and 3 for IPv4-mapped IPv6 spellings, which portauth reads as the IPv4 address).
struct AddrGrant {
    Address addr;
    uint16_t port = 0;
    int rank = 0;
    AccessSpec access;
    Origin origin;
};

// One line of byuid/UID or byuid/!UID: addresses and ports the uid may bind.
struct UidGrantLine {
    AddressRange addrs;
    uint16_t port_min = 0, port_max = 0;
    Origin origin;          // file and line number
};

// byuid/UID (ports outside 512-1023) or byuid/!UID (ports 512-1023).
struct UidGrantFile {
    uint32_t uid = 0;
    bool bang = false;      // the "!" file: lines count only for ports 512-1023
    std::vector<UidGrantLine> lines;
    Origin origin;
};

// reserve/PROTO/PORT[-PORT][@ADDR]: the entry's permissions name the owners.
struct Reservation {
    Proto proto = Proto::tcp;
    uint16_t port_min = 0, port_max = 0;
    std::optional<Address> addr;   // nullopt: every local address
    AccessSpec access;
    Origin origin;
};

struct PolicySettings {
    // uid 0 may bind reserved ports; "root-exempt = no" in portauth.conf (the strict setting) turns it off.
    bool root_exempt = true;
};

// An entry that failed hygiene checks and that a user other than root owns
// or can change (a chmod, a setfacl). It costs that entry alone and fails
// closed: a disabled grant is kept in the policy granting nobody (it still
// "exists" in authbind's order, so it still decides), a disabled reservation
// is kept reserving its port for root only (uid 0, whatever root-exempt says).
// The loader puts the entry into the policy in that closed form and lists it here.
struct DisabledEntry {
    Origin origin;          // "byport/80", "reserve/udp/5090"
    std::string reason;     // "writable by group or other (mode 0570); ..."
};

struct Policy {
    std::string dir;                     // the policy dir it was read from
    std::string authbind_dir;            // the authbind tree merged in (absolute), "" when none
    std::vector<std::string> shadowed;   // authbind entries (absolute) the policy dir's own shadow; sorted
    PolicySettings settings;
    std::vector<DisabledEntry> disabled; // see DisabledEntry; sorted by origin
    std::vector<PortGrant> port_grants;
    std::vector<AddrGrant> addr_grants;
    std::vector<UidGrantFile> uid_grants;
    std::vector<Reservation> reservations;

    size_t rule_count() const;
};

// Port ranges that authbind's '!' leafname prefix covers.
inline bool needs_bang(uint16_t port) { return port >= 512 && port <= 1023; }

}  // namespace portauth
