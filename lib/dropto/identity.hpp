// USER[:GROUP] and --groups LIST: parsing (pure) and resolution against the user
// database into the exact ids dropto will set.
//
// Rules, all documented in dropto(1):
//   - A string of digits is a numeric id, anything else a name. A name that does
//     not resolve is an error, never a fallback. If a numeric USER (GROUP) is also
//     the *name* of a user (group) with a different id, dropto refuses to guess.
//   - A user from the passwd database gets its primary gid (or GROUP) and, as
//     supplementary groups, getgrouplist(name, gid): that gid plus every group
//     listing the user as a member.
//   - A numeric uid without a passwd entry needs :GROUP and gets no supplementary
//     groups; its USER and LOGNAME are the decimal uid and its HOME is "/".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "dropto/options.hpp"
#include "common/user_database.hpp"

namespace portauth::dropto {

struct TargetSpec {
    std::string user;                  // a name or a numeric uid
    std::optional<std::string> group;  // a name or a numeric gid
};

// "www-data", "33", "www-data:adm", "51000:51000". Rejects "", ":g", "u:", "u:g:h".
Result<TargetSpec> parse_target(std::string_view text);

// "adm,51000,ssl-cert" for --groups. Rejects an empty list and empty items.
Result<std::vector<std::string>> parse_group_list(std::string_view text);

struct Identity {
    uint32_t uid = 0;
    uint32_t gid = 0;
    std::vector<uint32_t> groups;          // sorted, without duplicates: what setgroups gets
    std::optional<std::string> user_name;  // from the passwd database
    std::optional<std::string> group_name; // from the group database
    std::string home = "/";

    // "user 'www-data' (uid 33)" or, without a passwd entry, "uid 51000".
    std::string describe_user() const;
    // "group 'www-data' (gid 33)" or "gid 51000".
    std::string describe_group() const;
    // The passwd name, or the decimal uid: what USER and LOGNAME become.
    std::string login_name() const;
};

// Errors: err == 0 means the request itself is wrong (unknown name, missing
// :GROUP, ambiguity); err != 0 means a database lookup failed.
Result<Identity> resolve_identity(const TargetSpec& target, GroupsSource groups_source,
                                  const std::vector<std::string>& group_list, UserDatabase& db);

}  // namespace portauth::dropto
