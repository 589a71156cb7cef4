#include "engine/netns.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "common/fd.hpp"
#include "common/parse.hpp"
#include "common/path.hpp"
#include "engine/system.hpp"

namespace portauth {

namespace {

constexpr const char* kNetnsRunDir = "/run/netns";   // iproute2's NETNS_RUN_DIR

std::optional<uint64_t> inode_of(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;
    return static_cast<uint64_t>(st.st_ino);
}

bool fs_is(const std::string& path, long magic) {
    struct statfs fs {};
    return ::statfs(path.c_str(), &fs) == 0 && static_cast<long>(fs.f_type) == magic;
}

std::string instead_hint() {
    std::string where = "/run/netns/NAME";
    if (auto ino = current_netns_inode())
        if (auto name = netns_name(*ino)) where = std::string(kNetnsRunDir) + "/" + *name;
    return "run it as 'nsenter --net=" + where + " portauth ...' instead, which keeps the host's /sys";
}

bool g_may_join = false;

Status reach_once() {
    const bool have_cg = cgroup2_mounted();
    const bool have_bpf = fs_is("/sys/fs/bpf", BPF_FS_MAGIC);
    if (have_cg && have_bpf) return {};
    if (!g_may_join) return {};
    const std::string host = host_init_proc();
    const auto mine = inode_of("/proc/self/ns/mnt");
    const auto hosts = inode_of(host + "/ns/mnt");
    const std::string seen = std::string("this process sees ") +
                             (!have_cg && !have_bpf ? "neither the cgroup v2 hierarchy nor bpffs"
                              : !have_cg            ? "no cgroup v2 hierarchy"
                                                    : "no bpffs on /sys/fs/bpf") +
                             " under /sys (as 'ip netns exec' leaves it)";
    if (!hosts) {
        const int e = errno;
        // Nothing says this is not the host itself: leave it to the callers'
        // own errors (no cgroup v2; bpffs mounted where it belongs).
        if (have_cg) return {};
        return Error{e, seen + " and cannot reach the host's mount namespace (" + host + "/ns/mnt); " + instead_hint()};
    }
    if (mine && *mine == *hosts) return {};   // the host's own mount namespace: nothing to reach
    // The host's mounts cannot be bound here (the kernel binds only from this
    // mount namespace): join the host's instead. The network namespace stays.
    const std::string hint = instead_hint();   // while /run/netns is still this namespace's
    Fd ns(::open((host + "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) return Error{errno, seen + " and cannot open the host's mount namespace (" + host + "/ns/mnt); " + hint};
    // setns gives the namespace's own root; the host's init may see another
    // (a chroot: a container's or a test VM's init). Take init's, as
    // `nsenter --mount --root` does: opened here, entered after the join.
    const Fd root(::open((host + "/root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    char cwd[4096];
    const bool had_cwd = ::getcwd(cwd, sizeof cwd) != nullptr;
    if (::setns(ns.get(), CLONE_NEWNS) != 0)
        return Error{errno, seen + " and cannot join the host's mount namespace (" + host + "/ns/mnt); " + hint};
    if (root && (::fchdir(root.get()) != 0 || ::chroot(".") != 0))
        return Error{errno, seen + " and cannot enter the root of the host's init (" + host + "/root); " + hint};
    if (!had_cwd || ::chdir(cwd) != 0) (void)::chdir("/");
    if (!cgroup2_mounted() || !fs_is("/sys/fs/bpf", BPF_FS_MAGIC))
        return logic_error(seen + ", and the host's mount namespace lacks it too; mount bpffs on /sys/fs/bpf and cgroup2 there, or " +
                           hint);
    return {};
}

}  // namespace

std::string host_init_proc() {
    const char* env = ::secure_getenv("PORTAUTH_INIT_PID");
    if (env && *env)
        if (auto pid = parse_decimal(env, 0x7fffffff); pid && *pid > 0) return "/proc/" + std::to_string(*pid);
    return "/proc/1";
}

std::optional<uint64_t> current_netns_inode() { return inode_of("/proc/self/ns/net"); }

std::optional<uint64_t> host_netns_inode() { return inode_of(host_init_proc() + "/ns/net"); }

std::optional<std::string> netns_name(uint64_t inode) {
    const DirPtr dir(::opendir(kNetnsRunDir));
    if (!dir) return std::nullopt;
    while (const dirent* e = ::readdir(dir.get())) {
        const std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        if (inode_of(std::string(kNetnsRunDir) + "/" + name) == inode) return name;
    }
    return std::nullopt;
}

void allow_joining_host_mounts() { g_may_join = true; }

Status reach_host_mounts() {
    static std::optional<Status> result;
    if (!result) result = reach_once();
    return *result;
}

}  // namespace portauth
