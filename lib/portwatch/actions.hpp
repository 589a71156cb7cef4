// What portwatch does about a squatter beyond recording it, the alert hook,
// and the metrics file.
//
//   destroy  SOCK_DESTROY on just that socket (sockdiag.hpp); the process lives.
//   kill     SIGTERM to each holder through a pidfd, SIGKILL after the grace
//            time if it is still there. The pidfd is opened first and the
//            holder re-checked through /proc afterwards, so a recycled pid is
//            never signalled. Never pid 1, a kernel thread, or portwatch itself.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace portauth::watch {

enum class Action { log, destroy, kill };
Result<Action> parse_action(std::string_view text);
const char* action_name(Action a);

inline constexpr int kMaxGraceSeconds = 3600;
inline constexpr int kMaxHookSeconds = 3600;

// Sends SIGTERM, waits up to grace_ms, then SIGKILL. Returns what happened:
// "terminated", "killed", or an error naming the pid.
Result<std::string> kill_holder(uint32_t pid, uint64_t inode, int grace_ms);

// Runs `/bin/sh -c command` with `env` added to portwatch's environment,
// stdin from /dev/null; kills it (SIGKILL) after timeout_ms. The exit status,
// or 128+signal; an error when it could not start or timed out.
Result<int> run_hook(const std::string& command, const std::map<std::string, std::string>& env, int timeout_ms);

struct Metrics {
    uint64_t squatters = 0;
    uint64_t refused_binds_total = 0;
    double scan_duration_seconds = 0;
    uint64_t sockets_scanned = 0;
    bool record_writable = true;        // the last scan's writes to the database worked
    uint64_t record_errors_total = 0;   // failed opens and writes of the database since the start
};
// Prometheus text format, written to PATH.tmp then renamed over PATH.
std::string format_metrics(const Metrics& m);
Status write_metrics(const std::string& path, const Metrics& m);

}  // namespace portauth::watch
