#include "dropto/identity.hpp"

#include <climits>
#include <algorithm>

#include "common/parse.hpp"
#include "common/text.hpp"

namespace portauth::dropto {

namespace {

constexpr size_t kMaxGroups = NGROUPS_MAX;  // the kernel's limit for setgroups(2)

}  // namespace

Result<TargetSpec> parse_target(std::string_view text) {
    const auto colon = text.find(':');
    TargetSpec spec;
    spec.user = std::string(text.substr(0, colon));
    if (spec.user.empty())
        return logic_error("invalid USER[:GROUP] " + quoted(text) + ": the user is empty");
    if (colon != std::string_view::npos) {
        const auto group = text.substr(colon + 1);
        if (group.empty())
            return logic_error("invalid USER[:GROUP] " + quoted(text) + ": the group after ':' is empty");
        if (group.find(':') != std::string_view::npos)
            return logic_error("invalid USER[:GROUP] " + quoted(text) + ": more than one ':'");
        spec.group = std::string(group);
    }
    return spec;
}

Result<std::vector<std::string>> parse_group_list(std::string_view text) {
    std::vector<std::string> groups;
    if (text.empty()) return logic_error("--groups needs at least one group (use --no-groups for none)");
    size_t start = 0;
    while (true) {
        const auto comma = text.find(',', start);
        const auto item = text.substr(start, comma == std::string_view::npos ? text.npos : comma - start);
        if (item.empty()) return logic_error("invalid --groups list " + quoted(text) + ": empty item");
        groups.emplace_back(item);
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    return groups;
}

std::string Identity::describe_user() const {
    if (user_name) return "user " + quoted(*user_name) + " (uid " + std::to_string(uid) + ")";
    return "uid " + std::to_string(uid);
}

std::string Identity::describe_group() const {
    if (group_name) return "group " + quoted(*group_name) + " (gid " + std::to_string(gid) + ")";
    return "gid " + std::to_string(gid);
}

std::string Identity::login_name() const { return user_name ? *user_name : std::to_string(uid); }

Result<Identity> resolve_identity(const TargetSpec& target, GroupsSource groups_source,
                                  const std::vector<std::string>& group_list, UserDatabase& db) {
    Identity id;

    // The user (common/user_database.hpp's rules), then the primary group:
    // GROUP, else the passwd entry's; never the assumed one.
    auto user = find_user(target.user, db);
    if (!user) return user.error();
    std::optional<GroupEntry> group;
    if (target.group) {
        auto g = find_group(*target.group, db);
        if (!g) return g.error();
        group = std::move(g).value();
    }
    auto creds = credentials_for(user->uid, db, group ? std::optional<uint32_t>(group->gid) : std::nullopt);
    if (!creds) return creds.error();
    if (creds->gid_assumed)
        return logic_error("uid " + target.user +
                           " has no passwd entry, so it has no primary group: name one, as " +
                           target.user + ":GROUP");
    id.uid = creds->uid;
    id.gid = creds->gid;
    id.user_name = creds->name;
    id.home = creds->home;
    if (group) {
        if (!group->name.empty()) id.group_name = group->name;
    } else {
        auto g = db.group_by_gid(id.gid);
        if (!g) return Error{g.error().err, "looking up gid " + std::to_string(id.gid)};
        if (*g) id.group_name = (*g)->name;
    }

    // The supplementary groups.
    switch (groups_source) {
    case GroupsSource::database:
        id.groups = creds->groups;
        break;
    case GroupsSource::none:
        break;
    case GroupsSource::list:
        for (const auto& text : group_list) {
            auto listed = find_group(text, db);
            if (!listed) return listed.error();
            id.groups.push_back(listed->gid);
        }
        break;
    }
    std::sort(id.groups.begin(), id.groups.end());
    id.groups.erase(std::unique(id.groups.begin(), id.groups.end()), id.groups.end());
    if (id.groups.size() > kMaxGroups)
        return logic_error("too many supplementary groups for " + id.describe_user() + ": " +
                           std::to_string(id.groups.size()) + ", the kernel allows " +
                           std::to_string(kMaxGroups));
    return id;
}

}  // namespace portauth::dropto
