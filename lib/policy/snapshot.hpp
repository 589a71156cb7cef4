// The policy as data on disk: a canonical text form of a loaded Policy, its
// hash, and what changed between two of them. Pure (no I/O): the engine keeps
// the last good policy in this form (engine/last_good.hpp), `status` compares
// the tree with it, `check` answers from it.
//
// The form is line-oriented, one record per line, fields separated by one
// space, every string percent-encoded (bytes outside '!'..'~' and '%' as %XX),
// so no file name or reason can forge a record:
//   portauth-policy 1
//   root_exempt 1
//   authbind DIR                                      (an authbind tree merged in; tree.hpp)
//   disabled FILE LINE REASON
//   port PORT FILE ACCESS
//   addr ADDRESS PORT RANK FILE ACCESS
//   uid UID BANG FILE
//   uidline LOW HIGH PORTMIN PORTMAX FILE LINE        (belongs to the uid record above)
//   resv tcp|udp PORTMIN PORTMAX ADDRESS|- FILE ACCESS
// ACCESS is OWNER_UID OWNER_GID OX GX TX HAS_ACL MASK_X USERS GROUPS, the
// last two "-" or "ID:X,ID:X". The policy dir is not part of it: the same
// tree has the same hash wherever it lives. An authbind tree merged in is:
// its entries' FILE is their absolute path (model.hpp, Origin), so a change
// in either tree changes the hash.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "policy/model.hpp"

namespace portauth {

// The field encoding above: bytes outside '!'..'~' and '%' as %XX, "" as "%".
std::string percent_encode(std::string_view s);
std::optional<std::string> percent_decode(std::string_view s);   // nullopt: a bad escape

std::string serialize_policy(const Policy& policy);
// The inverse; `what` names the source in errors ("'/var/lib/portauth/x' line 7: ...").
// Policy.dir is left empty; Policy.shadowed too (it is not enforced).
Result<Policy> parse_policy(std::string_view text, const std::string& what);

// SHA-256 of serialize_policy(): equal for equal policies.
std::string policy_hash(const Policy& policy);

// What differs between the policy that was applied and the one the tree holds
// now, entry by entry (by file relative to the policy dir; "portauth.conf" for
// the settings). Each list is sorted.
struct PolicyDrift {
    std::vector<std::string> added, removed, changed;
    bool empty() const { return added.empty() && removed.empty() && changed.empty(); }
    // "2 entries added (byport/80, byport/81), 1 changed (reserve/udp/5060)"
    std::string summary() const;
};
PolicyDrift policy_drift(const Policy& applied, const Policy& now);

}  // namespace portauth
