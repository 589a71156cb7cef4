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
//
// Socket storage: a dump may name SK_STORAGE maps
// (INET_DIAG_REQ_SK_BPF_STORAGES, one SK_DIAG_BPF_STORAGE_REQ_MAP_FD each);
// the kernel then appends to each socket that has a value in one of them an
// INET_DIAG_SK_BPF_STORAGES nest of SK_DIAG_BPF_STORAGE nests, each holding
// SK_DIAG_BPF_STORAGE_MAP_ID (u32) and SK_DIAG_BPF_STORAGE_MAP_VALUE (the
// value's bytes). The value of portauth's "binders" map (struct pa_binder)
// becomes SocketInfo::binder. Asking needs CAP_BPF (or CAP_SYS_ADMIN).
// The kernel returns storage only for sockets with an inet_connection_sock
// (TCP): inet_sk_diag_fill() (net/ipv4/inet_diag.c, 5.15 to 6.18) jumps past
// the storage for UDP sockets. The scanner reads a UDP socket's binder
// through a holder's fd instead (pidfd_getfd + a map lookup).
#pragma once

#include <linux/inet_diag.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "policy/model.hpp"

namespace portauth::watch {

inline constexpr size_t kMaxFilterRanges = 1024;
// Refuse to believe a reply longer than this many sockets (a sanity bound).
inline constexpr size_t kMaxSockets = 4'000'000;

// Who called bind(2) on the socket, as the kernel recorded it (struct pa_binder).
struct Binder {
    uint32_t uid = 0, gid = 0;      // effective uid and gid at bind(2)
    std::vector<uint32_t> groups;   // supplementary groups (the lowest PA_MAX_GROUPS)
    uint32_t pid = 0;               // thread group id of the caller
    uint64_t time_ns = 0;           // CLOCK_BOOTTIME of the bind
    uint32_t generation = 0;        // the policy generation whose program recorded it
    friend bool operator==(const Binder&, const Binder&) = default;
};

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
    std::optional<Binder> binder;   // when the dump asked for the binders map and the kernel recorded one
    // IPV6_V6ONLY, from INET_DIAG_SKV6ONLY: the kernel reports it for IPv6
    // sockets in LISTEN or CLOSE (bound TCP, unconnected UDP); nullopt otherwise.
    std::optional<bool> v6only;
};

// The socket storage a dump asks for: SK_STORAGE map fds, and the id of the
// map whose values are struct pa_binder (0: none).
struct StorageRequest {
    std::vector<int> map_fds;
    uint32_t binder_map_id = 0;
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
// protocol the dump was for (inet_diag_msg does not carry it). Storage values
// of map `binder_map_id` (0: none) of exactly sizeof(pa_binder) bytes and
// with a possible group count become the socket's binder; other values are
// skipped; a storage attribute that overruns its message is an error.
Result<DiagBatch> parse_inet_diag_reply(std::span<const uint8_t> bytes, Proto proto, uint32_t binder_map_id = 0);

// The bytes of one INET_DIAG_SK_BPF_STORAGES attribute holding `b` as the
// value of map `map_id` (what the kernel appends; for tests and the fuzzer).
std::vector<uint8_t> encode_binder_storage(const Binder& b, uint32_t map_id);

// A struct pa_binder value; nullopt for another size or an impossible group count.
std::optional<Binder> decode_binder(std::span<const uint8_t> value);

// The sockets of `proto` holding a port in `ranges` (empty: every port) in
// this network namespace, IPv4 and IPv6, with the storage `storage` asks for.
Result<std::vector<SocketInfo>> dump_sockets(Proto proto, const std::vector<PortRange>& ranges,
                                             const StorageRequest& storage = {});
Result<std::vector<SocketInfo>> dump_all(const std::vector<PortRange>& ranges, const StorageRequest& storage = {});

// Closes one socket with SOCK_DESTROY. Needs CAP_NET_ADMIN and
// CONFIG_INET_DIAG_DESTROY (EOPNOTSUPP without it).
Status destroy_socket(const SocketInfo& s);

}  // namespace portauth::watch
