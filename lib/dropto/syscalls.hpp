// The kernel interface dropto uses, behind an abstract class so the order of calls,
// the error paths and the verification can be tested without privileges.
// Failures come back as Status/Result carrying the errno and the call's name;
// run() adds the user or group the call was made for.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace portauth::dropto {

struct IdTriple {
    uint32_t real = 0;
    uint32_t effective = 0;
    uint32_t saved = 0;
    bool operator==(const IdTriple&) const = default;
};

// One bit per capability number, as in /proc/self/status.
struct CapabilitySets {
    uint64_t permitted = 0;
    uint64_t effective = 0;
    uint64_t inheritable = 0;
    uint64_t ambient = 0;
    uint64_t bounding = 0;
};

// For setfsuid/setfsgid: an invalid id changes nothing and returns the current one.
inline constexpr uint32_t kQueryId = static_cast<uint32_t>(-1);

class Syscalls {
public:
    virtual ~Syscalls() = default;

    // Credentials.
    virtual IdTriple getresuid() = 0;
    virtual IdTriple getresgid() = 0;
    virtual bool secure_execution() = 0;  // getauxval(AT_SECURE)
    virtual Result<std::vector<uint32_t>> getgroups() = 0;
    virtual Status setgroups(const std::vector<uint32_t>& groups) = 0;
    virtual Status setresgid(uint32_t real, uint32_t effective, uint32_t saved) = 0;
    virtual Status setresuid(uint32_t real, uint32_t effective, uint32_t saved) = 0;
    virtual uint32_t setfsgid(uint32_t gid) = 0;  // returns the previous fsgid
    virtual uint32_t setfsuid(uint32_t uid) = 0;  // returns the previous fsuid

    // Capabilities and other privilege state.
    virtual Result<CapabilitySets> capabilities() = 0;
    virtual Status clear_ambient_capabilities() = 0;  // PR_CAP_AMBIENT_CLEAR_ALL
    virtual Status clear_capabilities() = 0;          // capset: permitted, effective, inheritable
    virtual Status clear_bounding_set() = 0;          // PR_CAPBSET_DROP for each capability held
    virtual Status set_no_new_privs() = 0;
    virtual Result<bool> no_new_privs() = 0;

    // Session and terminal.
    virtual Status setsid() = 0;
    virtual Result<bool> has_controlling_terminal() = 0;
    virtual bool isatty(int fd) = 0;

    // Files, descriptors, environment, exec.
    virtual Result<std::string> read_file(const std::string& path) = 0;  // small /proc files
    virtual Result<std::vector<int>> open_fds() = 0;                      // from /proc/self/fd
    virtual Status set_cloexec(int fd) = 0;
    virtual Status setenv(const std::string& name, const std::string& value) = 0;
    // execvp(3). Returns only on failure, with the errno.
    virtual int execvp(const std::vector<std::string>& argv) = 0;
};

// The real thing.
class SystemSyscalls final : public Syscalls {
public:
    IdTriple getresuid() override;
    IdTriple getresgid() override;
    bool secure_execution() override;
    Result<std::vector<uint32_t>> getgroups() override;
    Status setgroups(const std::vector<uint32_t>& groups) override;
    Status setresgid(uint32_t real, uint32_t effective, uint32_t saved) override;
    Status setresuid(uint32_t real, uint32_t effective, uint32_t saved) override;
    uint32_t setfsgid(uint32_t gid) override;
    uint32_t setfsuid(uint32_t uid) override;
    Result<CapabilitySets> capabilities() override;
    Status clear_ambient_capabilities() override;
    Status clear_capabilities() override;
    Status clear_bounding_set() override;
    Status set_no_new_privs() override;
    Result<bool> no_new_privs() override;
    Status setsid() override;
    Result<bool> has_controlling_terminal() override;
    bool isatty(int fd) override;
    Result<std::string> read_file(const std::string& path) override;
    Result<std::vector<int>> open_fds() override;
    Status set_cloexec(int fd) override;
    Status setenv(const std::string& name, const std::string& value) override;
    int execvp(const std::vector<std::string>& argv) override;
};

}  // namespace portauth::dropto
