#include "portwatch/daemon.hpp"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <tuple>

#include "common/escape.hpp"
#include "common/fd.hpp"
#include "engine/engine.hpp"
#include "engine/events.hpp"
#include "engine/last_good.hpp"
#include "policy/tree.hpp"
#include "portwatch/aggregate.hpp"
#include "portwatch/journal_events.hpp"
#include "portwatch/metrics.hpp"
#include "portwatch/policy_source.hpp"

namespace portauth::watch {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

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

// True when something was read.
bool drain(int fd) {
    char buf[4096];
    bool any = false;
    while (::read(fd, buf, sizeof buf) > 0) any = true;
    return any;
}

int ms_until(Clock::time_point t, Clock::time_point now) {
    auto left = std::chrono::duration_cast<milliseconds>(t - now).count();
    if (left < 0) return 0;
    return static_cast<int>(std::min<long long>(left + 1, 1000));
}

struct PendingKill {
    KillJob job;
    EventRecord record;     // for the hook and the log
    bool hook_after = false;   // a new squat: the hook runs once the result is known
};

class Daemon {
public:
    Daemon(const RunOptions& o, WatchSettings s, WatchedPolicy&& p, Result<Database> db, WatchLog& log)
        : o_(o), settings_(std::move(s)), policy_(std::move(p.policy)), tree_refused_(p.tree_refused), log_(log) {
        if (db) db_ = std::move(*db);
        else startup_record_error_ = db.error();
        if (settings_.exec) hooks_.emplace(HookSettings{*settings_.exec, settings_.hook_timeout_ms});
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
        watch_trees();
        interval_ = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o_.interval_seconds));
        next_scan_ = Clock::now();   // the first scan at once
        if (!arm_timer()) return fail(sys_error("cannot arm the scan timer"));
        for (int fd : {signals_.get(), inotify_.get(), timer_.get()})
            if (!add(fd)) return fail(sys_error("cannot set up the event loop"));
        if (hooks_ && !add(hooks_->fd())) return fail(sys_error("cannot set up the event loop"));
        log_.info("watching " + std::to_string(policy_.reservations.size()) + " reservations from '" + o_.scan.policy_dir + "' every " +
                  seconds_text(o_.interval_seconds) + "s; record '" + o_.scan.db + "'; action " + action_name(settings_.action) +
                  "; metrics " + (o_.metrics_file ? "'" + *o_.metrics_file + "'" : std::string("not written")));
        if (startup_record_error_) record_failed(*startup_record_error_);
        open_events();
        last_flush_ = Clock::now();

        for (;;) {
            epoll_event ev[16];
            int n = epoll_wait(epoll_.get(), ev, 16, next_timeout());
            if (n < 0 && errno != EINTR) return fail(sys_error("epoll_wait"));
            // Whatever woke the loop, in this order: signals, the scan timer,
            // a reload, kills and hooks; the ring buffer last, within its slice.
            if (auto code = serve_signals()) return stop(*code);
            if (drain(inotify_.get())) {
                reload_at_ = Clock::now() + milliseconds(kReloadQuietMs);
                reload_pending_ = true;
            }
            uint64_t expirations = 0;
            if (::read(timer_.get(), &expirations, sizeof expirations) == static_cast<ssize_t>(sizeof expirations)) scan_due();
            if (reload_pending_ && Clock::now() >= reload_at_) {
                reload_pending_ = false;
                reload();
            }
            serve_kills();
            serve_hooks();
            read_events();
            if (aggregator_.pending_keys() > 0 && Clock::now() - last_flush_ >= milliseconds(kFlushMs)) {
                flush();
                say_suppressed();
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
        log_.error(e.message());
        return kExitError;
    }

    bool arm_timer() {
        itimerspec its{};
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(next_scan_.time_since_epoch()).count();
        its.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
        its.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
        if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
        return timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &its, nullptr) == 0;
    }

    int next_timeout() const {
        const auto now = Clock::now();
        int t = 1000;
        if (reload_pending_) t = std::min(t, ms_until(reload_at_, now));
        if (aggregator_.pending_keys() > 0) t = std::min(t, ms_until(last_flush_ + milliseconds(kFlushMs), now));
        for (const auto& [k, p] : kills_) t = std::min(t, ms_until(p.job.deadline(), now));
        if (hooks_)
            if (auto d = hooks_->next_deadline()) t = std::min(t, ms_until(*d, now));
        return t;
    }

    // The exit status when a signal says stop.
    std::optional<int> serve_signals() {
        signalfd_siginfo si{};
        while (::read(signals_.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
            if (si.ssi_signo == SIGHUP) {
                log_.info("SIGHUP: reloading the policy");
                reload_at_ = Clock::now();
                reload_pending_ = true;
            } else {
                log_.info(std::string(strsignal(static_cast<int>(si.ssi_signo))) + ": stopping");
                return kExitClean;
            }
        }
        return std::nullopt;
    }

    int stop(int code) {
        if (hooks_) hooks_->stop();
        flush();
        save_stats();
        return code;
    }

    void scan_due() {
        const auto now = Clock::now();
        lag_seconds_ = std::chrono::duration<double>(now - next_scan_).count();
        if (lag_seconds_ < 0) lag_seconds_ = 0;
        next_scan_ += interval_;
        if (next_scan_ <= now) next_scan_ = now + interval_;   // missed rounds are not made up
        if (!arm_timer()) log_.error(sys_error("cannot arm the scan timer").message());
        scan_once();
    }

    void open_events() {
        if (events_) return;
        auto reader = EventReader::open(o_.pin_dir, [this](const RefusalEvent& e) { on_refusal(e); });
        if (!reader) {
            if (!events_missing_logged_)
                log_.info("no enforcement at '" + o_.pin_dir + "' yet: refused binds are not recorded (" + reader.error().message() + ")");
            events_missing_logged_ = true;
            return;
        }
        events_ = std::move(*reader);
        if (!add(events_->fd())) {
            log_.error(sys_error("cannot watch the refusal events").message());
            events_.reset();
            return;
        }
        log_.info("recording refused binds from '" + o_.pin_dir + "'");
    }

    void read_events() {
        if (!events_) return;
        const auto start = Clock::now();
        boot_offset_ = boot_to_epoch_ms();
        for (;;) {
            auto r = events_->consume(kEventBudget);
            if (!r) {
                log_.error(r.error().message());
                return;
            }
            if (*r < kEventBudget || Clock::now() - start >= milliseconds(kEventSliceMs)) return;
        }
    }

    void on_refusal(const RefusalEvent& e) {
        refused_total_ += 1 + uint64_t{e.suppressed};
        if (const EventRecord* fresh = aggregator_.add(e, boot_offset_)) say(refusal_event(*fresh, db_ && record_writable_));
    }

    // The database, or null when it cannot be written; `reopen` (at most once
    // per scan) opens it again when it is not open.
    Database* record(bool reopen) {
        if (!db_ && reopen) {
            auto db = Database::open(o_.scan.db, write_options(settings_, true));
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
        log_.event(database_error_event(o_.scan.db, e.message(), e.message() + "; still watching: " + kNotRecorded));
    }

    void record_worked() {
        record_writable_ = true;
        if (!record_problem_) return;
        record_problem_.reset();
        log_.event(database_recovered_event(o_.scan.db));
    }

    // An event for the log and the journal, within its kind's budget.
    void say(const WatchEvent& e) {
        if (budget_.allow(e.event, now_ms())) log_.event(e);
    }

    // What the budget held back in windows that have ended, one entry per kind.
    void say_suppressed() {
        for (const auto& [event, n] : budget_.ended(now_ms())) log_.event(suppressed_event(event, n, budget_.window_ms()));
    }

    // The policy that names the enforced entries (for the metrics' proto and
    // port labels): the one the kernel enforces, read again only when the
    // generation changes, else the watched one.
    const Policy* enforced_policy_for(const EngineStatus& st) {
        if (!st.active) return &policy_;
        if (st.generation != enforced_generation_) {
            enforced_generation_ = st.generation;
            enforced_ = enforced_policy(st, o_.pin_dir).policy;
        }
        return enforced_ ? &*enforced_ : &policy_;
    }

    // The refusals folded since the last flush, in one batch.
    void flush() {
        last_flush_ = Clock::now();
        auto rows = aggregator_.take(now_ms());
        if (rows.empty()) return;
        uint64_t refusals = 0;
        for (const auto& r : rows) refusals += r.count;
        if (Database* db = record(false)) {
            if (auto st = db->record_refusals(rows); !st) {
                record_failed(st.error());
            } else {
                record_worked();
                rows_written_ += rows.size();
                recorded_total_ += refusals;
            }
        }
        if (hooks_)
            for (const auto& r : rows)
                hooks_->submit(RefusalAggregator::key_of(r), hook_environment(r), r.count, describe(r));
    }

    void save_stats() {
        Database* db = record(false);
        if (!db) return;
        WatchStats s;
        s.updated_at = now_ms();
        s.delivered = kernel_.delivered;
        s.suppressed = kernel_.suppressed;
        s.dropped = kernel_.dropped;
        s.refusals_seen = refused_total_;
        s.rows_written = rows_written_;
        s.enforcement_active = events_ != nullptr;
        // A problem already said (the same full disk, the same read-only file)
        // is not said again for the counters; a save that works says the
        // record can be written again.
        if (auto st = db->save_stats(s); !st) {
            if (record_problem_) ++record_errors_total_;
            else record_failed(st.error());
        } else {
            record_worked();
        }
    }

    void serve_kills() {
        const auto now = Clock::now();
        for (auto it = kills_.begin(); it != kills_.end();) {
            if (!it->second.job.poll(now)) {
                ++it;
                continue;
            }
            auto& p = it->second;
            const std::string& result = p.job.result();
            say(action_event(p.record, "kill", result));
            // The row by its id: the squat may be gone from memory already (the scan after the kill saw the port free).
            Database* db = record(false);
            (void)record_action(nullptr, memory_, it->first, "kill", result);
            if (db && p.record.id != 0)
                if (auto st = db->set_action(p.record.id, "kill", result); !st) record_failed(st.error());
            if (p.hook_after && hooks_) {
                p.record.action = "kill";
                p.record.action_result = result;
                hooks_->submit(it->first, hook_environment(p.record), 1, describe(p.record));
            }
            it = kills_.erase(it);
        }
    }

    void serve_hooks() {
        if (!hooks_) return;
        std::vector<HookFinished> done;
        hooks_->service(done);
        for (const auto& f : done) log_hook(f, log_);
    }

    // The trees the watched policy is read from (policy_source.hpp): the policy
    // dir and the authbind tree merged under it, when there is one. Called
    // again at each reload, so directories made since are watched too.
    void watch_trees() {
        watch_tree(inotify_.get(), o_.scan.policy_dir);
        if (const std::string authbind = default_authbind_dir(o_.scan.policy_dir); !authbind.empty())
            watch_tree(inotify_.get(), authbind);
    }

    void reload() {
        watch_trees();
        auto p = load_watched_policy(o_.scan.policy_dir, o_.pin_dir);
        if (!p) {
            log_.error("policy not reloaded, keeping the previous one: " + p.error().message());
            return;
        }
        if (p->tree_refused) log_.warn(p->note);
        policy_ = std::move(p->policy);
        tree_refused_ = p->tree_refused;
        log_.info("policy reloaded from '" + o_.scan.policy_dir + "': " + std::to_string(policy_.reservations.size()) + " reservations");
        scan_once();
    }

    void scan_once() {
        open_events();
        if (events_)
            if (auto st = events_->stats()) kernel_ = *st;
        ScanSettings ss;
        ss.pin_dir = o_.pin_dir;
        auto result = scan(policy_, ss);
        if (!result) {
            log_.error("cannot scan: " + result.error().message());
            return;
        }
        Metrics m;
        m.squatters = result->squatters.size();
        {
            std::map<Metrics::SquatGroup, uint64_t> groups;
            for (const auto& q : result->squatters) ++groups[{q.entry, proto_name(q.socket.proto), q.socket.port, 0}];
            for (const auto& [g, n] : groups) {
                m.squatters_by_entry.push_back(g);
                m.squatters_by_entry.back().sockets = n;
            }
        }
        m.scan_duration_seconds = result->scan_ms / 1000.0;
        m.sockets_scanned = result->sockets_scanned;
        Database* db = record(true);
        std::set<std::string> busy;
        for (const auto& [k, p] : kills_) busy.insert(k);
        auto pass = handle_scan(db, std::move(*result), settings_, memory_, busy);
        if (pass.record_error) record_failed(*pass.record_error);
        else if (db) record_worked();
        log_pass(pass, log_, &budget_);
        say_suppressed();
        for (auto& o : pass.squats) {
            const std::string key = squat_key(o.record);
            if (o.wants_kill) {
                std::vector<uint32_t> pids;
                for (const auto& pr : o.squatter.processes) pids.push_back(pr.pid);
                // A squat that outlived a kill of its own (a holder answered SIGTERM by handing the
                // socket to a child, which would do the same) had its grace: SIGKILL, no SIGTERM.
                const auto seen = memory_.find(key);
                const bool term_first = seen == memory_.end() || seen->second.rounds <= 1;
                kills_.emplace(key, PendingKill{KillJob(o.squatter.socket.inode, pids, settings_.grace_ms, Clock::now(), term_first),
                                                o.record, o.is_new});
            } else if (o.is_new && hooks_) {
                hooks_->submit(key, hook_environment(o.record), 1, describe(o.record));
            }
        }
        serve_kills();   // a job whose holders were all gone at once is done already
        save_stats();
        m.refused_binds_total = refused_total_;
        m.record_writable = record_writable_;
        m.record_errors_total = record_errors_total_;
        m.events_delivered_total = kernel_.delivered;
        m.events_suppressed_total = kernel_.suppressed;
        m.events_dropped_total = kernel_.dropped;
        m.refusals_recorded_total = recorded_total_;
        m.rows_written_total = rows_written_;
        m.aggregation_keys = aggregator_.keys();
        if (hooks_) {
            m.hooks_run_total = hooks_->counters().run;
            m.hooks_dropped_total = hooks_->counters().dropped;
            m.hooks_timed_out_total = hooks_->counters().timed_out;
        }
        m.loop_lag_seconds = lag_seconds_;
        m.policy_disabled_entries = policy_.disabled.size();
        for (const auto& d : policy_.disabled) m.disabled_entries.push_back({d.origin.str(), d.reason});
        m.policy_tree_refused = tree_refused_;
        if (auto st = engine_status(o_.pin_dir)) add_enforcement(m, *st, enforced_policy_for(*st), now_ms() / 1000);
        for (const auto& [event, n] : budget_.suppressed_total()) m.log_events_suppressed.emplace_back(event, n);
        if (o_.metrics_file)
            if (auto st = write_metrics(*o_.metrics_file, m); !st) log_.error(st.error().message());
    }

    const RunOptions& o_;
    WatchSettings settings_;
    Policy policy_;
    bool tree_refused_ = false;   // policy_ is the enforced one, standing in for a refused tree
    WatchLog& log_;
    std::optional<Database> db_;
    std::optional<Error> startup_record_error_;
    std::optional<std::string> record_problem_;   // logged, not solved yet
    bool record_writable_ = true;
    uint64_t record_errors_total_ = 0;
    SquatMemory memory_;
    Fd signals_, inotify_, timer_, epoll_;
    std::unique_ptr<EventReader> events_;
    bool events_missing_logged_ = false;
    RefusalAggregator aggregator_;
    EventBudget budget_;
    uint32_t enforced_generation_ = 0;
    std::optional<Policy> enforced_;   // for enforced_generation_, when on record
    int64_t boot_offset_ = 0;
    EventStats kernel_;
    uint64_t refused_total_ = 0, recorded_total_ = 0, rows_written_ = 0;
    std::optional<HookRunner> hooks_;
    std::map<std::string, PendingKill> kills_;
    Clock::duration interval_{};
    Clock::time_point next_scan_, reload_at_, last_flush_;
    bool reload_pending_ = false;
    double lag_seconds_ = 0;
};

}  // namespace

OpenOptions write_options(const WatchSettings& s, bool check_integrity) {
    OpenOptions o{OpenOptions::Access::write, check_integrity};
    o.group = s.db_group;
    return o;
}

void log_pass(const PassOutcome& pass, WatchLog& log, EventBudget* budget) {
    const int64_t now = now_ms();
    auto say = [&](const WatchEvent& e) {
        if (!budget || budget->allow(e.event, now)) log.event(e);
    };
    for (const auto& o : pass.squats) {
        if (o.is_new) say(squat_event(o));
        if (o.action_result && o.result_changed) say(action_event(o.record, o.record.action, *o.action_result));
    }
    if (pass.pruned > 0) log.info("pruned " + std::to_string(pass.pruned) + " events past retention");
}

void log_hook(const HookFinished& f, WatchLog& log) {
    if (f.error) {
        log.error(f.error->message());
        return;
    }
    if (!f.output.empty()) {
        // One line, escaped: the hook's output (and what the watched process put in it) cannot forge log lines.
        log.info("hook for " + f.describe + " said: " + escape_untrusted(f.output) + (f.output_truncated ? " (cut)" : ""));
    }
    if (f.timed_out) log.warn("the hook for " + f.describe + " timed out and was killed with its process group");
    else if (f.status && *f.status != 0) log.warn("the hook exited with status " + std::to_string(*f.status) + " for " + f.describe);
}

int run_watch_daemon(const RunOptions& o, WatchLog& log) {
    auto settings = settings_from(o);
    if (!settings) {
        log.error(settings.error().message());
        return kExitError;
    }
    auto policy = load_watched_policy(o.scan.policy_dir, o.pin_dir);
    if (!policy) {
        log.error(policy.error().message());
        return kExitError;
    }
    if (policy->tree_refused) log.warn(policy->note);
    // Checked in full once, before anything is written.
    auto db = Database::open(o.scan.db, write_options(*settings, true));
    if (!db && record_damaged(db.error())) {
        log.error(db.error().message());
        return kExitError;
    }
    Daemon d(o, std::move(*settings), std::move(*policy), std::move(db), log);
    return d.run();
}

}  // namespace portauth::watch
