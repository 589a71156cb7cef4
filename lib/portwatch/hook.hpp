// The alert hook (--exec): `/bin/sh -c COMMAND` with PORTWATCH_* variables,
// run asynchronously so that no hook can hold up the daemon's loop.
//
// Each run is its own process: started with Boost.Process (v1, Boost 1.74:
// Debian 12's libboost-dev), whose exec-setup hook gives the child the
// default signal mask and dispositions (the daemon blocks SIGTERM, SIGINT and
// SIGHUP for its signalfd), its own process group, stdin from /dev/null and
// stdout+stderr into a pipe that the runner reads, capped at
// kHookOutputBytes. It is waited for through a pidfd (never Boost's
// wait_for, buggy in 1.74; the boost::process::child is detached at once, so
// its destructor neither kills nor reaps). The leader is reaped only once
// its group is dealt with, so the group's id cannot be reused meanwhile.
//
// At the timeout the whole group gets SIGTERM, then SIGKILL
// kHookKillGraceMs later; when the leader exits, what is left of its group
// is killed too: a hook's processes end with the hook.
//
// Runs are keyed (one key per squat or refusal key): at most one pending run
// per key, and a key's later submissions add their counts to it; at most
// max_running hooks at once; at most max_queued pending runs, others are
// dropped and counted.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

#include "common/fd.hpp"
#include "common/result.hpp"

namespace portauth::watch {

inline constexpr size_t kHookOutputBytes = 4096;
inline constexpr int kHookKillGraceMs = 300;
inline constexpr int kMaxRunningHooks = 4;
inline constexpr size_t kMaxQueuedHooks = 256;

struct HookSettings {
    std::string command;
    int timeout_ms = 10000;
    int max_running = kMaxRunningHooks;
    size_t max_queued = kMaxQueuedHooks;
};

// One run that ended.
struct HookFinished {
    std::string key;
    std::string describe;            // what the run was about (for the log)
    std::optional<int> status;       // exit status or 128+signal; unset when it could not start
    std::optional<Error> error;      // could not start
    bool timed_out = false;
    std::string output;              // raw, capped: escape before printing
    bool output_truncated = false;
};

struct HookCounters {
    uint64_t run = 0, dropped = 0, timed_out = 0, failed = 0;
};

class HookRunner {
public:
    using Clock = std::chrono::steady_clock;
    using Env = std::map<std::string, std::string>;

    explicit HookRunner(HookSettings settings);
    ~HookRunner();   // kills what is still running (whole groups) and reaps
    HookRunner(const HookRunner&) = delete;
    HookRunner& operator=(const HookRunner&) = delete;

    // Queues a run for `key` (never blocks). `env` is the run's PORTWATCH_*
    // (escaped already); `count` is added to PORTWATCH_COUNT of the key's
    // pending run. False when the queue was full (counted as dropped).
    bool submit(const std::string& key, Env env, uint64_t count, std::string describe);

    // An epoll fd, readable when a running hook wrote or exited.
    int fd() const { return epoll_.get(); }
    // Does what is due without blocking: reads output, reaps, kills overdue
    // groups, starts queued runs. Appends the runs that ended.
    void service(std::vector<HookFinished>& finished, Clock::time_point now = Clock::now());
    // The next timeout or kill step, if any hook is running.
    std::optional<Clock::time_point> next_deadline() const;
    // For `portwatch scan`: services until nothing runs or is queued.
    void wait_all(std::vector<HookFinished>& finished);
    // At stop: SIGKILL to every running group, reap (bounded), drop the queue.
    void stop();

    bool idle() const { return running_.empty() && queue_.empty(); }
    size_t running() const { return running_.size(); }
    const HookCounters& counters() const { return counters_; }

private:
    struct Pending {
        Env env;
        uint64_t count = 0;
        std::string describe;
    };
    struct Running;
    void start(const std::string& key, Pending p, std::vector<HookFinished>& finished, Clock::time_point now);
    void read_output(Running& r);
    void end(Running& r, std::vector<HookFinished>& finished);

    HookSettings settings_;
    Fd epoll_;
    std::deque<std::string> queue_;               // keys, in order
    std::map<std::string, Pending> pending_;      // by key
    std::vector<std::unique_ptr<Running>> running_;
    std::vector<pid_t> unreaped_;                 // leaders killed but not yet gone
    HookCounters counters_;
};

}  // namespace portauth::watch
