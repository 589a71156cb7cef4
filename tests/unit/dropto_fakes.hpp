// Test doubles for dropto: the user database in memory (fake_user_database.hpp) and a small model of the
// kernel's credential rules (who may call setgroups/setresuid/..., what a uid
// change does to capabilities), recording every state-changing call in order.
#pragma once

#include <algorithm>
#include <cerrno>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dropto/syscalls.hpp"
#include "fake_user_database.hpp"

namespace portauth::dropto::testing {

inline constexpr int kCapSetgid = 6;
inline constexpr int kCapSetuid = 7;
inline constexpr int kCapSetpcap = 8;
inline constexpr uint64_t kAllCaps = (uint64_t{1} << 41) - 1;

using portauth::testing::FakeUserDatabase;

// Starts as root with every capability, fds 0-2 open, no terminal.
class FakeSyscalls : public Syscalls {
public:
    IdTriple uids{0, 0, 0};
    IdTriple gids{0, 0, 0};
    uint32_t fsuid = 0;
    uint32_t fsgid = 0;
    std::vector<uint32_t> groups{0};
    CapabilitySets caps{kAllCaps, kAllCaps, 0, 0, kAllCaps};
    bool at_secure = false;
    bool nnp = false;
    bool no_setuid_fixup = false;  // SECBIT_NO_SETUID_FIXUP: a uid change keeps capabilities
    bool group_leader = false;
    bool controlling_terminal = false;
    std::set<int> ttys;
    std::optional<std::string> legacy_tiocsti = "1\n";
    std::vector<int> fds{0, 1, 2};
    std::optional<int> fd_opened_by_a_library;  // appears after the first open_fds()
    bool proc_fd_missing = false;
    std::map<std::string, std::string> env;

    std::map<std::string, int> fail;  // call name -> errno
    std::set<std::string> ignore;     // call name -> "succeeds" without doing anything
    int exec_errno = ENOENT;

    std::vector<std::string> log;
    std::optional<std::vector<std::string>> executed;

    void become_user(uint32_t uid, uint32_t gid, std::vector<uint32_t> supplementary) {
        uids = {uid, uid, uid};
        gids = {gid, gid, gid};
        fsuid = uid;
        fsgid = gid;
        groups = std::move(supplementary);
        caps = CapabilitySets{0, 0, 0, 0, kAllCaps};
    }

    // Index of the first log entry at or after `from` starting with `prefix`, or -1.
    int position(const std::string& prefix, size_t from = 0) const {
        for (size_t i = from; i < log.size(); ++i)
            if (log[i].rfind(prefix, 0) == 0) return static_cast<int>(i);
        return -1;
    }
    bool called(const std::string& prefix) const { return position(prefix) >= 0; }
    int count(const std::string& prefix) const {
        return static_cast<int>(std::count_if(log.begin(), log.end(), [&](const std::string& entry) {
            return entry.rfind(prefix, 0) == 0;
        }));
    }

    IdTriple getresuid() override { return uids; }
    IdTriple getresgid() override { return gids; }
    bool secure_execution() override { return at_secure; }

    Result<std::vector<uint32_t>> getgroups() override {
        if (auto e = failure("getgroups")) return *e;
        return groups;
    }

    Status setgroups(const std::vector<uint32_t>& list) override {
        record("setgroups(" + join(list) + ")");
        if (auto e = failure("setgroups")) return *e;
        if (!has(kCapSetgid)) return Error{EPERM, "setgroups"};
        if (!ignore.count("setgroups")) groups = list;
        return {};
    }

    Status setresgid(uint32_t r, uint32_t e, uint32_t s) override {
        record("setresgid(" + join({r, e, s}) + ")");
        if (auto err = failure("setresgid")) return *err;
        if (!has(kCapSetgid) && !(among(r, gids) && among(e, gids) && among(s, gids)))
            return Error{EPERM, "setresgid"};
        if (ignore.count("setresgid")) return {};
        gids = {keep(r, gids.real), keep(e, gids.effective), keep(s, gids.saved)};
        if (!ignore.count("setfsgid")) fsgid = gids.effective;  // else: a stuck fsgid
        return {};
    }

    Status setresuid(uint32_t r, uint32_t e, uint32_t s) override {
        record("setresuid(" + join({r, e, s}) + ")");
        if (auto err = failure("setresuid")) return *err;
        if (!has(kCapSetuid) && !(among(r, uids) && among(e, uids) && among(s, uids)))
            return Error{EPERM, "setresuid"};
        if (ignore.count("setresuid")) return {};
        const IdTriple old = uids;
        uids = {keep(r, uids.real), keep(e, uids.effective), keep(s, uids.saved)};
        if (!ignore.count("setfsuid")) fsuid = uids.effective;  // else: a stuck fsuid
        const bool had_root = old.real == 0 || old.effective == 0 || old.saved == 0;
        const bool has_root = uids.real == 0 || uids.effective == 0 || uids.saved == 0;
        if (!no_setuid_fixup && had_root && !has_root) {
            caps.permitted = caps.effective = caps.ambient = 0;
        }
        return {};
    }

    uint32_t setfsgid(uint32_t gid) override {
        if (gid != kQueryId) record("setfsgid(" + std::to_string(gid) + ")");
        const uint32_t old = fsgid;
        if (gid != kQueryId && !ignore.count("setfsgid") &&
            (has(kCapSetgid) || among(gid, gids) || gid == fsgid))
            fsgid = gid;
        return old;
    }

    uint32_t setfsuid(uint32_t uid) override {
        if (uid != kQueryId) record("setfsuid(" + std::to_string(uid) + ")");
        const uint32_t old = fsuid;
        if (uid != kQueryId && !ignore.count("setfsuid") &&
            (has(kCapSetuid) || among(uid, uids) || uid == fsuid))
            fsuid = uid;
        return old;
    }

    Result<CapabilitySets> capabilities() override {
        record("capget");
        if (auto e = failure("capget")) return *e;
        return caps;
    }

    Status clear_ambient_capabilities() override {
        record("clear_ambient");
        if (auto e = failure("clear_ambient")) return *e;
        if (!ignore.count("clear_ambient")) caps.ambient = 0;
        return {};
    }

    Status clear_capabilities() override {
        record("capset");
        if (auto e = failure("capset")) return *e;
        if (!ignore.count("capset")) caps.permitted = caps.effective = caps.inheritable = 0;
        return {};
    }

    Status clear_bounding_set() override {
        record("clear_bounding_set");
        if (auto e = failure("clear_bounding_set")) return *e;
        if (caps.bounding != 0 && !has(kCapSetpcap)) return Error{EPERM, "prctl(PR_CAPBSET_DROP, 0)"};
        caps.bounding = 0;
        return {};
    }

    Status set_no_new_privs() override {
        record("set_no_new_privs");
        if (auto e = failure("set_no_new_privs")) return *e;
        if (!ignore.count("set_no_new_privs")) nnp = true;
        return {};
    }

    Result<bool> no_new_privs() override { return nnp; }

    Status setsid() override {
        record("setsid");
        if (auto e = failure("setsid")) return *e;
        if (group_leader) return Error{EPERM, "setsid"};
        group_leader = true;
        controlling_terminal = false;
        return {};
    }

    Result<bool> has_controlling_terminal() override { return controlling_terminal; }
    bool isatty(int fd) override { return ttys.count(fd) > 0; }

    Result<std::string> read_file(const std::string& path) override {
        if (path == "/proc/sys/dev/tty/legacy_tiocsti" && legacy_tiocsti) return *legacy_tiocsti;
        return Error{ENOENT, "cannot open '" + path + "'"};
    }

    Result<std::vector<int>> open_fds() override {
        record("open_fds");
        if (proc_fd_missing) return Error{ENOENT, "cannot open '/proc/self/fd'"};
        auto now = fds;
        if (fd_opened_by_a_library) fds.push_back(*fd_opened_by_a_library);
        return now;
    }

    Status set_cloexec(int fd) override {
        record("cloexec(" + std::to_string(fd) + ")");
        return {};
    }

    Status setenv(const std::string& name, const std::string& value) override {
        record("setenv(" + name + "=" + value + ")");
        if (auto e = failure("setenv")) return *e;
        env[name] = value;
        return {};
    }

    int execvp(const std::vector<std::string>& argv) override {
        std::string line = "execvp(";
        for (size_t i = 0; i < argv.size(); ++i) line += (i ? " " : "") + argv[i];
        record(line + ")");
        executed = argv;
        return exec_errno;
    }

private:
    void record(std::string entry) { log.push_back(std::move(entry)); }

    bool has(int cap) const { return (caps.effective >> cap) & 1; }

    static bool among(uint32_t id, const IdTriple& t) {
        return id == kQueryId || id == t.real || id == t.effective || id == t.saved;
    }
    static uint32_t keep(uint32_t wanted, uint32_t current) { return wanted == kQueryId ? current : wanted; }

    static std::string join(const std::vector<uint32_t>& ids) {
        std::string s;
        for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
        return s;
    }

    std::optional<Error> failure(const std::string& call) {
        auto it = fail.find(call);
        if (it == fail.end()) return std::nullopt;
        return Error{it->second, call};
    }
};

}  // namespace portauth::dropto::testing
