// portwatch run: the daemon. One epoll loop over
//   a signalfd   SIGTERM/SIGINT stop (exit 0), SIGHUP reloads the policy;
//   an inotify   on the policy dir and every dir below it: reload on change
//                (after a short quiet time, so an edit of several files is one reload);
//   a timerfd    scan every --interval;
//   the ring buffer of refused binds (when enforcement is active at --pin-dir;
//                retried at every scan until it is).
// The database: a damaged one (or another program's) stops the daemon at
// startup. One that cannot be written - at startup or later - does not: the
// daemon says so once, keeps watching and logging, tries again at every scan
// (opening it anew when it could not be opened), and says when it can write
// again.
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>

#include "common/fd.hpp"
#include "engine/events.hpp"
#include "policy/tree.hpp"
#include "portwatch/commands.hpp"
#include "portwatch/watcher.hpp"

namespace portauth::watch {

namespace {

constexpr int kReloadQuietMs = 200;
constexpr const char* kNotRecorded = "squatters and refused binds are reported here but not recorded until the database can be written";
constexpr uint32_t kWatchMask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO |
                                IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

void watch_tree(int inotify_fd, const std::string& dir) {
    inotify_add_watch(inotify_fd, dir.c_str(), kWatchMask);
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(dir, ec); !ec && it != std::filesystem::recursive_directory_iterator();
         it.increment(ec))
        if (it->is_directory(ec) && !it->is_symlink(ec)) inotify_add_watch(inotify_fd, it->path().c_str(), kWatchMask);
}

void drain(int fd) {
    char buf[4096];
    while (::read(fd, buf, sizeof buf) > 0) {
    }
}

class Daemon {
public:
    Daemon(const RunOptions& o, WatchSettings s, Policy p, Result<Database> db)
        : o_(o), settings_(std::move(s)), policy_(std::move(p)) {
        if (db) db_ = std::move(*db);
        else startup_record_error_ = db.error();
    }

    int run() {
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) return fail(sys_error("cannot block signals"));
        signals_ = Fd(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
        inotify_ = Fd(inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
        timer_ = Fd(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
        epoll_ = Fd(epoll_create1(EPOLL_CLOEXEC));
        if (!signals_ || !inotify_ || !timer_ || !epoll_) return fail(sys_error("cannot set up the event loop"));
        watch_tree(inotify_.get(), o_.scan.policy_dir);
        itimerspec its{};
        const double secs = o_.interval_seconds;
        its.it_interval.tv_sec = static_cast<time_t>(secs);
        its.it_interval.tv_nsec = static_cast<long>((secs - std::floor(secs)) * 1e9);
        its.it_value.tv_nsec = 1;   // the first scan at once
        if (timerfd_settime(timer_.get(), 0, &its, nullptr) != 0) return fail(sys_error("cannot arm the scan timer"));
        for (int fd : {signals_.get(), inotify_.get(), timer_.get()})
            if (!add(fd)) return fail(sys_error("cannot set up the event loop"));
        spdlog::info("watching {} reservations from '{}' every {}s; record '{}'; action {}", policy_.reservations.size(),
                     o_.scan.policy_dir, o_.interval_seconds, o_.scan.db, action_name(settings_.action));
        if (startup_record_error_) record_failed(*startup_record_error_);
        open_events();

        std::chrono::steady_clock::time_point reload_at{};
        bool reload_pending = false;
        for (;;) {
            int timeout = -1;
            if (reload_pending) {
                auto left = std::chrono::duration_cast<std::chrono::milliseconds>(reload_at - std::chrono::steady_clock::now()).count();
                timeout = left < 0 ? 0 : static_cast<int>(left);
            }
            epoll_event ev[8];
            int n = epoll_wait(epoll_.get(), ev, 8, timeout);
            if (n < 0) {
                if (errno == EINTR) continue;
                return fail(sys_error("epoll_wait"));
            }
            for (int i = 0; i < n; ++i) {
                const int fd = ev[i].data.fd;
                if (fd == signals_.get()) {
                    signalfd_siginfo si{};
                    while (::read(fd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
                        if (si.ssi_signo == SIGHUP) {
                            spdlog::info("SIGHUP: reloading the policy");
                            reload_at = std::chrono::steady_clock::now();
                            reload_pending = true;
                        } else {
                            spdlog::info("{}: stopping", strsignal(static_cast<int>(si.ssi_signo)));
                            return kExitClean;
                        }
                    }
                } else if (fd == inotify_.get()) {
                    drain(fd);
                    reload_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(kReloadQuietMs);
                    reload_pending = true;
                } else if (fd == timer_.get()) {
                    drain(fd);
                    scan_once();
                } else if (events_ && fd == events_->fd()) {
                    if (auto r = events_->poll(0); !r) spdlog::error("{}", r.error().message());
                }
            }
            if (reload_pending && std::chrono::steady_clock::now() >= reload_at) {
                reload_pending = false;
                reload();
            }
        }
    }

private:
    bool add(int fd) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        return epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
    }

    int fail(const Error& e) {
        spdlog::error("{}", e.message());
        return kExitError;
    }

    void open_events() {
        if (events_) return;
        auto reader = EventReader::open(o_.pin_dir, [this](const RefusalEvent& e) { on_refusal(e); });
        if (!reader) {
            if (!events_missing_logged_) spdlog::info("no enforcement at '{}' yet: refused binds are not recorded ({})", o_.pin_dir, reader.error().message());
            events_missing_logged_ = true;
            return;
        }
        events_ = std::move(*reader);
        if (!add(events_->fd())) {
            spdlog::error("{}", sys_error("cannot watch the refusal events").message());
            events_.reset();
            return;
        }
        spdlog::info("recording refused binds from '{}'", o_.pin_dir);
    }

    // The database, or null when it cannot be written; `reopen` (at most once
    // per scan) opens it again when it is not open.
    Database* record(bool reopen) {
        if (!db_ && reopen) {
            auto db = Database::open(o_.scan.db, {OpenOptions::Access::write, true});
            if (db) db_ = std::move(*db);
            else record_failed(db.error());
        }
        return db_ ? &*db_ : nullptr;
    }

    // Logs a problem once, not at every scan; a damaged database is closed
    // and must pass the checks at open again.
    void record_failed(const Error& e) {
        ++record_errors_total_;
        record_writable_ = false;
        if (record_damaged(e)) db_.reset();
        if (record_problem_ == e.message()) return;
        record_problem_ = e.message();
        spdlog::error("{}; still watching: {}", e.message(), kNotRecorded);
    }

    void record_worked() {
        record_writable_ = true;
        if (!record_problem_) return;
        record_problem_.reset();
        spdlog::info("database '{}' can be written again: recording resumes", o_.scan.db);
    }

    void on_refusal(const RefusalEvent& e) {
        ++refused_total_;
        auto r = handle_refusal(record(false), e, settings_);
        if (r.record_error) record_failed(*r.record_error);
        else if (r.recorded) record_worked();
        spdlog::warn("refused bind: {} user {} comm '{}' by {}{}", describe(r.record), r.record.user, r.record.comm,
                     r.record.entry.empty() ? "the policy" : r.record.entry, r.recorded ? "" : " (not recorded)");
        if (r.hook_error) spdlog::error("{}", r.hook_error->message());
    }

    void reload() {
        watch_tree(inotify_.get(), o_.scan.policy_dir);
        auto p = load_policy(o_.scan.policy_dir);
        if (!p) {
            spdlog::error("policy not reloaded, keeping the previous one: {}", p.error().message());
            return;
        }
        policy_ = std::move(*p);
        spdlog::info("policy reloaded from '{}': {} reservations", o_.scan.policy_dir, policy_.reservations.size());
        scan_once();
    }

    void scan_once() {
        open_events();
        auto result = scan(policy_);
        if (!result) {
            spdlog::error("cannot scan: {}", result.error().message());
            return;
        }
        Metrics m;
        m.squatters = result->squatters.size();
        m.scan_duration_seconds = result->scan_ms / 1000.0;
        m.sockets_scanned = result->sockets_scanned;
        m.refused_binds_total = refused_total_;
        Database* db = record(true);
        auto pass = handle_scan(db, std::move(*result), settings_, memory_);
        if (pass.record_error) record_failed(*pass.record_error);
        else if (db) record_worked();
        log_pass(pass);
        m.record_writable = record_writable_;
        m.record_errors_total = record_errors_total_;
        if (o_.metrics_file)
            if (auto st = write_metrics(*o_.metrics_file, m); !st) spdlog::error("{}", st.error().message());
    }

    const RunOptions& o_;
    WatchSettings settings_;
    Policy policy_;
    std::optional<Database> db_;
    std::optional<Error> startup_record_error_;
    std::optional<std::string> record_problem_;   // logged, not solved yet
    bool record_writable_ = true;
    uint64_t record_errors_total_ = 0;
    SquatMemory memory_;
    Fd signals_, inotify_, timer_, epoll_;
    std::unique_ptr<EventReader> events_;
    bool events_missing_logged_ = false;
    uint64_t refused_total_ = 0;
};

}  // namespace

int run_daemon(const RunOptions& o) {
    auto settings = settings_from(o.scan);
    if (!settings) {
        spdlog::error("{}", settings.error().message());
        return kExitError;
    }
    if (!(o.interval_seconds >= 0.1 && o.interval_seconds <= kMaxIntervalSeconds)) {
        spdlog::error("--interval {}: out of range 0.1-{}", o.interval_seconds, kMaxIntervalSeconds);
        return kExitError;
    }
    auto policy = load_policy(o.scan.policy_dir);
    if (!policy) {
        spdlog::error("{}", policy.error().message());
        return kExitError;
    }
    // Checked in full once, before anything is written.
    auto db = Database::open(o.scan.db, {OpenOptions::Access::write, true});
    if (!db && record_damaged(db.error())) {
        spdlog::error("{}", db.error().message());
        return kExitError;
    }
    Daemon d(o, std::move(*settings), std::move(*policy), std::move(db));
    return d.run();
}

}  // namespace portauth::watch
