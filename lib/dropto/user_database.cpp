#include "dropto/user_database.hpp"

#include <grp.h>
#include <pwd.h>

#include <cerrno>
#include <climits>
#include <vector>

namespace portauth::dropto {

namespace {

// The reentrant lookups report "no such entry" as 0 with a null result; some NSS
// modules say ENOENT or ESRCH instead (see getpwnam_r(3)). Anything else is a failure.
bool means_not_found(int rc) { return rc == 0 || rc == ENOENT || rc == ESRCH; }

constexpr size_t kFirstBuffer = 1024;
constexpr size_t kMaxBuffer = 1 << 20;  // a passwd or group entry over 1 MiB is broken

// Calls `lookup(struct*, buffer, size, struct**)` growing the buffer on ERANGE.
template <class Raw, class Entry, class Lookup, class Convert>
Result<std::optional<Entry>> reentrant(const char* call, Lookup lookup, Convert convert) {
    std::vector<char> buffer(kFirstBuffer);
    while (true) {
        Raw raw{};
        Raw* found = nullptr;
        const int rc = lookup(&raw, buffer.data(), buffer.size(), &found);
        if (rc == ERANGE && buffer.size() < kMaxBuffer) {
            buffer.resize(buffer.size() * 2);
            continue;
        }
        if (rc == 0 && found) return std::optional<Entry>(convert(*found));
        if (means_not_found(rc)) return std::optional<Entry>{};
        return Error{rc, call};
    }
}

PasswdEntry to_entry(const passwd& pw) {
    return PasswdEntry{pw.pw_name ? pw.pw_name : "", pw.pw_uid, pw.pw_gid, pw.pw_dir ? pw.pw_dir : ""};
}

GroupEntry to_entry(const group& gr) { return GroupEntry{gr.gr_name ? gr.gr_name : "", gr.gr_gid}; }

}  // namespace

Result<std::optional<PasswdEntry>> SystemUserDatabase::user_by_name(const std::string& name) {
    return reentrant<passwd, PasswdEntry>(
        "getpwnam_r",
        [&](passwd* pw, char* buf, size_t len, passwd** found) {
            return getpwnam_r(name.c_str(), pw, buf, len, found);
        },
        [](const passwd& pw) { return to_entry(pw); });
}

Result<std::optional<PasswdEntry>> SystemUserDatabase::user_by_uid(uint32_t uid) {
    return reentrant<passwd, PasswdEntry>(
        "getpwuid_r",
        [&](passwd* pw, char* buf, size_t len, passwd** found) {
            return getpwuid_r(uid, pw, buf, len, found);
        },
        [](const passwd& pw) { return to_entry(pw); });
}

Result<std::optional<GroupEntry>> SystemUserDatabase::group_by_name(const std::string& name) {
    return reentrant<group, GroupEntry>(
        "getgrnam_r",
        [&](group* gr, char* buf, size_t len, group** found) {
            return getgrnam_r(name.c_str(), gr, buf, len, found);
        },
        [](const group& gr) { return to_entry(gr); });
}

Result<std::optional<GroupEntry>> SystemUserDatabase::group_by_gid(uint32_t gid) {
    return reentrant<group, GroupEntry>(
        "getgrgid_r",
        [&](group* gr, char* buf, size_t len, group** found) {
            return getgrgid_r(gid, gr, buf, len, found);
        },
        [](const group& gr) { return to_entry(gr); });
}

Result<std::vector<uint32_t>> SystemUserDatabase::group_list(const std::string& user, uint32_t gid) {
    // getgrouplist returns -1 and the needed count when the array is too small.
    int count = 64;
    while (true) {
        std::vector<gid_t> groups(static_cast<size_t>(count));
        int n = count;
        if (getgrouplist(user.c_str(), gid, groups.data(), &n) >= 0) {
            groups.resize(static_cast<size_t>(n));
            return std::vector<uint32_t>(groups.begin(), groups.end());
        }
        if (n <= count || n > NGROUPS_MAX + 1) return Error{ERANGE, "getgrouplist"};
        count = n;
    }
}

}  // namespace portauth::dropto
