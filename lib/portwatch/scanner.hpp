// One scan: which sockets hold a reserved port against the policy, and which
// processes hold those sockets.
//
// A socket is a squatter when decide() refuses the bind it made with
// `refused_by_policy` (a reservation refuses it) for the identity that bound
// it, judged in this order (Squatter::identity says which):
//   binder  the credentials the kernel recorded at bind(2) (the "binders"
//           socket storage, under enforcement): exact, even for a socket
//           created as root and bound after dropping privileges;
//   holder  else the processes holding the socket, by their effective uid,
//           gid and supplementary groups (/proc/PID/status): a squatter only
//           if no holder would be allowed;
//   socket  else the socket's uid (its creator), with the credentials
//           judged_credentials() gives (policy/spec.hpp): egid = the user's
//           primary gid (the uid when the user is unknown), supplementary
//           groups from getgrouplist when the user exists.
// An identity with uid 0 counts as holding CAP_NET_BIND_SERVICE. Grants play
// no part in squatting. An IPv6 socket's IPV6_V6ONLY comes from sock_diag
// (SocketInfo::v6only); where the kernel reports none, an IPv6 wildcard
// socket is judged dual-stack.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/user_database.hpp"
#include "policy/decide.hpp"
#include "policy/model.hpp"
#include "portwatch/sockdiag.hpp"

namespace portauth::watch {

inline constexpr size_t kMaxCmdlineBytes = 4096;   // longer command lines are cut

struct ProcessInfo {
    uint32_t pid = 0;
    std::string comm, exe, cmdline;   // empty when unreadable (or a kernel thread)
};

struct Squatter {
    SocketInfo socket;
    uint32_t uid = 0;        // the uid that was judged (binder's, first holder's, or the socket's)
    std::string identity;    // "binder", "holder" or "socket": whose credentials were judged
    std::string user;        // name, or the number when there is none
    std::string entry;       // the reservation's entry, e.g. "reserve/udp/5060"
    std::string reason;
    std::vector<ProcessInfo> processes;   // may be empty: the holder went away
};

struct ScanResult {
    std::vector<Squatter> squatters;
    size_t sockets_scanned = 0;   // sockets the kernel's filter let through
    double scan_ms = 0;
    bool skipped = false;         // no reservations: nothing to scan
};

using CredentialsLookup = std::function<Credentials(uint32_t uid)>;
// The credentials of the processes holding a socket inode (empty: unknown).
using HoldersLookup = std::function<std::vector<Credentials>(uint64_t inode)>;

struct ScanSettings {
    std::string pin_dir;        // where enforcement pins "binders"; empty: default_pin_dir()
    std::string proc = "/proc";
};

// The port ranges that reservations cover, merged.
std::vector<PortRange> reserved_ranges(const Policy& policy);

// From the user database (see the top of this file and common/user_database.hpp).
Credentials credentials_for_uid(uint32_t uid, UserDatabase& db);
Credentials credentials_for_uid(uint32_t uid);   // the system's database

// Does a reservation of `policy` cover the socket's proto, address and port?
bool on_reserved_port(const Policy& policy, const SocketInfo& s);

// Pure: the squatters among `sockets` (processes left empty), by the rules at
// the top of this file; `holders` is asked only for sockets without a binder.
std::vector<Squatter> find_squatters(const Policy& policy, const std::vector<SocketInfo>& sockets,
                                     const CredentialsLookup& creds, const HostFacts& host,
                                     const HoldersLookup& holders);
// The same without holders (binder, else socket).
std::vector<Squatter> find_squatters(const Policy& policy, const std::vector<SocketInfo>& sockets,
                                     const CredentialsLookup& creds, const HostFacts& host);

// A process's effective uid, gid and supplementary groups from PROC/PID/status.
std::optional<Credentials> read_process_credentials(uint32_t pid, const std::string& proc = "/proc");

// Which processes hold which socket inodes, from PROC/PID/fd.
std::map<uint64_t, std::vector<uint32_t>> pids_for_inodes(const std::set<uint64_t>& inodes,
                                                          const std::string& proc = "/proc");
ProcessInfo read_process(uint32_t pid, const std::string& proc = "/proc");

// The whole pass: dump (with the binders when enforcement pinned them), decide, map to processes.
Result<ScanResult> scan(const Policy& policy, const ScanSettings& settings);
Result<ScanResult> scan(const Policy& policy);   // default settings

}  // namespace portauth::watch
