// Reading the policy tree (docs/policy-tree.md is the reference):
//
//   /etc/portauth/
//     portauth.conf                 settings (optional)
//     byport/80, byport/!600        authbind: the entry's permissions decide
//     byaddr/127.0.0.1:80, byaddr/::1,80, byaddr/!127.0.0.1,600
//     byuid/1001, byuid/!1001       authbind: lines "addr[/len],port[-port]"
//     reserve/udp/5060, reserve/tcp/6000-6099@127.0.0.1
//
// The tree's structure is all or nothing: the first problem in what only
// root can make or change (a bad name, a bad byuid line, a directory, a
// byuid file or portauth.conf anyone but root could change, a symlink, a
// limit exceeded) is the error, naming the absolute path (and line), and no
// Policy is returned. A byport, byaddr or reserve entry that someone other
// than root can change (group/other write bits, by its owner's chmod or
// setfacl) costs that entry alone: it is loaded in its closed form and
// listed in Policy.disabled (model.hpp, DisabledEntry; tree.cpp admit_entry).
//
// What is parsed is parsed by pure functions, each in its own file and
// fuzzed on its own: entry names by leaf_names.hpp, byuid lines by
// byuid_grammar.hpp, portauth.conf by conf_grammar.hpp, an entry's ACL
// (read by acl_reader.hpp) into its AccessSpec. The loader (tree.cpp) walks
// the tree, makes the hygiene checks and assembles the Policy.
//
// One policy from two trees (PolicySources): the policy dir and, under it,
// authbind's own tree (/etc/authbind), read with the same rules. Grants are
// the union of both, as if the two directories were one: where both hold an
// entry of the same name (byport/80, byuid/1001), the policy dir's is taken
// and the authbind one is shadowed (like /etc over /usr). Reservations and
// portauth.conf are read from the policy dir only; an authbind tree holding
// them is refused, naming the file. Entries of the authbind tree are named
// by their absolute path (model.hpp, Origin), so the policy's text form and
// hash (snapshot.hpp) cover both trees.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "policy/limits.hpp"
#include "policy/model.hpp"

namespace portauth {

// Whose ownership the hygiene checks trust. The tools always use the default
// (root). Tests running unprivileged, and a user checking a copy of a tree
// they own, pass their own uid/gid: then directories, byuid files and
// portauth.conf may be owned by root or by `owner_uid`, and edits create
// entries owned by owner_uid:owner_gid instead of root:root.
struct TreeOptions {
    uint32_t owner_uid = 0;
    uint32_t owner_gid = 0;
};

// Reads and checks the whole tree under `dir`. Policy.dir is `dir` as given;
// error messages use the absolute path. Entries come out sorted (ports, then
// addresses, then rank; uids; reservations by proto, ports, address).
Result<Policy> load_policy(const std::string& dir);
Result<Policy> load_policy(const std::string& dir, const TreeOptions& options);

// $PORTAUTH_POLICY_DIR if set and non-empty, else "/etc/portauth".
std::string default_policy_dir();

inline constexpr const char* kDefaultPolicyDir = "/etc/portauth";
inline constexpr const char* kDefaultAuthbindDir = "/etc/authbind";

// The trees one policy is read from. An authbind_dir that does not exist
// merges nothing (authbind need not be installed); "" merges nothing either.
// An authbind_dir that names the policy dir itself is read once.
struct PolicySources {
    std::string policy_dir;
    std::string authbind_dir;
};

// The authbind tree that goes with `policy_dir`: $PORTAUTH_AUTHBIND_DIR when
// set (empty: none), else /etc/authbind for the default policy dir
// /etc/portauth and none for any other (so a test's scratch tree stays alone).
std::string default_authbind_dir(const std::string& policy_dir);

// Both trees, read and merged as described at the top. Policy.dir is
// sources.policy_dir as given, Policy.authbind_dir the authbind tree's
// absolute path when one was merged. A problem in either tree that refuses a
// tree refuses the policy; a disabled entry costs that entry only.
Result<Policy> load_policy(const PolicySources& sources, const TreeOptions& options = {});

// The merge alone, without I/O: `lower` is the authbind tree read on its own
// (origins relative to it), `lower_root` its absolute path. Entries of
// `lower` whose file `upper` also has are dropped (Policy.shadowed names
// them); the rest are renamed to their absolute path and joined, in the order
// load_policy sorts. Settings and reservations are `upper`'s.
Policy merge_policies(Policy upper, Policy lower, const std::string& lower_root);

// The tree an entry of `policy` was read from: its authbind_dir for an
// entry named by absolute path, else its dir.
const std::string& tree_of(const Policy& policy, const Origin& origin);

// Two reservations overlap when they have the same protocol, intersecting
// port ranges and the same address (or both no address). A reservation on
// one address layered over a wildcard one is fine. Returns an error naming
// both entries (paths under `root`, the policy dir as given) for the first
// overlap in sorted order, or success.
Status check_reservation_overlaps(const std::string& root, const std::vector<Reservation>& reservations);

}  // namespace portauth
