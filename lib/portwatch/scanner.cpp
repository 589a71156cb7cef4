#include "portwatch/scanner.hpp"

#include <bpf/bpf.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <sstream>

#include "common/fd.hpp"
#include "common/parse.hpp"
#include "common/path.hpp"
#include "common/small_file.hpp"
#include "engine/engine.hpp"
#include "engine/portauth-api.h"
#include "engine/system.hpp"
#include "policy/spec.hpp"

namespace portauth::watch {

std::vector<PortRange> reserved_ranges(const Policy& policy) {
    std::vector<PortRange> out;
    for (const auto& r : policy.reservations) out.push_back({r.port_min, r.port_max});
    return merge_ranges(std::move(out));
}

Credentials credentials_for_uid(uint32_t uid, UserDatabase& db) {
    // A failed lookup is judged as a uid without a passwd entry (the gid of
    // the same number, no groups).
    auto c = judged_credentials(uid, db);
    return c ? *c : Credentials{uid, uid, {}};
}

Credentials credentials_for_uid(uint32_t uid) { return credentials_for_uid(uid, system_user_database()); }

namespace {

// The bind the socket made. Where sock_diag does not report IPV6_V6ONLY (a
// connected socket), an IPv6 wildcard is taken as dual-stack, as the kernel
// engine does where it cannot read the flag.
BindRequest bind_of(const SocketInfo& s) { return {s.proto, s.addr, s.port, s.v6only.value_or(false)}; }

}  // namespace

bool on_reserved_port(const Policy& policy, const SocketInfo& s) {
    const BindRequest req = bind_of(s);
    return std::any_of(policy.reservations.begin(), policy.reservations.end(), [&](const Reservation& r) { return collides(r, req); });
}

std::vector<Squatter> find_squatters(const Policy& policy, const std::vector<SocketInfo>& sockets,
                                     const CredentialsLookup& creds, const HostFacts& host_in,
                                     const HoldersLookup& holders) {
    std::vector<Squatter> out;
    std::map<uint32_t, Credentials> cache;
    auto judge = [&](const BindRequest& req, const Credentials& c) {
        HostFacts host = host_in;
        host.cap_net_bind_service = c.euid == 0;
        return decide(policy, req, c, host);
    };
    for (const auto& s : sockets) {
        if (!on_reserved_port(policy, s)) continue;
        const BindRequest req = bind_of(s);
        Squatter q;
        std::optional<Decision> refused;
        if (s.binder) {
            const Credentials c{s.binder->uid, s.binder->gid, s.binder->groups};
            Decision d = judge(req, c);
            if (!d.refused_by_policy) continue;
            q.uid = c.euid;
            q.identity = "binder";
            refused = std::move(d);
        } else if (auto held = holders ? holders(s.inode) : std::vector<Credentials>{}; !held.empty()) {
            bool allowed = false;
            for (const auto& c : held) {
                Decision d = judge(req, c);
                if (!d.refused_by_policy) {
                    allowed = true;
                    break;
                }
                if (!refused) refused = std::move(d);
            }
            if (allowed) continue;
            q.uid = held.front().euid;
            q.identity = "holder";
        } else {
            auto it = cache.find(s.uid);
            if (it == cache.end()) it = cache.emplace(s.uid, creds(s.uid)).first;
            Decision d = judge(req, it->second);
            if (!d.refused_by_policy) continue;
            q.uid = s.uid;
            q.identity = "socket";
            refused = std::move(d);
        }
        q.socket = s;
        q.user = user_principal(q.uid).name;
        q.entry = refused->rule ? refused->rule->str() : "";
        q.reason = refused->reason;
        out.push_back(std::move(q));
    }
    return out;
}

std::vector<Squatter> find_squatters(const Policy& policy, const std::vector<SocketInfo>& sockets,
                                     const CredentialsLookup& creds, const HostFacts& host) {
    return find_squatters(policy, sockets, creds, host, HoldersLookup{});
}

namespace {

// The first `limit` bytes of a /proc file; "" when it cannot be read (the process is gone, or not ours).
std::string read_small(const std::string& path, size_t limit) {
    auto text = read_small_file(path, limit);
    return text ? std::move(*text) : std::string();
}

}  // namespace

std::map<uint64_t, std::vector<uint32_t>> pids_for_inodes(const std::set<uint64_t>& inodes, const std::string& proc) {
    std::map<uint64_t, std::vector<uint32_t>> out;
    if (inodes.empty()) return out;
    const DirPtr dir(opendir(proc.c_str()));
    if (!dir) return out;
    while (dirent* e = readdir(dir.get())) {
        auto pid = parse_id(e->d_name);
        if (!pid) continue;
        const std::string fd_dir = proc + "/" + e->d_name + "/fd";
        const DirPtr fds(opendir(fd_dir.c_str()));
        if (!fds) continue;   // gone, or not ours to read
        size_t found_here = 0;   // once every inode is found in this process, its other fds cannot matter
        while (found_here < inodes.size()) {
            dirent* f = readdir(fds.get());
            if (!f) break;
            if (f->d_name[0] == '.') continue;
            char link[64];
            ssize_t n = readlinkat(dirfd(fds.get()), f->d_name, link, sizeof link - 1);
            if (n <= 9 || std::memcmp(link, "socket:[", 8) != 0 || link[n - 1] != ']') continue;
            auto inode = parse_decimal(std::string_view(link + 8, static_cast<size_t>(n) - 9), UINT64_MAX);
            if (!inode || !inodes.count(*inode)) continue;
            auto& pids = out[*inode];
            if (pids.empty() || pids.back() != *pid) {
                pids.push_back(*pid);
                ++found_here;
            }
        }
    }
    return out;
}

// "Uid:\t0\t1000\t0\t0" -> the second number (effective).
std::optional<uint32_t> effective_id(std::string_view rest) {
    size_t field = 0, i = 0;
    while (i < rest.size()) {
        while (i < rest.size() && (rest[i] == '\t' || rest[i] == ' ')) ++i;
        size_t j = i;
        while (j < rest.size() && rest[j] != '\t' && rest[j] != ' ') ++j;
        if (j > i && field++ == 1) return parse_id(rest.substr(i, j - i));
        i = j;
    }
    return std::nullopt;
}

std::optional<Credentials> read_process_credentials(uint32_t pid, const std::string& proc) {
    // 65536 groups fit; a status cut short would end in a partial gid: refused.
    constexpr size_t kMaxStatusBytes = 1024 * 1024;
    const std::string status = read_small(proc + "/" + std::to_string(pid) + "/status", kMaxStatusBytes);
    if (status.empty() || status.size() == kMaxStatusBytes) return std::nullopt;
    std::optional<uint32_t> euid, egid;
    std::vector<uint32_t> groups;
    bool groups_ok = false;
    std::string_view rest(status);
    while (!rest.empty()) {
        const size_t nl = rest.find('\n');
        const std::string_view line = rest.substr(0, nl);
        rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
        if (line.starts_with("Uid:")) euid = effective_id(line.substr(4));
        else if (line.starts_with("Gid:")) egid = effective_id(line.substr(4));
        else if (line.starts_with("Groups:")) {
            groups_ok = true;
            std::string_view g = line.substr(7);
            while (!g.empty()) {
                const size_t sp = g.find_first_of(" \t");
                const std::string_view word = g.substr(0, sp);
                g = sp == std::string_view::npos ? std::string_view{} : g.substr(sp + 1);
                if (word.empty()) continue;
                auto id = parse_id(word);
                if (!id) {
                    groups_ok = false;
                    break;
                }
                groups.push_back(*id);
            }
        }
    }
    if (!euid || !egid || !groups_ok) return std::nullopt;
    return Credentials{*euid, *egid, std::move(groups)};
}

ProcessInfo read_process(uint32_t pid, const std::string& proc) {
    ProcessInfo p;
    p.pid = pid;
    const std::string base = proc + "/" + std::to_string(pid);
    p.comm = read_small(base + "/comm", 64);
    while (!p.comm.empty() && p.comm.back() == '\n') p.comm.pop_back();
    char exe[4096];
    ssize_t n = readlink((base + "/exe").c_str(), exe, sizeof exe);
    if (n > 0) p.exe.assign(exe, static_cast<size_t>(n));
    p.cmdline = read_small(base + "/cmdline", kMaxCmdlineBytes);
    while (!p.cmdline.empty() && p.cmdline.back() == '\0') p.cmdline.pop_back();
    for (char& c : p.cmdline)
        if (c == '\0') c = ' ';
    return p;
}

namespace {

// The pinned binders map of enforcement, and its id; none without enforcement.
struct BinderMap {
    Fd fd;
    uint32_t id = 0;
};

BinderMap open_binders(const std::string& pin_dir) {
    BinderMap m;
    m.fd = Fd(bpf_obj_get(pin_path(pin_dir, "binders").c_str()));
    if (!m.fd) return m;
    bpf_map_info info{};
    __u32 len = sizeof info;
    if (bpf_obj_get_info_by_fd(m.fd.get(), &info, &len) != 0 || info.type != BPF_MAP_TYPE_SK_STORAGE ||
        info.value_size != sizeof(pa_binder)) {
        m.fd.reset();
        return m;
    }
    m.id = info.id;
    return m;
}

// The binder of socket `inode` held by `pid`, looked up in the binders map
// with a copy of the holder's fd (pidfd_getfd, 5.6+). For UDP sockets, whose
// storage sock_diag does not return. The copy is checked to be that socket
// (the pid may have been reused since /proc was read).
std::optional<Binder> binder_through_holder(int map_fd, uint32_t pid, uint64_t inode, const std::string& proc) {
    const std::string fd_dir = proc + "/" + std::to_string(pid) + "/fd";
    const DirPtr fds(opendir(fd_dir.c_str()));
    if (!fds) return std::nullopt;
    const std::string want = "socket:[" + std::to_string(inode) + "]";
    while (dirent* f = readdir(fds.get())) {
        auto fd_number = parse_id(f->d_name);
        if (!fd_number) continue;
        char link[64];
        const ssize_t n = readlinkat(dirfd(fds.get()), f->d_name, link, sizeof link - 1);
        if (n <= 0 || std::string_view(link, static_cast<size_t>(n)) != want) continue;
        Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
        if (!pidfd) return std::nullopt;
        Fd copy(static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd.get(), *fd_number, 0)));   // close-on-exec
        struct stat st {};
        if (!copy || ::fstat(copy.get(), &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_ino != inode) return std::nullopt;
        pa_binder raw{};
        int key = copy.get();
        if (bpf_map_lookup_elem(map_fd, &key, &raw) != 0) return std::nullopt;   // ENOENT: no binder recorded
        return decode_binder(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&raw), sizeof raw));
    }
    return std::nullopt;
}

}  // namespace

Result<ScanResult> scan(const Policy& policy, const ScanSettings& settings) {
    ScanResult result;
    const auto start = std::chrono::steady_clock::now();
    const auto ranges = reserved_ranges(policy);
    if (ranges.empty()) {
        result.skipped = true;
        return result;
    }
    const BinderMap binders = open_binders(settings.pin_dir.empty() ? default_pin_dir() : settings.pin_dir);
    StorageRequest storage;
    if (binders.fd) storage = StorageRequest{{binders.fd.get()}, binders.id};
    auto sockets = dump_all(ranges, storage);
    // Without CAP_BPF the kernel refuses the storage request: judge without binders.
    if (!sockets && binders.fd) sockets = dump_all(ranges);
    if (!sockets) return sockets.error();
    result.sockets_scanned = sockets->size();
    HostFacts host;
    host.unprivileged_port_start = unprivileged_port_start();

    // One walk of /proc for the sockets that have no binder to judge them by.
    std::set<uint64_t> unbound;
    for (const auto& s : *sockets)
        if (!s.binder && on_reserved_port(policy, s)) unbound.insert(s.inode);
    auto owners = pids_for_inodes(unbound, settings.proc);
    if (binders.fd)
        for (auto& s : *sockets) {
            if (s.binder || !unbound.count(s.inode)) continue;
            for (uint32_t pid : owners[s.inode])
                if ((s.binder = binder_through_holder(binders.fd.get(), pid, s.inode, settings.proc))) break;
        }
    std::map<uint32_t, std::optional<Credentials>> creds_of;
    auto holders = [&](uint64_t inode) {
        std::vector<Credentials> out;
        for (uint32_t pid : owners[inode]) {
            auto it = creds_of.find(pid);
            if (it == creds_of.end()) it = creds_of.emplace(pid, read_process_credentials(pid, settings.proc)).first;
            if (it->second) out.push_back(*it->second);
        }
        return out;
    };
    result.squatters = find_squatters(policy, *sockets, [](uint32_t uid) { return credentials_for_uid(uid); }, host, holders);
    std::set<uint64_t> more;
    for (const auto& q : result.squatters)
        if (!unbound.count(q.socket.inode)) more.insert(q.socket.inode);
    if (!more.empty()) owners.merge(pids_for_inodes(more, settings.proc));
    for (auto& q : result.squatters)
        for (uint32_t pid : owners[q.socket.inode]) q.processes.push_back(read_process(pid, settings.proc));
    result.scan_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return result;
}

Result<ScanResult> scan(const Policy& policy) { return scan(policy, ScanSettings{}); }

}  // namespace portauth::watch
