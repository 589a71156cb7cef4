// The passwd and group databases behind an interface, so resolution can be tested
// without touching /etc. Every answer distinguishes "no such entry" (an empty
// optional) from "the lookup failed" (an Error carrying the errno, e.g. an NSS
// backend that is down) - the first is the caller's mistake, the second is not.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace portauth::dropto {

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

// getpwnam_r(3), getpwuid_r(3), getgrnam_r(3), getgrgid_r(3), getgrouplist(3).
class SystemUserDatabase final : public UserDatabase {
public:
    Result<std::optional<PasswdEntry>> user_by_name(const std::string& name) override;
    Result<std::optional<PasswdEntry>> user_by_uid(uint32_t uid) override;
    Result<std::optional<GroupEntry>> group_by_name(const std::string& name) override;
    Result<std::optional<GroupEntry>> group_by_gid(uint32_t gid) override;
    Result<std::vector<uint32_t>> group_list(const std::string& user, uint32_t gid) override;
};

}  // namespace portauth::dropto
