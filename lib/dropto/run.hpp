// dropto's one job: become USER[:GROUP] for good, then exec the rest of the command line.
//
// Order (see dropto(1)):
//   1. refuse to run setuid/setgid or with AT_SECURE: dropto must never grant privilege;
//   2. resolve everything (user, group, supplementary groups) before changing anything;
//   3. a non-root caller may only "drop" to exactly its own identity (a plain exec);
//   4. --setsid; --clear-bounding-set;
//   5. setgroups, setresgid + setfsgid, setresuid + setfsuid; then, for a non-root
//      target, clear the ambient set and capset() the rest to empty;
//   6. verify: ids and groups are what was asked, root cannot be regained, no
//      capability is left; --no-new-privs, and verify it;
//   7. warn about a terminal the new user could push keystrokes into (TIOCSTI);
//   8. HOME, USER, LOGNAME; every descriptor dropto opened made close-on-exec;
//   9. execvp.
// A failure at any step returns before the next one: nothing runs half-dropped.
#pragma once

#include <functional>
#include <string>

#include "common/result.hpp"
#include "dropto/options.hpp"
#include "dropto/syscalls.hpp"
#include "common/user_database.hpp"

namespace portauth::dropto {

// Stable, documented in dropto(1). The s6/execline convention.
enum ExitCode : int {
    exit_usage = 100,        // bad usage, unknown user or group, or a refusal
    exit_syscall = 111,      // a system call or a verification failed
    exit_cannot_exec = 126,  // PROGRAM found but not executable
    exit_not_found = 127,    // PROGRAM not found
};

struct Failure {
    int exit_code = exit_syscall;
    Error error;
};

// Receives one-line warnings ("warning: ..."); the tool prefixes and prints them.
using WarningSink = std::function<void(const std::string&)>;

// Returns only if something failed; on success the process is PROGRAM.
Failure run(const Options& options, Syscalls& sys, UserDatabase& db, const WarningSink& warn);

}  // namespace portauth::dropto
