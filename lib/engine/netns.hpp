// The namespaces portauth runs in. `ip netns exec NAME` (the admin's usual
// way into a named network namespace) also gives the command a mount
// namespace of its own with a fresh /sys: no cgroup2 hierarchy, no bpffs.
// The host's are still there, in the mount namespace of the host's init
// process (/proc/1/ns/mnt); reach_host_mounts() joins it, keeping the network
// namespace, so pins and cgroups are the host's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/result.hpp"

namespace portauth {

// "/proc/1", or /proc/$PORTAUTH_INIT_PID: the process whose namespaces are
// the host's (tests name one of their own, in a scratch mount namespace).
std::string host_init_proc();

// The inode of this process's network namespace (/proc/self/ns/net), the
// number `ip netns identify` and `lsns` go by; nullopt when it cannot be read.
std::optional<uint64_t> current_netns_inode();
// The host's (host_init_proc()'s); nullopt when it cannot be read.
std::optional<uint64_t> host_netns_inode();
// The `ip netns` name (/run/netns/NAME) of the namespace with this inode.
std::optional<std::string> netns_name(uint64_t inode);

// When /sys of this mount namespace lacks cgroup2 or bpffs, this is not the
// host's mount namespace, and allow_joining_host_mounts() was called: joins
// the host's mount namespace (setns; the network namespace stays, the
// working directory is kept by path). Idempotent. An error names what is
// missing and what to run instead. Without the allowance, nothing (the
// adverb: its PROGRAM keeps the mount namespace it was given).
Status reach_host_mounts();
void allow_joining_host_mounts();

}  // namespace portauth
