// A user database in memory for tests: the table common/user_database.hpp's
// rules are asked against, with injectable failures (method name -> errno).
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/user_database.hpp"

namespace portauth::testing {

class FakeUserDatabase : public UserDatabase {
public:
    struct Group {
        GroupEntry entry;
        std::vector<std::string> members;
    };
    std::vector<PasswdEntry> users;
    std::vector<Group> groups;
    std::map<std::string, int> fail;  // method name -> errno

    void add_user(std::string name, uint32_t uid, uint32_t gid, std::string home) {
        users.push_back(PasswdEntry{std::move(name), uid, gid, std::move(home)});
    }
    void add_group(std::string name, uint32_t gid, std::vector<std::string> members = {}) {
        groups.push_back(Group{GroupEntry{std::move(name), gid}, std::move(members)});
    }

    Result<std::optional<PasswdEntry>> user_by_name(const std::string& name) override {
        if (auto e = failure("user_by_name")) return *e;
        for (const auto& u : users)
            if (u.name == name) return std::optional<PasswdEntry>(u);
        return std::optional<PasswdEntry>{};
    }
    Result<std::optional<PasswdEntry>> user_by_uid(uint32_t uid) override {
        if (auto e = failure("user_by_uid")) return *e;
        for (const auto& u : users)
            if (u.uid == uid) return std::optional<PasswdEntry>(u);
        return std::optional<PasswdEntry>{};
    }
    Result<std::optional<GroupEntry>> group_by_name(const std::string& name) override {
        if (auto e = failure("group_by_name")) return *e;
        for (const auto& g : groups)
            if (g.entry.name == name) return std::optional<GroupEntry>(g.entry);
        return std::optional<GroupEntry>{};
    }
    Result<std::optional<GroupEntry>> group_by_gid(uint32_t gid) override {
        if (auto e = failure("group_by_gid")) return *e;
        for (const auto& g : groups)
            if (g.entry.gid == gid) return std::optional<GroupEntry>(g.entry);
        return std::optional<GroupEntry>{};
    }
    Result<std::vector<uint32_t>> group_list(const std::string& user, uint32_t gid) override {
        if (auto e = failure("group_list")) return *e;
        std::vector<uint32_t> list{gid};
        for (const auto& g : groups)
            if (std::find(g.members.begin(), g.members.end(), user) != g.members.end())
                list.push_back(g.entry.gid);
        return list;
    }

private:
    std::optional<Error> failure(const std::string& method) {
        auto it = fail.find(method);
        if (it == fail.end()) return std::nullopt;
        return Error{it->second, method};
    }
};

}  // namespace portauth::testing
