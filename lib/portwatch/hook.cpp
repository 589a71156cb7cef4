#include "portwatch/hook.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/process/args.hpp>
#include <boost/process/child.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/io.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace bp = boost::process;

namespace portauth::watch {

namespace {

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

void watch(int epoll, int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    (void)epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev);
}

int status_of(const siginfo_t& si) {
    if (si.si_code == CLD_EXITED) return si.si_status;
    return 128 + si.si_status;
}

}  // namespace

struct HookRunner::Running {
    std::string key, describe;
    pid_t pid = -1;     // also the process group
    Fd pidfd, output;
    bool leader_exited = false, reaped = false;
    int status = 0;
    enum class Phase { running, term, kill } phase = Phase::running;
    Clock::time_point deadline;
    bool timed_out = false;
    std::string out;
    bool truncated = false;
};

HookRunner::HookRunner(HookSettings settings) : settings_(std::move(settings)), epoll_(epoll_create1(EPOLL_CLOEXEC)) {}

HookRunner::~HookRunner() { stop(); }

bool HookRunner::submit(const std::string& key, Env env, uint64_t count, std::string describe) {
    auto it = pending_.find(key);
    if (it != pending_.end()) {
        it->second.env = std::move(env);
        it->second.count += count;
        it->second.describe = std::move(describe);
        return true;
    }
    if (queue_.size() >= settings_.max_queued) {
        ++counters_.dropped;
        return false;
    }
    queue_.push_back(key);
    pending_[key] = Pending{std::move(env), count, std::move(describe)};
    return true;
}

void HookRunner::start(const std::string& key, Pending p, std::vector<HookFinished>& finished, Clock::time_point now) {
    auto fail = [&](const Error& e) {
        ++counters_.failed;
        HookFinished f;
        f.key = key;
        f.describe = p.describe;
        f.error = e;
        finished.push_back(std::move(f));
    };
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) return fail(sys_error("cannot start the hook: pipe"));
    Fd rd(pipefd[0]), wr(pipefd[1]);
    (void)::fcntl(rd.get(), F_SETFL, O_NONBLOCK);
    // The hook's environment: ours without the PORTWATCH_* names, then its
    // values. Built here, as an envp, not with Boost.Process's environment,
    // whose lookups (1.74) read past the end of entries shorter than the key.
    std::vector<std::string> entries;
    for (char** e = environ; e && *e; ++e)
        if (std::string_view(*e).rfind("PORTWATCH_", 0) != 0) entries.emplace_back(*e);
    for (const auto& [k, v] : p.env) entries.emplace_back(k).append("=").append(v);
    entries.push_back("PORTWATCH_COUNT=" + std::to_string(p.count));
    std::vector<char*> envp;
    envp.reserve(entries.size() + 1);
    for (auto& e : entries) envp.push_back(e.data());
    envp.push_back(nullptr);
    char** const envp_ptr = envp.data();
    const int out_fd = wr.get();
    std::error_code ec;
    // Only async-signal-safe calls in the exec-setup hook: it runs between fork and exec.
    bp::child child(
        bp::exe = "/bin/sh", bp::args = {"-c", settings_.command}, bp::std_in < bp::null,
        bp::extend::on_exec_setup =
            [out_fd, envp_ptr](auto& exec) {
                exec.env = envp_ptr;
                sigset_t none;
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, nullptr);
                struct sigaction dfl {};
                dfl.sa_handler = SIG_DFL;
                sigemptyset(&dfl.sa_mask);
                for (int sig = 1; sig < NSIG; ++sig) (void)sigaction(sig, &dfl, nullptr);
                (void)setpgid(0, 0);
                (void)dup2(out_fd, 1);
                (void)dup2(out_fd, 2);
            },
        ec);
    if (ec) return fail(logic_error("cannot start the hook '" + settings_.command + "': " + ec.message()));
    auto r = std::make_unique<Running>();
    r->pid = child.id();
    // From here on the runner owns the process: the child object must
    // neither terminate it nor reap it when it goes.
    child.detach();
    (void)setpgid(r->pid, r->pid);   // also from this side: the group exists before any kill
    wr.reset();
    r->key = key;
    r->describe = std::move(p.describe);
    r->pidfd = Fd(pidfd_open(r->pid));
    r->output = std::move(rd);
    r->deadline = now + std::chrono::milliseconds(settings_.timeout_ms);
    if (r->pidfd) watch(epoll_.get(), r->pidfd.get());
    watch(epoll_.get(), r->output.get());
    ++counters_.run;
    running_.push_back(std::move(r));
}

void HookRunner::read_output(Running& r) {
    if (!r.output) return;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(r.output.get(), buf, sizeof buf);
        if (n > 0) {
            const size_t room = kHookOutputBytes - std::min(kHookOutputBytes, r.out.size());
            r.out.append(buf, std::min(room, static_cast<size_t>(n)));
            if (static_cast<size_t>(n) > room) r.truncated = true;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        r.output.reset();   // EOF (or an error): closing it also leaves the epoll set
        return;
    }
}

void HookRunner::end(Running& r, std::vector<HookFinished>& finished) {
    // What is left of the group ends with the hook; then the leader is reaped.
    (void)::kill(-r.pid, SIGKILL);
    if (r.leader_exited && !r.reaped) {
        siginfo_t si{};
        if (r.pidfd) (void)waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(r.pidfd.get()), &si, WEXITED | WNOHANG);
        else (void)waitpid(r.pid, nullptr, WNOHANG);
        r.reaped = true;
    }
    if (!r.reaped && waitpid(r.pid, nullptr, WNOHANG) != r.pid) unreaped_.push_back(r.pid);   // stuck in the kernel: reaped later
    if (r.timed_out) ++counters_.timed_out;
    HookFinished f;
    f.key = r.key;
    f.describe = r.describe;
    f.timed_out = r.timed_out;
    if (r.leader_exited) f.status = r.status;
    f.output = std::move(r.out);
    f.output_truncated = r.truncated;
    finished.push_back(std::move(f));
}

void HookRunner::service(std::vector<HookFinished>& finished, Clock::time_point now) {
    for (auto it = running_.begin(); it != running_.end();) {
        Running& r = **it;
        read_output(r);
        if (!r.leader_exited) {
            siginfo_t si{};
            int w = r.pidfd ? waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(r.pidfd.get()), &si, WEXITED | WNOHANG | WNOWAIT)
                            : waitid(P_PID, static_cast<id_t>(r.pid), &si, WEXITED | WNOHANG | WNOWAIT);
            if (w == 0 && si.si_pid != 0) {
                r.leader_exited = true;
                r.status = status_of(si);
                if (r.pidfd) (void)epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, r.pidfd.get(), nullptr);
                // The rest of the group goes with the leader; the pipe then ends.
                (void)::kill(-r.pid, SIGKILL);
                if (r.phase == Running::Phase::running) {
                    r.phase = Running::Phase::kill;
                    r.deadline = now + std::chrono::milliseconds(kHookKillGraceMs);
                }
                read_output(r);
            }
        }
        bool over = r.leader_exited && !r.output;
        if (!over && now >= r.deadline) {
            switch (r.phase) {
                case Running::Phase::running:
                    r.timed_out = true;
                    (void)::kill(-r.pid, SIGTERM);
                    r.phase = Running::Phase::term;
                    r.deadline = now + std::chrono::milliseconds(kHookKillGraceMs);
                    break;
                case Running::Phase::term:
                    (void)::kill(-r.pid, SIGKILL);
                    r.phase = Running::Phase::kill;
                    r.deadline = now + std::chrono::milliseconds(kHookKillGraceMs);
                    break;
                case Running::Phase::kill:
                    over = true;   // a process that left the group keeps the pipe: stop reading
                    break;
            }
        }
        if (over) {
            end(r, finished);
            it = running_.erase(it);
        } else {
            ++it;
        }
    }
    // Start queued runs, one per key at a time.
    for (auto q = queue_.begin(); q != queue_.end() && static_cast<int>(running_.size()) < settings_.max_running;) {
        const bool busy = std::any_of(running_.begin(), running_.end(), [&](const auto& r) { return r->key == *q; });
        if (busy) {
            ++q;
            continue;
        }
        const std::string key = *q;
        q = queue_.erase(q);
        auto node = pending_.extract(key);
        start(key, std::move(node.mapped()), finished, now);
    }
    // Leaders left behind by an earlier end() (never blocks; only ours).
    unreaped_.erase(std::remove_if(unreaped_.begin(), unreaped_.end(), [](pid_t pid) { return waitpid(pid, nullptr, WNOHANG) != 0; }),
                    unreaped_.end());
}

std::optional<HookRunner::Clock::time_point> HookRunner::next_deadline() const {
    std::optional<Clock::time_point> next;
    for (const auto& r : running_)
        if (!next || r->deadline < *next) next = r->deadline;
    return next;
}

void HookRunner::wait_all(std::vector<HookFinished>& finished) {
    for (;;) {
        service(finished);
        if (idle()) return;
        int timeout = 100;
        if (auto d = next_deadline()) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*d - Clock::now()).count() + 1;
            timeout = static_cast<int>(std::clamp<long long>(left, 0, 100));
        }
        epoll_event ev[8];
        (void)epoll_wait(epoll_.get(), ev, 8, timeout);
    }
}

void HookRunner::stop() {
    queue_.clear();
    pending_.clear();
    for (auto& r : running_) (void)::kill(-r->pid, SIGKILL);
    const auto until = Clock::now() + std::chrono::milliseconds(200);
    for (auto& r : running_) {
        if (r->leader_exited) {
            (void)waitpid(r->pid, nullptr, WNOHANG);
            continue;
        }
        if (r->pidfd) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
            pollfd p{r->pidfd.get(), POLLIN, 0};
            (void)::poll(&p, 1, static_cast<int>(std::max<long long>(left, 0)));
        }
        if (waitpid(r->pid, nullptr, WNOHANG) != r->pid) unreaped_.push_back(r->pid);
    }
    running_.clear();
}

}  // namespace portauth::watch
