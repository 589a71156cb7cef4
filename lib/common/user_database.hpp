// Who a user is: the passwd and group databases behind an interface (tests
// feed a table; the system's answers come from NSS), and the one set of rules
// that every tool uses to turn what an admin typed, or a uid the kernel
// reported, into ids and credentials. `portauth check`, `portauth allow` and
// the other principal parsers, portwatch and dropto all ask here, so they
// cannot disagree about a user:
//
//   - A string of digits is a number. When the same digits are also the name
//     of a user (group) with a different id, the text is refused as
//     ambiguous, never guessed. Anything else is a name, and a name that does
//     not resolve is an error, never a fallback.
//   - A user with a passwd entry has its passwd gid as primary group and, as
//     supplementary groups, getgrouplist(name, gid): all of them, however many
//     (the buffer grows), never a silent empty list.
//   - A uid without a passwd entry has no supplementary groups, and its
//     primary group is taken to be the gid of the same number (the
//     user-private-group convention) - marked as assumed. Judging a bind
//     (check, portwatch) uses that assumption; dropto, which would set the
//     gid for real, refuses to act on it and asks for USER:GROUP.
//
// Every answer distinguishes "no such entry" (an empty optional, or an error
// with err == 0 naming the text) from "the lookup failed" (an Error carrying
// the errno, e.g. an NSS backend that is down).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace portauth {

struct PasswdEntry {
    std::string name;
    uint32_t uid = 0;
    uint32_t gid = 0;
    std::string home;
};

struct GroupEntry {
    std::string name;
    uint32_t gid = 0;
};

class UserDatabase {
public:
    virtual ~UserDatabase() = default;
    virtual Result<std::optional<PasswdEntry>> user_by_name(const std::string& name) = 0;
    virtual Result<std::optional<PasswdEntry>> user_by_uid(uint32_t uid) = 0;
    virtual Result<std::optional<GroupEntry>> group_by_name(const std::string& name) = 0;
    virtual Result<std::optional<GroupEntry>> group_by_gid(uint32_t gid) = 0;
    // getgrouplist(3): `gid` plus every group that lists `user` as a member.
    virtual Result<std::vector<uint32_t>> group_list(const std::string& user, uint32_t gid) = 0;
};

// getpwnam_r(3), getpwuid_r(3), getgrnam_r(3), getgrgid_r(3), getgrouplist(3),
// each retried with a larger buffer on ERANGE.
class SystemUserDatabase final : public UserDatabase {
public:
    Result<std::optional<PasswdEntry>> user_by_name(const std::string& name) override;
    Result<std::optional<PasswdEntry>> user_by_uid(uint32_t uid) override;
    Result<std::optional<GroupEntry>> group_by_name(const std::string& name) override;
    Result<std::optional<GroupEntry>> group_by_gid(uint32_t gid) override;
    Result<std::vector<uint32_t>> group_list(const std::string& user, uint32_t gid) override;
};

// The process's SystemUserDatabase (it holds no state).
UserDatabase& system_user_database();

// A user or a group named by an admin, "www-data" or "33", by the rules at the
// top. Errors with err == 0: "unknown user 'x'", "user '5' is ambiguous: ...";
// with an errno: "looking up user 'x'".
Result<PasswdEntry> find_user(std::string_view text, UserDatabase& db);   // name empty: a uid without passwd entry
Result<GroupEntry> find_group(std::string_view text, UserDatabase& db);   // name empty: a gid without group entry

// What a process running as `uid` is taken to hold, by the rules at the top.
struct UserCredentials {
    uint32_t uid = 0;
    uint32_t gid = 0;
    bool gid_assumed = false;              // no passwd entry: gid is the uid's number
    std::vector<uint32_t> groups;          // getgrouplist's answer, in its order; empty without passwd entry
    std::optional<std::string> name;       // the passwd name
    std::string home = "/";                // the passwd home, "/" when there is none or it is empty
};
// `primary`: the gid getgrouplist starts from instead of the passwd one (dropto's USER:GROUP).
Result<UserCredentials> credentials_for(uint32_t uid, UserDatabase& db, std::optional<uint32_t> primary = std::nullopt);

// For display only: the passwd (group) name, or nullopt when there is none or the lookup fails.
std::optional<std::string> user_name_of(uint32_t uid, UserDatabase& db);
std::optional<std::string> group_name_of(uint32_t gid, UserDatabase& db);

}  // namespace portauth
