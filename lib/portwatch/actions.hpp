// What portwatch does about a squatter beyond recording it.
//
//   destroy  SOCK_DESTROY on just that socket (sockdiag.hpp); the process lives.
//   kill     SIGTERM to every holder of the socket at once, through pidfds;
//            after one grace period for all of them, SIGKILL to the survivors;
//            then the socket's inode is looked up again in /proc, so a holder
//            that forked and handed the socket to its child is found (and is
//            dealt with at the next round: every scan acts again while the
//            squat persists, and a squat that outlived a kill gets SIGKILL
//            at once, no SIGTERM to answer by forking again). The pidfd is
//            opened first and the holder re-checked through /proc afterwards,
//            so a recycled pid is never signalled. Never pid 1, a kernel
//            thread, or portwatch itself.
//
// A KillJob never blocks: the daemon drives it from its loop's timer
// (poll(), deadline()); `portwatch scan` waits for its jobs (kill_holders).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.hpp"
#include "common/result.hpp"
#include "portwatch/metrics.hpp"   // Metrics, write_metrics (they lived here once)

namespace portauth::watch {

enum class Action { log, destroy, kill };
Result<Action> parse_action(std::string_view text);
const char* action_name(Action a);

inline constexpr int kMaxGraceSeconds = 3600;
inline constexpr int kMaxHookSeconds = 3600;
inline constexpr int kKillReapMs = 500;   // after SIGKILL: how long to wait for the holders to be gone

class KillJob {
public:
    using Clock = std::chrono::steady_clock;

    // Checks every pid (still a holder of `inode`, not pid 1, a kernel thread
    // or portwatch) and sends SIGTERM to those that pass, all at once. With
    // `term_first` false they get SIGKILL at once and `grace_ms` is not used:
    // for a squat that outlived a kill (a holder that answers SIGTERM by
    // handing the socket to a child would win every race against a SIGKILL
    // that follows the SIGTERM).
    KillJob(uint64_t inode, const std::vector<uint32_t>& pids, int grace_ms, Clock::time_point now = Clock::now(),
            bool term_first = true);
    KillJob(KillJob&&) noexcept = default;
    KillJob& operator=(KillJob&&) noexcept = default;

    // Moves the job on: SIGKILL once the grace has passed with holders left,
    // the final look-up once all are gone or the reap time has passed. True when done.
    bool poll(Clock::time_point now = Clock::now());
    bool done() const { return phase_ == Phase::done; }
    // When poll() next has something to do (meaningless once done).
    Clock::time_point deadline() const { return deadline_; }
    // What really happened, e.g. "terminated pid 12 13; still held by pid 14
    // after kill" or "killed pid 12; the port is free". Set once done.
    const std::string& result() const { return result_; }
    uint64_t inode() const { return inode_; }

private:
    enum class Phase { term, kill, done };
    struct Target {
        uint32_t pid = 0;
        Fd pidfd;
        bool exited = false;
        bool killed = false;   // needed SIGKILL
    };
    void finish();
    bool all_exited();

    uint64_t inode_ = 0;
    std::vector<Target> targets_;
    std::vector<std::string> refused_;   // "refusing to signal pid 1 (init)"...
    Phase phase_ = Phase::term;
    Clock::time_point deadline_;
    std::string result_;
};

// The blocking form, for `portwatch scan`: runs every job to its end, in
// parallel (one grace for all).
void run_kill_jobs(std::vector<KillJob>& jobs);

}  // namespace portauth::watch
