#include "portwatch/actions.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <set>
#include <vector>

#include "common/fd.hpp"
#include "portwatch/scanner.hpp"

extern char** environ;

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

// Waits until the process behind the pidfd exits; true when it did.
bool wait_exit(int pidfd, int timeout_ms) {
    pollfd p{pidfd, POLLIN, 0};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        if (left < 0) left = 0;
        int n = ::poll(&p, 1, static_cast<int>(left));
        if (n > 0) return true;
        if (n == 0) return false;
        if (errno != EINTR) return false;
    }
}

bool is_kernel_thread(uint32_t pid) {
    // Kernel threads have no executable and an empty command line.
    auto p = read_process(pid);
    return p.exe.empty() && p.cmdline.empty();
}

}  // namespace

Result<std::string> kill_holder(uint32_t pid, uint64_t inode, int grace_ms) {
    const std::string who = "pid " + std::to_string(pid);
    if (pid <= 1) return logic_error("refusing to signal " + who + " (init)");
    if (pid == static_cast<uint32_t>(getpid())) return logic_error("refusing to signal " + who + " (portwatch itself)");
    Fd fd(pidfd_open(static_cast<pid_t>(pid)));
    if (!fd) return sys_error("cannot open a pidfd for " + who);
    // With the pidfd held, the pid cannot be reused for another process that
    // the pidfd would reach; make sure it is still the holder of the socket.
    auto holders = pids_for_inodes({inode});
    const auto& pids = holders[inode];
    if (std::find(pids.begin(), pids.end(), pid) == pids.end()) return logic_error(who + " no longer holds the socket");
    if (is_kernel_thread(pid)) return logic_error("refusing to signal " + who + " (a kernel thread)");
    if (pidfd_send_signal(fd.get(), SIGTERM) != 0) {
        if (errno == ESRCH) return std::string("gone");
        return sys_error("cannot send SIGTERM to " + who);
    }
    if (wait_exit(fd.get(), grace_ms)) return std::string("terminated");
    if (pidfd_send_signal(fd.get(), SIGKILL) != 0 && errno != ESRCH) return sys_error("cannot send SIGKILL to " + who);
    wait_exit(fd.get(), 5000);
    return std::string("killed");
}

Result<int> run_hook(const std::string& command, const std::map<std::string, std::string>& env, int timeout_ms) {
    // Build everything the child needs before fork: only async-signal-safe calls after it.
    std::vector<std::string> vars;
    std::set<std::string> ours;
    for (const auto& [k, v] : env) {
        vars.push_back(k);
        vars.back().append("=").append(v);
        ours.insert(k);
    }
    for (char** e = environ; e && *e; ++e) {
        std::string_view kv(*e);
        if (!ours.count(std::string(kv.substr(0, kv.find('='))))) vars.emplace_back(kv);
    }
    std::vector<char*> envp;
    envp.reserve(vars.size() + 1);
    for (auto& v : vars) envp.push_back(v.data());
    envp.push_back(nullptr);
    const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
    Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    pid_t pid = ::fork();
    if (pid < 0) return sys_error("cannot start the hook '" + command + "'");
    if (pid == 0) {
        if (devnull) ::dup2(devnull.get(), 0);
        ::execve(argv[0], const_cast<char* const*>(argv), envp.data());
        ::_exit(127);
    }
    Fd fd(pidfd_open(pid));
    bool exited = fd ? wait_exit(fd.get(), timeout_ms) : true;
    if (!exited) ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!exited) return logic_error("the hook '" + command + "' took longer than " + std::to_string(timeout_ms) + " ms and was killed");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string format_metrics(const Metrics& m) {
    char dur[64];
    (void)std::snprintf(dur, sizeof dur, "%.6f", m.scan_duration_seconds);
    std::string out;
    out += "# HELP portwatch_squatters Sockets holding a reserved port against the policy, at the last scan.\n";
    out += "# TYPE portwatch_squatters gauge\n";
    out += "portwatch_squatters " + std::to_string(m.squatters) + "\n";
    out += "# HELP portwatch_refused_binds_total Binds the kernel refused, seen since portwatch started.\n";
    out += "# TYPE portwatch_refused_binds_total counter\n";
    out += "portwatch_refused_binds_total " + std::to_string(m.refused_binds_total) + "\n";
    out += "# HELP portwatch_scan_duration_seconds How long the last scan took.\n";
    out += "# TYPE portwatch_scan_duration_seconds gauge\n";
    out += std::string("portwatch_scan_duration_seconds ") + dur + "\n";
    out += "# HELP portwatch_sockets_scanned Sockets on reserved ports the last scan looked at.\n";
    out += "# TYPE portwatch_sockets_scanned gauge\n";
    out += "portwatch_sockets_scanned " + std::to_string(m.sockets_scanned) + "\n";
    out += "# HELP portwatch_record_writable 1 when the last scan could write to the database, 0 when events are only logged.\n";
    out += "# TYPE portwatch_record_writable gauge\n";
    out += std::string("portwatch_record_writable ") + (m.record_writable ? "1" : "0") + "\n";
    out += "# HELP portwatch_record_errors_total Failed opens and writes of the database since portwatch started.\n";
    out += "# TYPE portwatch_record_errors_total counter\n";
    out += "portwatch_record_errors_total " + std::to_string(m.record_errors_total) + "\n";
    return out;
}

Status write_metrics(const std::string& path, const Metrics& m) {
    const std::string tmp = path + ".tmp";
    const std::string text = format_metrics(m);
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) return sys_error("cannot write '" + tmp + "'");
    size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return sys_error("cannot write '" + tmp + "'");
        }
        done += static_cast<size_t>(n);
    }
    if (::close(fd.release()) != 0) return sys_error("cannot write '" + tmp + "'");
    if (::rename(tmp.c_str(), path.c_str()) != 0) return sys_error("cannot rename '" + tmp + "' to '" + path + "'");
    return {};
}

}  // namespace portauth::watch
