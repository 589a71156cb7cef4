// Who an entry lets through, and who it leaves out, as values: for `portauth
// list` and `portreserve list`, in words for people (text()) and typed for
// programs ({kind, id, name, via} in --json, docs/json.md).
//
//   owner alice (uid 1001)   {user, 1001, "alice", owner}   the owner, by the owner's x bit
//   group %staff (gid 50)    {group, 50, "staff", group}    the owning group, when its x survives the mask
//   bob (uid 1002)           {user, 1002, "bob", acl}       a named ACL entry whose x survives the mask
//   %web (gid 33)            {group, 33, "web", acl}
//   everyone                 {everyone, -, -, other}        other has x
//   uid 51000                {user, 51000, "", byuid}       the uid a byuid file names (no passwd entry)
//   root (uid 0)             {user, 0, "root", root}        a disabled reservation: uid 0 alone
//
// Names come from NSS when it knows them ("" otherwise); they are file
// owners' and ACL entries' names, never strings from the policy's content.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "policy/model.hpp"

namespace portauth {

struct Who {
    enum class Kind { user, group, everyone };
    // Which part of the entry names this principal.
    enum class Via { owner, group, acl, other, byuid, root };
    Kind kind = Kind::user;
    Via via = Via::acl;
    uint32_t id = 0;    // uid or gid; 0 and meaningless for everyone
    std::string name;   // the NSS name, "" when there is none
    std::string text() const;   // the words above
    friend bool operator==(const Who&, const Who&) = default;
};

const char* kind_name(Who::Kind);   // "user", "group", "everyone"
const char* via_name(Who::Via);     // "owner", "group", "acl", "other", "byuid", "root"

// A user or group by number, named as NSS names it (spec.hpp's user_principal).
Who user_who(uint32_t uid, Who::Via via);
Who group_who(uint32_t gid, Who::Via via);

// Who the entry's permissions let bind, in the order above. Empty when
// nobody gets through.
std::vector<Who> describe_access(const AccessSpec& access);

// Who a group or "everyone" above would include but the entry refuses, as
// access(2) does: the owner when the owner lacks x (the owner class decides
// for the owner alone: 0654 lets the group in and its owner not), named ACL
// users without x, and, when everyone is let through, the groups that match
// without x (their members pass only by a listed group). Empty when nobody is
// left out, or when no group or everyone is let through.
std::vector<Who> describe_exclusions(const AccessSpec& access);

// The words of each.
std::vector<std::string> texts(const std::vector<Who>& who);

}  // namespace portauth
