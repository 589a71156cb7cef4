// `portauth [--deep] PROGRAM...`: the authbind-style adverb. The kernel applies
// grants to every process in the governed cgroup, so there is nothing to
// inject: check that enforcement really covers this process, then exec.
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "commands.hpp"
#include "engine/engine.hpp"
#include "engine/system.hpp"
#include "output.hpp"

namespace portauth::cli {

namespace {

// Is `cgroup` (absolute, under the cgroup2 mount) this process's cgroup or an ancestor of it?
Result<bool> covers_this_process(const std::string& cgroup) {
    auto mount = find_cgroup2_mount();
    if (!mount) return mount.error();
    auto mine = current_cgroup();
    if (!mine) return mine.error();
    std::string here = *mount + (*mine == "/" ? "" : *mine);
    if (here == cgroup) return true;
    std::string prefix = cgroup.back() == '/' ? cgroup : cgroup + "/";
    return here.rfind(prefix, 0) == 0;
}

}  // namespace

// What is enforced: from the pins when we may read them (root), else from the
// state file apply leaves in /run/portauth for everyone to read.
Result<EnforcementState> enforced(const std::string& pin_dir) {
    auto st = engine_status(pin_dir);
    if (st) {
        if (!st->active) return logic_error("port grants are not enforced: " + st->problem + "; run 'portauth apply' first");
        return EnforcementState{pin_dir, st->cgroup, st->policy_dir, st->netns_cookie, st->generation};
    }
    auto state = read_state(pin_dir);
    if (!state) {
        if (state.error().err == ENOENT)
            return logic_error("port grants are not enforced: no policy is applied at " + pin_dir + " (" +
                               state_file_for(pin_dir) + " is missing); run 'portauth apply' first");
        return state.error();
    }
    return state;
}

int run_adverb(const AdverbOptions& o) {
    auto st = enforced(o.pin_dir);
    if (!st) {
        report_error(st.error());
        return kExitFailure;
    }
    auto covered = covers_this_process(st->cgroup);
    if (!covered) {
        report_error(covered.error());
        return kExitFailure;
    }
    if (!*covered) {
        spdlog::error("port grants are enforced for cgroup {}, which does not contain this process", st->cgroup);
        return kExitFailure;
    }
    auto cookie = current_netns_cookie();
    if (cookie && st->netns_cookie && *cookie != st->netns_cookie) {
        spdlog::error("port grants are enforced in another network namespace than this process's");
        return kExitFailure;
    }
    std::vector<char*> argv;
    for (const auto& a : o.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    const int e = errno;
    spdlog::error("cannot run '{}': {}", o.argv[0], std::strerror(e));
    return e == ENOENT ? kExitNotFound : kExitNotExecutable;
}

}  // namespace portauth::cli
