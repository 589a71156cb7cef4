// The policy decision: a pure function of (policy, bind request, credentials,
// host facts). No I/O, no logging, no globals. The kernel program in
// lib/engine/portauth.bpf.c implements the same rules over the tables that
// engine/compile.hpp produces; `portauth check`, portwatch and the differential test
// call this.
#pragma once

#include <optional>
#include <string>

#include "policy/model.hpp"

namespace portauth {

struct BindRequest {
    Proto proto = Proto::tcp;
    Address addr;            // normalised: v4-mapped is IPv4
    uint16_t port = 0;
    // The socket is IPV6_V6ONLY (setsockopt, or net.ipv6.bindv6only at
    // socket()); meaningful only for an IPv6 address. An IPv6 wildcard bind
    // ([::]) takes the IPv4 wildcard too (dual-stack) unless v6only is set.
    // The kernel engine reads the flag from the socket, except where it
    // cannot (MPTCP sockets; kernels whose bind programs lack
    // bpf_skc_to_tcp6_sock): there it assumes dual-stack, as v6only = false does.
    bool v6only = false;
};

// What the kernel would do after our program: the classic privileged-port rule.
struct HostFacts {
    uint32_t unprivileged_port_start = 1024;   // net.ipv4.ip_unprivileged_port_start
    bool cap_net_bind_service = false;         // the process holds it (uid 0 usually does)
};

enum class DecidedBy {
    reservation,   // a reservation refused, or its owner bound it
    grant,         // a grant entry let it through (or existed and did not)
    kernel,        // no entry spoke; the kernel's own rules decide
};

struct Decision {
    bool allowed = false;
    bool refused_by_policy = false;   // a reservation refused (errno EACCES)
    bool cap_waived = false;          // a grant or reservation ownership waives CAP_NET_BIND_SERVICE
    DecidedBy by = DecidedBy::kernel;
    std::optional<Origin> rule;       // the entry that decided, if any
    std::string reason;               // one sentence for people
};

// POSIX.1e access check for X_OK on an entry (AT_EACCESS semantics, no
// capability override). Only the egid and the lowest kMaxGroupsConsidered
// supplementary groups count, as in the kernel engine.
bool may_execute(const AccessSpec& access, const Credentials& creds);

// The class of the entry's permissions that decided that check. access(2)
// stops at the first class that applies: the owner is judged by the owner
// bits alone (0654 refuses its owner, though its group may bind), a user
// with a named ACL entry by that entry, a member of the entry's groups by
// those groups (and the mask), everyone else by the other bits.
enum class AccessClass { owner, named_user, owning_group, named_group, other };
struct AccessVerdict {
    bool granted = false;
    AccessClass by = AccessClass::other;
    uint32_t id = 0;        // owner: its uid; named_user: the uid; the groups: the gid that decided
    bool masked = false;    // the class has x but the ACL mask has none
};
AccessVerdict check_execute(const AccessSpec& access, const Credentials& creds);

// That verdict for people, e.g. "uid 103 owns the entry, so the owner class
// decides: no x; the group class (gid 103) would have granted".
std::string explain_execute(const AccessSpec& access, const Credentials& creds);

// Does binding `req` take an address the reservation covers? A wildcard bind
// takes every address of its family, a dual-stack IPv6 wildcard the IPv4
// ones as well; a reservation on every address collides with every bind.
bool collides(const Reservation& r, const BindRequest& req);

Decision decide(const Policy& policy, const BindRequest& req, const Credentials& creds, const HostFacts& host);

}  // namespace portauth
