#include "dropto/identity.hpp"

#include <climits>
#include <algorithm>

#include "common/parse.hpp"

namespace portauth::dropto {

namespace {

constexpr size_t kMaxGroups = NGROUPS_MAX;  // the kernel's limit for setgroups(2)

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// A group named by the user: numeric or a name, with the same ambiguity rule as users.
Result<GroupEntry> resolve_group(const std::string& text, UserDatabase& db) {
    auto by_name = db.group_by_name(text);
    if (!by_name) return Error{by_name.error().err, "looking up group " + quoted(text)};
    if (auto gid = parse_id(text)) {
        if (*by_name && (*by_name)->gid != *gid)
            return logic_error("group " + quoted(text) + " is ambiguous: it is gid " + text +
                               " and also the name of gid " + std::to_string((*by_name)->gid));
        auto by_gid = db.group_by_gid(*gid);
        if (!by_gid) return Error{by_gid.error().err, "looking up gid " + text};
        return GroupEntry{*by_gid ? (*by_gid)->name : std::string{}, *gid};
    }
    if (!*by_name) return logic_error("unknown group " + quoted(text));
    return **by_name;
}

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

    // The user: a passwd entry, or a bare numeric uid.
    std::optional<PasswdEntry> entry;
    {
        auto by_name = db.user_by_name(target.user);
        if (!by_name) return Error{by_name.error().err, "looking up user " + quoted(target.user)};
        if (auto uid = parse_id(target.user)) {
            if (*by_name && (*by_name)->uid != *uid)
                return logic_error("user " + quoted(target.user) + " is ambiguous: it is uid " +
                                   target.user + " and also the name of uid " +
                                   std::to_string((*by_name)->uid));
            auto by_uid = db.user_by_uid(*uid);
            if (!by_uid) return Error{by_uid.error().err, "looking up uid " + target.user};
            entry = std::move(by_uid).value();
            id.uid = *uid;
        } else {
            if (!*by_name) return logic_error("unknown user " + quoted(target.user));
            entry = std::move(by_name).value();
            id.uid = entry->uid;
        }
    }
    if (entry) {
        id.user_name = entry->name;
        if (!entry->home.empty()) id.home = entry->home;
    }

    // The primary group: GROUP, else the passwd entry's.
    if (target.group) {
        auto group = resolve_group(*target.group, db);
        if (!group) return group.error();
        id.gid = group->gid;
        if (!group->name.empty()) id.group_name = group->name;
    } else if (entry) {
        id.gid = entry->gid;
        auto group = db.group_by_gid(id.gid);
        if (!group) return Error{group.error().err, "looking up gid " + std::to_string(id.gid)};
        if (*group) id.group_name = (*group)->name;
    } else {
        return logic_error("uid " + target.user +
                           " has no passwd entry, so it has no primary group: name one, as " +
                           target.user + ":GROUP");
    }

    // The supplementary groups.
    switch (groups_source) {
    case GroupsSource::database:
        if (entry) {
            auto list = db.group_list(entry->name, id.gid);
            if (!list) return Error{list.error().err, "getgrouplist for " + id.describe_user()};
            id.groups = std::move(list).value();
        }
        break;
    case GroupsSource::none:
        break;
    case GroupsSource::list:
        for (const auto& text : group_list) {
            auto group = resolve_group(text, db);
            if (!group) return group.error();
            id.groups.push_back(group->gid);
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
