#include "engine/system.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <vector>

#include "common/atomic_file.hpp"
#include "common/fd.hpp"
#include "common/parse.hpp"
#include "common/small_file.hpp"
#include "common/text.hpp"
#include "engine/netns.hpp"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

namespace portauth {

namespace {

constexpr const char* kReservedPorts = "/proc/sys/net/ipv4/ip_local_reserved_ports";
constexpr const char* kDefaultRuntimeDir = "/run/portauth";

// mountinfo escapes spaces etc. as \040.
std::string unescape_mountinfo(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size()) {
            out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
            i += 3;
        } else {
            out += s[i];
        }
    }
    return out;
}

// What the /proc files read here hold fits easily (ip_local_reserved_ports
// at its longest, every other port reserved, is about 190 KiB).
constexpr size_t kMaxProcFileBytes = 1024 * 1024;
// A host with tens of thousands of mounts has a mountinfo of a few MiB.
constexpr size_t kMaxMountinfoBytes = 64 * 1024 * 1024;

}  // namespace

namespace {

// Each mount in /proc/self/mountinfo: its mount point (unescaped) and file
// system type. An unreadable file is no mounts (the callers say what is missing).
template <typename Visit>
void for_each_mount(Visit visit) {
    auto text = read_small_file("/proc/self/mountinfo", kMaxMountinfoBytes);
    if (!text) return;
    std::istringstream in(*text);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::vector<std::string> f;
        std::string tok;
        while (ls >> tok) f.push_back(tok);
        size_t dash = 0;
        while (dash < f.size() && f[dash] != "-") ++dash;
        if (dash + 1 >= f.size() || f.size() < 5) continue;
        visit(unescape_mountinfo(f[4]), f[dash + 1]);
    }
}

std::string scan_cgroup2_mounts() {
    std::string best;
    for_each_mount([&](const std::string& mnt, const std::string& type) {
        if (type == "cgroup2" && (best.empty() || mnt == "/sys/fs/cgroup")) best = mnt;
    });
    return best;
}

}  // namespace

bool cgroup2_mounted() { return !scan_cgroup2_mounts().empty(); }

Result<std::string> find_cgroup2_mount() {
    std::string best = scan_cgroup2_mounts();
    if (best.empty()) {
        // A fresh /sys (ip netns exec): the host's hierarchy, if it can be reached.
        if (Status s = reach_host_mounts(); !s) return s.error();
        best = scan_cgroup2_mounts();
    }
    if (best.empty())
        return logic_error("no cgroup v2 hierarchy is mounted (see /proc/self/mountinfo); portauth needs cgroup v2");
    return best;
}

namespace {

// The file system type of the mount `path` is on: the longest mount point in
// /proc/self/mountinfo that is a prefix of it. Empty when none is found.
std::string mount_fstype(const std::string& path) {
    std::string best_mnt, best_type;
    for_each_mount([&](const std::string& mnt, const std::string& type) {
        const bool under = mnt == "/" || path == mnt || path.rfind(mnt + "/", 0) == 0;
        if (!under || mnt.size() < best_mnt.size()) return;
        best_mnt = mnt;
        best_type = type;
    });
    return best_type;
}

}  // namespace

Status require_cgroup2_dir(const std::string& dir) {
    // First: under 'ip netns exec' this joins the host's mounts, where `dir` is.
    auto mount = find_cgroup2_mount();
    if (!mount) return mount.error();   // says what to run instead when the host is out of reach
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return sys_error("cannot reach cgroup '" + dir + "'");
    if (!S_ISDIR(st.st_mode)) return logic_error("'" + dir + "' is not a cgroup v2 directory (it is not a directory)");
    struct statfs fs {};
    if (::statfs(dir.c_str(), &fs) != 0) return sys_error("cannot reach cgroup '" + dir + "'");
    if (fs.f_type == CGROUP2_SUPER_MAGIC) return {};
    char resolved[PATH_MAX];
    const std::string type = mount_fstype(::realpath(dir.c_str(), resolved) ? resolved : dir);
    std::string on;
    if (type == "cgroup") on = "cgroup, a cgroup v1 hierarchy";
    else if (!type.empty()) on = type;
    else {
        std::ostringstream magic;
        magic << "a file system with magic 0x" << std::hex << static_cast<uint64_t>(fs.f_type);
        on = magic.str();
    }
    return logic_error("'" + dir + "' is not a cgroup v2 directory (it is on " + on + "); " +
                       "the cgroup v2 hierarchy is mounted at " + *mount);
}

Result<std::string> current_cgroup() {
    auto text = read_small_file("/proc/self/cgroup", kMaxProcFileBytes);
    if (!text) return text.error();
    std::istringstream in(*text);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("0::", 0) == 0) return line.substr(3);
    return logic_error("this process has no cgroup v2 membership in /proc/self/cgroup");
}

Result<uint64_t> cgroup_id(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return sys_error("cannot stat cgroup '" + path + "'");
    return static_cast<uint64_t>(st.st_ino);
}

bool is_on_bpffs(const std::string& path) {
    struct statfs fs {};
    return ::statfs(path.c_str(), &fs) == 0 && fs.f_type == BPF_FS_MAGIC;
}

Result<std::string> ensure_bpffs_dir(const std::string& dir) {
    if (is_on_bpffs(dir)) return std::string();
    const auto slash = dir.find_last_of('/');
    const std::string parent = slash == 0 ? "/" : dir.substr(0, slash);
    if (is_on_bpffs(parent)) {
        if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return sys_error("cannot create pin dir '" + dir + "'");
        return std::string();
    }
    // /sys/fs/bpf/portauth on a system that never mounted bpffs: mount it where it belongs.
    if (parent == "/sys/fs/bpf") {
        if (::mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") != 0)
            return sys_error("cannot mount bpffs on '/sys/fs/bpf'");
        if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return sys_error("cannot create pin dir '" + dir + "'");
        return parent;
    }
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return sys_error("cannot create pin dir '" + dir + "'");
    if (::mount("bpf", dir.c_str(), "bpf", 0, "mode=0700") != 0) return sys_error("cannot mount bpffs on '" + dir + "'");
    return dir;
}

Status unmount_bpffs_if_empty(const std::string& dir) {
    if (!is_on_bpffs(dir)) return {};
    // A mount point: on another device than its parent.
    struct stat here {}, up {};
    if (::stat(dir.c_str(), &here) != 0 || ::stat((dir + "/..").c_str(), &up) != 0 || here.st_dev == up.st_dev) return {};
    // Empty but for what the kernel's bpf_preload puts in every new bpffs.
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        const std::string name = entry.path().filename().string();
        if (name != "maps.debug" && name != "progs.debug") return {};
    }
    if (ec) return {};
    if (::umount2(dir.c_str(), UMOUNT_NOFOLLOW) != 0) return sys_error("cannot unmount the bpffs portauth mounted on '" + dir + "'");
    return {};
}

Result<uint64_t> current_netns_cookie() {
    Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!s) return sys_error("cannot create a socket to read the network namespace cookie");
    uint64_t cookie = 0;
    socklen_t len = sizeof cookie;
    if (::getsockopt(s.get(), SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) != 0)
        return sys_error("cannot read SO_NETNS_COOKIE (portauth needs Linux 5.14 or later)");
    return cookie;
}

Result<std::pair<uint16_t, uint16_t>> local_port_range() {
    auto text = read_small_file("/proc/sys/net/ipv4/ip_local_port_range", kMaxProcFileBytes);
    if (!text) return text.error();
    std::istringstream in(*text);
    unsigned lo = 0, hi = 0;
    if (!(in >> lo >> hi) || lo > 65535 || hi > 65535)
        return logic_error("cannot parse /proc/sys/net/ipv4/ip_local_port_range: '" + *text + "'");
    return std::pair<uint16_t, uint16_t>(static_cast<uint16_t>(lo), static_cast<uint16_t>(hi));
}

Result<std::set<uint16_t>> read_reserved_ports() {
    auto text = read_small_file(kReservedPorts, kMaxProcFileBytes);
    if (!text) return text.error();
    std::set<uint16_t> ports;
    std::string s = *text;
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    std::istringstream in(s);
    std::string item;
    while (std::getline(in, item, ',')) {
        if (item.empty()) continue;
        const auto dash = item.find('-');
        auto lo = parse_decimal(item.substr(0, dash), 65535);
        auto hi = dash == std::string::npos ? lo : parse_decimal(item.substr(dash + 1), 65535);
        if (!lo || !hi || *lo > *hi) return logic_error(std::string("cannot parse ") + kReservedPorts + ": '" + s + "'");
        for (uint64_t p = *lo; p <= *hi; ++p) ports.insert(static_cast<uint16_t>(p));
    }
    return ports;
}

std::string format_port_set(const std::set<uint16_t>& ports) {
    std::string out;
    for (auto it = ports.begin(); it != ports.end();) {
        uint32_t lo = *it, hi = *it;
        ++it;
        while (it != ports.end() && *it == hi + 1) hi = *it++;
        if (!out.empty()) out += ',';
        out += std::to_string(lo);
        if (hi != lo) out += "-" + std::to_string(hi);
    }
    return out;
}

Status write_reserved_ports(const std::set<uint16_t>& ports) {
    Fd fd(::open(kReservedPorts, O_WRONLY | O_CLOEXEC));
    if (!fd) return sys_error(std::string("cannot open '") + kReservedPorts + "'");
    std::string text = format_port_set(ports);
    if (text.empty()) text = "\n";
    if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
        return sys_error(std::string("cannot write '") + kReservedPorts + "'");
    return {};
}

uint32_t unprivileged_port_start() {
    auto text = read_small_file("/proc/sys/net/ipv4/ip_unprivileged_port_start", 64);
    if (!text) return 1024;
    const auto v = parse_decimal(trim_blanks(std::string_view(*text).substr(0, text->find('\n'))), 65536);
    return v ? static_cast<uint32_t>(*v) : 1024;
}

std::string runtime_dir() {
    const char* env = ::secure_getenv("PORTAUTH_RUNTIME_DIR");
    return env && *env ? env : kDefaultRuntimeDir;
}

std::string pin_dir_file_name(const std::string& pin_dir) {
    std::string name;
    for (char c : pin_dir) name += c == '/' ? '-' : c;
    while (!name.empty() && name.front() == '-') name.erase(0, 1);
    return name;
}

std::string state_file_for(const std::string& pin_dir) { return runtime_dir() + "/" + pin_dir_file_name(pin_dir) + ".state"; }

Status write_state(const EnforcementState& st) {
    const std::string dir = runtime_dir();
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return sys_error("cannot create '" + dir + "'");
    const std::string path = state_file_for(st.pin_dir);
    const std::string text = "pin_dir=" + st.pin_dir + "\ncgroup=" + st.cgroup + "\npolicy_dir=" + st.policy_dir +
                             "\nnetns_cookie=" + std::to_string(st.netns_cookie) +
                             "\ngeneration=" + std::to_string(st.generation) + "\ntree_hash=" + st.tree_hash +
                             "\nfallback=" + (st.fallback ? "1" : "0") + "\nmounted_bpffs=" + st.mounted_bpffs + "\n";
    return write_file_atomically(path, text, 0644);
}

Result<EnforcementState> read_state(const std::string& pin_dir) {
    const std::string path = state_file_for(pin_dir);
    auto text = read_small_file(path, kMaxProcFileBytes);
    if (!text) return text.error();
    std::istringstream in(*text);
    EnforcementState st;
    std::string line;
    while (std::getline(in, line)) {
        const auto eq = line.find('=');
        if (eq == std::string::npos) continue;
        const std::string key = line.substr(0, eq), value = line.substr(eq + 1);
        if (key == "pin_dir") st.pin_dir = value;
        else if (key == "cgroup") st.cgroup = value;
        else if (key == "policy_dir") st.policy_dir = value;
        else if (key == "netns_cookie") st.netns_cookie = parse_decimal(value, UINT64_MAX).value_or(0);
        else if (key == "generation") st.generation = static_cast<uint32_t>(parse_decimal(value, UINT32_MAX).value_or(0));
        else if (key == "tree_hash") st.tree_hash = value;
        else if (key == "fallback") st.fallback = value == "1";
        else if (key == "mounted_bpffs") st.mounted_bpffs = value;
    }
    if (st.pin_dir != pin_dir || st.cgroup.empty()) return logic_error("'" + path + "' is not a portauth state file for " + pin_dir);
    return st;
}

void remove_state(const std::string& pin_dir) {
    ::unlink(state_file_for(pin_dir).c_str());
    ::rmdir(runtime_dir().c_str());   // only when no other pin dir has state there
}

}  // namespace portauth
