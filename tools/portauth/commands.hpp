// portauth's and portreserve's subcommands: one file each (cmd_*.cpp). main
// parses the command line into these structs and calls run_*; each returns
// the process exit status.
//
// Exit statuses (stable, documented in portauth(8)):
//   0   done; check: allowed; status: active
//   1   a negative answer: check: refused; status: not active
//   2   apply (and the edits that re-apply): applied, with entries disabled
//       (entries someone other than root can change fail closed; each is named)
//   100 usage error
//   111 failure: a policy refused (the previous one stays, or, when nothing was
//       enforced, the last good policy is loaded in its place), a system call failed
//   126 adverb: PROGRAM is not executable;  127: PROGRAM not found
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/engine.hpp"
#include "policy/model.hpp"
#include "policy/snapshot.hpp"
#include "policy/tree.hpp"
#include "policy/who.hpp"

namespace portauth {
class Palette;
}  // namespace portauth

namespace portauth::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitNo = 1;
inline constexpr int kExitApplyDisabled = 2;
inline constexpr int kExitUsage = 100;
inline constexpr int kExitFailure = 111;
inline constexpr int kExitNotExecutable = 126;
inline constexpr int kExitNotFound = 127;

struct Common {
    std::string policy_dir;   // filled with the default when not given
    std::optional<std::string> authbind_dir;   // --authbind-dir; unset: default_authbind_dir(policy_dir)
    std::string pin_dir;
    bool json = false;
};

// The trees the command reads its policy from (policy/tree.hpp).
inline PolicySources sources_of(const Common& c) {
    return {c.policy_dir, c.authbind_dir ? *c.authbind_dir : default_authbind_dir(c.policy_dir)};
}

struct ApplyOptions {
    Common common;
    std::optional<std::string> cgroup;
    bool no_fallback = false;   // a refused tree with nothing enforced: load nothing, not the last good policy
};

struct CheckOptions {
    Common common;
    bool tree = false;          // answer from the files now, not from the enforced policy
    std::optional<std::string> user;
    std::vector<std::string> groups;
    std::string spec;
    bool v6only = false;        // ask as an IPV6_V6ONLY socket (IPv6 addresses only)
};

struct EditOptions {
    Common common;
    std::string spec;
    std::vector<std::string> principals;
    bool no_apply = false;
};

struct AdverbOptions {
    std::string pin_dir;
    std::vector<std::string> argv;   // PROGRAM ARGS...
};

int run_apply(const ApplyOptions&);
int run_status(const Common&);
int run_unload(const Common&);
int run_check(const CheckOptions&);
int run_allow(const EditOptions&);
int run_revoke(const EditOptions&);
int run_list(const Common&);
int run_adverb(const AdverbOptions&);

int run_reserve_add(const EditOptions&);
int run_reserve_release(const EditOptions&);
int run_reserve_list(const Common&);

// Shared by the edit commands: re-apply when the engine at common.pin_dir
// enforces common.policy_dir (the edit takes effect at once).
int reapply_after_edit(const Common&, const char* tool);

using portauth::default_pin_dir;   // engine/engine.hpp

// What the commands print, without I/O (for them and their tests). Text is for
// people: aligned, coloured through `palette`; JSON is stable (docs/json.md).
// What the files say now next to what is enforced: status compares the tree
// with the last good policy (engine/last_good.hpp) the enforced one came from.
struct TreeComparison {
    enum class State { unknown, unchanged, changed, refused };
    State state = State::unknown;
    std::string detail;                   // refused: why; unknown: why it could not be compared
    PolicyDrift drift;                    // changed: entry by entry (empty when only the hash is known)
    std::vector<DisabledEntry> disabled;  // entries the enforced policy holds closed
};
TreeComparison compare_tree(const EngineStatus&, const std::string& pin_dir);   // reads files
const char* tree_state_name(TreeComparison::State);
std::string format_status_json(const EngineStatus&, const std::string& pin_dir, const TreeComparison* tree = nullptr);
std::string format_status_text(const EngineStatus&, const std::string& pin_dir, const Palette& palette,
                               const TreeComparison* tree = nullptr);
// The rows of `list`: an entry, who it lets through, and why it is disabled
// when it is (lib/policy/model.hpp, DisabledEntry: it fails closed - a grant
// lets nobody through, a reservation is root's only - and `who` says so).
struct EntryRow {
    std::string entry;
    std::vector<Who> who;                     // policy/who.hpp, describe_access
    std::optional<std::string> disabled_reason = std::nullopt;
    std::vector<Who> excluded = {};           // policy/who.hpp, describe_exclusions
    std::string tree = {};                    // the directory the entry is in (policy/tree.hpp, tree_of)
};
using EntryRows = std::vector<EntryRow>;
std::string format_entries_json(const EntryRows& rows);
// `show_tree`: a TREE column (when an authbind tree is merged in).
std::string format_entries_text(const EntryRows& rows, const char* tool, const char* what, const Palette& palette,
                                bool show_tree = false);

}  // namespace portauth::cli
