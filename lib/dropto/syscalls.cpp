#include "dropto/syscalls.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/auxv.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "common/fd.hpp"
#include "common/parse.hpp"
#include "common/path.hpp"
#include "common/small_file.hpp"

namespace portauth::dropto {

namespace {

constexpr int kMaxCapability = 63;  // capability sets are 64 bits wide

// errno is read first: building the message may allocate, and allocation may touch errno.
Error errno_error(std::string_view what) {
    const int e = errno;
    return Error{e, std::string(what)};
}

Status status_from(int rc, std::string_view call) {
    if (rc == 0) return {};
    return errno_error(call);
}

}  // namespace

IdTriple SystemSyscalls::getresuid() {
    uid_t r = 0, e = 0, s = 0;
    ::getresuid(&r, &e, &s);  // cannot fail with valid pointers
    return {r, e, s};
}

IdTriple SystemSyscalls::getresgid() {
    gid_t r = 0, e = 0, s = 0;
    ::getresgid(&r, &e, &s);
    return {r, e, s};
}

bool SystemSyscalls::secure_execution() { return ::getauxval(AT_SECURE) != 0; }

Result<std::vector<uint32_t>> SystemSyscalls::getgroups() {
    const int n = ::getgroups(0, nullptr);
    if (n < 0) return errno_error("getgroups");
    std::vector<gid_t> groups(static_cast<size_t>(n));
    const int got = ::getgroups(n, groups.data());
    if (got < 0) return errno_error("getgroups");
    groups.resize(static_cast<size_t>(got));
    return std::vector<uint32_t>(groups.begin(), groups.end());
}

Status SystemSyscalls::setgroups(const std::vector<uint32_t>& groups) {
    const std::vector<gid_t> list(groups.begin(), groups.end());
    return status_from(::setgroups(list.size(), list.data()), "setgroups");
}

Status SystemSyscalls::setresgid(uint32_t real, uint32_t effective, uint32_t saved) {
    return status_from(::setresgid(real, effective, saved), "setresgid");
}

Status SystemSyscalls::setresuid(uint32_t real, uint32_t effective, uint32_t saved) {
    return status_from(::setresuid(real, effective, saved), "setresuid");
}

uint32_t SystemSyscalls::setfsgid(uint32_t gid) { return static_cast<uint32_t>(::setfsgid(gid)); }

uint32_t SystemSyscalls::setfsuid(uint32_t uid) { return static_cast<uint32_t>(::setfsuid(uid)); }

Result<CapabilitySets> SystemSyscalls::capabilities() {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
    if (::syscall(SYS_capget, &header, data) != 0) return errno_error("capget");
    CapabilitySets sets;
    sets.permitted = data[0].permitted | (uint64_t{data[1].permitted} << 32);
    sets.effective = data[0].effective | (uint64_t{data[1].effective} << 32);
    sets.inheritable = data[0].inheritable | (uint64_t{data[1].inheritable} << 32);
    // Past the last capability the kernel knows, both prctls fail with EINVAL.
    for (int cap = 0; cap <= kMaxCapability; ++cap) {
        const int rc = ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0);
        if (rc < 0 && errno == EINVAL) break;
        if (rc < 0) return errno_error("prctl(PR_CAP_AMBIENT_IS_SET)");
        if (rc == 1) sets.ambient |= uint64_t{1} << cap;
    }
    for (int cap = 0; cap <= kMaxCapability; ++cap) {
        const int rc = ::prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (rc < 0 && errno == EINVAL) break;
        if (rc < 0) return errno_error("prctl(PR_CAPBSET_READ)");
        if (rc == 1) sets.bounding |= uint64_t{1} << cap;
    }
    return sets;
}

Status SystemSyscalls::clear_ambient_capabilities() {
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == 0) return {};
    if (errno == EINVAL) return {};  // a kernel without ambient capabilities (< 4.3)
    return errno_error("prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
}

Status SystemSyscalls::clear_capabilities() {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
    return status_from(static_cast<int>(::syscall(SYS_capset, &header, data)), "capset");
}

Status SystemSyscalls::clear_bounding_set() {
    for (int cap = 0; cap <= kMaxCapability; ++cap) {
        const int rc = ::prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (rc < 0 && errno == EINVAL) break;
        if (rc < 0) return errno_error("prctl(PR_CAPBSET_READ)");
        if (rc == 1 && ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
            const int e = errno;
            return Error{e, "prctl(PR_CAPBSET_DROP, " + std::to_string(cap) + ")"};
        }
    }
    return {};
}

Status SystemSyscalls::set_no_new_privs() {
    return status_from(::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)");
}

Result<bool> SystemSyscalls::no_new_privs() {
    const int rc = ::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
    if (rc < 0) return errno_error("prctl(PR_GET_NO_NEW_PRIVS)");
    return rc == 1;
}

Status SystemSyscalls::setsid() { return status_from(::setsid() < 0 ? -1 : 0, "setsid"); }

Result<bool> SystemSyscalls::has_controlling_terminal() {
    // /dev/tty is the controlling terminal; without one, opening it fails with ENXIO.
    // O_NOCTTY so that this can never acquire one.
    Fd tty(::open("/dev/tty", O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
    if (tty) return true;
    if (errno == ENXIO) return false;
    return errno_error("cannot open '/dev/tty'");
}

bool SystemSyscalls::isatty(int fd) { return ::isatty(fd) == 1; }

Result<std::string> SystemSyscalls::read_file(const std::string& path) { return read_small_file(path, 64u << 10); }

Result<std::vector<int>> SystemSyscalls::open_fds() {
    // opendir(3) opens its descriptor O_CLOEXEC; it is left out of the answer.
    const DirPtr dir(::opendir("/proc/self/fd"));
    if (!dir) return errno_error("cannot open '/proc/self/fd'");
    const int own = ::dirfd(dir.get());
    std::vector<int> fds;
    errno = 0;
    while (const dirent* entry = ::readdir(dir.get())) {
        if (auto fd = parse_decimal(entry->d_name, 0x7fffffff); fd && static_cast<int>(*fd) != own)
            fds.push_back(static_cast<int>(*fd));
        errno = 0;
    }
    if (errno != 0) return errno_error("cannot read '/proc/self/fd'");
    return fds;
}

Status SystemSyscalls::set_cloexec(int fd) {
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0) {
        const int e = errno;
        return Error{e, "fcntl(" + std::to_string(fd) + ", F_GETFD)"};
    }
    if (flags & FD_CLOEXEC) return {};
    return status_from(::fcntl(fd, F_SETFD, flags | FD_CLOEXEC), "fcntl(F_SETFD, FD_CLOEXEC)");
}

Status SystemSyscalls::setenv(const std::string& name, const std::string& value) {
    if (::setenv(name.c_str(), value.c_str(), 1) == 0) return {};
    const int e = errno;
    return Error{e, "setenv " + name};
}

int SystemSyscalls::execvp(const std::vector<std::string>& argv) {
    if (argv.empty()) return ENOENT;
    std::vector<char*> raw;
    raw.reserve(argv.size() + 1);
    for (const auto& arg : argv) raw.push_back(const_cast<char*>(arg.c_str()));
    raw.push_back(nullptr);
    ::execvp(raw[0], raw.data());
    return errno;
}

}  // namespace portauth::dropto
