// portwatch run: the daemon. One epoll loop over
//   a signalfd   SIGTERM/SIGINT stop (exit 0), SIGHUP reloads the policy;
//   an inotify   on the policy dir and every dir below it: reload on change
//                (after a short quiet time, so an edit of several files is one reload);
//   a timerfd    scan every --interval (an absolute schedule: its lateness is the loop lag);
//   the ring buffer of refused binds (when enforcement is active at --pin-dir;
//                retried at every scan until it is);
//   the hook runner's epoll fd (hook.hpp) and the kill jobs' deadlines (actions.hpp).
//
// Bounded work whatever the watched processes do: every wakeup serves the
// signals, the scan timer and a due reload first, whatever woke it; the ring
// buffer is read kEventBudget records at a time and for at most kEventSliceMs
// per wakeup; refusals are folded in memory (aggregate.hpp) and written in one
// batch at most every kFlushMs and at stop; hooks and kills never block the
// loop. SIGTERM is obeyed within a second: the pending refusals are written,
// running hooks are killed with their groups, kill jobs are left as they are.
//
// The database: a damaged one (or another program's) stops the daemon at
// startup. One that cannot be written - at startup or later - does not: the
// daemon says so once, keeps watching and logging, tries again at every scan
// (opening it anew when it could not be opened), and says when it can write
// again.
#pragma once

#include "portwatch/options.hpp"
#include "portwatch/hook.hpp"
#include "portwatch/watcher.hpp"

namespace portauth::watch {

inline constexpr int kEventBudget = 4096;
inline constexpr int kEventSliceMs = 20;
inline constexpr int kFlushMs = 1000;

// The whole daemon; returns the exit status (options.hpp).
int run_watch_daemon(const RunOptions& options, WatchLog& log);

class EventBudget;
// Shared by scan and run: one event (journal_events.hpp) per new squat and per
// action result that changed, within `budget` when there is one.
void log_pass(const PassOutcome& pass, WatchLog& log, EventBudget* budget = nullptr);
// One line per hook run that failed, timed out or printed something (escaped).
void log_hook(const HookFinished& f, WatchLog& log);
// The database's options for scan and run.
OpenOptions write_options(const WatchSettings& s, bool check_integrity);

}  // namespace portauth::watch
