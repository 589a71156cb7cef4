// The host's sockets through netlink sock_diag (NETLINK_SOCK_DIAG,
// SOCK_DIAG_BY_FAMILY with inet_diag_req_v2), and SOCK_DESTROY for one socket.
//
// What counts as holding a local port:
//   tcp: every state except TIME_WAIT, SYN_RECV and NEW_SYN_RECV (those are
//        connections in passing, not owners of a port), plus bound-but-not-
//        listening sockets (the kernel's TCP_BOUND_INACTIVE pseudo-state, 6.6+);
//   udp: every bound socket.
// Both families; the network namespace is the caller's.
//
// The kernel filters by source port (INET_DIAG_REQ_BYTECODE), so a host with
// 100 000 sockets costs little when a few ports are reserved. At most
// kMaxFilterRanges ranges go into the filter; more, and the dump is unfiltered
// (the caller filters again in any case).
#pragma once

#include <linux/inet_diag.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "policy/model.hpp"

namespace portauth::watch {

inline constexpr size_t kMaxFilterRanges = 1024;
// Refuse to believe a reply longer than this many sockets (a sanity bound).
inline constexpr size_t kMaxSockets = 4'000'000;

struct SocketInfo {
    Proto proto = Proto::tcp;
    int family = AF_INET;    // the socket's own family (AF_INET6 for v4-mapped too)
    Address addr;            // local address, normalised (v4-mapped is IPv4)
    uint16_t port = 0;       // local port, host order
    uint32_t uid = 0;
    uint64_t inode = 0;
    uint8_t state = 0;       // TCP state number (udp: 7 = unconnected, 1 = connected)
    // The kernel's identity of the socket, verbatim (ports and addresses in
    // network byte order), so that SOCK_DESTROY names exactly this socket.
    inet_diag_sockid id{};
};

struct PortRange {
    uint16_t low = 0, high = 0;
    friend bool operator==(const PortRange&, const PortRange&) = default;
};

// Sorts and merges overlapping or adjacent ranges.
std::vector<PortRange> merge_ranges(std::vector<PortRange> ranges);

// The inet_diag bytecode accepting a source port in any of `ranges` (merged,
// non-empty, at most kMaxFilterRanges).
std::vector<uint8_t> build_port_filter(const std::vector<PortRange>& ranges);

// One recv() worth of netlink messages in answer to a dump.
struct DiagBatch {
    std::vector<SocketInfo> sockets;
    bool done = false;   // NLMSG_DONE seen
};
// Pure and defensive: every length is checked against the buffer; a truncated
// or malformed message is an error, never a read past the end. `proto` is the
// protocol the dump was for (inet_diag_msg does not carry it).
Result<DiagBatch> parse_inet_diag_reply(std::span<const uint8_t> bytes, Proto proto);

// The sockets of `proto` holding a port in `ranges` (empty: every port) in
// this network namespace, IPv4 and IPv6.
Result<std::vector<SocketInfo>> dump_sockets(Proto proto, const std::vector<PortRange>& ranges);
Result<std::vector<SocketInfo>> dump_all(const std::vector<PortRange>& ranges);

// Closes one socket with SOCK_DESTROY. Needs CAP_NET_ADMIN and
// CONFIG_INET_DIAG_DESTROY (EOPNOTSUPP without it).
Status destroy_socket(const SocketInfo& s);

}  // namespace portauth::watch
