// Changing the policy tree: grants (byport/byaddr) and reservations.
//
// Every edit first takes an exclusive flock(2) on the policy dir (so two
// portauth processes never interleave), then loads the whole tree with
// load_policy and refuses to touch a tree that fails it - nothing is written
// then. Edits leave the tree passing load_policy:
//   - missing directories are created root:root 0755;
//   - a new entry is written under a temporary name (".portauth-new.XXXXXX")
//     as root:root, mode u::r-- g::--- o::---, with ACL entries u:UID:--x /
//     g:GID:--x and mask --x for the principals, then renamed into place
//     without replacing anything (renameat2 RENAME_NOREPLACE);
//   - an existing entry gets its ACL rewritten in place (one setxattr, so
//     atomic); its owner, mode and content stay. Entries that the mask had
//     switched off keep being switched off: their bits are reduced to what
//     the mask let through before the mask is recomputed.
// A principal who owns the entry is granted through the owner's x bit (a
// named ACL entry for the owner would never be consulted).
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"
#include "policy/model.hpp"
#include "policy/spec.hpp"
#include "policy/tree.hpp"

namespace portauth {

// Lets the principals bind the grant's port (on its address): adds them to
// the deciding entry - for byaddr the spelling authbind consults first when
// several exist, else the ',' form grant_entry_path names. Principals already
// allowed are no error. An empty list is an error.
Status grant_allow(const std::string& dir, const GrantSpec& spec, const std::vector<Principal>& principals,
                   const TreeOptions& options = {});

// Removes the principals' ACL entries (or the owner's / owning group's x
// bit). When the entry then lets nobody through, the entry file is removed.
// A principal the entry does not name is an error naming them, and nothing
// changes. An entry owned by a user other than root cannot be revoked from
// that user (they could chmod it back): chown it to root first.
Status grant_revoke(const std::string& dir, const GrantSpec& spec, const std::vector<Principal>& principals,
                    const TreeOptions& options = {});

// Creates the reservation, or adds owners to an existing one with exactly
// this spec. Refused, naming both entries, when it would overlap another
// reservation (the check load_policy makes). An empty list creates (or
// keeps) a reservation nobody owns: only root may bind it, and only with
// root-exempt = yes.
Status reserve_add(const std::string& dir, const ReserveSpec& spec, const std::vector<Principal>& principals,
                   const TreeOptions& options = {});

// Removes owners from the reservation; when none is left the reservation is
// removed. An empty list removes the whole reservation. A missing
// reservation, or an owner it does not name, is an error.
Status reserve_release(const std::string& dir, const ReserveSpec& spec, const std::vector<Principal>& principals,
                       const TreeOptions& options = {});

}  // namespace portauth
