#include "portwatch/actions.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <thread>

#include "portwatch/scanner.hpp"

namespace portauth::watch {

Result<Action> parse_action(std::string_view text) {
    if (text == "log") return Action::log;
    if (text == "destroy") return Action::destroy;
    if (text == "kill") return Action::kill;
    return logic_error("'" + std::string(text) + "': unknown action (log, destroy or kill)");
}

const char* action_name(Action a) {
    switch (a) {
        case Action::log: return "log";
        case Action::destroy: return "destroy";
        case Action::kill: return "kill";
    }
    return "?";
}

namespace {

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int pidfd_send_signal(int fd, int sig) { return static_cast<int>(::syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0)); }

bool has_exited(int pidfd) {
    pollfd p{pidfd, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
}

bool is_kernel_thread(uint32_t pid) {
    // Kernel threads have no executable and an empty command line.
    auto p = read_process(pid);
    return p.exe.empty() && p.cmdline.empty();
}

std::string pid_list(const std::vector<uint32_t>& pids) {
    std::string s = pids.size() == 1 ? "pid" : "pids";
    for (auto p : pids) s += " " + std::to_string(p);
    return s;
}

}  // namespace

KillJob::KillJob(uint64_t inode, const std::vector<uint32_t>& pids, int grace_ms, Clock::time_point now, bool term_first)
    : inode_(inode) {
    std::set<uint32_t> seen;
    std::vector<Target> opened;
    for (uint32_t pid : pids) {
        if (!seen.insert(pid).second) continue;
        const std::string who = "pid " + std::to_string(pid);
        if (pid <= 1) {
            refused_.push_back("refused to signal " + who + " (init)");
            continue;
        }
        if (pid == static_cast<uint32_t>(::getpid())) {
            refused_.push_back("refused to signal " + who + " (portwatch itself)");
            continue;
        }
        Target t;
        t.pid = pid;
        t.pidfd = Fd(pidfd_open(static_cast<pid_t>(pid)));
        if (t.pidfd) opened.push_back(std::move(t));   // else gone already: the final look-up tells
    }
    // With the pidfds held, no pid can be reused for another process that a
    // pidfd would reach: make sure each still holds the socket (one walk of /proc).
    const auto holders = pids_for_inodes({inode});
    const auto it = holders.find(inode);
    for (auto& t : opened) {
        if (it == holders.end() || std::find(it->second.begin(), it->second.end(), t.pid) == it->second.end()) continue;
        if (is_kernel_thread(t.pid)) {
            refused_.push_back("refused to signal pid " + std::to_string(t.pid) + " (a kernel thread)");
            continue;
        }
        targets_.push_back(std::move(t));
    }
    if (!term_first) {
        for (auto& t : targets_) {
            if (pidfd_send_signal(t.pidfd.get(), SIGKILL) == 0) t.killed = true;
            else t.exited = true;   // ESRCH: gone
        }
        phase_ = Phase::kill;
        deadline_ = now + std::chrono::milliseconds(kKillReapMs);
        poll(now);
        return;
    }
    for (auto& t : targets_)
        if (pidfd_send_signal(t.pidfd.get(), SIGTERM) != 0) t.exited = true;   // ESRCH: gone
    deadline_ = now + std::chrono::milliseconds(grace_ms);
    poll(now);
}

bool KillJob::all_exited() {
    bool all = true;
    for (auto& t : targets_) {
        if (!t.exited && has_exited(t.pidfd.get())) t.exited = true;
        all = all && t.exited;
    }
    return all;
}

bool KillJob::poll(Clock::time_point now) {
    if (phase_ == Phase::done) return true;
    const bool all = all_exited();
    if (phase_ == Phase::term) {
        if (all) {
            finish();
            return true;
        }
        if (now < deadline_) return false;
        for (auto& t : targets_) {
            if (t.exited) continue;
            t.killed = true;
            (void)pidfd_send_signal(t.pidfd.get(), SIGKILL);
        }
        phase_ = Phase::kill;
        deadline_ = now + std::chrono::milliseconds(kKillReapMs);
        return false;
    }
    if (all || now >= deadline_) {
        finish();
        return true;
    }
    return false;
}

void KillJob::finish() {
    std::vector<uint32_t> terminated, killed, unkillable;
    for (auto& t : targets_) {
        if (t.exited && !t.killed) terminated.push_back(t.pid);
        else if (t.exited) killed.push_back(t.pid);
        else unkillable.push_back(t.pid);
    }
    std::vector<std::string> parts;
    if (!terminated.empty()) parts.push_back("terminated " + pid_list(terminated));
    if (!killed.empty()) parts.push_back("killed " + pid_list(killed));
    if (!unkillable.empty()) parts.push_back(pid_list(unkillable) + " still alive after SIGKILL");
    for (auto& r : refused_) parts.push_back(r);
    // Who holds the socket now: a child it was handed to, a holder we could not signal.
    const auto holders = pids_for_inodes({inode_});
    const auto it = holders.find(inode_);
    if (it != holders.end() && !it->second.empty()) {
        auto pids = it->second;
        std::sort(pids.begin(), pids.end());
        parts.push_back("still held by " + pid_list(pids) + " after kill");
    } else {
        if (targets_.empty() && refused_.empty()) parts.push_back("no process held the socket any more");
        parts.push_back("the port is free");
    }
    for (auto& p : parts) result_ += (result_.empty() ? "" : "; ") + p;
    targets_.clear();
    phase_ = Phase::done;
}

void run_kill_jobs(std::vector<KillJob>& jobs) {
    for (;;) {
        auto now = KillJob::Clock::now();
        bool all = true;
        auto next = now + std::chrono::milliseconds(20);
        for (auto& j : jobs) {
            if (j.poll(now)) continue;
            all = false;
            next = std::min(next, j.deadline());
        }
        if (all) return;
        // Short naps: the jobs look at their pidfds each time.
        std::this_thread::sleep_until(std::min(next, now + std::chrono::milliseconds(10)));
    }
}

}  // namespace portauth::watch
