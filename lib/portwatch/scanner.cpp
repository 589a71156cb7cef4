#include "portwatch/scanner.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "common/parse.hpp"
#include "engine/system.hpp"
#include "policy/spec.hpp"

namespace portauth::watch {

std::vector<PortRange> reserved_ranges(const Policy& policy) {
    std::vector<PortRange> out;
    for (const auto& r : policy.reservations) out.push_back({r.port_min, r.port_max});
    return merge_ranges(std::move(out));
}

Credentials credentials_for_uid(uint32_t uid) {
    Credentials c;
    c.euid = uid;
    c.egid = uid;
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* found = nullptr;
    if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || !found) return c;
    c.egid = pw.pw_gid;
    int n = 64;
    std::vector<gid_t> groups(static_cast<size_t>(n));
    if (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0) {
        groups.resize(static_cast<size_t>(n));
        if (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0) n = 0;
    }
    c.groups.assign(groups.begin(), groups.begin() + n);
    return c;
}

std::vector<Squatter> find_squatters(const Policy& policy, const std::vector<SocketInfo>& sockets,
                                     const CredentialsLookup& creds, const HostFacts& host_in) {
    std::vector<Squatter> out;
    std::map<uint32_t, Credentials> cache;
    for (const auto& s : sockets) {
        BindRequest req{s.proto, s.addr, s.port};
        if (std::none_of(policy.reservations.begin(), policy.reservations.end(), [&](const Reservation& r) { return collides(r, req); }))
            continue;
        auto it = cache.find(s.uid);
        if (it == cache.end()) it = cache.emplace(s.uid, creds(s.uid)).first;
        HostFacts host = host_in;
        host.cap_net_bind_service = s.uid == 0;
        Decision d = decide(policy, req, it->second, host);
        if (!d.refused_by_policy) continue;
        Squatter q;
        q.socket = s;
        q.user = user_principal(s.uid).name;
        q.entry = d.rule ? d.rule->str() : "";
        q.reason = d.reason;
        out.push_back(std::move(q));
    }
    return out;
}

namespace {

std::string read_small(const std::string& path, size_t limit) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return {};
    std::string s(limit, '\0');
    in.read(s.data(), static_cast<std::streamsize>(limit));
    s.resize(static_cast<size_t>(in.gcount()));
    return s;
}

struct DirCloser {
    void operator()(DIR* d) const { closedir(d); }
};

}  // namespace

std::map<uint64_t, std::vector<uint32_t>> pids_for_inodes(const std::set<uint64_t>& inodes, const std::string& proc) {
    std::map<uint64_t, std::vector<uint32_t>> out;
    if (inodes.empty()) return out;
    std::unique_ptr<DIR, DirCloser> dir(opendir(proc.c_str()));
    if (!dir) return out;
    while (dirent* e = readdir(dir.get())) {
        auto pid = parse_id(e->d_name);
        if (!pid) continue;
        const std::string fd_dir = proc + "/" + e->d_name + "/fd";
        std::unique_ptr<DIR, DirCloser> fds(opendir(fd_dir.c_str()));
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

Result<ScanResult> scan(const Policy& policy) {
    ScanResult result;
    const auto start = std::chrono::steady_clock::now();
    const auto ranges = reserved_ranges(policy);
    if (ranges.empty()) {
        result.skipped = true;
        return result;
    }
    auto sockets = dump_all(ranges);
    if (!sockets) return sockets.error();
    result.sockets_scanned = sockets->size();
    HostFacts host;
    host.unprivileged_port_start = unprivileged_port_start();
    result.squatters = find_squatters(policy, *sockets, credentials_for_uid, host);
    if (!result.squatters.empty()) {
        std::set<uint64_t> inodes;
        for (const auto& q : result.squatters) inodes.insert(q.socket.inode);
        auto owners = pids_for_inodes(inodes);
        for (auto& q : result.squatters)
            for (uint32_t pid : owners[q.socket.inode]) q.processes.push_back(read_process(pid));
    }
    result.scan_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return result;
}

}  // namespace portauth::watch
