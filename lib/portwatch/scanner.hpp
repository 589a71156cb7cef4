// One scan: which sockets hold a reserved port against the policy, and which
// processes hold those sockets.
//
// A socket is a squatter when decide() for its owner refuses the bind it made
// with `refused_by_policy` (a reservation refuses it). The owner's credentials
// are rebuilt from the user database: euid = the socket's uid, egid = the
// user's primary gid (the uid when the user is unknown), supplementary groups
// from getgrouplist when the user exists. Grants play no part in squatting.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"
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

// The port ranges that reservations cover, merged.
std::vector<PortRange> reserved_ranges(const Policy& policy);

// From the user database (see the top of this file).
Credentials credentials_for_uid(uint32_t uid);

// Pure: the squatters among `sockets` (processes left empty).
std::vector<Squatter> find_squatters(const Policy& policy, const std::vector<SocketInfo>& sockets,
                                     const CredentialsLookup& creds, const HostFacts& host);

// Which processes hold which socket inodes, from PROC/PID/fd.
std::map<uint64_t, std::vector<uint32_t>> pids_for_inodes(const std::set<uint64_t>& inodes,
                                                          const std::string& proc = "/proc");
ProcessInfo read_process(uint32_t pid, const std::string& proc = "/proc");

// The whole pass: dump, decide, map to processes.
Result<ScanResult> scan(const Policy& policy);

}  // namespace portauth::watch
