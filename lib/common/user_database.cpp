#include "common/user_database.hpp"

#include <grp.h>
#include <pwd.h>

#include <cerrno>
#include <climits>
#include <vector>

#include "common/parse.hpp"
#include "common/text.hpp"

namespace portauth {

namespace {

// The reentrant lookups report "no such entry" as 0 with a null result; some NSS
// modules say ENOENT, ESRCH, EBADF or EPERM instead (getpwnam_r(3), RETURN
// VALUE). Anything else is a failure.
bool means_not_found(int rc) { return rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM; }

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

UserDatabase& system_user_database() {
    static SystemUserDatabase db;
    return db;
}

Result<PasswdEntry> find_user(std::string_view text, UserDatabase& db) {
    const std::string name(text);
    auto by_name = db.user_by_name(name);
    if (!by_name) return Error{by_name.error().err, "looking up user " + quoted(text)};
    if (auto uid = parse_id(text)) {
        if (*by_name && (*by_name)->uid != *uid)
            return logic_error("user " + quoted(text) + " is ambiguous: it is uid " + name + " and also the name of uid " +
                               std::to_string((*by_name)->uid));
        auto by_uid = db.user_by_uid(*uid);
        if (!by_uid) return Error{by_uid.error().err, "looking up uid " + name};
        if (*by_uid) return **by_uid;
        return PasswdEntry{"", *uid, *uid, ""};
    }
    if (!*by_name) return logic_error("unknown user " + quoted(text));
    return **by_name;
}

Result<GroupEntry> find_group(std::string_view text, UserDatabase& db) {
    const std::string name(text);
    auto by_name = db.group_by_name(name);
    if (!by_name) return Error{by_name.error().err, "looking up group " + quoted(text)};
    if (auto gid = parse_id(text)) {
        if (*by_name && (*by_name)->gid != *gid)
            return logic_error("group " + quoted(text) + " is ambiguous: it is gid " + name + " and also the name of gid " +
                               std::to_string((*by_name)->gid));
        auto by_gid = db.group_by_gid(*gid);
        if (!by_gid) return Error{by_gid.error().err, "looking up gid " + name};
        return GroupEntry{*by_gid ? (*by_gid)->name : std::string{}, *gid};
    }
    if (!*by_name) return logic_error("unknown group " + quoted(text));
    return **by_name;
}

Result<UserCredentials> credentials_for(uint32_t uid, UserDatabase& db, std::optional<uint32_t> primary) {
    UserCredentials c;
    c.uid = uid;
    auto entry = db.user_by_uid(uid);
    if (!entry) return Error{entry.error().err, "looking up uid " + std::to_string(uid)};
    if (!*entry) {
        c.gid = primary.value_or(uid);
        c.gid_assumed = !primary;
        return c;
    }
    c.name = (*entry)->name;
    if (!(*entry)->home.empty()) c.home = (*entry)->home;
    c.gid = primary.value_or((*entry)->gid);
    auto list = db.group_list((*entry)->name, c.gid);
    if (!list)
        return Error{list.error().err, "getgrouplist for user " + quoted((*entry)->name) + " (uid " + std::to_string(uid) + ")"};
    c.groups = std::move(list).value();
    return c;
}

std::optional<std::string> user_name_of(uint32_t uid, UserDatabase& db) {
    auto entry = db.user_by_uid(uid);
    if (!entry || !*entry) return std::nullopt;
    return (*entry)->name;
}

std::optional<std::string> group_name_of(uint32_t gid, UserDatabase& db) {
    auto entry = db.group_by_gid(gid);
    if (!entry || !*entry) return std::nullopt;
    return (*entry)->name;
}

}  // namespace portauth
