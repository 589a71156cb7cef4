// `portauth [--deep] PROGRAM...`: the authbind-style adverb. The kernel applies
// grants to every process in the governed cgroup, so there is nothing to
// inject: check that enforcement really covers this process, then exec.
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "commands.hpp"
#include "engine/engine.hpp"
#include "engine/netns.hpp"
#include "engine/system.hpp"
#include "output.hpp"

namespace portauth::cli {

namespace {

// Is `cgroup` (absolute, under the cgroup2 mount) this process's cgroup or an ancestor of it?
Result<bool> covers_this_process(const std::string& cgroup) {
    auto mine = current_cgroup();
    if (!mine) return mine.error();
    auto covers = [&](const std::string& mount) {
        const std::string here = mount + (*mine == "/" ? "" : *mine);
        const std::string prefix = cgroup.back() == '/' ? cgroup : cgroup + "/";
        return here == cgroup || here.rfind(prefix, 0) == 0;
    };
    if (auto mount = find_cgroup2_mount()) return covers(*mount);
    // A fresh /sys (ip netns exec) has no cgroup2 mount: the hierarchy is
    // where apply saw it, at one of its usual places.
    for (const char* usual : {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"})
        if (cgroup.rfind(usual, 0) == 0 && (cgroup.size() == std::strlen(usual) || cgroup[std::strlen(usual)] == '/'))
            return covers(usual);
    return find_cgroup2_mount().error();
}

}  // namespace

// What is enforced: from the pins when we may read them (root), else from the
// state file apply leaves in /run/portauth for everyone to read.
Result<EnforcementState> enforced(const std::string& pin_dir) {
    // Pins out of sight (a fresh /sys under 'ip netns exec', where the
    // adverb does not join the host's mount namespace): the state file speaks.
    const auto slash = pin_dir.find_last_of('/');
    const bool pins_visible = is_on_bpffs(pin_dir) || (slash != std::string::npos && is_on_bpffs(pin_dir.substr(0, slash)));
    auto st = pins_visible ? engine_status(pin_dir) : Result<EngineStatus>(logic_error("the pins are out of sight"));
    if (st) {
        if (!st->active) return logic_error("port grants are not enforced: " + st->problem + "; run 'portauth apply' first");
        return EnforcementState{pin_dir, st->cgroup, st->policy_dir, st->netns_cookie, st->generation};
    }
    auto state = read_state(pin_dir);
    // Not root in a network namespace of its own, this process cannot tell
    // that it is not the host's and asks for the host's pins: the state of
    // this namespace's own pins (default_pin_dir) is the one that speaks.
    if (state && pin_dir == kDefaultPinDir) {
        auto cookie = current_netns_cookie();
        auto ino = current_netns_inode();
        if (cookie && ino && state->netns_cookie != *cookie)
            if (auto own = read_state(std::string(kDefaultPinDir) + "-net" + std::to_string(*ino))) return own;
    }
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
