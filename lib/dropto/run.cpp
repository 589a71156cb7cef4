#include "dropto/run.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <vector>

#include "dropto/identity.hpp"

namespace portauth::dropto {

namespace {

Failure usage(std::string what) { return Failure{exit_usage, logic_error(std::move(what))}; }

// A failed call: keep its errno, name the call and who it was for.
Failure call_failed(const Error& error, const std::string& who) {
    return Failure{exit_syscall, Error{error.err, error.what + " for " + who}};
}

Failure verification_failed(const std::string& who, const std::string& what) {
    return Failure{exit_syscall, logic_error("verification failed for " + who + ": " + what)};
}

std::string ids_text(const IdTriple& ids) {
    return std::to_string(ids.real) + "/" + std::to_string(ids.effective) + "/" +
           std::to_string(ids.saved);
}

std::string groups_text(const std::vector<uint32_t>& groups) {
    if (groups.empty()) return "none";
    std::string text;
    for (auto gid : groups) text += (text.empty() ? "" : ",") + std::to_string(gid);
    return text;
}

std::string hex(uint64_t value) {
    char buffer[19];
    std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(value));
    return buffer;
}

std::vector<uint32_t> sorted_unique(std::vector<uint32_t> ids) {
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
}

// Step 1: dropto must never grant privilege, so any sign of a setuid/setgid or
// file-capability exec (mixed ids, AT_SECURE) makes it refuse before doing anything.
std::optional<Failure> refuse_elevated(Syscalls& sys, const IdTriple& uids, const IdTriple& gids) {
    const bool mixed_uids = uids.real != uids.effective || uids.real != uids.saved;
    const bool mixed_gids = gids.real != gids.effective || gids.real != gids.saved;
    const bool secure = sys.secure_execution();
    if (!mixed_uids && !mixed_gids && !secure) return std::nullopt;
    return usage("refusing to run: real/effective/saved uid " + ids_text(uids) + ", gid " +
                 ids_text(gids) + (secure ? ", AT_SECURE set" : "") +
                 "; dropto must not be installed setuid, setgid or with file capabilities");
}

// Step 3: without root, only the current identity is reachable.
std::optional<Failure> refuse_unprivileged_change(const Identity& id, const IdTriple& uids,
                                                  const IdTriple& gids,
                                                  const std::vector<uint32_t>& current_groups) {
    const std::string prefix = "not running as root (uid " + std::to_string(uids.real) + "): ";
    if (id.uid != uids.real)
        return usage(prefix + "cannot become " + id.describe_user() +
                     "; only dropping to the current identity is allowed");
    if (id.gid != gids.real)
        return usage(prefix + "cannot change the group from gid " + std::to_string(gids.real) +
                     " to " + id.describe_group());
    if (id.groups != current_groups)
        return usage(prefix + "cannot change the supplementary groups from " +
                     groups_text(current_groups) + " to " + groups_text(id.groups));
    return std::nullopt;
}

// --setsid. setsid(2) fails with EPERM for a process group leader. A leader that has
// no controlling terminal already has what --setsid is for (nothing to push keystrokes
// into, and no way to acquire root's terminal), so that is accepted. A leader that has
// one - an interactive shell's job - cannot shed it without forking, and an adverb
// keeps its pid, so that is an error with a way out.
std::optional<Failure> start_session(Syscalls& sys) {
    auto started = sys.setsid();
    if (started) return std::nullopt;
    if (started.error().err != EPERM) return Failure{exit_syscall, started.error()};
    auto tty = sys.has_controlling_terminal();
    if (!tty) return Failure{exit_syscall, tty.error()};
    if (!*tty) return std::nullopt;
    return Failure{exit_syscall,
                   Error{EPERM, "setsid: dropto leads a process group that has a controlling "
                                "terminal (a job of an interactive shell?); run it as "
                                "'setsid --fork --wait dropto ...' instead"}};
}

// Step 5.
std::optional<Failure> change_credentials(const Identity& id, Syscalls& sys) {
    const std::string user = id.describe_user();
    const std::string group = id.describe_group();

    if (auto r = sys.setgroups(id.groups); !r) return call_failed(r.error(), user);

    if (auto r = sys.setresgid(id.gid, id.gid, id.gid); !r) return call_failed(r.error(), group);
    sys.setfsgid(id.gid);  // follows the egid already; set it anyway, checked below

    if (auto r = sys.setresuid(id.uid, id.uid, id.uid); !r) return call_failed(r.error(), user);
    sys.setfsuid(id.uid);

    if (id.uid != 0) {
        // The kernel clears these on the uid change unless securebits say otherwise
        // (SECBIT_NO_SETUID_FIXUP, SECBIT_KEEP_CAPS): do not depend on it. The inheritable
        // set goes too: with a file's inheritable set it would grant capabilities on exec.
        if (auto r = sys.clear_ambient_capabilities(); !r) return call_failed(r.error(), user);
        if (auto r = sys.clear_capabilities(); !r) return call_failed(r.error(), user);
    }
    return std::nullopt;
}

// Step 6: trust, but verify.
std::optional<Failure> verify_credentials(const Identity& id, Syscalls& sys) {
    const std::string user = id.describe_user();
    const IdTriple want_uids{id.uid, id.uid, id.uid};
    const IdTriple want_gids{id.gid, id.gid, id.gid};

    if (auto uids = sys.getresuid(); uids != want_uids)
        return verification_failed(user, "real/effective/saved uid is " + ids_text(uids));
    if (auto fsuid = sys.setfsuid(kQueryId); fsuid != id.uid)
        return verification_failed(user, "filesystem uid is " + std::to_string(fsuid));
    if (auto gids = sys.getresgid(); gids != want_gids)
        return verification_failed(user, "real/effective/saved gid is " + ids_text(gids));
    if (auto fsgid = sys.setfsgid(kQueryId); fsgid != id.gid)
        return verification_failed(user, "filesystem gid is " + std::to_string(fsgid));
    auto groups = sys.getgroups();
    if (!groups) return call_failed(groups.error(), user);
    if (sorted_unique(*groups) != id.groups)
        return verification_failed(user, "supplementary groups are " + groups_text(*groups) +
                                             ", not " + groups_text(id.groups));

    if (id.uid == 0) return std::nullopt;  // dropping to root keeps root's powers

    // Root must be out of reach. Each of these needs CAP_SETUID or CAP_SETGID now.
    if (sys.setresuid(0, 0, 0))
        return verification_failed(user, "setresuid(0, 0, 0) succeeded; root could be regained");
    sys.setfsuid(0);
    if (auto fsuid = sys.setfsuid(kQueryId); fsuid != id.uid)
        return verification_failed(user, "setfsuid(0) succeeded; root could be regained");
    if (id.gid != 0 && sys.setresgid(0, 0, 0))
        return verification_failed(user, "setresgid(0, 0, 0) succeeded");
    if (sys.setgroups(id.groups))
        return verification_failed(user, "setgroups succeeded; CAP_SETGID is still held");

    auto caps = sys.capabilities();
    if (!caps) return call_failed(caps.error(), user);
    if (caps->permitted || caps->effective || caps->inheritable || caps->ambient)
        return verification_failed(user, "capabilities are left: permitted " + hex(caps->permitted) +
                                             ", effective " + hex(caps->effective) +
                                             ", inheritable " + hex(caps->inheritable) +
                                             ", ambient " + hex(caps->ambient));
    return std::nullopt;
}

// Step 7. TIOCSTI on a terminal that is still the controlling terminal of root's
// session lets the new user type commands into it (CVE-2016-2779).
bool tiocsti_allowed(Syscalls& sys) {
    auto setting = sys.read_file("/proc/sys/dev/tty/legacy_tiocsti");
    if (!setting) return true;  // absent: a kernel older than 6.2, which always allows it
    return setting->empty() || setting->front() != '0';
}

void warn_about_terminal(const Identity& id, Syscalls& sys, const WarningSink& warn) {
    for (int fd = 0; fd <= 2; ++fd) {
        if (!sys.isatty(fd)) continue;
        if (tiocsti_allowed(sys) && warn)
            warn("warning: fd " + std::to_string(fd) + " is a terminal " + id.describe_user() +
                 " could push keystrokes into (TIOCSTI, CVE-2016-2779); use --setsid");
        return;
    }
}

}  // namespace

Failure run(const Options& options, Syscalls& sys, UserDatabase& db, const WarningSink& warn) {
    const IdTriple uids = sys.getresuid();
    const IdTriple gids = sys.getresgid();
    if (auto refused = refuse_elevated(sys, uids, gids)) return *refused;

    // What was open before dropto opened anything belongs to the caller and is passed
    // through untouched. Without /proc there is no list; dropto's own descriptors are
    // all O_CLOEXEC, the list only catches a library (an NSS module) that forgot.
    auto inherited_fds = sys.open_fds();

    if (options.command.empty()) return usage("missing PROGRAM");
    auto target = parse_target(options.target);
    if (!target) return Failure{exit_usage, target.error()};
    auto resolved = resolve_identity(*target, options.groups_source, options.groups, db);
    if (!resolved)
        return Failure{resolved.error().err == 0 ? exit_usage : exit_syscall, resolved.error()};
    const Identity& id = *resolved;

    auto current_groups = sys.getgroups();
    if (!current_groups) return Failure{exit_syscall, current_groups.error()};
    const bool privileged = uids.real == 0;
    if (!privileged) {
        if (auto refused = refuse_unprivileged_change(id, uids, gids, sorted_unique(*current_groups)))
            return *refused;
    }

    if (options.setsid) {
        if (auto failed = start_session(sys)) return *failed;
    }
    if (options.clear_bounding_set) {
        if (auto r = sys.clear_bounding_set(); !r) return call_failed(r.error(), id.describe_user());
    }

    if (privileged) {
        if (auto failed = change_credentials(id, sys)) return *failed;
        if (auto failed = verify_credentials(id, sys)) return *failed;
    }
    if (options.clear_bounding_set) {
        auto caps = sys.capabilities();
        if (!caps) return call_failed(caps.error(), id.describe_user());
        if (caps->bounding != 0)
            return verification_failed(id.describe_user(), "bounding set is " + hex(caps->bounding));
    }
    if (options.no_new_privs) {
        if (auto r = sys.set_no_new_privs(); !r) return call_failed(r.error(), id.describe_user());
        auto set = sys.no_new_privs();
        if (!set) return call_failed(set.error(), id.describe_user());
        if (!*set) return verification_failed(id.describe_user(), "no_new_privs is not set");
    }

    if (!options.setsid && id.uid != uids.real) warn_about_terminal(id, sys, warn);

    if (!options.keep_env) {
        for (const auto& [name, value] : {std::pair<std::string, std::string>{"HOME", id.home},
                                          {"USER", id.login_name()},
                                          {"LOGNAME", id.login_name()}}) {
            if (auto r = sys.setenv(name, value); !r) return Failure{exit_syscall, r.error()};
        }
    }

    if (inherited_fds) {
        auto now = sys.open_fds();
        if (!now) return Failure{exit_syscall, now.error()};
        for (int fd : *now) {
            if (std::find(inherited_fds->begin(), inherited_fds->end(), fd) != inherited_fds->end())
                continue;
            if (auto r = sys.set_cloexec(fd); !r) return Failure{exit_syscall, r.error()};
        }
    }

    const int err = sys.execvp(options.command);
    const std::string what = "cannot execute '" + options.command.front() + "'";
    if (err == ENOENT || err == ENOTDIR) return Failure{exit_not_found, Error{err, what}};
    return Failure{exit_cannot_exec, Error{err, what}};
}

}  // namespace portauth::dropto
