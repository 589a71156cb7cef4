// The bits of the running system the engine needs: where cgroup v2 is
// mounted, bpffs, the network namespace, and the port sysctls.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <utility>

#include "common/result.hpp"

namespace portauth {

// The cgroup v2 mount point from /proc/self/mountinfo (unified or hybrid
// layouts: /sys/fs/cgroup or /sys/fs/cgroup/unified).
Result<std::string> find_cgroup2_mount();
// Whether this mount namespace has a cgroup v2 hierarchy mounted (no attempt to reach the host's).
bool cgroup2_mounted();

// `dir` is a directory on a cgroup v2 file system (statfs: CGROUP2_SUPER_MAGIC).
// Else an error that says what it is on and where the v2 hierarchy is:
// "'/sys/fs/cgroup/pids' is not a cgroup v2 directory (it is on cgroup, a
// cgroup v1 hierarchy); the cgroup v2 hierarchy is mounted at /sys/fs/cgroup/unified".
// Checked before anything is loaded: libbpf's own attach error says less.
Status require_cgroup2_dir(const std::string& dir);

// This process's cgroup v2 path relative to the mount ("/" for the root).
Result<std::string> current_cgroup();

// The cgroup v2 id of a cgroup directory (its inode number).
Result<uint64_t> cgroup_id(const std::string& path);

// Makes `dir` usable for pins: on bpffs already, or created under a bpffs
// mount, or bpffs mounted on it (on /sys/fs/bpf for a pin dir under a
// /sys/fs/bpf that has none). Returns where it mounted bpffs, "" when it
// mounted none: apply records it, and unload takes that mount down again
// once it holds nothing (unmount_bpffs_if_empty).
Result<std::string> ensure_bpffs_dir(const std::string& dir);
// Unmounts the bpffs on `dir` when `dir` is a bpffs mount point that holds
// nothing (no pins, no directories; the kernel's own maps.debug and
// progs.debug do not count): the mount apply made, once unload has
// removed its pins. Leaves alone a bpffs that holds anything, and anything
// that is not a bpffs mount point.
Status unmount_bpffs_if_empty(const std::string& dir);
bool is_on_bpffs(const std::string& path);

// SO_NETNS_COOKIE of this process's network namespace.
Result<uint64_t> current_netns_cookie();

// net.ipv4.ip_local_port_range and ip_local_reserved_ports of this process's
// network namespace; ip_unprivileged_port_start.
Result<std::pair<uint16_t, uint16_t>> local_port_range();
Result<std::set<uint16_t>> read_reserved_ports();
Status write_reserved_ports(const std::set<uint16_t>& ports);
std::string format_port_set(const std::set<uint16_t>& ports);   // "80,5060-5062"
uint32_t unprivileged_port_start();

// What an unprivileged process can know about enforcement without bpf(2):
// a world-readable file in /run/portauth that apply writes and unload removes,
// one per pin dir ("/run/portauth/sys-fs-bpf-portauth.state" for the default).
// The dir is $PORTAUTH_RUNTIME_DIR when set (tests and scratch runs keep their
// state there), else /run/portauth.
struct EnforcementState {
    std::string pin_dir;
    std::string cgroup;
    std::string policy_dir;
    uint64_t netns_cookie = 0;
    uint32_t generation = 0;
    std::string tree_hash;    // of the policy loaded (policy/snapshot.hpp)
    bool fallback = false;    // the last good policy stands in for a refused tree
    std::string mounted_bpffs;   // where apply mounted bpffs for the pins ("" when it found one)
};
std::string runtime_dir();
// A pin dir as one file name: "/sys/fs/bpf/portauth" -> "sys-fs-bpf-portauth".
std::string pin_dir_file_name(const std::string& pin_dir);
std::string state_file_for(const std::string& pin_dir);
Status write_state(const EnforcementState& state);
Result<EnforcementState> read_state(const std::string& pin_dir);   // error with ENOENT when none
void remove_state(const std::string& pin_dir);

}  // namespace portauth
