// What /proc/self/status says of this process's privileges.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace portauth {

// The effective capability set (the CapEff line, hex), or nullopt when the
// file cannot be read or the line is missing or malformed.
std::optional<uint64_t> effective_capabilities(const std::string& status_path = "/proc/self/status");

// Whether capability number `cap` (linux/capability.h, e.g. 10 for
// CAP_NET_BIND_SERVICE) is effective; false when that cannot be read.
bool has_effective_capability(unsigned cap, const std::string& status_path = "/proc/self/status");

}  // namespace portauth
